//! Undoing a rejection task (docs/DOMAIN.md §8): every lead, affiliate event, cap usage and cap
//! flag the task changed goes back to exactly what it was; a lead changed since is reported and
//! left alone; an undo stopped mid-way resumes to the same end state; a task is undone once and
//! only by its starter (with the permission) or owner staff.

use app::clock::Clock;
use app::db::DbConn;
use app::db::schema::*;
use app::domain::task::{IdentifierChoice, TaskOptions};
use app::engine::task::undo::{UndoError, UndoStarted, start_undo, undo_preview};
use app::engine::task::views::task_view;
use app::engine::task::{RunEnd, RunLimits};
use chrono::{NaiveDate, TimeDelta};
use diesel::prelude::*;

use crate::common::{TestDb, count};
use crate::support::{Env, lead_id_csv, snapshot};

/// What a task and its undo may change, in full: every lead's status, reason and cap flag,
/// every affiliate event (with the task that rejected it), every cap usage.
#[derive(Debug, PartialEq, Eq)]
struct State {
    leads: Vec<(i64, String, Option<String>, bool)>,
    events: Vec<(i64, i64, String, Option<i64>)>,
    caps: Vec<(i64, NaiveDate, i64)>,
}

fn state(conn: &mut DbConn) -> State {
    State {
        leads: leads::table
            .select((leads::id, leads::status, leads::status_reason, leads::cap_released))
            .order(leads::id)
            .load(conn)
            .expect("leads"),
        events: affiliate_events::table
            .select((
                affiliate_events::id,
                affiliate_events::lead_id,
                affiliate_events::status,
                affiliate_events::rejected_by_task,
            ))
            .order(affiliate_events::id)
            .load(conn)
            .expect("events"),
        caps: cap_usage::table
            .select((cap_usage::cap_id, cap_usage::period_start, cap_usage::used))
            .order((cap_usage::cap_id, cap_usage::period_start))
            .load(conn)
            .expect("caps"),
    }
}

/// A task on Home Insurance UK with every option on: 30 leads inside the window rejected (some
/// with approved events, all counted in caps), 5 outside moved to accepted, a duplicate and an
/// invalid row, then the campaign's remaining received leads moved to accepted.
fn full_task(env: &Env) -> i64 {
    let inside = env.leads_where("Home Insurance UK", "received", 0, 6, 30);
    let outside = env.leads_where("Home Insurance UK", "received", 8, 40, 5);
    let mut rows: Vec<(String, &str)> = inside.iter().map(|id| (id.to_string(), "Bad")).collect();
    rows.extend(outside.iter().map(|id| (id.to_string(), "Old")));
    rows.push((inside[3].to_string(), "dup"));
    rows.push(("x".into(), "invalid"));
    let file = env.file("full.csv", &lead_id_csv(&rows));
    let mut req = env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
    req.options = TaskOptions::ALL_ON;
    env.submit(&req, &file).expect("submit")
}

fn run_to_end(env: &Env, batch_rows: usize) {
    let (_, end) = env.worker(batch_rows).run_one(RunLimits::default()).expect("run").expect("a task");
    assert_eq!(end, RunEnd::Completed);
}

fn undo_as(env: &Env, email: &str, task: i64) -> Result<UndoStarted, UndoError> {
    start_undo(&mut env.conn(), &env.user(email), task, None, env.clock.now())
}

