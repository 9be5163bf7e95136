//! The Databowl-compatible single-lead Reject API over HTTP (docs/DOMAIN.md §7):
//! `POST /api/v1/lead-status/reject/{lead_id}` with an API key rejects one lead of the key user's
//! client by the rules of a task row — window, statuses, history naming the key's user, and
//! optionally affiliate events and cap give-backs — and answers each refusal with its code.

use app::db::schema::*;
use app::domain::caps::CapPeriod;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use crate::support::{Reply, TestApp, databases};

fn json(r: &Reply) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("json answer: {} {}", r.status, r.body))
}

/// A key of client@sendback.test (Acme Insurance), made on the API keys page.
async fn client_key(app: &TestApp) -> String {
    let cookie = app.login("client@sendback.test").await;
    let r = app.call("create_api_key", &[("name", "CRM")], Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    json(&r)["key"].as_str().expect("key").to_owned()
}

fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            let enc: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{k}={enc}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Rejects `lead` with the key in `Authorization: Bearer` and these form fields.
async fn reject(app: &TestApp, key: &str, lead: &str, fields: &[(&str, &str)]) -> Reply {
    let req = Request::post(format!("/api/v1/lead-status/reject/{lead}"))
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, format!("Bearer {key}"));
    app.send(req.body(Body::from(form(fields))).expect("request")).await
}

fn assert_error(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let body = json(r);
    assert_eq!(body["result"], "error", "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

/// (status, status_reason, cap_released) of a lead.
fn lead_state(app: &TestApp, id: i64) -> (String, Option<String>, bool) {
    let mut conn = app.state.pool.get().expect("conn");
    leads::table
        .find(id)
        .select((leads::status, leads::status_reason, leads::cap_released))
        .first(&mut conn)
        .expect("lead")
}

/// The lead's history rows: (from, to, reason, source, actor, task).
type History = (Option<String>, String, Option<String>, String, Option<i64>, Option<i64>);

fn history(app: &TestApp, id: i64) -> Vec<History> {
    let mut conn = app.state.pool.get().expect("conn");
    lead_status_history::table
        .filter(lead_status_history::lead_id.eq(id))
        .order(lead_status_history::id)
        .select((
            lead_status_history::from_status,
            lead_status_history::to_status,
            lead_status_history::reason,
            lead_status_history::source,
            lead_status_history::actor_user_id,
            lead_status_history::task_id,
        ))
        .load(&mut conn)
        .expect("history")
}

/// The first lead of `campaign` matching `filter` on (status, received_at).
fn lead_of(app: &TestApp, campaign: &str, filter: impl Fn(&str, NaiveDateTime) -> bool) -> i64 {
    let mut conn = app.state.pool.get().expect("conn");
    let rows: Vec<(i64, String, NaiveDateTime)> = leads::table
        .inner_join(campaigns::table)
        .filter(campaigns::name.eq(campaign))
        .select((leads::id, leads::status, leads::received_at))
        .order(leads::id)
        .load(&mut conn)
        .expect("leads");
    rows.into_iter().find(|(_, s, at)| filter(s, *at)).map(|(id, ..)| id).expect("a matching lead")
}

fn delivered(status: &str) -> bool {
    matches!(status, "received" | "accepted" | "sale")
}

fn set_status(app: &TestApp, id: i64, status: &str) {
    let mut conn = app.state.pool.get().expect("conn");
    diesel::update(leads::table.find(id)).set(leads::status.eq(status)).execute(&mut conn).expect("status");
}

#[tokio::test]
async fn a_key_rejects_a_delivered_lead_inside_its_window_once() {
    for database in databases() {
        a_key_rejects_a_delivered_lead_inside_its_window_once_on(TestApp::on(database)).await;
    }
}

async fn a_key_rejects_a_delivered_lead_inside_its_window_once_on(app: TestApp) {
    let key = client_key(&app).await;
    let lead = app.fresh_leads(1)[0];
    let r = reject(&app, &key, &lead.to_string(), &[("reason", "  Wrong number  ")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        json(&r),
        serde_json::json!({ "result": "success", "lead_id": lead, "status": "client_rejected" })
    );
    assert_eq!(
        lead_state(&app, lead),
        ("client_rejected".to_owned(), Some("Wrong number".to_owned()), false)
    );
    let client = app.user_id("client@sendback.test");
    assert_eq!(
        history(&app, lead).last().cloned(),
        Some((
            Some("received".to_owned()),
            "client_rejected".to_owned(),
            Some("Wrong number".to_owned()),
            "user".to_owned(),
            Some(client),
            None
        ))
    );
    let rows = history(&app, lead).len();

    // Again: 409, nothing changes.
    let r = reject(&app, &key, &lead.to_string(), &[("reason", "Another reason")]).await;
    assert_error(&r, StatusCode::CONFLICT, "ALREADY_REJECTED");
    assert_eq!(lead_state(&app, lead).1.as_deref(), Some("Wrong number"));
    assert_eq!(history(&app, lead).len(), rows);
}

#[tokio::test]
async fn the_form_field_key_works_too_and_bad_keys_are_refused() {
    for database in databases() {
        the_form_field_key_works_too_and_bad_keys_are_refused_on(TestApp::on(database)).await;
    }
}

async fn the_form_field_key_works_too_and_bad_keys_are_refused_on(app: TestApp) {
    let key = client_key(&app).await;
    let [a, b] = app.fresh_leads(2)[..] else { panic!("two fresh leads") };
    let req = Request::post(format!("/api/v1/lead-status/reject/{a}"))
        .header(header::HOST, "127.0.0.1:3000")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form(&[("key", &key), ("reason", "Duplicate lead")])))
        .expect("request");
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(lead_state(&app, a).0, "client_rejected");

    let r = reject(&app, "sbk_not-a-key", &b.to_string(), &[("reason", "Duplicate lead")]).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "INVALID_KEY");
    assert_eq!(lead_state(&app, b).0, "received");
}

