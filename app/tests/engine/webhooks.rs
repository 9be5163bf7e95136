//! Lead-status webhooks against SQLite and PostgreSQL with a real receiver (an axum server on a
//! random port) that checks every signature the Standard Webhooks way: a task's changes are
//! delivered once each with the right statuses; failed attempts come back with the same
//! `webhook-id`; a receiver that was down gets everything once up; one lead's events keep their
//! order; 410 disables the endpoint; private addresses are refused without the flag; a change
//! that rolls back leaves no event.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use app::clock::Clock as _;
use app::db::audit::Actor;
use app::db::schema::*;
use app::db::webhooks::{self, EndpointInput};
use app::domain::status::LeadStatus;
use app::domain::task::IdentifierChoice;
use app::engine::webhooks::{DeliverySettings, DeliveryWorker, sign};
use axum::http::{HeaderMap, StatusCode};
use chrono::TimeDelta;
use diesel::prelude::*;
use parking_lot::Mutex;

use crate::support::{Env, lead_id_csv};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    id: String,
    timestamp: i64,
    json: serde_json::Value,
    verified: bool,
}

type Answer = Arc<dyn Fn(&str, usize) -> u16 + Send + Sync>;

/// A receiver on 127.0.0.1: records each request, verifies its signature with `secret` (set once
/// the endpoint exists), answers what `answer(webhook-id, times seen before)` says.
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    secret: Arc<Mutex<String>>,
    port: u16,
}

impl Receiver {
    fn start(rt: &tokio::runtime::Runtime, port: u16, answer: Answer) -> Self {
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let secret: Arc<Mutex<String>> = Arc::default();
        let (g, s) = (got.clone(), secret.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (g, s, answer) = (g.clone(), s.clone(), answer.clone());
                async move {
                    let header =
                        |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    let (id, ts) = (header("webhook-id"), header("webhook-timestamp").parse().unwrap_or(0));
                    assert_eq!(header("content-type"), "application/json");
                    assert!(header("user-agent").starts_with("Sendback"), "{}", header("user-agent"));
                    let verified = sign::verify(&s.lock(), &id, ts, &body, &header("webhook-signature"));
                    let json = serde_json::from_slice(&body).unwrap_or_default();
                    let mut got = g.lock();
                    let seen = got.iter().filter(|x| x.id == id).count();
                    got.push(Got { id: id.clone(), timestamp: ts, json, verified });
                    StatusCode::from_u16(answer(&id, seen)).unwrap_or(StatusCode::OK)
                }
            }),
        );
        let listener = rt.block_on(tokio::net::TcpListener::bind(("127.0.0.1", port))).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        rt.spawn(async move { axum::serve(listener, app).await });
        Self { got, secret, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().clone()
    }
}

