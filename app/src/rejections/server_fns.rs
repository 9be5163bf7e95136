//! Rejection server functions. Starting or previewing a task requires "Reject Leads as a
//! Client" (403 otherwise); reading tasks is also open to owner staff. All of them act only
//! within the caller's instance and, for client users, on their own client's campaigns.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

use super::model::{PreviewSummary, TaskForm, TaskHistory, TaskView};
use crate::domain::preview_job::PreviewProgress;
use crate::domain::task_view::UndoPreview;
use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectionCampaign {
    pub id: i64,
    pub name: String,
    /// `None`: the campaign accepts no rejection tasks.
    pub max_rejection_days: Option<i32>,
    /// The deduplicated fields, which can identify a lead.
    pub fields: Vec<FieldOption>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldOption {
    pub id: i64,
    pub label: String,
    /// `email`, `phone` or `text`.
    pub kind: String,
}

/// What the Import Rejections form starts from: the user's campaigns and the largest file the
/// server accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectionSetup {
    pub campaigns: Vec<RejectionCampaign>,
    /// The configured upload limit (`--max-upload-mb`), in bytes.
    pub max_upload_bytes: u64,
}

/// Tasks shown on a page of the history.
pub const HISTORY_LENGTH: i64 = 20;

/// The campaigns of the user's client, with their maximum rejection time and deduped fields, and
/// the upload limit.
#[server(endpoint = "rejection_campaigns")]
pub async fn rejection_campaigns() -> Result<RejectionSetup, AppError> {
    crate::auth::access::guarded(async {
        let state = crate::state::app_state()?;
        let user = crate::auth::access::require_reject_permission().await?;
        let (instance_id, client_id) = (user.instance_id, user.client_id.ok_or(AppError::Forbidden)?);
        let (campaigns, fields) = state
            .db(move |conn| {
                let campaigns = crate::db::leads::campaigns_of_client(conn, instance_id, client_id)?;
                let ids: Vec<i64> = campaigns.iter().map(|c| c.id).collect();
                let fields = crate::db::leads::dedupe_fields(conn, &ids)?;
                Ok((campaigns, fields))
            })
            .await?;
        let campaigns = campaigns
            .into_iter()
            .map(|c| RejectionCampaign {
                fields: fields
                    .iter()
                    .filter(|f| f.campaign_id == c.id)
                    .map(|f| FieldOption { id: f.id, label: f.label.clone(), kind: f.kind.clone() })
                    .collect(),
                id: c.id,
                name: c.name,
                max_rejection_days: c.max_rejection_days,
            })
            .collect();
        Ok(RejectionSetup { campaigns, max_upload_bytes: state.uploads.max_bytes })
    })
    .await
}

/// "Preview outcomes": queues a background preview of what the task would do (nothing changes)
/// and returns its id at once; poll it with [`rejection_preview`]. The user's unfinished preview,
/// if any, is cancelled: one preview per user at a time.
#[server(endpoint = "start_rejection_preview", input = Json)]
pub async fn start_rejection_preview(form: TaskForm) -> Result<i64, AppError> {
    crate::auth::access::guarded(async move {
        let state = crate::state::app_state()?;
        let user = crate::auth::access::require_reject_permission().await?;
        let now = state.clock.now();
        let req = ssr::task_request(&form, String::new())?;
        let request = crate::engine::preview_jobs::PreviewRequest::Rejection(
            crate::engine::preview_jobs::RejectionPreviewRequest::of(form.upload_id, &req),
        );
        let id =
            state.db(move |conn| crate::engine::preview_jobs::start(conn, user.id, &request, now)).await?;
        tracing::info!(preview_job = id, upload_id = form.upload_id, "rejection preview queued");
        Ok(id)
    })
    .await
}

