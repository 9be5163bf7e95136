//! The machine API's lookups over HTTP (docs/DOMAIN.md §7), on SQLite and on PostgreSQL when
//! `TEST_POSTGRES_URL` is set: `GET /api/v1/campaigns` lists the key user's client's campaigns
//! with their deduplicated fields; `GET /api/v1/leads/{lead_id}` shows one of the client's leads
//! (status, window, history oldest first). Another client's or another instance's key finds
//! nothing — a lead of theirs is answered as a missing one — and revoked keys, missing keys and
//! users without "Reject Leads as a Client" are refused.

use app::db::audit::Actor;
use app::db::schema::*;
use app::db::users::{NewClientUser, create_client_user, load_context, set_reject_permission};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{Days, NaiveDateTime, SecondsFormat, TimeDelta};
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::support::{Reply, TestApp, databases};

fn body(r: &Reply) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("json answer: {} {}", r.status, r.body))
}

/// `GET path` with `Authorization: Bearer key` when a key is given.
async fn get(app: &TestApp, path: &str, key: Option<&str>) -> Reply {
    let mut req = Request::get(path).header(header::HOST, "127.0.0.1:3000");
    if let Some(key) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    app.send(req.body(Body::empty()).expect("request")).await
}

async fn lead(app: &TestApp, id: &str, key: Option<&str>) -> Reply {
    get(app, &format!("/api/v1/leads/{id}"), key).await
}

/// Makes a key on the API keys page as `email` (a client user holding the permission); (id, key).
async fn key_of(app: &TestApp, email: &str) -> (i64, String) {
    let cookie = app.login(email).await;
    let r = app.call("create_api_key", &[("name", "CRM")], Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?} {}", app.database, r.body);
    let made = body(&r);
    (made["id"].as_i64().expect("id"), made["key"].as_str().expect("key").to_owned())
}

/// A key of a new client user of Zenith Loans, in the demo's other instance, holding the
/// permission.
fn other_instance_key(app: &TestApp) -> String {
    let mut conn = app.state.pool.get().expect("conn");
    let now = app::clock::Clock::now(&app.clock);
    let owner = load_context(&mut conn, app.user_id("other@sendback.test")).expect("load").expect("owner");
    let new = NewClientUser {
        email: "zoe@zenith.test",
        name: "Zoe Zenith",
        client_id: app.client_id("Zenith Loans"),
        password_hash: "not used: this user never signs in",
    };
    let id = create_client_user(&mut conn, &owner, &new, now).expect("client user");
    assert!(set_reject_permission(&mut conn, &owner, id, true, now).expect("grant"));
    let holder = load_context(&mut conn, id).expect("load").expect("holder");
    let (_, key) =
        app::db::keys::create_client_key(&mut conn, Actor::from(&owner), &holder, "CRM", now).expect("key");
    key
}

fn assert_error(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let answer = body(r);
    assert_eq!(answer["result"], "error", "{answer}");
    assert_eq!(answer["error"]["code"], code, "{answer}");
    assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{answer}");
}

