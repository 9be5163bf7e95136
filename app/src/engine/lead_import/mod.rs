//! Bulk lead imports (docs/DOMAIN.md §10): owner staff load a CSV of existing leads for one
//! campaign and supplier. Submitted like a rejection task (`submit`: every file-level check
//! first, then one queued row), run by the same background worker (`run`: the file in file order,
//! in batches, each batch one transaction with its leads, its rows' results and the cursor), and
//! shown with live progress and a results file (`views`).

mod run;
mod submit;
mod views;

pub use run::{ImportRunner, claim_next};
pub use submit::{ImportError, preview, submit};
pub use views::{import_setup, import_view, may_see, next_results_part, recent_imports, write_results_csv};

/// Rows per batch (one transaction each).
pub const DEFAULT_BATCH_ROWS: usize = 5_000;

/// The header of an import's results file.
pub const RESULTS_HEADER: &str = "line,result,lead_id,uid,status,message\n";

/// A received lead's history reason, naming the import.
pub fn history_reason(import_id: i64) -> String {
    format!("Lead import {import_id}")
}
