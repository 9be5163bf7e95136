//! Lead import server functions: owner staff only (403 otherwise), within their instance.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::domain::lead_import::{ImportForm, ImportPreview, ImportSetup, ImportView};
use crate::domain::preview_job::PreviewProgress;
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

/// "Preview": queues a background preview of what the import would do with the start of the
/// file (writing nothing) and returns its id at once; poll it with [`lead_import_preview`]. The
/// user's unfinished preview, if any, is cancelled: one preview per user at a time.
#[server(endpoint = "start_lead_import_preview", input = Json)]
pub async fn start_lead_import_preview(form: ImportForm) -> Result<i64, AppError> {
    crate::auth::access::guarded(async move {
        let state = crate::state::app_state()?;
        let user = crate::auth::access::require_owner().await?;
        let now = state.clock.now();
        let upload_id = form.upload_id;
        let request = crate::engine::preview_jobs::PreviewRequest::LeadImport(form);
        let id =
            state.db(move |conn| crate::engine::preview_jobs::start(conn, user.id, &request, now)).await?;
        tracing::info!(preview_job = id, upload_id, "lead import preview queued");
        Ok(id)
    })
    .await
}

/// A lead import preview's progress and, once done, the preview; its refusal as the error.
/// "Not found" for another user's preview.
#[server(endpoint = "lead_import_preview")]
pub async fn lead_import_preview(id: i64) -> Result<PreviewProgress<ImportPreview>, AppError> {
    crate::auth::access::guarded(async move {
        let state = crate::state::app_state()?;
        let user = crate::auth::access::require_owner().await?;
        use crate::engine::preview_jobs::{self, KIND_LEAD_IMPORT, PreviewResult};
        let job = state
            .db(move |conn| preview_jobs::find(conn, user.id, id, KIND_LEAD_IMPORT))
            .await?
            .ok_or(AppError::NotFound)?;
        if let Some(failure) = job.failure() {
            return Err(failure.app_error());
        }
        let result = match job.result()? {
            Some(PreviewResult::LeadImport(p)) => Some(p),
            _ => None,
        };
        Ok(PreviewProgress {
            job_id: job.id,
            status: job.status(),
            rows_read: job.rows_read,
            rows_total: job.rows_total,
            result,
        })
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
