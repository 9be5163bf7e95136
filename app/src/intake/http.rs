//! `POST /api/v1/lead`: a supplier posts one lead, form-encoded or JSON, with `cid` (campaign
//! id), `sid` (supplier id), its key (`key`, or `Authorization: Bearer …`) and the field values
//! (`f_<field id>_<label>`, `f_<field id>` or the field's key). The answer is
//! `{"result":"created","lead_id":…,"uid":…,"status":…}` — also for a lead stored as rejected or
//! quarantined, with its `reason` — or `{"result":"error","error":{"code":…,"message":…}}` with a
//! 4xx status, and then nothing was stored.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::error::{ApiError, ErrorCode};
use crate::db::intake::{self, IntakeError};
use crate::db::keys;
use crate::domain::status::LeadStatus;
use crate::state::AppState;

// The request as the OpenAPI document shows it; the handler reads the parameters by name from
// the form or JSON object.
/// The posted parameters (form fields or a JSON object's members).
#[derive(ToSchema)]
#[expect(dead_code, reason = "describes the request in the OpenAPI document; the body is read by name")]
pub struct IntakeForm {
    /// The campaign's id.
    cid: String,
    /// Your supplier id.
    sid: String,
    /// Your intake key, when not sent as `Authorization: Bearer`.
    key: Option<String>,
    /// The lead's values, named by the field's key (`email`), `f_<field id>_<label>` or
    /// `f_<field id>`; JSON values may be strings, numbers, booleans or null.
    #[serde(flatten)]
    values: std::collections::BTreeMap<String, String>,
}

/// Always `"created"` when a lead was stored.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CreatedResult {
    Created,
}

// Fields in alphabetical order: the answer's bytes stay as `serde_json::json!` first wrote them.
/// A lead stored: as `received`, or as `rejected` / `quarantine` with the reason.
#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    pub lead_id: i64,
    /// Why the lead was stored as rejected or quarantined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub result: CreatedResult,
    pub status: LeadStatus,
    /// The lead's consumer session id.
    pub uid: String,
}

/// An intake error: the HTTP status, the code suppliers' software reads, and a message.
struct Refusal {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    field: Option<String>,
}

fn refuse(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Refusal {
    Refusal { status, code, message: message.into(), field: None }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut answer = ApiError::new(self.code, self.message);
        answer.error.field = self.field;
        (self.status, axum::Json(answer)).into_response()
    }
}

/// The posted parameters, in order, from a JSON object or a form body.
fn parameters(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, Refusal> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().starts_with("application/json"));
    let unreadable =
        || refuse(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, "The request body could not be read.");
    if !json {
        return serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).map_err(|_| unreadable());
    }
    let serde_json::Value::Object(map) = serde_json::from_slice(body).map_err(|_| unreadable())? else {
        return Err(unreadable());
    };
    map.into_iter()
        .map(|(name, value)| match value {
            serde_json::Value::String(s) => Ok((name, s)),
            serde_json::Value::Number(n) => Ok((name, n.to_string())),
            serde_json::Value::Bool(b) => Ok((name, b.to_string())),
            serde_json::Value::Null => Ok((name, String::new())),
            _ => Err(Refusal {
                field: Some(name),
                ..refuse(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorCode::InvalidField,
                    "Send each field as text.",
                )
            }),
        })
        .collect()
}

fn single<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

