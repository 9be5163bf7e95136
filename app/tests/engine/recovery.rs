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

/// The email of a lead (its `email` field's stored value).
fn email_of(env: &Env, lead: i64, field: i64) -> String {
    lead_values::table
        .filter(lead_values::lead_id.eq(lead).and(lead_values::field_id.eq(field)))
        .select(lead_values::value)
        .first(&mut env.conn())
        .expect("email")
}

#[test]
fn tiny_sorted_runs_give_the_same_end_state_and_results_as_one_run() {
    let pairs: Vec<(TestDb, TestDb)> = {
        let mut v = vec![(TestDb::sqlite(), TestDb::sqlite())];
        if let (Some(a), Some(b)) = (TestDb::postgres(), TestDb::postgres()) {
            v.push((a, b));
        }
        v
    };
    for (a, b) in pairs {
        let label = a.label;
        let (tiny, whole) = (Env::new(a), Env::new(b));
        // A Lead ID file (repeated ids, unknown and invalid rows), then an email file (the same
        // address in another case, an unknown address twice, an invalid one).
        let tasks = |env: &Env, run_bytes: usize, crash: bool| -> Vec<i64> {
            let inside = env.leads_where("Home Insurance UK", "received", 0, 6, 30);
            let outside = env.leads_where("Home Insurance UK", "received", 8, 40, 5);
            let mut rows: Vec<(String, &str)> = Vec::new();
            for (i, id) in inside.iter().enumerate().take(20) {
                rows.push((id.to_string(), "Bad"));
                if i % 4 == 0 {
                    rows.push((inside[i / 2].to_string(), "again"));
                }
            }
            rows.extend(outside.iter().map(|id| (id.to_string(), "Old")));
            rows.push(("999999999".into(), "unknown"));
            rows.push(("x".into(), "invalid"));
            rows.push((inside[0].to_string(), "last"));
            let mut req =
                env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
            req.options = TaskOptions::ALL_ON;
            let t1 = env.submit(&req, &env.file("ids.csv", &lead_id_csv(&rows))).expect("submit");
            let email = env.field("Home Insurance UK", "email");
            let mut csv = String::from("email,reason\n");
            for (i, id) in inside.iter().enumerate().skip(20) {
                let address = email_of(env, *id, email);
                csv.push_str(&format!("{address},Bad\n"));
                if i % 3 == 0 {
                    csv.push_str(&format!("  {},dup\n", address.to_uppercase()));
                    csv.push_str("nobody@example.com,unknown\n");
                }
            }
            csv.push_str("not an email,invalid\n");
            let mut req = env.request("Home Insurance UK", IdentifierChoice::Field(email), "email", "reason");
            req.options = TaskOptions::ALL_ON;
            let t2 = env.submit(&req, &env.file("emails.csv", csv.as_bytes())).expect("submit");
            for _ in [t1, t2] {
                let mut worker = env.worker(7);
                worker.run_bytes = run_bytes;
                if crash {
                    let (_, end) =
                        worker.run_one(RunLimits { max_batches: Some(1) }).expect("run").expect("task");
                    assert_eq!(end, RunEnd::Stopped);
                    env.clock.advance(TimeDelta::seconds(31));
                }
                let (_, end) = worker.run_one(RunLimits::default()).expect("run").expect("task");
                assert_eq!(end, RunEnd::Completed, "{label}");
            }
            vec![t1, t2]
        };
        // Three slots a run: every sort spills many runs to disk (and a crash resumes).
        let small = tasks(&tiny, 3 * 64, true);
        let big = tasks(&whole, app::engine::spill::DEFAULT_RUN_BYTES, false);
        assert_eq!(small, big);
        for t in small {
            assert_eq!(tiny.results_csv(t), whole.results_csv(t), "{label}: task {t}'s results");
            assert_eq!(tiny.counts(t), whole.counts(t), "{label}");
        }
        assert!(whole.counts(big[1]).get("duplicate_in_file").is_some_and(|n| *n > 3), "{label}");
        assert_eq!(snapshot(&mut tiny.conn()), snapshot(&mut whole.conn()), "{label}: same end state");
        let left: Vec<_> = std::fs::read_dir(tiny.storage().dir)
            .expect("dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{label}: temporary files are deleted: {left:?}");
    }
}

/// Row numbers are the spreadsheet's (docs/DOMAIN.md, "Row numbers"): a note over several lines
/// is one row, a blank line is a row, and a task resumed after a crash numbers rows the same.
#[test]
fn results_number_rows_as_a_spreadsheet_shows_them_across_a_resume() {
    for env in Env::all() {
        let l = env.db.label;
        let inside = env.leads_where("Home Insurance UK", "received", 0, 6, 4);
        let file = env.file(
            "notes.csv",
            format!(
                "Lead ID,Rejection Reason,Agent\n\
                 {},\"Called twice\nand said no\",a1\n\
                 {},Wrong number,a1\n\
                 {},\"one\r\ntwo\r\nthree\",a1\n\
                 \n\
                 {},Fake,a1\n",
                inside[0], inside[1], inside[2], inside[3]
            )
            .as_bytes(),
        );
        let req = env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
        let task = env.submit(&req, &file).expect("submit");
        // One batch of two rows, then the worker "dies"; another takes the task over.
        let (_, end) = env.worker(2).run_one(RunLimits { max_batches: Some(1) }).expect("run").expect("task");
        assert_eq!(end, RunEnd::Stopped, "{l}");
        env.clock.advance(TimeDelta::seconds(31));
        let (_, end) = env.worker(2).run_one(RunLimits::default()).expect("run").expect("task");
        assert_eq!(end, RunEnd::Completed, "{l}");

        let results = env.results_csv(task);
        let mut reader = csv::Reader::from_reader(results.as_bytes());
        let rows: Vec<(String, String, String)> = reader
            .records()
            .map(|r| {
                let r = r.expect("record");
                (r[0].to_owned(), r[2].to_owned(), r[3].to_owned())
            })
            .collect();
        let want = [
            ("2", "Called twice\nand said no"),
            ("3", "Wrong number"),
            ("4", "one\r\ntwo\r\nthree"),
            ("6", "Fake"),
        ];
        assert_eq!(
            rows,
            want.map(|(row, reason)| (row.to_owned(), reason.to_owned(), "rejected".to_owned())),
            "{l}: the header is row 1, the blank line row 5"
        );
    }
}
