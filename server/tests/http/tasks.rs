//! A rejection task over HTTP: upload, preview, start (once), run, the task view and the results
//! download with who may fetch it.

use app::db::schema::*;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use diesel::prelude::*;

use crate::support::TestApp;

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
    let previews = app.preview_workers(1);
    let r = app.call_json("start_rejection_preview", form.clone(), &client).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let job: i64 = r.body.parse().expect("job id");
    let r = app.finished_preview("rejection_preview", job, &client).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    drop(previews);
    let answer: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(answer["status"], "done", "{answer}");
    let summary = &answer["result"];
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
    assert_eq!(ran.expect("run"), Some((task, app::engine::task::RunEnd::Completed)));
    let r = app.call("rejection_task", &[("id", &task.to_string())], Some(&client)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let view: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(view["status"], "completed");
    assert_eq!(view["rows_done"], 2);
    assert_eq!(view["affected"].as_array().map(Vec::len), Some(2));
    assert_results_download(&app, task, &ids, &client, &bolt).await;
}

/// The results file: its lines, compressed download, and who may fetch it.
async fn assert_results_download(app: &TestApp, task: i64, ids: &[i64], client: &str, bolt: &str) {
    let path = format!("/leads/import-rejections/tasks/{task}/results.csv");
    let r = app.get(&path, Some(client)).await;
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
        .header(header::COOKIE, client)
        .body(Body::empty())
        .expect("request");
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers[header::CONTENT_ENCODING], "gzip");
    // Nobody else's: another client user (404), no permission (403), another instance (404).
    assert_eq!(app.get(&path, Some(bolt)).await.status, StatusCode::NOT_FOUND);
    let viewer = app.login("viewer@sendback.test").await;
    assert_eq!(app.get(&path, Some(&viewer)).await.status, StatusCode::FORBIDDEN);
    let other = app.login("other@sendback.test").await;
    assert_eq!(app.get(&path, Some(&other)).await.status, StatusCode::NOT_FOUND);
    let r = app.call("rejection_task", &[("id", &task.to_string())], Some(&other)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let owner = app.login("owner@sendback.test").await;
    assert_eq!(app.get(&path, Some(&owner)).await.status, StatusCode::OK);
}
