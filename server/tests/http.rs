//! The HTTP application against a real SQLite database file: log-in, sessions and their cookie,
//! permissions, tenant isolation, the cross-site check and log-in throttling. Each test gets a
//! fresh database seeded with the demo instance and a clock it can move.

use app::clock::ManualClock;
use app::db::{self, schema::*};
use app::state::{AppState, SessionSettings};
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use chrono::TimeDelta;
use diesel::prelude::*;
use http_body_util::BodyExt;
use tower::ServiceExt;

const PW: &str = app::db::seed::DEMO_PASSWORD;

/// All leads with no filter, as the list's server function takes it.
fn all_leads() -> serde_json::Value {
    serde_json::json!({ "query": app::leads::model::LeadQuery::default() })
}

/// The tests here run one at a time. Run side by side (each test its own runtime, one process),
/// a server-rendered page request now and then never answered; one at a time, none did. See
/// the closing note of this change: the cause is not found yet.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct TestApp {
    _turn: std::sync::MutexGuard<'static, ()>,
    router: axum::Router,
    state: AppState,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    /// The session cookie this reply sets (`name=value`), if any.
    fn session_cookie(&self) -> Option<String> {
        self.set_cookie().map(|c| c.split(';').next().unwrap_or_default().to_owned())
    }

    fn set_cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(server::SESSION_COOKIE))
            .map(str::to_owned)
    }
}

fn test_app(sessions: SessionSettings) -> TestApp {
    let turn = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().expect("temp dir");
    let pool = db::connect(&format!("sqlite://{}", dir.path().join("t.db").display()), 4).expect("pool");
    let clock = ManualClock::starting_now();
    {
        let mut conn = pool.get().expect("conn");
        db::seed::seed_demo(&mut conn, app::clock::Clock::now(&clock)).expect("seed");
    }
    let state = AppState {
        pool,
        leptos_options: leptos::config::LeptosOptions::builder().output_name("sendback").build(),
        clock: std::sync::Arc::new(clock.clone()),
        sessions,
        uploads: app::state::UploadSettings::new(dir.path().join("uploads")),
    };
    TestApp { _turn: turn, router: server::router(state.clone()), state, clock, _dir: dir }
}

impl TestApp {
    fn new() -> Self {
        test_app(SessionSettings::default())
    }

