//! The bulk Reject API over HTTP (docs/DOMAIN.md §7): `POST /api/v1/rejection-tasks` with a CSV
//! body queues one task per `Idempotency-Key` (a different file or settings under the same key is
//! refused), `preview=true` changes nothing, the task and its results are read back through
//! `GET /api/v1/rejection-tasks…`, and nobody else's key sees or touches any of it. On SQLite, and
//! PostgreSQL when `TEST_POSTGRES_URL` is set.

use app::db::schema::*;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use diesel::prelude::*;

use crate::support::{Reply, TestApp, databases};

fn json(r: &Reply) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("json answer: {} {}", r.status, r.body))
}

fn assert_error(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let body = json(r);
    assert_eq!(body["result"], "error", "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

/// A key made on the API keys page by `email`.
pub(crate) async fn key_of(app: &TestApp, email: &str) -> String {
    let cookie = app.login(email).await;
    let r = app.call("create_api_key", &[("name", "CRM")], Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    json(&r)["key"].as_str().expect("key").to_owned()
}

/// A key of a client user of the other demo instance (which has no client users of its own).
fn other_instance_key(app: &TestApp) -> String {
    let mut conn = app.state.pool.get().expect("conn");
    let instance: i64 = users::table
        .filter(users::email.eq("other@sendback.test"))
        .select(users::instance_id)
        .first(&mut conn)
        .expect("instance");
    let client: i64 = diesel::insert_into(clients::table)
        .values((clients::instance_id.eq(instance), clients::name.eq("Elsewhere Ltd")))
        .returning(clients::id)
        .get_result(&mut conn)
        .expect("client");
    let now = app::clock::Clock::now(&app.clock);
    let user: i64 = diesel::insert_into(users::table)
        .values((
            users::instance_id.eq(instance),
            users::client_id.eq(client),
            users::email.eq("elsewhere@sendback.test"),
            users::name.eq("Elsa Where"),
            users::password_hash.eq("!"),
            users::role.eq("client_user"),
            users::created_at.eq(now),
        ))
        .returning(users::id)
        .get_result(&mut conn)
        .expect("user");
    diesel::insert_into(user_permissions::table)
        .values((
            user_permissions::user_id.eq(user),
            user_permissions::permission.eq("reject_leads"),
            user_permissions::granted_at.eq(now),
        ))
        .execute(&mut conn)
        .expect("permission");
    let holder = app::db::users::load_context(&mut conn, user).expect("load").expect("user");
    let actor = app::db::audit::Actor::command_line(instance);
    app::db::keys::create_client_key(&mut conn, actor, &holder, "Elsewhere CRM", now).expect("key").1
}

fn campaign_id(app: &TestApp, name: &str) -> i64 {
    let mut conn = app.state.pool.get().expect("conn");
    campaigns::table
        .filter(campaigns::name.eq(name))
        .select(campaigns::id)
        .first(&mut conn)
        .expect("campaign")
}

/// Sends `body` to `POST /api/v1/rejection-tasks?<query>` with the key and idempotency key.
pub(crate) async fn post_file(
    app: &TestApp,
    key: Option<&str>,
    query: &str,
    idempotency: Option<&str>,
    body: &str,
) -> Reply {
    let mut req = Request::post(format!("/api/v1/rejection-tasks?{query}"))
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::CONTENT_TYPE, "text/csv");
    if let Some(key) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    if let Some(idempotency) = idempotency {
        req = req.header("Idempotency-Key", idempotency);
    }
    app.send(req.body(Body::from(body.to_owned())).expect("request")).await
}

async fn get(app: &TestApp, key: &str, path: &str) -> Reply {
    let req = Request::get(path)
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .body(Body::empty())
        .expect("request");
    app.send(req).await
}

fn lead_status(app: &TestApp, id: i64) -> String {
    let mut conn = app.state.pool.get().expect("conn");
    leads::table.find(id).select(leads::status).first(&mut conn).expect("lead")
}

fn task_count(app: &TestApp) -> i64 {
    let mut conn = app.state.pool.get().expect("conn");
    rejection_tasks::table.count().get_result(&mut conn).expect("count")
}

pub(crate) async fn run_worker(app: &TestApp) -> Option<(i64, app::engine::task::RunEnd)> {
    let worker = app::engine::worker::Worker::new(
        app.state.pool.clone(),
        app.state.uploads.storage.clone(),
        std::sync::Arc::new(app.clock.clone()),
    );
    tokio::task::spawn_blocking(move || worker.run_one(Default::default())).await.expect("join").expect("run")
}

#[tokio::test]
async fn a_file_becomes_one_task_per_idempotency_key_and_reports_progress_and_results() {
    for database in databases() {
        a_file_becomes_one_task_per_idempotency_key_and_reports_progress_and_results_on(TestApp::on(
            database,
        ))
        .await;
    }
}

async fn a_file_becomes_one_task_per_idempotency_key_and_reports_progress_and_results_on(app: TestApp) {
    let key = key_of(&app, "client@sendback.test").await;
    let campaign = campaign_id(&app, "Home Insurance UK");
    let ids = app.fresh_leads(3);
    let csv = format!("Lead ID,Rejection Reason\n{},Wrong number\n{},=cmd()\n", ids[0], ids[1]);
    let query = format!(
        "campaign_id={campaign}&identifier=lead_id&identifier_column=Lead%20ID&reason_column=Rejection%20Reason&name=crm.csv"
    );
    let r = post_file(&app, Some(&key), &query, Some("k-1"), &csv).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let created = json(&r);
    let task = created["task_id"].as_i64().expect("task id");
    assert_eq!(created["status"], "queued");
    assert_eq!(created["links"]["self"], format!("/api/v1/rejection-tasks/{task}"));
    assert_eq!(created["links"]["results"], format!("/api/v1/rejection-tasks/{task}/results.csv"));
    // A retry is the same task, answered 200.
    let r = post_file(&app, Some(&key), &query, Some("k-1"), &csv).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(json(&r)["task_id"], task);
    // The same key with another file, or other settings: refused, nothing created.
    let other_csv = format!("Lead ID,Rejection Reason\n{},Wrong number\n", ids[2]);
    let r = post_file(&app, Some(&key), &query, Some("k-1"), &other_csv).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED");
    let r = post_file(&app, Some(&key), &format!("{query}&count_towards_cap=true"), Some("k-1"), &csv).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(task_count(&app), 1);
    assert_eq!(app.stored_files(), 1, "only the task's own copy of the file is kept");

    let r = get(&app, &key, &format!("/api/v1/rejection-tasks/{task}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let view = json(&r);
    assert_eq!(view["status"], "queued");
    assert_eq!(view["identifier"], "lead_id");
    assert_eq!(view["file_name"], "crm.csv");
    assert_eq!(view["campaign"]["id"], campaign);
    assert_eq!(view["options"]["count_towards_cap"], false);
    assert_eq!(view["rows_done"], 0);
    let r = get(&app, &key, &format!("/api/v1/rejection-tasks/{task}/results.csv")).await;
    assert_error(&r, StatusCode::CONFLICT, "TASK_NOT_FINISHED");

    assert_eq!(run_worker(&app).await, Some((task, app::engine::task::RunEnd::Completed)));
    let view = json(&get(&app, &key, &format!("/api/v1/rejection-tasks/{task}")).await);
    assert_eq!(view["status"], "completed", "{view}");
    assert_eq!(view["rows_total"], 2);
    assert_eq!(view["rows_done"], 2);
    assert_eq!(view["counts"]["rejected"], 2);
    assert_eq!(view["counts"]["not_found"], 0);
    assert!(view["finished_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{view}");
    assert_eq!(lead_status(&app, ids[0]), "client_rejected");
    assert_eq!(lead_status(&app, ids[1]), "client_rejected");
    assert_eq!(lead_status(&app, ids[2]), "received");
    let r = get(&app, &key, &format!("/api/v1/rejection-tasks/{task}/results.csv")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.headers[header::CONTENT_TYPE].to_str().expect("type").starts_with("text/csv"));
    let lines: Vec<&str> = r.body.lines().collect();
    assert_eq!(lines.len(), 3, "{}", r.body);
    assert_eq!(lines[2], format!("\"3\",\"{0}\",\"'=cmd()\",\"rejected\",\"{0}\",\"\"", ids[1]));

    // A second task, then the list in pages of one, newest first.
    let r = post_file(&app, Some(&key), &query, Some("k-2"), &other_csv).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let second = json(&r)["task_id"].as_i64().expect("id");
    let page = json(&get(&app, &key, "/api/v1/rejection-tasks?limit=1").await);
    assert_eq!(page["tasks"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page["tasks"][0]["task_id"], second);
    let cursor = page["next_cursor"].as_str().expect("cursor").to_owned();
    let page = json(&get(&app, &key, &format!("/api/v1/rejection-tasks?limit=1&cursor={cursor}")).await);
    assert_eq!(page["tasks"][0]["task_id"], task, "{page}");
    assert_eq!(page["next_cursor"], serde_json::Value::Null);
    assert_error(
        &get(&app, &key, "/api/v1/rejection-tasks?limit=0").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_PARAMETER",
    );
}

#[tokio::test]
async fn a_preview_answers_what_the_task_would_do_and_changes_nothing() {
    for database in databases() {
        a_preview_answers_what_the_task_would_do_and_changes_nothing_on(TestApp::on(database)).await;
    }
}

async fn a_preview_answers_what_the_task_would_do_and_changes_nothing_on(app: TestApp) {
    // The preview runs as a background job, on the server's preview workers.
    let _previews = app.preview_workers(1);
    let uploads = || -> i64 {
        let mut conn = app.state.pool.get().expect("conn");
        app::db::schema::uploads::table.count().get_result(&mut conn).expect("count")
    };
    let uploads_before = uploads();
    let key = key_of(&app, "client@sendback.test").await;
    let campaign = campaign_id(&app, "Home Insurance UK");
    let ids = app.fresh_leads(2);
    // Columns not named are found from the header row, as on the page.
    let csv = format!("lead_id,reason\n{},Wrong number\n{},Duplicate\n999999999,Gone\n", ids[0], ids[1]);
    let query = format!("campaign_id={campaign}&preview=true&move_remaining_to_accepted=true");
    let r = post_file(&app, Some(&key), &query, None, &csv).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let preview = json(&r);
    assert_eq!(preview["preview"], true);
    assert_eq!(preview["rows"], 3);
    assert_eq!(preview["counts"]["rejected"], 2);
    assert_eq!(preview["counts"]["not_found"], 1);
    assert!(preview["remaining_to_accept"].as_i64().is_some(), "{preview}");
    assert_eq!(preview["cap_units"], serde_json::Value::Null);
    assert_eq!(task_count(&app), 0);
    assert_eq!(app.stored_files(), 0);
    assert_eq!(lead_status(&app, ids[0]), "received");
    // The worker's refusal is the synchronous preview's, with its code; no upload is kept.
    let query = format!("campaign_id={campaign}&preview=true&reject_from=2099-01-01");
    let r = post_file(&app, Some(&key), &query, None, &csv).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(json(&r)["error"]["code"], "INVALID_PARAMETER", "{}", r.body);
    assert_eq!(app.stored_files(), 0);
    assert_eq!(uploads(), uploads_before, "the previews' uploads are deleted");
}

#[tokio::test]
async fn bad_requests_are_refused_with_a_code_and_keep_no_file() {
    for database in databases() {
        bad_requests_are_refused_with_a_code_and_keep_no_file_on(TestApp::on(database)).await;
    }
}

async fn bad_requests_are_refused_with_a_code_and_keep_no_file_on(app: TestApp) {
    let key = key_of(&app, "client@sendback.test").await;
    let campaign = campaign_id(&app, "Home Insurance UK");
    let ids = app.fresh_leads(1);
    let csv = format!("Lead ID,Reason\n{},Wrong number\n", ids[0]);
    let base = format!("campaign_id={campaign}");
    let cases: [(&str, Option<&str>, String, StatusCode, &str); 10] = [
        ("no idempotency key", None, base.clone(), StatusCode::BAD_REQUEST, "MISSING_IDEMPOTENCY_KEY"),
        (
            "no campaign",
            Some("a"),
            "identifier=lead_id".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "MISSING_PARAMETER",
        ),
        (
            "misspelt option",
            Some("b"),
            format!("{base}&count_toward_cap=true"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_PARAMETER",
        ),
        (
            "bad flag",
            Some("c"),
            format!("{base}&count_towards_cap=maybe"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_PARAMETER",
        ),
        (
            "bad identifier",
            Some("d"),
            format!("{base}&identifier=email"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_PARAMETER",
        ),
        (
            "bad date",
            Some("e"),
            format!("{base}&reject_from=30/11/2026"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_PARAMETER",
        ),
        (
            "unknown column",
            Some("f"),
            format!("{base}&identifier_column=Lead&reason_column=Reason"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNKNOWN_COLUMN",
        ),
        (
            "unknown field key",
            Some("g"),
            format!("{base}&identifier=field:nope"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_IDENTIFIER",
        ),
        (
            "future reject-from",
            Some("h"),
            format!("{base}&reject_from=2999-01-01"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_PARAMETER",
        ),
        (
            "another client's campaign",
            Some("i"),
            format!("campaign_id={}", campaign_id(&app, "Energy Switch UK")),
            StatusCode::NOT_FOUND,
            "CAMPAIGN_NOT_FOUND",
        ),
    ];
    for (what, idempotency, query, status, code) in cases {
        let r = post_file(&app, Some(&key), &query, idempotency, &csv).await;
        assert_eq!(r.status, status, "{what}: {}", r.body);
        assert_eq!(json(&r)["error"]["code"], code, "{what}: {}", r.body);
    }
    // A file-level refusal carries the page's message.
    let r = post_file(&app, Some(&key), &base, Some("j"), "").await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_FILE");
    let r = post_file(&app, Some(&key), &base, Some("k"), "\u{0}\u{1}binary").await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_FILE");
    // A declared size over the limit is refused before the body is read.
    let req = Request::post(format!("/api/v1/rejection-tasks?{base}"))
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header("Idempotency-Key", "l")
        .header(header::CONTENT_LENGTH, app.state.uploads.max_bytes + 1)
        .body(Body::from(csv.clone()))
        .expect("request");
    assert_error(&app.send(req).await, StatusCode::PAYLOAD_TOO_LARGE, "FILE_TOO_LARGE");
    assert_eq!(task_count(&app), 0);
    assert_eq!(app.stored_files(), 0, "refused files are not kept");
    assert_eq!(lead_status(&app, ids[0]), "received");
}

#[tokio::test]
async fn nobody_else_sees_or_touches_a_clients_tasks() {
    for database in databases() {
        nobody_else_sees_or_touches_a_clients_tasks_on(TestApp::on(database)).await;
    }
}

async fn nobody_else_sees_or_touches_a_clients_tasks_on(app: TestApp) {
    let key = key_of(&app, "client@sendback.test").await;
    let campaign = campaign_id(&app, "Home Insurance UK");
    let ids = app.fresh_leads(1);
    let csv = format!("Lead ID,Reason\n{},Wrong number\n", ids[0]);
    let query = format!("campaign_id={campaign}");
    let r = post_file(&app, Some(&key), &query, Some("mine"), &csv).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let task = json(&r)["task_id"].as_i64().expect("id");

    let bolt = key_of(&app, "bolt@sendback.test").await;
    let elsewhere = other_instance_key(&app);
    for other in [&bolt, &elsewhere] {
        assert_error(
            &get(&app, other, &format!("/api/v1/rejection-tasks/{task}")).await,
            StatusCode::NOT_FOUND,
            "TASK_NOT_FOUND",
        );
        let r = get(&app, other, &format!("/api/v1/rejection-tasks/{task}/results.csv")).await;
        assert_error(&r, StatusCode::NOT_FOUND, "TASK_NOT_FOUND");
        let list = json(&get(&app, other, "/api/v1/rejection-tasks").await);
        assert_eq!(list["tasks"], serde_json::json!([]), "{list}");
        // Acme's campaign is not theirs to reject in, and the same idempotency key is theirs alone.
        let r = post_file(&app, Some(other), &query, Some("mine"), &csv).await;
        assert_error(&r, StatusCode::NOT_FOUND, "CAMPAIGN_NOT_FOUND");
        // Nor are Acme's leads theirs to reject or look up one at a time.
        let req = Request::post(format!("/api/v1/lead-status/reject/{}", ids[0]))
            .header(header::HOST, "127.0.0.1:3000")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, format!("Bearer {other}"))
            .body(Body::from("reason=Mine+now"))
            .expect("request");
        assert_error(&app.send(req).await, StatusCode::NOT_FOUND, "LEAD_NOT_FOUND");
        let r = get(&app, other, &format!("/api/v1/leads/{}", ids[0])).await;
        assert_error(&r, StatusCode::NOT_FOUND, "LEAD_NOT_FOUND");
        assert_eq!(lead_status(&app, ids[0]), "received");
    }
    assert_error(
        &get(&app, &key, "/api/v1/rejection-tasks/x").await,
        StatusCode::NOT_FOUND,
        "TASK_NOT_FOUND",
    );
    // No key, or a session cookie instead of one: 401.
    assert_error(
        &post_file(&app, None, &query, Some("n"), &csv).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_KEY",
    );
    let cookie = app.login("client@sendback.test").await;
    let req = Request::get(format!("/api/v1/rejection-tasks/{task}"))
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request");
    assert_error(&app.send(req).await, StatusCode::UNAUTHORIZED, "INVALID_KEY");
    assert_eq!(task_count(&app), 1);
    assert_eq!(run_worker(&app).await.map(|(id, _)| id), Some(task));
    assert_eq!(lead_status(&app, ids[0]), "client_rejected");
}

/// `POST /api/v1/rejection-tasks/{id}/undo` with the key and idempotency key.
async fn post_undo(app: &TestApp, key: &str, task: i64, idempotency: Option<&str>) -> Reply {
    let mut req = Request::post(format!("/api/v1/rejection-tasks/{task}/undo"))
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::AUTHORIZATION, format!("Bearer {key}"));
    if let Some(idempotency) = idempotency {
        req = req.header("Idempotency-Key", idempotency);
    }
    app.send(req.body(Body::empty()).expect("request")).await
}

#[tokio::test]
async fn a_task_is_undone_once_through_the_api_and_nobody_else_may() {
    for database in databases() {
        a_task_is_undone_once_through_the_api_and_nobody_else_may_on(TestApp::on(database)).await;
    }
}

async fn a_task_is_undone_once_through_the_api_and_nobody_else_may_on(app: TestApp) {
    let key = key_of(&app, "client@sendback.test").await;
    let campaign = campaign_id(&app, "Home Insurance UK");
    let ids = app.fresh_leads(2);
    let csv = format!("Lead ID,Rejection Reason\n{},Wrong campaign\n{},Wrong campaign\n", ids[0], ids[1]);
    let query =
        format!("campaign_id={campaign}&identifier_column=Lead%20ID&reason_column=Rejection%20Reason");
    let r = post_file(&app, Some(&key), &query, Some("t-1"), &csv).await;
    let task = json(&r)["task_id"].as_i64().expect("task id");
    // Not finished: refused.
    assert_error(&post_undo(&app, &key, task, Some("u-0")).await, StatusCode::CONFLICT, "TASK_NOT_UNDOABLE");
    assert_eq!(run_worker(&app).await, Some((task, app::engine::task::RunEnd::Completed)));
    assert_eq!(lead_status(&app, ids[0]), "client_rejected");

    // Another client's key, no key, no idempotency key; the viewer's session on the page's
    // server functions: nothing is undone.
    let bolt = key_of(&app, "bolt@sendback.test").await;
    assert_error(&post_undo(&app, &bolt, task, Some("u-1")).await, StatusCode::NOT_FOUND, "TASK_NOT_FOUND");
    assert_error(
        &post_undo(&app, &key, task, None).await,
        StatusCode::BAD_REQUEST,
        "MISSING_IDEMPOTENCY_KEY",
    );
    let viewer = app.login("viewer@sendback.test").await;
    let id = task.to_string();
    for name in ["undo_task_preview", "undo_rejection_task"] {
        let r = app.call(name, &[("id", &id)], Some(&viewer)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{name}: {}", r.body);
    }
    assert_eq!(task_count(&app), 1);

    // The starter's session sees the confirmation; the API queues the undo, once per key.
    let cookie = app.login("client@sendback.test").await;
    let r = app.call("undo_task_preview", &[("id", &id)], Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(json(&r)["leads_back"], 2, "{}", r.body);
    let r = post_undo(&app, &key, task, Some("u-2")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let undo = json(&r)["task_id"].as_i64().expect("undo id");
    assert_eq!(json(&r)["links"]["results"], format!("/api/v1/rejection-tasks/{undo}/results.csv"));
    let r = post_undo(&app, &key, task, Some("u-2")).await;
    assert_eq!((r.status, json(&r)["task_id"].as_i64()), (StatusCode::OK, Some(undo)), "{}", r.body);
    let r = post_undo(&app, &key, task, Some("u-3")).await;
    assert_error(&r, StatusCode::CONFLICT, "TASK_NOT_UNDOABLE");
    assert!(
        json(&r)["error"]["message"].as_str().is_some_and(|m| m.contains(&format!("task {undo}"))),
        "{}",
        r.body
    );
    let r = app.call("undo_rejection_task", &[("id", &id)], Some(&cookie)).await;
    assert!(r.status.is_client_error(), "{}", r.body);

    assert_eq!(run_worker(&app).await, Some((undo, app::engine::task::RunEnd::Completed)));
    assert_eq!(lead_status(&app, ids[0]), "received");
    assert_eq!(lead_status(&app, ids[1]), "received");
    let view = json(&get(&app, &key, &format!("/api/v1/rejection-tasks/{undo}")).await);
    assert_eq!(view["status"], "completed", "{view}");
    let r = get(&app, &key, &format!("/api/v1/rejection-tasks/{undo}/results.csv")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let lines: Vec<&str> = r.body.lines().collect();
    assert_eq!(lines[0], "\"lead_id\",\"uid\",\"outcome\",\"status\",\"message\"");
    assert_eq!(lines.len(), 3, "{}", r.body);
    assert!(
        lines[1].starts_with(&format!("\"{}\"", ids[0].min(ids[1])))
            && lines[1].contains("\"restored\",\"received\"")
    );
    // An undo is not undone.
    assert_error(&post_undo(&app, &key, undo, Some("u-4")).await, StatusCode::CONFLICT, "TASK_NOT_UNDOABLE");
}
