//! Tenant isolation: another instance's ids are not found and change nothing; lists are scoped.

use axum::http::StatusCode;

use crate::support::{TestApp, all_leads};

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
