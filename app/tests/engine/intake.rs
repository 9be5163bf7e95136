//! Leads in from a supplier (`db::intake`) on SQLite and PostgreSQL: validation, dedupe, caps —
//! atomic under parallel posts — and cap units given back by a rejection task making room again.

use std::collections::BTreeMap;

use app::db::audit::Actor;
use app::db::intake::{self, CAP_REACHED, IntakeError, Received};
use app::db::keys::{self, KeyHolder};
use app::db::schema::*;
use app::db::setup;
use app::domain::caps::CapPeriod;
use app::domain::identifiers::FieldKind;
use app::domain::setup::FieldSpec;
use app::domain::status::LeadStatus;
use app::domain::task::{IdentifierChoice, TaskOptions};
use diesel::prelude::*;

use crate::support::{Env, lead_id_csv, now};

/// A campaign of Acme Insurance with a deduped email and a phone, a supplier allowed on it
/// with an intake key, and a daily cap of `cap` on the campaign.
struct Intake {
    holder: KeyHolder,
    campaign: i64,
}

fn set_up(env: &Env, cap: i64) -> Intake {
    let mut conn = env.conn();
    let owner = env.user("owner@sendback.test");
    let actor = Actor::from(&owner);
    let client: i64 = clients::table
        .filter(clients::name.eq("Acme Insurance"))
        .select(clients::id)
        .first(&mut conn)
        .expect("client");
    let fields = [
        FieldSpec { key: "email".into(), label: "Email".into(), kind: FieldKind::Email, dedupe: true },
        FieldSpec { key: "phone".into(), label: "Phone".into(), kind: FieldKind::Phone, dedupe: false },
    ];
    let new = setup::campaigns::NewCampaign {
        client_id: client,
        name: "Intake Test",
        max_rejection_days: Some(7),
        fields: &fields,
    };
    let campaign = setup::campaigns::create(&mut conn, actor, &new, now()).expect("campaign");
    let supplier = setup::suppliers::create(&mut conn, actor, "Intake Co", now()).expect("supplier");
    setup::suppliers::set_campaigns(&mut conn, actor, supplier, &[campaign], now()).expect("link");
    setup::caps::add(&mut conn, actor, campaign, None, CapPeriod::Day, cap, now()).expect("cap");
    let (_, key) = keys::create_supplier_key(&mut conn, actor, supplier, now()).expect("key");
    let holder = keys::holder(&mut conn, &key, now()).expect("lookup").expect("a valid key");
    Intake { holder, campaign }
}

fn post(env: &Env, intake: &Intake, email: &str) -> Result<Received, IntakeError> {
    let posted = vec![("email".to_owned(), email.to_owned())];
    intake::receive(&mut env.conn(), intake.holder, intake.campaign, &posted, now())
}

fn statuses(env: &Env, campaign: i64) -> BTreeMap<String, i64> {
    let rows: Vec<String> = leads::table
        .filter(leads::campaign_id.eq(campaign))
        .select(leads::status)
        .load(&mut env.conn())
        .expect("leads");
    let mut counts = BTreeMap::new();
    for s in rows {
        *counts.entry(s).or_default() += 1;
    }
    counts
}

/// Units used of the campaign's one cap.
fn cap_used(env: &Env, campaign: i64) -> i64 {
    cap_usage::table
        .inner_join(caps::table)
        .filter(caps::campaign_id.eq(campaign))
        .select(cap_usage::used)
        .first(&mut env.conn())
        .expect("usage")
}

#[test]
fn leads_are_validated_deduplicated_and_capped() {
    for env in Env::all() {
        let label = env.db.label;
        let intake = set_up(&env, 2);
        let first = post(&env, &intake, " Jo@Example.com ").expect("stored");
        assert_eq!((first.status, first.reason.as_deref()), (LeadStatus::Received, None), "{label}");
        let dup = post(&env, &intake, "jo@example.COM").expect("stored");
        assert_eq!(
            (dup.status, dup.reason.as_deref()),
            (LeadStatus::Rejected, Some("Duplicate Email")),
            "{label}"
        );
        let bad = post(&env, &intake, "not an email").expect("stored");
        assert_eq!(
            (bad.status, bad.reason.as_deref()),
            (LeadStatus::Rejected, Some("Invalid Email")),
            "{label}"
        );
        let second = post(&env, &intake, "amy@example.com").expect("stored");
        assert_eq!(second.status, LeadStatus::Received, "{label}");
        let over = post(&env, &intake, "sam@example.com").expect("stored");
        assert_eq!(
            (over.status, over.reason.as_deref()),
            (LeadStatus::Quarantine, Some(CAP_REACHED)),
            "{label}"
        );
        assert_ne!(first.uid, second.uid);

        let mut conn = env.conn();
        let history: Vec<(Option<String>, String, Option<String>, String)> = lead_status_history::table
            .filter(lead_status_history::lead_id.eq(first.lead_id))
            .select((
                lead_status_history::from_status,
                lead_status_history::to_status,
                lead_status_history::reason,
                lead_status_history::source,
            ))
            .load(&mut conn)
            .expect("history");
        assert_eq!(
            history,
            [(None, "received".into(), Some("Lead intake".into()), "intake".into())],
            "{label}"
        );
        let stored: (String, String) = lead_values::table
            .filter(lead_values::lead_id.eq(first.lead_id))
            .select((lead_values::value, lead_values::normalized))
            .first(&mut conn)
            .expect("value");
        assert_eq!(stored, ("Jo@Example.com".into(), "jo@example.com".into()), "{label}");
        // The rejected duplicate's email does not make the deduped field hold the value twice.
        let email: i64 = campaign_fields::table
            .filter(
                campaign_fields::campaign_id.eq(intake.campaign).and(campaign_fields::field_key.eq("email")),
            )
            .select(campaign_fields::id)
            .first(&mut conn)
            .expect("field");
        assert_eq!(app::db::setup::fields::surplus(&mut conn, email).expect("surplus"), 0, "{label}");
        assert_eq!(cap_used(&env, intake.campaign), 2, "{label}: only the received leads took units");
    }
}

