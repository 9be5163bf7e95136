//! Whole rejection tasks against real databases (SQLite, and PostgreSQL when configured): from a
//! CSV file to lead statuses, history, affiliate events, cap usage, outcome counts and the results
//! file; crash recovery; the malformed-file corpus; the file-level refusals.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use app::clock::{Clock, ManualClock};
use app::db::schema::*;
use app::db::users::{UserContext, load_context};
use app::db::{DbConn, seed};
use app::engine::tasks::{self, ModeRequest, RunEnd, RunLimits, Storage, SubmitError, TaskRequest};
use app::engine::views;
use app::engine::worker::Worker;
use app::rejections::TaskOptions;
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use common::{TestDb, count};
use diesel::prelude::*;

fn now() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 26).and_then(|d| d.and_hms_opt(12, 0, 0)).expect("date")
}

struct Env {
    db: TestDb,
    dir: tempfile::TempDir,
    clock: ManualClock,
}

impl Env {
    fn new(db: TestDb) -> Self {
        let mut conn = db.conn();
        seed::seed_demo(&mut conn, now()).expect("seed");
        drop(conn);
        Self { db, dir: tempfile::tempdir().expect("dir"), clock: ManualClock::at(now()) }
    }

    fn all() -> Vec<Self> {
        TestDb::all().into_iter().map(Self::new).collect()
    }

    fn conn(&self) -> app::db::PooledConn {
        self.db.conn()
    }

    fn storage(&self) -> Storage {
        Storage::new(self.dir.path().join("uploads"))
    }

    fn worker(&self, batch_rows: usize) -> Worker {
        let mut w = Worker::new(self.db.pool().clone(), self.storage(), Arc::new(self.clock.clone()));
        w.batch_rows = batch_rows;
        w
    }

    fn user(&self, email: &str) -> UserContext {
        let mut conn = self.conn();
        let id: i64 =
            users::table.filter(users::email.eq(email)).select(users::id).first(&mut conn).expect("user");
        load_context(&mut conn, id).expect("load").expect("exists")
    }

    fn campaign(&self, name: &str) -> i64 {
        campaigns::table
            .filter(campaigns::name.eq(name))
            .select(campaigns::id)
            .first(&mut self.conn())
            .expect("campaign")
    }

    fn field(&self, campaign: &str, key: &str) -> i64 {
        let c = self.campaign(campaign);
        campaign_fields::table
            .filter(campaign_fields::campaign_id.eq(c).and(campaign_fields::field_key.eq(key)))
            .select(campaign_fields::id)
            .first(&mut self.conn())
            .expect("field")
    }

    fn file(&self, name: &str, contents: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).expect("write");
        p
    }

    fn request(&self, campaign: &str, mode: ModeRequest, id_col: &str, reason_col: &str) -> TaskRequest {
        TaskRequest {
            campaign_id: self.campaign(campaign),
            mode,
            identifier_column: id_col.into(),
            reason_column: reason_col.into(),
            reject_from: None,
            options: TaskOptions::default(),
            request_key: None,
            original_name: "upload.csv".into(),
        }
    }

    fn submit(&self, req: &TaskRequest, file: &Path) -> Result<i64, SubmitError> {
        tasks::submit(
            &mut self.conn(),
            &self.storage(),
            &self.user("client@sendback.test"),
            req,
            file,
            self.clock.now(),
        )
    }

    /// Submits and runs to the end.
    fn run(&self, req: &TaskRequest, file: &Path) -> i64 {
        let id = self.submit(req, file).expect("submitted");
        let (ran, end) = self.worker(1000).run_one(RunLimits::default()).expect("run").expect("a task");
        assert_eq!((ran, end), (id, RunEnd::Completed));
        id
    }

    /// Rows per outcome, counted from the results file; the counts kept on the task agree.
    fn counts(&self, task: i64) -> BTreeMap<&'static str, i64> {
        let mut conn = self.conn();
        if matches!(*conn, DbConn::Sqlite(_)) {
            // The worker runs without foreign key checks on SQLite: nothing it wrote may dangle.
            assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM pragma_foreign_key_check"), 0);
            assert_eq!(count(&mut conn, "SELECT foreign_keys AS n FROM pragma_foreign_keys"), 1);
        }
        drop(conn);
        let from_rows = tasks::outcome_counts(&mut self.conn(), task).expect("counts");
        let stored: String = rejection_tasks::table
            .find(task)
            .select(rejection_tasks::outcome_counts)
            .first(&mut self.conn())
            .expect("task");
        assert_eq!(tasks::parse_counts(&stored), from_rows, "counts kept on the task");
        from_rows.into_iter().filter(|(_, n)| *n > 0).map(|(o, n)| (o.as_str(), n)).collect()
    }

    fn lead(&self, id: i64) -> (String, Option<String>, bool) {
        leads::table
            .find(id)
            .select((leads::status, leads::status_reason, leads::cap_released))
            .first(&mut self.conn())
            .expect("lead")
    }

    /// Leads of `campaign` with `status`, received between `min_days` and `max_days` ago, by id.
    fn leads_where(&self, campaign: &str, status: &str, min_days: i64, max_days: i64, n: i64) -> Vec<i64> {
        let c = self.campaign(campaign);
        leads::table
            .filter(
                leads::campaign_id
                    .eq(c)
                    .and(leads::status.eq(status))
                    .and(leads::received_at.le(now() - TimeDelta::days(min_days)))
                    .and(leads::received_at.gt(now() - TimeDelta::days(max_days))),
            )
            .select(leads::id)
            .order(leads::id)
            .limit(n)
            .load(&mut self.conn())
            .expect("leads")
    }

    fn results_csv(&self, task: i64) -> String {
        let mut out = Vec::new();
        tasks::write_results_csv(&mut self.conn(), task, &mut out).expect("results");
        String::from_utf8(out).expect("utf8")
    }
}

