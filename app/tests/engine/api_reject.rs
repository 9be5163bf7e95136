//! The API's single-lead rejection (engine::task::single) against SQLite and PostgreSQL: eight
//! rejections of one lead at once apply exactly once — one success, the rest already rejected,
//! one history row, one cap unit given back.

use app::db::schema::*;
use app::engine::task::single::{SingleError, SingleReject, reject_one};
use diesel::prelude::*;

use crate::support::{Env, cap_total, now};

#[test]
fn api_reject_of_one_lead_at_once_applies_once() {
    for env in Env::all() {
        let user = env.user("client@sendback.test");
        let lead = env.leads_where("Home Insurance UK", "received", 0, 2, 1)[0];
        let history = |env: &Env| -> i64 {
            lead_status_history::table
                .filter(lead_status_history::lead_id.eq(lead))
                .count()
                .get_result(&mut env.conn())
                .expect("history")
        };
        let (rows, caps) = (history(&env), cap_total(&mut env.conn(), "Home Insurance UK"));
        let request = SingleReject {
            lead_id: lead,
            reason: "Duplicate lead".into(),
            user_id: user.id,
            instance_id: user.instance_id,
            client_id: user.client_id.expect("a client user"),
            reject_affiliate_events: true,
            count_towards_cap: true,
            now: now(),
        };
        let barrier = std::sync::Barrier::new(8);
        let outcomes: Vec<Result<(), SingleError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        // (The pool has 4 connections: each thread takes one after the barrier.)
                        barrier.wait();
                        let mut conn = env.conn();
                        reject_one(&mut conn, &request)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        let label = env.db.label;
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "{label}: {outcomes:?}");
        assert!(
            outcomes.iter().all(|o| matches!(o, Ok(()) | Err(SingleError::AlreadyRejected))),
            "{label}: {outcomes:?}"
        );
        assert_eq!(env.lead(lead), ("client_rejected".to_owned(), Some("Duplicate lead".to_owned()), true));
        assert_eq!(history(&env), rows + 1, "{label}");
        assert!(cap_total(&mut env.conn(), "Home Insurance UK") < caps, "{label}");
    }
}
