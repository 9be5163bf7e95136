//! The preview: it writes nothing and predicts the run's outcomes, remaining leads and cap units.

use std::collections::BTreeMap;

use app::db::schema::*;
use app::domain::task::IdentifierChoice;
use app::domain::task::TaskOptions;
use app::engine::task;
use chrono::NaiveDate;
use diesel::prelude::*;

use crate::support::{Env, cap_total, lead_id_csv, now, snapshot};

#[test]
fn the_preview_matches_the_run_and_changes_nothing() {
    for env in Env::all() {
        let l = env.db.label;
        let inside = env.leads_where("Home Insurance UK", "received", 1, 6, 25);
        let outside = env.leads_where("Home Insurance UK", "received", 9, 40, 3);
        let mut rows: Vec<(String, &str)> = inside.iter().map(|id| (id.to_string(), "Bad lead")).collect();
        rows.extend(outside.iter().map(|id| (id.to_string(), "Old")));
        rows.push((inside[0].to_string(), "again"));
        rows.push(("999999999".into(), "nobody"));
        rows.push(("abc".into(), "typo"));
        let file = env.file("preview.csv", &lead_id_csv(&rows));
        let mut req =
            env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
        req.options = TaskOptions::ALL_ON;
        let client = env.user("client@sendback.test");
        let before = snapshot(&mut env.conn());
        let preview = task::preview(&mut env.conn(), &client, &req, &file, now().date()).expect("preview");
        assert_eq!(snapshot(&mut env.conn()), before, "{l}: a preview writes nothing");
        assert_eq!(preview.window_start, NaiveDate::from_ymd_opt(2026, 11, 19).expect("date"), "{l}");
        assert_eq!(preview.rows, rows.len() as i64, "{l}");
        let cap_before = cap_total(&mut env.conn(), "Home Insurance UK");
        let task = env.run(&req, &file);
        let previewed: BTreeMap<&str, i64> =
            preview.counts.iter().filter(|(_, n)| *n > 0).map(|(o, n)| (o.as_str(), *n)).collect();
        assert_eq!(previewed, env.counts(task), "{l}: the preview predicted the outcomes");
        assert_eq!(
            previewed,
            BTreeMap::from([
                ("rejected", inside.len() as i64),
                ("accepted_outside_window", 3),
                ("duplicate_in_file", 1),
                ("not_found", 1),
                ("invalid", 1),
            ]),
            "{l}"
        );
        let (remaining, units): (i64, i64) = rejection_tasks::table
            .find(task)
            .select((rejection_tasks::remaining_accepted, rejection_tasks::cap_units_released))
            .first(&mut env.conn())
            .expect("task");
        assert_eq!(preview.remaining_to_accept, remaining, "{l}: remaining leads");
        assert!(remaining > 0, "{l}");
        assert_eq!(preview.cap_units, units, "{l}: cap units");
        assert_eq!(cap_before - cap_total(&mut env.conn(), "Home Insurance UK"), units, "{l}");
    }
}
