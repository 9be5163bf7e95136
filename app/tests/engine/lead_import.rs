//! Bulk lead imports (`engine::lead_import`) on SQLite and PostgreSQL: rows become leads or are
//! refused with their reason, dedupe within the file and against the campaign (across batches),
//! statuses, received times and reasons from the file, caps only when asked, the results file,
//! a stopped import resuming without repeating a row, and the refusals made before anything runs.

use app::db::audit::Actor;
use app::db::schema::*;
use app::db::setup;
use app::db::users::UserContext;
use app::domain::caps::CapPeriod;
use app::domain::identifiers::FieldKind;
use app::domain::lead_import::{ColumnUse, ImportForm};
use app::domain::setup::FieldSpec;
use app::engine::lead_import::{self, ImportError};
use app::engine::task::{RunEnd, RunLimits};
use app::engine::uploads::upload_local_file;
use chrono::TimeDelta;
use diesel::prelude::*;

use crate::support::{Env, now};

/// A campaign with a deduplicated Email, a Phone and a First name, and a supplier sending to it.
struct Target {
    owner: UserContext,
    campaign: i64,
    supplier: i64,
    fields: [i64; 3],
}

fn set_up(env: &Env, cap: Option<i64>) -> Target {
    let mut conn = env.conn();
    let owner = env.user("owner@sendback.test");
    let actor = Actor::from(&owner);
    let client: i64 = clients::table
        .filter(clients::name.eq("Acme Insurance"))
        .select(clients::id)
        .first(&mut conn)
        .expect("client");
    let specs = [
        FieldSpec { key: "email".into(), label: "Email".into(), kind: FieldKind::Email, dedupe: true },
        FieldSpec { key: "phone".into(), label: "Phone".into(), kind: FieldKind::Phone, dedupe: false },
        FieldSpec {
            key: "first_name".into(),
            label: "First name".into(),
            kind: FieldKind::Text,
            dedupe: false,
        },
    ];
    let new = setup::campaigns::NewCampaign {
        client_id: client,
        name: "Import Test",
        max_rejection_days: Some(30),
        fields: &specs,
    };
    let campaign = setup::campaigns::create(&mut conn, actor, &new, now()).expect("campaign");
    let supplier = setup::suppliers::create(&mut conn, actor, "History Co", now()).expect("supplier");
    setup::suppliers::set_campaigns(&mut conn, actor, supplier, &[campaign], now()).expect("link");
    if let Some(limit) = cap {
        setup::caps::add(&mut conn, actor, campaign, None, CapPeriod::Day, limit, now()).expect("cap");
    }
    let field = |key: &str| -> i64 {
        campaign_fields::table
            .filter(campaign_fields::campaign_id.eq(campaign).and(campaign_fields::field_key.eq(key)))
            .select(campaign_fields::id)
            .first(&mut env.conn())
            .expect("field")
    };
    let fields = [field("email"), field("phone"), field("first_name")];
    Target { owner, campaign, supplier, fields }
}

impl Target {
    fn form(&self, upload_id: i64, columns: Vec<ColumnUse>, apply_caps: bool) -> ImportForm {
        ImportForm {
            upload_id,
            campaign_id: Some(self.campaign),
            supplier_id: Some(self.supplier),
            columns,
            apply_caps,
        }
    }

    /// Email, Phone, First name, Received at, Status, Reason.
    fn all_columns(&self) -> Vec<ColumnUse> {
        vec![
            ColumnUse::Field(self.fields[0]),
            ColumnUse::Field(self.fields[1]),
            ColumnUse::Field(self.fields[2]),
            ColumnUse::ReceivedAt,
            ColumnUse::Status,
            ColumnUse::Reason,
        ]
    }
}

fn upload(env: &Env, owner: &UserContext, name: &str, contents: &str) -> i64 {
    let path = env.file(name, contents.as_bytes());
    upload_local_file(&mut env.conn(), &env.storage(), owner, &path, now()).expect("upload")
}

fn submit(env: &Env, owner: &UserContext, form: &ImportForm) -> Result<i64, ImportError> {
    lead_import::submit(&mut env.conn(), &env.storage(), owner, form, now())
}

/// Runs queued imports to their end with `batch_rows` rows per batch.
fn run_all(env: &Env, batch_rows: usize) {
    let worker = env.worker(batch_rows);
    while let Some((_, end)) = worker.run_one(RunLimits::default()).expect("run") {
        assert_eq!(end, RunEnd::Completed);
    }
}

