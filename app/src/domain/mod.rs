//! Domain vocabulary shared by the server and the browser: lead statuses, identifier
//! normalisation, cap periods, the rejection task's vocabulary and the read models pages show.
//! Pure: no I/O, and nothing here imports from a page folder.

pub mod caps;
pub mod identifiers;
pub mod intake;
pub mod lead;
pub mod lead_import;
pub mod messages;
pub mod preview_job;
pub mod setup;
pub mod setup_view;
pub mod status;
pub mod task;
pub mod task_view;
pub mod webhooks;
