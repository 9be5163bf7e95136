//! The bulk Reject API (docs/DOMAIN.md §7): `POST /api/v1/rejection-tasks` takes a CSV file as
//! the body and the task's settings as query parameters, and queues the same task the Import
//! Rejections page would (or, with `preview=true`, answers what it would do); `Idempotency-Key`
//! makes a retry safe. `GET /api/v1/rejection-tasks[/{id}[/results.csv]]` report on the key
//! user's tasks. The handlers parse and answer; the checks and writes are the engine's.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;

use super::auth::{api_user, error};
use super::error::{ApiError, ErrorCode};
use crate::db::users::UserContext;
use crate::domain::task::{IdentifierChoice, TaskOptions, TaskStatus};
use crate::engine::csv_file::{self, FileRefusal};
use crate::engine::preview_jobs::{PreviewRequest, RejectionPreviewRequest};
use crate::engine::task::views::{RecordQuery, task_records};
use crate::engine::task::{ReceivedFile, SubmitError, Submitted, TaskRequest, field_by_key};
use crate::engine::uploads::Storage;
use crate::rejections::http::{Received, parts_download, receive};
use crate::rejections::model::{guess_identifier_column, guess_reason_column};
use crate::state::AppState;

pub use super::task_json::{
    OutcomeCounts, TaskCampaign, TaskCreated, TaskJson, TaskLinks, TaskPage, TaskPreview,
};

/// Longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// Tasks per page of `GET /api/v1/rejection-tasks` unless `limit` says otherwise.
pub const DEFAULT_PAGE: i64 = 20;
/// The most tasks one page may hold.
pub const MAX_PAGE: i64 = 100;

/// How the file names the leads: `lead_id`, `uid` or `field:<field key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Identifier {
    LeadId,
    Uid,
    FieldKey(String),
}

/// The query parameters of `POST /api/v1/rejection-tasks`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settings {
    campaign_id: i64,
    identifier: Identifier,
    identifier_column: Option<String>,
    reason_column: Option<String>,
    reject_from: Option<NaiveDate>,
    options: TaskOptions,
    preview: bool,
    name: String,
}

/// A parameter the request got wrong: its name and what to send instead.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BadParameter {
    code: ErrorCode,
    parameter: String,
    message: String,
}

