//! Setting up an instance against real databases (SQLite and, when configured, PostgreSQL):
//! dedupe refused over duplicates, kind and key fixed once values exist, names unique even
//! under parallel requests, every change in the audit log, another instance's ids not found.

// Test set-up fails loudly: a helper that cannot build its fixture panics with the reason.
#![allow(clippy::expect_used, reason = "test fixtures; clippy only exempts #[test] functions")]

mod common;

use app::db::audit::Actor;
use app::db::schema::*;
use app::db::setup::{SetupError, campaigns, caps, clients, fields, instances, suppliers};
use app::db::{DbConn, Pool};
use app::domain::caps::CapPeriod;
use app::domain::identifiers::FieldKind;
use app::domain::setup::FieldSpec;
use chrono::{NaiveDate, NaiveDateTime};
use common::{TestDb, count};
use diesel::prelude::*;

fn now() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 30).and_then(|d| d.and_hms_opt(9, 30, 0)).expect("valid date")
}

/// An instance with its owner; the owner as actor.
fn instance(conn: &mut DbConn, name: &str) -> Actor {
    let email = format!("owner@{}.test", name.to_lowercase().replace(' ', "-"));
    let new = instances::NewInstance { name, owner_email: &email, owner_name: "Owner", password_hash: "x" };
    let (instance_id, user_id) = instances::create(conn, &new, now()).expect("instance");
    Actor { instance_id, user_id: Some(user_id) }
}

fn spec(key: &str, label: &str, kind: FieldKind, dedupe: bool) -> FieldSpec {
    FieldSpec { key: key.into(), label: label.into(), kind, dedupe }
}

/// A client, a campaign with an email (dedupe off) and a phone field, and a supplier.
struct Fixture {
    actor: Actor,
    campaign: i64,
    email: i64,
    phone: i64,
    supplier: i64,
}

fn fixture(conn: &mut DbConn, name: &str) -> Fixture {
    let actor = instance(conn, name);
    let client = clients::create(conn, actor, "Buyer", now()).expect("client");
    let specs =
        [spec("email", "Email", FieldKind::Email, false), spec("phone", "Phone", FieldKind::Phone, false)];
    let new = campaigns::NewCampaign {
        client_id: client,
        name: "Loans",
        max_rejection_days: Some(7),
        fields: &specs,
    };
    let campaign = campaigns::create(conn, actor, &new, now()).expect("campaign");
    let field = |conn: &mut DbConn, key: &str| -> i64 {
        campaign_fields::table
            .filter(campaign_fields::campaign_id.eq(campaign).and(campaign_fields::field_key.eq(key)))
            .select(campaign_fields::id)
            .first(conn)
            .expect("field")
    };
    let email = field(conn, "email");
    let phone = field(conn, "phone");
    let supplier = suppliers::create(conn, actor, "Source", now()).expect("supplier");
    Fixture { actor, campaign, email, phone, supplier }
}

/// A lead of the campaign with `email` in the email field.
fn lead(conn: &mut DbConn, f: &Fixture, uid: &str, email: &str) -> i64 {
    let id: i64 = diesel::insert_into(leads::table)
        .values((
            leads::instance_id.eq(f.actor.instance_id),
            leads::campaign_id.eq(f.campaign),
            leads::supplier_id.eq(f.supplier),
            leads::uid.eq(uid),
            leads::received_at.eq(now()),
            leads::status.eq("received"),
            leads::updated_at.eq(now()),
        ))
        .returning(leads::id)
        .get_result(conn)
        .expect("lead");
    diesel::insert_into(lead_values::table)
        .values((
            lead_values::lead_id.eq(id),
            lead_values::field_id.eq(f.email),
            lead_values::value.eq(email),
            lead_values::normalized.eq(email.trim().to_lowercase()),
        ))
        .execute(conn)
        .expect("lead value");
    id
}

fn field_row(conn: &mut DbConn, id: i64) -> (String, String, bool) {
    campaign_fields::table
        .find(id)
        .select((campaign_fields::field_key, campaign_fields::kind, campaign_fields::dedupe))
        .first(conn)
        .expect("field row")
}

