//! Domain vocabulary shared by the server and the browser: lead statuses and identifier normalisation.

pub mod caps;
pub mod identifiers;
pub mod status;