fn bad(code: ErrorCode, parameter: &str, message: impl Into<String>) -> BadParameter {
    BadParameter { code, parameter: parameter.to_owned(), message: message.into() }
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`, any case).
fn parse_flag(name: &str, value: &str) -> Result<bool, BadParameter> {
    let v = value.trim().to_ascii_lowercase();
    match v.as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(bad(ErrorCode::InvalidParameter, name, format!("{name} must be true or false."))),
    }
}

impl Settings {
    /// Reads the query string; an unknown parameter is refused rather than ignored (a misspelt
    /// option would otherwise run the task without it).
    fn parse(query: &str) -> Result<Self, BadParameter> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|_| bad(ErrorCode::InvalidParameter, "query", "The query string could not be read."))?;
        let mut campaign_id = None;
        let mut s = Settings {
            campaign_id: 0,
            identifier: Identifier::LeadId,
            identifier_column: None,
            reason_column: None,
            reject_from: None,
            options: TaskOptions::default(),
            preview: false,
            name: String::new(),
        };
        let text = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        for (name, value) in &pairs {
            match name.as_str() {
                "campaign_id" => {
                    campaign_id = Some(value.trim().parse::<i64>().map_err(|_| {
                        bad(
                            ErrorCode::InvalidParameter,
                            "campaign_id",
                            "campaign_id must be a campaign's id (a number).",
                        )
                    })?);
                }
                "identifier" => {
                    s.identifier = match value.trim() {
                        "lead_id" => Identifier::LeadId,
                        "uid" => Identifier::Uid,
                        other => match other.strip_prefix("field:").map(str::trim) {
                            Some(key) if !key.is_empty() => Identifier::FieldKey(key.to_owned()),
                            _ => {
                                return Err(bad(
                                    ErrorCode::InvalidParameter,
                                    "identifier",
                                    "identifier must be lead_id, uid or field:<field key>.",
                                ));
                            }
                        },
                    };
                }
                "identifier_column" => s.identifier_column = text(value),
                "reason_column" => s.reason_column = text(value),
                "reject_from" => {
                    s.reject_from = match text(value) {
                        None => None,
                        Some(v) => Some(NaiveDate::parse_from_str(&v, "%Y-%m-%d").map_err(|_| {
                            bad(
                                ErrorCode::InvalidParameter,
                                "reject_from",
                                "reject_from must be a date as YYYY-MM-DD.",
                            )
                        })?),
                    };
                }
                "move_outside_to_accepted" => s.options.move_outside_to_accepted = parse_flag(name, value)?,
                "reject_affiliate_events" => s.options.reject_affiliate_events = parse_flag(name, value)?,
                "move_remaining_to_accepted" => {
                    s.options.move_remaining_to_accepted = parse_flag(name, value)?
                }
                "count_towards_cap" => s.options.count_towards_cap = parse_flag(name, value)?,
                "preview" => s.preview = parse_flag(name, value)?,
                "name" => s.name = value.clone(),
                other => {
                    let shown: String = other.chars().take(60).collect();
                    return Err(bad(
                        ErrorCode::InvalidParameter,
                        other,
                        format!("Unknown parameter \"{shown}\". See /api/docs for the parameters."),
                    ));
                }
            }
        }
        s.campaign_id = campaign_id.ok_or_else(|| {
            bad(ErrorCode::MissingParameter, "campaign_id", "Send the campaign's id as campaign_id.")
        })?;
        Ok(s)
    }
}

/// The `Idempotency-Key` header: required to create a task (not for a preview), at most
/// [`MAX_IDEMPOTENCY_KEY_CHARS`] visible ASCII characters.
fn idempotency_key(headers: &HeaderMap, preview: bool) -> Result<Option<String>, BadParameter> {
    let Some(value) = headers.get("idempotency-key") else {
        return if preview {
            Ok(None)
        } else {
            Err(bad(
                ErrorCode::MissingIdempotencyKey,
                "Idempotency-Key",
                "Send an Idempotency-Key header (for example a UUID) so that a retry cannot start the task twice.",
            ))
        };
    };
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_CHARS || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad(
            ErrorCode::InvalidIdempotencyKey,
            "Idempotency-Key",
            format!(
                "The Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters (a UUID is ideal)."
            ),
        ));
    }
    Ok(Some(key.to_owned()))
}

fn bad_request(b: &BadParameter) -> Response {
    let status = match b.code {
        ErrorCode::MissingIdempotencyKey | ErrorCode::InvalidIdempotencyKey => StatusCode::BAD_REQUEST,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    refusal(status, b.code, Some(&b.parameter), &b.message)
}

/// An error answer that also names the parameter or setting at fault.
fn refusal(status: StatusCode, code: ErrorCode, field: Option<&str>, message: &str) -> Response {
    let mut body = ApiError::new(code, message);
    body.error.field = field.map(str::to_owned);
    (status, axum::Json(body)).into_response()
}

fn internal() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Internal,
        "Something went wrong on our side. Try again in a moment.",
    )
}

fn task_not_found() -> Response {
    error(StatusCode::NOT_FOUND, ErrorCode::TaskNotFound, "No rejection task of yours has this id.")
}

/// A refused task as the API answers it. The messages are the page's.
fn submit_refusal(err: SubmitError) -> Response {
    match err {
        SubmitError::CampaignNotFound => {
            error(StatusCode::NOT_FOUND, ErrorCode::CampaignNotFound, "No campaign of yours has this id.")
        }
        SubmitError::Refused { field, message } => {
            let (code, parameter) = match field {
                "campaign" => (ErrorCode::NoMaxRejectionDays, "campaign_id"),
                "identifier_column" => (ErrorCode::UnknownColumn, "identifier_column"),
                "reason_column" => (ErrorCode::UnknownColumn, "reason_column"),
                "reject_from" => (ErrorCode::InvalidParameter, "reject_from"),
                "field" | "identifier" => (ErrorCode::InvalidIdentifier, "identifier"),
                _ => (ErrorCode::InvalidFile, "file"),
            };
            refusal(StatusCode::UNPROCESSABLE_ENTITY, code, Some(parameter), &message)
        }
        SubmitError::Db(err) => {
            tracing::error!(error = %err, "queueing a rejection task through the API");
            internal()
        }
    }
}

/// What the database part of a create request came to.
enum Created {
    /// A preview job queued on the request's file, stored as this upload.
    Preview {
        job: i64,
        upload: i64,
    },
    /// The preview's answer, once its job ended.
    Previewed(crate::engine::task::Preview),
    Task(Submitted, TaskStatus),
}

/// How often a preview request asks whether its job has ended.
const PREVIEW_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// Waits for preview job `job` to end, asking every [`PREVIEW_POLL`] with a connection taken for
/// that question only (none is held while waiting), so API previews share the preview workers
/// (and their cap) with the pages. The preview, or the refusal to answer.
async fn await_preview(state: &AppState, user_id: i64, job: i64) -> Result<Created, Response> {
    use crate::domain::preview_job::PreviewStatus;
    use crate::engine::preview_jobs::{self, KIND_REJECTION, PreviewResult};
    loop {
        tokio::time::sleep(PREVIEW_POLL).await;
        let found = match state.db(move |conn| preview_jobs::find(conn, user_id, job, KIND_REJECTION)).await {
            Ok(found) => found,
            Err(err) => {
                tracing::error!(job, error = %err, "polling an API preview");
                return Err(internal());
            }
        };
        let Some(found) = found else {
            tracing::error!(job, "an API preview's job is gone");
            return Err(internal());
        };
        match found.status() {
            PreviewStatus::Queued | PreviewStatus::Running => continue,
            PreviewStatus::Done => {
                return match found.result() {
                    Ok(Some(PreviewResult::Rejection(p))) => Ok(Created::Previewed(p.into())),
                    other => {
                        tracing::error!(job, ?other, "an API preview ended without its result");
                        Err(internal())
                    }
                };
            }
            PreviewStatus::Failed => {
                return Err(submit_refusal(
                    found.failure().unwrap_or(preview_jobs::PreviewFailure::Internal).submit_error(),
                ));
            }
            PreviewStatus::Cancelled => {
                return Err(refusal(
                    StatusCode::CONFLICT,
                    ErrorCode::PreviewReplaced,
                    None,
                    "A newer preview of yours replaced this one before it ended (one preview per user at a time). Send the request again.",
                ));
            }
        }
    }
}

/// Start a rejection task
///
/// The body is the CSV file (UTF-8 with or without BOM; `,` `;` tab or `|`, sniffed; a header
/// row), streamed to storage with the same size limit and file-level checks as the Import
/// Rejections page. Then the task is queued and a worker runs it as a task started on the page.
/// Sending the same request again with the same `Idempotency-Key` answers the task already made.
/// With `preview=true` the answer is what the task would do now, and nothing is kept.
#[utoipa::path(
    post,
    path = "/api/v1/rejection-tasks",
    tag = "rejections",
    params(
        ("Idempotency-Key" = String, Header, description = "Required to create a task (a `preview=true` request may leave it out): a key of your choosing (1–255 visible ASCII characters, e.g. a UUID), one per task. The same key with the same file and settings answers the first request's task; the same key with another file or other settings is refused."),
        ("campaign_id" = i64, Query, description = "The campaign the file's leads belong to (one of your client's)."),
        ("identifier" = Option<String>, Query, description = "How the rows name their lead: `lead_id` (the default), `uid` (consumer session id), or `field:<field key>` (a deduplicated field of the campaign, e.g. `field:email`; see `GET /api/v1/campaigns`)."),
        ("identifier_column" = Option<String>, Query, description = "The header of the file's column holding the identifier. Left out: guessed from the header row (`Lead ID`, `uid`, `email`, …), refused when none gives it away."),
        ("reason_column" = Option<String>, Query, description = "The header of the file's column holding the rejection reason. Left out: guessed (`reason`, `Rejection Reason`, …)."),
        ("reject_from" = Option<String>, Query, format = Date, description = "Option 1, reject from this date (YYYY-MM-DD, not in the future): the reference date of the rejection window. Default: today (UTC)."),
        ("move_outside_to_accepted" = Option<bool>, Query, description = "Option 2: leads outside the window move from received to accepted instead of being left alone."),
        ("reject_affiliate_events" = Option<bool>, Query, description = "Option 3: each rejected lead's approved affiliate events become rejected."),
        ("move_remaining_to_accepted" = Option<bool>, Query, description = "Option 4: afterwards, every received lead of the campaign received before the reference date and not changed by this task moves to accepted."),
        ("count_towards_cap" = Option<bool>, Query, description = "Option 5: each rejected lead gives its unit back to the caps it counted in (once)."),
        ("preview" = Option<bool>, Query, description = "Decide the file's rows without changing anything or keeping the file: the answer is the preview."),
        ("name" = Option<String>, Query, description = "The file name the task shows (default `api-upload.csv`)."),
    ),
    request_body(content = String, content_type = "text/csv", description = "The rejection file."),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The task is queued.", body = TaskCreated),
        (status = 200, description = "The same request was sent before with this `Idempotency-Key`: its task, as it stands now. With `preview=true`: a `TaskPreview` (the preview runs as a background job, at most one per user and a few per server at once; the answer comes when it ends).", body = TaskCreated),
        (status = 400, description = "`MISSING_IDEMPOTENCY_KEY`, `INVALID_IDEMPOTENCY_KEY`, `UPLOAD_INTERRUPTED`: send the request again with a key, or whole.", body = ApiError),
        (status = 404, description = "`CAMPAIGN_NOT_FOUND`: no campaign of your client has this id.", body = ApiError),
        (status = 409, description = "`PREVIEW_REPLACED`: with `preview=true`, a newer preview by the same user replaced this one before it ended; send it again.", body = ApiError),
        (status = 413, description = "`FILE_TOO_LARGE`: the file is over the size limit.", body = ApiError),
        (status = 422, description = "`INVALID_FILE`, `UNKNOWN_COLUMN`, `INVALID_IDENTIFIER`, `NO_MAX_REJECTION_DAYS`, `MISSING_PARAMETER`, `INVALID_PARAMETER`, `IDEMPOTENCY_KEY_REUSED`: the message says what to change (the page's words), `field` names the parameter; nothing was changed.", body = ApiError),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let user = match api_user(&state, &headers, None).await {
        Ok(user) => user,
        Err(refused) => return refused,
    };
    let settings = match Settings::parse(query.as_deref().unwrap_or_default()) {
        Ok(settings) => settings,
        Err(b) => return bad_request(&b),
    };
    let idempotency = match idempotency_key(&headers, settings.preview) {
        Ok(key) => key,
        Err(b) => return bad_request(&b),
    };
    let limit = state.uploads.max_bytes;
    let too_large = || {
        refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::FileTooLarge,
            Some("file"),
            &FileRefusal::TooLarge { limit }.to_string(),
        )
    };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return too_large();
    }
    let storage = state.uploads.storage.clone();
    let quota_bytes = storage.quota_bytes;
    let key = Storage::new_key();
    let stored = match receive(&storage, &key, body, limit).await {
        Ok(Received::Stored(stored)) => stored,
        Ok(Received::TooLarge) => return too_large(),
        Err(err) => {
            tracing::warn!(error = %err, "API upload interrupted");
            return refusal(
                StatusCode::BAD_REQUEST,
                ErrorCode::UploadInterrupted,
                Some("file"),
                "The file did not arrive whole. Send the request again.",
            );
        }
    };
    let path = storage.path_of(&key);
    let now = state.clock.now();
    let request_key = idempotency.map(|k| format!("api:{}:{k}", user.id));
    let options = settings.options;
    let file_path = path.clone();
    let user_id = user.id;
    let outcome = state
        .db_or(move |conn| -> Result<Created, SubmitError> {
            let req = task_request(conn, &user, &settings, &file_path, request_key)?;
            let name = if settings.name.trim().is_empty() { "api-upload.csv" } else { settings.name.trim() };
            let name = crate::rejections::http::display_name(name);
            if settings.preview {
                // Stored as the user's upload, so whichever server's preview worker claims the
                // job reads it; deleted again once the preview has ended.
                let upload =
                    crate::engine::uploads::record_upload(conn, &storage, &user, &name, &stored, now)?;
                let request = PreviewRequest::Rejection(RejectionPreviewRequest::of(upload, &req));
                let job = crate::engine::preview_jobs::start(conn, user.id, &request, now)?;
                return Ok(Created::Preview { job, upload });
            }
            let file = ReceivedFile { name: &name, stored: &stored, path: &file_path, quota_bytes };
            let submitted = crate::engine::task::submit_file(conn, &user, &req, file, now)?;
            let status = match submitted {
                Submitted::Created(_) | Submitted::KeyReused => TaskStatus::Queued,
                Submitted::Repeated(id) => task_records(conn, &user, RecordQuery::One(id))?
                    .first()
                    .map_or(TaskStatus::Queued, |t| t.status),
            };
            Ok(Created::Task(submitted, status))
        })
        .await;
    let outcome = match outcome {
        Ok(Created::Preview { job, upload }) => {
            let ended = await_preview(&state, user_id, job).await;
            if let Err(err) = state.db(move |conn| crate::engine::uploads::discard_upload(conn, upload)).await
            {
                tracing::warn!(upload_id = upload, error = %err, "deleting an API preview's upload");
            }
            let _ = tokio::fs::remove_file(&path).await;
            match ended {
                Ok(ended) => Ok(ended),
                Err(response) => return response,
            }
        }
        other => {
            // The stored copy is kept only as a new task's upload.
            if !matches!(other, Ok(Created::Task(Submitted::Created(_), _))) {
                let _ = tokio::fs::remove_file(&path).await;
            }
            other
        }
    };
    match outcome {
        Ok(Created::Previewed(p)) => axum::Json(TaskPreview {
            preview: true,
            rows: p.rows,
            counts: OutcomeCounts::of(&p.counts),
            reference_date: p.reference_date.to_string(),
            window_start: p.window_start.to_string(),
            remaining_to_accept: options.move_remaining_to_accepted.then_some(p.remaining_to_accept),
            cap_units: options.count_towards_cap.then_some(p.cap_units),
        })
        .into_response(),
        Ok(Created::Task(Submitted::Created(id), status)) => {
            tracing::info!(task_id = id, "rejection task queued through the API");
            (StatusCode::ACCEPTED, axum::Json(TaskCreated { task_id: id, status, links: TaskLinks::of(id) }))
                .into_response()
        }
        Ok(Created::Task(Submitted::Repeated(id), status)) => {
            (StatusCode::OK, axum::Json(TaskCreated { task_id: id, status, links: TaskLinks::of(id) }))
                .into_response()
        }
        Ok(Created::Task(Submitted::KeyReused, _)) => refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::IdempotencyKeyReused,
            Some("Idempotency-Key"),
            "This Idempotency-Key was already used for a different file or different settings. Use a new key for a new task.",
        ),
        // Answered above, once the preview ended.
        Ok(Created::Preview { .. }) => internal(),
        Err(err) => submit_refusal(err),
    }
}

/// The engine's request from the checked parameters: the field key resolved on the campaign,
/// and columns not named guessed from the file's header row as the page does.
fn task_request(
    conn: &mut crate::db::DbConn,
    user: &UserContext,
    s: &Settings,
    file: &std::path::Path,
    request_key: Option<String>,
) -> Result<TaskRequest, SubmitError> {
    let mode = match &s.identifier {
        Identifier::LeadId => IdentifierChoice::LeadId,
        Identifier::Uid => IdentifierChoice::Uid,
        Identifier::FieldKey(key) => IdentifierChoice::Field(field_by_key(conn, user, s.campaign_id, key)?),
    };
    let (identifier_column, reason_column) = match (&s.identifier_column, &s.reason_column) {
        (Some(i), Some(r)) => (i.clone(), r.clone()),
        (identifier, reason) => {
            let shape = csv_file::inspect(file)
                .map_err(|e| SubmitError::Refused { field: "file", message: e.to_string() })?;
            let field = match mode {
                IdentifierChoice::Field(id) => crate::engine::task::field_label_and_kind(conn, id)?,
                _ => None,
            };
            let field_ref = field.as_ref().map(|(l, k)| (l.as_str(), k.as_str()));
            let identifier =
                identifier.clone().or_else(|| guess_identifier_column(&shape.headers, mode, field_ref));
            let reason = reason.clone().or_else(|| guess_reason_column(&shape.headers));
            let missing = |field: &'static str, what: &str| SubmitError::Refused {
                field,
                message: format!("Name the column holding {what} as {field}: no column's name gave it away."),
            };
            (
                identifier.ok_or_else(|| missing("identifier_column", "the identifiers"))?,
                reason.ok_or_else(|| missing("reason_column", "the rejection reasons"))?,
            )
        }
    };
    Ok(TaskRequest {
        campaign_id: s.campaign_id,
        mode,
        identifier_column,
        reason_column,
        reject_from: s.reject_from,
        options: s.options,
        request_key,
    })
}

fn parse_id(raw: &str) -> Option<i64> {
    raw.trim().parse::<i64>().ok().filter(|id| *id > 0)
}

/// A rejection task
///
/// Its status (`queued`, `running`, `completed`, or `failed` with the reason), progress, the
/// rows per outcome (named as in the results file), options and times.
#[utoipa::path(
    get,
    path = "/api/v1/rejection-tasks/{id}",
    tag = "rejections",
    params(("id" = i64, Path, description = "The task's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The task.", body = TaskJson),
        (status = 404, description = "`TASK_NOT_FOUND`: no task you started has this id.", body = ApiError),
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let user = match api_user(&state, &headers, None).await {
        Ok(user) => user,
        Err(refused) => return refused,
    };
    let Some(task_id) = parse_id(&task_id) else { return task_not_found() };
    match state.db(move |conn| task_records(conn, &user, RecordQuery::One(task_id))).await {
        Ok(mut tasks) => match tasks.pop() {
            Some(task) => axum::Json(TaskJson::from(task)).into_response(),
            None => task_not_found(),
        },
        Err(err) => {
            tracing::error!(error = %err, task_id, "reading a task for the API");
            internal()
        }
    }
}

/// List your rejection tasks
///
/// The tasks the key's user started, newest first, a page at a time: pass the answer's
/// `next_cursor` as `cursor` for the next (older) page.
#[utoipa::path(
    get,
    path = "/api/v1/rejection-tasks",
    tag = "rejections",
    params(
        ("cursor" = Option<String>, Query, description = "Where the page starts: the `next_cursor` of the previous page. Left out: the newest tasks."),
        ("limit" = Option<u32>, Query, description = "Tasks a page holds at most: 1 to 100, default 20."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of your tasks.", body = TaskPage),
        (status = 422, description = "`INVALID_PARAMETER`: `limit`, `cursor`, or an unknown parameter.", body = ApiError),
    ),
)]
pub async fn list(State(state): State<AppState>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let user = match api_user(&state, &headers, None).await {
        Ok(user) => user,
        Err(refused) => return refused,
    };
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let mut limit = DEFAULT_PAGE;
    let mut before = None;
    for (name, value) in &pairs {
        match name.as_str() {
            "limit" => match value.trim().parse::<i64>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => limit = n,
                _ => {
                    return bad_request(&bad(
                        ErrorCode::InvalidParameter,
                        "limit",
                        format!("limit must be a number from 1 to {MAX_PAGE}."),
                    ));
                }
            },
            "cursor" if value.trim().is_empty() => {}
            "cursor" => match parse_id(value) {
                Some(id) => before = Some(id),
                None => {
                    return bad_request(&bad(
                        ErrorCode::InvalidParameter,
                        "cursor",
                        "cursor must be a next_cursor this API gave.",
                    ));
                }
            },
            other => {
                let shown: String = other.chars().take(60).collect();
                return bad_request(&bad(
                    ErrorCode::InvalidParameter,
                    other,
                    format!("Unknown parameter \"{shown}\"."),
                ));
            }
        }
    }
    let page = RecordQuery::Page { before, limit: limit + 1 };
    match state.db(move |conn| task_records(conn, &user, page)).await {
        Ok(mut tasks) => {
            let more = tasks.len() > usize::try_from(limit).unwrap_or(usize::MAX);
            tasks.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            let next_cursor = if more { tasks.last().map(|t| t.id.to_string()) } else { None };
            axum::Json(TaskPage { tasks: tasks.into_iter().map(TaskJson::from).collect(), next_cursor })
                .into_response()
        }
        Err(err) => {
            tracing::error!(error = %err, "listing tasks for the API");
            internal()
        }
    }
}

/// A rejection task's results file
///
/// One line per row of the file, in file order: `row,identifier,reason,outcome,lead_id,message`;
/// cells are written safely against spreadsheet formulas. Available once the task has finished.
#[utoipa::path(
    get,
    path = "/api/v1/rejection-tasks/{id}/results.csv",
    tag = "rejections",
    params(("id" = i64, Path, description = "The task's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The results file.", body = String, content_type = "text/csv"),
        (status = 404, description = "`TASK_NOT_FOUND`: no task you started has this id.", body = ApiError),
        (status = 409, description = "`TASK_NOT_FINISHED`: poll the task until it is completed or failed.", body = ApiError),
    ),
)]
pub async fn results(
    State(state): State<AppState>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let user = match api_user(&state, &headers, None).await {
        Ok(user) => user,
        Err(refused) => return refused,
    };
    let Some(task_id) = parse_id(&task_id) else { return task_not_found() };
    let status = match state.db(move |conn| task_records(conn, &user, RecordQuery::One(task_id))).await {
        Ok(tasks) => match tasks.first() {
            Some(task) => task.status,
            None => return task_not_found(),
        },
        Err(err) => {
            tracing::error!(error = %err, task_id, "reading a task for the API");
            return internal();
        }
    };
    if !status.is_finished() {
        return error(
            StatusCode::CONFLICT,
            ErrorCode::TaskNotFinished,
            "The task has not finished yet. Poll the task until its status is completed or failed.",
        );
    }
    let header = match state.db(move |conn| crate::engine::task::results_header(conn, task_id)).await {
        Ok(header) => header,
        Err(err) => {
            tracing::error!(error = %err, task_id, "reading a task for the API");
            return internal();
        }
    };
    parts_download(&state, format!("sendback-task-{task_id}-results.csv"), header, move |conn, after| {
        crate::engine::task::next_part(conn, task_id, after)
    })
}

/// Undo a rejection task
///
/// Queues the undo of a finished task you started (docs/DOMAIN.md §8): every lead the task
/// changed and that has not changed since goes back to its previous status and reason, its
/// affiliate events back to approved and its cap units are taken again; leads changed since
/// are left as they are. The undo is a task of its own: poll it and read its results file
/// (`lead_id`, `uid`, `outcome` = `restored` or `changed_since`, `status`, `message`) like any
/// task. A task is undone once; an undo cannot be undone.
#[utoipa::path(
    post,
    path = "/api/v1/rejection-tasks/{id}/undo",
    tag = "rejections",
    params(
        ("id" = i64, Path, description = "The task to undo."),
        ("Idempotency-Key" = String, Header, description = "Required: a key of your choosing (1–255 visible ASCII characters, e.g. a UUID). The same key again answers the undo it started."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The undo is queued.", body = TaskCreated),
        (status = 200, description = "The same request was sent before with this `Idempotency-Key`: its undo, as it stands now.", body = TaskCreated),
        (status = 400, description = "`MISSING_IDEMPOTENCY_KEY`, `INVALID_IDEMPOTENCY_KEY`.", body = ApiError),
        (status = 404, description = "`TASK_NOT_FOUND`: no task you started has this id.", body = ApiError),
        (status = 409, description = "`TASK_NOT_UNDOABLE`: the task has not finished, is an undo, or was undone already (the message says which).", body = ApiError),
        (status = 422, description = "`IDEMPOTENCY_KEY_REUSED`: the key was used for another request.", body = ApiError),
    ),
)]
pub async fn undo(
    State(state): State<AppState>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    use crate::engine::task::undo::{UndoError, UndoStarted, start_undo};
    let user = match api_user(&state, &headers, None).await {
        Ok(user) => user,
        Err(refused) => return refused,
    };
    let key = match idempotency_key(&headers, false) {
        Ok(key) => key.map(|k| format!("api:{}:{k}", user.id)),
        Err(b) => return bad_request(&b),
    };
    let Some(task_id) = parse_id(&task_id) else { return task_not_found() };
    let now = state.clock.now();
    let started = state
        .db_or(move |conn| -> Result<(UndoStarted, TaskStatus), UndoError> {
            let started = start_undo(conn, &user, task_id, key.as_deref(), now)?;
            let status = match started {
                UndoStarted::Repeated(id) => task_records(conn, &user, RecordQuery::One(id))?
                    .first()
                    .map_or(TaskStatus::Queued, |t| t.status),
                _ => TaskStatus::Queued,
            };
            Ok((started, status))
        })
        .await;
    match started {
        Ok((UndoStarted::Created(id), status)) => {
            tracing::info!(task_id, undo_task_id = id, "undo queued through the API");
            (StatusCode::ACCEPTED, axum::Json(TaskCreated { task_id: id, status, links: TaskLinks::of(id) }))
                .into_response()
        }
        Ok((UndoStarted::Repeated(id), status)) => {
            (StatusCode::OK, axum::Json(TaskCreated { task_id: id, status, links: TaskLinks::of(id) }))
                .into_response()
        }
        Ok((UndoStarted::KeyReused, _)) => refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::IdempotencyKeyReused,
            Some("Idempotency-Key"),
            "This Idempotency-Key was already used for another request. Use a new key.",
        ),
        // The key's user may only see the tasks they started: anything else is not found.
        Err(UndoError::NotFound | UndoError::Forbidden) => task_not_found(),
        Err(UndoError::Refused(message)) => error(StatusCode::CONFLICT, ErrorCode::TaskNotUndoable, &message),
        Err(UndoError::Db(err)) => {
            tracing::error!(error = %err, task_id, "undoing a task through the API");
            internal()
        }
    }
}
