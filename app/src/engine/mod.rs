//! The rejection engine (server only): reading rejection files, the pure planner, tasks in the
//! database and the worker that runs them.

pub mod csv_file;
pub mod planner;
pub mod tasks;
pub mod views;
pub mod worker;
