//! The rejection engine (server only): reading rejection files, the pure planner, uploaded files,
//! rejection tasks in the database (`task`) and the worker that runs them.

pub mod compact;
pub mod csv_file;
pub mod lead_import;
pub mod lease;
pub mod planner;
pub mod preview_jobs;
pub mod spill;
pub mod task;
pub mod uploads;
pub mod webhooks;
pub mod worker;