#[tokio::test]
async fn a_key_whose_user_lost_the_permission_is_forbidden() {
    for database in databases() {
        a_key_whose_user_lost_the_permission_is_forbidden_on(TestApp::on(database)).await;
    }
}

async fn a_key_whose_user_lost_the_permission_is_forbidden_on(app: TestApp) {
    let key = client_key(&app).await;
    let owner = app.login("owner@sendback.test").await;
    let client = app.user_id("client@sendback.test").to_string();
    let r = app
        .call("set_reject_permission", &[("user_id", client.as_str()), ("granted", "false")], Some(&owner))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let lead = app.fresh_leads(1)[0];
    let r = reject(&app, &key, &lead.to_string(), &[("reason", "Duplicate lead")]).await;
    assert_error(&r, StatusCode::FORBIDDEN, "FORBIDDEN");
    assert_eq!(lead_state(&app, lead).0, "received");
}

#[tokio::test]
async fn refusals_have_their_codes_and_change_nothing() {
    for database in databases() {
        refusals_have_their_codes_and_change_nothing_on(TestApp::on(database)).await;
    }
}

async fn refusals_have_their_codes_and_change_nothing_on(app: TestApp) {
    let key = client_key(&app).await;
    let now = app::clock::Clock::now(&app.clock);
    let fresh = app.fresh_leads(3);

    // A missing, blank or too long reason.
    let lead = fresh[0];
    for fields in [vec![], vec![("reason", "   ")]] {
        let r = reject(&app, &key, &lead.to_string(), &fields).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "MISSING_REASON");
    }
    let long = "x".repeat(1001);
    let r = reject(&app, &key, &lead.to_string(), &[("reason", &long)]).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "MISSING_REASON");
    assert!(json(&r)["error"]["message"].as_str().is_some_and(|m| m.contains("1000")), "{}", r.body);
    assert_eq!(lead_state(&app, lead).0, "received");

    // Not a lead id, no such lead, another client's lead, another instance's lead.
    let bolt = lead_of(&app, "Energy Switch UK", |s, at| delivered(s) && at > now - TimeDelta::days(2));
    let zenith = lead_of(&app, "Loans UK", |s, at| delivered(s) && at > now - TimeDelta::days(2));
    for (lead, id) in [
        ("abc", None),
        ("999999999", None),
        (&*bolt.to_string(), Some(bolt)),
        (&*zenith.to_string(), Some(zenith)),
    ] {
        let before = id.map(|id| lead_state(&app, id));
        let r = reject(&app, &key, lead, &[("reason", "Duplicate lead")]).await;
        assert_error(&r, StatusCode::NOT_FOUND, "LEAD_NOT_FOUND");
        assert_eq!(id.map(|id| lead_state(&app, id)), before);
    }

    // Outside the 7-day window of Home Insurance UK.
    let old = lead_of(&app, "Home Insurance UK", |s, at| delivered(s) && at < now - TimeDelta::days(9));
    let before = lead_state(&app, old);
    let r = reject(&app, &key, &old.to_string(), &[("reason", "Duplicate lead")]).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "OUTSIDE_WINDOW");
    assert_eq!(lead_state(&app, old), before);

    // A campaign without maximum rejection days.
    let pet = lead_of(&app, "Pet Insurance UK", |s, _| delivered(s));
    let before = lead_state(&app, pet);
    let r = reject(&app, &key, &pet.to_string(), &[("reason", "Duplicate lead")]).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "NO_MAX_REJECTION_DAYS");
    assert_eq!(lead_state(&app, pet), before);

    // Leads not delivered.
    for (lead, status) in [(fresh[1], "rejected"), (fresh[2], "quarantine")] {
        set_status(&app, lead, status);
        let rows = history(&app, lead).len();
        let r = reject(&app, &key, &lead.to_string(), &[("reason", "Duplicate lead")]).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "NOT_DELIVERED");
        assert_eq!(lead_state(&app, lead).0, status);
        assert_eq!(history(&app, lead).len(), rows);
    }
}

