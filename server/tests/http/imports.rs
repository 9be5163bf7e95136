//! Lead imports over HTTP: only owner staff upload, start, follow and download them; another
//! instance's owner finds nothing; a whole import from the upload to the results file.

use axum::http::{StatusCode, header};
use serde_json::{Value, json};

use crate::support::TestApp;

const OWNER_ONLY: &str = "Importing leads is for the instance owner's staff.";

fn csv(stamp: &str) -> Vec<u8> {
    format!(
        "Email,First name,Received at\n\
         a.{stamp}@import.example,Ann,2026-01-05 10:00:00\n\
         b.{stamp}@import.example,Ben,2026-01-05\n\
         A.{stamp}@Import.example,Again,2026-01-06\n\
         not-an-email,Bad,2026-01-06\n"
    )
    .into_bytes()
}

async fn run_worker(app: &TestApp) -> Option<(i64, app::engine::task::RunEnd)> {
    let worker = app::engine::worker::Worker::new(
        app.state.pool.clone(),
        app.state.uploads.storage.clone(),
        std::sync::Arc::new(app.clock.clone()),
    );
    tokio::task::spawn_blocking(move || worker.run_one(Default::default())).await.expect("join").expect("run")
}

/// The import form for Home Insurance UK from LeadGen Direct, mapping the file's three columns.
fn form(setup: &Value, upload_id: i64) -> Value {
    let campaign = setup["campaigns"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == "Home Insurance UK"))
        .expect("Home Insurance UK");
    let field = |key: &str| {
        campaign["fields"].as_array().and_then(|fs| fs.iter().find(|f| f["key"] == key)).expect("field")["id"]
            .clone()
    };
    let supplier = setup["suppliers"]
        .as_array()
        .and_then(|ss| ss.iter().find(|s| s[1] == "LeadGen Direct"))
        .expect("LeadGen Direct")[0]
        .clone();
    json!({"form": {
        "upload_id": upload_id,
        "campaign_id": campaign["id"],
        "supplier_id": supplier,
        "columns": [{"use": "field", "field": field("email")}, {"use": "field", "field": field("first_name")}, {"use": "received_at"}],
        "apply_caps": false,
    }})
}

#[tokio::test]
async fn only_owner_staff_import_leads() {
    let app = TestApp::new();
    let r = app.upload_to("/api/lead-uploads", "leads.csv", csv("x"), None, true).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    for who in ["client@sendback.test", "viewer@sendback.test"] {
        let cookie = app.login(who).await;
        let r = app.upload_to("/api/lead-uploads", "leads.csv", csv("x"), Some(&cookie), true).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{who}: {}", r.body);
        assert!(r.body.contains(OWNER_ONLY), "{who}: {}", r.body);
        for name in ["lead_import_setup"] {
            let r = app.call(name, &[], Some(&cookie)).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{who} {name}: {}", r.body);
        }
        let r = app.call_json("start_lead_import", json!({"form": {"upload_id": 1, "campaign_id": 1, "supplier_id": 1, "columns": [], "apply_caps": false}}), &cookie).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{who}: {}", r.body);
        let r = app.call("lead_import", &[("id", "1")], Some(&cookie)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{who}: {}", r.body);
    }
    assert_eq!(app.stored_files(), 0, "nothing kept");
}

#[tokio::test]
async fn an_owner_imports_leads_and_downloads_the_results() {
    let app = TestApp::new();
    let owner = app.login("owner@sendback.test").await;
    let r = app.upload_to("/api/lead-uploads", "history.csv", csv("h"), Some(&owner), true).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let upload: Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(upload["headers"], json!(["Email", "First name", "Received at"]));
    let upload_id = upload["upload_id"].as_i64().expect("upload id");
    let r = app.call("lead_import_setup", &[], Some(&owner)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let setup: Value = serde_json::from_str(&r.body).expect("json");
    let form = form(&setup, upload_id);

    let previews = app.preview_workers(1);
    let r = app.call_json("start_lead_import_preview", form.clone(), &owner).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let job: i64 = r.body.parse().expect("job id");
    let r = app.finished_preview("lead_import_preview", job, &owner).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    drop(previews);
    let answer: Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(answer["status"], "done", "{answer}");
    let preview = &answer["result"];
    assert_eq!(
        (preview["rows"].as_i64(), preview["would_create"].as_i64(), preview["refused"].as_i64()),
        (Some(4), Some(2), Some(2)),
        "{preview}"
    );

    // A supplier of the instance that does not send to the campaign is refused by name.
    let mut other = form.clone();
    let quote = setup["suppliers"]
        .as_array()
        .and_then(|ss| ss.iter().find(|s| s[1] == "Quote Partners"))
        .expect("supplier")[0]
        .clone();
    let car = setup["campaigns"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == "Car Insurance UK"))
        .expect("car")["id"]
        .clone();
    other["form"]["supplier_id"] = quote;
    other["form"]["campaign_id"] = car;
    other["form"]["columns"] = json!([{"use": "ignore"}, {"use": "ignore"}, {"use": "received_at"}]);
    let r = app.call_json("start_lead_import", other, &owner).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("Quote Partners does not send leads to Car Insurance UK"), "{}", r.body);

    let first = app.call_json("start_lead_import", form.clone(), &owner).await;
    let second = app.call_json("start_lead_import", form.clone(), &owner).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body, second.body, "one upload starts one import");
    let id: i64 = first.body.parse().expect("import id");
    assert_eq!(run_worker(&app).await, Some((id, app::engine::task::RunEnd::Completed)));

    let r = app.call("lead_import", &[("id", &id.to_string())], Some(&owner)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let view: Value = serde_json::from_str(&r.body).expect("json");
    assert_eq!(view["status"], "completed");
    assert_eq!(
        (view["rows_total"].as_i64(), view["leads_created"].as_i64(), view["rows_refused"].as_i64()),
        (Some(4), Some(2), Some(2))
    );

    let path = format!("/leads/import/{id}/results.csv");
    let r = app.get(&path, Some(&owner)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.headers[header::CONTENT_TYPE].to_str().expect("type").starts_with("text/csv"));
    let lines: Vec<&str> = r.body.lines().collect();
    assert_eq!(lines[0], "line,result,lead_id,uid,status,message");
    assert!(lines[1].starts_with("2,created,") && lines[1].ends_with(",Received,"), "{}", r.body);
    assert!(lines[3].starts_with("4,refused,,,,Duplicate Email (line 2)"), "{}", r.body);
    assert!(lines[4].starts_with("5,refused,,,,Invalid Email"), "{}", r.body);
    let setup_again: Value =
        serde_json::from_str(&app.call("lead_import_setup", &[], Some(&owner)).await.body).expect("json");
    assert_eq!(setup_again["recent"][0]["id"].as_i64(), Some(id));

    // Another instance's owner, and a client user: not theirs.
    let other_owner = app.login("other@sendback.test").await;
    assert_eq!(app.get(&path, Some(&other_owner)).await.status, StatusCode::NOT_FOUND);
    let r = app.call("lead_import", &[("id", &id.to_string())], Some(&other_owner)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = app.call_json("start_lead_import", form, &other_owner).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "another owner's upload: {}", r.body);
    let client = app.login("client@sendback.test").await;
    let r = app.get(&path, Some(&client)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains(OWNER_ONLY), "{}", r.body);
}
