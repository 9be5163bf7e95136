//! The HTTP application: the axum router around the Leptos app, with sessions, the cross-site
//! request check, security headers, `/health`, and the periodic clean-up of expired sessions.

use std::time::Duration;

use app::auth::session_store::DieselSessionStore;
use app::state::AppState;
use app::{App, db, shell};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::session_store::ExpiredDeletion;
use tower_sessions::{Expiry, SessionManagerLayer};

/// The session cookie's name: says nothing about the framework behind it.
pub const SESSION_COOKIE: &str = "sb_sid";
/// Largest request body a server function accepts: their arguments are a few form fields (files
/// go to `/api/uploads`, streamed, with their own limit).
pub const SERVER_FN_BODY_LIMIT: usize = 64 * 1024;

/// The listener every server of this binary accepts on (see [`no_delay`]).
pub type NoDelayListener = axum::serve::TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)>;

/// Sets `TCP_NODELAY` on every accepted connection. A page goes out in several writes (the head,
/// then the rendered body); with Nagle's algorithm on, a write waited for the browser's delayed
/// ACK, about 40 ms on Linux, for one page view in twenty (bench-pages at one connection: p50
/// 2 ms, p99 44 ms).
pub fn no_delay(listener: tokio::net::TcpListener) -> NoDelayListener {
    use axum::serve::ListenerExt as _;
    fn set(stream: &mut tokio::net::TcpStream) {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
    }
    listener.tap_io(set as fn(&mut tokio::net::TcpStream))
}

/// Builds the whole application router for `state`.
pub fn router(state: AppState) -> Router {
    let store = DieselSessionStore::new(state.pool.clone());
    let idle = time::Duration::seconds(state.sessions.idle_timeout.num_seconds());
    let sessions = SessionManagerLayer::new(store)
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_secure(state.sessions.secure_cookies)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(idle));
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    // The browser bundle: the brotli or gzip copy made at build time when the browser takes it.
    // `/pkg` is the site's `pkg` directory; a release bundle is in `pkg/<hash>/` within it.
    let pkg = std::path::Path::new(options.site_root.as_ref()).join("pkg");
    let assets = tower_http::services::ServeDir::new(pkg).precompressed_br().precompressed_gzip();
    Router::new()
        .nest_service("/pkg", assets)
        .route("/health", get(health))
        .route("/api/uploads", post(app::rejections::http::upload))
        .route("/api/lead-uploads", post(app::imports::http::upload))
        .route("/api/v1/lead", post(app::intake::http::lead))
        .route("/api/v1/me", get(app::api::me::me))
        .route("/api/v1/lead-status/reject/{lead_id}", post(app::api::reject::reject_lead))
        .route("/api/v1/rejection-tasks", post(app::api::tasks::create).get(app::api::tasks::list))
        .route("/api/v1/rejection-tasks/{id}", get(app::api::tasks::show))
        .route("/api/v1/rejection-tasks/{id}/results.csv", get(app::api::tasks::results))
        .route("/api/v1/rejection-tasks/{id}/undo", post(app::api::tasks::undo))
        .route("/api/v1/campaigns", get(app::api::lookups::campaigns))
        .route("/api/v1/leads/{lead_id}", get(app::api::lookups::lead))
        .route("/api/v1/openapi.json", get(app::api::openapi::openapi_json))
        .route("/api/docs", get(app::api::docs::docs))
        .route("/leads/import/{id}/results.csv", get(app::imports::http::results))
        .route("/leads/import-rejections/tasks/{id}/results.csv", get(app::rejections::http::results))
        .route("/reports/rejections.csv", get(app::reports::http::rejections_csv))
        // Each request (page or server function) gets its own once-per-request user lookup.
        .leptos_routes_with_context(
            &state,
            routes,
            || leptos::prelude::provide_context(app::auth::access::RequestUser::default()),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(
            {
                let state = state.clone();
                move || leptos::prelude::provide_context(state.clone())
            },
            shell,
        ))
        .layer(sessions)
        .layer(middleware::from_fn(limit_server_fn_bodies))
        .layer(middleware::from_fn(refuse_cross_site))
        .layer(middleware::from_fn(security_headers))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Deletes expired sessions, stale log-in failures, old previews, unused uploads and the files of