/// from, to, reason, actor, task.
type HistoryRow = (Option<String>, String, Option<String>, Option<i64>, Option<i64>);
/// from, to, reason, source.
type StatusChange = (Option<String>, String, Option<String>, String);
/// Outcome counts, or a fragment of the refusal.
type Expected = Result<Vec<(&'static str, i64)>, &'static str>;

fn lead_id_csv(rows: &[(String, &str)]) -> Vec<u8> {
    let mut s = String::from("Lead ID,Rejection Reason,Agent\n");
    for (id, reason) in rows {
        s.push_str(&format!("{id},{reason},a1\n"));
    }
    s.into_bytes()
}

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
            &env.request("Home Insurance UK", ModeRequest::LeadId, "Lead ID", "Rejection Reason"),
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

        // History names the task, the user and the reason.
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
        assert!(history.iter().all(|h| h.0.as_deref() == Some("received")
            && h.1 == "client_rejected"
            && h.3 == Some(client.id)));

        // The task's own record.
        let (status, total, done): (String, Option<i64>, i64) = rejection_tasks::table
            .find(task)
            .select((rejection_tasks::status, rejection_tasks::rows_total, rejection_tasks::rows_done))
            .first(&mut env.conn())
            .expect("task");
        assert_eq!((status.as_str(), total, done), ("completed", Some(11), 11), "{l}");

        // The results file: one line per row, formula cells neutralised.
        let csv = env.results_csv(task);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "\"row\",\"identifier\",\"reason\",\"outcome\",\"lead_id\",\"message\"");
        assert_eq!(lines.len(), 12, "{l}");
        assert!(lines[1].starts_with(&format!(
            "\"2\",\"{}\",\"Wrong number\",\"rejected\",\"{}\"",
            inside[0], inside[0]
        )));
        assert!(lines[2].contains("\"'=HYPERLINK("), "{}", lines[2]);
        assert!(lines[9].contains("\"duplicate_in_file\""), "{}", lines[9]);
        assert!(lines[9].contains("the same identifier is on row 2"), "{}", lines[9]);
        assert!(lines[11].contains("the rejection reason is empty"), "{}", lines[11]);

        // The same file again changes nothing.
        let before = snapshot(&mut env.conn());
        let again = env.run(
            &env.request("Home Insurance UK", ModeRequest::LeadId, "Lead ID", "Rejection Reason"),
            &file,
        );
        assert_eq!(env.counts(again).get("already_rejected"), Some(&4), "{l}");
        assert_eq!(env.counts(again).get("rejected"), None);
        assert_eq!(snapshot(&mut env.conn()).leads, before.leads, "{l}: re-running is harmless");
    }
}

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
        let mut req = env.request("Home Insurance UK", ModeRequest::LeadId, "Lead ID", "Rejection Reason");
        req.options = TaskOptions {
            move_outside_to_accepted: true,
            reject_affiliate_events: true,
            move_remaining_to_accepted: true,
            count_towards_cap: true,
        };
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
        // Option 4: every other received lead of the campaign received on or before R → accepted.
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
        // A lead never gives its unit back twice: release it by hand to received, reject again.
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
}