fn results(env: &Env, import_id: i64) -> String {
    let mut out = Vec::new();
    lead_import::write_results_csv(&mut env.conn(), import_id, &mut out).expect("results");
    String::from_utf8(out).expect("utf-8")
}

type HistoryRow = (String, Option<String>, String, Option<i64>, chrono::NaiveDateTime);
type LeadRow = (i64, String, String, Option<String>, chrono::NaiveDateTime, bool);

fn leads_of(env: &Env, campaign: i64) -> Vec<LeadRow> {
    leads::table
        .filter(leads::campaign_id.eq(campaign))
        .order(leads::id)
        .select((
            leads::id,
            leads::uid,
            leads::status,
            leads::status_reason,
            leads::received_at,
            leads::cap_released,
        ))
        .load(&mut env.conn())
        .expect("leads")
}

const FILE: &str = "\
Email,Phone,First name,Received at,Status,Reason
jo@example.com,07700 900001,Jo,2026-11-20 09:00:00,,
amy@example.com,,Amy,2026-11-21,Client Rejected,Wrong number
JO@Example.com,,Dup,2026-11-21,,
not-an-email,,Bad,2026-11-21,,
sam@example.com,,Sam,2026-12-01,,
zoe@example.com,,Zoe,2026-11-22,Won,
jo@example.com,,Again,22/11/2026 10:30,Rejected,Duplicate Email
,,,2026-11-22,,
jo@example.com,,Later,2026-11-23,,
";

#[test]
fn rows_become_leads_or_are_refused_with_their_reason() {
    for env in Env::all() {
        let label = env.db.label;
        let t = set_up(&env, None);
        let up = upload(&env, &t.owner, "history.csv", FILE);
        let form = t.form(up, t.all_columns(), false);
        let preview =
            lead_import::preview(&mut env.conn(), &env.storage(), &t.owner, &form, now()).expect("preview");
        assert_eq!((preview.rows, preview.would_create, preview.refused), (9, 3, 6), "{label}: {preview:?}");
        assert_eq!(preview.reasons.first(), Some(&("Duplicate Email".to_owned(), 2)), "{label}: {preview:?}");
        assert!(leads_of(&env, t.campaign).is_empty(), "{label}: the preview writes nothing");

        let id = submit(&env, &t.owner, &form).expect("submitted");
        assert_eq!(submit(&env, &t.owner, &form).expect("again"), id, "{label}: one upload, one import");
        // Three rows a batch: the duplicates of line 2 come in the same batch (line 4) and in a
        // later one (line 10), after line 2's lead was committed.
        run_all(&env, 3);

        let leads = leads_of(&env, t.campaign);
        assert_eq!(leads.len(), 3, "{label}: {leads:?}");
        let (jo, amy, again) = (&leads[0], &leads[1], &leads[2]);
        assert_eq!(
            (jo.2.as_str(), jo.4.to_string().as_str()),
            ("received", "2026-11-20 09:00:00"),
            "{label}"
        );
        assert_eq!((amy.2.as_str(), amy.3.as_deref()), ("client_rejected", Some("Wrong number")), "{label}");
        assert_eq!(
            (again.2.as_str(), again.4.to_string().as_str()),
            ("rejected", "2026-11-22 10:30:00"),
            "{label}"
        );
        assert!(leads.iter().all(|l| l.5), "{label}: leads that took no cap unit have none to give back");

        let expected = format!(
            "line,result,lead_id,uid,status,message\n\
             2,created,{},{},Received,\n\
             3,created,{},{},Client Rejected,Wrong number\n\
             4,refused,,,,Duplicate Email (line 2)\n\
             5,refused,,,,Invalid Email: the value is not one a lead can be received with.\n\
             6,refused,,,,Received at (2026-12-01) is in the future.\n\
             7,refused,,,,\"Unknown status \"\"Won\"\": use one of Received, Pending, Flagged, Rejected, Quarantine, Accepted, Client Rejected, Sale.\"\n\
             8,created,{},{},Rejected,Duplicate Email\n\
             9,refused,,,,The row has no value in any field.\n\
             10,refused,,,,Duplicate Email (lead {})\n",
            jo.0, jo.1, amy.0, amy.1, again.0, again.1, jo.0
        );
        assert_eq!(results(&env, id), expected, "{label}");

        let mut conn = env.conn();
        let (status, total, done, created, refused): (String, Option<i64>, i64, i64, i64) =
            lead_imports::table
                .find(id)
                .select((
                    lead_imports::status,
                    lead_imports::rows_total,
                    lead_imports::rows_done,
                    lead_imports::leads_created,
                    lead_imports::rows_refused,
                ))
                .first(&mut conn)
                .expect("import");
        assert_eq!(
            (status.as_str(), total, done, created, refused),
            ("completed", Some(9), 9, 3, 6),
            "{label}"
        );
        let history: Vec<HistoryRow> = lead_status_history::table
            .filter(lead_status_history::lead_id.eq(jo.0))
            .select((
                lead_status_history::to_status,
                lead_status_history::reason,
                lead_status_history::source,
                lead_status_history::actor_user_id,
                lead_status_history::changed_at,
            ))
            .load(&mut conn)
            .expect("history");
        assert_eq!(
            history,
            [("received".into(), Some(format!("Lead import {id}")), "intake".into(), Some(t.owner.id), jo.4)],
            "{label}"
        );
        let values: Vec<(i64, String, String)> = lead_values::table
            .filter(lead_values::lead_id.eq(jo.0))
            .order(lead_values::field_id)
            .select((lead_values::field_id, lead_values::value, lead_values::normalized))
            .load(&mut conn)
            .expect("values");
        assert_eq!(values.len(), 3, "{label}");
        assert!(values.contains(&(t.fields[0], "jo@example.com".into(), "jo@example.com".into())), "{label}");
        // The rejected lead's email does not hold the deduplicated value.
        let held: Vec<String> = lead_values::table
            .filter(lead_values::lead_id.eq(again.0).and(lead_values::field_id.eq(t.fields[0])))
            .select(lead_values::normalized)
            .load(&mut conn)
            .expect("value");
        assert_eq!(held, [String::new()], "{label}");
        assert_eq!(setup::fields::surplus(&mut conn, t.fields[0]).expect("surplus"), 0, "{label}");
    }
}

