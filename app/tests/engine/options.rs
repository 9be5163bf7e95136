//! Every task option on at once: leads outside the window accepted, affiliate events rejected,
//! remaining leads accepted, cap units given back (once only).

use std::collections::BTreeMap;

use app::db::schema::*;
use app::domain::task::IdentifierChoice;
use app::domain::task::TaskOptions;
use app::engine::task::TaskRequest;
use diesel::prelude::*;

use crate::common::count;
use crate::support::{Env, cap_total, lead_id_csv};

#[test]
fn all_options_on() {
    for env in Env::all() {
        let l = env.db.label;
        let inside = env.leads_where("Home Insurance UK", "received", 1, 6, 40);
        let outside = env.leads_where("Home Insurance UK", "received", 9, 40, 2);
        // Leads with approved affiliate events among those we reject.
        let with_events: Vec<i64> = affiliate_events::table
            .filter(affiliate_events::lead_id.eq_any(&inside).and(affiliate_events::status.eq("approved")))
            .select(affiliate_events::lead_id)
            .distinct()
            .load(&mut env.conn())
            .expect("events");
        assert!(!with_events.is_empty(), "{l}: fixture has events");
        let mut rows: Vec<(String, &str)> = inside.iter().map(|id| (id.to_string(), "Bad lead")).collect();
        rows.extend(outside.iter().map(|id| (id.to_string(), "Old")));
        let file = env.file("all.csv", &lead_id_csv(&rows));
        let cap_before = cap_total(&mut env.conn(), "Home Insurance UK");
        let received_before = count(
            &mut env.conn(),
            &format!(
                "SELECT COUNT(*) AS n FROM leads WHERE campaign_id = {} AND status = 'received'",
                env.campaign("Home Insurance UK")
            ),
        );
        let mut req =
            env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
        req.options = TaskOptions::ALL_ON;
        let task = env.run(&req, &file);
        assert_eq!(
            env.counts(task),
            BTreeMap::from([("accepted_outside_window", 2), ("rejected", inside.len() as i64)]),
            "{l}"
        );
        // Option 2: outside the window → accepted.
        assert_eq!(env.lead(outside[0]).0, "accepted", "{l}");
        // Option 3: the rejected leads' approved events are rejected; others untouched.
        let approved_left = affiliate_events::table
            .filter(affiliate_events::lead_id.eq_any(&inside).and(affiliate_events::status.eq("approved")))
            .count()
            .get_result::<i64>(&mut env.conn())
            .expect("count");
        assert_eq!(approved_left, 0, "{l}");
        assert!(
            count(&mut env.conn(), "SELECT COUNT(*) AS n FROM affiliate_events WHERE status = 'approved'")
                > 1000
        );
        // Option 5: each rejected lead gives back one unit to each cap it counted in: the daily
        // campaign cap always, the weekly supplier cap when it came from LeadGen Direct.
        let from_leadgen = count(
            &mut env.conn(),
            &format!(
                "SELECT COUNT(*) AS n FROM leads l JOIN suppliers s ON s.id = l.supplier_id WHERE s.name = 'LeadGen Direct' AND l.id IN ({})",
                inside.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
            ),
        );
        assert_eq!(
            cap_before - cap_total(&mut env.conn(), "Home Insurance UK"),
            inside.len() as i64 + from_leadgen,
            "{l}"
        );
        assert!(env.lead(inside[0]).2, "{l}: cap_released");
        assert_remaining_moved_to_accepted(&env, task, received_before, &inside);
        assert_no_second_give_back(&env, &req, &inside);
    }
}

/// Option 4: every other received lead of the campaign received on or before R → accepted, each
/// with one history row naming the task.
fn assert_remaining_moved_to_accepted(env: &Env, task: i64, received_before: i64, inside: &[i64]) {
    let l = env.db.label;
    let remaining: i64 = rejection_tasks::table
        .find(task)
        .select(rejection_tasks::remaining_accepted)
        .first(&mut env.conn())
        .expect("task");
    assert_eq!(remaining, received_before - inside.len() as i64 - 2, "{l}");
    let moved_history = count(
        &mut env.conn(),
        &format!(
            "SELECT COUNT(*) AS n FROM lead_status_history h JOIN leads l ON l.id = h.lead_id \
             WHERE h.task_id = {task} AND h.from_status = 'received' AND h.to_status = 'accepted' \
               AND h.reason = 'Moved to accepted by rejection task {task}' AND h.source = 'rejection_task' \
               AND l.status = 'accepted' AND l.status_reason = h.reason"
        ),
    );
    assert_eq!(moved_history, remaining, "{l}: one history row per lead moved");
    assert_eq!(
        count(
            &mut env.conn(),
            &format!(
                "SELECT COUNT(*) AS n FROM leads WHERE campaign_id = {} AND status = 'received'",
                env.campaign("Home Insurance UK")
            )
        ),
        0,
        "{l}"
    );
}

/// A lead never gives its unit back twice: release it by hand to received, reject again.
fn assert_no_second_give_back(env: &Env, req: &TaskRequest, inside: &[i64]) {
    let l = env.db.label;
    let cap_mid = cap_total(&mut env.conn(), "Home Insurance UK");
    diesel::update(leads::table.find(inside[0]))
        .set(leads::status.eq("received"))
        .execute(&mut env.conn())
        .expect("reset");
    let file2 = env.file("again.csv", &lead_id_csv(&[(inside[0].to_string(), "Again")]));
    let mut req2 = req.clone();
    req2.options.move_remaining_to_accepted = false;
    let t2 = env.run(&req2, &file2);
    assert_eq!(env.counts(t2), BTreeMap::from([("rejected", 1)]));
    assert_eq!(cap_total(&mut env.conn(), "Home Insurance UK"), cap_mid, "{l}: no second give-back");
}
