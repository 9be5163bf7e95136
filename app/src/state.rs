//! Server state handed to every route and server function through the Leptos context.

use leptos::config::LeptosOptions;

use crate::db::{self, DbError, Pool};

#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub leptos_options: LeptosOptions,
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
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The state, from inside a server function.
pub fn app_state() -> Result<AppState, crate::error::AppError> {
    leptos::prelude::use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from the server function context");
        crate::error::AppError::Internal
    })
}