fn audit_actions(conn: &mut DbConn, campaign: i64) -> Vec<String> {
    audit_log::table
        .filter(audit_log::campaign_id.eq(campaign))
        .order(audit_log::id)
        .select(audit_log::action)
        .load(conn)
        .expect("audit rows")
}

fn change(key: &str, kind: FieldKind, dedupe: bool, position: i32) -> fields::FieldChange {
    fields::FieldChange { spec: spec(key, "Email", kind, dedupe), position }
}

fn invalid_on(err: SetupError) -> (&'static str, String) {
    match err {
        SetupError::Invalid { field, message } => (field, message),
        other => panic!("expected a refusal the user reads, got {other:?}"),
    }
}

#[test]
fn dedupe_is_refused_while_values_repeat_and_allowed_once_they_do_not() {
    for t in TestDb::all() {
        let mut conn = t.conn();
        let f = fixture(&mut conn, "Dedupe Co");
        lead(&mut conn, &f, "u1", "a@example.com");
        let second = lead(&mut conn, &f, "u2", " A@example.com");
        lead(&mut conn, &f, "u3", "a@example.com");
        lead(&mut conn, &f, "u4", "b@example.com");
        let before = audit_actions(&mut conn, f.campaign).len();

        let err =
            fields::update(&mut conn, f.actor, f.email, &change("email", FieldKind::Email, true, 0), now())
                .expect_err("duplicates must refuse dedupe");
        let (field, message) = invalid_on(err);
        assert_eq!(field, "dedupe", "{}", t.label);
        assert!(message.contains("2 leads"), "{}: the count of repeating leads: {message}", t.label);
        assert!(!field_row(&mut conn, f.email).2, "{}: refused change left no trace", t.label);
        assert_eq!(audit_actions(&mut conn, f.campaign).len(), before, "{}: nothing logged", t.label);

        let dups =
            fields::duplicates(&mut conn, f.actor.instance_id, f.email).expect("query").expect("found");
        assert_eq!(dups.surplus, 2, "{}", t.label);
        assert_eq!(dups.values.len(), 1, "{}", t.label);
        assert_eq!(dups.values[0].value, "a@example.com", "{}", t.label);
        assert_eq!(dups.values[0].leads, 3, "{}", t.label);

        // Remove the repeats: dedupe goes on, and the change is logged.
        diesel::delete(
            lead_values::table.filter(
                lead_values::field_id
                    .eq(f.email)
                    .and(lead_values::normalized.eq("a@example.com"))
                    .and(lead_values::lead_id.ne(second)),
            ),
        )
        .execute(&mut conn)
        .expect("delete repeats");
        assert_eq!(fields::surplus(&mut conn, f.email).expect("surplus"), 0, "{}", t.label);
        fields::update(&mut conn, f.actor, f.email, &change("email", FieldKind::Email, true, 0), now())
            .expect("no repeats left");
        assert!(field_row(&mut conn, f.email).2, "{}", t.label);
        assert_eq!(audit_actions(&mut conn, f.campaign).last().map(String::as_str), Some("field.update"));
    }
}