/// The names `GET /api/v1/campaigns` lists for `key`.
async fn campaign_names(app: &TestApp, key: &str) -> Vec<String> {
    let r = get(app, "/api/v1/campaigns", Some(key)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    body(&r)["campaigns"]
        .as_array()
        .expect("campaigns")
        .iter()
        .map(|c| c["name"].as_str().expect("name").to_owned())
        .collect()
}

fn campaign_id(app: &TestApp, name: &str) -> i64 {
    let mut conn = app.state.pool.get().expect("conn");
    campaigns::table
        .filter(campaigns::name.eq(name))
        .select(campaigns::id)
        .first(&mut conn)
        .expect("campaign")
}

/// The id of the field `key` of campaign `campaign`.
fn field_id(app: &TestApp, campaign: &str, key: &str) -> i64 {
    let mut conn = app.state.pool.get().expect("conn");
    campaign_fields::table
        .filter(campaign_fields::campaign_id.eq(campaign_id(app, campaign)))
        .filter(campaign_fields::field_key.eq(key))
        .select(campaign_fields::id)
        .first(&mut conn)
        .expect("field")
}

/// The first lead of `campaign` received in the time `filter` accepts.
fn lead_of(app: &TestApp, campaign: &str, filter: impl Fn(NaiveDateTime) -> bool) -> i64 {
    let mut conn = app.state.pool.get().expect("conn");
    let rows: Vec<(i64, NaiveDateTime)> = leads::table
        .inner_join(campaigns::table)
        .filter(campaigns::name.eq(campaign))
        .select((leads::id, leads::received_at))
        .order(leads::id)
        .load(&mut conn)
        .expect("leads");
    rows.into_iter().find(|(_, at)| filter(*at)).map(|(id, _)| id).expect("a matching lead")
}

fn rfc3339(at: NaiveDateTime) -> String {
    at.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The lead's history as the API should show it, oldest first, from the database.
fn expected_history(app: &TestApp, id: i64) -> Value {
    let mut conn = app.state.pool.get().expect("conn");
    type Row = (NaiveDateTime, Option<String>, String, Option<String>, String, Option<String>);
    let rows: Vec<Row> = lead_status_history::table
        .left_join(users::table.on(users::id.nullable().eq(lead_status_history::actor_user_id)))
        .filter(lead_status_history::lead_id.eq(id))
        .order((lead_status_history::changed_at, lead_status_history::id))
        .select((
            lead_status_history::changed_at,
            lead_status_history::from_status,
            lead_status_history::to_status,
            lead_status_history::reason,
            lead_status_history::source,
            users::name.nullable(),
        ))
        .load(&mut conn)
        .expect("history");
    rows.into_iter()
        .map(|(at, from, to, reason, source, by)| {
            json!({ "at": rfc3339(at), "from": from, "to": to, "reason": reason, "source": source, "by": by })
        })
        .collect()
}

/// (uid, status, supplier id, supplier name, received at) of a lead.
fn lead_row(app: &TestApp, id: i64) -> (String, String, i64, String, NaiveDateTime) {
    let mut conn = app.state.pool.get().expect("conn");
    leads::table
        .inner_join(suppliers::table)
        .filter(leads::id.eq(id))
        .select((leads::uid, leads::status, suppliers::id, suppliers::name, leads::received_at))
        .first(&mut conn)
        .expect("lead")
}

#[tokio::test]
async fn campaigns_lists_the_key_clients_campaigns_with_their_deduplicated_fields() {
    for database in databases() {
        let app = TestApp::on(database);
        let (_, key) = key_of(&app, "client@sendback.test").await;
        let r = get(&app, "/api/v1/campaigns", Some(&key)).await;
        assert_eq!(r.status, StatusCode::OK, "{database:?}: {}", r.body);
        let field = |key: &str, label: &str, kind: &str| json!({ "id": field_id(&app, "Home Insurance UK", key), "key": key, "label": label, "kind": kind });
        assert_eq!(
            body(&r),
            json!({ "campaigns": [
                {
                    "id": campaign_id(&app, "Car Insurance UK"),
                    "name": "Car Insurance UK",
                    "max_rejection_days": 30,
                    "deduplicated_fields": [],
                },
                {
                    "id": campaign_id(&app, "Home Insurance UK"),
                    "name": "Home Insurance UK",
                    "max_rejection_days": 7,
                    "deduplicated_fields": [field("email", "Email", "email"), field("phone", "Phone", "phone")],
                },
                {
                    "id": campaign_id(&app, "Pet Insurance UK"),
                    "name": "Pet Insurance UK",
                    "max_rejection_days": null,
                    "deduplicated_fields": [],
                },
            ] }),
            "{database:?}"
        );
    }
}

#[tokio::test]
async fn a_lead_shows_its_status_window_and_history_and_the_api_rejection() {
    for database in databases() {
        let app = TestApp::on(database);
        let (_, key) = key_of(&app, "client@sendback.test").await;
        let id = app.fresh_leads(1)[0];
        let (uid, status, supplier_id, supplier, received_at) = lead_row(&app, id);
        assert_eq!(status, "received");
        let until = received_at.date().checked_add_days(Days::new(7)).expect("date").to_string();

        let r = lead(&app, &id.to_string(), Some(&key)).await;
        assert_eq!(r.status, StatusCode::OK, "{database:?}: {}", r.body);
        let expected = |status: &str, reason: Option<&str>| {
            json!({
                "lead_id": id,
                "uid": uid,
                "status": status,
                "status_reason": reason,
                "campaign": { "id": campaign_id(&app, "Home Insurance UK"), "name": "Home Insurance UK" },
                "supplier": { "id": supplier_id, "name": supplier },
                "received_at": rfc3339(received_at),
                "inside_window_until": until,
                "inside_window": true,
                "history": expected_history(&app, id),
            })
        };
        assert_eq!(body(&r), expected("received", None), "{database:?}");

        let req = Request::post(format!("/api/v1/lead-status/reject/{id}"))
            .header(header::HOST, "127.0.0.1:3000")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, format!("Bearer {key}"));
        let r = app.send(req.body(Body::from("reason=Wrong%20number")).expect("request")).await;
        assert_eq!(r.status, StatusCode::OK, "{database:?}: {}", r.body);

        let r = lead(&app, &id.to_string(), Some(&key)).await;
        assert_eq!(r.status, StatusCode::OK, "{database:?}: {}", r.body);
        let answer = body(&r);
        assert_eq!(answer, expected("client_rejected", Some("Wrong number")), "{database:?}");
        let last = answer["history"].as_array().and_then(|h| h.last()).cloned().expect("a history row");
        assert_eq!(
            (&last["from"], &last["to"], &last["reason"], &last["source"], &last["by"]),
            (
                &json!("received"),
                &json!("client_rejected"),
                &json!("Wrong number"),
                &json!("user"),
                &json!("Cara Client")
            ),
            "{database:?}"
        );
    }
}

#[tokio::test]
async fn a_lead_outside_its_window_or_without_one_says_so() {
    for database in databases() {
        let app = TestApp::on(database);
        let (_, key) = key_of(&app, "client@sendback.test").await;
        let now = app::clock::Clock::now(&app.clock);

        let old = lead_of(&app, "Home Insurance UK", |at| at < now - TimeDelta::days(9));
        let received = lead_row(&app, old).4;
        let answer = body(&lead(&app, &old.to_string(), Some(&key)).await);
        let until = received.date().checked_add_days(Days::new(7)).expect("date").to_string();
        assert_eq!(
            (&answer["inside_window_until"], &answer["inside_window"]),
            (&json!(until), &json!(false))
        );

        let pet = lead_of(&app, "Pet Insurance UK", |_| true);
        let answer = body(&lead(&app, &pet.to_string(), Some(&key)).await);
        assert_eq!(answer["lead_id"], pet, "{database:?}: {answer}");
        assert!(answer["inside_window_until"].is_null() && answer["inside_window"].is_null(), "{answer}");
    }
}

#[tokio::test]
async fn another_clients_or_instances_key_finds_nothing_of_acme() {
    for database in databases() {
        let app = TestApp::on(database);
        let (_, acme) = key_of(&app, "client@sendback.test").await;
        let (_, bolt) = key_of(&app, "bolt@sendback.test").await;
        let zenith = other_instance_key(&app);
        let acme_lead = app.fresh_leads(1)[0].to_string();
        let bolt_lead = lead_of(&app, "Energy Switch UK", |_| true).to_string();
        let zenith_lead = lead_of(&app, "Loans UK", |_| true).to_string();

        assert_eq!(
            campaign_names(&app, &acme).await,
            ["Car Insurance UK", "Home Insurance UK", "Pet Insurance UK"],
            "{database:?}"
        );
        assert_eq!(campaign_names(&app, &bolt).await, ["Energy Switch UK"], "{database:?}");
        assert_eq!(campaign_names(&app, &zenith).await, ["Loans UK"], "{database:?}");

        // A missing lead, and one that is not a number: the answer every foreign lead gets.
        let missing = lead(&app, "999999999", Some(&acme)).await;
        assert_error(&missing, StatusCode::NOT_FOUND, "LEAD_NOT_FOUND");
        assert_eq!(lead(&app, "abc", Some(&acme)).await.body, missing.body);

        for (key, own, foreign) in [
            (&acme, &acme_lead, [&bolt_lead, &zenith_lead]),
            (&bolt, &bolt_lead, [&acme_lead, &zenith_lead]),
            (&zenith, &zenith_lead, [&acme_lead, &bolt_lead]),
        ] {
            let r = lead(&app, own, Some(key)).await;
            assert_eq!(r.status, StatusCode::OK, "{database:?} lead {own}: {}", r.body);
            for other in foreign {
                let r = lead(&app, other, Some(key)).await;
                assert_eq!((r.status, &r.body), (missing.status, &missing.body), "{database:?} lead {other}");
            }
        }
    }
}

#[tokio::test]
async fn missing_and_revoked_keys_get_401_and_a_user_without_the_permission_403() {
    for database in databases() {
        let app = TestApp::on(database);
        let (id, key) = key_of(&app, "client@sendback.test").await;
        let lead_id = app.fresh_leads(1)[0].to_string();
        let paths = ["/api/v1/campaigns".to_owned(), format!("/api/v1/leads/{lead_id}")];
        for path in &paths {
            assert_eq!(get(&app, path, Some(&key)).await.status, StatusCode::OK, "{database:?} {path}");
            assert_error(&get(&app, path, None).await, StatusCode::UNAUTHORIZED, "INVALID_KEY");
            assert_error(
                &get(&app, path, Some("sbk_unknown")).await,
                StatusCode::UNAUTHORIZED,
                "INVALID_KEY",
            );
        }

        // The permission taken away: 403 at the next request.
        let owner = app.login("owner@sendback.test").await;
        let client = app.user_id("client@sendback.test").to_string();
        let r = app
            .call(
                "set_reject_permission",
                &[("user_id", client.as_str()), ("granted", "false")],
                Some(&owner),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        for path in &paths {
            assert_error(&get(&app, path, Some(&key)).await, StatusCode::FORBIDDEN, "FORBIDDEN");
        }

        // The key revoked (by owner staff): 401, as an unknown key.
        let r = app.call("revoke_api_key", &[("id", id.to_string().as_str())], Some(&owner)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        for path in &paths {
            assert_error(&get(&app, path, Some(&key)).await, StatusCode::UNAUTHORIZED, "INVALID_KEY");
        }
    }
}