fn cap_total(conn: &mut DbConn, campaign: &str) -> i64 {
    count(
        conn,
        &format!(
            "SELECT CAST(COALESCE(SUM(u.used), 0) AS BIGINT) AS n FROM cap_usage u JOIN caps c ON c.id = u.cap_id \
             JOIN campaigns m ON m.id = c.campaign_id WHERE m.name = '{campaign}'"
        ),
    )
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
            &env.request("Home Insurance UK", ModeRequest::Field(email_field), "email", "reason"),
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
            &env.request("Home Insurance UK", ModeRequest::Field(phone_field), "Phone", "Reason"),
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
        let t = env.run(&env.request("Car Insurance UK", ModeRequest::Uid, "uid", "reason"), &sample);
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
    let t = env
        .run(&env.request("Home Insurance UK", ModeRequest::LeadId, "Lead ID", "Rejection Reason"), &sample);
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

/// status, rows total, rows done, remaining accepted, outcome counts, cap units, changed rows.
type TaskState = (String, Option<i64>, i64, i64, String, i64, String);

/// Everything a task leaves behind, without ids and timestamps that differ between runs.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    leads: Vec<(i64, String, Option<String>, bool)>,
    history: Vec<(i64, StatusChange)>,
    events: Vec<(i64, String)>,
    caps: Vec<(i64, NaiveDate, i64)>,
    /// Each task's results file.
    rows: Vec<Vec<Vec<String>>>,
    tasks: Vec<TaskState>,
}

fn snapshot(conn: &mut DbConn) -> Snapshot {
    Snapshot {
        leads: leads::table
            .select((leads::id, leads::status, leads::status_reason, leads::cap_released))
            .order(leads::id)
            .load(conn)
            .expect("leads"),
        history: lead_status_history::table
            .select((
                lead_status_history::lead_id,
                (
                    lead_status_history::from_status,
                    lead_status_history::to_status,
                    lead_status_history::reason,
                    lead_status_history::source,
                ),
            ))
            .order((lead_status_history::lead_id, lead_status_history::id))
            .load(conn)
            .expect("history"),
        events: affiliate_events::table
            .select((affiliate_events::lead_id, affiliate_events::status))
            .order(affiliate_events::id)
            .load(conn)
            .expect("events"),
        caps: cap_usage::table
            .select((cap_usage::cap_id, cap_usage::period_start, cap_usage::used))
            .order((cap_usage::cap_id, cap_usage::period_start))
            .load(conn)
            .expect("caps"),
        rows: {
            let ids: Vec<i64> = rejection_tasks::table
                .select(rejection_tasks::id)
                .order(rejection_tasks::id)
                .load(conn)
                .expect("tasks");
            ids.into_iter().map(|id| tasks::result_rows(conn, id).expect("results")).collect()
        },
        tasks: rejection_tasks::table
            .select((
                rejection_tasks::status,
                rejection_tasks::rows_total,
                rejection_tasks::rows_done,
                rejection_tasks::remaining_accepted,
                rejection_tasks::outcome_counts,
                rejection_tasks::cap_units_released,
                rejection_tasks::changed_rows,
            ))
            .order(rejection_tasks::id)
            .load(conn)
            .expect("tasks"),
    }
}

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
                env.request("Home Insurance UK", ModeRequest::LeadId, "Lead ID", "Rejection Reason");
            req.options = TaskOptions {
                move_outside_to_accepted: true,
                reject_affiliate_events: true,
                move_remaining_to_accepted: true,
                count_towards_cap: true,
            };
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

