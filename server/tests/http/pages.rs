//! Server-rendered pages: a session is needed, nothing is cached, and a lead page outside the
//! user's scope is the same "not found" as a lead that does not exist.

use app::db::schema::*;
use axum::http::{StatusCode, header};
use diesel::prelude::*;

use crate::support::TestApp;

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
async fn pages_carry_a_content_security_policy_with_a_fresh_nonce() {
    let app = TestApp::new();
    let client = app.login("client@sendback.test").await;
    let nonce_of = |r: &crate::support::Reply| -> String {
        let csp = r.headers.get(header::CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()).expect("csp");
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        let nonce = csp.split("'nonce-").nth(1).and_then(|s| s.split('\'').next()).expect("nonce").to_owned();
        // Every inline script of the page carries it.
        for script in r.body.split("<script").skip(1) {
            let tag = script.split('>').next().unwrap_or_default();
            if !tag.contains("src=") {
                assert!(
                    tag.contains(&format!("nonce=\"{nonce}\"")),
                    "script without the nonce: <script{tag}>"
                );
            }
        }
        nonce
    };
    let a = app.get("/leads", Some(&client)).await;
    let b = app.get("/leads", Some(&client)).await;
    assert_ne!(nonce_of(&a), nonce_of(&b), "a nonce is never reused");
    nonce_of(&app.get("/login", None).await);
}

#[tokio::test]
async fn oversized_or_malformed_server_function_bodies_are_client_errors() {
    let app = TestApp::new();
    let big = "x".repeat(100 * 1024);
    let r = app.call("login", &[("email", big.as_str()), ("password", "x")], None).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", &r.body[..r.body.len().min(200)]);
    // Arguments that are not what the function takes: 400, not 500.
    let client = app.login("client@sendback.test").await;
    let r = app.call_json("start_rejection_task", serde_json::json!({ "form": "not a form" }), &client).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = app.call("login", &[("password", "only a password")], None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}