/// Two servers on one database: an import queued on one is run by a worker of another, whose
/// upload folder is empty; the file (two parts) comes from the database.
#[test]
fn an_import_queued_on_one_server_runs_on_another() {
    for env in Env::all() {
        let label = env.db.label;
        let t = set_up(&env, None);
        let name = "n".repeat(500);
        let mut file = String::from("email,first_name\n");
        for i in 0..2500 {
            file.push_str(&format!("p{i}@example.com,{name}\n"));
        }
        assert!(file.len() > app::engine::uploads::PART_BYTES, "{label}: two parts");
        let up = upload(&env, &t.owner, "many.csv", &file);
        let columns = vec![ColumnUse::Field(t.fields[0]), ColumnUse::Field(t.fields[2])];
        let id = submit(&env, &t.owner, &t.form(up, columns, false)).expect("submitted");
        let other = tempfile::tempdir().expect("dir");
        let worker = app::engine::worker::Worker::new(
            env.db.pool().clone(),
            app::engine::uploads::Storage::new(other.path()),
            std::sync::Arc::new(env.clock.clone()),
        );
        let (ran, end) = worker.run_one(RunLimits::default()).expect("run").expect("claimed");
        assert_eq!((ran, end), (id, RunEnd::Completed), "{label}");
        assert_eq!(leads_of(&env, t.campaign).len(), 2500, "{label}");
        let body = results(&env, id);
        let lines: Vec<&str> = body.lines().skip(1).collect();
        assert_eq!(lines.len(), 2500, "{label}");
        for (i, line) in lines.iter().enumerate() {
            assert!(line.starts_with(&format!("{},created,", i + 2)), "{label}: {line}");
        }
    }
}

