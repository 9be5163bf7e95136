//! Whole rejection tasks against real databases (SQLite, and PostgreSQL when configured): from a
//! CSV file to lead statuses, history, affiliate events, cap usage, outcome counts and the results
//! file; crash recovery; the malformed-file corpus; the file-level refusals.

// Test set-up fails loudly: a helper that cannot build its fixture panics with the reason.
#![allow(clippy::expect_used, reason = "test fixtures; clippy only exempts #[test] functions")]

#[path = "../common/mod.rs"]
mod common;
mod support;

mod api_reject;
mod claims;
mod history;
mod intake;
mod lead_import;
mod leases;
mod migration;
mod options;
mod outcomes;
mod preview;
mod preview_jobs;
mod recovery;
mod refusals;
mod undo;
mod uploads;
mod webhooks;
