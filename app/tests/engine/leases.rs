//! Claims that hold with several workers (docs/DOMAIN.md §6): the heartbeat thread keeps a
//! running task's claim and notices a takeover, a worker that lost its task writes nothing, and
//! a task whose run fails the same way three times is failed and frees its campaign.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use app::clock::Clock;
use app::db::DbConn;
use app::db::schema::*;
use app::domain::task::IdentifierChoice;
use app::engine::lease::{Heartbeat, Job};
use app::engine::task::{self, RunEnd, RunLimits, Runner};
use chrono::TimeDelta;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use crate::common::count;
use crate::support::{Env, lead_id_csv};

const STALE: TimeDelta = TimeDelta::seconds(30);

/// Polls `done` for up to 5 s.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn heartbeat_at(env: &Env, task: i64) -> Option<chrono::NaiveDateTime> {
    rejection_tasks::table
        .find(task)
        .select(rejection_tasks::heartbeat_at)
        .first(&mut env.conn())
        .expect("task")
}

fn a_task(env: &Env, leads: i64) -> (i64, Vec<i64>) {
    let inside = env.leads_where("Home Insurance UK", "received", 0, 6, leads);
    let rows: Vec<(String, &str)> = inside.iter().map(|id| (id.to_string(), "Gone")).collect();
    let req = env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
    let task = env.submit(&req, &env.file("t.csv", &lead_id_csv(&rows))).expect("submit");
    (task, inside)
}

/// w1's heartbeat thread for `task`, beating every 20 ms.
fn w1_heartbeat(env: &Env, task: i64) -> Heartbeat {
    Heartbeat::start(
        env.db.pool().clone(),
        std::sync::Arc::new(env.clock.clone()),
        Job::RejectionTask,
        task,
        "w1".into(),
        Duration::from_millis(20),
    )
}

#[test]
fn the_heartbeat_keeps_the_claim_and_notices_a_takeover() {
    for env in Env::all() {
        let label = env.db.label;
        let (task, _) = a_task(&env, 2);
        let start = env.clock.now();
        assert_eq!(task::claim_next(&mut env.conn(), "w1", start, STALE).expect("claim"), Some(task));

        // A minute passes while w1 works on one long step: its heartbeat thread keeps the claim.
        let beat = w1_heartbeat(&env, task);
        env.clock.advance(TimeDelta::seconds(60));
        let later = env.clock.now();
        assert!(eventually(|| heartbeat_at(&env, task) == Some(later)), "{label}: renewed");
        assert_eq!(task::claim_next(&mut env.conn(), "w2", later, STALE).expect("claim"), None, "{label}");
        assert!(!beat.lost().load(Ordering::Relaxed), "{label}");
        drop(beat);

        // w1 goes silent: after the stale period w2 takes the task over, and w1's heartbeat, if
        // it beats again, learns it lost the task.
        env.clock.advance(STALE + TimeDelta::seconds(1));
        let now = env.clock.now();
        assert_eq!(
            task::claim_next(&mut env.conn(), "w2", now, STALE).expect("claim"),
            Some(task),
            "{label}"
        );
        let beat = w1_heartbeat(&env, task);
        assert!(eventually(|| beat.lost().load(Ordering::Relaxed)), "{label}: lost noticed");
        let holder: Option<String> = rejection_tasks::table
            .find(task)
            .select(rejection_tasks::claimed_by)
            .first(&mut env.conn())
            .expect("task");
        assert_eq!(holder.as_deref(), Some("w2"), "{label}: w1's beats do not take it back");
    }
}

