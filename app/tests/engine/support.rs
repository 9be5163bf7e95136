//! The shared fixture: a seeded database with its upload folder and clock (`Env`), the fixed
//! "now", the Lead ID file builder, cap totals and the end-state snapshot several test files use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use app::clock::{Clock, ManualClock};
use app::db::schema::*;
use app::db::users::{UserContext, load_context};
use app::db::{DbConn, seed};
use app::domain::task::IdentifierChoice;
use app::domain::task::TaskOptions;
use app::engine::task::{self, RunEnd, RunLimits, SubmitError, TaskRequest};
use app::engine::uploads::{Storage, upload_local_file};
use app::engine::worker::Worker;
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use crate::common::{TestDb, count};

pub fn now() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 26).and_then(|d| d.and_hms_opt(12, 0, 0)).expect("date")
}

pub struct Env {
    pub db: TestDb,
    pub dir: tempfile::TempDir,
    pub clock: ManualClock,
}

impl Env {
    pub fn new(db: TestDb) -> Self {
        let mut conn = db.conn();
        seed::seed_demo(&mut conn, now()).expect("seed");
        drop(conn);
        Self { db, dir: tempfile::tempdir().expect("dir"), clock: ManualClock::at(now()) }
    }

    pub fn all() -> Vec<Self> {
        TestDb::all().into_iter().map(Self::new).collect()
    }

    pub fn conn(&self) -> app::db::PooledConn {
        self.db.conn()
    }

    pub fn storage(&self) -> Storage {
        Storage::new(self.dir.path().join("uploads"))
    }

    pub fn worker(&self, batch_rows: usize) -> Worker {
        let mut w = Worker::new(self.db.pool().clone(), self.storage(), Arc::new(self.clock.clone()));
        w.batch_rows = batch_rows;
        w
    }

    pub fn user(&self, email: &str) -> UserContext {
        let mut conn = self.conn();
        let id: i64 =
            users::table.filter(users::email.eq(email)).select(users::id).first(&mut conn).expect("user");
        load_context(&mut conn, id).expect("load").expect("exists")
    }

    pub fn campaign(&self, name: &str) -> i64 {
        campaigns::table
            .filter(campaigns::name.eq(name))
            .select(campaigns::id)
            .first(&mut self.conn())
            .expect("campaign")
    }

    pub fn field(&self, campaign: &str, key: &str) -> i64 {
        let c = self.campaign(campaign);
        campaign_fields::table
            .filter(campaign_fields::campaign_id.eq(c).and(campaign_fields::field_key.eq(key)))
            .select(campaign_fields::id)
            .first(&mut self.conn())
            .expect("field")
    }

