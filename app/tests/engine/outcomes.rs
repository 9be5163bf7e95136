//! Full runs and their outcomes: a Lead ID task giving every outcome (statuses, history, the task
//! record, the results file, a harmless re-run), the field modes, the committed sample files and
//! batches beyond SQLite's bind limit.

use std::collections::BTreeMap;
use std::path::Path;

use app::db::schema::*;
use app::domain::task::IdentifierChoice;
use app::engine::task::{RunEnd, RunLimits};
use diesel::prelude::*;

use crate::common::TestDb;
use crate::support::{Env, lead_id_csv, snapshot};

/// from, to, reason, actor, task.
type HistoryRow = (Option<String>, String, Option<String>, Option<i64>, Option<i64>);

#[test]
fn a_lead_id_task_gives_every_outcome_and_changes_only_what_it_should() {
    for env in Env::all() {
        let l = env.db.label;
        let inside = env.leads_where("Home Insurance UK", "received", 1, 6, 3);
        let outside = env.leads_where("Home Insurance UK", "received", 9, 40, 1);
        let already = env.leads_where("Home Insurance UK", "client_rejected", 0, 45, 1);
        let pending = env.leads_where("Home Insurance UK", "pending", 0, 45, 1);
        let other_campaign = env.leads_where("Car Insurance UK", "received", 1, 6, 1);
        let s = |id: i64| id.to_string();
        let file = env.file(
            "ids.csv",
            &lead_id_csv(&[
                (s(inside[0]), "Wrong number"),
                (s(inside[1]), "\"=HYPERLINK(\"\"http://evil\"\")\""),
                (s(inside[2]), "Fake details"),
                (s(outside[0]), "Too old"),
                (s(already[0]), "Again"),
                (s(pending[0]), "Not yet"),
                (s(other_campaign[0]), "Other campaign"),
                ("99999999".into(), "Unknown"),
                (s(inside[0]), "Repeat"),
                ("ABC-123".into(), "Not a number"),
                (s(inside[2] + 100_000), ""),
            ]),
        );
        let task = env.run(
            &env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason"),
            &file,
        );
        let counts = env.counts(task);
        assert_eq!(
            counts,
            BTreeMap::from([
                ("already_rejected", 1),
                ("duplicate_in_file", 1),
                ("invalid", 2),
                ("not_delivered", 1),
                ("not_found", 2),
                ("outside_window", 1),
                ("rejected", 3),
            ]),
            "{l}"
        );
        assert_eq!(counts.values().sum::<i64>(), 11, "rows read = sum of outcomes");
        let (status, reason, _) = env.lead(inside[0]);
        assert_eq!((status.as_str(), reason.as_deref()), ("client_rejected", Some("Wrong number")), "{l}");
        assert_eq!(env.lead(outside[0]).0, "received", "{l}: outside the window, untouched");
        assert_eq!(env.lead(pending[0]).0, "pending");
        assert_eq!(
            env.lead(other_campaign[0]).0,
            "received",
            "{l}: a lead of another campaign is not touched"
        );

        assert_history_and_record(&env, task);
        assert_results_file(&env, task, &inside);

        // The same file again changes nothing.
        let before = snapshot(&mut env.conn());
        let again = env.run(
            &env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason"),
            &file,
        );
        assert_eq!(env.counts(again).get("already_rejected"), Some(&4), "{l}");
        assert_eq!(env.counts(again).get("rejected"), None);
        assert_eq!(snapshot(&mut env.conn()).leads, before.leads, "{l}: re-running is harmless");
    }
}

/// History names the task, the user and the reason; the task's own record.
fn assert_history_and_record(env: &Env, task: i64) {
    let l = env.db.label;
    let client = env.user("client@sendback.test");
    let history: Vec<HistoryRow> = lead_status_history::table
        .filter(lead_status_history::task_id.eq(task))
        .select((
            lead_status_history::from_status,
            lead_status_history::to_status,
            lead_status_history::reason,
            lead_status_history::actor_user_id,
            lead_status_history::task_id,
        ))
        .order(lead_status_history::lead_id)
        .load(&mut env.conn())
        .expect("history");
    assert_eq!(history.len(), 3, "{l}");
    assert!(
        history.iter().all(|h| h.0.as_deref() == Some("received")
            && h.1 == "client_rejected"
            && h.3 == Some(client.id))
    );

    // The task's own record.
    let (status, total, done): (String, Option<i64>, i64) = rejection_tasks::table
        .find(task)
        .select((rejection_tasks::status, rejection_tasks::rows_total, rejection_tasks::rows_done))
        .first(&mut env.conn())
        .expect("task");
    assert_eq!((status.as_str(), total, done), ("completed", Some(11), 11), "{l}");
}