#[test]
fn a_worker_that_lost_its_task_writes_nothing() {
    for env in Env::all() {
        let label = env.db.label;
        let (task, inside) = a_task(&env, 6);
        let start = env.clock.now();
        assert_eq!(task::claim_next(&mut env.conn(), "w1", start, STALE).expect("claim"), Some(task));
        env.clock.advance(STALE + TimeDelta::seconds(1));
        assert_eq!(
            task::claim_next(&mut env.conn(), "w2", env.clock.now(), STALE).expect("claim"),
            Some(task),
            "{label}"
        );

        // w1 still believes it runs the task (its heartbeat has not told it yet).
        let storage = env.storage();
        let runner = Runner {
            storage: &storage,
            worker_id: "w1",
            batch_rows: 2,
            clock: &env.clock,
            stop: None,
            lost: None,
            run_bytes: app::engine::spill::DEFAULT_RUN_BYTES,
        };
        let end = runner.run(&mut env.conn(), task, RunLimits::default()).expect("run");
        assert_eq!(end, RunEnd::Stopped, "{label}");
        let history = format!("SELECT COUNT(*) AS n FROM lead_status_history WHERE task_id = {task}");
        assert_eq!(count(&mut env.conn(), &history), 0, "{label}: no lead changed by w1");
        let chunks = format!("SELECT COUNT(*) AS n FROM rejection_task_chunks WHERE task_id = {task}");
        assert_eq!(count(&mut env.conn(), &chunks), 0, "{label}");
        let (status, rows_total): (String, Option<i64>) = rejection_tasks::table
            .find(task)
            .select((rejection_tasks::status, rejection_tasks::rows_total))
            .first(&mut env.conn())
            .expect("task");
        assert_eq!((status.as_str(), rows_total), ("running", None), "{label}: w1 left w2's task alone");

        // w2 dies too; a third worker takes over and the task is applied exactly once.
        env.clock.advance(STALE + TimeDelta::seconds(1));
        let (id, end) = env.worker(2).run_one(RunLimits::default()).expect("run").expect("task");
        assert_eq!((id, end), (task, RunEnd::Completed), "{label}");
        assert_eq!(count(&mut env.conn(), &history), 6, "{label}: one history row per lead");
        for lead in inside {
            assert_eq!(env.lead(lead).0, "client_rejected", "{label}");
        }
    }
}

/// Makes every insert into the task's outcome chunks fail with "boom" (a fault that repeats).
fn break_chunk_inserts(conn: &mut DbConn) {
    let sql = match conn {
        DbConn::Sqlite(_) => {
            "CREATE TRIGGER boom BEFORE INSERT ON rejection_task_chunks BEGIN SELECT RAISE(ABORT, 'boom'); END;"
        }
        DbConn::Pg(_) => {
            "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER boom BEFORE INSERT ON rejection_task_chunks FOR EACH ROW EXECUTE FUNCTION boom();"
        }
    };
    conn.batch_execute(sql).expect("trigger");
}

fn mend_chunk_inserts(conn: &mut DbConn) {
    let sql = match conn {
        DbConn::Sqlite(_) => "DROP TRIGGER boom;",
        DbConn::Pg(_) => "DROP TRIGGER boom ON rejection_task_chunks; DROP FUNCTION boom();",
    };
    conn.batch_execute(sql).expect("drop trigger");
}

#[test]
fn the_same_error_three_times_fails_the_task_and_frees_its_campaign() {
    for env in Env::all() {
        let label = env.db.label;
        let (failing, _) = a_task(&env, 3);
        let (next, next_leads) = a_task(&env, 2);
        break_chunk_inserts(&mut env.conn());
        let worker = env.worker(1000);
        for attempt in 1..=3 {
            let (id, end) = worker.run_one(RunLimits::default()).expect("run").expect("a task");
            assert_eq!(
                id, failing,
                "{label}: attempt {attempt} is the failing task's, the campaign's other waits"
            );
            let (failures, last_error): (i32, String) = job_failures::table
                .find(("rejection_task", failing))
                .select((job_failures::failures, job_failures::last_error))
                .first(&mut env.conn())
                .expect("failures recorded");
            assert_eq!(failures, attempt, "{label}");
            assert!(last_error.contains("boom"), "{label}: {last_error}");
            if attempt < 3 {
                assert_eq!(end, RunEnd::Stopped, "{label}");
                // Handed back with a backoff: not claimable at once, claimable after it.
                assert!(worker.run_one(RunLimits::default()).expect("run").is_none(), "{label}: backoff");
                env.clock.advance(TimeDelta::seconds(5 * i64::from(attempt) + 1));
            } else {
                assert_eq!(end, RunEnd::Failed, "{label}");
            }
        }
        let (status, reason): (String, Option<String>) = rejection_tasks::table
            .find(failing)
            .select((rejection_tasks::status, rejection_tasks::failure_reason))
            .first(&mut env.conn())
            .expect("task");
        assert_eq!(status, "failed", "{label}");
        let reason = reason.unwrap_or_default();
        assert!(reason.starts_with("Stopped after 3 attempts failed the same way:"), "{label}: {reason}");
        assert!(reason.contains("boom"), "{label}: {reason}");
        let history = format!("SELECT COUNT(*) AS n FROM lead_status_history WHERE task_id = {failing}");
        assert_eq!(count(&mut env.conn(), &history), 0, "{label}: every failed batch rolled back");

        // The campaign is free: its next task runs.
        mend_chunk_inserts(&mut env.conn());
        let (id, end) = worker.run_one(RunLimits::default()).expect("run").expect("a task");
        assert_eq!((id, end), (next, RunEnd::Completed), "{label}");
        assert_eq!(env.lead(next_leads[0]).0, "client_rejected", "{label}");
    }
}
