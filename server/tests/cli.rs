//! The set-up commands end to end: a fresh database (SQLite, and PostgreSQL when
//! `TEST_POSTGRES_URL` is set) set up by running the `sendback` binary alone, the commands'
//! refusals, then a rejection task on that database through the HTTP app: the owner's first
//! log-in with the printed one-time password, a client user with the permission, leads, an
//! upload, and a task that rejects leads by their email.

// Test set-up fails loudly: a helper that cannot build its fixture panics with the reason.
#![allow(clippy::expect_used, reason = "test fixtures; clippy only exempts #[test] functions")]

use std::process::Output;
use std::sync::atomic::{AtomicU32, Ordering};

use app::db::schema::{campaign_fields, instances, lead_values, leads};
use app::state::AppState;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::TimeDelta;
use diesel::prelude::*;
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

const INSTANCE: &str = "Acme Leads";
const OWNER: &str = "boss@acme.test";
const CLIENT: &str = "Acme Client";
const CAMPAIGN: &str = "Home Insurance";
const NEW_PASSWORD: &str = "a brand new passphrase";

/// A fresh, empty database and the data directory the commands are given.
struct TestDb {
    dir: tempfile::TempDir,
    /// `--database-url`, for PostgreSQL; SQLite lives in the data directory.
    url: Option<String>,
    pg_drop: Option<(String, String)>,
}

impl TestDb {
    fn sqlite() -> Self {
        Self { dir: tempfile::tempdir().expect("temp dir"), url: None, pg_drop: None }
    }

    /// A new database on the `TEST_POSTGRES_URL` server, dropped afterwards; `None` when unset.
    fn postgres() -> Option<Self> {
        let admin = std::env::var("TEST_POSTGRES_URL").ok().filter(|u| !u.trim().is_empty());
        let Some(admin) = admin else {
            eprintln!("TEST_POSTGRES_URL is not set: skipping the PostgreSQL variant of this test");
            return None;
        };
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("sendback_cli_test_{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
        let mut conn = diesel::PgConnection::establish(&admin).expect("connect to TEST_POSTGRES_URL");
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).expect("create database");
        let (base, _) = admin.rsplit_once('/').expect("TEST_POSTGRES_URL has a database path");
        let url = format!("{base}/{name}");
        let dir = tempfile::tempdir().expect("temp dir");
        Some(Self { dir, url: Some(url), pg_drop: Some((admin, name)) })
    }