#[test]
fn a_stopped_import_resumes_without_repeating_a_row() {
    for env in Env::all() {
        let label = env.db.label;
        let t = set_up(&env, None);
        // Every third name spans two lines: still one row each, numbered as a spreadsheet shows
        // them, before and after the resume.
        let mut file = String::from("email,first_name\n");
        for i in 0..25 {
            match i % 3 {
                0 => file.push_str(&format!("p{i}@example.com,\"P{i}\nsecond line\"\n")),
                _ => file.push_str(&format!("p{i}@example.com,P{i}\n")),
            }
        }
        let up = upload(&env, &t.owner, "many.csv", &file);
        let columns = vec![ColumnUse::Field(t.fields[0]), ColumnUse::Field(t.fields[2])];
        let id = submit(&env, &t.owner, &t.form(up, columns, false)).expect("submitted");
        // Two batches of 10, then the worker "dies" with the import running.
        let (ran, end) =
            env.worker(10).run_one(RunLimits { max_batches: Some(2) }).expect("run").expect("claimed");
        assert_eq!((ran, end), (id, RunEnd::Stopped), "{label}");
        assert_eq!(leads_of(&env, t.campaign).len(), 20, "{label}");
        // Nobody takes it over while its heartbeat is fresh.
        assert!(env.worker(10).run_one(RunLimits::default()).expect("run").is_none(), "{label}");
        env.clock.advance(TimeDelta::seconds(31));
        run_all(&env, 10);
        let leads = leads_of(&env, t.campaign);
        assert_eq!(leads.len(), 25, "{label}");
        let body = results(&env, id);
        let lines: Vec<&str> = body.lines().skip(1).collect();
        assert_eq!(lines.len(), 25, "{label}");
        for (i, line) in lines.iter().enumerate() {
            assert!(line.starts_with(&format!("{},created,", i + 2)), "{label}: {line}");
        }
    }
}

#[test]
fn caps_are_applied_only_when_asked() {
    for env in Env::all() {
        let label = env.db.label;
        let t = set_up(&env, Some(2));
        let file = "email,received\na@example.com,2026-11-25\nb@example.com,2026-11-25\nc@example.com,2026-11-25\nd@example.com,2026-11-24\n";
        let columns = vec![ColumnUse::Field(t.fields[0]), ColumnUse::ReceivedAt];
        let up = upload(&env, &t.owner, "capped.csv", file);
        submit(&env, &t.owner, &t.form(up, columns.clone(), true)).expect("submitted");
        run_all(&env, 100);
        let leads = leads_of(&env, t.campaign);
        let summary: Vec<(&str, Option<&str>, bool)> =
            leads.iter().map(|l| (l.2.as_str(), l.3.as_deref(), l.5)).collect();
        assert_eq!(
            summary,
            [
                ("received", None, false),
                ("received", None, false),
                ("quarantine", Some("Cap reached"), true),
                // Another day: another period of the daily cap.
                ("received", None, false),
            ],
            "{label}"
        );
        let usage: Vec<(chrono::NaiveDate, i64)> = cap_usage::table
            .inner_join(caps::table)
            .filter(caps::campaign_id.eq(t.campaign))
            .order(cap_usage::period_start)
            .select((cap_usage::period_start, cap_usage::used))
            .load(&mut env.conn())
            .expect("usage");
        assert_eq!(usage.iter().map(|u| u.1).collect::<Vec<_>>(), [1, 2], "{label}: {usage:?}");

        // Without caps: every lead is received and no unit is taken.
        let file = "email,received\ne@example.com,2026-11-25\nf@example.com,2026-11-25\n";
        let up = upload(&env, &t.owner, "uncapped.csv", file);
        submit(&env, &t.owner, &t.form(up, columns, false)).expect("submitted");
        run_all(&env, 100);
        let leads = leads_of(&env, t.campaign);
        assert_eq!(leads.len(), 6, "{label}");
        assert!(leads[4..].iter().all(|l| l.2 == "received" && l.5), "{label}: {leads:?}");
        let used: i64 = cap_usage::table
            .inner_join(caps::table)
            .filter(caps::campaign_id.eq(t.campaign))
            .select(cap_usage::used)
            .load::<i64>(&mut env.conn())
            .expect("usage")
            .iter()
            .sum();
        assert_eq!(used, 3, "{label}");
    }
}

