//! The test server and client: a fresh seeded database behind the router (a SQLite file, or a
//! fresh PostgreSQL database when `TEST_POSTGRES_URL` is set and a test asks for it), a clock the
//! test moves, request helpers (server functions, pages, uploads) and the lock that runs the HTTP
//! tests one at a time across all the files of this binary.

use std::sync::atomic::{AtomicU32, Ordering};

use app::clock::ManualClock;
use app::db::{self, schema::*};
use app::state::{AppState, SessionSettings};
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use chrono::TimeDelta;
use diesel::prelude::*;
use http_body_util::BodyExt;
use tower::ServiceExt;

pub const PW: &str = app::db::seed::DEMO_PASSWORD;

/// All leads with no filter, as the list's server function takes it.
pub fn all_leads() -> serde_json::Value {
    serde_json::json!({ "query": app::leads::model::LeadQuery::default() })
}

/// The tests here run one at a time, in every file of this binary: `test_app` takes this lock and
/// the `TestApp` holds it until dropped. Run side by side (each test its own runtime, one process),
/// a server-rendered page request now and then never answered; one at a time, none did. See
/// the closing note of this change: the cause is not found yet.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// One test's application: its router, state and clock; it holds the one-at-a-time lock.
/// Fields drop in order: the router and state (the pool's connections) go before the PostgreSQL
/// database is dropped, and the lock goes last.
pub struct TestApp {
    pub router: axum::Router,
    pub state: AppState,
    pub clock: ManualClock,
    pub database: Database,
    _dir: tempfile::TempDir,
    _pg: Option<PgDatabase>,
    _turn: std::sync::MutexGuard<'static, ()>,
}

/// The backend a test application runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    Sqlite,
    Postgres,
}

/// SQLite, and PostgreSQL too when `TEST_POSTGRES_URL` is set (a note on stderr when it is not):
/// the backends a test that runs on both loops over.
pub fn databases() -> Vec<Database> {
    if postgres_admin_url().is_some() {
        vec![Database::Sqlite, Database::Postgres]
    } else {
        eprintln!("TEST_POSTGRES_URL is not set: skipping the PostgreSQL variant of this test");
        vec![Database::Sqlite]
    }
}

fn postgres_admin_url() -> Option<String> {
    std::env::var("TEST_POSTGRES_URL").ok().filter(|url| !url.trim().is_empty())
}

/// A database made for one test on the `TEST_POSTGRES_URL` server, dropped with it.
struct PgDatabase {
    admin: String,
    name: String,
}

impl PgDatabase {
    /// Creates the database; (it, its URL).
    fn create() -> (Self, String) {
        let admin = postgres_admin_url().expect("TEST_POSTGRES_URL is set");
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "sendback_http_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        let mut conn = diesel::PgConnection::establish(&admin).expect("connect to TEST_POSTGRES_URL");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .expect("create test database");
        let (base, _) = admin.rsplit_once('/').expect("TEST_POSTGRES_URL has a database path");
        let url = format!("{base}/{name}");
        (Self { admin, name }, url)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // FORCE ends any connection still open (a pool clone kept somewhere).
        if let Ok(mut conn) = diesel::PgConnection::establish(&self.admin) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
                .execute(&mut conn);
        }
    }
}

/// A response, its body read to the end.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    /// The session cookie this reply sets (`name=value`), if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.set_cookie().map(|c| c.split(';').next().unwrap_or_default().to_owned())
    }

    pub fn set_cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(server::SESSION_COOKIE))
            .map(str::to_owned)
    }
}

/// A fresh seeded SQLite database behind the router, with these session settings.
pub fn test_app(sessions: SessionSettings) -> TestApp {
    test_app_on(Database::Sqlite, sessions)
}

