//! Server functions of the status page.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseCheck {
    pub backend: String,
    pub schema_version: String,
    pub round_trip_ms: u64,
}

/// Asks the database for its newest applied migration. Tenant-free, so it needs no session.
#[server(endpoint = "check_database")]
pub async fn check_database() -> Result<DatabaseCheck, AppError> {
    let state = crate::state::app_state()?;
    let started = std::time::Instant::now();
    let health = state.db(crate::db::stats::health).await?;
    Ok(DatabaseCheck {
        backend: health.backend.name().to_owned(),
        schema_version: health.schema_version,
        round_trip_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}