fn ok() -> Answer {
    Arc::new(|_, _| 200)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// Adds an endpoint of the demo instance for `statuses`; (id, secret).
fn add_endpoint(env: &Env, url: &str, statuses: &[LeadStatus]) -> (i64, String) {
    let owner = env.user("owner@sendback.test");
    let input = EndpointInput { url: url.into(), statuses: statuses.to_vec(), ..EndpointInput::default() };
    let made = webhooks::create(&mut env.conn(), Actor::from(&owner), &input, true, env.clock.now())
        .expect("endpoint");
    (made.id, made.secret)
}

fn worker(env: &Env, allow_private: bool) -> DeliveryWorker {
    let clock: app::clock::SharedClock = Arc::new(env.clock.clone());
    DeliveryWorker::new(env.db.pool().clone(), clock, DeliverySettings::with_total(16, allow_private))
        .expect("worker")
}

/// Delivers batches until a round sends nothing.
fn drain(rt: &tokio::runtime::Runtime, w: &DeliveryWorker, endpoint: i64) -> usize {
    let mut sent = 0;
    loop {
        let n = rt.block_on(w.deliver_batch(endpoint)).expect("deliver");
        if n == 0 {
            return sent;
        }
        sent += n;
    }
}

/// The endpoint's events by state.
fn states(env: &Env, endpoint: i64) -> BTreeMap<String, i64> {
    let rows: Vec<(String, i64)> = webhook_events::table
        .filter(webhook_events::endpoint_id.eq(endpoint))
        .group_by(webhook_events::state)
        .select((webhook_events::state, diesel::dsl::count_star()))
        .load(&mut env.conn())
        .expect("states");
    rows.into_iter().collect()
}

/// Rejects `n` received leads of Home Insurance UK in a task; their ids.
fn reject_leads(env: &Env, n: i64) -> Vec<i64> {
    let ids = env.leads_where("Home Insurance UK", "received", 1, 6, n);
    assert_eq!(ids.len() as i64, n);
    let rows: Vec<(String, &str)> = ids.iter().map(|id| (id.to_string(), "Wrong number")).collect();
    let file = env.file("reject.csv", &lead_id_csv(&rows));
    let req = env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
    env.run(&req, &file);
    ids
}

#[test]
fn a_task_delivers_one_signed_event_per_rejected_lead() {
    let rt = runtime();
    for env in Env::all() {
        let label = env.db.label;
        let receiver = Receiver::start(&rt, 0, ok());
        let (endpoint, secret) = add_endpoint(&env, &receiver.url(), &[]);
        *receiver.secret.lock() = secret;
        let ids = reject_leads(&env, 40);
        assert_eq!(states(&env, endpoint), BTreeMap::from([("pending".to_owned(), 40)]), "{label}");
        assert_eq!(drain(&rt, &worker(&env, true), endpoint), 40, "{label}");
        let got = receiver.got();
        assert_eq!(got.len(), 40, "{label}");
        assert!(got.iter().all(|g| g.verified), "{label}: a signature did not verify");
        assert_eq!(got.iter().map(|g| g.id.clone()).collect::<BTreeSet<_>>().len(), 40, "{label}");
        let leads: BTreeSet<i64> =
            got.iter().map(|g| g.json["data"]["lead_id"].as_i64().expect("lead_id")).collect();
        assert_eq!(leads, ids.iter().copied().collect(), "{label}");
        for g in &got {
            let d = &g.json["data"];
            assert_eq!(g.json["type"], "lead.status_changed", "{label}");
            assert_eq!(
                (d["previous_status"].as_str(), d["status"].as_str()),
                (Some("received"), Some("client_rejected"))
            );
            assert_eq!(d["reason"], "Wrong number");
            assert_eq!(d["campaign"], "Home Insurance UK");
            assert_eq!(d["changed_by"], "client@sendback.test");
            assert!(d["task_id"].as_i64().is_some() && d["uid"].as_str().is_some_and(|u| !u.is_empty()));
            assert!(g.json["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{}", g.json);
        }
        assert_eq!(states(&env, endpoint), BTreeMap::from([("delivered".to_owned(), 40)]), "{label}");
        let attempts: i64 = webhook_attempts::table.count().get_result(&mut env.conn()).expect("attempts");
        assert_eq!(attempts, 40, "{label}");
    }
}

#[test]
fn a_failed_attempt_comes_back_with_the_same_id_and_a_new_timestamp() {
    let rt = runtime();
    for env in Env::all() {
        let label = env.db.label;
        // 500 the first time each event comes, 200 after.
        let receiver = Receiver::start(&rt, 0, Arc::new(|_, seen| if seen == 0 { 500 } else { 200 }));
        let (endpoint, secret) = add_endpoint(&env, &receiver.url(), &[]);
        *receiver.secret.lock() = secret;
        reject_leads(&env, 5);
        let w = worker(&env, true);
        assert_eq!(drain(&rt, &w, endpoint), 5, "{label}");
        assert_eq!(states(&env, endpoint), BTreeMap::from([("pending".to_owned(), 5)]), "{label}");
        // Not due again before the first retry (5 s, ±10%).
        env.clock.advance(TimeDelta::seconds(4));
        assert_eq!(drain(&rt, &w, endpoint), 0, "{label}");
        env.clock.advance(TimeDelta::seconds(2));
        assert_eq!(drain(&rt, &w, endpoint), 5, "{label}");
        assert_eq!(states(&env, endpoint), BTreeMap::from([("delivered".to_owned(), 5)]), "{label}");
        let got = receiver.got();
        assert_eq!(got.len(), 10, "{label}");
        for first in got.iter().take(5) {
            let again: Vec<&Got> = got.iter().filter(|g| g.id == first.id).collect();
            assert_eq!(again.len(), 2, "{label}: {}", first.id);
            assert!(again[1].timestamp >= again[0].timestamp + 5, "{label}: the retry has its own timestamp");
            assert_eq!(again[0].json, again[1].json, "{label}: the same body");
            assert!(again.iter().all(|g| g.verified), "{label}");
        }
        let attempts: Vec<i32> = webhook_events::table
            .filter(webhook_events::endpoint_id.eq(endpoint))
            .select(webhook_events::attempts)
            .load(&mut env.conn())
            .expect("attempts");
        assert!(attempts.iter().all(|a| *a == 2), "{label}: {attempts:?}");
    }
}

#[test]
fn a_receiver_that_was_down_gets_every_event_once_it_is_up() {
    let rt = runtime();
    for env in Env::all() {
        let label = env.db.label;
        // A port nothing listens on (taken, then freed).
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let url = format!("http://127.0.0.1:{port}/hook");
        let (endpoint, secret) = add_endpoint(&env, &url, &[]);
        let ids = reject_leads(&env, 12);
        let w = worker(&env, true);
        // Down: every attempt fails to connect, three times over (5 s, then 5 min).
        assert_eq!(drain(&rt, &w, endpoint), 12, "{label}");
        env.clock.advance(TimeDelta::seconds(6));
        assert_eq!(drain(&rt, &w, endpoint), 12, "{label}");
        let errors: Vec<Option<String>> = webhook_events::table
            .filter(webhook_events::endpoint_id.eq(endpoint))
            .select(webhook_events::last_error)
            .load(&mut env.conn())
            .expect("errors");
        assert!(
            errors.iter().all(|e| e.as_deref().is_some_and(|e| e.contains("connect"))),
            "{label}: {errors:?}"
        );
        // Up again.
        let receiver = Receiver::start(&rt, port, ok());
        *receiver.secret.lock() = secret;
        env.clock.advance(TimeDelta::minutes(6));
        assert_eq!(drain(&rt, &w, endpoint), 12, "{label}");
        let got = receiver.got();
        assert_eq!(got.len(), 12, "{label}");
        assert!(got.iter().all(|g| g.verified), "{label}");
        let leads: BTreeSet<i64> =
            got.iter().map(|g| g.json["data"]["lead_id"].as_i64().expect("lead")).collect();
        assert_eq!(leads, ids.into_iter().collect(), "{label}");
        assert_eq!(states(&env, endpoint), BTreeMap::from([("delivered".to_owned(), 12)]), "{label}");
    }
}

#[test]
fn a_lead_s_events_go_out_in_order_even_when_the_first_must_be_retried() {
    let rt = runtime();
    for env in Env::all() {
        let label = env.db.label;
        let receiver = Receiver::start(&rt, 0, Arc::new(|_, seen| if seen == 0 { 503 } else { 200 }));
        // Accepted and Client Rejected: a task with option 4 gives some leads one event, the
        // rejected ones another; a lead rejected by the API after… has two.
        let (endpoint, secret) =
            add_endpoint(&env, &receiver.url(), &[LeadStatus::ClientRejected, LeadStatus::Received]);
        *receiver.secret.lock() = secret;
        // Two changes of one lead: an intake-like history row (received) and a rejection.
        let lead = env.leads_where("Home Insurance UK", "received", 1, 6, 1)[0];
        let campaign = env.campaign("Home Insurance UK");
        let mut conn = env.conn();
        let h: i64 = diesel::insert_into(lead_status_history::table)
            .values((
                lead_status_history::lead_id.eq(lead),
                lead_status_history::to_status.eq("received"),
                lead_status_history::reason.eq("Lead intake"),
                lead_status_history::source.eq("intake"),
                lead_status_history::changed_at.eq(env.clock.now()),
            ))
            .returning(lead_status_history::id)
            .get_result(&mut conn)
            .expect("history");
        app::db::outbox::enqueue(&mut conn, campaign, app::db::outbox::Changes::History(h), env.clock.now())
            .expect("enqueue");
        drop(conn);
        let rows = vec![(lead.to_string(), "Bad")];
        let file = env.file("one.csv", &lead_id_csv(&rows));
        env.run(
            &env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason"),
            &file,
        );
        let w = worker(&env, true);
        // The first event fails; the second must wait for it.
        assert_eq!(drain(&rt, &w, endpoint), 1, "{label}");
        env.clock.advance(TimeDelta::seconds(6));
        assert_eq!(drain(&rt, &w, endpoint), 2, "{label}");
        let statuses: Vec<String> = receiver
            .got()
            .iter()
            .map(|g| g.json["data"]["status"].as_str().unwrap_or("").to_owned())
            .collect();
        assert_eq!(statuses, ["received", "received", "client_rejected"], "{label}");
    }
}

#[test]
fn gone_disables_the_endpoint_and_private_addresses_need_the_flag() {
    let rt = runtime();
    for env in Env::all() {
        let label = env.db.label;
        let gone = Receiver::start(&rt, 0, Arc::new(|_, _| 410));
        let (endpoint, _) = add_endpoint(&env, &gone.url(), &[]);
        reject_leads(&env, 3);
        let w = worker(&env, true);
        drain(&rt, &w, endpoint);
        let (enabled, reason): (bool, Option<String>) = webhook_endpoints::table
            .find(endpoint)
            .select((webhook_endpoints::enabled, webhook_endpoints::disabled_reason))
            .first(&mut env.conn())
            .expect("endpoint");
        assert!(!enabled && reason.is_some_and(|r| r.contains("410")), "{label}");
        // A claim of a disabled endpoint's events finds none.
        assert_eq!(drain(&rt, &w, endpoint), 0, "{label}");
        // The batch in flight (all three at once) got 410; nothing was sent after it.
        assert_eq!(gone.got().len(), 3, "{label}");
        assert_eq!(states(&env, endpoint), BTreeMap::from([("failed".to_owned(), 3)]), "{label}");
        // A disabled endpoint gets no events of later changes.
        reject_leads(&env, 2);
        assert_eq!(states(&env, endpoint), BTreeMap::from([("failed".to_owned(), 3)]), "{label}");

        // Without the flag: http, a literal private address and a name that resolves to one
        // are all refused before anything is sent.
        let receiver = Receiver::start(&rt, 0, ok());
        let strict = worker(&env, false);
        for url in [
            receiver.url(),
            format!("https://127.0.0.1:{}/hook", receiver.port),
            format!("https://localhost:{}/hook", receiver.port),
        ] {
            let (endpoint, _) = add_endpoint(&env, &url, &[LeadStatus::Received]);
            let lead = env.leads_where("Home Insurance UK", "received", 1, 6, 1)[0];
            let mut conn = env.conn();
            let h: i64 = diesel::insert_into(lead_status_history::table)
                .values((
                    lead_status_history::lead_id.eq(lead),
                    lead_status_history::to_status.eq("received"),
                    lead_status_history::source.eq("intake"),
                    lead_status_history::changed_at.eq(env.clock.now()),
                ))
                .returning(lead_status_history::id)
                .get_result(&mut conn)
                .expect("history");
            let campaign = env.campaign("Home Insurance UK");
            app::db::outbox::enqueue(
                &mut conn,
                campaign,
                app::db::outbox::Changes::History(h),
                env.clock.now(),
            )
            .expect("enqueue");
            drop(conn);
            assert_eq!(drain(&rt, &strict, endpoint), 1, "{label}: {url}");
            let error: Option<String> = webhook_events::table
                .filter(webhook_events::endpoint_id.eq(endpoint))
                .select(webhook_events::last_error)
                .first(&mut env.conn())
                .expect("error");
            let error = error.unwrap_or_default();
            assert!(
                error.contains("https") || error.contains("private") || error.contains("public address"),
                "{label}: {url}: {error}"
            );
            webhooks::set_enabled(
                &mut env.conn(),
                Actor::from(&env.user("owner@sendback.test")),
                endpoint,
                false,
                env.clock.now(),
            )
            .expect("disable");
        }
        assert!(receiver.got().is_empty(), "{label}: nothing reached the private receiver");
        assert!(webhooks::check_url("https://10.0.0.8/hook", false).is_err());
        assert!(webhooks::check_url("https://169.254.169.254/latest", false).is_err());
        assert!(webhooks::check_url("http://crm.example.com/hook", false).is_err());
        assert!(webhooks::check_url("https://crm.example.com/hook", false).is_ok());
    }
}

#[test]
fn a_change_that_rolls_back_leaves_no_event_and_only_matching_endpoints_get_one() {
    for env in Env::all() {
        let label = env.db.label;
        let (all, _) = add_endpoint(&env, "https://crm.example.com/a", &[LeadStatus::ClientRejected]);
        let (accepted_only, _) = add_endpoint(&env, "https://crm.example.com/b", &[LeadStatus::Accepted]);
        let owner = env.user("owner@sendback.test");
        let other_campaign = env.campaign("Car Insurance UK");
        let input = EndpointInput {
            url: "https://crm.example.com/c".into(),
            campaign_ids: vec![other_campaign],
            ..EndpointInput::default()
        };
        let elsewhere =
            webhooks::create(&mut env.conn(), Actor::from(&owner), &input, false, env.clock.now())
                .expect("endpoint")
                .id;
        let lead = env.leads_where("Home Insurance UK", "received", 1, 6, 1)[0];
        let campaign = env.campaign("Home Insurance UK");
        let mut conn = env.conn();
        let rolled_back: Result<(), diesel::result::Error> = app::db::write_transaction(&mut conn, |conn| {
            let h: i64 = diesel::insert_into(lead_status_history::table)
                .values((
                    lead_status_history::lead_id.eq(lead),
                    lead_status_history::from_status.eq(Some("received")),
                    lead_status_history::to_status.eq("client_rejected"),
                    lead_status_history::source.eq("user"),
                    lead_status_history::changed_at.eq(env.clock.now()),
                ))
                .returning(lead_status_history::id)
                .get_result(conn)?;
            let n = app::db::outbox::enqueue(
                conn,
                campaign,
                app::db::outbox::Changes::History(h),
                env.clock.now(),
            )
            .expect("enqueue");
            assert_eq!(n, 1, "{label}: only the Client Rejected endpoint of this campaign matches");
            Err(diesel::result::Error::RollbackTransaction)
        });
        assert!(rolled_back.is_err());
        drop(conn);
        let events: i64 = webhook_events::table.count().get_result(&mut env.conn()).expect("events");
        assert_eq!(events, 0, "{label}: the change rolled back, so did its event");
        reject_leads(&env, 4);
        assert_eq!(states(&env, all), BTreeMap::from([("pending".to_owned(), 4)]), "{label}");
        assert!(states(&env, accepted_only).is_empty(), "{label}");
        assert!(states(&env, elsewhere).is_empty(), "{label}");
    }
}

#[test]
fn a_task_with_every_option_announces_its_rejections_and_its_moves_to_accepted() {
    for env in Env::all() {
        let label = env.db.label;
        let (endpoint, _) = add_endpoint(
            &env,
            "https://crm.example.com/all",
            &[LeadStatus::ClientRejected, LeadStatus::Accepted],
        );
        let ids = env.leads_where("Home Insurance UK", "received", 1, 6, 10);
        let rows: Vec<(String, &str)> = ids.iter().map(|id| (id.to_string(), "Wrong number")).collect();
        let file = env.file("all.csv", &lead_id_csv(&rows));
        let mut req =
            env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
        req.options = app::domain::task::TaskOptions::ALL_ON;
        let task = env.run(&req, &file);
        // Exactly one event per history row the task wrote, of the same change.
        let history: Vec<(i64, String)> = lead_status_history::table
            .filter(lead_status_history::task_id.eq(task))
            .select((lead_status_history::lead_id, lead_status_history::to_status))
            .order(lead_status_history::id)
            .load(&mut env.conn())
            .expect("history");
        let events: Vec<(i64, String)> = webhook_events::table
            .inner_join(lead_status_history::table)
            .filter(webhook_events::endpoint_id.eq(endpoint))
            .select((webhook_events::lead_id, lead_status_history::to_status))
            .order(webhook_events::id)
            .load(&mut env.conn())
            .expect("events");
        assert_eq!(events, history, "{label}");
        let accepted = history.iter().filter(|(_, s)| s == "accepted").count();
        let rejected = history.iter().filter(|(_, s)| s == "client_rejected").count();
        assert_eq!(rejected, 10, "{label}");
        assert!(accepted > 0, "{label}: option 4 moved leads to accepted");
    }
}