/// uploads past retention every `period`, forever.
pub async fn clean_up_periodically(state: AppState, period: Duration) {
    let store = DieselSessionStore::new(state.pool.clone());
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        if let Err(err) = store.delete_expired().await {
            tracing::warn!(error = %err, "deleting expired sessions");
        }
        let now = state.clock.now();
        if let Err(err) = state.db(move |conn| app::auth::throttle::prune(conn, now)).await {
            tracing::warn!(error = %err, "pruning log-in failures");
        }
        // Finished previews are kept an hour (their page may still ask), any preview a day.
        match state.db(move |conn| app::engine::preview_jobs::prune(conn, now)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(previews = n, "deleted old previews"),
            Err(err) => tracing::warn!(error = %err, "pruning previews"),
        }
        // A chosen file that never started a task is kept for a day.
        let storage = state.uploads.storage.clone();
        let before = now - chrono::TimeDelta::days(1);
        match state.db(move |conn| app::engine::uploads::prune_unused_uploads(conn, &storage, before)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(uploads = n, "deleted unused uploads"),
            Err(err) => tracing::warn!(error = %err, "pruning unused uploads"),
        }
        // Retention: the files of tasks ended longer ago than the retention period.
        let storage = state.uploads.storage.clone();
        let ended_before = now - state.uploads.retention;
        match state
            .db(move |conn| app::engine::uploads::prune_expired_uploads(conn, &storage, ended_before, now))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(uploads = n, "deleted the files of uploads past retention"),
            Err(err) => tracing::warn!(error = %err, "deleting uploads past retention"),
        }
    }
}

/// Server functions have no CSRF protection of their own: refuse state-changing requests that a
/// browser marks as cross-site (`Sec-Fetch-Site`), or whose `Origin` is not this host.
async fn refuse_cross_site(req: Request, next: Next) -> Response {
    if is_cross_site_write(&req) {
        tracing::warn!(method = %req.method(), uri = %req.uri(), "refused a cross-site request");
        return (StatusCode::FORBIDDEN, "Cross-site requests are not allowed.").into_response();
    }
    next.run(req).await
}

fn is_cross_site_write(req: &Request) -> bool {
    // The machine API (`/api/v1/…`) is authorised by a key in the request, never by a cookie, so
    // a cross-site page cannot borrow anyone's rights there.
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || req.uri().path().starts_with("/api/v1/")
    {
        return false;
    }
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        // No Origin: not a browser's cross-site form or fetch (those always send one).
        None => false,
        Some(origin) => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
            let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
            origin == "null" || origin_host != host
        }
    }
}

/// Server function bodies larger than [`SERVER_FN_BODY_LIMIT`] are answered 413 before any
/// server function reads them.
async fn limit_server_fn_bodies(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    // File uploads stream to storage with their own limit.
    if !path.starts_with("/api/")
        || matches!(path, "/api/uploads" | "/api/lead-uploads" | "/api/v1/rejection-tasks")
    {
        return next.run(req).await;
    }
    let too_large = || (StatusCode::PAYLOAD_TOO_LARGE, "The request is too large.").into_response();
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > SERVER_FN_BODY_LIMIT) {
        return too_large();
    }
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, SERVER_FN_BODY_LIMIT).await {
        Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Err(_) => too_large(),
    }
}

/// Pages are private and change with the session: never cached (so Back after log-out shows
/// nothing), never framed, no MIME sniffing.
async fn security_headers(req: Request<Body>, next: Next) -> Response {
    let path = req.uri().path();
    // The same URL is sent brotli, gzip or plain: a shared cache must keep them apart.
    let varies = path.starts_with("/pkg/");
    let cache = if is_hashed_asset(path) {
        // Its name changes with its content: cached for a year, never revalidated.
        "public, max-age=31536000, immutable"
    } else if path.starts_with("/pkg/") || path == "/favicon.svg" {
        "no-cache"
    } else {
        "no-store"
    };
    let mut res = next.run(req).await;
    // A missing file or an error is never cached.
    let ok = res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED;
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(if ok { cache } else { "no-store" }));
    if varies {
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    res
}