#[test]
fn imports_are_refused_before_anything_runs() {
    for env in Env::all() {
        let label = env.db.label;
        let t = set_up(&env, None);
        let up = upload(&env, &t.owner, "two.csv", "email,first_name\njo@example.com,Jo\n");
        let columns = vec![ColumnUse::Field(t.fields[0]), ColumnUse::Ignore];
        let refused = |form: &ImportForm| -> (&'static str, String) {
            match submit(&env, &t.owner, form) {
                Err(ImportError::Refused { field, message }) => (field, message),
                other => panic!("{label}: expected a refusal, got {other:?}"),
            }
        };
        // A supplier that does not send to the campaign.
        let other = setup::suppliers::create(&mut env.conn(), Actor::from(&t.owner), "Stranger Ltd", now())
            .expect("s");
        let mut form = t.form(up, columns.clone(), false);
        form.supplier_id = Some(other);
        let (field, message) = refused(&form);
        assert_eq!(field, "supplier", "{label}");
        assert!(message.contains("Stranger Ltd does not send leads to Import Test"), "{label}: {message}");
        // Columns that do not match the file, or no field at all.
        let (field, _) = refused(&t.form(up, vec![ColumnUse::Field(t.fields[0])], false));
        assert_eq!(field, "columns", "{label}");
        let (field, message) = refused(&t.form(up, vec![ColumnUse::ReceivedAt, ColumnUse::Ignore], false));
        assert_eq!(
            (field, message.as_str()),
            ("columns", "Map at least one column to a field of the campaign."),
            "{label}"
        );
        // Another instance's campaign, and someone else's upload.
        let foreign: i64 = campaigns::table
            .filter(campaigns::instance_id.ne(t.owner.instance_id))
            .select(campaigns::id)
            .first(&mut env.conn())
            .expect("foreign campaign");
        let mut form = t.form(up, columns.clone(), false);
        form.campaign_id = Some(foreign);
        assert_eq!(refused(&form).0, "campaign", "{label}");
        let client = env.user("client@sendback.test");
        let theirs = upload(&env, &client, "theirs.csv", "email\nx@example.com\n");
        assert_eq!(refused(&t.form(theirs, vec![ColumnUse::Field(t.fields[0])], false)).0, "file", "{label}");
        let none: i64 = lead_imports::table.count().get_result(&mut env.conn()).expect("count");
        assert_eq!(none, 0, "{label}: nothing was queued");
    }
}

#[test]
fn an_import_and_parallel_intake_never_both_take_a_value() {
    for env in Env::all() {
        let label = env.db.label;
        let t = set_up(&env, None);
        let emails: Vec<String> = (0..120).map(|i| format!("race{i}@example.com")).collect();
        let mut file = String::from("email\n");
        for e in &emails {
            file.push_str(e);
            file.push('\n');
        }
        let up = upload(&env, &t.owner, "race.csv", &file);
        let id = submit(&env, &t.owner, &t.form(up, vec![ColumnUse::Field(t.fields[0])], false))
            .expect("submitted");
        let (_, key) =
            app::db::keys::create_supplier_key(&mut env.conn(), Actor::from(&t.owner), t.supplier, now())
                .expect("key");
        let holder = app::db::keys::holder(&mut env.conn(), &key, now()).expect("lookup").expect("key");
        let barrier = std::sync::Barrier::new(3);
        std::thread::scope(|s| {
            s.spawn(|| {
                barrier.wait();
                run_all(&env, 10);
            });
            for half in 0..2 {
                let (env, emails, barrier) = (&env, &emails, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    // From opposite ends, so both meet the import in the middle.
                    let order: Vec<&String> =
                        if half == 0 { emails.iter().collect() } else { emails.iter().rev().collect() };
                    for e in order {
                        let posted = vec![("email".to_owned(), e.clone())];
                        app::db::intake::receive(&mut env.conn(), holder, t.campaign, &posted, now())
                            .expect("stored");
                    }
                });
            }
        });
        let mut conn = env.conn();
        for e in &emails {
            let holders: i64 = lead_values::table
                .filter(lead_values::field_id.eq(t.fields[0]).and(lead_values::normalized.eq(e)))
                .count()
                .get_result(&mut conn)
                .expect("count");
            assert_eq!(holders, 1, "{label}: {e} is held by {holders} leads");
        }
        let (created, refused): (i64, i64) = lead_imports::table
            .find(id)
            .select((lead_imports::leads_created, lead_imports::rows_refused))
            .first(&mut conn)
            .expect("import");
        assert_eq!(created + refused, 120, "{label}");
        let received: i64 = leads::table
            .filter(leads::campaign_id.eq(t.campaign).and(leads::status.eq("received")))
            .count()
            .get_result(&mut conn)
            .expect("count");
        assert_eq!(received, 120, "{label}: each email received once ({created} by the import)");
    }
}
