//! Permissions and users: the Reject Leads as a Client permission (checks, grants, audit), owner-only
//! functions and owners creating client users.

use app::db::schema::*;
use axum::http::StatusCode;
use diesel::prelude::*;

use crate::support::TestApp;

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
    let setup: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    let names: Vec<&str> =
        setup["campaigns"].as_array().expect("array").iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["Car Insurance UK", "Home Insurance UK", "Pet Insurance UK"]);
    // The form states the configured upload limit (the default here).
    assert_eq!(setup["max_upload_bytes"], 256 * 1024 * 1024);
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
    assert!(r.body.contains("cannot be used"), "{}", r.body);
    // An address of another instance gets exactly the same answer: nothing says it has an
    // account there.
    let elsewhere = [
        ("email", "other@sendback.test"),
        ("name", "Dup"),
        ("client_id", acme.as_str()),
        ("password", "long enough password"),
    ];
    let other = app.call("create_client_user", &elsewhere, Some(&owner)).await;
    assert_eq!((other.status, other.body.as_str()), (r.status, r.body.as_str()));
    assert!(!other.body.contains("exists"), "{}", other.body);

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