/// The results file: one line per row, formula cells neutralised.
fn assert_results_file(env: &Env, task: i64, inside: &[i64]) {
    let l = env.db.label;
    let csv = env.results_csv(task);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "\"row\",\"identifier\",\"reason\",\"outcome\",\"lead_id\",\"message\"");
    assert_eq!(lines.len(), 12, "{l}");
    assert!(
        lines[1]
            .starts_with(&format!("\"2\",\"{}\",\"Wrong number\",\"rejected\",\"{}\"", inside[0], inside[0]))
    );
    assert!(lines[2].contains("\"'=HYPERLINK("), "{}", lines[2]);
    assert!(lines[9].contains("\"duplicate_in_file\""), "{}", lines[9]);
    assert!(lines[9].contains("the same identifier is on row 2"), "{}", lines[9]);
    assert!(lines[11].contains("the rejection reason is empty"), "{}", lines[11]);
}

#[test]
fn field_modes_normalise_and_report_ambiguity() {
    for env in Env::all() {
        let l = env.db.label;
        let email_field = env.field("Home Insurance UK", "email");
        let phone_field = env.field("Home Insurance UK", "phone");
        let inside = env.leads_where("Home Insurance UK", "received", 1, 6, 3);
        let value = |lead: i64, field: i64| -> String {
            lead_values::table
                .filter(lead_values::lead_id.eq(lead).and(lead_values::field_id.eq(field)))
                .select(lead_values::value)
                .first(&mut env.conn())
                .expect("value")
        };
        // Email, written untidily.
        let email = value(inside[0], email_field);
        let file = env.file(
            "emails.csv",
            format!("\u{feff}email;reason\n  {} ;Wrong\nnobody@example.com;x\n", email.to_uppercase())
                .as_bytes(),
        );
        let t = env.run(
            &env.request("Home Insurance UK", IdentifierChoice::Field(email_field), "email", "reason"),
            &file,
        );
        assert_eq!(env.counts(t), BTreeMap::from([("not_found", 1), ("rejected", 1)]), "{l}");
        assert_eq!(env.lead(inside[0]).0, "client_rejected");

        // Phone: the known lead, written as +44; and an ambiguous number shared by two leads.
        let known_digits = "07700900123";
        let shared = app::domain::identifiers::Phone::parse(&value(inside[1], phone_field))
            .expect("phone")
            .into_inner();
        diesel::update(
            lead_values::table
                .filter(lead_values::lead_id.eq(inside[2]).and(lead_values::field_id.eq(phone_field))),
        )
        .set(lead_values::normalized.eq(&shared))
        .execute(&mut env.conn())
        .expect("make ambiguous");
        let file = env.file(
            "phones.csv",
            format!(
                "Phone|Reason\n+44 7700 900123|Not interested\n{shared}|Which one?\n{}|Again\n",
                &known_digits
            )
            .as_bytes(),
        );
        let t = env.run(
            &env.request("Home Insurance UK", IdentifierChoice::Field(phone_field), "Phone", "Reason"),
            &file,
        );
        assert_eq!(
            env.counts(t),
            BTreeMap::from([("ambiguous", 1), ("duplicate_in_file", 1), ("rejected", 1)]),
            "{l}"
        );
        assert_eq!(env.lead(inside[1]).0, "received", "{l}: ambiguous rows change nothing");
    }
}

#[test]
fn the_uid_sample_runs_as_documented() {
    for env in Env::all() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/car-insurance-uids.csv");
        let t = env.run(&env.request("Car Insurance UK", IdentifierChoice::Uid, "uid", "reason"), &sample);
        assert_eq!(
            env.counts(t),
            BTreeMap::from([("outside_window", 2), ("rejected", 15)]),
            "{}",
            env.db.label
        );
    }
}

#[test]
fn the_lead_id_sample_gives_one_row_of_every_outcome_it_promises() {
    let env = Env::new(TestDb::sqlite());
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/home-insurance-lead-ids.csv");
    let t = env.run(
        &env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason"),
        &sample,
    );
    let counts = env.counts(t);
    for o in [
        "rejected",
        "outside_window",
        "already_rejected",
        "not_delivered",
        "not_found",
        "duplicate_in_file",
        "invalid",
    ] {
        assert!(counts.contains_key(o), "{o} missing from {counts:?}");
    }
}

#[test]
fn batches_larger_than_the_bind_limit_work() {
    // SQLite accepts at most 32,766 bound values per statement: every list is chunked.
    let env = Env::new(TestDb::sqlite());
    let mut csv = String::from("Lead ID,Rejection Reason\n");
    for i in 0..40_000 {
        csv.push_str(&format!("{},r\n", 50_000_000 + i));
    }
    let file = env.file("big.csv", csv.as_bytes());
    let task = env
        .submit(
            &env.request("Home Insurance UK", IdentifierChoice::LeadId, "Lead ID", "Rejection Reason"),
            &file,
        )
        .expect("submit");
    let (ran, end) = env.worker(40_000).run_one(RunLimits::default()).expect("run").expect("task");
    assert_eq!((ran, end), (task, RunEnd::Completed));
    assert_eq!(env.counts(task), BTreeMap::from([("not_found", 40_000)]));
}