#[test]
fn an_undo_puts_back_every_lead_event_cap_usage_and_cap_flag_the_task_changed() {
    for env in Env::all() {
        let label = env.db.label;
        let before = state(&mut env.conn());
        let task = full_task(&env);
        run_to_end(&env, 7);
        let after_task = state(&mut env.conn());
        // The task did all of it: rejections, moves to accepted, events, caps.
        let changed = count(
            &mut env.conn(),
            &format!("SELECT COUNT(*) AS n FROM lead_status_history WHERE task_id = {task}"),
        );
        assert!(changed > 35, "{label}: the task changed {changed} leads");
        assert!(after_task.events.iter().any(|e| e.3 == Some(task)), "{label}: events rejected");
        assert_ne!(after_task.caps, before.caps, "{label}: cap units given back");
        assert!(
            after_task.leads.iter().filter(|l| l.3).count() > before.leads.iter().filter(|l| l.3).count(),
            "{label}: cap flags"
        );

        // The confirmation says what will happen…
        let client = env.user("client@sendback.test");
        let preview = undo_preview(&mut env.conn(), &client, task).expect("preview");
        assert_eq!(preview.leads_back, changed, "{label}");
        assert_eq!(preview.changed_since, 0, "{label}");
        let accepted = count(
            &mut env.conn(),
            &format!(
                "SELECT COUNT(*) AS n FROM lead_status_history WHERE task_id = {task} AND to_status = 'accepted'"
            ),
        );
        assert!(accepted > 5, "{label}");
        assert_eq!(preview.accepted_back, accepted, "{label}");
        let rejected_events = after_task.events.iter().filter(|e| e.3 == Some(task)).count();
        assert_eq!(preview.events, i64::try_from(rejected_events).expect("n"), "{label}");
        let released: i64 = rejection_tasks::table
            .find(task)
            .select(rejection_tasks::cap_units_released)
            .first(&mut env.conn())
            .expect("task");
        assert!(released > 0, "{label}");
        assert_eq!(preview.cap_units, released, "{label}");

        // …and the undo does exactly that.
        let UndoStarted::Created(undo) = undo_as(&env, "client@sendback.test", task).expect("undo") else {
            panic!("{label}: a new undo")
        };
        run_to_end(&env, 7);
        assert_eq!(state(&mut env.conn()), before, "{label}: back to the state before the task");

        // Each restored lead has a change naming the undo, its user and the task it undid.
        let logged: Vec<(i64, Option<String>, Option<i64>)> = lead_status_history::table
            .filter(lead_status_history::task_id.eq(undo))
            .select((
                lead_status_history::lead_id,
                lead_status_history::reason,
                lead_status_history::actor_user_id,
            ))
            .load(&mut env.conn())
            .expect("history");
        assert_eq!(i64::try_from(logged.len()).expect("n"), changed, "{label}");
        let reason = format!("Undo of task {task}");
        assert!(
            logged.iter().all(|(_, r, by)| r.as_deref() == Some(reason.as_str()) && *by == Some(client.id))
        );

        // The undo's page and results, and the link both ways.
        let view = task_view(&mut env.conn(), &client, undo).expect("view").expect("visible");
        assert_eq!(view.undo_of, Some(task), "{label}");
        let counts = view.undo.expect("undo counts");
        assert_eq!((counts.restored, counts.changed_since), (changed, 0), "{label}");
        assert_eq!(counts.accepted_restored, accepted, "{label}");
        assert_eq!(counts.events_restored, preview.events, "{label}");
        assert_eq!(counts.cap_units, released, "{label}");
        assert!(!view.may_undo, "{label}: an undo cannot be undone");
        let original = task_view(&mut env.conn(), &client, task).expect("view").expect("visible");
        assert_eq!(original.undone_by, Some(undo), "{label}");
        assert!(!original.may_undo, "{label}");
        let results = env.results_csv(undo);
        let mut lines = results.lines();
        assert_eq!(lines.next(), Some("\"lead_id\",\"uid\",\"outcome\",\"status\",\"message\""), "{label}");
        let records: Vec<&str> = lines.collect();
        assert_eq!(i64::try_from(records.len()).expect("n"), changed, "{label}");
        assert!(records.iter().all(|r| r.contains("\"restored\"")), "{label}");

        // Once only; and an undo is not undone.
        let again = undo_as(&env, "client@sendback.test", task);
        assert!(
            matches!(again, Err(UndoError::Refused(ref m)) if m.contains(&format!("task {undo}"))),
            "{label}: {again:?}"
        );
        let of_undo = undo_as(&env, "owner@sendback.test", undo);
        assert!(matches!(of_undo, Err(UndoError::Refused(_))), "{label}: {of_undo:?}");
    }
}