/// A fresh seeded database of `database`'s kind behind the router, with these session settings.
/// PostgreSQL needs `TEST_POSTGRES_URL` (see [`databases`]).
pub fn test_app_on(database: Database, sessions: SessionSettings) -> TestApp {
    let turn = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().expect("temp dir");
    let (pg, url) = match database {
        Database::Sqlite => (None, format!("sqlite://{}", dir.path().join("t.db").display())),
        Database::Postgres => {
            let (pg, url) = PgDatabase::create();
            (Some(pg), url)
        }
    };
    let pool = db::connect(&url, 4).expect("pool");
    let clock = ManualClock::starting_now();
    {
        let mut conn = pool.get().expect("conn");
        db::seed::seed_demo(&mut conn, app::clock::Clock::now(&clock)).expect("seed");
    }
    let state = AppState {
        writer: app::db::group::GroupWriter::new(pool.clone()),
        pool,
        leptos_options: leptos::config::LeptosOptions::builder().output_name("sendback").build(),
        clock: std::sync::Arc::new(clock.clone()),
        sessions,
        uploads: app::state::UploadSettings::new(dir.path().join("uploads")),
        network: app::state::NetworkSettings::default(),
    };
    TestApp { router: server::router(state.clone()), state, clock, database, _dir: dir, _pg: pg, _turn: turn }
}

impl TestApp {
    pub fn new() -> Self {
        test_app(SessionSettings::default())
    }

    /// A fresh seeded application on `database`, with the default session settings.
    pub fn on(database: Database) -> Self {
        test_app_on(database, SessionSettings::default())
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        let what = format!("{} {}", req.method(), req.uri());
        let res = tokio::time::timeout(std::time::Duration::from_secs(20), self.router.clone().oneshot(req))
            .await
            .unwrap_or_else(|_| panic!("no answer to {what} within 20 s"))
            .expect("response");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
    }

    /// Calls a server function with form-encoded arguments.
    pub async fn call(&self, name: &str, args: &[(&str, &str)], cookie: Option<&str>) -> Reply {
        self.call_with(name, args, cookie, &[]).await
    }

    pub async fn call_with(
        &self,
        name: &str,
        args: &[(&str, &str)],
        cookie: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = server_fn_request(name, args, headers);
        if let Some(c) = cookie {
            req.headers_mut().insert(header::COOKIE, c.parse().expect("cookie"));
        }
        self.send(req).await
    }

