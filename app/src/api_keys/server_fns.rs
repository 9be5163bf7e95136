//! Server functions of the API keys page: list, make and revoke client users' API keys. A client
//! user needs "Reject Leads as a Client" (403) and sees and revokes their own keys; owner staff
//! see and revoke every API key of their instance but make none (they belong to no client). The
//! work — checks, the write, the audit row — is `db::keys`'s.

use leptos::prelude::*;

use super::ApiKeyList;
use crate::domain::setup_view::NewKey;
use crate::error::AppError;

#[cfg(feature = "ssr")]
mod ssr {
    use crate::auth::access::{current_user, may_reject};
    use crate::db::keys::ClientKeyRow;
    use crate::db::users::{Role, UserContext};
    use crate::error::AppError;

    /// The signed-in user if they may see API keys: owner staff, or a client user holding
    /// "Reject Leads as a Client" (else 403).
    pub(super) async fn key_manager() -> Result<UserContext, AppError> {
        let user = current_user().await?;
        if user.role != Role::OwnerStaff {
            may_reject(&user)?;
        }
        Ok(user)
    }

    pub(super) fn view(key: ClientKeyRow, with_holder: bool) -> crate::api_keys::ApiKeyView {
        let at = |t: chrono::NaiveDateTime| t.format("%Y-%m-%d %H:%M").to_string();
        crate::api_keys::ApiKeyView {
            id: key.id,
            name: key.name,
            shown: key.shown,
            holder: with_holder.then(|| format!("{} ({})", key.user_name, key.user_email)),
            created_at: at(key.created_at),
            last_used_at: key.last_used_at.map(at),
            revoked: key.revoked_at.is_some(),
        }
    }
}

/// The API keys the signed-in user sees, newest first (never the keys themselves).
#[server(endpoint = "api_keys")]
pub async fn api_keys() -> Result<ApiKeyList, AppError> {
    crate::auth::access::guarded(async move {
        let state = crate::state::app_state()?;
        let user = ssr::key_manager().await?;
        let is_owner = user.role == crate::db::users::Role::OwnerStaff;
        let rows = state.db(move |conn| crate::db::keys::client_keys(conn, &user)).await?;
        let keys: Vec<crate::api_keys::ApiKeyView> =
            rows.into_iter().map(|k| ssr::view(k, is_owner)).collect();
        Ok(ApiKeyList { may_create: !is_owner, keys })
    })
    .await
}

/// Makes an API key named `name` for the signed-in client user; the answer is the only time the
/// key is shown.
#[server(endpoint = "create_api_key")]
pub async fn create_api_key(name: String) -> Result<NewKey, AppError> {
    crate::auth::access::guarded(async move {
        let state = crate::state::app_state()?;
        let user = crate::auth::access::require_reject_permission().await?;
        let now = state.clock.now();
        let actor = crate::db::audit::Actor::from(&user);
        let (id, key) = state
            .db_or(move |conn| crate::db::keys::create_client_key(conn, actor, &user, &name, now))
            .await?;
        Ok(NewKey { id, key })
    })
    .await
}

/// Revokes an API key (the user's own; owner staff, any of the instance's): it stops working at
/// once.
#[server(endpoint = "revoke_api_key")]
pub async fn revoke_api_key(id: i64) -> Result<(), AppError> {
    crate::auth::access::guarded(async move {
        let state = crate::state::app_state()?;
        let user = ssr::key_manager().await?;
        let now = state.clock.now();
        Ok(state.db_or(move |conn| crate::db::keys::revoke_client_key(conn, &user, id, now)).await?)
    })
    .await
}
