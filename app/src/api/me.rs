//! `GET /api/v1/me`: who the presented API key acts for — its user and their client — so a
//! client's software can check its key.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::api_user;
use crate::state::AppState;

pub async fn me(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match api_user(&state, &headers, None).await {
        Ok(user) => axum::Json(json!({
            "user": { "id": user.id, "email": user.email, "name": user.name },
            "client": { "id": user.client_id, "name": user.client_name },
        }))
        .into_response(),
        Err(refusal) => refusal,
    }
}
