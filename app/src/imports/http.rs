//! Plain HTTP endpoints of lead imports: the file upload (streamed to storage like a rejection
//! file, owner staff only) and the results download. Both check the session, the role and the
//! instance on the server.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tower_sessions::Session;

use crate::auth::access::require_owner_user;
use crate::error::AppError;
use crate::rejections::http::{UploadQuery, parts_download, receive_upload, refuse, refuse_app, signed_in};
use crate::state::AppState;

/// `POST /api/lead-uploads?name=<file name>` with the file as the request body: the upload
/// preview, or a plain-words refusal.
pub async fn upload(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let response = receive_upload(state, session, query, headers, body, require_owner_user).await;
    if response.status() == StatusCode::FORBIDDEN {
        refuse(StatusCode::FORBIDDEN, OWNER_ONLY)
    } else {
        response
    }
}

/// Why anyone but owner staff is refused.
pub const OWNER_ONLY: &str = "Importing leads is for the instance owner's staff.";

/// `GET /leads/import/{id}/results.csv`: one line per row of the file, streamed.
pub async fn results(
    State(state): State<AppState>,
    session: Session,
    Path(import_id): Path<i64>,
) -> Response {
    let user = match signed_in(&state, &session).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    if require_owner_user(&user).is_err() {
        return refuse(StatusCode::FORBIDDEN, OWNER_ONLY);
    }
    match state.db(move |conn| crate::engine::lead_import::may_see(conn, &user, import_id)).await {
        Ok(true) => {}
        Ok(false) => return refuse_app(&AppError::NotFound),
        Err(err) => return refuse_app(&AppError::from(err)),
    }
    let header = crate::engine::lead_import::RESULTS_HEADER.as_bytes().to_vec();
    parts_download(
        &state,
        format!("sendback-lead-import-{import_id}-results.csv"),
        header,
        move |conn, after| crate::engine::lead_import::next_results_part(conn, import_id, after),
    )
}
