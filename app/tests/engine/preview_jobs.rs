//! Background previews: a queued job is claimed once, runs to the synchronous preview's figures,
//! a newer preview of the same user cancels it (the worker stops at its next chunk and writes
//! nothing more), a stale job is taken over, and old jobs are pruned.

use app::clock::Clock;
use app::db::schema::preview_jobs as jobs;
use app::domain::preview_job::PreviewStatus;
use app::domain::task::IdentifierChoice;
use app::engine::preview_jobs::{
    self, KIND_REJECTION, PreviewRequest, PreviewResult, PreviewRunner, RejectionPreviewRequest,
};
use app::engine::task;
use chrono::TimeDelta;
use diesel::prelude::*;

use crate::support::{Env, lead_id_csv, now};

fn status(env: &Env, id: i64) -> String {
    jobs::table.find(id).select(jobs::status).first(&mut env.conn()).expect("job")
}

#[test]
fn a_job_is_claimed_once_runs_like_the_preview_and_a_newer_one_cancels_it() {
    for env in Env::all() {
        let l = env.db.label;
        let inside = env.leads_where("Home Insurance UK", "received", 1, 6, 25);
        // Enough rows for several chunks (5,000 each).
        let mut rows: Vec<(String, &str)> = inside.iter().map(|id| (id.to_string(), "Bad lead")).collect();
        rows.extend((0..12_000).map(|n| ((900_000_000 + n).to_string(), "nobody")));
        let file = env.file("jobs.csv", &lead_id_csv(&rows));
        let upload = env.upload(&file);
        let req = env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
        let client = env.user("client@sendback.test");
        let request = PreviewRequest::Rejection(RejectionPreviewRequest::of(upload, &req));
        let storage = env.storage();
        let clock = env.clock.clone();
        let runner = |worker_id| PreviewRunner { storage: &storage, clock: &clock, worker_id, stop: None };

        // Claimed once: a second claim finds nothing.
        let first = preview_jobs::start(&mut env.conn(), client.id, &request, now()).expect("start");
        let claimed = preview_jobs::claim_next(&mut env.conn(), "w1", now(), preview_jobs::STALE_AFTER);
        assert_eq!(claimed.expect("claim"), Some(first), "{l}");
        assert_eq!(
            preview_jobs::claim_next(&mut env.conn(), "w2", now(), preview_jobs::STALE_AFTER).expect("claim"),
            None,
            "{l}"
        );

        // A newer preview of the same user cancels it; its worker stops at its first chunk.
        let second = preview_jobs::start(&mut env.conn(), client.id, &request, now()).expect("start");
        assert_eq!(status(&env, first), "cancelled", "{l}");
        let ended = runner("w1").run(&mut env.conn(), first).expect("run");
        assert_eq!(ended, PreviewStatus::Cancelled, "{l}");
        let job = preview_jobs::find(&mut env.conn(), client.id, first, KIND_REJECTION)
            .expect("find")
            .expect("job");
        assert_eq!(
            (job.status(), job.result.as_deref(), job.rows_read),
            (PreviewStatus::Cancelled, None, 0),
            "{l}"
        );

        // The newer one: claimed, run to the end, the same figures as the synchronous preview.
        assert_eq!(
            preview_jobs::claim_next(&mut env.conn(), "w2", now(), preview_jobs::STALE_AFTER).expect("claim"),
            Some(second),
            "{l}"
        );
        assert_eq!(runner("w2").run(&mut env.conn(), second).expect("run"), PreviewStatus::Done, "{l}");
        let job = preview_jobs::find(&mut env.conn(), client.id, second, KIND_REJECTION)
            .expect("find")
            .expect("job");
        assert_eq!((job.rows_read, job.rows_total), (rows.len() as i64, Some(rows.len() as i64)), "{l}");
        let Some(PreviewResult::Rejection(result)) = job.result().expect("result") else {
            panic!("{l}: no result")
        };
        let expected =
            task::preview(&mut env.conn(), &client, &req, &file, env.clock.now().date()).expect("preview");
        assert_eq!(task::Preview::from(result), expected, "{l}");
        // Another user does not find it.
        let bolt = env.user("bolt@sendback.test");
        assert!(
            preview_jobs::find(&mut env.conn(), bolt.id, second, KIND_REJECTION).expect("find").is_none(),
            "{l}"
        );

        // A running job whose heartbeat went stale (its server died) is taken over.
        let third = preview_jobs::start(&mut env.conn(), client.id, &request, now()).expect("start");
        assert_eq!(
            preview_jobs::claim_next(&mut env.conn(), "w1", now(), preview_jobs::STALE_AFTER).expect("claim"),
            Some(third),
            "{l}"
        );
        assert_eq!(
            preview_jobs::claim_next(
                &mut env.conn(),
                "w2",
                now() + TimeDelta::seconds(10),
                preview_jobs::STALE_AFTER
            )
            .expect("claim"),
            None,
            "{l}"
        );
        let later = now() + preview_jobs::STALE_AFTER + TimeDelta::seconds(1);
        assert_eq!(
            preview_jobs::claim_next(&mut env.conn(), "w2", later, preview_jobs::STALE_AFTER).expect("claim"),
            Some(third),
            "{l}"
        );
        // The first worker finds it no longer its own.
        assert!(
            !preview_jobs::record_progress(&mut env.conn(), third, "w1", 5000, later).expect("progress"),
            "{l}"
        );
        assert!(
            preview_jobs::record_progress(&mut env.conn(), third, "w2", 5000, later).expect("progress"),
            "{l}"
        );

        // Pruned: finished jobs after an hour, any job after a day.
        assert_eq!(
            preview_jobs::prune(&mut env.conn(), now() + TimeDelta::minutes(30)).expect("prune"),
            0,
            "{l}"
        );
        assert_eq!(
            preview_jobs::prune(&mut env.conn(), now() + TimeDelta::minutes(61)).expect("prune"),
            2,
            "{l}"
        );
        assert_eq!(status(&env, third), "running", "{l}");
        assert_eq!(
            preview_jobs::prune(&mut env.conn(), now() + TimeDelta::hours(25)).expect("prune"),
            1,
            "{l}"
        );
    }
}
