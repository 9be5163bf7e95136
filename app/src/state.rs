//! Server state handed to every route and server function through the Leptos context.

use chrono::TimeDelta;
use leptos::config::LeptosOptions;

use crate::clock::SharedClock;
use crate::db::{self, DbError, Pool};

#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    /// Small writes that SQLite commits in groups (lead intake).
    pub writer: db::group::GroupWriter,
    pub leptos_options: LeptosOptions,
    pub clock: SharedClock,
    pub sessions: SessionSettings,
    pub uploads: UploadSettings,
    pub network: NetworkSettings,
}

/// Where requests come from.
#[derive(Debug, Clone, Default)]
pub struct NetworkSettings {
    /// Reverse proxies whose `X-Forwarded-For` is believed (`--trusted-proxy`); from any other
    /// peer the header is ignored and the peer's own address is the client's.
    pub trusted_proxies: std::sync::Arc<[ipnet::IpNet]>,
    /// Webhooks may go to plain http and to private, loopback and link-local addresses
    /// (`--allow-private-webhooks`: development and tests only).
    pub allow_private_webhooks: bool,
}

/// Where uploaded CSV files go and how large they may be.
#[derive(Debug, Clone)]
pub struct UploadSettings {
    pub storage: crate::engine::uploads::Storage,
    /// Refused beyond this (at most [`crate::engine::csv_file::MAX_FILE_BYTES`]).
    pub max_bytes: u64,
    /// An upload's file is deleted this long after every task and import using it has ended.
    pub retention: TimeDelta,
}

impl UploadSettings {
    /// No quota, files kept 30 days after their tasks end.
    pub fn new(dir: impl Into<std::path::PathBuf>) -> Self {
        Self {
            storage: crate::engine::uploads::Storage::new(dir),
            max_bytes: crate::engine::csv_file::MAX_FILE_BYTES,
            retention: TimeDelta::days(30),
        }
    }
}

/// How long a signed-in session lasts.
#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    /// Signed out after this long without a request.
    pub idle_timeout: TimeDelta,
    /// Signed out this long after logging in, however active.
    pub absolute_lifetime: TimeDelta,
    /// Mark the cookie `Secure` (serve over HTTPS).
    pub secure_cookies: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            idle_timeout: TimeDelta::minutes(30),
            absolute_lifetime: TimeDelta::hours(12),
            secure_cookies: false,
        }
    }
}

impl AppState {
    /// Runs a database closure on the blocking pool.
    pub async fn db<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut db::DbConn) -> Result<T, DbError> + Send + 'static,
    {
        db::run(&self.pool, f).await
    }

    /// Runs a database closure whose own error type says more than [`DbError`] (a refusal the
    /// user should read); pool and join failures become that type too.
    pub async fn db_or<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut db::DbConn) -> Result<T, E> + Send + 'static,
    {
        db::run_or(&self.pool, f).await
    }
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The state, from inside a server function.
#[track_caller]
pub fn app_state() -> Result<AppState, crate::error::AppError> {
    let caller = std::panic::Location::caller();
    leptos::prelude::use_context::<AppState>().ok_or_else(|| {
        tracing::error!(%caller, "AppState missing from the server function context");
        crate::error::AppError::Internal
    })
}
