//! No user can hold the pool: results downloads whose clients stop reading keep no database
//! connection (each part is read with a connection given back before it is sent), so `/health`
//! and other tenants' pages still answer at once; and when every connection is busy a request
//! is answered 503 within seconds instead of queueing.

use std::time::{Duration, Instant};

use app::db::schema::*;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use diesel::prelude::*;
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::support::TestApp;

/// A finished task of the client's whose results file is ~2.5 MB: far more than a download
/// buffers before it waits for its client.
async fn task_with_large_results(app: &TestApp, client: &str) -> i64 {
    let reason = "r".repeat(800);
    let mut csv = String::from("Lead ID,Rejection Reason\n");
    for i in 0..3000 {
        csv.push_str(&format!("{},{reason}\n", 900_000_000 + i));
    }
    let r = app.upload("big.csv", csv.into_bytes(), Some(client), true).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let upload_id =
        serde_json::from_str::<serde_json::Value>(&r.body).expect("json")["upload_id"].as_i64().expect("id");
    let campaign: i64 = campaigns::table
        .filter(campaigns::name.eq("Home Insurance UK"))
        .select(campaigns::id)
        .first(&mut app.state.pool.get().expect("conn"))
        .expect("campaign");
    let form = serde_json::json!({ "form": {
        "upload_id": upload_id, "campaign_id": campaign, "mode": "lead_id",
        "identifier_column": "Lead ID", "reason_column": "Rejection Reason", "reject_from": "",
        "options": { "move_outside_to_accepted": false, "reject_affiliate_events": false,
                     "move_remaining_to_accepted": false, "count_towards_cap": false } } });
    let r = app.call_json("start_rejection_task", form, client).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let task: i64 = r.body.parse().expect("task id");
    let worker = app::engine::worker::Worker::new(
        app.state.pool.clone(),
        app.state.uploads.storage.clone(),
        std::sync::Arc::new(app.clock.clone()),
    );
    let ran = tokio::task::spawn_blocking(move || worker.run_one(Default::default())).await.expect("join");
    assert_eq!(ran.expect("run"), Some((task, app::engine::task::RunEnd::Completed)));
    task
}

/// Connections of the pool in use right now.
fn in_use(app: &TestApp) -> u32 {
    let state = app.state.pool.state();
    state.connections - state.idle_connections
}

/// `path` answers `status` within a second (a page as a browser asks for it).
async fn answers_within_a_second(app: &TestApp, path: &str, cookie: Option<&str>, status: StatusCode) {
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(1), app.get(path, cookie))
        .await
        .unwrap_or_else(|_| panic!("{path} did not answer within 1 s"));
    assert_eq!(r.status, status, "{path}: {}", r.body);
    assert!(started.elapsed() < Duration::from_secs(1), "{path} took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_stalled_downloads_hold_no_connection() {
    let app = TestApp::new();
    let client = app.login("client@sendback.test").await;
    let task = task_with_large_results(&app, &client).await;
    let path = format!("/leads/import-rejections/tasks/{task}/results.csv");
    let expected = {
        let mut out = Vec::new();
        let mut conn = app.state.pool.get().expect("conn");
        app::engine::task::write_results_csv(&mut conn, task, &mut out).expect("results");
        out
    };
    assert!(expected.len() > 2_000_000, "a large results file: {} bytes", expected.len());
    // Twenty downloads whose clients read the headers and then nothing more.
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let req = Request::get(&path)
            .header(header::HOST, "127.0.0.1:3000")
            .header(header::COOKIE, &client)
            .body(Body::empty())
            .expect("request");
        let res = app.router.clone().oneshot(req).await.expect("response");
        assert_eq!(res.status(), StatusCode::OK);
        stalled.push(res);
    }
    // Each has read what it can hold and waits for its client.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(in_use(&app), 0, "a stalled download holds no connection");
    // The server answers everyone else at once: its health, another tenant's pages, this
    // client's other pages.
    answers_within_a_second(&app, "/health", None, StatusCode::OK).await;
    let other = app.login("other@sendback.test").await;
    answers_within_a_second(&app, "/leads", Some(&other), StatusCode::OK).await;
    let bolt = app.login("bolt@sendback.test").await;
    let bolt_lead: i64 = leads::table
        .inner_join(campaigns::table.inner_join(clients::table))
        .filter(clients::name.eq("Bolt Energy"))
        .select(leads::id)
        .first(&mut app.state.pool.get().expect("conn"))
        .expect("a lead of Bolt Energy");
    answers_within_a_second(&app, &format!("/leads/{bolt_lead}"), Some(&bolt), StatusCode::OK).await;
    // A stalled client that reads on gets the whole file, byte for byte.
    let first = stalled.pop().expect("a download");
    let body = first.into_body().collect().await.expect("body").to_bytes();
    assert!(body.as_ref() == expected.as_slice(), "the download is the results file");
    // The others go away: nothing is left running or held.
    drop(stalled);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(in_use(&app), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_finding_every_connection_busy_is_answered_503_within_seconds() {
    let app = TestApp::new();
    let client = app.login("client@sendback.test").await;
    // Someone holds every connection of the pool (4 in these tests).
    let held: Vec<_> = (0..4).map(|_| app.state.pool.get().expect("conn")).collect();
    let started = Instant::now();
    let r = app.get("/health", None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    let r = app.call("me", &[], Some(&client)).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(r.body.contains("The server is busy right now"), "{}", r.body);
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(6), "two requests took {waited:?}");
    drop(held);
    let r = app.call("me", &[], Some(&client)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}