/// Send a lead (suppliers)
///
/// Databowl-compatible intake: a supplier posts one lead for a campaign, form-encoded or as a
/// JSON object. An invalid email or phone, or a value already on a lead of a deduplicated
/// field, stores the lead as `rejected` with the reason; a lead over a cap as `quarantine`
/// ("Cap reached"); otherwise it is `received`. A refused request stores nothing.
#[utoipa::path(
    post,
    path = "/api/v1/lead",
    tag = "intake",
    request_body(content(
        (IntakeForm = "application/x-www-form-urlencoded"),
        (IntakeForm = "application/json"),
    )),
    security(("supplier_key" = [])),
    responses(
        (status = 200, description = "The lead was stored (also as rejected or quarantined: see `status` and `reason`).", body = Created),
        (status = 400, description = "`INVALID_REQUEST`: the body could not be read. \
            `MISSING_CID`: no campaign id. `MISSING_SID`: no supplier id.", body = ApiError),
        (status = 401, description = "`INVALID_KEY`: the key is missing, unknown or revoked, or not this supplier's.", body = ApiError),
        (status = 403, description = "`SUPPLIER_NOT_ALLOWED`: this supplier may not send leads to this campaign.", body = ApiError),
        (status = 404, description = "`UNKNOWN_CAMPAIGN`: no campaign of your instance has this id.", body = ApiError),
        (status = 422, description = "`INVALID_FIELD`: a posted name is no field of the campaign, or a JSON value is not text; `field` names it.", body = ApiError),
        (status = 500, description = "`INTERNAL`: something failed on our side; try again.", body = ApiError),
    ),
)]
pub async fn lead(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match receive(&state, &headers, &body).await {
        Ok(received) => {
            let answer = Created {
                lead_id: received.lead_id,
                reason: received.reason,
                result: CreatedResult::Created,
                status: received.status,
                uid: received.uid,
            };
            (StatusCode::OK, axum::Json(answer)).into_response()
        }
        Err(refusal) => refusal.into_response(),
    }
}

async fn receive(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<intake::Received, Refusal> {
    let params = parameters(headers, body)?;
    let Some(cid) = single(&params, "cid") else {
        return Err(refuse(StatusCode::BAD_REQUEST, ErrorCode::MissingCid, "Send the campaign id as cid."));
    };
    let campaign_id: i64 = cid.parse().map_err(|_| {
        refuse(StatusCode::NOT_FOUND, ErrorCode::UnknownCampaign, "There is no campaign with this id.")
    })?;
    let Some(sid) = single(&params, "sid") else {
        return Err(refuse(StatusCode::BAD_REQUEST, ErrorCode::MissingSid, "Send your supplier id as sid."));
    };
    let key = single(&params, "key").map(str::to_owned).or_else(|| bearer(headers));
    let invalid_key = || {
        refuse(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidKey,
            "The key is missing, unknown or revoked, or not this supplier's.",
        )
    };
    let Some(key) = key else { return Err(invalid_key()) };
    let now = state.clock.now();
    let sid = sid.to_owned();
    // A key that is no key of this supplier is refused on a read, in parallel: only a supplier's
    // own posts queue for the write.
    let peeked = {
        let key = key.clone();
        state.db(move |conn| keys::peek(conn, &key)).await.map_err(internal)?
    };
    if !peeked.is_some_and(|h| h.is_supplier(&sid)) {
        return Err(invalid_key());
    }
    // The key again (revoked meanwhile?) and the lead, in one write: on SQLite in a group with
    // the other leads posted meanwhile (one commit for them all), on PostgreSQL on one pooled
    // connection.
    let received = state
        .writer
        .write(move |conn| {
            let holder = keys::holder(conn, &key, now)?;
            match holder {
                Some(h) if h.is_supplier(&sid) => {
                    intake::receive(conn, h, campaign_id, &params, now).map(Some)
                }
                _ => Ok(None),
            }
        })
        .await
        .map_err(refusal)?;
    received.ok_or_else(invalid_key)
}

/// A lead not taken, as the supplier is told.
fn refusal(e: IntakeError) -> Refusal {
    match e {
        IntakeError::UnknownCampaign => {
            refuse(StatusCode::NOT_FOUND, ErrorCode::UnknownCampaign, "There is no campaign with this id.")
        }
        IntakeError::SupplierNotAllowed => refuse(
            StatusCode::FORBIDDEN,
            ErrorCode::SupplierNotAllowed,
            "This supplier may not send leads to this campaign.",
        ),
        IntakeError::InvalidField(f) => Refusal {
            field: Some(f.field),
            ..refuse(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidField, f.message)
        },
        IntakeError::Db(e) => internal(e),
    }
}

fn internal(e: crate::db::DbError) -> Refusal {
    tracing::error!(error = %e, "lead intake");
    refuse(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Internal,
        "Something went wrong on our side. Try again in a moment.",
    )
}
