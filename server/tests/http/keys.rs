//! Suppliers' intake keys over HTTP, as the Suppliers page uses them: the three server functions
//! refuse a request without a session (401) and a client user (403), answer another instance's
//! owner about this instance's supplier and key with 404 and change nothing; the owner makes a
//! key (the only time it is given out), sees it listed by its first characters only, posts a
//! lead with it, and revokes it, after which the key is refused.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use diesel::prelude::*;

use crate::support::{Reply, TestApp};
use app::db::audit::Actor;
use app::db::schema::*;

/// LeadGen Direct and Home Insurance UK, a campaign the demo lets it send to.
fn supplier_and_campaign(app: &TestApp) -> (i64, i64) {
    let mut conn = app.state.pool.get().expect("conn");
    let supplier: i64 = suppliers::table
        .filter(suppliers::name.eq("LeadGen Direct"))
        .select(suppliers::id)
        .first(&mut conn)
        .expect("supplier");
    let campaign: i64 = campaigns::table
        .filter(campaigns::name.eq("Home Insurance UK"))
        .select(campaigns::id)
        .first(&mut conn)
        .expect("campaign");
    let linked: i64 = supplier_campaigns::table
        .filter(
            supplier_campaigns::supplier_id.eq(supplier).and(supplier_campaigns::campaign_id.eq(campaign)),
        )
        .count()
        .get_result(&mut conn)
        .expect("link");
    assert_eq!(linked, 1, "the demo lets LeadGen Direct send to Home Insurance UK");
    (supplier, campaign)
}

/// Everything the calls could change: the keys (and whether each is revoked) and the audit log.
#[derive(Debug, PartialEq)]
struct Snapshot {
    keys: Vec<(i64, bool)>,
    audit: i64,
}

fn snapshot(app: &TestApp) -> Snapshot {
    let mut conn = app.state.pool.get().expect("conn");
    let keys: Vec<(i64, Option<chrono::NaiveDateTime>)> = api_keys::table
        .order(api_keys::id)
        .select((api_keys::id, api_keys::revoked_at))
        .load(&mut conn)
        .expect("keys");
    let audit: i64 = audit_log::table.count().get_result(&mut conn).expect("audit");
    Snapshot { keys: keys.into_iter().map(|(id, r)| (id, r.is_some())).collect(), audit }
}

fn json(r: &Reply) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("json answer: {} {}", r.status, r.body))
}

/// Posts a lead to `POST /api/v1/lead`, form-encoded, as a supplier's software does.
async fn post_lead(app: &TestApp, args: &[(&str, &str)]) -> (StatusCode, serde_json::Value) {
    let enc = |s: &str| app::components::percent_encode(s, b"");
    let body = args.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
    let req = Request::post("/api/v1/lead")
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request");
    let r = app.send(req).await;
    (r.status, json(&r))
}

/// The listed key with this id.
fn listed(list: &serde_json::Value, id: i64) -> serde_json::Value {
    list.as_array()
        .expect("array")
        .iter()
        .find(|k| k["id"].as_i64() == Some(id))
        .cloned()
        .unwrap_or_else(|| panic!("key {id} is listed: {list}"))
}