#[test]
fn a_field_holding_values_keeps_its_kind_and_key() {
    for t in TestDb::all() {
        let mut conn = t.conn();
        let f = fixture(&mut conn, "Kinds Co");
        // No values yet: kind and key may change (phone → text, key renamed).
        let to_text =
            fields::FieldChange { spec: spec("mobile", "Mobile", FieldKind::Text, false), position: 1 };
        fields::update(&mut conn, f.actor, f.phone, &to_text, now()).expect("no values: free to change");
        assert_eq!(field_row(&mut conn, f.phone), ("mobile".into(), "text".into(), false), "{}", t.label);

        lead(&mut conn, &f, "u1", "a@example.com");
        let err =
            fields::update(&mut conn, f.actor, f.email, &change("email", FieldKind::Text, false, 0), now())
                .expect_err("values fix the kind");
        assert_eq!(invalid_on(err).0, "kind", "{}", t.label);
        let err =
            fields::update(&mut conn, f.actor, f.email, &change("mail", FieldKind::Email, false, 0), now())
                .expect_err("values fix the key");
        assert_eq!(invalid_on(err).0, "key", "{}", t.label);
        assert_eq!(field_row(&mut conn, f.email), ("email".into(), "email".into(), false), "{}", t.label);
        // Label and position still change.
        let relabel = fields::FieldChange {
            spec: spec("email", "Email address", FieldKind::Email, false),
            position: 5,
        };
        fields::update(&mut conn, f.actor, f.email, &relabel, now()).expect("label and position");
        // A field with values cannot be removed; one without can.
        let err = fields::remove(&mut conn, f.actor, f.email, now()).expect_err("values");
        assert_eq!(invalid_on(err).0, "field", "{}", t.label);
        fields::remove(&mut conn, f.actor, f.phone, now()).expect("no values");
        assert_eq!(
            count(
                &mut conn,
                &format!("SELECT COUNT(*) AS n FROM campaign_fields WHERE campaign_id = {}", f.campaign)
            ),
            1,
            "{}",
            t.label
        );
    }
}

#[test]
fn every_change_is_logged_on_its_campaign_page() {
    for t in TestDb::all() {
        let mut conn = t.conn();
        let f = fixture(&mut conn, "Audit Co");
        campaigns::update(&mut conn, f.actor, f.campaign, "Loans UK", None, now()).expect("update");
        let cap = caps::add(&mut conn, f.actor, f.campaign, Some(f.supplier), CapPeriod::Week, 100, now())
            .expect("cap");
        caps::set_limit(&mut conn, f.actor, cap, 150, now()).expect("limit");
        suppliers::set_campaigns(&mut conn, f.actor, f.supplier, &[f.campaign], now()).expect("link");
        fields::add(
            &mut conn,
            f.actor,
            f.campaign,
            &spec("postcode", "Postcode", FieldKind::Text, true),
            now(),
        )
        .expect("field");
        caps::remove(&mut conn, f.actor, cap, now()).expect("remove cap");
        // Saving without a change logs nothing.
        campaigns::update(&mut conn, f.actor, f.campaign, "Loans UK", None, now()).expect("no-op");

        assert_eq!(
            audit_actions(&mut conn, f.campaign),
            [
                "campaign.create",
                "field.add",
                "field.add",
                "campaign.rename",
                "campaign.max_rejection_days",
                "cap.add",
                "cap.update",
                "supplier.campaigns",
                "field.add",
                "cap.remove",
            ],
            "{}",
            t.label
        );
        let who: Vec<Option<i64>> = audit_log::table
            .filter(audit_log::campaign_id.eq(f.campaign))
            .select(audit_log::actor_user_id)
            .load(&mut conn)
            .expect("actors");
        assert!(who.iter().all(|w| *w == f.actor.user_id), "{}: every row names the owner", t.label);

        let page = campaigns::detail(&mut conn, f.actor.instance_id, f.campaign, now().date())
            .expect("detail")
            .expect("found");
        assert_eq!(page.name, "Loans UK");
        assert_eq!(page.max_rejection_days, None);
        assert_eq!(page.changes.len(), 10);
        assert_eq!(page.changes[0].action, "Removed a cap", "{}: newest first", t.label);
        assert_eq!(page.changes[0].who, "Owner");
        assert!(page.changes.iter().any(|c| c.detail.contains("maximum rejection days: 7 days → none")));
        assert_eq!(page.suppliers.len(), 1);
        assert_eq!(
            page.fields.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(),
            ["email", "phone", "postcode"]
        );
    }
}

