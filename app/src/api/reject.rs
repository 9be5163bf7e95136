//! `POST /api/v1/lead-status/reject/{lead_id}`: the Databowl-compatible single-lead Reject API
//! (docs/DOMAIN.md §7). A form body with `key` (or `Authorization: Bearer`), `reason`, and the
//! optional `reject_affiliate_events` and `count_towards_cap`; the lead is decided as a one-row
//! rejection task (engine::task::single).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::{api_user, error};
use crate::engine::planner::MAX_REASON_CHARS;
use crate::engine::task::single::{SingleError, SingleReject, reject_one};
use crate::state::AppState;

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
    error(StatusCode::NOT_FOUND, "LEAD_NOT_FOUND", "No lead of yours has this id.")
}

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
            "MISSING_REASON",
            "Send the rejection reason as reason.",
        );
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "MISSING_REASON",
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
    let unprocessable = |code: &str, message: &str| error(StatusCode::UNPROCESSABLE_ENTITY, code, message);
    match outcome {
        Ok(()) => axum::Json(json!({ "result": "success", "lead_id": lead_id, "status": "client_rejected" }))
            .into_response(),
        Err(SingleError::NotFound) => not_found(),
        Err(SingleError::AlreadyRejected) => {
            error(StatusCode::CONFLICT, "ALREADY_REJECTED", "The lead is already Client Rejected.")
        }
        Err(SingleError::OutsideWindow(why)) => {
            unprocessable("OUTSIDE_WINDOW", &format!("The lead is outside its rejection window: {why}."))
        }
        Err(SingleError::NotDelivered(why)) => {
            unprocessable("NOT_DELIVERED", &format!("Only a delivered lead can be rejected: {why}."))
        }
        Err(SingleError::NoMaxRejectionDays) => unprocessable(
            "NO_MAX_REJECTION_DAYS",
            "The lead's campaign has no maximum rejection days, so none of its leads can be rejected.",
        ),
        Err(SingleError::Invalid(why)) => unprocessable("MISSING_REASON", &why),
        Err(err @ (SingleError::Db(_) | SingleError::Conflict)) => {
            tracing::error!(error = %err, lead_id, "rejecting a lead through the API");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "Something went wrong on our side. Try again in a moment.",
            )
        }
    }
}
