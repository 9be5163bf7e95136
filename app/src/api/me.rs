//! `GET /api/v1/me`: who the presented API key acts for — its user and their client — so a
//! client's software can check its key.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::api_user;
use crate::state::AppState;

// Fields in alphabetical order: the answer's bytes stay as `serde_json::json!` first wrote them.
/// The key's user and their client.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub client: MeClient,
    pub user: MeUser,
}

/// The client the key's user belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeClient {
    pub id: Option<i64>,
    pub name: Option<String>,
}

/// The user the key acts as.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeUser {
    pub email: String,
    pub id: i64,
    pub name: String,
}

/// Who this key acts for
///
/// The key's user and their client, as they stand now: a way for software to check its key.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "account",
    security(("bearer" = [])),
    responses((status = 200, description = "The key's user and client.", body = Me)),
)]
pub async fn me(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match api_user(&state, &headers, None).await {
        Ok(user) => axum::Json(Me {
            client: MeClient { id: user.client_id, name: user.client_name },
            user: MeUser { email: user.email, id: user.id, name: user.name },
        })
        .into_response(),
        Err(refusal) => refusal,
    }
}
