//! Claims and the worker: one running task per campaign, repeated submissions, the background
//! worker loop and its stop signal.

use app::db::schema::*;
use app::domain::task::IdentifierChoice;
use app::engine::task;
use diesel::prelude::*;

use crate::common::{TestDb, count};
use crate::support::{Env, lead_id_csv, now};

/// The default takeover time.
const STALE: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

#[test]
fn one_running_task_per_campaign() {
    let env = Env::new(TestDb::sqlite());
    let file = env.file("one.csv", b"Lead ID,Rejection Reason\n1,x\n");
    let req = env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
    let a = env.submit(&req, &file).expect("a");
    let b = env.submit(&req, &file).expect("b");
    assert_ne!(a, b);
    let mut conn = env.conn();
    assert_eq!(task::claim_next(&mut conn, "w1", now(), STALE).expect("claim"), Some(a));
    assert_eq!(task::claim_next(&mut conn, "w2", now(), STALE).expect("claim"), None, "b waits for a");
    let car = env.request("Car Insurance UK", IdentifierChoice::Uid, "Lead ID", "Rejection Reason");
    let c = env.submit(&car, &file).expect("c");
    assert_eq!(
        task::claim_next(&mut conn, "w2", now(), STALE).expect("claim"),
        Some(c),
        "other campaigns run"
    );
}

#[test]
fn a_repeated_submission_returns_the_same_task() {
    let env = Env::new(TestDb::sqlite());
    let file = env.file("one.csv", b"Lead ID,Rejection Reason\n1,x\n");
    let mut req = env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
    req.request_key = Some("form-123".into());
    // The form sent twice (a double click, Back): the same upload, the same key.
    let upload = env.upload(&file);
    let a = env.submit_upload(&req, upload).expect("a");
    let b = env.submit_upload(&req, upload).expect("b");
    assert_eq!(a, b);
    assert_eq!(count(&mut env.conn(), "SELECT COUNT(*) AS n FROM rejection_tasks"), 1);
    assert_eq!(std::fs::read_dir(env.dir.path().join("uploads")).expect("dir").count(), 1, "one stored copy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_worker_runs_queued_tasks_and_stops_on_request() {
    let env = Env::new(TestDb::sqlite());
    let inside = env.leads_where("Home Insurance UK", "received", 1, 6, 2);
    let file =
        env.file("bg.csv", &lead_id_csv(&[(inside[0].to_string(), "x"), (inside[1].to_string(), "y")]));
    let task = env
        .submit(
            &env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason"),
            &file,
        )
        .expect("submit");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(env.worker(1000).run_forever(stopped));
    let mut status = String::new();
    for _ in 0..100 {
        status = rejection_tasks::table
            .find(task)
            .select(rejection_tasks::status)
            .first(&mut env.conn())
            .expect("task");
        if status == "completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "completed");
    assert_eq!(env.lead(inside[1]).0, "client_rejected");
    stop.send(true).expect("signal");
    tokio::time::timeout(std::time::Duration::from_secs(10), worker).await.expect("stops").expect("no panic");
}
