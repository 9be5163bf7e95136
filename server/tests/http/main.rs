//! The HTTP application against a real SQLite database file (and, for the tests that loop over
//! `support::databases`, a fresh PostgreSQL database when `TEST_POSTGRES_URL` is set): log-in,
//! sessions and their cookie, permissions, tenant isolation, the cross-site check, log-in
//! throttling and the machine API. Each test gets a fresh database seeded with the demo instance
//! and a clock it can move; the tests run one at a time (see `support`).

// Test set-up fails loudly: a helper that cannot build its fixture panics with the reason.
#![allow(clippy::expect_used, reason = "test fixtures; clippy only exempts #[test] functions")]

mod support;

mod api_docs;
mod api_keys;
mod api_lookups;
mod api_reject;
mod api_tasks;
mod imports;
mod intake;
mod keys;
mod login;
mod pages;
mod permissions;
mod previews;
mod reports;
mod sessions;
mod setup;
mod starvation;
mod tasks;
mod tenancy;
mod uploads;