#[test]
fn a_lead_changed_since_the_task_is_reported_and_left_alone() {
    for env in Env::all() {
        let label = env.db.label;
        let inside = env.leads_where("Home Insurance UK", "received", 0, 6, 4);
        let file = env.file(
            "first.csv",
            &lead_id_csv(&[(inside[0].to_string(), "Bad"), (inside[1].to_string(), "Bad")]),
        );
        let mut req =
            env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
        req.options.move_remaining_to_accepted = true;
        let first = env.submit(&req, &file).expect("submit");
        run_to_end(&env, 100);
        // inside[2] was moved to accepted by the first task; a second task rejects it.
        assert_eq!(env.lead(inside[2]).0, "accepted", "{label}");
        let file = env.file("second.csv", &lead_id_csv(&[(inside[2].to_string(), "Changed my mind")]));
        let req = env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
        env.submit(&req, &file).expect("submit");
        run_to_end(&env, 100);
        assert_eq!(env.lead(inside[2]).0, "client_rejected", "{label}");

        let preview =
            undo_preview(&mut env.conn(), &env.user("client@sendback.test"), first).expect("preview");
        assert_eq!(preview.changed_since, 1, "{label}");
        // A webhook endpoint from now on: the undo's changes are announced like any other.
        let instance: i64 = campaigns::table
            .find(env.campaign("Home Insurance UK"))
            .select(campaigns::instance_id)
            .first(&mut env.conn())
            .expect("campaign");
        diesel::insert_into(webhook_endpoints::table)
            .values((
                webhook_endpoints::instance_id.eq(instance),
                webhook_endpoints::url.eq("https://crm.example.com/hooks"),
                webhook_endpoints::description.eq(""),
                webhook_endpoints::statuses.eq(""),
                webhook_endpoints::campaign_ids.eq(""),
                webhook_endpoints::supplier_ids.eq(""),
                webhook_endpoints::enabled.eq(true),
                webhook_endpoints::secret.eq("whsec_dGVzdA=="),
                webhook_endpoints::created_at.eq(env.clock.now()),
                webhook_endpoints::updated_at.eq(env.clock.now()),
            ))
            .execute(&mut env.conn())
            .expect("endpoint");
        let UndoStarted::Created(undo) = undo_as(&env, "client@sendback.test", first).expect("undo") else {
            panic!("{label}")
        };
        run_to_end(&env, 100);
        assert_eq!(env.lead(inside[0]), ("received".to_owned(), None, false), "{label}: restored");
        assert_eq!(env.lead(inside[3]).0, "received", "{label}: moved to accepted, back to received");
        assert_eq!(
            env.lead(inside[2]),
            ("client_rejected".to_owned(), Some("Changed my mind".to_owned()), false),
            "{label}: left as the second task made it"
        );
        let results = env.results_csv(undo);
        let line = results.lines().find(|l| l.starts_with(&format!("\"{}\"", inside[2]))).expect("its row");
        assert!(line.contains("\"changed_since\",\"client_rejected\""), "{label}: {line}");
        let view =
            task_view(&mut env.conn(), &env.user("client@sendback.test"), undo).expect("view").expect("seen");
        let counts = view.undo.expect("counts");
        assert_eq!(counts.changed_since, 1, "{label}");
        // One event per restored lead, each for the undo's own history row.
        let events = count(
            &mut env.conn(),
            &format!(
                "SELECT COUNT(*) AS n FROM webhook_events e JOIN lead_status_history h ON h.id = e.history_id \
                 WHERE h.task_id = {undo} AND h.lead_id = e.lead_id"
            ),
        );
        assert_eq!(events, counts.restored, "{label}");
        assert_eq!(
            count(&mut env.conn(), "SELECT COUNT(*) AS n FROM webhook_events"),
            counts.restored,
            "{label}"
        );
    }
}

#[test]
fn an_undo_stopped_mid_way_resumes_to_the_same_end_state() {
    let pairs: Vec<(TestDb, TestDb)> = {
        let mut v = vec![(TestDb::sqlite(), TestDb::sqlite())];
        if let (Some(a), Some(b)) = (TestDb::postgres(), TestDb::postgres()) {
            v.push((a, b));
        }
        v
    };
    for (a, b) in pairs {
        let label = a.label;
        let (crashed, clean) = (Env::new(a), Env::new(b));
        for env in [&clean, &crashed] {
            let task = full_task(env);
            run_to_end(env, 50);
            let UndoStarted::Created(_) = undo_as(env, "client@sendback.test", task).expect("undo") else {
                panic!("{label}")
            };
        }
        run_to_end(&clean, 7);
        // The crashed worker stops after 2 batches of 7 leads, as a killed process would.
        let (_, end) =
            crashed.worker(7).run_one(RunLimits { max_batches: Some(2) }).expect("run").expect("task");
        assert_eq!(end, RunEnd::Stopped, "{label}");
        crashed.clock.advance(TimeDelta::seconds(31));
        let (_, end) = crashed.worker(7).run_one(RunLimits::default()).expect("run").expect("task");
        assert_eq!(end, RunEnd::Completed, "{label}");
        assert_eq!(snapshot(&mut crashed.conn()), snapshot(&mut clean.conn()), "{label}: same end state");
        assert_eq!(state(&mut crashed.conn()), state(&mut clean.conn()), "{label}");
    }
}