    async fn send(&self, req: Request<Body>) -> Reply {
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
    async fn call(&self, name: &str, args: &[(&str, &str)], cookie: Option<&str>) -> Reply {
        self.call_with(name, args, cookie, &[]).await
    }

    async fn call_with(
        &self,
        name: &str,
        args: &[(&str, &str)],
        cookie: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let body: String =
            args.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect::<Vec<_>>().join("&");
        let mut req = Request::post(format!("/api/{name}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "127.0.0.1:3000");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req.body(Body::from(body)).expect("request")).await
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        // As a browser navigates: it accepts HTML.
        let mut req = Request::get(path)
            .header(header::HOST, "127.0.0.1:3000")
            .header(header::ACCEPT, "text/html,application/xhtml+xml");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::empty()).expect("request")).await
    }

    async fn login(&self, email: &str) -> String {
        let r = self.call("login", &[("email", email), ("password", PW)], None).await;
        assert!(r.status.is_success() || r.status.is_redirection(), "login {email}: {} {}", r.status, r.body);
        r.session_cookie().expect("a session cookie")
    }

    async fn me(&self, cookie: &str) -> serde_json::Value {
        let r = self.call("me", &[], Some(cookie)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        serde_json::from_str(&r.body).expect("json")
    }

    fn user_id(&self, email: &str) -> i64 {
        let mut conn = self.state.pool.get().expect("conn");
        users::table.filter(users::email.eq(email)).select(users::id).first(&mut conn).expect("user")
    }

    fn client_id(&self, name: &str) -> i64 {
        let mut conn = self.state.pool.get().expect("conn");
        clients::table.filter(clients::name.eq(name)).select(clients::id).first(&mut conn).expect("client")
    }

    fn can_reject(&self, email: &str) -> bool {
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
    async fn upload(&self, name: &str, body: Vec<u8>, cookie: Option<&str>, length: bool) -> Reply {
        let mut req = Request::post(format!("/api/uploads?name={}", urlencode(name)))
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
    async fn call_json(&self, name: &str, args: serde_json::Value, cookie: &str) -> Reply {
        let req = Request::post(format!("/api/{name}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::HOST, "127.0.0.1:3000")
            .header(header::COOKIE, cookie);
        self.send(req.body(Body::from(args.to_string())).expect("request")).await
    }

    /// Files in upload storage (complete or partial).
    fn stored_files(&self) -> usize {
        std::fs::read_dir(&self.state.uploads.storage.dir).map(|d| d.count()).unwrap_or(0)
    }

    /// Received leads of Home Insurance UK from the last two days.
    fn fresh_leads(&self, n: i64) -> Vec<i64> {
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

    fn user_count(&self) -> i64 {
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

#[tokio::test]
async fn login_sets_a_hardened_session_cookie() {
    let app = TestApp::new();
    let r = app.call("login", &[("email", "client@sendback.test"), ("password", PW)], None).await;
    assert!(r.status.is_success(), "{} {}", r.status, r.body);
    let cookie = r.set_cookie().expect("set-cookie");
    assert!(cookie.starts_with("sb_sid="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP by default: {cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    let me = app.me(&r.session_cookie().expect("cookie")).await;
    assert_eq!(me["email"], "client@sendback.test");
    assert_eq!(me["can_reject_leads"], true);
    assert_eq!(me["client_name"], "Acme Insurance");
}

#[tokio::test]
async fn cookie_is_secure_when_configured() {
    let app = test_app(SessionSettings { secure_cookies: true, ..SessionSettings::default() });
    let r = app.call("login", &[("email", "owner@sendback.test"), ("password", PW)], None).await;
    assert!(r.set_cookie().expect("cookie").contains("Secure"));
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_answer() {
    let app = TestApp::new();
    let wrong = app.call("login", &[("email", "client@sendback.test"), ("password", "nope")], None).await;
    let unknown = app.call("login", &[("email", "nobody@sendback.test"), ("password", "nope")], None).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.body, unknown.body);
    assert!(wrong.body.contains("do not match"), "{}", wrong.body);
    assert!(wrong.session_cookie().is_none());
}

#[tokio::test]
async fn email_is_matched_without_case_or_spaces() {
    let app = TestApp::new();
    let r = app.call("login", &[("email", "  Client@Sendback.TEST "), ("password", PW)], None).await;
    assert!(r.status.is_success(), "{}", r.body);
}

#[tokio::test]
async fn session_id_changes_at_login() {
    let app = TestApp::new();
    let first = app.login("client@sendback.test").await;
    let r = app.call("login", &[("email", "viewer@sendback.test"), ("password", PW)], Some(&first)).await;
    let second = r.session_cookie().expect("new cookie");
    assert_ne!(first, second);
    // The old id no longer names a session.
    assert_eq!(app.me(&first).await, serde_json::Value::Null);
    assert_eq!(app.me(&second).await["email"], "viewer@sendback.test");
}

#[tokio::test]
async fn logout_makes_the_old_cookie_useless() {
    let app = TestApp::new();
    let cookie = app.login("client@sendback.test").await;
    let r = app.call("logout", &[], Some(&cookie)).await;
    assert!(r.status.is_success() || r.status.is_redirection(), "{}", r.status);
    assert_eq!(app.me(&cookie).await, serde_json::Value::Null);
    let r = app.call_json("list_leads", all_leads(), &cookie).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let mut conn = app.state.pool.get().expect("conn");
    let n: i64 = sessions::table.count().get_result(&mut conn).expect("count");
    assert_eq!(n, 0, "the session row is deleted");
}

#[tokio::test]
async fn idle_sessions_expire() {
    let app = TestApp::new();
    let cookie = app.login("client@sendback.test").await;
    app.clock.advance(TimeDelta::minutes(29));
    assert_eq!(app.me(&cookie).await["email"], "client@sendback.test", "still within 30 idle minutes");
    app.clock.advance(TimeDelta::minutes(29));
    assert_eq!(app.me(&cookie).await["email"], "client@sendback.test", "activity renewed it");
    app.clock.advance(TimeDelta::minutes(31));
    assert_eq!(app.me(&cookie).await, serde_json::Value::Null, "31 idle minutes");
}

#[tokio::test]
async fn sessions_end_at_their_absolute_lifetime() {
    let app = TestApp::new();
    let cookie = app.login("client@sendback.test").await;
    for _ in 0..(12 * 3) {
        app.clock.advance(TimeDelta::minutes(20));
        let me = app.me(&cookie).await;
        if me.is_null() {
            panic!("ended early");
        }
    }
    app.clock.advance(TimeDelta::minutes(20));
    assert_eq!(app.me(&cookie).await, serde_json::Value::Null, "past 12 hours");
}

#[tokio::test]
async fn rejection_functions_need_the_permission() {
    let app = TestApp::new();
    let viewer = app.login("viewer@sendback.test").await;
    let r = app.call("rejection_campaigns", &[], Some(&viewer)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let owner = app.login("owner@sendback.test").await;
    assert_eq!(app.call("rejection_campaigns", &[], Some(&owner)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.call("rejection_campaigns", &[], None).await.status, StatusCode::UNAUTHORIZED);

    let client = app.login("client@sendback.test").await;
    let r = app.call("rejection_campaigns", &[], Some(&client)).await;
    assert_eq!(r.status, StatusCode::OK);
    let list: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    let names: Vec<&str> =
        list.as_array().expect("array").iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["Car Insurance UK", "Home Insurance UK", "Pet Insurance UK"]);
}

#[tokio::test]
async fn a_grant_takes_effect_on_the_next_request_and_is_audited() {
    let app = TestApp::new();
    let viewer = app.login("viewer@sendback.test").await;
    let owner = app.login("owner@sendback.test").await;
    let viewer_id = app.user_id("viewer@sendback.test").to_string();
    let r = app
        .call("set_reject_permission", &[("user_id", &viewer_id), ("granted", "true")], Some(&owner))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.call("rejection_campaigns", &[], Some(&viewer)).await.status, StatusCode::OK);
    assert_eq!(app.me(&viewer).await["can_reject_leads"], true);

    let r = app
        .call("set_reject_permission", &[("user_id", &viewer_id), ("granted", "false")], Some(&owner))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(app.call("rejection_campaigns", &[], Some(&viewer)).await.status, StatusCode::FORBIDDEN);

    let mut conn = app.state.pool.get().expect("conn");
    let actions: Vec<(String, String)> = audit_log::table
        .select((audit_log::action, audit_log::subject))
        .order(audit_log::id)
        .load(&mut conn)
        .expect("audit");
    assert_eq!(
        actions,
        [
            ("permission.grant".to_owned(), "viewer@sendback.test".to_owned()),
            ("permission.revoke".to_owned(), "viewer@sendback.test".to_owned())
        ]
    );
}

#[tokio::test]
async fn owner_functions_refuse_client_users() {
    let app = TestApp::new();
    let client = app.login("client@sendback.test").await;
    assert_eq!(app.call("list_users", &[], Some(&client)).await.status, StatusCode::FORBIDDEN);
    let r = app.call("rejection_report", &[("from", ""), ("to", "")], Some(&client)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/reports/rejections.csv", Some(&client)).await.status, StatusCode::FORBIDDEN);
    let viewer_id = app.user_id("viewer@sendback.test").to_string();
    let r = app
        .call("set_reject_permission", &[("user_id", &viewer_id), ("granted", "true")], Some(&client))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!app.can_reject("viewer@sendback.test"));
    let acme = app.client_id("Acme Insurance").to_string();
    let args = [
        ("email", "x@acme.example"),
        ("name", "X"),
        ("client_id", acme.as_str()),
        ("password", "long enough password"),
    ];
    assert_eq!(app.call("create_client_user", &args, Some(&client)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.user_count(), 5);
}

#[tokio::test]
async fn ids_of_another_instance_are_not_found_and_change_nothing() {
    let app = TestApp::new();
    let other = app.login("other@sendback.test").await;
    let owner = app.login("owner@sendback.test").await;
    let users_before = app.user_count();

    // Instance 2's owner, instance 1's ids.
    let viewer_id = app.user_id("viewer@sendback.test").to_string();
    let r = app
        .call("set_reject_permission", &[("user_id", &viewer_id), ("granted", "true")], Some(&other))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert!(!app.can_reject("viewer@sendback.test"));
    let client_id = app.user_id("client@sendback.test").to_string();
    let r = app
        .call("set_reject_permission", &[("user_id", &client_id), ("granted", "false")], Some(&other))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(app.can_reject("client@sendback.test"));
    let acme = app.client_id("Acme Insurance").to_string();
    let args = [
        ("email", "x@acme.example"),
        ("name", "X"),
        ("client_id", acme.as_str()),
        ("password", "long enough password"),
    ];
    assert_eq!(app.call("create_client_user", &args, Some(&other)).await.status, StatusCode::NOT_FOUND);

    // Instance 1's owner, instance 2's ids.
    let zenith = app.client_id("Zenith Loans").to_string();
    let args = [
        ("email", "y@zenith.example"),
        ("name", "Y"),
        ("client_id", zenith.as_str()),
        ("password", "long enough password"),
    ];
    assert_eq!(app.call("create_client_user", &args, Some(&owner)).await.status, StatusCode::NOT_FOUND);
    let other_id = app.user_id("other@sendback.test").to_string();
    let r =
        app.call("set_reject_permission", &[("user_id", &other_id), ("granted", "true")], Some(&owner)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Owner staff never hold the client permission.
    let owner_id = app.user_id("owner@sendback.test").to_string();
    let r =
        app.call("set_reject_permission", &[("user_id", &owner_id), ("granted", "true")], Some(&owner)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.user_count(), users_before);

    // Lists are scoped.
    let r = app.call("list_users", &[], Some(&other)).await;
    let list: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    let emails: Vec<&str> =
        list.as_array().expect("array").iter().filter_map(|u| u["email"].as_str()).collect();
    assert_eq!(emails, ["other@sendback.test"]);
    let bolt = app.login("bolt@sendback.test").await;
    let r = app.call_json("list_leads", all_leads(), &bolt).await;
    let page: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    let leads = page["rows"].as_array().expect("array");
    assert!(!leads.is_empty());
    assert!(leads.iter().all(|l| l["campaign"] == "Energy Switch UK"), "bolt sees only Bolt's campaign");
}

#[tokio::test]
async fn owners_create_client_users_who_can_then_log_in() {
    let app = TestApp::new();
    let owner = app.login("owner@sendback.test").await;
    let acme = app.client_id("Acme Insurance").to_string();
    let short =
        [("email", "new@acme.example"), ("name", "New"), ("client_id", acme.as_str()), ("password", "short")];
    let r = app.call("create_client_user", &short, Some(&owner)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("password"), "{}", r.body);
    let taken = [
        ("email", "CLIENT@sendback.test"),
        ("name", "Dup"),
        ("client_id", acme.as_str()),
        ("password", "long enough password"),
    ];
    let r = app.call("create_client_user", &taken, Some(&owner)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("already exists"), "{}", r.body);

    let ok = [
        ("email", "New@Acme.example"),
        ("name", "Nia New"),
        ("client_id", acme.as_str()),
        ("password", "long enough password"),
    ];
    let r = app.call("create_client_user", &ok, Some(&owner)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r =
        app.call("login", &[("email", "new@acme.example"), ("password", "long enough password")], None).await;
    let cookie = r.session_cookie().expect("logged in");
    let me = app.me(&cookie).await;
    assert_eq!(me["client_name"], "Acme Insurance");
    assert_eq!(me["can_reject_leads"], false, "a new user starts without the permission");
}

#[tokio::test]
async fn cross_site_posts_are_refused() {
    let app = TestApp::new();
    let creds = [("email", "client@sendback.test"), ("password", PW)];
    let r = app.call_with("login", &creds, None, &[("origin", "https://evil.example")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.session_cookie().is_none());
    let r = app.call_with("login", &creds, None, &[("sec-fetch-site", "cross-site")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let owner = app.login("owner@sendback.test").await;
    let viewer_id = app.user_id("viewer@sendback.test").to_string();
    let r = app
        .call_with(
            "set_reject_permission",
            &[("user_id", &viewer_id), ("granted", "true")],
            Some(&owner),
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!app.can_reject("viewer@sendback.test"));
    let r = app.call_with("login", &creds, None, &[("origin", "http://127.0.0.1:3000")]).await;
    assert!(r.status.is_success(), "same origin is fine: {}", r.status);
}

#[tokio::test]
async fn repeated_bad_logins_are_throttled() {
    let app = TestApp::new();
    for _ in 0..5 {
        let r = app.call("login", &[("email", "client@sendback.test"), ("password", "wrong")], None).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    // Even the right password is refused while throttled, with a clear message.
    let r = app.call("login", &[("email", "client@sendback.test"), ("password", PW)], None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.body.contains("Too many failed log-in attempts"), "{}", r.body);
    assert!(r.session_cookie().is_none());
    // Other accounts are unaffected.
    app.login("viewer@sendback.test").await;
    app.clock.advance(TimeDelta::minutes(16));
    app.login("client@sendback.test").await;
}

#[tokio::test]
async fn weak_password_hashes_are_upgraded_at_login() {
    use argon2::PasswordHasher;
    let app = TestApp::new();
    let weak = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(4096, 1, 1, None).expect("params"),
    );
    let weak: argon2::PasswordHash = weak.hash_password(PW.as_bytes()).expect("hash");
    {
        let mut conn = app.state.pool.get().expect("conn");
        diesel::update(users::table.filter(users::email.eq("viewer@sendback.test")))
            .set(users::password_hash.eq(weak.to_string()))
            .execute(&mut conn)
            .expect("update");
    }
    app.login("viewer@sendback.test").await;
    let mut conn = app.state.pool.get().expect("conn");
    let hash: String = users::table
        .filter(users::email.eq("viewer@sendback.test"))
        .select(users::password_hash)
        .first(&mut conn)
        .expect("hash");
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
}

#[tokio::test]
async fn pages_need_a_session_and_are_never_cached() {
    let app = TestApp::new();
    let r = app.get("/leads/import-rejections", None).await;
    assert!(r.status.is_redirection(), "{} {:?} {}", r.status, r.headers, r.body);
    assert_eq!(
        r.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()),
        Some("/login?next=/leads/import-rejections")
    );
    let client = app.login("client@sendback.test").await;
    let r = app.get("/leads", Some(&client)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("All leads"));
    assert!(r.body.contains("Import Rejections"), "the client sees the link");
    assert_eq!(r.headers.get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()), Some("no-store"));

    let viewer = app.login("viewer@sendback.test").await;
    let r = app.get("/leads", Some(&viewer)).await;
    assert!(!r.body.contains("Import Rejections"), "no link without the permission");
    let r = app.get("/leads/import-rejections", Some(&viewer)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("Your lead supplier (the instance owner) must enable it"), "{}", r.body);

    let r = app.get("/users", Some(&client)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let owner = app.login("owner@sendback.test").await;
    let r = app.get("/users", Some(&owner)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("viewer@sendback.test"));
}

#[tokio::test]
async fn uploads_need_a_session_and_the_permission() {
    let app = TestApp::new();
    let csv = b"Lead ID,Reason\n1,x\n".to_vec();
    let r = app.upload("a.csv", csv.clone(), None, true).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    for who in ["viewer@sendback.test", "owner@sendback.test"] {
        let cookie = app.login(who).await;
        let r = app.upload("a.csv", csv.clone(), Some(&cookie), true).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{who}: {}", r.body);
        assert!(r.body.contains("Reject Leads as a Client"), "{}", r.body);
    }
    assert_eq!(app.stored_files(), 0, "nothing kept");
}

#[tokio::test]
async fn an_upload_is_previewed_started_once_run_and_its_results_downloaded() {
    let app = TestApp::new();
    let client = app.login("client@sendback.test").await;
    let ids = app.fresh_leads(2);
    assert_eq!(ids.len(), 2);
    let csv = format!("Lead ID;Rejection Reason\r\n{};Wrong number\r\n{};=cmd()\r\n", ids[0], ids[1]);
    let r = app.upload("C:\\exports\\rejects.csv", csv.into_bytes(), Some(&client), true).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let preview: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(preview["file_name"], "rejects.csv");
    assert_eq!(preview["delimiter"], "semicolon (;)");
    assert_eq!(preview["headers"], serde_json::json!(["Lead ID", "Rejection Reason"]));
    assert_eq!(preview["rows"][0], serde_json::json!([ids[0].to_string(), "Wrong number"]));
    let upload_id = preview["upload_id"].as_i64().expect("id");
    let campaign: i64 = {
        let mut conn = app.state.pool.get().expect("conn");
        campaigns::table
            .filter(campaigns::name.eq("Home Insurance UK"))
            .select(campaigns::id)
            .first(&mut conn)
            .expect("c")
    };
    let form = serde_json::json!({ "form": {
        "upload_id": upload_id, "campaign_id": campaign, "mode": "lead_id",
        "identifier_column": "Lead ID", "reason_column": "Rejection Reason", "reject_from": "",
        "options": { "move_outside_to_accepted": false, "reject_affiliate_events": false,
                     "move_remaining_to_accepted": false, "count_towards_cap": false } } });
    let r = app.call_json("preview_rejection_task", form.clone(), &client).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let summary: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(summary["rows"], 2);
    assert_eq!(summary["counts"][0], serde_json::json!(["rejected", 2]));
    // Another user of the same instance cannot use the upload.
    let bolt = app.login("bolt@sendback.test").await;
    let r = app.call_json("start_rejection_task", form.clone(), &bolt).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    // Starting twice (double click) gives one task.
    let first = app.call_json("start_rejection_task", form.clone(), &client).await;
    let second = app.call_json("start_rejection_task", form.clone(), &client).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body, second.body);
    let task: i64 = first.body.parse().expect("task id");
    let worker = app::engine::worker::Worker::new(
        app.state.pool.clone(),
        app.state.uploads.storage.clone(),
        std::sync::Arc::new(app.clock.clone()),
    );
    let ran = tokio::task::spawn_blocking(move || worker.run_one(Default::default())).await.expect("join");
    assert_eq!(ran.expect("run"), Some((task, app::engine::tasks::RunEnd::Completed)));
    let r = app.call("rejection_task", &[("id", &task.to_string())], Some(&client)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let view: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(view["status"], "completed");
    assert_eq!(view["rows_done"], 2);
    assert_eq!(view["affected"].as_array().map(Vec::len), Some(2));
    let path = format!("/leads/import-rejections/tasks/{task}/results.csv");
    let r = app.get(&path, Some(&client)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.headers[header::CONTENT_TYPE].to_str().expect("type").starts_with("text/csv"));
    let lines: Vec<&str> = r.body.lines().collect();
    assert_eq!(lines[0], "\"row\",\"identifier\",\"reason\",\"outcome\",\"lead_id\",\"message\"");
    assert_eq!(lines[1], format!("\"2\",\"{0}\",\"Wrong number\",\"rejected\",\"{0}\",\"\"", ids[0]));
    assert_eq!(lines[2], format!("\"3\",\"{0}\",\"'=cmd()\",\"rejected\",\"{0}\",\"\"", ids[1]));
    // Compressed (as browsers ask): the stream ends cleanly.
    let req = Request::get(&path)
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::ACCEPT_ENCODING, "gzip")
        .header(header::COOKIE, &client)
        .body(Body::empty())
        .expect("request");
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers[header::CONTENT_ENCODING], "gzip");
    // Nobody else's: another client user (404), no permission (403), another instance (404).
    assert_eq!(app.get(&path, Some(&bolt)).await.status, StatusCode::NOT_FOUND);
    let viewer = app.login("viewer@sendback.test").await;
    assert_eq!(app.get(&path, Some(&viewer)).await.status, StatusCode::FORBIDDEN);
    let other = app.login("other@sendback.test").await;
    assert_eq!(app.get(&path, Some(&other)).await.status, StatusCode::NOT_FOUND);
    let r = app.call("rejection_task", &[("id", &task.to_string())], Some(&other)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let owner = app.login("owner@sendback.test").await;
    assert_eq!(app.get(&path, Some(&owner)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn refused_uploads_say_why_and_keep_nothing() {
    let mut app = TestApp::new();
    let client = app.login("client@sendback.test").await;
    // Beyond axum's 2 MB default body limit: accepted.
    let mut big = String::from("Lead ID,Reason\n");
    while big.len() < 3 * 1024 * 1024 {
        big.push_str("123456,Duplicate lead sent twice\n");
    }
    let r = app.upload("big.csv", big.into_bytes(), Some(&client), false).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.stored_files(), 1);
    let refusals: [(&[u8], &str); 3] = [
        (b"PK\x03\x04\x14\x00\x06\x00rest of an xlsx", "not a CSV file"),
        (b"", "empty"),
        (b"\n\n", "empty"),
    ];
    for (body, expected) in refusals {
        let r = app.upload("x.csv", body.to_vec(), Some(&client), true).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains(expected), "{expected}: {}", r.body);
    }
    // Over the configured limit: refused whether or not the size is declared up front.
    let mut state = app.state.clone();
    state.uploads.max_bytes = 1024 * 1024;
    app.router = server::router(state);
    for declared in [true, false] {
        let r = app.upload("huge.csv", vec![b'a'; 1024 * 1024 + 1], Some(&client), declared).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
        assert!(r.body.contains("larger than 1 MB"), "{}", r.body);
    }
    assert_eq!(app.stored_files(), 1, "refused files are not kept");
}

#[tokio::test]
async fn a_lead_page_is_not_found_outside_its_scope() {
    let app = TestApp::new();
    let jane: i64 = {
        let mut conn = app.state.pool.get().expect("conn");
        lead_values::table
            .filter(lead_values::normalized.eq(app::db::seed::KNOWN_LEAD_EMAIL))
            .select(lead_values::lead_id)
            .first(&mut conn)
            .expect("jane")
    };
    let path = format!("/leads/{jane}");
    let client = app.login("client@sendback.test").await;
    let r = app.get(&path, Some(&client)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains(&format!("Lead {jane}")), "{}", r.body);
    assert!(r.body.contains("jane.smith@example.co.uk"));
    let mut bodies = Vec::new();
    for who in ["bolt@sendback.test", "other@sendback.test"] {
        let cookie = app.login(who).await;
        let r = app.get(&path, Some(&cookie)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{who}");
        let missing = app.get("/leads/987654321", Some(&cookie)).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{who}");
        bodies.push(r.body.contains("There is no lead with this ID among your leads"));
    }
    assert_eq!(bodies, [true, true], "the same page as for a lead that does not exist");
}

#[tokio::test]
async fn the_report_counts_match_the_database_and_its_csv() {
    let app = TestApp::new();
    let owner = app.login("owner@sendback.test").await;
    let r = app.call("rejection_report", &[("from", ""), ("to", "")], Some(&owner)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let report: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    let from = report["from"].as_str().expect("from").to_owned();
    let home = report["by_campaign"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|c| c["name"] == "Home Insurance UK")
        .expect("home")
        .clone();
    let expected: i64 =
        {
            let mut conn = app.state.pool.get().expect("conn");
            leads::table
                .inner_join(campaigns::table)
                .filter(campaigns::name.eq("Home Insurance UK"))
                .filter(leads::status.eq("client_rejected"))
                .filter(leads::received_at.ge(
                    from.parse::<chrono::NaiveDate>().expect("date").and_hms_opt(0, 0, 0).expect("midnight"),
                ))
                .count()
                .get_result(&mut conn)
                .expect("count")
        };
    assert!(expected > 0);
    assert_eq!(home["client_rejected"], expected);
    assert!(report["chart_svg"].as_str().expect("svg").starts_with("<svg"));
    // Other instance's campaigns never appear.
    assert!(report["by_campaign"].as_array().expect("rows").iter().all(|c| c["name"] != "Loans UK"));
    let csv = app.get(&format!("/reports/rejections.csv?from={from}"), Some(&owner)).await;
    assert_eq!(csv.status, StatusCode::OK);
    let line = format!("\"campaign\",\"Home Insurance UK\",\"{}\",\"{expected}\"", home["delivered"]);
    assert!(csv.body.lines().any(|l| l.starts_with(&line)), "{line} in {}", csv.body);
    let bad =
        app.call("rejection_report", &[("from", "2026-12-01"), ("to", "2026-11-01")], Some(&owner)).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}
