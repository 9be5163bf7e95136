//! Background previews over HTTP: starting one answers its id at once; one preview per user (a
//! second cancels the first); another user cannot read a preview (404); the finished preview
//! shows the synchronous preview's figures for the same file; refusals come back as the field
//! errors the form shows.

use app::db::schema::*;
use axum::http::StatusCode;
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::support::{TestApp, databases};

/// `n` rows: the fresh leads, then Lead IDs nobody has.
fn rejection_file(app: &TestApp, n: usize) -> Vec<u8> {
    let mut csv = String::from("Lead ID,Rejection Reason\n");
    for id in app.fresh_leads(20) {
        csv.push_str(&format!("{id},Wrong number\n"));
    }
    for k in 0..n {
        csv.push_str(&format!("{},Nobody\n", 900_000_000 + k));
    }
    csv.into_bytes()
}

fn campaign(app: &TestApp, name: &str) -> i64 {
    let mut conn = app.state.pool.get().expect("conn");
    campaigns::table
        .filter(campaigns::name.eq(name))
        .select(campaigns::id)
        .first(&mut conn)
        .expect("campaign")
}

fn form(upload_id: i64, campaign_id: i64, reject_from: &str) -> Value {
    json!({ "form": {
        "upload_id": upload_id, "campaign_id": campaign_id, "mode": "lead_id",
        "identifier_column": "Lead ID", "reason_column": "Rejection Reason", "reject_from": reject_from,
        "options": { "move_outside_to_accepted": false, "reject_affiliate_events": false,
                     "move_remaining_to_accepted": true, "count_towards_cap": true } } })
}

async fn upload(app: &TestApp, body: Vec<u8>, cookie: &str) -> i64 {
    let r = app.upload("rejects.csv", body, Some(cookie), true).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    serde_json::from_str::<Value>(&r.body).expect("json")["upload_id"].as_i64().expect("upload id")
}

async fn start(app: &TestApp, form: &Value, cookie: &str) -> i64 {
    let r = app.call_json("start_rejection_preview", form.clone(), cookie).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body.parse().expect("job id")
}

async fn poll(app: &TestApp, job: i64, cookie: &str) -> (StatusCode, Value) {
    let r = app.call("rejection_preview", &[("id", &job.to_string())], Some(cookie)).await;
    (r.status, serde_json::from_str(&r.body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn previews_run_in_the_background_one_per_user_and_only_their_user_reads_them() {
    for database in databases() {
        let app = TestApp::on(database);
        let client = app.login("client@sendback.test").await;
        let bolt = app.login("bolt@sendback.test").await;
        let owner = app.login("owner@sendback.test").await;
        let home = campaign(&app, "Home Insurance UK");
        let energy = campaign(&app, "Energy Switch UK");
        let client_upload = upload(&app, rejection_file(&app, 12_000), &client).await;
        let bolt_upload = upload(&app, rejection_file(&app, 3), &bolt).await;

        // No worker yet: the starts answer at once and the jobs wait.
        let first = start(&app, &form(client_upload, home, ""), &client).await;
        let theirs = start(&app, &form(bolt_upload, energy, ""), &bolt).await;
        let (status, answer) = poll(&app, first, &client).await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (StatusCode::OK, Some("queued")),
            "{database:?}: {answer}"
        );
        // A second preview by the same user cancels the first.
        let second = start(&app, &form(client_upload, home, ""), &client).await;
        let (_, answer) = poll(&app, first, &client).await;
        assert_eq!(answer["status"], "cancelled", "{database:?}: {answer}");
        let (_, answer) = poll(&app, theirs, &bolt).await;
        assert_eq!(answer["status"], "queued", "{database:?}: another user's preview is not touched");
        // Nobody else reads a preview: another client user 404, owner staff 403 (no permission).
        assert_eq!(poll(&app, second, &bolt).await.0, StatusCode::NOT_FOUND, "{database:?}");
        assert_eq!(poll(&app, theirs, &client).await.0, StatusCode::NOT_FOUND, "{database:?}");
        assert_eq!(poll(&app, second, &owner).await.0, StatusCode::FORBIDDEN, "{database:?}");
        assert_eq!(poll(&app, 999_999, &client).await.0, StatusCode::NOT_FOUND, "{database:?}");

        // The workers run both; the figures are the synchronous preview's.
        let workers = app.preview_workers(2);
        let r = app.finished_preview("rejection_preview", second, &client).await;
        assert_eq!(r.status, StatusCode::OK, "{database:?}: {}", r.body);
        let done: Value = serde_json::from_str(&r.body).expect("json");
        assert_eq!(done["status"], "done", "{database:?}: {done}");
        assert_eq!(done["rows_read"], 12_020, "{database:?}: {done}");
        assert_eq!(done["rows_total"], 12_020, "{database:?}: {done}");
        let expected = synchronous_preview(&app, "client@sendback.test", client_upload, home);
        let result = &done["result"];
        assert_eq!(result["rows"], expected.rows, "{database:?}");
        let counts: Vec<(String, i64)> = serde_json::from_value(result["counts"].clone()).expect("counts");
        let want: Vec<(String, i64)> =
            expected.counts.iter().map(|(o, n)| (o.as_str().to_owned(), *n)).collect();
        assert_eq!(counts, want, "{database:?}");
        assert_eq!(result["remaining_to_accept"], expected.remaining_to_accept, "{database:?}");
        assert_eq!(result["cap_units"], expected.cap_units, "{database:?}");
        assert_eq!(result["window_start"], expected.window_start.to_string(), "{database:?}");
        let r = app.finished_preview("rejection_preview", theirs, &bolt).await;
        let done: Value = serde_json::from_str(&r.body).expect("json");
        assert_eq!(
            (done["status"].as_str(), done["result"]["rows"].as_i64()),
            (Some("done"), Some(23)),
            "{database:?}: {done}"
        );

        // A refusal found by the worker comes back as the field error the form shows.
        let future = start(&app, &form(client_upload, home, "2099-01-01"), &client).await;
        let r = app.finished_preview("rejection_preview", future, &client).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{database:?}: {}", r.body);
        assert!(
            r.body.contains("reject_from") && r.body.contains("in the future"),
            "{database:?}: {}",
            r.body
        );
        drop(workers);
    }
}

/// `engine::task::preview` run in place, as the request did before previews ran in the background.
fn synchronous_preview(
    app: &TestApp,
    email: &str,
    upload_id: i64,
    campaign_id: i64,
) -> app::engine::task::Preview {
    let mut conn = app.state.pool.get().expect("conn");
    let user_id: i64 =
        users::table.filter(users::email.eq(email)).select(users::id).first(&mut conn).expect("user");
    let user = app::db::users::load_context(&mut conn, user_id).expect("load").expect("user");
    let upload =
        app::engine::uploads::find_upload(&mut conn, &user, upload_id).expect("find").expect("upload");
    let path = app.state.uploads.storage.local_copy(&mut conn, &upload.storage_key).expect("copy");
    let req = app::engine::task::TaskRequest {
        campaign_id,
        mode: app::domain::task::IdentifierChoice::LeadId,
        identifier_column: "Lead ID".into(),
        reason_column: "Rejection Reason".into(),
        reject_from: None,
        options: app::domain::task::TaskOptions {
            move_remaining_to_accepted: true,
            count_towards_cap: true,
            ..Default::default()
        },
        request_key: None,
    };
    let today = app::clock::Clock::now(&app.clock).date();
    app::engine::task::preview(&mut conn, &user, &req, &path, today).expect("preview")
}
