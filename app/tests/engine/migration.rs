//! Data of the previous version: its per-row outcome table migrated into results files and chunks.

use std::collections::BTreeMap;

use app::domain::task::IdentifierChoice;
use app::engine::task::views;
use app::engine::task::{self, RunEnd, RunLimits};
use chrono::TimeDelta;
use diesel::prelude::*;

use crate::common::count;
use crate::support::{Env, lead_id_csv};

/// A database of the previous version kept one outcome row per input row. Migrating it, an ended
/// task's rows become its results file (byte for byte what the writer produces) and its changed
/// rows; a task still running keeps them as a chunk, so it resumes without applying them again.
#[test]
fn outcome_rows_of_the_previous_version_are_migrated() {
    for env in Env::all() {
        let label = env.db.label;
        let inside = env.leads_where("Home Insurance UK", "received", 0, 6, 6);
        let req = env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason");
        // Task A runs to the end under this version; its cells need quoting and neutralising.
        let raw_a: Vec<(String, String)> = vec![
            (inside[0].to_string(), "=HYPERLINK(\"x\")".into()),
            (inside[1].to_string(), "Said \"no\", twice".into()),
            (inside[2].to_string(), "Line\nbreak".into()),
            ("-5".into(), "Bad id".into()),
        ];
        let mut csv_a = csv::Writer::from_writer(Vec::new());
        csv_a.write_record(["Lead ID", "Rejection Reason"]).expect("header");
        for (id, reason) in &raw_a {
            csv_a.write_record([id, reason]).expect("row");
        }
        let a = env.run(&req, &env.file("a.csv", &csv_a.into_inner().expect("csv")));
        let results_a = env.results_csv(a);
        let rows_a = task::result_rows(&mut env.conn(), a).expect("rows");
        assert_eq!(rows_a.len(), 4, "{label}");
        let changed_a = views::task_view(&mut env.conn(), &env.user("client@sendback.test"), a)
            .expect("view")
            .expect("visible")
            .affected;
        assert_eq!(changed_a.len(), 3, "{label}");
        // Task B stops after its first batch of one row.
        let rows_b: Vec<(String, &str)> = inside[3..].iter().map(|id| (id.to_string(), "Gone")).collect();
        let b = env.submit(&req, &env.file("b.csv", &lead_id_csv(&rows_b))).expect("submit");
        let (_, end) = env.worker(1).run_one(RunLimits { max_batches: Some(1) }).expect("run").expect("task");
        assert_eq!(end, RunEnd::Stopped, "{label}");
        let committed = task::committed_result_rows(&mut env.conn(), b).expect("chunks");
        assert_eq!(committed.len(), 1, "{label}");

        // Back to the schema before the results migration (6; 7, the instance set-up, 8, intake
        // keys, 9 lead imports, 10 API key names, 11 the uploads' parts, 12 job failures, 13
        // compressed results, 14 upload retention and 15 preview jobs come after it), with the
        // outcome rows as that version stored them. 11's down drops the parts, so task B resumes
        // below from the local copy, as an upload of an earlier version does.
        let mut conn = env.conn();
        app::db::revert_last_migration(&mut conn).expect("revert 17");
        app::db::revert_last_migration(&mut conn).expect("revert 16");
        app::db::revert_last_migration(&mut conn).expect("revert 15");
        app::db::revert_last_migration(&mut conn).expect("revert 14");
        app::db::revert_last_migration(&mut conn).expect("revert 13");
        app::db::revert_last_migration(&mut conn).expect("revert 12");
        app::db::revert_last_migration(&mut conn).expect("revert 11");
        app::db::revert_last_migration(&mut conn).expect("revert 10");
        app::db::revert_last_migration(&mut conn).expect("revert 9");
        app::db::revert_last_migration(&mut conn).expect("revert 8");
        app::db::revert_last_migration(&mut conn).expect("revert 7");
        app::db::revert_last_migration(&mut conn).expect("revert 6");
        let mut legacy: Vec<(i64, Vec<String>, String, String)> = rows_a
            .iter()
            .zip(&raw_a)
            .map(|(r, (id, reason))| (a, r.clone(), id.clone(), reason.clone()))
            .collect();
        legacy.extend(committed.iter().map(|r| (b, r.clone(), r[1].clone(), r[2].clone())));
        for (task, r, identifier, reason) in legacy {
            diesel::sql_query(
                "INSERT INTO rejection_task_rows (task_id, row_number, identifier, reason, outcome, lead_id, message) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind::<diesel::sql_types::BigInt, _>(task)
            .bind::<diesel::sql_types::BigInt, _>(r[0].parse::<i64>().expect("row"))
            .bind::<diesel::sql_types::Text, _>(identifier)
            .bind::<diesel::sql_types::Text, _>(reason)
            .bind::<diesel::sql_types::Text, _>(&r[3])
            .bind::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>, _>(r[4].parse::<i64>().ok())
            .bind::<diesel::sql_types::Text, _>(&r[5])
            .execute(&mut conn)
            .expect("legacy row");
        }
        app::db::run_migrations(&mut conn).expect("migrate");
        drop(conn);

        assert_eq!(env.results_csv(a), results_a, "{label}: the results file is unchanged");
        let view = views::task_view(&mut env.conn(), &env.user("client@sendback.test"), a).expect("view");
        assert_eq!(view.expect("visible").affected, changed_a, "{label}: the changed leads are kept");
        env.clock.advance(TimeDelta::seconds(31));
        let (ran, end) = env.worker(1).run_one(RunLimits::default()).expect("run").expect("task");
        assert_eq!((ran, end), (b, RunEnd::Completed), "{label}");
        assert_eq!(env.counts(b), BTreeMap::from([("rejected", 3)]), "{label}: no row applied twice");
        let history = count(
            &mut env.conn(),
            &format!("SELECT COUNT(*) AS n FROM lead_status_history WHERE task_id = {b}"),
        );
        assert_eq!(history, 3, "{label}");
    }
}