/// Units used in each (cap, period) the lead counts in.
fn usage_of(app: &TestApp, lead: i64) -> Vec<i64> {
    let mut conn = app.state.pool.get().expect("conn");
    let (campaign, supplier, at): (i64, i64, NaiveDateTime) = leads::table
        .find(lead)
        .select((leads::campaign_id, leads::supplier_id, leads::received_at))
        .first(&mut conn)
        .expect("lead");
    let caps: Vec<(i64, Option<i64>, String)> = caps::table
        .filter(caps::campaign_id.eq(campaign))
        .order(caps::id)
        .select((caps::id, caps::supplier_id, caps::period))
        .load(&mut conn)
        .expect("caps");
    caps.into_iter()
        .filter(|(_, s, _)| s.is_none_or(|s| s == supplier))
        .map(|(id, _, period)| {
            let start = CapPeriod::parse(&period).expect("period").period_start(at.date());
            cap_usage::table
                .find((id, start))
                .select(cap_usage::used)
                .first(&mut conn)
                .optional()
                .expect("usage")
                .unwrap_or(0)
        })
        .collect()
}

#[tokio::test]
async fn the_options_reject_events_and_give_the_cap_unit_back_once() {
    for database in databases() {
        the_options_reject_events_and_give_the_cap_unit_back_once_on(TestApp::on(database)).await;
    }
}

async fn the_options_reject_events_and_give_the_cap_unit_back_once_on(app: TestApp) {
    let key = client_key(&app).await;
    let [a, b] = app.fresh_leads(2)[..] else { panic!("two fresh leads") };
    {
        let mut conn = app.state.pool.get().expect("conn");
        let now = app::clock::Clock::now(&app.clock);
        for lead in [a, b] {
            diesel::insert_into(affiliate_events::table)
                .values((
                    affiliate_events::lead_id.eq(lead),
                    affiliate_events::kind.eq("conversion"),
                    affiliate_events::name.eq("Policy sold"),
                    affiliate_events::cost_pence.eq(100_i64),
                    affiliate_events::revenue_pence.eq(500_i64),
                    affiliate_events::status.eq("approved"),
                    affiliate_events::occurred_at.eq(now),
                ))
                .execute(&mut conn)
                .expect("event");
        }
    }
    let approved = |lead: i64| -> i64 {
        let mut conn = app.state.pool.get().expect("conn");
        affiliate_events::table
            .filter(affiliate_events::lead_id.eq(lead).and(affiliate_events::status.eq("approved")))
            .count()
            .get_result(&mut conn)
            .expect("events")
    };
    let usage = usage_of(&app, a);
    assert!(!usage.is_empty() && usage.iter().all(|&u| u > 0), "{usage:?}");
    let fields =
        [("reason", "Fake details"), ("reject_affiliate_events", "true"), ("count_towards_cap", "true")];
    let r = reject(&app, &key, &a.to_string(), &fields).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(lead_state(&app, a).2, "cap_released set");
    assert_eq!(usage_of(&app, a), usage.iter().map(|u| u - 1).collect::<Vec<_>>());
    assert_eq!(approved(a), 0);
    // Rejected again: refused, and the unit is not given back twice.
    let r = reject(&app, &key, &a.to_string(), &fields).await;
    assert_error(&r, StatusCode::CONFLICT, "ALREADY_REJECTED");
    assert_eq!(usage_of(&app, a), usage.iter().map(|u| u - 1).collect::<Vec<_>>());

    // Options off: events and caps untouched.
    let usage = usage_of(&app, b);
    let fields =
        [("reason", "Fake details"), ("reject_affiliate_events", "false"), ("count_towards_cap", "false")];
    let r = reject(&app, &key, &b.to_string(), &fields).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(usage_of(&app, b), usage);
    assert_eq!(approved(b), 1);
    assert!(!lead_state(&app, b).2);
}

#[tokio::test]
async fn parallel_rejects_of_one_lead_apply_once() {
    for database in databases() {
        parallel_rejects_of_one_lead_apply_once_on(TestApp::on(database)).await;
    }
}

async fn parallel_rejects_of_one_lead_apply_once_on(app: TestApp) {
    let key = client_key(&app).await;
    let lead = app.fresh_leads(1)[0];
    let rows = history(&app, lead).len();
    let id = lead.to_string();
    let replies =
        futures_util::future::join_all((0..8).map(|_| {
            reject(&app, &key, &id, &[("reason", "Duplicate lead"), ("count_towards_cap", "true")])
        }))
        .await;
    let ok = replies.iter().filter(|r| r.status == StatusCode::OK).count();
    assert_eq!(ok, 1, "{:?}", replies.iter().map(|r| (r.status, r.body.clone())).collect::<Vec<_>>());
    for r in replies.iter().filter(|r| r.status != StatusCode::OK) {
        assert_error(r, StatusCode::CONFLICT, "ALREADY_REJECTED");
    }
    assert_eq!(history(&app, lead).len(), rows + 1);
    assert_eq!(lead_state(&app, lead).0, "client_rejected");
}
