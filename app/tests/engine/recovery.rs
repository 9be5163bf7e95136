//! Crash recovery: a task stopped mid-way is taken over once its heartbeat is stale and resumes to
//! the same end state as an uninterrupted run.

use app::db::schema::*;
use app::domain::task::IdentifierChoice;
use app::domain::task::TaskOptions;
use app::engine::task::{RunEnd, RunLimits};
use chrono::TimeDelta;
use diesel::prelude::*;

use crate::common::TestDb;
use crate::support::{Env, lead_id_csv, snapshot};

#[test]
fn a_task_stopped_mid_way_resumes_to_the_same_end_state() {
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
        let make = |env: &Env| {
            let inside = env.leads_where("Home Insurance UK", "received", 0, 6, 30);
            let outside = env.leads_where("Home Insurance UK", "received", 8, 40, 5);
            let mut rows: Vec<(String, &str)> = inside.iter().map(|id| (id.to_string(), "Bad")).collect();
            rows.extend(outside.iter().map(|id| (id.to_string(), "Old")));
            rows.push((inside[3].to_string(), "dup"));
            rows.push(("x".into(), "invalid"));
            let file = env.file("crash.csv", &lead_id_csv(&rows));
            let mut req =
                env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
            req.options = TaskOptions::ALL_ON;
            env.submit(&req, &file).expect("submit")
        };
        let t1 = make(&clean);
        let (_, end) = clean.worker(7).run_one(RunLimits::default()).expect("run").expect("task");
        assert_eq!(end, RunEnd::Completed);

        let t2 = make(&crashed);
        assert_eq!(t1, t2);
        // The first worker "dies" after 2 batches; the task stays running with its cursor.
        let (_, end) =
            crashed.worker(7).run_one(RunLimits { max_batches: Some(2) }).expect("run").expect("task");
        assert_eq!(end, RunEnd::Stopped);
        let done: i64 = rejection_tasks::table
            .find(t2)
            .select(rejection_tasks::rows_done)
            .first(&mut crashed.conn())
            .expect("task");
        assert_eq!(done, 14, "{label}: two batches of 7 committed");
        // A live worker does not steal it while its heartbeat is fresh…
        assert!(crashed.worker(7).run_one(RunLimits::default()).expect("run").is_none(), "{label}");
        // …but takes it over once the heartbeat is stale, and finishes it.
        crashed.clock.advance(TimeDelta::seconds(31));
        let (_, end) = crashed.worker(7).run_one(RunLimits::default()).expect("run").expect("task");
        assert_eq!(end, RunEnd::Completed, "{label}");
        assert_eq!(snapshot(&mut crashed.conn()), snapshot(&mut clean.conn()), "{label}: same end state");
    }
}
