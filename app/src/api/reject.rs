//! `POST /api/v1/lead-status/reject/{lead_id}`: the Databowl-compatible single-lead Reject API
//! (docs/DOMAIN.md §7). A form body with `key` (or `Authorization: Bearer`), `reason`, and the
//! optional `reject_affiliate_events` and `count_towards_cap`; the lead is decided as a one-row
//! rejection task (engine::task::single).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::{api_user, error};
use super::error::{ApiError, ErrorCode};
use crate::domain::status::LeadStatus;
use crate::engine::planner::MAX_REASON_CHARS;
use crate::engine::task::single::{SingleError, SingleReject, reject_one};
use crate::state::AppState;

// The form as the OpenAPI document shows it; the handler reads the fields by name from the raw
// form (a repeated or unknown field is no error).
/// The form fields.
#[derive(ToSchema)]
#[expect(dead_code, reason = "describes the request in the OpenAPI document; the form is read by name")]
pub struct RejectForm {
    /// The API key, when not sent as `Authorization: Bearer` (Databowl-compatible).
    key: Option<String>,
    /// Why the lead is rejected: stored as its status reason (at most 1,000 characters).
    reason: String,
    /// Also set the lead's approved affiliate events to rejected. `true`, `1`, `yes` or `on` tick
    /// it; anything else, or nothing, leaves it off.
    reject_affiliate_events: Option<String>,
    /// Give the lead's cap unit back (once). Ticked like `reject_affiliate_events`.
    count_towards_cap: Option<String>,
}

/// Always `"success"` in a success answer.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuccessResult {
    Success,
}

// Fields in alphabetical order: the answer's bytes stay as `serde_json::json!` first wrote them.
/// A lead rejected: now `client_rejected`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rejected {
    pub lead_id: i64,
    pub result: SuccessResult,
    pub status: LeadStatus,
}

/// The form's fields, in order (an unreadable body has none).
fn form(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default()
}

fn field<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim())
}

/// `true`, `1`, `yes` or `on` (any case) tick an option; anything else, or nothing, leaves it off.
fn flag(params: &[(String, String)], name: &str) -> bool {
    field(params, name).is_some_and(|v| ["true", "1", "yes", "on"].iter().any(|t| v.eq_ignore_ascii_case(t)))
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, ErrorCode::LeadNotFound, "No lead of yours has this id.")
}

/// Reject one lead
///
/// Databowl-compatible. The lead is decided as a one-row rejection task without a file: with
/// today (UTC) as the reference date, it becomes `client_rejected` with the reason when it was
/// delivered and is inside its campaign's rejection window; nothing changes otherwise. The key
/// is checked first: nothing about a lead is told without a valid key.
#[utoipa::path(
    post,
    path = "/api/v1/lead-status/reject/{lead_id}",
    tag = "rejections",
    params(("lead_id" = String, Path, description = "The lead's id (a lead id that is not a number is not found).")),
    request_body(content = RejectForm, content_type = "application/x-www-form-urlencoded"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The lead is now Client Rejected.", body = Rejected),
        (status = 404, description = "`LEAD_NOT_FOUND`: no lead of your client has this id.", body = ApiError),
        (status = 409, description = "`ALREADY_REJECTED`: the lead is already Client Rejected.", body = ApiError),
        (status = 422, description = "`OUTSIDE_WINDOW`: the lead is outside its rejection window. \
            `NOT_DELIVERED`: the lead's status is not received, accepted or sale. \
            `NO_MAX_REJECTION_DAYS`: its campaign has no maximum rejection days. \
            `MISSING_REASON`: the reason is missing, blank or longer than 1,000 characters.", body = ApiError),
    ),
)]
pub async fn reject_lead(
    State(state): State<AppState>,
    Path(lead_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = form(&body);
    let user = match api_user(&state, &headers, field(&params, "key")).await {
        Ok(user) => user,
        Err(refusal) => return refusal,
    };
    let (Ok(lead_id), Some(client_id)) = (lead_id.trim().parse::<i64>(), user.client_id) else {
        return not_found();
    };
    let reason = field(&params, "reason").unwrap_or_default();
    if reason.is_empty() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::MissingReason,
            "Send the rejection reason as reason.",
        );
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::MissingReason,
            &format!("The rejection reason is longer than {MAX_REASON_CHARS} characters."),
        );
    }
    let request = SingleReject {
        lead_id,
        reason: reason.to_owned(),
        user_id: user.id,
        instance_id: user.instance_id,
        client_id,
        reject_affiliate_events: flag(&params, "reject_affiliate_events"),
        count_towards_cap: flag(&params, "count_towards_cap"),
        now: state.clock.now(),
    };
    let outcome = state.db_or(move |conn| reject_one(conn, &request)).await;
    let unprocessable =
        |code: ErrorCode, message: &str| error(StatusCode::UNPROCESSABLE_ENTITY, code, message);
    match outcome {
        Ok(()) => axum::Json(Rejected {
            lead_id,
            result: SuccessResult::Success,
            status: LeadStatus::ClientRejected,
        })
        .into_response(),
        Err(SingleError::NotFound) => not_found(),
        Err(SingleError::AlreadyRejected) => {
            error(StatusCode::CONFLICT, ErrorCode::AlreadyRejected, "The lead is already Client Rejected.")
        }
        Err(SingleError::OutsideWindow(why)) => unprocessable(
            ErrorCode::OutsideWindow,
            &format!("The lead is outside its rejection window: {why}."),
        ),
        Err(SingleError::NotDelivered(why)) => {
            unprocessable(ErrorCode::NotDelivered, &format!("Only a delivered lead can be rejected: {why}."))
        }
        Err(SingleError::NoMaxRejectionDays) => unprocessable(
            ErrorCode::NoMaxRejectionDays,
            "The lead's campaign has no maximum rejection days, so none of its leads can be rejected.",
        ),
        Err(SingleError::Invalid(why)) => unprocessable(ErrorCode::MissingReason, &why),
        Err(err @ (SingleError::Db(_) | SingleError::Conflict)) => {
            tracing::error!(error = %err, lead_id, "rejecting a lead through the API");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "Something went wrong on our side. Try again in a moment.",
            )
        }
    }
}
