//! Log in, log out, and who am I. Thin: parse, one domain call, map the result.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The signed-in user, as the page shell shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub name: String,
    pub email: String,
    pub instance_name: String,
    pub client_name: Option<String>,
    pub is_owner: bool,
    pub can_reject_leads: bool,
    /// Signed in with a one-time password: the shell sends them to choose a new one.
    pub must_change_password: bool,
}

/// Longest password accepted (hashing cost grows with length).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Only a path on our own site is followed after log-in (no open redirect): it starts with one
/// `/`, and holds no backslash, whitespace or control character — browsers drop tabs and line
/// breaks from addresses, so `/\t/evil.example` would become `//evil.example`, another host, and
/// a line break cannot go into a `Location` header at all. Anything else goes to All leads.
/// Dot segments (`.`, `..`, also percent-encoded) and empty segments are refused too: a browser
/// resolves `/.//evil.example` to the path `//evil.example`, which the client-side router would
/// then try to visit.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.chars().any(|c| c == '\\' || c.is_whitespace() || c.is_control())
                && plain_path(n)
                && n != "/login" =>
        {
            n.to_owned()
        }
        _ => "/leads".to_owned(),
    }
}

/// No dot segment (`.`, `..`, also percent-encoded) and no empty segment but a trailing one.
fn plain_path(next: &str) -> bool {
    let path = next.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    segments.iter().enumerate().all(|(i, segment)| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        (!segment.is_empty() || i == last) && decoded != "." && decoded != ".."
    })
}

#[server(endpoint = "me")]
pub async fn get_me() -> Result<Option<Me>, AppError> {
    crate::auth::access::guarded(async {
        let user = crate::auth::access::optional_user().await?;
        Ok(user.map(|u| Me {
            is_owner: u.role == crate::db::users::Role::OwnerStaff,
            can_reject_leads: u.can_reject_leads,
            must_change_password: u.must_change_password,
            name: u.name,
            email: u.email,
            instance_name: u.instance_name,
            client_name: u.client_name,
        }))
    })
    .await
}

#[server(endpoint = "login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    crate::auth::access::guarded(async move {
        let state = crate::state::app_state()?;
        let session = crate::auth::access::session().await?;
        let ip = client_ip(&state).await;
        let user_id = crate::auth::login::authenticate(&state, &email, &password, &ip).await?;
        crate::auth::access::sign_in(&state, &session, user_id).await?;
        leptos_axum::redirect(&safe_next(next.as_deref()));
        Ok(())
    })
    .await
}

/// Replaces the signed-in user's password. The current one is checked like a log-in (same
/// limits on failed attempts); `repeat`, when sent, must equal `new`; the session continues
/// under a new id.
#[server(endpoint = "change_password")]
pub async fn change_password(current: String, new: String, repeat: Option<String>) -> Result<(), AppError> {
    crate::auth::access::guarded(async move {
        let state = crate::state::app_state()?;
        let session = crate::auth::access::session().await?;
        let user = crate::auth::access::optional_user().await?.ok_or(AppError::Unauthenticated)?;
        if current.is_empty() {
            return Err(AppError::invalid("current", "Enter your current password."));
        }
        let min = crate::users::server_fns::MIN_PASSWORD_LEN;
        let length = new.chars().count();
        if length < min || length > MAX_PASSWORD_CHARS {
            return Err(AppError::invalid(
                "new",
                format!("Use at least {min} and at most {MAX_PASSWORD_CHARS} characters."),
            ));
        }
        if repeat.as_ref().is_some_and(|r| *r != new) {
            return Err(AppError::invalid(
                "repeat",
                "The two new passwords differ. Type the same one twice.",
            ));
        }
        if new == current {
            return Err(AppError::invalid("new", "Choose a password different from the current one."));
        }
        let ip = client_ip(&state).await;
        crate::auth::login::authenticate(&state, &user.email, &current, &ip).await.map_err(|e| match e {
            AppError::Invalid { .. } => AppError::invalid("current", "That is not your current password."),
            other => other,
        })?;
        let hash = crate::auth::password::hash_off_thread(new).await?;
        let now = state.clock.now();
        let id = user.id;
        state.db(move |conn| crate::db::users::set_own_password(conn, &user, hash.as_str(), now)).await?;
        crate::auth::access::sign_in(&state, &session, id).await?;
        Ok(())
    })
    .await
}

#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    crate::auth::access::guarded(async {
        let session = crate::auth::access::session().await?;
        crate::auth::access::sign_out(&session).await?;
        leptos_axum::redirect("/login");
        Ok(())
    })
    .await
}

/// The client's address: the connection's peer, or, when the peer is a trusted reverse proxy
/// (`--trusted-proxy`), the address it forwarded for (`X-Forwarded-For`).
#[cfg(feature = "ssr")]
async fn client_ip(state: &crate::state::AppState) -> String {
    use axum::extract::ConnectInfo;
    let peer = leptos_axum::extract::<ConnectInfo<std::net::SocketAddr>>().await.ok().map(|c| c.0.ip());
    let headers = leptos_axum::extract::<axum::http::HeaderMap>().await.unwrap_or_default();
    // Read leniently: a header with a stray non-ASCII byte still names its other hops.
    let forwarded: Vec<String> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    crate::auth::client_ip::client_key(peer, &forwarded, &state.network.trusted_proxies)
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn follows_only_local_paths() {
        assert_eq!(safe_next(Some("/users")), "/users");
        assert_eq!(safe_next(Some("/leads/123?x=1")), "/leads/123?x=1");
        for bad in ["https://evil.example", "//evil.example", "/\\evil.example", "users", "/login"] {
            assert_eq!(safe_next(Some(bad)), "/leads", "{bad}");
        }
        assert_eq!(safe_next(None), "/leads");
    }

    #[test]
    fn refuses_paths_a_browser_would_turn_into_another_host_or_a_broken_header() {
        for bad in [
            "/\t/evil.example/phish",
            "/\n/evil.example",
            "/\nx",
            "/\r\nSet-Cookie: a=b",
            "/ /x",
            "/\u{0}x",
            "/\u{85}x",
        ] {
            assert_eq!(safe_next(Some(bad)), "/leads", "{bad:?}");
        }
        assert_eq!(safe_next(Some("/leads?q=a%20b")), "/leads?q=a%20b", "encoded spaces are fine");
        for bad in ["/.//evil.example", "/a/..//evil.example", "/%2e//evil.example", "/%2E%2E/x", "/a//b"] {
            assert_eq!(safe_next(Some(bad)), "/leads", "{bad:?}");
        }
        assert_eq!(safe_next(Some("/leads/")), "/leads/", "a trailing slash is fine");
        assert_eq!(safe_next(Some("/")), "/");
    }
}
