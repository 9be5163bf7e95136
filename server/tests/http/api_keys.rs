//! Client users' API keys over HTTP (docs/DOMAIN.md §7): a client user with "Reject Leads as a
//! Client" makes a key on the API keys page (given out once, listed by its first characters) and
//! calls `GET /api/v1/me` with it; a missing, wrong, malformed or revoked key, or a session cookie
//! alone, gets one and the same 401; a revoked permission stops the key at the next request
//! (403); owner staff see and revoke every key of their instance but make none; another client's
//! user and another instance's owner find nothing; a key sending too fast gets 429 with
//! `Retry-After`; every key made or revoked is in the audit log.

use app::api::auth::{ApiLimits, set_api_limits};
use app::db::schema::*;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::TimeDelta;
use diesel::prelude::*;

use crate::support::{Reply, TestApp, databases};

fn json(r: &Reply) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("json answer: {} {}", r.status, r.body))
}

/// Makes a key named `name` as the signed-in client user; (key id, the key).
async fn create_key(app: &TestApp, cookie: &str, name: &str) -> (i64, String) {
    let r = app.call("create_api_key", &[("name", name)], Some(cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let made = json(&r);
    (made["id"].as_i64().expect("id"), made["key"].as_str().expect("key").to_owned())
}

/// `GET /api/v1/me`, with this `Authorization` header and cookie if given.
async fn me(app: &TestApp, authorization: Option<&str>, cookie: Option<&str>) -> Reply {
    let mut req = Request::get("/api/v1/me").header(header::HOST, "127.0.0.1:3000");
    if let Some(a) = authorization {
        req = req.header(header::AUTHORIZATION, a);
    }
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    app.send(req.body(Body::empty()).expect("request")).await
}

async fn me_with(app: &TestApp, key: &str) -> Reply {
    me(app, Some(&format!("Bearer {key}")), None).await
}

fn list(app_reply: &Reply) -> serde_json::Value {
    assert_eq!(app_reply.status, StatusCode::OK, "{}", app_reply.body);
    json(app_reply)
}

fn ids(list: &serde_json::Value) -> Vec<i64> {
    list["keys"].as_array().expect("keys").iter().filter_map(|k| k["id"].as_i64()).collect()
}

/// The audit log's rows about API keys (action, subject, acting user), oldest first.
fn key_audit(app: &TestApp) -> Vec<(String, String, Option<i64>)> {
    let mut conn = app.state.pool.get().expect("conn");
    audit_log::table
        .filter(audit_log::action.like("api_key.%"))
        .order(audit_log::id)
        .select((audit_log::action, audit_log::subject, audit_log::actor_user_id))
        .load(&mut conn)
        .expect("audit")
}

/// Puts the default limits back however the test ends.
struct DefaultLimitsAfter;

impl Drop for DefaultLimitsAfter {
    fn drop(&mut self) {
        set_api_limits(ApiLimits::default());
    }
}

#[tokio::test]
async fn a_client_makes_a_key_shown_once_and_calls_the_api_with_it() {
    for database in databases() {
        a_client_makes_a_key_shown_once_and_calls_the_api_with_it_on(TestApp::on(database)).await;
    }
}

async fn a_client_makes_a_key_shown_once_and_calls_the_api_with_it_on(app: TestApp) {
    let client = app.login("client@sendback.test").await;
    let (id, key) = create_key(&app, &client, "  CRM  ").await;
    let rest = key.strip_prefix("sbk_").expect("sbk_ prefix");
    assert_eq!(rest.len(), 43, "{key}");
    assert!(rest.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'), "{key}");

    // Listed by name and first characters, never the key itself.
    let r = app.call("api_keys", &[], Some(&client)).await;
    assert!(!r.body.contains(&key), "{}", r.body);
    let listed = list(&r);
    assert_eq!(listed["may_create"], true);
    let k = &listed["keys"][0];
    assert_eq!((k["id"].as_i64(), k["name"].as_str()), (Some(id), Some("CRM")));
    assert_eq!(k["shown"].as_str(), Some(format!("{}…", &key[..12]).as_str()));
    assert!(k["last_used_at"].is_null() && k["holder"].is_null() && k["revoked"] == false);
    // Only its hash is stored.
    let stored: Vec<String> = {
        let mut conn = app.state.pool.get().expect("conn");
        api_keys::table.select(api_keys::secret_hash).load(&mut conn).expect("keys")
    };
    assert!(stored.iter().all(|h| !h.contains(rest)));

    let r = me_with(&app, &key).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let answer = json(&r);
    assert_eq!(answer["user"]["id"].as_i64(), Some(app.user_id("client@sendback.test")));
    assert_eq!(answer["user"]["email"], "client@sendback.test");
    assert_eq!(answer["user"]["name"], "Cara Client");
    assert_eq!(answer["client"]["id"].as_i64(), Some(app.client_id("Acme Insurance")));
    assert_eq!(answer["client"]["name"], "Acme Insurance");
    // The use is noted.
    let listed = list(&app.call("api_keys", &[], Some(&client)).await);
    assert!(listed["keys"][0]["last_used_at"].is_string(), "{listed}");
    // The page lists it too.
    let r = app.get("/settings/api-keys", Some(&client)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("CRM") && !r.body.contains(&key));

    let client_id = app.user_id("client@sendback.test");
    assert_eq!(
        key_audit(&app),
        [("api_key.create".to_owned(), "client@sendback.test".to_owned(), Some(client_id))]
    );
}

#[tokio::test]
async fn missing_wrong_malformed_and_revoked_keys_and_cookies_get_the_same_401() {
    for database in databases() {
        missing_wrong_malformed_and_revoked_keys_and_cookies_get_the_same_401_on(TestApp::on(database)).await;
    }
}

async fn missing_wrong_malformed_and_revoked_keys_and_cookies_get_the_same_401_on(app: TestApp) {
    let client = app.login("client@sendback.test").await;
    let (id, key) = create_key(&app, &client, "CRM").await;
    assert_eq!(me_with(&app, &key).await.status, StatusCode::OK);

    let refused = me(&app, None, None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(json(&refused)["result"], "error");
    assert_eq!(json(&refused)["error"]["code"], "INVALID_KEY");
    let wrong = format!("sbk_{}", "A".repeat(43));
    let attempts = [
        me_with(&app, &wrong).await,
        me_with(&app, "not-a-key").await,
        me_with(&app, &"x".repeat(5000)).await,
        me(&app, Some(&format!("Basic {key}")), None).await,
        // A signed-in session counts for nothing on the API.
        me(&app, None, Some(&client)).await,
    ];
    for r in &attempts {
        assert_eq!((r.status, r.body.as_str()), (refused.status, refused.body.as_str()));
    }

    let r = app.call("revoke_api_key", &[("id", &id.to_string())], Some(&client)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = me_with(&app, &key).await;
    assert_eq!((r.status, r.body.as_str()), (refused.status, refused.body.as_str()));
    assert_eq!(list(&app.call("api_keys", &[], Some(&client)).await)["keys"][0]["revoked"], true);
    // Revoking again changes nothing.
    assert_eq!(
        app.call("revoke_api_key", &[("id", &id.to_string())], Some(&client)).await.status,
        StatusCode::OK
    );
    let actions: Vec<String> = key_audit(&app).into_iter().map(|(a, _, _)| a).collect();
    assert_eq!(actions, ["api_key.create", "api_key.revoke"]);
}

#[tokio::test]
async fn a_revoked_permission_stops_the_key_at_the_next_request() {
    for database in databases() {
        a_revoked_permission_stops_the_key_at_the_next_request_on(TestApp::on(database)).await;
    }
}

async fn a_revoked_permission_stops_the_key_at_the_next_request_on(app: TestApp) {
    let client = app.login("client@sendback.test").await;
    let (_, key) = create_key(&app, &client, "CRM").await;
    let owner = app.login("owner@sendback.test").await;
    let client_id = app.user_id("client@sendback.test").to_string();
    let grant = |granted: &'static str| {
        let (owner, client_id) = (owner.clone(), client_id.clone());
        let app = &app;
        async move {
            let args = [("user_id", client_id.as_str()), ("granted", granted)];
            let r = app.call("set_reject_permission", &args, Some(&owner)).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
    };
    grant("false").await;
    let r = me_with(&app, &key).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(json(&r)["error"]["code"], "FORBIDDEN");
    // Nor may they manage keys.
    assert_eq!(app.call("api_keys", &[], Some(&client)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.call("create_api_key", &[("name", "X")], Some(&client)).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app.get("/settings/api-keys", Some(&client)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("Reject Leads as a Client"), "{}", r.body);

    grant("true").await;
    assert_eq!(me_with(&app, &key).await.status, StatusCode::OK);
}

#[tokio::test]
async fn owner_staff_see_and_revoke_every_key_of_their_instance_and_no_one_else_does() {
    for database in databases() {
        owner_staff_see_and_revoke_every_key_of_their_instance_and_no_one_else_does_on(TestApp::on(database))
            .await;
    }
}

async fn owner_staff_see_and_revoke_every_key_of_their_instance_and_no_one_else_does_on(app: TestApp) {
    let client = app.login("client@sendback.test").await;
    let (id, key) = create_key(&app, &client, "CRM").await;
    let bolt = app.login("bolt@sendback.test").await;
    let (bolt_id, _) = create_key(&app, &bolt, "Bolt CRM").await;

    // Owner staff: every key, with whose it is; they make none.
    let owner = app.login("owner@sendback.test").await;
    let listed = list(&app.call("api_keys", &[], Some(&owner)).await);
    assert_eq!(listed["may_create"], false);
    assert_eq!(ids(&listed), [bolt_id, id]);
    assert_eq!(listed["keys"][1]["holder"], "Cara Client (client@sendback.test)");
    let r = app.call("create_api_key", &[("name", "Mine")], Some(&owner)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    // Another client's user: only their own keys; Acme's key is not found.
    assert_eq!(ids(&list(&app.call("api_keys", &[], Some(&bolt)).await)), [bolt_id]);
    let r = app.call("revoke_api_key", &[("id", &id.to_string())], Some(&bolt)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    // Another instance's owner: nothing of this instance.
    let other = app.login("other@sendback.test").await;
    assert_eq!(ids(&list(&app.call("api_keys", &[], Some(&other)).await)), Vec::<i64>::new());
    let r = app.call("revoke_api_key", &[("id", &id.to_string())], Some(&other)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    // A client user without the permission, and nobody signed in.
    let viewer = app.login("viewer@sendback.test").await;
    assert_eq!(app.call("api_keys", &[], Some(&viewer)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.call("api_keys", &[], None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me_with(&app, &key).await.status, StatusCode::OK, "the refusals changed nothing");

    let r = app.call("revoke_api_key", &[("id", &id.to_string())], Some(&owner)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(me_with(&app, &key).await.status, StatusCode::UNAUTHORIZED);
    let owner_id = app.user_id("owner@sendback.test");
    assert_eq!(
        key_audit(&app).last(),
        Some(&("api_key.revoke".to_owned(), "client@sendback.test".to_owned(), Some(owner_id)))
    );
}

#[tokio::test]
async fn a_key_name_is_required_short_and_plain() {
    for database in databases() {
        a_key_name_is_required_short_and_plain_on(TestApp::on(database)).await;
    }
}

async fn a_key_name_is_required_short_and_plain_on(app: TestApp) {
    let client = app.login("client@sendback.test").await;
    for name in ["   ", &"n".repeat(121), "CRM\tsync"] {
        let r = app.call("create_api_key", &[("name", name)], Some(&client)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}: {}", r.body);
        assert!(r.body.contains("\"name\""), "{}", r.body);
    }
    create_key(&app, &client, &"n".repeat(120)).await;
    assert_eq!(key_audit(&app).len(), 1);
}

#[tokio::test]
async fn a_key_sending_too_fast_is_told_when_to_come_back() {
    for database in databases() {
        a_key_sending_too_fast_is_told_when_to_come_back_on(TestApp::on(database)).await;
    }
}

async fn a_key_sending_too_fast_is_told_when_to_come_back_on(app: TestApp) {
    let _reset = DefaultLimitsAfter;
    set_api_limits(ApiLimits { per_second: 1, burst: 3 });
    let client = app.login("client@sendback.test").await;
    let (_, key) = create_key(&app, &client, "CRM").await;
    let (_, other_key) = create_key(&app, &client, "Other").await;
    for _ in 0..3 {
        assert_eq!(me_with(&app, &key).await.status, StatusCode::OK);
    }
    let r = me_with(&app, &key).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert_eq!(json(&r)["error"]["code"], "RATE_LIMITED");
    let wait: u64 = r.headers[header::RETRY_AFTER].to_str().expect("ascii").parse().expect("seconds");
    assert!(wait >= 1, "{wait}");
    // Each key has its own bucket.
    assert_eq!(me_with(&app, &other_key).await.status, StatusCode::OK);
    // After the wait, the key works again.
    app.clock.advance(TimeDelta::seconds(i64::try_from(wait).expect("small")));
    assert_eq!(me_with(&app, &key).await.status, StatusCode::OK);
}
