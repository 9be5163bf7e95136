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
use serde_json::json;

use crate::db::intake::{self, IntakeError};
use crate::db::keys;
use crate::state::AppState;

/// An intake error: the HTTP status, the code suppliers' software reads, and a message.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
}

fn refuse(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal { status, code, message: message.into(), field: None }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(field) = self.field {
            error["field"] = json!(field);
        }
        (self.status, axum::Json(json!({ "result": "error", "error": error }))).into_response()
    }
}

/// The posted parameters, in order, from a JSON object or a form body.
fn parameters(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, Refusal> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().starts_with("application/json"));
    let unreadable =
        || refuse(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "The request body could not be read.");
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
                ..refuse(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_FIELD", "Send each field as text.")
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

pub async fn lead(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match receive(&state, &headers, &body).await {
        Ok(received) => {
            let mut answer = json!({
                "result": "created",
                "lead_id": received.lead_id,
                "uid": received.uid,
                "status": received.status.as_str(),
            });
            if let Some(reason) = received.reason {
                answer["reason"] = json!(reason);
            }
            (StatusCode::OK, axum::Json(answer)).into_response()
        }
        Err(refusal) => refusal.into_response(),
    }
}

async fn receive(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<intake::Received, Refusal> {
    let params = parameters(headers, body)?;
    let Some(cid) = single(&params, "cid") else {
        return Err(refuse(StatusCode::BAD_REQUEST, "MISSING_CID", "Send the campaign id as cid."));
    };
    let campaign_id: i64 = cid.parse().map_err(|_| {
        refuse(StatusCode::NOT_FOUND, "UNKNOWN_CAMPAIGN", "There is no campaign with this id.")
    })?;
    let Some(sid) = single(&params, "sid") else {
        return Err(refuse(StatusCode::BAD_REQUEST, "MISSING_SID", "Send your supplier id as sid."));
    };
    let key = single(&params, "key").map(str::to_owned).or_else(|| bearer(headers));
    let invalid_key = || {
        refuse(
            StatusCode::UNAUTHORIZED,
            "INVALID_KEY",
            "The key is missing, unknown or revoked, or not this supplier's.",
        )
    };
    let Some(key) = key else { return Err(invalid_key()) };
    let now = state.clock.now();
    let sid = sid.to_owned();
    // One connection for the key and the lead: a busy intake does not queue for the pool twice.
    let received = state
        .db_or(move |conn| {
            let holder = keys::holder(conn, &key, now)?;
            match holder {
                Some(h) if h.supplier_id.map(|s| s.to_string()) == Some(sid) => {
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
            refuse(StatusCode::NOT_FOUND, "UNKNOWN_CAMPAIGN", "There is no campaign with this id.")
        }
        IntakeError::SupplierNotAllowed => refuse(
            StatusCode::FORBIDDEN,
            "SUPPLIER_NOT_ALLOWED",
            "This supplier may not send leads to this campaign.",
        ),
        IntakeError::InvalidField(f) => Refusal {
            field: Some(f.field),
            ..refuse(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_FIELD", f.message)
        },
        IntakeError::Db(e) => internal(e),
    }
}

fn internal(e: crate::db::DbError) -> Refusal {
    tracing::error!(error = %e, "lead intake");
    refuse(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL",
        "Something went wrong on our side. Try again in a moment.",
    )
}