/// `/pkg/<16 hex digits>/<file>`: a file of a release bundle, whose directory is named by the
/// content of all its files.
fn is_hashed_asset(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/pkg/") else { return false };
    let Some((hash, file)) = rest.split_once('/') else { return false };
    hash.len() == 16
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
        && !file.is_empty()
        && !file.contains('/')
        && !file.starts_with('.')
}

/// The bundle's directory under `site_root`: `pkg/<hash>` as the release build wrote the hash to
/// `pkg/release.txt`, else `pkg` (a debug build, or none).
pub fn pkg_dir(site_root: &std::path::Path) -> String {
    std::fs::read_to_string(site_root.join("pkg").join("release.txt"))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .map_or_else(|| "pkg".to_owned(), |hash| format!("pkg/{hash}"))
}

/// `GET /health`: 200 with the backend and schema version when the database answers, else 503.
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let check = tokio::time::timeout(Duration::from_secs(5), state.db(db::stats::health)).await;
    match check {
        Ok(Ok(h)) => (
            StatusCode::OK,
            Json(serde_json::json!({
                "status": "ok",
                "database": h.backend.name(),
                "schema_version": h.schema_version,
            })),
        ),
        Ok(Err(err)) => {
            tracing::error!(error = %err, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "database unavailable" })))
        }
        Err(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "status": "database timeout" })))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, headers: &[(&str, &str)]) -> Request {
        let mut b = Request::builder().method(method).uri("/api/login");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::empty()).unwrap()
    }

    #[test]
    fn cross_site_writes_are_recognised() {
        assert!(!is_cross_site_write(&req(Method::GET, &[("sec-fetch-site", "cross-site")])));
        assert!(!is_cross_site_write(&req(Method::POST, &[("sec-fetch-site", "same-origin")])));
        assert!(!is_cross_site_write(&req(Method::POST, &[("sec-fetch-site", "none")])));
        assert!(is_cross_site_write(&req(Method::POST, &[("sec-fetch-site", "cross-site")])));
        assert!(is_cross_site_write(&req(Method::POST, &[("sec-fetch-site", "same-site")])));
        assert!(!is_cross_site_write(&req(Method::POST, &[])));
        assert!(!is_cross_site_write(&req(
            Method::POST,
            &[("origin", "http://127.0.0.1:3000"), ("host", "127.0.0.1:3000")]
        )));
        assert!(is_cross_site_write(&req(
            Method::POST,
            &[("origin", "http://evil.example"), ("host", "127.0.0.1:3000")]
        )));
        assert!(is_cross_site_write(&req(Method::POST, &[("origin", "null"), ("host", "127.0.0.1:3000")])));
    }

    #[test]
    fn only_content_named_bundle_files_are_immutable() {
        assert!(is_hashed_asset("/pkg/0123456789abcdef/sendback.wasm"));
        assert!(is_hashed_asset("/pkg/0123456789abcdef/sendback.css"));
        assert!(is_hashed_asset("/pkg/0123456789abcdef/split_lead_route.wasm"));
        assert!(!is_hashed_asset("/pkg/sendback.wasm"));
        assert!(!is_hashed_asset("/pkg/0123456789abcdeg/sendback.js"));
        assert!(!is_hashed_asset("/pkg/0123456789abcdef/"));
        assert!(!is_hashed_asset("/pkg/0123456789abcdef/x/sendback.js"));
        assert!(!is_hashed_asset("/leads/0123456789abcdef/sendback.js"));
    }

    #[test]
    fn the_bundle_directory_comes_from_the_release_build() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(pkg_dir(dir.path()), "pkg");
        std::fs::create_dir_all(dir.path().join("pkg")).unwrap();
        std::fs::write(dir.path().join("pkg/release.txt"), "0123456789abcdef\n").unwrap();
        assert_eq!(pkg_dir(dir.path()), "pkg/0123456789abcdef");
        std::fs::write(dir.path().join("pkg/release.txt"), "../../etc/passwd").unwrap();
        assert_eq!(pkg_dir(dir.path()), "pkg");
    }
}