#[tokio::test]
async fn key_functions_check_session_role_and_tenant() {
    let app = TestApp::new();
    let (supplier, _) = supplier_and_campaign(&app);
    let (key_id, key) = {
        let mut conn = app.state.pool.get().expect("conn");
        let owner = app.user_id("owner@sendback.test");
        let instance: i64 =
            users::table.find(owner).select(users::instance_id).first(&mut conn).expect("instance");
        let actor = Actor { instance_id: instance, user_id: Some(owner) };
        let now = app::clock::Clock::now(&app.clock);
        app::db::keys::create_supplier_key(&mut conn, actor, supplier, now).expect("key")
    };
    let client = app.login("client@sendback.test").await;
    let other = app.login("other@sendback.test").await;
    let before = snapshot(&app);

    let (supplier, key_id) = (supplier.to_string(), key_id.to_string());
    let calls: [(&str, Vec<(&str, &str)>); 3] = [
        ("supplier_keys", vec![]),
        ("create_supplier_key", vec![("supplier_id", &supplier)]),
        ("revoke_supplier_key", vec![("key_id", &key_id)]),
    ];
    for (name, args) in &calls {
        let r = app.call(name, args, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name} without a session: {}", r.body);
        let r = app.call(name, args, Some(&client)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{name} as a client: {}", r.body);
        assert!(!r.body.contains(&key), "{name} as a client gives nothing away");
    }
    for (name, args) in &calls[1..] {
        let r = app.call(name, args, Some(&other)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{name} from another instance: {}", r.body);
    }
    // The other instance's list is its own: none of this instance's keys.
    let r = app.call("supplier_keys", &[], Some(&other)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(json(&r), serde_json::json!([]), "another instance lists none of these keys");
    assert_eq!(snapshot(&app), before, "refused calls changed nothing");

    // The key still works: the refused revoke did not revoke it.
    let mut conn = app.state.pool.get().expect("conn");
    let holder = app::db::keys::holder(&mut conn, &key, app::clock::Clock::now(&app.clock)).expect("holder");
    assert!(holder.is_some(), "the key is not revoked");
}

#[tokio::test]
async fn the_owner_makes_a_key_posts_a_lead_with_it_and_revokes_it() {
    let app = TestApp::new();
    let (supplier, campaign) = supplier_and_campaign(&app);
    let owner = app.login("owner@sendback.test").await;
    let (sid, cid) = (supplier.to_string(), campaign.to_string());

    let r = app.call("create_supplier_key", &[("supplier_id", &sid)], Some(&owner)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let made = json(&r);
    let key = made["key"].as_str().expect("the key").to_owned();
    let key_id = made["id"].as_i64().expect("the key's id");
    assert!(key.starts_with("sbk_") && key.len() > 20, "{key}");

    // Listed by its first characters, never whole.
    let r = app.call("supplier_keys", &[], Some(&owner)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.body.contains(&key), "the list never holds the key: {}", r.body);
    let row = listed(&json(&r), key_id);
    let shown = format!("{}…", &key[..12]);
    assert_eq!(row["shown"], shown.as_str(), "{row}");
    assert_eq!(row["supplier_id"], supplier, "{row}");
    assert_eq!(row["revoked"], false, "{row}");
    assert_eq!(row["last_used_at"], serde_json::Value::Null, "{row}");
    assert!(row["created_at"].as_str().is_some_and(|t| t.len() == "YYYY-MM-DD HH:MM".len()), "{row}");

    // A lead posted with it is taken.
    let lead = [("cid", cid.as_str()), ("sid", &sid), ("key", &key), ("email", "keys.http@example.com")];
    let (status, body) = post_lead(&app, &lead).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "created", "{body}");
    let r = app.call("supplier_keys", &[], Some(&owner)).await;
    let row = listed(&json(&r), key_id);
    assert!(row["last_used_at"].as_str().is_some(), "its use is noted: {row}");

    // Revoked: listed as such, and refused at once.
    let r = app.call("revoke_supplier_key", &[("key_id", &key_id.to_string())], Some(&owner)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.call("supplier_keys", &[], Some(&owner)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.body.contains(&key), "{}", r.body);
    assert_eq!(listed(&json(&r), key_id)["revoked"], true);
    let lead = [("cid", cid.as_str()), ("sid", &sid), ("key", &key), ("email", "keys.again@example.com")];
    let (status, body) = post_lead(&app, &lead).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "INVALID_KEY", "{body}");

    // Both changes are in the audit log.
    let mut conn = app.state.pool.get().expect("conn");
    let actions: Vec<String> = audit_log::table
        .filter(audit_log::action.like("key.%"))
        .order(audit_log::id)
        .select(audit_log::action)
        .load(&mut conn)
        .expect("audit");
    assert_eq!(actions, ["key.create", "key.revoke"]);
}
