//! No user can hold the pool: results downloads whose clients stop reading keep no database
//! connection (each part is read with a connection given back before it is sent) and previews
//! run as background jobs (at most the preview workers' connections, one preview per user), so
//! with twenty stalled downloads and eight previews of a large file `/health` and other tenants'
//! pages still answer within a second; and when every connection is busy a request is answered
//! 503 within seconds instead of queueing.

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

/// A rejection file of `rows` Lead IDs nobody has, uploaded by the user of `cookie`: its
/// preview reads every row. Returns the upload's id.
async fn large_upload(app: &TestApp, rows: usize, cookie: &str) -> i64 {
    let mut csv = String::with_capacity(rows * 24);
    csv.push_str("Lead ID,Rejection Reason\n");
    for i in 0..rows {
        csv.push_str(&format!("{},Wrong number\n", 800_000_000 + i));
    }
    let r = app.upload("large.csv", csv.into_bytes(), Some(cookie), true).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    serde_json::from_str::<serde_json::Value>(&r.body).expect("json")["upload_id"].as_i64().expect("id")
}

/// Starts a preview of `upload` on `campaign`; its job id.
async fn start_preview(app: &TestApp, upload: i64, campaign: i64, cookie: &str) -> i64 {
    let form = serde_json::json!({ "form": {
        "upload_id": upload, "campaign_id": campaign, "mode": "lead_id",
        "identifier_column": "Lead ID", "reason_column": "Rejection Reason", "reject_from": "",
        "options": { "move_outside_to_accepted": true, "reject_affiliate_events": true,
                     "move_remaining_to_accepted": true, "count_towards_cap": true } } });
    let r = app.call_json("start_rejection_preview", form, cookie).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body.parse().expect("job id")
}

/// The status of preview job `job` as its user polls it.
async fn preview_status(app: &TestApp, job: i64, cookie: &str) -> String {
    let r = app.call("rejection_preview", &[("id", &job.to_string())], Some(cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    v["status"].as_str().unwrap_or_default().to_owned()
}

fn campaign_id(app: &TestApp, name: &str) -> i64 {
    campaigns::table
        .filter(campaigns::name.eq(name))
        .select(campaigns::id)
        .first(&mut app.state.pool.get().expect("conn"))
        .expect("campaign")
}

/// Preview worker threads in these tests (as `serve --preview-workers 2`): each holds at most one
/// connection while it runs a preview.
const PREVIEW_WORKERS: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_stalled_downloads_and_eight_previews_leave_the_server_answering() {
    let app = TestApp::new();
    let client = app.login("client@sendback.test").await;
    let bolt = app.login("bolt@sendback.test").await;
    let task = task_with_large_results(&app, &client).await;
    // Large files to preview, one for each of the two client users who may reject.
    let client_file = large_upload(&app, 400_000, &client).await;
    let bolt_file = large_upload(&app, 400_000, &bolt).await;
    let (home, energy) = (campaign_id(&app, "Home Insurance UK"), campaign_id(&app, "Energy Switch UK"));
    let _workers = app.preview_workers(PREVIEW_WORKERS);
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
    // Eight previews of the large files at once, four by each user: a user's newer preview
    // replaces their older one, so the last of each runs.
    let starts = (0..8).map(|i| {
        let (upload, campaign, cookie) =
            if i % 2 == 0 { (client_file, home, &client) } else { (bolt_file, energy, &bolt) };
        start_preview(&app, upload, campaign, cookie)
    });
    let jobs = futures_util::future::join_all(starts).await;
    // Each download has read what it can hold and waits for its client.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = in_use(&app);
    assert!(held <= PREVIEW_WORKERS as u32, "only the preview workers hold connections: {held} in use");
    // The server answers everyone else at once: its health, another tenant's pages, this
    // client's other pages.
    answers_within_a_second(&app, "/health", None, StatusCode::OK).await;
    let other = app.login("other@sendback.test").await;
    answers_within_a_second(&app, "/leads", Some(&other), StatusCode::OK).await;
    let bolt_lead: i64 = leads::table
        .inner_join(campaigns::table.inner_join(clients::table))
        .filter(clients::name.eq("Bolt Energy"))
        .select(leads::id)
        .first(&mut app.state.pool.get().expect("conn"))
        .expect("a lead of Bolt Energy");
    answers_within_a_second(&app, &format!("/leads/{bolt_lead}"), Some(&bolt), StatusCode::OK).await;
    // All that while the previews were at work (else this measured nothing): each user's newest
    // is still running or waiting, their three older ones were replaced.
    let mut statuses = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        statuses.push(preview_status(&app, *job, if i % 2 == 0 { &client } else { &bolt }).await);
    }
    for user in 0..2 {
        let mine: Vec<&str> = statuses.iter().skip(user).step_by(2).map(String::as_str).collect();
        let at_work = mine.iter().filter(|s| matches!(**s, "queued" | "running")).count();
        let replaced = mine.iter().filter(|s| **s == "cancelled").count();
        assert_eq!((at_work, replaced), (1, 3), "one preview per user, still at work: {statuses:?}");
    }
    // A stalled client that reads on gets the whole file, byte for byte.
    let first = stalled.pop().expect("a download");
    let body = first.into_body().collect().await.expect("body").to_bytes();
    assert!(body.as_ref() == expected.as_slice(), "the download is the results file");
    // The others go away: they leave nothing held.
    drop(stalled);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(in_use(&app) <= PREVIEW_WORKERS as u32);
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