    /// Calls a server function over a connection from `peer` (`ip:port`), with extra headers.
    pub async fn call_from(
        &self,
        name: &str,
        args: &[(&str, &str)],
        peer: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = server_fn_request(name, args, headers);
        let peer: std::net::SocketAddr = peer.parse().expect("peer address");
        req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        self.send(req).await
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        // As a browser navigates: it accepts HTML.
        let mut req = Request::get(path)
            .header(header::HOST, "127.0.0.1:3000")
            .header(header::ACCEPT, "text/html,application/xhtml+xml");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::empty()).expect("request")).await
    }

    pub async fn login(&self, email: &str) -> String {
        let r = self.call("login", &[("email", email), ("password", PW)], None).await;
        assert!(r.status.is_success() || r.status.is_redirection(), "login {email}: {} {}", r.status, r.body);
        r.session_cookie().expect("a session cookie")
    }

    pub async fn me(&self, cookie: &str) -> serde_json::Value {
        let r = self.call("me", &[], Some(cookie)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        serde_json::from_str(&r.body).expect("json")
    }

    pub fn user_id(&self, email: &str) -> i64 {
        let mut conn = self.state.pool.get().expect("conn");
        users::table.filter(users::email.eq(email)).select(users::id).first(&mut conn).expect("user")
    }

    pub fn client_id(&self, name: &str) -> i64 {
        let mut conn = self.state.pool.get().expect("conn");
        clients::table.filter(clients::name.eq(name)).select(clients::id).first(&mut conn).expect("client")
    }

    pub fn can_reject(&self, email: &str) -> bool {
        let mut conn = self.state.pool.get().expect("conn");
        let n: i64 = user_permissions::table
            .inner_join(users::table)
            .filter(users::email.eq(email))
            .count()
            .get_result(&mut conn)
            .expect("count");
        n > 0
    }

    /// Sends a file to the upload endpoint, as the page does.
    pub async fn upload(&self, name: &str, body: Vec<u8>, cookie: Option<&str>, length: bool) -> Reply {
        self.upload_to("/api/uploads", name, body, cookie, length).await
    }

    /// Sends a file to an upload endpoint (`/api/uploads`, `/api/lead-uploads`).
    pub async fn upload_to(
        &self,
        endpoint: &str,
        name: &str,
        body: Vec<u8>,
        cookie: Option<&str>,
        length: bool,
    ) -> Reply {
        let mut req = Request::post(format!("{endpoint}?name={}", urlencode(name)))
            .header(header::HOST, "127.0.0.1:3000")
            .header(header::CONTENT_TYPE, "text/csv");
        if length {
            req = req.header(header::CONTENT_LENGTH, body.len());
        }
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::from(body)).expect("request")).await
    }

    /// Calls a server function that takes JSON.
    pub async fn call_json(&self, name: &str, args: serde_json::Value, cookie: &str) -> Reply {
        let req = Request::post(format!("/api/{name}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::HOST, "127.0.0.1:3000")
            .header(header::COOKIE, cookie);
        self.send(req.body(Body::from(args.to_string())).expect("request")).await
    }

    /// Files in upload storage (complete or partial).
    pub fn stored_files(&self) -> usize {
        std::fs::read_dir(&self.state.uploads.storage.dir).map(|d| d.count()).unwrap_or(0)
    }

    /// Received leads of Home Insurance UK from the last two days.
    pub fn fresh_leads(&self, n: i64) -> Vec<i64> {
        let mut conn = self.state.pool.get().expect("conn");
        let since = app::clock::Clock::now(&self.clock) - TimeDelta::days(2);
        leads::table
            .inner_join(campaigns::table)
            .filter(campaigns::name.eq("Home Insurance UK"))
            .filter(leads::status.eq("received").and(leads::received_at.gt(since)))
            .select(leads::id)
            .order(leads::id)
            .limit(n)
            .load(&mut conn)
            .expect("leads")
    }

    /// Preview worker threads on this application's database, as `serve` starts them; they stop
    /// when the handle is dropped (declare it after the app, so it drops first).
    pub fn preview_workers(&self, n: usize) -> app::engine::preview_jobs::PreviewWorkers {
        app::engine::preview_jobs::PreviewWorkers::start(
            self.state.pool.clone(),
            self.state.uploads.storage.clone(),
            std::sync::Arc::new(self.clock.clone()),
            n,
        )
    }

    /// Polls a background preview (`rejection_preview`, `lead_import_preview`) until it ends:
    /// its last answer (an error answer as it came).
    pub async fn finished_preview(&self, poll: &str, id: i64, cookie: &str) -> Reply {
        for _ in 0..600 {
            let r = self.call(poll, &[("id", &id.to_string())], Some(cookie)).await;
            if r.status != StatusCode::OK {
                return r;
            }
            let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
            if matches!(v["status"].as_str(), Some("done" | "failed" | "cancelled")) {
                return r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("preview {id} did not end within 30 s");
    }

    pub fn user_count(&self) -> i64 {
        let mut conn = self.state.pool.get().expect("conn");
        users::table.count().get_result(&mut conn).expect("count")
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A form-encoded server function call, as the browser sends it from this site.
fn server_fn_request(name: &str, args: &[(&str, &str)], headers: &[(&str, &str)]) -> Request<Body> {
    let body: String =
        args.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect::<Vec<_>>().join("&");
    let mut req = Request::post(format!("/api/{name}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::HOST, "127.0.0.1:3000");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(Body::from(body)).expect("request")
}
