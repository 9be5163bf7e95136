//! Rejection tasks in the database, one file per job: submitting (the file-level checks, then
//! `queued`), previewing, claiming, running (pass 1 reads the file, pass 2 applies batches that
//! each commit atomically with the task's cursor, then the results file and option 4), progress,
//! results, and the read models of the task pages. The rules are in docs/DOMAIN.md §3.

mod apply;
mod claim;
mod lookup;
mod pass1;
mod preview;
mod progress;
#[cfg(test)]
mod properties;
mod results;
mod row;
mod run;
pub mod single;
mod submit;
pub mod undo;
pub mod views;

pub use claim::claim_next;
pub use preview::{Preview, PreviewProgress, preview, preview_with_progress};
pub use progress::{parse_changed, parse_counts};
pub use results::{
    committed_result_rows, next_part, outcome_counts, result_rows, results_header, spreadsheet_safe,
    write_results_csv,
};
pub use run::{RunEnd, RunLimits, Runner, fail};
pub use submit::{
    ReceivedFile, SubmitError, Submitted, TaskRequest, field_by_key, field_label_and_kind, submit_file,
    submit_upload,
};

/// Rows per batch: each batch is one transaction, short enough that pages stay responsive.
pub const DEFAULT_BATCH_ROWS: usize = 10_000;
/// Changed rows kept on the task for its page (the results file lists them all).
pub const CHANGED_ROWS_KEPT: usize = 50;
/// Ids per `IN (…)` list.
const IN_CHUNK: usize = 5000;