#[test]
fn caps_show_the_current_periods_usage() {
    for t in TestDb::all() {
        let mut conn = t.conn();
        let f = fixture(&mut conn, "Caps Co");
        let week = caps::add(&mut conn, f.actor, f.campaign, Some(f.supplier), CapPeriod::Week, 100, now())
            .expect("cap");
        caps::add(&mut conn, f.actor, f.campaign, None, CapPeriod::Day, 10, now()).expect("day cap");
        // Monday of 2026-11-30's week is the 30th itself; last week's usage is not this week's.
        let this_week = NaiveDate::from_ymd_opt(2026, 11, 30).expect("date");
        let last_week = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        for (start, used) in [(this_week, 42_i64), (last_week, 99)] {
            diesel::insert_into(cap_usage::table)
                .values((
                    cap_usage::cap_id.eq(week),
                    cap_usage::period_start.eq(start),
                    cap_usage::used.eq(used),
                ))
                .execute(&mut conn)
                .expect("usage");
        }
        let page = campaigns::detail(&mut conn, f.actor.instance_id, f.campaign, now().date())
            .expect("q")
            .expect("found");
        let weekly = page.caps.iter().find(|c| c.id == week).expect("weekly cap");
        assert_eq!(
            (weekly.used, weekly.limit, weekly.period_start.as_str()),
            (42, 100, "2026-11-30"),
            "{}",
            t.label
        );
        assert_eq!(weekly.supplier.as_ref().map(|s| s.name.as_str()), Some("Source"));
        let daily = page.caps.iter().find(|c| c.period == CapPeriod::Day).expect("daily cap");
        assert_eq!((daily.used, daily.supplier.is_none()), (0, true), "{}", t.label);

        // One cap per campaign, supplier and period.
        let err = caps::add(&mut conn, f.actor, f.campaign, Some(f.supplier), CapPeriod::Week, 5, now())
            .expect_err("second weekly cap on the supplier");
        assert_eq!(invalid_on(err).0, "period", "{}", t.label);
        let err = caps::add(&mut conn, f.actor, f.campaign, None, CapPeriod::Day, 5, now())
            .expect_err("second daily");
        assert_eq!(invalid_on(err).0, "period", "{}", t.label);
        // Removing a cap removes its usage rows.
        caps::remove(&mut conn, f.actor, week, now()).expect("remove");
        assert_eq!(
            count(&mut conn, &format!("SELECT COUNT(*) AS n FROM cap_usage WHERE cap_id = {week}")),
            0
        );
    }
}

#[test]
fn another_instances_ids_are_not_found() {
    for t in TestDb::all() {
        let mut conn = t.conn();
        let f = fixture(&mut conn, "Home Co");
        let other = fixture(&mut conn, "Other Co");
        let me = f.actor;
        let not_found = |r: Result<(), SetupError>| matches!(r, Err(SetupError::NotFound));
        let other_client: i64 =
            clients::find_by_name(&mut conn, other.actor.instance_id, "Buyer").expect("q").expect("c");
        assert!(not_found(clients::rename(&mut conn, me, other_client, "Mine", now())), "{}", t.label);
        assert!(not_found(campaigns::update(&mut conn, me, other.campaign, "Mine", Some(3), now())));
        assert!(not_found(fields::update(
            &mut conn,
            me,
            other.email,
            &change("email", FieldKind::Email, true, 0),
            now()
        )));
        assert!(not_found(fields::remove(&mut conn, me, other.phone, now())));
        assert!(not_found(
            fields::add(&mut conn, me, other.campaign, &spec("x", "X", FieldKind::Text, false), now())
                .map(drop)
        ));
        assert!(not_found(
            caps::add(&mut conn, me, other.campaign, None, CapPeriod::Day, 1, now()).map(drop)
        ));
        let other_cap =
            caps::add(&mut conn, other.actor, other.campaign, None, CapPeriod::Day, 1, now()).expect("cap");
        assert!(not_found(caps::set_limit(&mut conn, me, other_cap, 9, now())));
        assert!(not_found(caps::remove(&mut conn, me, other_cap, now())));
        assert!(not_found(suppliers::rename(&mut conn, me, other.supplier, "Mine", now())));
        assert!(not_found(suppliers::set_campaigns(&mut conn, me, other.supplier, &[], now())));
        // Naming another instance's campaign, client or supplier inside one's own is not found either.
        assert!(not_found(suppliers::set_campaigns(
            &mut conn,
            me,
            f.supplier,
            &[f.campaign, other.campaign],
            now()
        )));
        assert!(not_found(
            caps::add(&mut conn, me, f.campaign, Some(other.supplier), CapPeriod::Day, 1, now()).map(drop)
        ));
        let new = campaigns::NewCampaign {
            client_id: other_client,
            name: "Stolen",
            max_rejection_days: None,
            fields: &[],
        };
        assert!(not_found(campaigns::create(&mut conn, me, &new, now()).map(drop)));
        assert_eq!(
            suppliers::list(&mut conn, me.instance_id).expect("list")[0].campaigns.len(),
            0,
            "{}",
            t.label
        );
        assert!(
            campaigns::detail(&mut conn, me.instance_id, other.campaign, now().date()).expect("q").is_none()
        );
        assert!(fields::duplicates(&mut conn, me.instance_id, other.email).expect("q").is_none());
        // Nothing of the other instance changed.
        assert_eq!(campaigns::list(&mut conn, other.actor.instance_id).expect("list")[0].name, "Loans");
        // Same names are fine in another instance.
        assert_eq!(clients::list(&mut conn, me.instance_id).expect("list")[0].name, "Buyer");
    }
}