    /// The database as the server opens it.
    fn url(&self) -> String {
        self.url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.dir.path().join("sendback.db").display()))
    }

    /// Runs `sendback <args>` on this database, as an operator would.
    fn sendback(&self, args: &[&str]) -> Output {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sendback"));
        cmd.env_remove("DATABASE_URL").env_remove("SENDBACK_DATA_DIR");
        cmd.arg("--data-dir").arg(self.dir.path());
        if let Some(url) = &self.url {
            cmd.args(["--database-url", url]);
        }
        cmd.args(args).output().expect("run sendback")
    }

    /// Runs a command that must succeed; its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.sendback(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "sendback {args:?} failed: {stderr}");
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Runs a command that must fail with a readable `error: …` line on stderr (no panic, no debug
    /// dump).
    fn refused(&self, args: &[&str], expected: &str) {
        let out = self.sendback(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "sendback {args:?} succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        // Logs go to stderr too: the refusal is a line of its own.
        assert!(stderr.lines().any(|l| l.starts_with("error: ")), "sendback {args:?}: {stderr}");
        assert!(stderr.contains(expected), "sendback {args:?}: expected {expected:?} in {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains(" { "), "sendback {args:?}: {stderr}");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_drop.take()
            && let Ok(mut conn) = diesel::PgConnection::establish(&admin)
        {
            let _ =
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn);
        }
    }
}

/// What the commands made, read from their output.
struct SetUp {
    password: String,
    client_id: i64,
    campaign_id: i64,
    supplier_id: i64,
}

/// The number after `prefix` at the start of a line of `out` (`created client 12 …`).
fn id_after(out: &str, prefix: &str) -> i64 {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {prefix:?} line in {out}"))
}

/// a) A fresh database set up by the commands alone.
fn set_up(db: &TestDb) -> SetUp {
    let out = db.ok(&["instance", "add", "--name", INSTANCE, "--owner-email", "Boss@Acme.test"]);
    assert!(out.contains(&format!("\"{INSTANCE}\"")) && out.contains(&format!("owner: {OWNER}")), "{out}");
    let password = out
        .lines()
        .find_map(|l| l.strip_prefix("one-time password: "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a one-time password line")
        .to_owned();
    assert_eq!(password.chars().count(), 20, "{out}");
    let out = db.ok(&["client", "add", "--instance", INSTANCE, "--name", CLIENT]);
    assert!(out.contains(&format!("\"{CLIENT}\" in instance \"{INSTANCE}\"")), "{out}");
    let client_id = id_after(&out, "created client ");
    let out = db.ok(&[
        "campaign",
        "add",
        "--instance",
        INSTANCE,
        "--client",
        CLIENT,
        "--name",
        CAMPAIGN,
        "--max-rejection-days",
        "7",
        "--field",
        "email:Email:email:dedupe",
        "--field",
        "phone:Phone:phone",
    ]);
    let campaign_id = id_after(&out, "created campaign ");
    let fields: Vec<&str> = out.lines().filter(|l| l.starts_with("field: ")).collect();
    assert_eq!(fields, ["field: email \"Email\" (email, deduplicated)", "field: phone \"Phone\" (phone)"]);
    assert!(out.lines().any(|l| l == "max rejection days: 7"), "{out}");
    let out =
        db.ok(&["supplier", "add", "--instance", INSTANCE, "--name", "Lead Co", "--campaign", CAMPAIGN]);
    let supplier_id = id_after(&out, "created supplier ");
    // An intake key, alone on standard output for scripts.
    let key = db.ok(&["supplier-key", "create", "--instance", INSTANCE, "--supplier", "Lead Co"]);
    assert!(key.trim().starts_with("sbk_") && key.trim().len() == 52 && key.lines().count() == 1, "{key}");
    SetUp { password, client_id, campaign_id, supplier_id }
}

/// b) Refusals: a readable message and a non-zero exit, nothing changed.
fn refusals(db: &TestDb) {
    db.refused(
        &["client", "add", "--instance", "Nobody", "--name", "X"],
        "there is no instance named \"Nobody\"",
    );
    db.refused(&["client", "add", "--instance", INSTANCE, "--name", CLIENT], "already a client named");
    let campaign = ["campaign", "add", "--instance", INSTANCE, "--client", CLIENT, "--name", "Other"];
    db.refused(&[&campaign[..], &["--field", "email:Email"]].concat(), "key:label:kind");
    db.refused(&[&campaign[..], &["--field", "email:Email:fax"]].concat(), "email, phone or text");
    db.refused(
        &["campaign", "add", "--instance", INSTANCE, "--client", "Nobody", "--name", "Other"],
        "there is no client named \"Nobody\"",
    );
    db.refused(
        &["supplier", "add", "--instance", INSTANCE, "--name", "Ghost", "--campaign", "Nope"],
        "there is no campaign named \"Nope\"",
    );
    db.refused(&["instance", "add", "--name", "Second", "--owner-email", OWNER], "already exists");
    // The refused instance was not created without its owner.
    db.refused(&["client", "add", "--instance", "Second", "--name", "X"], "there is no instance named");
    db.refused(&["instance", "add", "--name", "Third", "--owner-email", "not-an-email"], "email address");
}

/// The HTTP app on the database the commands set up, as `sendback serve --no-seed` runs it.
struct Server {
    router: axum::Router,
    state: AppState,
}

/// A response: its status, the session cookie it sets (`name=value`), its body.
struct Reply {
    status: StatusCode,
    cookie: Option<String>,
    body: String,
}

impl Server {
    fn new(db: &TestDb) -> Self {
        let pool = app::db::connect(&db.url(), 4).expect("pool");
        let state = AppState {
            writer: app::db::group::GroupWriter::new(pool.clone()),
            pool,
            leptos_options: leptos::config::LeptosOptions::builder().output_name("sendback").build(),
            clock: std::sync::Arc::new(app::clock::SystemClock),
            sessions: app::state::SessionSettings::default(),
            uploads: app::state::UploadSettings::new(db.dir.path().join("uploads")),
            network: app::state::NetworkSettings::default(),
        };
        Self { router: server::router(state.clone()), state }
    }

    async fn send(&self, req: Request<Body>, cookie: Option<&str>) -> Reply {
        let mut req = req;
        req.headers_mut().insert(header::HOST, "127.0.0.1:3000".parse().expect("host"));
        if let Some(c) = cookie {
            req.headers_mut().insert(header::COOKIE, c.parse().expect("cookie"));
        }
        let what = format!("{} {}", req.method(), req.uri());
        let res = tokio::time::timeout(std::time::Duration::from_secs(20), self.router.clone().oneshot(req))
            .await
            .unwrap_or_else(|_| panic!("no answer to {what} within 20 s"))
            .expect("response");
        let status = res.status();
        let cookie = res
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(server::SESSION_COOKIE))
            .and_then(|c| c.split(';').next())
            .map(str::to_owned);
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        Reply { status, cookie, body: String::from_utf8_lossy(&bytes).into_owned() }
    }

    /// Calls a server function with form-encoded arguments, as the browser does.
    async fn call(&self, name: &str, args: &[(&str, &str)], cookie: Option<&str>) -> Reply {
        let body: Vec<String> = args.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect();
        let req = Request::post(format!("/api/{name}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body.join("&")))
            .expect("request");
        self.send(req, cookie).await
    }

    /// Calls a server function that takes JSON; it must succeed.
    async fn call_json(&self, name: &str, args: serde_json::Value, cookie: &str) -> String {
        let req = Request::post(format!("/api/{name}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(args.to_string()))
            .expect("request");
        let r = self.send(req, Some(cookie)).await;
        assert_eq!(r.status, StatusCode::OK, "{name}: {}", r.body);
        r.body
    }

    /// Logs in; the session cookie.
    async fn login(&self, email: &str, password: &str) -> String {
        let r = self.call("login", &[("email", email), ("password", password)], None).await;
        assert!(r.status.is_success() || r.status.is_redirection(), "login {email}: {} {}", r.status, r.body);
        r.cookie.expect("a session cookie")
    }

    /// Sends a CSV file to the upload endpoint; its upload id.
    async fn upload(&self, name: &str, csv: &str, cookie: &str) -> i64 {
        let req = Request::post(format!("/api/uploads?name={}", urlencode(name)))
            .header(header::CONTENT_TYPE, "text/csv")
            .header(header::CONTENT_LENGTH, csv.len())
            .body(Body::from(csv.to_owned()))
            .expect("request");
        let r = self.send(req, Some(cookie)).await;
        assert_eq!(r.status, StatusCode::OK, "upload: {}", r.body);
        let preview: serde_json::Value = serde_json::from_str(&r.body).expect("json");
        preview["upload_id"].as_i64().expect("upload id")
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

/// The owner's first log-in: the one-time password works once, to choose a new one.
async fn owner_first_log_in(app: &Server, one_time: &str) -> String {
    let cookie = app.login(OWNER, one_time).await;
    let r = app.call("list_users", &[], Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "nothing before the password is changed: {}", r.body);
    let r = app.call("change_password", &[("current", one_time), ("new", NEW_PASSWORD)], Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "change_password: {}", r.body);
    let cookie = app.login(OWNER, NEW_PASSWORD).await;
    let r = app.call("login", &[("email", OWNER), ("password", one_time)], None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "the one-time password is spent: {}", r.body);
    cookie
}

/// The owner creates a client user for the client and lets them reject leads; their session.
async fn client_user(app: &Server, owner: &str, client_id: i64) -> String {
    let email = "buyer@client.test";
    let password = "client password 1";
    let client = client_id.to_string();
    let args = [("email", email), ("name", "Buyer"), ("client_id", client.as_str()), ("password", password)];
    let r = app.call("create_client_user", &args, Some(owner)).await;
    assert_eq!(r.status, StatusCode::OK, "create_client_user: {}", r.body);
    let user_id = r.body.trim().to_owned();
    let r =
        app.call("set_reject_permission", &[("user_id", &user_id), ("granted", "true")], Some(owner)).await;
    assert_eq!(r.status, StatusCode::OK, "set_reject_permission: {}", r.body);
    app.login(email, password).await
}

/// The id of the campaign's field with this key.
fn field_id(app: &Server, campaign_id: i64, key: &str) -> i64 {
    campaign_fields::table
        .filter(campaign_fields::campaign_id.eq(campaign_id).and(campaign_fields::field_key.eq(key)))
        .select(campaign_fields::id)
        .first(&mut app.state.pool.get().expect("conn"))
        .expect("field")
}

/// Leads received yesterday, one per (email, phone), as intake would store them; their ids.
fn insert_leads(app: &Server, set_up: &SetUp, people: &[(&str, &str)]) -> Vec<i64> {
    let email_field = field_id(app, set_up.campaign_id, "email");
    let phone_field = field_id(app, set_up.campaign_id, "phone");
    let mut conn = app.state.pool.get().expect("conn");
    let instance_id: i64 = instances::table.select(instances::id).first(&mut conn).expect("instance");
    let received = chrono::Utc::now().naive_utc() - TimeDelta::days(1);
    let mut ids = Vec::new();
    for (n, (email, phone)) in people.iter().enumerate() {
        let id: i64 = diesel::insert_into(leads::table)
            .values((
                leads::instance_id.eq(instance_id),
                leads::campaign_id.eq(set_up.campaign_id),
                leads::supplier_id.eq(set_up.supplier_id),
                leads::uid.eq(format!("cli-test-{n}")),
                leads::received_at.eq(received),
                leads::status.eq("received"),
                leads::cap_released.eq(false),
                leads::updated_at.eq(received),
            ))
            .returning(leads::id)
            .get_result(&mut conn)
            .expect("lead");
        for (field_id, kind, value) in [(email_field, "email", email), (phone_field, "phone", phone)] {
            let normalized = app::domain::identifiers::FieldKind::parse(kind)
                .and_then(|k| k.normalize(value))
                .expect("an identifying value");
            diesel::insert_into(lead_values::table)
                .values((
                    lead_values::lead_id.eq(id),
                    lead_values::field_id.eq(field_id),
                    lead_values::value.eq(*value),
                    lead_values::normalized.eq(normalized),
                ))
                .execute(&mut conn)
                .expect("lead value");
        }
        ids.push(id);
    }
    ids
}

/// The client uploads a file naming leads by email and starts a task; its id.
async fn start_task(app: &Server, client: &str, campaign_id: i64, csv: &str) -> i64 {
    let upload_id = app.upload("rejects.csv", csv, client).await;
    let email_field = field_id(app, campaign_id, "email");
    let form = serde_json::json!({ "form": {
        "upload_id": upload_id, "campaign_id": campaign_id, "mode": { "field": email_field },
        "identifier_column": "Email", "reason_column": "Reason", "reject_from": "",
        "options": { "move_outside_to_accepted": false, "reject_affiliate_events": false,
                     "move_remaining_to_accepted": false, "count_towards_cap": false } } });
    app.call_json("start_rejection_task", form, client).await.trim().parse().expect("task id")
}

/// Runs the queued task to its end as the server's worker does; the task page's view of it.
async fn finish(app: &Server, task: i64, client: &str) -> serde_json::Value {
    let storage = app.state.uploads.storage.clone();
    let worker = app::engine::worker::Worker::new(app.state.pool.clone(), storage, app.state.clock.clone());
    let ran = tokio::task::spawn_blocking(move || worker.run_one(Default::default())).await.expect("join");
    assert_eq!(ran.expect("run"), Some((task, app::engine::task::RunEnd::Completed)));
    let r = app.call("rejection_task", &[("id", &task.to_string())], Some(client)).await;
    assert_eq!(r.status, StatusCode::OK, "rejection_task: {}", r.body);
    serde_json::from_str(&r.body).expect("json")
}

/// c) A rejection task on the database the commands set up.
async fn reject_by_email(db: &TestDb, set_up: &SetUp) {
    let app = Server::new(db);
    let mut conn = app.state.pool.get().expect("conn");
    let instances: i64 = instances::table.count().get_result(&mut conn).expect("count");
    assert_eq!(instances, 1, "the commands do not seed the demo");
    drop(conn);
    let owner = owner_first_log_in(&app, &set_up.password).await;
    let client = client_user(&app, &owner, set_up.client_id).await;
    let people = [
        ("ann@example.test", "07700 900001"),
        ("bob@example.test", "+44 7700 900002"),
        ("cy@example.test", "07700 900003"),
    ];
    let ids = insert_leads(&app, set_up, &people);
    let csv = "Email,Reason\r\nann@example.test,Wrong number\r\n BOB@Example.TEST ,Duplicate\r\nnobody@example.test,Fake\r\n";
    let task = start_task(&app, &client, set_up.campaign_id, csv).await;
    let view = finish(&app, task, &client).await;
    assert_eq!(view["status"], "completed", "{view}");
    assert_eq!(view["rows_done"], 3, "{view}");
    let counts: Vec<&serde_json::Value> =
        view["counts"].as_array().expect("counts").iter().filter(|c| c[1] != 0).collect();
    assert_eq!(counts, [&serde_json::json!(["rejected", 2]), &serde_json::json!(["not_found", 1])], "{view}");
    let mut conn = app.state.pool.get().expect("conn");
    let states: Vec<(String, Option<String>)> = leads::table
        .filter(leads::id.eq_any(&ids))
        .order(leads::id)
        .select((leads::status, leads::status_reason))
        .load(&mut conn)
        .expect("leads");
    let rejected = |reason: &str| ("client_rejected".to_owned(), Some(reason.to_owned()));
    assert_eq!(states, [rejected("Wrong number"), rejected("Duplicate"), ("received".to_owned(), None)]);
}

async fn set_up_and_reject(db: TestDb) {
    let set_up = set_up(&db);
    refusals(&db);
    reject_by_email(&db, &set_up).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_sqlite_database_is_set_up_by_the_commands_and_takes_a_rejection_task() {
    set_up_and_reject(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_postgres_database_is_set_up_by_the_commands_and_takes_a_rejection_task() {
    if let Some(db) = TestDb::postgres() {
        set_up_and_reject(db).await;
    }
}

/// `sendback api-key create` on the demo data: the key alone on standard output, stored only as
/// its hash, audited as the command line, and working on the API; refusals for an unknown email,
/// owner staff, a user without the permission and an empty name.
async fn api_key_create(db: TestDb) {
    db.ok(&["seed"]);
    let out = db.ok(&["api-key", "create", "--email", "client@sendback.test", "--name", "CRM"]);
    let key = out.trim();
    assert!(key.starts_with("sbk_") && key.len() == 47 && out.lines().count() == 1, "{out}");
    let create =
        |email: &'static str, name: &'static str| ["api-key", "create", "--email", email, "--name", name];
    db.refused(&create("nobody@sendback.test", "CRM"), "there is no user");
    db.refused(&create("owner@sendback.test", "CRM"), "owner staff");
    db.refused(&create("viewer@sendback.test", "CRM"), "Reject Leads as a Client");
    db.refused(&create("client@sendback.test", "  "), "Enter the key's name");

    let app = Server::new(&db);
    let req = Request::get("/api/v1/me")
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .body(Body::empty())
        .expect("request");
    let r = app.send(req, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let me: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(
        (me["user"]["email"].as_str(), me["client"]["name"].as_str()),
        (Some("client@sendback.test"), Some("Acme Insurance"))
    );
    let mut conn = app.state.pool.get().expect("conn");
    let stored: Vec<(Option<String>, String)> = app::db::schema::api_keys::table
        .select((app::db::schema::api_keys::name, app::db::schema::api_keys::secret_hash))
        .load(&mut conn)
        .expect("keys");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0.as_deref(), Some("CRM"));
    assert!(!stored[0].1.contains(&key[4..]));
    let audited: Vec<(String, Option<i64>)> = app::db::schema::audit_log::table
        .filter(app::db::schema::audit_log::action.like("api_key.%"))
        .select((app::db::schema::audit_log::action, app::db::schema::audit_log::actor_user_id))
        .load(&mut conn)
        .expect("audit");
    assert_eq!(audited, [("api_key.create".to_owned(), None)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn api_key_create_prints_a_working_key_on_sqlite() {
    api_key_create(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn api_key_create_prints_a_working_key_on_postgres() {
    if let Some(db) = TestDb::postgres() {
        api_key_create(db).await;
    }
}