#[test]
fn refused_requests_store_nothing() {
    for env in Env::all() {
        let label = env.db.label;
        let intake = set_up(&env, 100);
        let posted = vec![("surname".to_owned(), "Smith".to_owned())];
        let err = intake::receive(&mut env.conn(), intake.holder, intake.campaign, &posted, now())
            .expect_err("field");
        assert!(matches!(err, IntakeError::InvalidField(ref f) if f.field == "surname"), "{label}: {err:?}");
        let other_campaign = env.campaign("Home Insurance UK");
        let err = intake::receive(&mut env.conn(), intake.holder, other_campaign, &[], now())
            .expect_err("not allowed");
        assert!(matches!(err, IntakeError::SupplierNotAllowed), "{label}: {err:?}");
        // Another instance's campaign is unknown to this key.
        let foreign: i64 = campaigns::table
            .filter(campaigns::instance_id.ne(intake.holder.instance_id))
            .select(campaigns::id)
            .first(&mut env.conn())
            .expect("campaign");
        let err = intake::receive(&mut env.conn(), intake.holder, foreign, &[], now()).expect_err("foreign");
        assert!(matches!(err, IntakeError::UnknownCampaign), "{label}: {err:?}");
        assert!(statuses(&env, intake.campaign).is_empty(), "{label}");
        assert!(keys::holder(&mut env.conn(), "sbk_0000", now()).expect("q").is_none());
    }
}

#[test]
fn fifty_parallel_posts_take_exactly_the_cap() {
    for env in Env::all() {
        let label = env.db.label;
        let intake = set_up(&env, 10);
        let barrier = std::sync::Barrier::new(4); // the test pool holds 4 connections
        let results: Vec<Received> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let (env, intake, barrier) = (&env, &intake, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        (0..13)
                            .filter(|i| t * 13 + i < 50)
                            .map(|i| post(env, intake, &format!("p{t}-{i}@example.com")).expect("stored"))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().expect("thread")).collect()
        });
        assert_eq!(results.len(), 50);
        let counts = statuses(&env, intake.campaign);
        assert_eq!(counts.get("received"), Some(&10), "{label}: {counts:?}");
        assert_eq!(counts.get("quarantine"), Some(&40), "{label}: {counts:?}");
        assert_eq!(cap_used(&env, intake.campaign), 10, "{label}");
    }
}

#[test]
fn rejections_counted_towards_the_cap_let_that_many_more_in() {
    for env in Env::all() {
        let label = env.db.label;
        let intake = set_up(&env, 3);
        let taken: Vec<Received> =
            (0..3).map(|i| post(&env, &intake, &format!("t{i}@example.com")).expect("stored")).collect();
        assert!(taken.iter().all(|r| r.status == LeadStatus::Received), "{label}");
        assert_eq!(post(&env, &intake, "full@example.com").expect("stored").status, LeadStatus::Quarantine);

        // The client rejects two of them, counting towards the cap.
        let mut req = env.request("Intake Test", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
        req.options = TaskOptions { count_towards_cap: true, ..TaskOptions::default() };
        let rows: Vec<(String, &str)> = taken[..2].iter().map(|r| (r.lead_id.to_string(), "Bad")).collect();
        env.run(&req, &env.file("reject.csv", &lead_id_csv(&rows)));

        let next: Vec<LeadStatus> = (0..3)
            .map(|i| post(&env, &intake, &format!("n{i}@example.com")).expect("stored").status)
            .collect();
        assert_eq!(next, [LeadStatus::Received, LeadStatus::Received, LeadStatus::Quarantine], "{label}");
    }
}