/// A database of the previous version kept one outcome row per input row. Migrating it, an ended
/// task's rows become its results file (byte for byte what the writer produces) and its changed
/// rows; a task still running keeps them as a chunk, so it resumes without applying them again.
#[test]
fn outcome_rows_of_the_previous_version_are_migrated() {
    for env in Env::all() {
        let label = env.db.label;
        let inside = env.leads_where("Home Insurance UK", "received", 0, 6, 6);
        let req = env.request("Home Insurance UK", ModeRequest::LeadId, "Lead ID", "Rejection Reason");
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
        let rows_a = tasks::result_rows(&mut env.conn(), a).expect("rows");
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
        let committed = tasks::committed_result_rows(&mut env.conn(), b).expect("chunks");
        assert_eq!(committed.len(), 1, "{label}");

        // Back to the previous schema, with the outcome rows as that version stored them.
        let mut conn = env.conn();
        app::db::revert_last_migration(&mut conn).expect("revert");
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

#[test]
fn one_running_task_per_campaign() {
    let env = Env::new(TestDb::sqlite());
    let file = env.file("one.csv", b"Lead ID,Rejection Reason\n1,x\n");
    let req = env.request("Home Insurance UK", ModeRequest::LeadId, "Lead ID", "Rejection Reason");
    let a = env.submit(&req, &file).expect("a");
    let b = env.submit(&req, &file).expect("b");
    assert_ne!(a, b);
    let mut conn = env.conn();
    assert_eq!(tasks::claim_next(&mut conn, "w1", now()).expect("claim"), Some(a));
    assert_eq!(tasks::claim_next(&mut conn, "w2", now()).expect("claim"), None, "b waits for a");
    let car = env.request("Car Insurance UK", ModeRequest::Uid, "Lead ID", "Rejection Reason");
    let c = env.submit(&car, &file).expect("c");
    assert_eq!(tasks::claim_next(&mut conn, "w2", now()).expect("claim"), Some(c), "other campaigns run");
}

#[test]
fn a_repeated_submission_returns_the_same_task() {
    let env = Env::new(TestDb::sqlite());
    let file = env.file("one.csv", b"Lead ID,Rejection Reason\n1,x\n");
    let mut req = env.request("Home Insurance UK", ModeRequest::LeadId, "Lead ID", "Rejection Reason");
    req.request_key = Some("form-123".into());
    let a = env.submit(&req, &file).expect("a");
    let b = env.submit(&req, &file).expect("b");
    assert_eq!(a, b);
    assert_eq!(count(&mut env.conn(), "SELECT COUNT(*) AS n FROM rejection_tasks"), 1);
    assert_eq!(std::fs::read_dir(env.dir.path().join("uploads")).expect("dir").count(), 1, "one stored copy");
}

#[test]
fn file_level_refusals_create_nothing() {
    let env = Env::new(TestDb::sqlite());
    let good = env.file("good.csv", b"Lead ID,Rejection Reason\n1,x\n");
    let refused = |req: &TaskRequest, file: &Path| -> String {
        match env.submit(req, file) {
            Err(SubmitError::Refused { message, .. }) => message,
            other => panic!("expected a refusal, got {other:?}"),
        }
    };
    let base = env.request("Home Insurance UK", ModeRequest::LeadId, "Lead ID", "Rejection Reason");

    let pet = env.request("Pet Insurance UK", ModeRequest::LeadId, "Lead ID", "Rejection Reason");
    assert!(refused(&pet, &good).contains("no maximum rejection time"));
    let mut future = base.clone();
    future.reject_from = Some(now().date() + chrono::Days::new(1));
    assert!(refused(&future, &good).contains("in the future"));
    let car_email = env.request(
        "Car Insurance UK",
        ModeRequest::Field(env.field("Car Insurance UK", "email")),
        "Lead ID",
        "Rejection Reason",
    );
    assert!(refused(&car_email, &good).contains("not deduplicated"));
    let wrong_col = env.request("Home Insurance UK", ModeRequest::LeadId, "lead_id", "Rejection Reason");
    assert_eq!(refused(&wrong_col, &good), "The column \"lead_id\" is not in the file's header row.");
    let xlsx = env.file("book.csv", b"PK\x03\x04\x14\x00\x06\x00\x08\x00rest");
    assert!(refused(&base, &xlsx).contains("Excel"));
    let no_header = env.file("noheader.csv", b"1020069,Duplicate lead\n");
    assert!(refused(&base, &no_header).contains("no header row"));
    assert!(refused(&base, &env.file("empty.csv", b"")).contains("empty"));
    // Another client's campaign is not found, as if it did not exist.
    let bolt = env.request("Energy Switch UK", ModeRequest::LeadId, "Lead ID", "Rejection Reason");
    assert!(matches!(env.submit(&bolt, &good), Err(SubmitError::CampaignNotFound)));

    assert_eq!(count(&mut env.conn(), "SELECT COUNT(*) AS n FROM rejection_tasks"), 0);
    assert_eq!(count(&mut env.conn(), "SELECT COUNT(*) AS n FROM uploads"), 0);
    assert!(
        !env.dir.path().join("uploads").exists()
            || std::fs::read_dir(env.dir.path().join("uploads")).expect("dir").count() == 0
    );
}

#[test]
fn the_malformed_file_corpus_never_panics() {
    let env = Env::new(TestDb::sqlite());
    let inside = env.leads_where("Home Insurance UK", "received", 1, 6, 3);
    let (a, b) = (inside[0], inside[1]);
    let big_field = "z".repeat(10 * 1024 * 1024);
    // (name, contents, expected: Ok(outcome counts) or Err(refusal fragment))
    let corpus: Vec<(&str, Vec<u8>, Expected)> = vec![
        (
            "bom.csv",
            format!("\u{feff}Lead ID,Rejection Reason\n{a},x\n").into_bytes(),
            Ok(vec![("rejected", 1)]),
        ),
        (
            "semicolon.csv",
            format!("Lead ID;Rejection Reason\n{b};\"a; b\"\n").into_bytes(),
            Ok(vec![("rejected", 1)]),
        ),
        (
            "crlf.csv",
            format!("Lead ID,Rejection Reason\r\n{a},x\r\n\r\n").into_bytes(),
            Ok(vec![("already_rejected", 1)]),
        ),
        (
            "ragged.csv",
            format!("Lead ID,Rejection Reason\n{a}\n{b},x,extra,cells\n").into_bytes(),
            Ok(vec![("already_rejected", 1), ("invalid", 1)]),
        ),
        ("nul.csv", b"Lead ID,Rejection Reason\n1,\x00\n".to_vec(), Err("NUL")),
        ("xlsx.csv", b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00".to_vec(), Err("xlsx")),
        (
            "unterminated.csv",
            format!("Lead ID,Rejection Reason\n{},\"never closed\n{},y\n", inside[2], 5).into_bytes(),
            Ok(vec![("invalid", 1)]),
        ),
        (
            "bigfield.csv",
            format!("Lead ID,Rejection Reason\n{a},{big_field}\n").into_bytes(),
            Ok(vec![("invalid", 1)]),
        ),
        ("header-only.csv", b"Lead ID,Rejection Reason\n".to_vec(), Ok(vec![])),
        ("empty.csv", Vec::new(), Err("empty")),
        ("bad-utf8.csv", b"Lead ID,Rejection Reason\n1020001,\xFF\xFE\n".to_vec(), Ok(vec![("invalid", 1)])),
    ];
    for (name, contents, expected) in corpus {
        let file = env.file(name, &contents);
        let req = env.request("Home Insurance UK", ModeRequest::LeadId, "Lead ID", "Rejection Reason");
        match (env.submit(&req, &file), expected) {
            (Ok(_), Ok(counts)) => {
                let (task, end) = env.worker(1000).run_one(RunLimits::default()).expect("run").expect("task");
                assert_eq!(end, RunEnd::Completed, "{name}");
                let got: Vec<(&str, i64)> = env.counts(task).into_iter().collect();
                assert_eq!(got, counts, "{name}");
            }
            (Err(SubmitError::Refused { message, .. }), Err(fragment)) => {
                assert!(message.contains(fragment), "{name}: {message}");
            }
            (got, want) => panic!("{name}: got {got:?}, expected {want:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_worker_runs_queued_tasks_and_stops_on_request() {
    let env = Env::new(TestDb::sqlite());
    let inside = env.leads_where("Home Insurance UK", "received", 1, 6, 2);
    let file =
        env.file("bg.csv", &lead_id_csv(&[(inside[0].to_string(), "x"), (inside[1].to_string(), "y")]));
    let task = env
        .submit(&env.request("Home Insurance UK", ModeRequest::LeadId, "Lead ID", "Rejection Reason"), &file)
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
        .submit(&env.request("Home Insurance UK", ModeRequest::LeadId, "Lead ID", "Rejection Reason"), &file)
        .expect("submit");
    let (ran, end) = env.worker(40_000).run_one(RunLimits::default()).expect("run").expect("task");
    assert_eq!((ran, end), (task, RunEnd::Completed));
    assert_eq!(env.counts(task), BTreeMap::from([("not_found", 40_000)]));
}

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
        let mut req = env.request("Home Insurance UK", ModeRequest::LeadId, "Lead ID", "Rejection Reason");
        req.options = TaskOptions {
            move_outside_to_accepted: true,
            reject_affiliate_events: true,
            move_remaining_to_accepted: true,
            count_towards_cap: true,
        };
        let client = env.user("client@sendback.test");
        let before = snapshot(&mut env.conn());
        let preview = tasks::preview(&mut env.conn(), &client, &req, &file, now().date()).expect("preview");
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

#[test]
fn an_upload_starts_one_task_and_only_for_its_owner() {
    for env in Env::all() {
        let l = env.db.label;
        let client = env.user("client@sendback.test");
        let bolt = env.user("bolt@sendback.test");
        let storage = env.storage();
        std::fs::create_dir_all(&storage.dir).expect("dir");
        let key = Storage::new_key();
        std::fs::write(storage.path_of(&key), b"Lead ID,Rejection Reason\n1,x\n").expect("write");
        let upload = tasks::record_upload(&mut env.conn(), &client, "mine.csv", &key, 26, "00", now())
            .expect("upload");
        let mut req = env.request("Home Insurance UK", ModeRequest::LeadId, "Lead ID", "Rejection Reason");
        req.request_key = Some(format!("upload-{upload}"));
        // Another user cannot use it, whatever id they send.
        let theirs = tasks::submit_upload(&mut env.conn(), &storage, &bolt, &req, upload, now());
        assert!(matches!(theirs, Err(SubmitError::Refused { field: "file", .. })), "{l}: {theirs:?}");
        let a = tasks::submit_upload(&mut env.conn(), &storage, &client, &req, upload, now()).expect("a");
        let b = tasks::submit_upload(&mut env.conn(), &storage, &client, &req, upload, now()).expect("b");
        assert_eq!(a, b, "{l}: the same form twice is one task");
        assert_eq!(count(&mut env.conn(), "SELECT COUNT(*) AS n FROM rejection_tasks"), 1, "{l}");
        // The task page and history: the client who started it and owner staff; nobody else.
        let owner = env.user("owner@sendback.test");
        let viewer = env.user("viewer@sendback.test");
        let other = env.user("other@sendback.test");
        let view = views::task_view(&mut env.conn(), &client, a).expect("view").expect("visible");
        assert_eq!(
            (view.file_name.as_str(), view.campaign.as_str()),
            ("mine.csv", "Home Insurance UK"),
            "{l}"
        );
        assert!(views::task_view(&mut env.conn(), &owner, a).expect("view").is_some(), "{l}");
        for who in [&bolt, &viewer, &other] {
            assert!(views::task_view(&mut env.conn(), who, a).expect("view").is_none(), "{l}: {}", who.email);
            assert!(views::task_history(&mut env.conn(), who, 20).expect("history").is_empty(), "{l}");
        }
        assert_eq!(views::task_history(&mut env.conn(), &client, 20).expect("history").len(), 1, "{l}");
        assert_eq!(views::task_history(&mut env.conn(), &owner, 20).expect("history").len(), 1, "{l}");
    }
}

#[test]
fn unused_uploads_are_pruned_after_a_day_and_used_ones_kept() {
    for env in Env::all() {
        let l = env.db.label;
        let client = env.user("client@sendback.test");
        let storage = env.storage();
        std::fs::create_dir_all(&storage.dir).expect("dir");
        let mut keep = Vec::new();
        for name in ["used.csv", "unused.csv"] {
            let key = Storage::new_key();
            std::fs::write(storage.path_of(&key), b"Lead ID,Rejection Reason\n1,x\n").expect("write");
            let id =
                tasks::record_upload(&mut env.conn(), &client, name, &key, 26, "00", now()).expect("upload");
            keep.push((id, key));
        }
        let req = env.request("Home Insurance UK", ModeRequest::LeadId, "Lead ID", "Rejection Reason");
        tasks::submit_upload(&mut env.conn(), &storage, &client, &req, keep[0].0, now()).expect("task");
        std::fs::write(storage.dir.join("interrupted.csv.part"), b"Lead ID,").expect("part");
        // Not yet a day old: nothing goes.
        assert_eq!(tasks::prune_unused_uploads(&mut env.conn(), &storage, now()).expect("prune"), 0, "{l}");
        let later = now() + TimeDelta::days(2);
        let far_future = chrono::Utc::now().naive_utc() + TimeDelta::days(2);
        assert_eq!(
            tasks::prune_unused_uploads(&mut env.conn(), &storage, later.max(far_future)).expect("prune"),
            1,
            "{l}"
        );
        assert!(storage.path_of(&keep[0].1).exists(), "{l}: a task's file stays");
        assert!(!storage.path_of(&keep[1].1).exists(), "{l}: the unused file goes");
        assert!(!storage.dir.join("interrupted.csv.part").exists(), "{l}: partial files go");
        assert_eq!(count(&mut env.conn(), "SELECT COUNT(*) AS n FROM uploads"), 1, "{l}");
    }
}