#[test]
fn only_the_starter_with_the_permission_or_owner_staff_may_undo() {
    for env in Env::all() {
        let label = env.db.label;
        let inside = env.leads_where("Home Insurance UK", "received", 0, 6, 2);
        let file = env.file("f.csv", &lead_id_csv(&[(inside[0].to_string(), "Bad")]));
        let req = env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
        let task = env.submit(&req, &file).expect("submit");
        // Not finished yet: refused.
        assert!(matches!(undo_as(&env, "client@sendback.test", task), Err(UndoError::Refused(_))), "{label}");
        run_to_end(&env, 100);
        // The same client's viewer, another client, another instance's staff: not found.
        for email in ["viewer@sendback.test", "bolt@sendback.test", "other@sendback.test"] {
            assert!(matches!(undo_as(&env, email, task), Err(UndoError::NotFound)), "{label}: {email}");
            let preview = undo_preview(&mut env.conn(), &env.user(email), task);
            assert!(matches!(preview, Err(UndoError::NotFound)), "{label}: {email}");
        }
        // The starter, once the permission is taken away: forbidden.
        let mut client = env.user("client@sendback.test");
        client.can_reject_leads = false;
        let refused = start_undo(&mut env.conn(), &client, task, None, env.clock.now());
        assert!(matches!(refused, Err(UndoError::Forbidden)), "{label}");
        // A repeated request (same key) answers the same undo; owner staff may undo too.
        let owner = env.user("owner@sendback.test");
        let first = start_undo(&mut env.conn(), &owner, task, Some("k1"), env.clock.now()).expect("undo");
        let UndoStarted::Created(undo) = first else { panic!("{label}") };
        let again = start_undo(&mut env.conn(), &owner, task, Some("k1"), env.clock.now()).expect("repeat");
        assert_eq!(again, UndoStarted::Repeated(undo), "{label}");
        // The client who started the task sees the staff's undo of it (the link both ways);
        // another client does not.
        let starter = env.user("client@sendback.test");
        let seen = task_view(&mut env.conn(), &starter, undo).expect("view").expect("the starter sees it");
        assert_eq!(seen.undo_of, Some(task), "{label}");
        assert!(task_view(&mut env.conn(), &env.user("bolt@sendback.test"), undo).expect("view").is_none());
        assert_eq!(
            count(&mut env.conn(), "SELECT COUNT(*) AS n FROM rejection_tasks WHERE undo_of IS NOT NULL"),
            1
        );
    }
}

#[test]
fn parallel_undos_of_one_task_start_one() {
    for env in Env::all() {
        let label = env.db.label;
        let inside = env.leads_where("Home Insurance UK", "received", 0, 6, 2);
        let file = env.file("f.csv", &lead_id_csv(&[(inside[0].to_string(), "Bad")]));
        let req = env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
        let task = env.submit(&req, &file).expect("submit");
        run_to_end(&env, 100);
        // As many requests as the pool has connections, released together.
        let client = env.user("client@sendback.test");
        let gate = std::sync::Barrier::new(4);
        let results: Vec<Result<UndoStarted, UndoError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let mut conn = env.conn();
                        gate.wait();
                        start_undo(&mut conn, &client, task, None, env.clock.now())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        let created = results.iter().filter(|r| matches!(r, Ok(UndoStarted::Created(_)))).count();
        assert_eq!(created, 1, "{label}: {results:?}");
        assert!(
            results.iter().all(|r| matches!(r, Ok(UndoStarted::Created(_)) | Err(UndoError::Refused(_)))),
            "{label}: {results:?}"
        );
    }
}