/// Creates the same name from `n` threads at once: exactly one wins, the rest read why.
fn race_same_name(pool: &Pool, actor: Actor, n: usize) -> (usize, usize) {
    let barrier = std::sync::Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                s.spawn(|| {
                    let mut conn = pool.get().expect("connection");
                    barrier.wait();
                    clients::create(&mut conn, actor, "Twin", now())
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
        let won = results.iter().filter(|r| r.is_ok()).count();
        let told =
            results.iter().filter(|r| matches!(r, Err(SetupError::Invalid { field: "name", .. }))).count();
        (won, told)
    })
}

#[test]
fn names_stay_unique_under_parallel_requests() {
    for t in TestDb::all() {
        let actor = instance(&mut t.conn(), "Race Co");
        let (won, told) = race_same_name(t.pool(), actor, 4);
        assert_eq!((won, told), (1, 3), "{}: one created, three told the name is taken", t.label);
        let mut conn = t.conn();
        let err = clients::create(&mut conn, actor, " Twin ", now()).expect_err("trimmed name is the same");
        assert!(invalid_on(err).1.contains("already a client named"), "{}", t.label);
    }
}

#[test]
fn parallel_saves_of_one_suppliers_campaigns_all_succeed_once_each() {
    for t in TestDb::all() {
        let f = fixture(&mut t.conn(), "Links Co");
        let barrier = std::sync::Barrier::new(4); // the test pool holds 4 connections
        let results: Vec<Result<(), SetupError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let mut conn = t.pool().get().expect("connection");
                        barrier.wait();
                        suppliers::set_campaigns(&mut conn, f.actor, f.supplier, &[f.campaign], now())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        assert!(results.iter().all(Result::is_ok), "{}: {results:?}", t.label);
        let mut conn = t.conn();
        let logged =
            audit_actions(&mut conn, f.campaign).iter().filter(|a| *a == "supplier.campaigns").count();
        assert_eq!(logged, 1, "{}: the link was made once and logged once", t.label);
    }
}

#[test]
fn instances_are_named_once_and_their_owner_must_choose_a_password() {
    for t in TestDb::all() {
        let mut conn = t.conn();
        let actor = instance(&mut conn, "Solo Co");
        let must: bool = users::table
            .filter(users::id.eq(actor.user_id.expect("owner")))
            .select(users::must_change_password)
            .first(&mut conn)
            .expect("owner row");
        assert!(must, "{}", t.label);
        let again = instances::NewInstance {
            name: "Solo Co",
            owner_email: "someone@else.test",
            owner_name: "Else",
            password_hash: "x",
        };
        assert_eq!(invalid_on(instances::create(&mut conn, &again, now()).expect_err("same name")).0, "name");
        let same_owner =
            instances::NewInstance { name: "Duo Co", owner_email: "OWNER@solo-co.test", ..again };
        assert_eq!(
            invalid_on(instances::create(&mut conn, &same_owner, now()).expect_err("email")).0,
            "owner_email"
        );
        assert_eq!(
            instances::find_by_name(&mut conn, "Duo Co").expect("q"),
            None,
            "{}: nothing half-made",
            t.label
        );
    }
}