/// A rejection preview's progress and, once done, the summary the page shows; its refusal (the
/// file-level checks) as the error. "Not found" for another user's preview.
#[server(endpoint = "rejection_preview")]
pub async fn rejection_preview(id: i64) -> Result<PreviewProgress<PreviewSummary>, AppError> {
    crate::auth::access::guarded(async move {
        let state = crate::state::app_state()?;
        let user = crate::auth::access::require_reject_permission().await?;
        use crate::engine::preview_jobs::{self, KIND_REJECTION, PreviewRequest, PreviewResult};
        let job = state
            .db(move |conn| preview_jobs::find(conn, user.id, id, KIND_REJECTION))
            .await?
            .ok_or(AppError::NotFound)?;
        if let Some(failure) = job.failure() {
            return Err(failure.app_error());
        }
        let result = match (job.result()?, job.request()?) {
            (Some(PreviewResult::Rejection(p)), PreviewRequest::Rejection(req)) => {
                Some(ssr::summary(p.into(), req.options))
            }
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

/// "Start Rejection Task": queues the task and returns its id. The same upload starts one task
/// only: sending the form again (double click, Back) returns the task it started.
#[server(endpoint = "start_rejection_task", input = Json)]
pub async fn start_rejection_task(form: TaskForm) -> Result<i64, AppError> {
    crate::auth::access::guarded(async move {
        let state = crate::state::app_state()?;
        let user = crate::auth::access::require_reject_permission().await?;
        let now = state.clock.now();
        let storage = state.uploads.storage.clone();
        let upload_id = form.upload_id;
        // The upload's own row keeps its file name; submit_upload checks it is the user's.
        let req = ssr::task_request(&form, format!("upload-{upload_id}"))?;
        let id = state
            .db_or(move |conn| -> Result<i64, AppError> {
                Ok(crate::engine::task::submit_upload(conn, &storage, &user, &req, upload_id, now)?)
            })
            .await?;
        tracing::info!(task_id = id, upload_id, "rejection task queued");
        Ok(id)
    })
    .await
}

/// A task's page: progress, counts, options, affected leads. "Not found" for a task the user
/// may not see.
#[server(endpoint = "rejection_task")]
pub async fn rejection_task(id: i64) -> Result<TaskView, AppError> {
    crate::auth::access::guarded(async move {
        let state = crate::state::app_state()?;
        let user = crate::auth::access::current_user().await?;
        crate::auth::access::may_read_tasks(&user)?;
        state
            .db(move |conn| crate::engine::task::views::task_view(conn, &user, id))
            .await?
            .ok_or(AppError::NotFound)
    })
    .await
}

/// What undoing task `id` would do now (the confirmation): leads back, of them moved to
/// accepted, changed since, events, cap units, caps that would go over their limit. The same
/// checks as `undo_rejection_task`.
#[server(endpoint = "undo_task_preview")]
pub async fn undo_task_preview(id: i64) -> Result<UndoPreview, AppError> {
    crate::auth::access::guarded(async move {
        let state = crate::state::app_state()?;
        let user = crate::auth::access::current_user().await?;
        state
            .db_or(move |conn| -> Result<UndoPreview, AppError> {
                Ok(crate::engine::task::undo::undo_preview(conn, &user, id)?)
            })
            .await
    })
    .await
}

/// "Undo task": queues the undo of task `id` and returns the undo's task id. Owner staff, or
/// the client user who started it with "Reject Leads as a Client"; a finished task, once.
#[server(endpoint = "undo_rejection_task")]
pub async fn undo_rejection_task(id: i64) -> Result<i64, AppError> {
    crate::auth::access::guarded(async move {
        use crate::engine::task::undo::{UndoStarted, start_undo};
        let state = crate::state::app_state()?;
        let user = crate::auth::access::current_user().await?;
        let now = state.clock.now();
        let started = state
            .db_or(move |conn| -> Result<UndoStarted, AppError> {
                Ok(start_undo(conn, &user, id, None, now)?)
            })
            .await?;
        match started {
            UndoStarted::Created(undo) | UndoStarted::Repeated(undo) => {
                tracing::info!(task_id = id, undo_task_id = undo, "undo queued");
                Ok(undo)
            }
            UndoStarted::KeyReused => Err(AppError::Internal),
        }
    })
    .await
}

/// A page of the task history, newest first: a client user's own tasks, or (owner staff)
/// everyone's in the instance. `before`: the tasks older than that task; `after`: newer ones;
/// neither: the newest.
#[server(endpoint = "rejection_task_history")]
pub async fn rejection_task_history(
    before: Option<i64>,
    after: Option<i64>,
) -> Result<TaskHistory, AppError> {
    crate::auth::access::guarded(async move {
        use crate::engine::task::views::{HistoryPage, task_history_page};
        let state = crate::state::app_state()?;
        let user = crate::auth::access::current_user().await?;
        crate::auth::access::may_read_tasks(&user)?;
        let page = match (before, after) {
            (Some(id), _) => HistoryPage::OlderThan(id),
            (None, Some(id)) => HistoryPage::NewerThan(id),
            (None, None) => HistoryPage::Newest,
        };
        let slice = state.db(move |conn| task_history_page(conn, &user, page, HISTORY_LENGTH)).await?;
        Ok(TaskHistory {
            older: slice.tasks.last().filter(|_| slice.has_older).map(|t| t.id),
            newer: slice.tasks.first().filter(|_| slice.has_newer).map(|t| t.id),
            tasks: slice.tasks,
        })
    })
    .await
}

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use crate::engine::task::{Preview, TaskRequest};
    use crate::error::AppError;
    use crate::rejections::TaskForm;
    use crate::rejections::model::{PreviewSummary, TaskOptions};

    /// The engine's preview as the page shows it (options 4 and 5 only when ticked).
    pub fn summary(outcome: Preview, options: TaskOptions) -> PreviewSummary {
        PreviewSummary {
            rows: outcome.rows,
            counts: outcome.counts,
            reference_date: outcome.reference_date.to_string(),
            window_start: outcome.window_start.to_string(),
            max_rejection_days: i32::try_from((outcome.reference_date - outcome.window_start).num_days())
                .unwrap_or(i32::MAX),
            remaining_to_accept: options.move_remaining_to_accepted.then_some(outcome.remaining_to_accept),
            cap_units: options.count_towards_cap.then_some(outcome.cap_units),
        }
    }

    /// The form as the engine takes it; `Invalid` names the field that is missing or malformed.
    pub fn task_request(form: &TaskForm, request_key: String) -> Result<TaskRequest, AppError> {
        let campaign_id = form
            .campaign_id
            .ok_or_else(|| AppError::invalid("campaign", "Choose the campaign the leads came from."))?;
        if form.identifier_column.is_empty() {
            return Err(AppError::invalid(
                "identifier_column",
                "Choose the column of your file that holds the identifier.",
            ));
        }
        if form.reason_column.is_empty() {
            return Err(AppError::invalid(
                "reason_column",
                "Choose the column of your file that holds the rejection reason.",
            ));
        }
        Ok(TaskRequest {
            campaign_id,
            mode: form.mode,
            identifier_column: form.identifier_column.clone(),
            reason_column: form.reason_column.clone(),
            reject_from: crate::domain::messages::optional_date(&form.reject_from).map_err(|_| {
                AppError::invalid("reject_from", "Enter the reject-from date as a date, e.g. 2026-11-20.")
            })?,
            options: form.options,
            request_key: (!request_key.is_empty()).then_some(request_key),
        })
    }
}