    pub fn file(&self, name: &str, contents: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).expect("write");
        p
    }

    pub fn request(
        &self,
        campaign: &str,
        mode: IdentifierChoice,
        id_col: &str,
        reason_col: &str,
    ) -> TaskRequest {
        TaskRequest {
            campaign_id: self.campaign(campaign),
            mode,
            identifier_column: id_col.into(),
            reason_column: reason_col.into(),
            reject_from: None,
            options: TaskOptions::default(),
            request_key: None,
        }
    }

    /// Submits `file` as the client would: it becomes their upload (as the upload endpoint
    /// stores a request body), then the task is submitted on that upload.
    pub fn submit(&self, req: &TaskRequest, file: &Path) -> Result<i64, SubmitError> {
        let upload = self.upload(file);
        self.submit_upload(req, upload)
    }

    /// Stores `file` as the client's upload; returns its id.
    pub fn upload(&self, file: &Path) -> i64 {
        let client = self.user("client@sendback.test");
        upload_local_file(&mut self.conn(), &self.storage(), &client, file, self.clock.now()).expect("upload")
    }

    /// Submits a task on the client's upload, as "Start Rejection Task" does.
    pub fn submit_upload(&self, req: &TaskRequest, upload: i64) -> Result<i64, SubmitError> {
        let client = self.user("client@sendback.test");
        task::submit_upload(&mut self.conn(), &self.storage(), &client, req, upload, self.clock.now())
    }

    /// Submits and runs to the end.
    pub fn run(&self, req: &TaskRequest, file: &Path) -> i64 {
        let id = self.submit(req, file).expect("submitted");
        let (ran, end) = self.worker(1000).run_one(RunLimits::default()).expect("run").expect("a task");
        assert_eq!((ran, end), (id, RunEnd::Completed));
        id
    }

    /// Rows per outcome, counted from the results file; the counts kept on the task agree.
    pub fn counts(&self, task: i64) -> BTreeMap<&'static str, i64> {
        let mut conn = self.conn();
        if matches!(*conn, DbConn::Sqlite(_)) {
            // The worker runs without foreign key checks on SQLite: nothing it wrote may dangle.
            assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM pragma_foreign_key_check"), 0);
            assert_eq!(count(&mut conn, "SELECT foreign_keys AS n FROM pragma_foreign_keys"), 1);
        }
        drop(conn);
        let from_rows = task::outcome_counts(&mut self.conn(), task).expect("counts");
        let stored: String = rejection_tasks::table
            .find(task)
            .select(rejection_tasks::outcome_counts)
            .first(&mut self.conn())
            .expect("task");
        assert_eq!(task::parse_counts(&stored), from_rows, "counts kept on the task");
        from_rows.into_iter().filter(|(_, n)| *n > 0).map(|(o, n)| (o.as_str(), n)).collect()
    }

    pub fn lead(&self, id: i64) -> (String, Option<String>, bool) {
        leads::table
            .find(id)
            .select((leads::status, leads::status_reason, leads::cap_released))
            .first(&mut self.conn())
            .expect("lead")
    }

    /// Leads of `campaign` with `status`, received between `min_days` and `max_days` ago, by id.
    pub fn leads_where(
        &self,
        campaign: &str,
        status: &str,
        min_days: i64,
        max_days: i64,
        n: i64,
    ) -> Vec<i64> {
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

    pub fn results_csv(&self, task: i64) -> String {
        let mut out = Vec::new();
        task::write_results_csv(&mut self.conn(), task, &mut out).expect("results");
        String::from_utf8(out).expect("utf8")
    }
}

/// from, to, reason, source.
pub type StatusChange = (Option<String>, String, Option<String>, String);

/// A Lead ID file: a `Lead ID,Rejection Reason,Agent` header and one row per (id, reason).
pub fn lead_id_csv(rows: &[(String, &str)]) -> Vec<u8> {
    let mut s = String::from("Lead ID,Rejection Reason,Agent\n");
    for (id, reason) in rows {
        s.push_str(&format!("{id},{reason},a1\n"));
    }
    s.into_bytes()
}

/// Cap units in use across all caps of `campaign`.
pub fn cap_total(conn: &mut DbConn, campaign: &str) -> i64 {
    count(
        conn,
        &format!(
            "SELECT CAST(COALESCE(SUM(u.used), 0) AS BIGINT) AS n FROM cap_usage u JOIN caps c ON c.id = u.cap_id \
             JOIN campaigns m ON m.id = c.campaign_id WHERE m.name = '{campaign}'"
        ),
    )
}

/// status, rows total, rows done, remaining accepted, outcome counts, cap units, changed rows.
pub type TaskState = (String, Option<i64>, i64, i64, String, i64, String);

/// Everything a task leaves behind, without ids and timestamps that differ between runs.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub leads: Vec<(i64, String, Option<String>, bool)>,
    pub history: Vec<(i64, StatusChange)>,
    pub events: Vec<(i64, String)>,
    pub caps: Vec<(i64, NaiveDate, i64)>,
    /// Each task's results file.
    pub rows: Vec<Vec<Vec<String>>>,
    pub tasks: Vec<TaskState>,
}

/// The snapshot of the whole database.
pub fn snapshot(conn: &mut DbConn) -> Snapshot {
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
            ids.into_iter().map(|id| task::result_rows(conn, id).expect("results")).collect()
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
