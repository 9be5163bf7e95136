//! Lead import server functions: owner staff only (403 otherwise), within their instance.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::domain::lead_import::{ImportForm, ImportPreview, ImportSetup, ImportView};
use crate::error::AppError;

/// The import form's campaigns, suppliers and upload limit, and the latest imports.
#[server(endpoint = "lead_import_setup")]
pub async fn lead_import_setup() -> Result<ImportSetup, AppError> {
    crate::auth::access::guarded(async {
        let state = crate::state::app_state()?;
        let user = crate::auth::access::require_owner().await?;
        let max_upload_bytes = state.uploads.max_bytes;
        Ok(state
            .db(move |conn| {
                let (campaigns, suppliers) = crate::engine::lead_import::import_setup(conn, &user)?;
                let recent = crate::engine::lead_import::recent_imports(conn, &user)?;
                Ok(ImportSetup { campaigns, suppliers, max_upload_bytes, recent })
            })
            .await?)
    })
    .await
}

/// "Preview": what the import would do with the start of the file, writing nothing.
#[server(endpoint = "preview_lead_import", input = Json)]
pub async fn preview_lead_import(form: ImportForm) -> Result<ImportPreview, AppError> {
    crate::auth::access::guarded(async move {
        let state = crate::state::app_state()?;
        let user = crate::auth::access::require_owner().await?;
        let now = state.clock.now();
        let storage = state.uploads.storage.clone();
        state
            .db_or(move |conn| -> Result<ImportPreview, AppError> {
                Ok(crate::engine::lead_import::preview(conn, &storage, &user, &form, now)?)
            })
            .await
    })
    .await
}

/// "Start import": queues the import and returns its id. One upload starts one import: sending
/// the form again returns the import it started.
#[server(endpoint = "start_lead_import", input = Json)]
pub async fn start_lead_import(form: ImportForm) -> Result<i64, AppError> {
    crate::auth::access::guarded(async move {
        let state = crate::state::app_state()?;
        let user = crate::auth::access::require_owner().await?;
        let now = state.clock.now();
        let storage = state.uploads.storage.clone();
        let upload_id = form.upload_id;
        let id = state
            .db_or(move |conn| -> Result<i64, AppError> {
                Ok(crate::engine::lead_import::submit(conn, &storage, &user, &form, now)?)
            })
            .await?;
        tracing::info!(import_id = id, upload_id, "lead import queued");
        Ok(id)
    })
    .await
}

/// An import's page; "Not found" for an import of another instance.
#[server(endpoint = "lead_import")]
pub async fn lead_import(id: i64) -> Result<ImportView, AppError> {
    crate::auth::access::guarded(async move {
        let state = crate::state::app_state()?;
        let user = crate::auth::access::require_owner().await?;
        state
            .db(move |conn| crate::engine::lead_import::import_view(conn, &user, id))
            .await?
            .ok_or(AppError::NotFound)
    })
    .await
}
