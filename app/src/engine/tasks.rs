//! Rejection tasks in the database: submitting (file-level checks, storing the upload, queueing),
//! claiming, running in batches that each commit atomically with the task's cursor, resuming
//! after a crash, counts, and the results CSV.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{Days, NaiveDate, NaiveDateTime, TimeDelta};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use sha2::Digest;

use super::csv_file::{self, RowAt, RowReader};
use super::planner::{
    self, BatchPlan, Found, IdentifierMode, Key, LeadState, PlanSettings, RowInput, RowResult, Seen,
};
use crate::db::schema::{
    affiliate_events, campaign_fields, campaigns, cap_usage, caps, lead_values, leads, rejection_task_chunks,
    rejection_task_results, rejection_tasks, uploads,
};
use crate::db::users::{Role, UserContext};
use crate::db::{DbConn, DbError, write_transaction};
use crate::domain::caps::CapPeriod;
use crate::domain::identifiers::FieldKind;
use crate::domain::status::LeadStatus;
use crate::rejections::{Outcome, TaskOptions, TaskStatus};

/// Rows per batch: each batch is one transaction, short enough that pages stay responsive.
pub const DEFAULT_BATCH_ROWS: usize = 10_000;
/// A running task whose worker has not reported for this long is taken over by another worker.
pub const STALE_AFTER: TimeDelta = TimeDelta::seconds(30);
/// Ids per `IN (…)` list.
const IN_CHUNK: usize = 5000;
/// The results file is stored in parts of about this many bytes.
const RESULT_PART_BYTES: usize = 1 << 20;
/// Changed rows kept on the task for its page (the results file lists them all).
pub const CHANGED_ROWS_KEPT: usize = 50;

/// Where uploaded files are kept: one directory every server process can read (DESIGN §6).
#[derive(Debug, Clone)]
pub struct Storage {
    pub dir: PathBuf,
}

impl Storage {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn path_of(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    /// A fresh server-chosen file name.
    pub fn new_key() -> String {
        format!("{:032x}.csv", rand::random::<u128>())
    }

    /// Copies `source` in under a fresh server-chosen name; returns (key, size, sha256).
    fn store(&self, source: &Path) -> std::io::Result<(String, u64, String)> {
        std::fs::create_dir_all(&self.dir)?;
        let key = Self::new_key();
        let dest = self.path_of(&key);
        let mut input = std::fs::File::open(source)?;
        let mut output = std::fs::OpenOptions::new().write(true).create_new(true).open(&dest)?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0_u8; 256 * 1024];
        let mut size = 0_u64;
        loop {
            let n = std::io::Read::read(&mut input, &mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            output.write_all(&buf[..n])?;
            size += n as u64;
        }
        output.sync_all()?;
        let digest: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok((key, size, digest))
    }
}

/// How the task's rows identify leads, as requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeRequest {
    LeadId,
    Uid,
    Field(i64),
}

/// A request to reject the leads of a file.
#[derive(Debug, Clone)]
pub struct TaskRequest {
    pub campaign_id: i64,
    pub mode: ModeRequest,
    pub identifier_column: String,
    pub reason_column: String,
    pub reject_from: Option<NaiveDate>,
    pub options: TaskOptions,
    /// Set by the form so a repeated submission returns the same task.
    pub request_key: Option<String>,
    pub original_name: String,
}

/// Why a task was not created. `Refused` messages are shown to the user as they are.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("campaign not found")]
    CampaignNotFound,
    #[error("{message}")]
    Refused { field: &'static str, message: String },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("storing the upload failed: {0}")]
    Io(#[from] std::io::Error),
}

impl SubmitError {
    fn refused(field: &'static str, message: impl Into<String>) -> Self {
        Self::Refused { field, message: message.into() }
    }
}

impl From<diesel::result::Error> for SubmitError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

/// What a valid request resolves to.
#[derive(Debug, Clone)]
pub struct Validated {
    pub instance_id: i64,
    pub campaign_id: i64,
    pub max_rejection_days: u32,
    pub mode: IdentifierMode,
    pub shape: csv_file::FileShape,
    pub identifier_index: usize,
    pub reason_index: usize,
}

/// Runs every check that refuses a whole task (DESIGN §3), without writing anything.
pub fn validate(
    conn: &mut DbConn,
    user: &UserContext,
    req: &TaskRequest,
    file: &Path,
    today: NaiveDate,
) -> Result<Validated, SubmitError> {
    let mut q = campaigns::table
        .filter(campaigns::id.eq(req.campaign_id).and(campaigns::instance_id.eq(user.instance_id)))
        .select((campaigns::id, campaigns::max_rejection_days))
        .into_boxed();
    if user.role == Role::ClientUser {
        q = q.filter(campaigns::client_id.eq(user.client_id.unwrap_or(-1)));
    }
    let Some((campaign_id, max_days)) = q.first::<(i64, Option<i32>)>(conn).optional()? else {
        return Err(SubmitError::CampaignNotFound);
    };
    let Some(max_days) = max_days.and_then(|d| u32::try_from(d).ok()) else {
        return Err(SubmitError::refused(
            "campaign",
            "This campaign has no maximum rejection time, so it does not accept rejections. Ask your lead supplier to set one.",
        ));
    };
    let mode = match req.mode {
        ModeRequest::LeadId => IdentifierMode::LeadId,
        ModeRequest::Uid => IdentifierMode::Uid,
        ModeRequest::Field(field_id) => {
            let field: Option<(String, String, bool)> = campaign_fields::table
                .filter(campaign_fields::id.eq(field_id).and(campaign_fields::campaign_id.eq(campaign_id)))
                .select((campaign_fields::label, campaign_fields::kind, campaign_fields::dedupe))
                .first(conn)
                .optional()?;
            match field {
                Some((_, kind, true)) => IdentifierMode::Field {
                    field_id,
                    kind: FieldKind::parse(&kind).unwrap_or(FieldKind::Text),
                },
                Some((label, _, false)) => {
                    return Err(SubmitError::refused(
                        "field",
                        format!(
                            "The field \"{label}\" is not deduplicated on this campaign, so it cannot identify a lead. Use Lead IDs instead."
                        ),
                    ));
                }
                None => {
                    return Err(SubmitError::refused(
                        "field",
                        "Choose one of this campaign's deduplicated fields.",
                    ));
                }
            }
        }
    };
    if let Some(from) = req.reject_from
        && from > today
    {
        return Err(SubmitError::refused(
            "reject_from",
            "The reject-from date is in the future. Choose today or an earlier date.",
        ));
    }
    let shape = csv_file::inspect(file).map_err(|e| SubmitError::refused("file", e.to_string()))?;
    let identifier_index = shape
        .column(&req.identifier_column)
        .map_err(|e| SubmitError::refused("identifier_column", e.to_string()))?;
    let reason_index =
        shape.column(&req.reason_column).map_err(|e| SubmitError::refused("reason_column", e.to_string()))?;
    Ok(Validated {
        instance_id: user.instance_id,
        campaign_id,
        max_rejection_days: max_days,
        mode,
        shape,
        identifier_index,
        reason_index,
    })
}

/// Validates, stores the file under a server-chosen name and records the task as `queued` —
/// before any lead changes. A repeated `request_key` returns the task it created.
pub fn submit(
    conn: &mut DbConn,
    storage: &Storage,
    user: &UserContext,
    req: &TaskRequest,
    file: &Path,
    now: NaiveDateTime,
) -> Result<i64, SubmitError> {
    if let Some(existing) = find_by_request_key(conn, user, req.request_key.as_deref())? {
        return Ok(existing);
    }
    let v = validate(conn, user, req, file, now.date())?;
    let (key, size, sha) = storage.store(file)?;
    let result = write_transaction(conn, |conn| {
        let upload_id = record_upload(conn, user, &req.original_name, &key, size, &sha, now)?;
        insert_task(conn, user, req, &v, upload_id, now)
    });
    if result.is_err() {
        // Nothing refers to the stored copy.
        let _ = std::fs::remove_file(storage.path_of(&key));
    }
    finish_submit(conn, user, req, result)
}

/// Queues a task on a file the user uploaded earlier ([`record_upload`]). A repeated
/// `request_key` returns the task it created.
pub fn submit_upload(
    conn: &mut DbConn,
    storage: &Storage,
    user: &UserContext,
    req: &TaskRequest,
    upload_id: i64,
    now: NaiveDateTime,
) -> Result<i64, SubmitError> {
    if let Some(existing) = find_by_request_key(conn, user, req.request_key.as_deref())? {
        return Ok(existing);
    }
    let upload = find_upload(conn, user, upload_id)?.ok_or_else(|| {
        SubmitError::refused("file", "The uploaded file is no longer available. Choose the file again.")
    })?;
    let v = validate(conn, user, req, &storage.path_of(&upload.storage_key), now.date())?;
    let result = write_transaction(conn, |conn| insert_task(conn, user, req, &v, upload.id, now));
    finish_submit(conn, user, req, result)
}

/// A failed insert may have lost a race with the same request: return the task that won.
fn finish_submit(
    conn: &mut DbConn,
    user: &UserContext,
    req: &TaskRequest,
    result: Result<i64, SubmitError>,
) -> Result<i64, SubmitError> {
    if result.is_err()
        && let Some(existing) = find_by_request_key(conn, user, req.request_key.as_deref())?
    {
        return Ok(existing);
    }
    result
}

/// An upload the user made, as a task needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRef {
    pub id: i64,
    pub storage_key: String,
}

/// The user's own upload `upload_id` (nobody else's, whatever id the browser sends).
pub fn find_upload(
    conn: &mut DbConn,
    user: &UserContext,
    upload_id: i64,
) -> Result<Option<UploadRef>, DbError> {
    Ok(uploads::table
        .filter(
            uploads::id
                .eq(upload_id)
                .and(uploads::user_id.eq(user.id))
                .and(uploads::instance_id.eq(user.instance_id)),
        )
        .select((uploads::id, uploads::storage_key))
        .first::<(i64, String)>(conn)
        .optional()?
        .map(|(id, storage_key)| UploadRef { id, storage_key }))
}

/// Records a file already stored under `storage_key`; returns its id.
pub fn record_upload(
    conn: &mut DbConn,
    user: &UserContext,
    original_name: &str,
    storage_key: &str,
    size: u64,
    sha256: &str,
    now: NaiveDateTime,
) -> Result<i64, diesel::result::Error> {
    let original_name: String = original_name.chars().take(255).collect();
    diesel::insert_into(uploads::table)
        .values((
            uploads::instance_id.eq(user.instance_id),
            uploads::user_id.eq(user.id),
            uploads::original_name.eq(&original_name),
            uploads::storage_key.eq(storage_key),
            uploads::size_bytes.eq(i64::try_from(size).unwrap_or(i64::MAX)),
            uploads::sha256.eq(sha256),
            uploads::created_at.eq(now),
        ))
        .returning(uploads::id)
        .get_result(conn)
}

fn insert_task(
    conn: &mut DbConn,
    user: &UserContext,
    req: &TaskRequest,
    v: &Validated,
    upload_id: i64,
    now: NaiveDateTime,
) -> Result<i64, SubmitError> {
    let (mode, field_id) = match v.mode {
        IdentifierMode::LeadId => ("lead_id", None),
        IdentifierMode::Uid => ("uid", None),
        IdentifierMode::Field { field_id, .. } => ("field", Some(field_id)),
    };
    Ok(diesel::insert_into(rejection_tasks::table)
        .values((
            rejection_tasks::instance_id.eq(v.instance_id),
            rejection_tasks::campaign_id.eq(v.campaign_id),
            rejection_tasks::user_id.eq(user.id),
            rejection_tasks::upload_id.eq(upload_id),
            rejection_tasks::request_key.eq(req.request_key.as_deref()),
            rejection_tasks::identifier_mode.eq(mode),
            rejection_tasks::identifier_field_id.eq(field_id),
            rejection_tasks::identifier_column.eq(&req.identifier_column),
            rejection_tasks::reason_column.eq(&req.reason_column),
            rejection_tasks::reject_from.eq(req.reject_from),
            rejection_tasks::move_outside_to_accepted.eq(req.options.move_outside_to_accepted),
            rejection_tasks::reject_affiliate_events.eq(req.options.reject_affiliate_events),
            rejection_tasks::move_remaining_to_accepted.eq(req.options.move_remaining_to_accepted),
            rejection_tasks::count_towards_cap.eq(req.options.count_towards_cap),
            rejection_tasks::status.eq(TaskStatus::Queued.as_str()),
            rejection_tasks::created_at.eq(now),
            rejection_tasks::delimiter.eq((v.shape.delimiter as char).to_string()),
        ))
        .returning(rejection_tasks::id)
        .get_result(conn)?)
}

/// Uploads no task uses, received before `before`, are deleted with their files (a user who
/// chose a file and never started a task); so are partial files of uploads interrupted before
/// `before`. Returns how many uploads went.
pub fn prune_unused_uploads(
    conn: &mut DbConn,
    storage: &Storage,
    before: NaiveDateTime,
) -> Result<usize, DbError> {
    let unused: Vec<(i64, String)> = uploads::table
        .filter(uploads::created_at.lt(before))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            rejection_tasks::table.filter(rejection_tasks::upload_id.eq(uploads::id)),
        )))
        .select((uploads::id, uploads::storage_key))
        .load(conn)?;
    for (id, key) in &unused {
        // The row first: a file without a row is harmless, a row without its file is not.
        let deleted = diesel::delete(uploads::table.filter(uploads::id.eq(id)).filter(diesel::dsl::not(
            diesel::dsl::exists(rejection_tasks::table.filter(rejection_tasks::upload_id.eq(uploads::id))),
        )))
        .execute(conn)?;
        if deleted == 1 {
            let _ = std::fs::remove_file(storage.path_of(key));
        }
    }
    let cutoff = std::time::SystemTime::UNIX_EPOCH
        + std::time::Duration::from_secs(u64::try_from(before.and_utc().timestamp()).unwrap_or(0));
    if let Ok(entries) = std::fs::read_dir(&storage.dir) {
        for entry in entries.flatten() {
            let stale = entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < cutoff);
            if stale && entry.path().extension().is_some_and(|e| e == "part") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(unused.len())
}

/// What a task would do, worked out without writing anything ("Preview outcomes").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// Data rows read (= the sum of `counts`).
    pub rows: i64,
    pub counts: Vec<(Outcome, i64)>,
    /// R: the reject-from date, or today.
    pub reference_date: NaiveDate,
    /// The first day inside the window (R − N).
    pub window_start: NaiveDate,
    /// Option 4: `received` leads of the campaign that would move to accepted.
    pub remaining_to_accept: i64,
    /// Option 5: cap units that would be given back.
    pub cap_units: i64,
}

/// Rows per lookup while previewing.
const PREVIEW_CHUNK: usize = 5000;

/// Runs the file-level checks and the planner over the whole file, reading leads but changing
/// nothing. Leads may still change before the task runs; the task decides again then.
pub fn preview(
    conn: &mut DbConn,
    user: &UserContext,
    req: &TaskRequest,
    file: &Path,
    today: NaiveDate,
) -> Result<Preview, SubmitError> {
    let v = validate(conn, user, req, file, today)?;
    let settings = PlanSettings {
        reference_date: req.reject_from.unwrap_or(today),
        max_rejection_days: v.max_rejection_days,
        options: req.options,
    };
    let caps = load_caps(conn, v.campaign_id)?;
    let campaign = CampaignRef { instance_id: v.instance_id, campaign_id: v.campaign_id };
    let until = remaining_until(settings.reference_date);
    let refuse = |e: csv_file::FileRefusal| SubmitError::refused("file", e.to_string());
    let mut reader =
        RowReader::open(file, v.shape.delimiter, v.shape.data_offset, v.shape.data_line).map_err(refuse)?;
    let mut seen = Seen::default();
    let mut counts: HashMap<Outcome, i64> = HashMap::new();
    let (mut rows, mut received_changed, mut cap_units) = (0_i64, 0_i64, 0_i64);
    let mut batch: Vec<RowInput> = Vec::with_capacity(PREVIEW_CHUNK);
    loop {
        let row = reader.next_row().map_err(refuse)?;
        let at_end = row.is_none();
        if let Some(row) = row {
            batch.push(read_input(&row, v.mode, v.identifier_index, v.reason_index));
        }
        if batch.len() >= PREVIEW_CHUNK || (at_end && !batch.is_empty()) {
            let keys: Vec<&Key> = batch.iter().filter_map(|r| r.parsed.as_ref().ok()).collect();
            let found = find_leads(conn, campaign, v.mode, &keys)?;
            let received_at: HashMap<i64, NaiveDateTime> = found
                .values()
                .filter_map(|f| if let Found::One(l) = f { Some((l.id, l.received_at)) } else { None })
                .collect();
            let plan = planner::plan_batch(&settings, std::mem::take(&mut batch), &found, &mut seen);
            for r in &plan.rows {
                *counts.entry(r.outcome).or_default() += 1;
                rows += 1;
            }
            received_changed += plan
                .changes
                .iter()
                .filter(|c| {
                    c.from == LeadStatus::Received && received_at.get(&c.lead_id).is_some_and(|t| *t < until)
                })
                .count() as i64;
            cap_units += cap_give_backs(&caps, &plan.release_caps_of).values().sum::<i64>();
        }
        if at_end {
            break;
        }
    }
    let remaining_to_accept = if req.options.move_remaining_to_accepted {
        let received: i64 = leads::table
            .filter(
                leads::campaign_id
                    .eq(v.campaign_id)
                    .and(leads::status.eq(LeadStatus::Received.as_str()))
                    .and(leads::received_at.lt(until)),
            )
            .count()
            .get_result(conn)?;
        (received - received_changed).max(0)
    } else {
        0
    };
    Ok(Preview {
        rows,
        counts: Outcome::ALL.iter().map(|o| (*o, counts.get(o).copied().unwrap_or(0))).collect(),
        reference_date: settings.reference_date,
        window_start: settings.window_start(),
        remaining_to_accept,
        cap_units,
    })
}

/// Option 4 moves leads received before this instant: the end of day R.
fn remaining_until(reference_date: NaiveDate) -> NaiveDateTime {
    reference_date
        .checked_add_days(Days::new(1))
        .unwrap_or(NaiveDate::MAX)
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
}

/// The campaign's caps: (cap id, supplier it is limited to, period).
fn load_caps(conn: &mut DbConn, campaign_id: i64) -> Result<Vec<(i64, Option<i64>, CapPeriod)>, DbError> {
    Ok(caps::table
        .filter(caps::campaign_id.eq(campaign_id))
        .select((caps::id, caps::supplier_id, caps::period))
        .load::<(i64, Option<i64>, String)>(conn)?
        .into_iter()
        .filter_map(|(id, supplier, period)| Some((id, supplier, CapPeriod::parse(&period)?)))
        .collect())
}

fn find_by_request_key(
    conn: &mut DbConn,
    user: &UserContext,
    key: Option<&str>,
) -> Result<Option<i64>, SubmitError> {
    let Some(key) = key else { return Ok(None) };
    Ok(rejection_tasks::table
        .filter(rejection_tasks::request_key.eq(key).and(rejection_tasks::user_id.eq(user.id)))
        .select(rejection_tasks::id)
        .first(conn)
        .optional()?)
}

#[derive(QueryableByName)]
struct ClaimedId {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

/// Atomically claims the oldest runnable task: queued, or running with a stale heartbeat (its
/// worker died). One running task per campaign (a unique index enforces it whatever races).
pub fn claim_next(conn: &mut DbConn, worker_id: &str, now: NaiveDateTime) -> Result<Option<i64>, DbError> {
    let stale_before = now - STALE_AFTER;
    let lock = match conn {
        DbConn::Pg(_) => "FOR UPDATE SKIP LOCKED",
        DbConn::Sqlite(_) => "",
    };
    let sql = format!(
        "UPDATE rejection_tasks SET status = 'running', claimed_by = $1, heartbeat_at = $2, \
           started_at = COALESCE(started_at, $2) \
         WHERE id = (SELECT t.id FROM rejection_tasks t \
           WHERE (t.status = 'queued' OR (t.status = 'running' AND t.heartbeat_at < $3)) \
             AND NOT EXISTS (SELECT 1 FROM rejection_tasks r WHERE r.campaign_id = t.campaign_id \
               AND r.status = 'running' AND r.id <> t.id AND r.heartbeat_at >= $3) \
           ORDER BY CASE WHEN t.status = 'running' THEN 0 ELSE 1 END, t.created_at, t.id LIMIT 1 {lock}) \
         RETURNING id"
    );
    let claimed = write_transaction(conn, |conn| {
        diesel::sql_query(&sql)
            .bind::<diesel::sql_types::Text, _>(worker_id)
            .bind::<diesel::sql_types::Timestamp, _>(now)
            .bind::<diesel::sql_types::Timestamp, _>(stale_before)
            .get_result::<ClaimedId>(conn)
            .optional()
    });
    match claimed {
        Ok(row) => Ok(row.map(|r| r.id)),
        // Another worker took a task of the same campaign first: try again later.
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// The task as the worker needs it.
#[derive(Debug, Clone, Queryable)]
struct TaskRow {
    id: i64,
    instance_id: i64,
    campaign_id: i64,
    user_id: i64,
    identifier_mode: String,
    identifier_field_id: Option<i64>,
    identifier_column: String,
    reason_column: String,
    reject_from: Option<NaiveDate>,
    move_outside_to_accepted: bool,
    reject_affiliate_events: bool,
    move_remaining_to_accepted: bool,
    count_towards_cap: bool,
    rows_total: Option<i64>,
    phase: String,
    remaining_cursor: i64,
    created_at: NaiveDateTime,
    storage_key: String,
}

fn load_task(conn: &mut DbConn, task_id: i64) -> Result<TaskRow, DbError> {
    Ok(rejection_tasks::table
        .inner_join(uploads::table)
        .filter(rejection_tasks::id.eq(task_id))
        .select((
            rejection_tasks::id,
            rejection_tasks::instance_id,
            rejection_tasks::campaign_id,
            rejection_tasks::user_id,
            rejection_tasks::identifier_mode,
            rejection_tasks::identifier_field_id,
            rejection_tasks::identifier_column,
            rejection_tasks::reason_column,
            rejection_tasks::reject_from,
            rejection_tasks::move_outside_to_accepted,
            rejection_tasks::reject_affiliate_events,
            rejection_tasks::move_remaining_to_accepted,
            rejection_tasks::count_towards_cap,
            rejection_tasks::rows_total,
            rejection_tasks::phase,
            rejection_tasks::remaining_cursor,
            rejection_tasks::created_at,
            uploads::storage_key,
        ))
        .first(conn)?)
}

/// Stops a run early (tests of crash recovery).
#[derive(Debug, Clone, Copy, Default)]
pub struct RunLimits {
    /// Return after this many committed batches, leaving the task `running`, as a crash would.
    pub max_batches: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    Completed,
    Failed,
    /// Stopped by `RunLimits` (or lost its claim) with work left.
    Stopped,
}

/// Runs a claimed task to its end (or until `limits` stop it). Resumes from the task's cursor.
pub struct Runner<'a> {
    pub storage: &'a Storage,
    pub worker_id: &'a str,
    pub batch_rows: usize,
    pub clock: &'a dyn crate::clock::Clock,
    /// Set when the server is shutting down: stop after the current batch.
    pub stop: Option<&'a std::sync::atomic::AtomicBool>,
}

/// Where a run spends its time (logged at the end of each run).
#[derive(Debug, Default, Clone, Copy)]
struct Timings {
    read: std::time::Duration,
    lookup: std::time::Duration,
    apply: std::time::Duration,
    outcomes: std::time::Duration,
    commit: std::time::Duration,
    remaining: std::time::Duration,
    results: std::time::Duration,
}

thread_local! {
    static TIMINGS: std::cell::Cell<Timings> = std::cell::Cell::new(Timings::default());
}

fn timed<T>(slot: fn(&mut Timings) -> &mut std::time::Duration, f: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let out = f();
    TIMINGS.with(|t| {
        let mut v = t.get();
        *slot(&mut v) += started.elapsed();
        t.set(v);
    });
    out
}

#[derive(Debug, thiserror::Error)]
enum BatchError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("a lead changed while the batch was planned")]
    Conflict,
    #[error("this worker no longer holds the task")]
    LostClaim,
}

impl From<diesel::result::Error> for BatchError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

impl Runner<'_> {
    pub fn run(&self, conn: &mut DbConn, task_id: i64, limits: RunLimits) -> Result<RunEnd, DbError> {
        TIMINGS.with(|t| t.set(Timings::default()));
        // SQLite: no foreign key checks while the task runs (three lookups per history row, a
        // tenth of a large task's time). Every row the task inserts references the lead it has
        // just updated in the same transaction (the update's count is checked), its own task
        // and that task's user; the engine tests check `PRAGMA foreign_key_check` after their
        // runs. Enforcement comes back on below and on the connection's next check-out.
        let sqlite = matches!(conn, DbConn::Sqlite(_));
        if sqlite {
            conn.batch_execute("PRAGMA foreign_keys = OFF")?;
        }
        let end = self.run_inner(conn, task_id, limits);
        if sqlite {
            conn.batch_execute("PRAGMA foreign_keys = ON")?;
        }
        let t = TIMINGS.with(std::cell::Cell::get);
        tracing::info!(task_id, ?end, read = ?t.read, lookup = ?t.lookup, apply = ?t.apply, outcomes = ?t.outcomes, commit = ?t.commit, remaining = ?t.remaining, results = ?t.results, "rejection task timings");
        end
    }

    fn run_inner(&self, conn: &mut DbConn, task_id: i64, limits: RunLimits) -> Result<RunEnd, DbError> {
        let task = load_task(conn, task_id)?;
        let path = self.storage.path_of(&task.storage_key);
        let setup = match self.setup(conn, &task, &path) {
            Ok(s) => s,
            Err(Setup::Fail(reason)) => {
                fail(conn, task_id, &reason, self.clock.now())?;
                return Ok(RunEnd::Failed);
            }
            Err(Setup::Db(e)) => return Err(e),
        };
        let mut phase = task.phase.clone();
        if phase == "rows" {
            // Pass 1, in file order: find each row's lead and its duplicates (no writes).
            let (slots, kept) = match timed(|t| &mut t.read, || self.prepare(conn, &task, &setup, &path)) {
                Ok(Ok(prepared)) => prepared,
                Ok(Err(reason)) => {
                    fail(conn, task_id, &reason, self.clock.now())?;
                    return Ok(RunEnd::Failed);
                }
                Err(e) => return Err(e),
            };
            if task.rows_total.is_none() {
                diesel::update(rejection_tasks::table.find(task_id))
                    .set(rejection_tasks::rows_total.eq(Some(i64::try_from(slots.len()).unwrap_or(i64::MAX))))
                    .execute(conn)?;
            }
            // Pass 2, in lead id order (neighbouring leads share database pages). The task's
            // chunks are its cursor: a row whose outcome was committed before a restart is not
            // applied again.
            let (committed, mut chunk) = committed_rows(conn, task_id)?;
            let slots: Vec<Slot> = if committed.is_empty() {
                slots
            } else {
                slots.into_iter().filter(|s| !committed.contains(&s.line)).collect()
            };
            drop(committed);
            let mut at = match RowAt::open(&path, setup.shape.delimiter) {
                Ok(r) => r,
                Err(e) => {
                    fail(conn, task_id, &e.to_string(), self.clock.now())?;
                    return Ok(RunEnd::Failed);
                }
            };
            for (batches, batch) in slots.chunks(self.batch_rows.max(1)).enumerate() {
                if limits.max_batches.is_some_and(|max| batches >= max) {
                    return Ok(RunEnd::Stopped);
                }
                if self.stopping() {
                    release(conn, task_id, self.worker_id)?;
                    return Ok(RunEnd::Stopped);
                }
                let mut inputs = Vec::with_capacity(batch.len());
                for slot in batch {
                    let mut input = match slot.kept.and_then(|k| kept.get(k)) {
                        Some(cells) => RowInput::new(slot.line, setup.mode, Ok(cells)),
                        None => match timed(|t| &mut t.read, || at.read_at(slot.offset, slot.line)) {
                            Ok(row) => row_input(&row, &setup),
                            Err(e) => {
                                fail(conn, task_id, &e.to_string(), self.clock.now())?;
                                return Ok(RunEnd::Failed);
                            }
                        },
                    };
                    input.duplicate_of = slot.duplicate_of;
                    inputs.push(input);
                }
                // Retry a batch once if a lead changed under it; the re-read sees the change.
                let mut attempt = 0;
                loop {
                    match self.commit_batch(conn, &task, &setup, inputs.clone(), chunk) {
                        Ok(()) => break,
                        Err(BatchError::Conflict) if attempt == 0 => attempt += 1,
                        Err(BatchError::LostClaim) => return Ok(RunEnd::Stopped),
                        Err(BatchError::Conflict) => {
                            return Err(DbError::Config("leads keep changing under the task".into()));
                        }
                        Err(BatchError::Db(e)) => return Err(e),
                    }
                }
                chunk += 1;
            }
            phase = "results".into();
            set_phase(conn, task_id, &phase)?;
        }
        if phase == "results" {
            phase = if task.move_remaining_to_accepted { "remaining".into() } else { "done".into() };
            timed(|t| &mut t.results, || finish_results(conn, task_id, &phase))?;
        }
        if phase == "remaining" {
            let until = remaining_until(setup.settings.reference_date);
            let mut cursor = task.remaining_cursor;
            // The campaign's leads as the phase starts; later ones are not this task's.
            let max_id: Option<i64> = leads::table
                .filter(leads::campaign_id.eq(task.campaign_id))
                .select(diesel::dsl::max(leads::id))
                .first(conn)?;
            let max_id = max_id.unwrap_or(0);
            // Each batch covers a window of lead ids sized to move about `batch_rows` leads.
            let target = i64::try_from(self.batch_rows.max(1)).unwrap_or(5000);
            let mut window = target.saturating_mul(2);
            let mut batches = 0_usize;
            while cursor < max_id {
                if limits.max_batches.is_some_and(|max| batches >= max) {
                    return Ok(RunEnd::Stopped);
                }
                if self.stopping() {
                    release(conn, task_id, self.worker_id)?;
                    return Ok(RunEnd::Stopped);
                }
                let last = cursor.saturating_add(window).min(max_id);
                match timed(
                    |t| &mut t.remaining,
                    || self.accept_remaining_batch(conn, &task, until, cursor, last),
                ) {
                    Ok(moved) => {
                        cursor = last;
                        let moved = i64::try_from(moved).unwrap_or(i64::MAX);
                        window = if moved == 0 {
                            window.saturating_mul(2)
                        } else {
                            i64::try_from(i128::from(window) * i128::from(target) / i128::from(moved))
                                .unwrap_or(i64::MAX)
                        }
                        // Bounded so that a campaign with few received leads left does not
                        // scan half the table inside one write transaction.
                        .clamp(64, target.saturating_mul(50));
                    }
                    Err(BatchError::LostClaim) => return Ok(RunEnd::Stopped),
                    Err(BatchError::Conflict) => continue,
                    Err(BatchError::Db(e)) => return Err(e),
                }
                batches += 1;
            }
        }
        let now = self.clock.now();
        diesel::update(rejection_tasks::table.find(task_id))
            .set((
                rejection_tasks::status.eq(TaskStatus::Completed.as_str()),
                rejection_tasks::phase.eq("done"),
                rejection_tasks::finished_at.eq(Some(now)),
                rejection_tasks::heartbeat_at.eq(Some(now)),
            ))
            .execute(conn)?;
        Ok(RunEnd::Completed)
    }

    /// Pass 1: reads the file in order; returns every data row's slot, sorted in the order the
    /// rows are applied: rows naming a lead by lead id, then the rest by line. `Err` with a
    /// reason when the file cannot be read.
    fn prepare(
        &self,
        conn: &mut DbConn,
        task: &TaskRow,
        setup: &TaskSetup,
        path: &Path,
    ) -> Result<Result<(Vec<Slot>, KeptCells), String>, DbError> {
        let mut reader = match RowReader::open(
            path,
            setup.shape.delimiter,
            setup.shape.data_offset,
            setup.shape.data_line,
        ) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let mut slots: Vec<Slot> = Vec::new();
        let mut kept = KeptCells::default();
        // The first line of each text key (lead ids are compared after the sort, below).
        let mut first_line: HashMap<Key, u64> = HashMap::new();
        // Text keys wait here until a chunk of them is looked up.
        let mut pending: Vec<(usize, Key)> = Vec::new();
        loop {
            let row = match reader.next_row() {
                Ok(Some(row)) => row,
                Ok(None) => break,
                Err(e) => return Ok(Err(e.to_string())),
            };
            let cells = cells_of(&row, setup);
            let mut slot = Slot {
                group: 1,
                lead_id: 0,
                line: row.line,
                offset: row.offset,
                duplicate_of: None,
                kept: cells.as_ref().ok().and_then(|(id, reason)| kept.keep(id, reason)),
            };
            match RowInput::new(row.line, setup.mode, cells).parsed {
                Ok(Key::LeadId(id)) => {
                    slot.group = 0;
                    slot.lead_id = id;
                }
                Ok(key) => {
                    if let Some(first) = first_line.get(&key) {
                        slot.duplicate_of = Some(*first);
                    } else {
                        first_line.insert(key.clone(), row.line);
                        pending.push((slots.len(), key));
                    }
                }
                Err(_) => {}
            }
            slots.push(slot);
            if pending.len() >= IN_CHUNK {
                resolve(conn, task, setup.mode, &mut pending, &mut slots)?;
            }
        }
        resolve(conn, task, setup.mode, &mut pending, &mut slots)?;
        drop(first_line);
        slots.sort_unstable_by_key(Slot::order);
        if setup.mode == IdentifierMode::LeadId {
            mark_repeated_lead_ids(&mut slots);
        }
        Ok(Ok((slots, kept)))
    }

    fn stopping(&self) -> bool {
        self.stop.is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn setup(&self, conn: &mut DbConn, task: &TaskRow, path: &Path) -> Result<TaskSetup, Setup> {
        let max_days: Option<i32> = campaigns::table
            .find(task.campaign_id)
            .select(campaigns::max_rejection_days)
            .first(conn)
            .map_err(|e| Setup::Db(e.into()))?;
        let Some(max_days) = max_days.and_then(|d| u32::try_from(d).ok()) else {
            return Err(Setup::Fail("the campaign no longer has a maximum rejection time".into()));
        };
        let mode = match (task.identifier_mode.as_str(), task.identifier_field_id) {
            ("lead_id", _) => IdentifierMode::LeadId,
            ("uid", _) => IdentifierMode::Uid,
            (_, Some(field_id)) => {
                let kind: String = campaign_fields::table
                    .find(field_id)
                    .select(campaign_fields::kind)
                    .first(conn)
                    .map_err(|e| Setup::Db(e.into()))?;
                IdentifierMode::Field { field_id, kind: FieldKind::parse(&kind).unwrap_or(FieldKind::Text) }
            }
            _ => return Err(Setup::Fail("the task's identifier mode is unknown".into())),
        };
        let shape = csv_file::inspect(path).map_err(|e| Setup::Fail(e.to_string()))?;
        let identifier_index =
            shape.column(&task.identifier_column).map_err(|e| Setup::Fail(e.to_string()))?;
        let reason_index = shape.column(&task.reason_column).map_err(|e| Setup::Fail(e.to_string()))?;
        let caps = load_caps(conn, task.campaign_id).map_err(Setup::Db)?;
        let settings = PlanSettings {
            reference_date: task.reject_from.unwrap_or(task.created_at.date()),
            max_rejection_days: max_days,
            options: TaskOptions {
                move_outside_to_accepted: task.move_outside_to_accepted,
                reject_affiliate_events: task.reject_affiliate_events,
                move_remaining_to_accepted: task.move_remaining_to_accepted,
                count_towards_cap: task.count_towards_cap,
            },
        };
        Ok(TaskSetup { mode, shape, identifier_index, reason_index, settings, caps })
    }

    /// Plans and applies one batch of rows, with the cursor (the batch's last slot), in one
    /// transaction.
    fn commit_batch(
        &self,
        conn: &mut DbConn,
        task: &TaskRow,
        setup: &TaskSetup,
        inputs: Vec<RowInput>,
        chunk: i64,
    ) -> Result<(), BatchError> {
        let now = self.clock.now();
        let commit_started = std::time::Instant::now();
        let mut inner = std::time::Duration::ZERO;
        let result = write_transaction(conn, |conn| {
            let inner_started = std::time::Instant::now();
            self.check_claim(conn, task.id)?;
            let keys: Vec<&Key> = inputs.iter().filter_map(|r| r.parsed.as_ref().ok()).collect();
            let found = timed(|t| &mut t.lookup, || find_leads(conn, task.campaign(), setup.mode, &keys))?;
            let n_rows = inputs.len();
            let plan = planner::plan_batch(&setup.settings, inputs, &found, &mut Seen::default());
            let units = timed(|t| &mut t.apply, || apply_plan(conn, task, setup, &plan, now))?;
            timed(|t| &mut t.outcomes, || insert_chunk(conn, task.id, chunk, &plan.rows))?;
            let (counts, changed): (String, String) = rejection_tasks::table
                .find(task.id)
                .select((rejection_tasks::outcome_counts, rejection_tasks::changed_rows))
                .first(conn)?;
            diesel::update(rejection_tasks::table.find(task.id))
                .set((
                    rejection_tasks::outcome_counts.eq(merge_counts(&counts, &plan.rows)),
                    rejection_tasks::changed_rows.eq(merge_changed(&changed, &plan.rows)),
                    rejection_tasks::cap_units_released.eq(rejection_tasks::cap_units_released + units),
                    rejection_tasks::rows_done
                        .eq(rejection_tasks::rows_done + i64::try_from(n_rows).unwrap_or(0)),
                    rejection_tasks::heartbeat_at.eq(Some(now)),
                ))
                .execute(conn)?;
            inner = inner_started.elapsed();
            Ok(())
        });
        TIMINGS.with(|t| {
            let mut v = t.get();
            v.commit += commit_started.elapsed().saturating_sub(inner);
            t.set(v);
        });
        result
    }

    /// Moves one batch of the campaign's remaining `received` leads to accepted (option 4).
    fn accept_remaining_batch(
        &self,
        conn: &mut DbConn,
        task: &TaskRow,
        until: NaiveDateTime,
        cursor: i64,
        last: i64,
    ) -> Result<usize, BatchError> {
        let now = self.clock.now();
        write_transaction(conn, |conn| {
            self.check_claim(conn, task.id)?;
            let reason = format!("Moved to accepted by rejection task {}", task.id);
            // Set-based over the id window (cursor, last]: history first (it reads the rows still
            // `received`), then the update, both walking the primary key. (Placeholders are
            // numbered in order of appearance: SQLite numbers `$n` that way.)
            let logged = diesel::sql_query(
                "INSERT INTO lead_status_history \
                   (lead_id, from_status, to_status, reason, source, actor_user_id, task_id, changed_at) \
                 SELECT id, 'received', 'accepted', $1, 'rejection_task', $2, $3, $4 FROM leads \
                 WHERE campaign_id = $5 AND id > $6 AND id <= $7 AND status = 'received' AND received_at < $8 \
                 ORDER BY id",
            )
            .bind::<diesel::sql_types::Text, _>(&reason)
            .bind::<diesel::sql_types::BigInt, _>(task.user_id)
            .bind::<diesel::sql_types::BigInt, _>(task.id)
            .bind::<diesel::sql_types::Timestamp, _>(now)
            .bind::<diesel::sql_types::BigInt, _>(task.campaign_id)
            .bind::<diesel::sql_types::BigInt, _>(cursor)
            .bind::<diesel::sql_types::BigInt, _>(last)
            .bind::<diesel::sql_types::Timestamp, _>(until)
            .execute(conn)?;
            let changed = diesel::sql_query(
                "UPDATE leads SET status = 'accepted', status_reason = $1, updated_at = $2 \
                 WHERE campaign_id = $3 AND id > $4 AND id <= $5 AND status = 'received' AND received_at < $6",
            )
            .bind::<diesel::sql_types::Text, _>(&reason)
            .bind::<diesel::sql_types::Timestamp, _>(now)
            .bind::<diesel::sql_types::BigInt, _>(task.campaign_id)
            .bind::<diesel::sql_types::BigInt, _>(cursor)
            .bind::<diesel::sql_types::BigInt, _>(last)
            .bind::<diesel::sql_types::Timestamp, _>(until)
            .execute(conn)?;
            if changed != logged {
                return Err(BatchError::Conflict);
            }
            diesel::update(rejection_tasks::table.find(task.id))
                .set((
                    rejection_tasks::remaining_accepted
                        .eq(rejection_tasks::remaining_accepted + i64::try_from(changed).unwrap_or(0)),
                    rejection_tasks::remaining_cursor.eq(last),
                    rejection_tasks::heartbeat_at.eq(Some(now)),
                ))
                .execute(conn)?;
            Ok(changed)
        })
    }

    /// Inside a batch transaction: this worker still holds the task.
    fn check_claim(&self, conn: &mut DbConn, task_id: i64) -> Result<(), BatchError> {
        let holder: Option<(String, Option<String>)> = rejection_tasks::table
            .find(task_id)
            .select((rejection_tasks::status, rejection_tasks::claimed_by))
            .first(conn)
            .optional()?;
        match holder {
            Some((status, Some(by))) if status == "running" && by == self.worker_id => Ok(()),
            _ => Err(BatchError::LostClaim),
        }
    }
}

enum Setup {
    Fail(String),
    Db(DbError),
}

/// A data row's place in the processing order.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// 0: names a lead (applied in lead id order); 1: names none (applied by line).
    group: u8,
    lead_id: i64,
    line: u64,
    offset: u64,
    duplicate_of: Option<u64>,
    /// The row's cells, when pass 1 kept them.
    kept: Option<Kept>,
}

impl Slot {
    fn order(&self) -> (u8, i64, u64) {
        (self.group, self.lead_id, self.line)
    }
}

/// Lead ID mode, after the sort: rows naming the same lead id are adjacent, the first in the
/// file first; the others become its duplicates. (Sorting instead of a hash map of every id
/// saves a large file's map: tens of MB.)
fn mark_repeated_lead_ids(slots: &mut [Slot]) {
    let mut first: Option<(i64, u64)> = None;
    for slot in slots.iter_mut().take_while(|s| s.group == 0) {
        match first {
            Some((id, line)) if id == slot.lead_id => slot.duplicate_of = Some(line),
            _ => first = Some((slot.lead_id, slot.line)),
        }
    }
}

/// The row as the planner reads it.
fn row_input(row: &csv_file::RawRow, setup: &TaskSetup) -> RowInput {
    read_input(row, setup.mode, setup.identifier_index, setup.reason_index)
}

/// The row's cells as [`row_input`] reads them.
fn cells_of<'r>(row: &'r csv_file::RawRow, setup: &TaskSetup) -> Result<(&'r str, &'r str), String> {
    row_cells(row, setup.identifier_index, setup.reason_index)
}

fn read_input(
    row: &csv_file::RawRow,
    mode: IdentifierMode,
    identifier_index: usize,
    reason_index: usize,
) -> RowInput {
    RowInput::new(row.line, mode, row_cells(row, identifier_index, reason_index))
}

/// The row's identifier and reason cells, or why they cannot be read.
fn row_cells(
    row: &csv_file::RawRow,
    identifier_index: usize,
    reason_index: usize,
) -> Result<(&str, &str), String> {
    if row.unterminated_quote {
        Err("a quoted value is never closed; this row and everything after it could not be read".to_owned())
    } else {
        row.text(identifier_index).and_then(|id| row.text(reason_index).map(|r| (id, r)))
    }
}

/// Pass 1 keeps each row's two cells here, so that pass 2, which visits the rows in lead id
/// order, need not read them from the file again (one `pread` per row was a tenth of a large
/// task's time). Bounded: the cells of rows past [`KEPT_CELLS_BYTES`], and long cells, are
/// read from the file again.
#[derive(Default)]
struct KeptCells {
    text: String,
}

/// Where a row's cells are in [`KeptCells`]: the identifier, then the reason.
#[derive(Debug, Clone, Copy)]
struct Kept {
    at: u32,
    identifier_len: u32,
    reason_len: u32,
}

/// At most this much cell text is kept in memory per task (1,000,000 typical rows take ~25 MB).
const KEPT_CELLS_BYTES: usize = 64 << 20;
/// A row whose cells are longer than this together is read from the file again.
const KEPT_ROW_BYTES: usize = 4096;

impl KeptCells {
    fn keep(&mut self, identifier: &str, reason: &str) -> Option<Kept> {
        let len = identifier.len() + reason.len();
        if len > KEPT_ROW_BYTES || self.text.len() + len > KEPT_CELLS_BYTES {
            return None;
        }
        let kept = Kept {
            at: u32::try_from(self.text.len()).ok()?,
            identifier_len: u32::try_from(identifier.len()).ok()?,
            reason_len: u32::try_from(reason.len()).ok()?,
        };
        self.text.push_str(identifier);
        self.text.push_str(reason);
        Some(kept)
    }

    fn get(&self, kept: Kept) -> Option<(&str, &str)> {
        let at = usize::try_from(kept.at).ok()?;
        let mid = at + usize::try_from(kept.identifier_len).ok()?;
        let end = mid + usize::try_from(kept.reason_len).ok()?;
        Some((self.text.get(at..mid)?, self.text.get(mid..end)?))
    }
}

/// Looks up pending text keys; slots whose key names exactly one lead join group 0.
fn resolve(
    conn: &mut DbConn,
    task: &TaskRow,
    mode: IdentifierMode,
    pending: &mut Vec<(usize, Key)>,
    slots: &mut [Slot],
) -> Result<(), DbError> {
    if pending.is_empty() {
        return Ok(());
    }
    let keys: Vec<&Key> = pending.iter().map(|(_, k)| k).collect();
    let found = find_leads(conn, task.campaign(), mode, &keys)?;
    for (index, key) in pending.drain(..) {
        if let Some(Found::One(lead)) = found.get(&key) {
            slots[index].group = 0;
            slots[index].lead_id = lead.id;
        }
    }
    Ok(())
}

struct TaskSetup {
    mode: IdentifierMode,
    shape: csv_file::FileShape,
    identifier_index: usize,
    reason_index: usize,
    settings: PlanSettings,
    /// (cap id, supplier it is limited to, period).
    caps: Vec<(i64, Option<i64>, CapPeriod)>,
}

/// Hands a running task back at once (graceful shutdown): any worker may resume it from its
/// cursor without waiting for the heartbeat to go stale.
fn release(conn: &mut DbConn, task_id: i64, worker_id: &str) -> Result<(), DbError> {
    let epoch = NaiveDate::default().and_hms_opt(0, 0, 0).unwrap_or_default();
    diesel::update(
        rejection_tasks::table
            .filter(rejection_tasks::id.eq(task_id).and(rejection_tasks::claimed_by.eq(worker_id))),
    )
    .set(rejection_tasks::heartbeat_at.eq(Some(epoch)))
    .execute(conn)?;
    Ok(())
}

fn set_phase(conn: &mut DbConn, task_id: i64, phase: &str) -> Result<(), DbError> {
    diesel::update(rejection_tasks::table.find(task_id))
        .set(rejection_tasks::phase.eq(phase))
        .execute(conn)?;
    Ok(())
}

fn fail(conn: &mut DbConn, task_id: i64, reason: &str, now: NaiveDateTime) -> Result<(), DbError> {
    // The rows applied before the failure keep their outcomes in the results file.
    finish_results(conn, task_id, "done")?;
    diesel::update(rejection_tasks::table.find(task_id))
        .set((
            rejection_tasks::status.eq(TaskStatus::Failed.as_str()),
            rejection_tasks::failure_reason.eq(Some(reason)),
            rejection_tasks::finished_at.eq(Some(now)),
        ))
        .execute(conn)?;
    Ok(())
}

type LeadTuple = (i64, String, NaiveDateTime, i64, bool);

fn lead_state((id, status, received_at, supplier_id, cap_released): LeadTuple) -> Option<LeadState> {
    Some(LeadState { id, status: LeadStatus::parse(&status)?, received_at, supplier_id, cap_released })
}

/// The campaign a task works on, and its instance.
#[derive(Debug, Clone, Copy)]
struct CampaignRef {
    instance_id: i64,
    campaign_id: i64,
}

impl TaskRow {
    fn campaign(&self) -> CampaignRef {
        CampaignRef { instance_id: self.instance_id, campaign_id: self.campaign_id }
    }
}

/// The campaign's leads matching the batch's keys.
fn find_leads(
    conn: &mut DbConn,
    campaign: CampaignRef,
    mode: IdentifierMode,
    keys: &[&Key],
) -> Result<HashMap<Key, Found>, DbError> {
    let cols = (leads::id, leads::status, leads::received_at, leads::supplier_id, leads::cap_released);
    let mut found = HashMap::new();
    match mode {
        IdentifierMode::LeadId => {
            let ids: Vec<i64> =
                keys.iter().filter_map(|k| if let Key::LeadId(id) = k { Some(*id) } else { None }).collect();
            for chunk in ids.chunks(IN_CHUNK) {
                let rows: Vec<LeadTuple> = leads::table
                    .filter(leads::campaign_id.eq(campaign.campaign_id).and(leads::id.eq_any(chunk)))
                    .select(cols)
                    .load(conn)?;
                for lead in rows.into_iter().filter_map(lead_state) {
                    found.insert(Key::LeadId(lead.id), Found::One(lead));
                }
            }
        }
        IdentifierMode::Uid => {
            let uids: Vec<&str> = keys
                .iter()
                .filter_map(|k| if let Key::Text(t) = k { Some(t.as_str()) } else { None })
                .collect();
            for chunk in uids.chunks(IN_CHUNK) {
                let rows: Vec<(String, LeadTuple)> = leads::table
                    .filter(
                        leads::instance_id
                            .eq(campaign.instance_id)
                            .and(leads::campaign_id.eq(campaign.campaign_id))
                            .and(leads::uid.eq_any(chunk)),
                    )
                    .select((leads::uid, cols))
                    .load(conn)?;
                for (uid, t) in rows {
                    if let Some(lead) = lead_state(t) {
                        found.insert(Key::Text(uid), Found::One(lead));
                    }
                }
            }
        }
        IdentifierMode::Field { field_id, .. } => {
            let values: Vec<&str> = keys
                .iter()
                .filter_map(|k| if let Key::Text(t) = k { Some(t.as_str()) } else { None })
                .collect();
            for chunk in values.chunks(IN_CHUNK) {
                let rows: Vec<(String, LeadTuple)> = lead_values::table
                    .inner_join(leads::table)
                    .filter(
                        lead_values::field_id
                            .eq(field_id)
                            .and(lead_values::normalized.eq_any(chunk))
                            .and(leads::campaign_id.eq(campaign.campaign_id)),
                    )
                    .select((lead_values::normalized, cols))
                    .load(conn)?;
                for (value, t) in rows {
                    let Some(lead) = lead_state(t) else { continue };
                    let key = Key::Text(value);
                    let next = match found.remove(&key) {
                        None => Found::One(lead),
                        Some(Found::One(_)) => Found::Many(2),
                        Some(Found::Many(n)) => Found::Many(n + 1),
                    };
                    found.insert(key, next);
                }
            }
        }
    }
    Ok(found)
}

diesel::table! {
    /// Per-connection temporary table of a batch's status changes (created on first use).
    batch_changes (lead_id) {
        lead_id -> BigInt,
        from_status -> Text,
        to_status -> Text,
        reason -> Nullable<Text>,
        release_cap -> Bool,
    }
}

/// Applies a batch plan: status changes (guarded by the status they were planned from), history,
/// affiliate events, cap give-backs (a lead's `cap_released` flag is set in the same update).
/// Returns the cap units given back.
fn apply_plan(
    conn: &mut DbConn,
    task: &TaskRow,
    setup: &TaskSetup,
    plan: &BatchPlan,
    now: NaiveDateTime,
) -> Result<i64, BatchError> {
    // The batch's changes go into a per-connection temporary table, then one `UPDATE … FROM`
    // and one `INSERT … SELECT` apply them: SQLite and PostgreSQL do the per-lead work
    // themselves, in lead id order, instead of one statement per lead. (Reading the changes
    // from one JSON parameter with `json_each` instead was measured: the batches' apply time
    // went from 7.6 to 12.9 s on the 1M-row benchmark.)
    // (On SQLite `INTEGER PRIMARY KEY` makes the lead id the row id: one B-tree, not two.)
    let key = if matches!(conn, DbConn::Sqlite(_)) { "INTEGER" } else { "BIGINT" };
    conn.batch_execute(&format!(
        "CREATE TEMP TABLE IF NOT EXISTS batch_changes (lead_id {key} PRIMARY KEY, from_status TEXT NOT NULL, \
         to_status TEXT NOT NULL, reason TEXT, release_cap BOOLEAN NOT NULL); DELETE FROM batch_changes;",
    ))?;
    let releasing: std::collections::HashSet<i64> = plan.release_caps_of.iter().map(|l| l.id).collect();
    let mut sorted: Vec<&planner::LeadChange> = plan.changes.iter().collect();
    sorted.sort_unstable_by_key(|c| c.lead_id);
    let rows: Vec<_> = sorted
        .into_iter()
        .map(|c| {
            (
                batch_changes::lead_id.eq(c.lead_id),
                batch_changes::from_status.eq(c.from.as_str()),
                batch_changes::to_status.eq(c.to.as_str()),
                batch_changes::reason.eq(c.reason.as_deref()),
                batch_changes::release_cap.eq(releasing.contains(&c.lead_id)),
            )
        })
        .collect();
    // The planner gives a cap unit back only for a lead it changes (and once per lead).
    let marked = plan.changes.iter().filter(|c| releasing.contains(&c.lead_id)).count();
    if releasing.len() != plan.release_caps_of.len() || marked != releasing.len() {
        return Err(BatchError::Db(DbError::Config("a cap give-back without a status change".into())));
    }
    for chunk in rows.chunks(1000) {
        crate::batch_insert!(&mut *conn, batch_changes::table, chunk)?;
    }
    let changed = diesel::sql_query(
        // Both planners walk the batch (in lead id order) and look each lead up by its key.
        "UPDATE leads SET status = c.to_status, status_reason = c.reason, updated_at = $1, \
           cap_released = (leads.cap_released OR c.release_cap) \
         FROM batch_changes c WHERE leads.id = c.lead_id AND leads.status = c.from_status",
    )
    .bind::<diesel::sql_types::Timestamp, _>(now)
    .execute(conn)?;
    if changed != plan.changes.len() {
        return Err(BatchError::Conflict);
    }
    diesel::sql_query(
        "INSERT INTO lead_status_history (lead_id, from_status, to_status, reason, source, actor_user_id, task_id, changed_at) \
         SELECT lead_id, from_status, to_status, reason, 'rejection_task', $1, $2, $3 FROM batch_changes ORDER BY lead_id",
    )
    .bind::<diesel::sql_types::BigInt, _>(task.user_id)
    .bind::<diesel::sql_types::BigInt, _>(task.id)
    .bind::<diesel::sql_types::Timestamp, _>(now)
    .execute(conn)?;
    apply_events_and_caps(conn, setup, plan)
}

/// Rejects the batch's affiliate events and gives its cap units back; returns the units.
fn apply_events_and_caps(conn: &mut DbConn, setup: &TaskSetup, plan: &BatchPlan) -> Result<i64, BatchError> {
    for chunk in plan.reject_events_of.chunks(IN_CHUNK) {
        diesel::update(
            affiliate_events::table
                .filter(affiliate_events::lead_id.eq_any(chunk).and(affiliate_events::status.eq("approved"))),
        )
        .set(affiliate_events::status.eq("rejected"))
        .execute(conn)?;
    }
    let mut units = 0;
    if !plan.release_caps_of.is_empty() {
        let give_back = cap_give_backs(&setup.caps, &plan.release_caps_of);
        units = give_back.values().sum();
        for ((cap_id, period_start), n) in give_back {
            diesel::update(
                cap_usage::table
                    .filter(cap_usage::cap_id.eq(cap_id).and(cap_usage::period_start.eq(period_start))),
            )
            .set(cap_usage::used.eq(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
                "CASE WHEN used >= {n} THEN used - {n} ELSE 0 END"
            ))))
            .execute(conn)?;
        }
    }
    Ok(units)
}

/// (cap id, first day of its period) → units the leads give back: one per cap each lead counted
/// in (the campaign's caps, and the caps of the lead's supplier).
fn cap_give_backs(
    caps: &[(i64, Option<i64>, CapPeriod)],
    leads: &[LeadState],
) -> HashMap<(i64, NaiveDate), i64> {
    let mut give_back: HashMap<(i64, NaiveDate), i64> = HashMap::new();
    for lead in leads {
        for (cap_id, supplier, period) in caps {
            if supplier.is_none_or(|s| s == lead.supplier_id) {
                *give_back.entry((*cap_id, period.period_start(lead.received_at.date()))).or_default() += 1;
            }
        }
    }
    give_back
}

/// Adds a batch's outcomes to the task's stored counts (a JSON object, outcome → rows).
fn merge_counts(stored: &str, rows: &[RowResult]) -> String {
    let mut counts: std::collections::BTreeMap<String, i64> =
        serde_json::from_str(stored).unwrap_or_default();
    for row in rows {
        *counts.entry(row.outcome.as_str().to_owned()).or_default() += 1;
    }
    serde_json::to_string(&counts).unwrap_or_else(|_| "{}".to_owned())
}

/// The stored counts, one entry per outcome in [`Outcome::ALL`] order.
pub fn parse_counts(stored: &str) -> Vec<(Outcome, i64)> {
    let counts: std::collections::BTreeMap<String, i64> = serde_json::from_str(stored).unwrap_or_default();
    Outcome::ALL.iter().map(|o| (*o, counts.get(o.as_str()).copied().unwrap_or(0))).collect()
}

/// The first [`CHANGED_ROWS_KEPT`] changed rows so far, with a batch's: JSON
/// `[[row, lead id, outcome], …]` in file order.
fn merge_changed(stored: &str, rows: &[RowResult]) -> String {
    let mut kept: Vec<(u64, i64, String)> = serde_json::from_str(stored).unwrap_or_default();
    let bound =
        if kept.len() >= CHANGED_ROWS_KEPT { kept.last().map_or(u64::MAX, |k| k.0) } else { u64::MAX };
    kept.extend(
        rows.iter()
            .filter(|r| {
                r.line < bound && matches!(r.outcome, Outcome::Rejected | Outcome::AcceptedOutsideWindow)
            })
            .filter_map(|r| Some((r.line, r.lead_id?, r.outcome.as_str().to_owned()))),
    );
    kept.sort_unstable_by_key(|k| k.0);
    kept.truncate(CHANGED_ROWS_KEPT);
    serde_json::to_string(&kept).unwrap_or_else(|_| "[]".to_owned())
}

/// The stored changed rows: (row, lead id, outcome).
pub fn parse_changed(stored: &str) -> Vec<(u64, i64, Outcome)> {
    let kept: Vec<(u64, i64, String)> = serde_json::from_str(stored).unwrap_or_default();
    kept.into_iter().filter_map(|(row, lead, outcome)| Some((row, lead, Outcome::parse(&outcome)?))).collect()
}

fn results_writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new().quote_style(csv::QuoteStyle::Always).from_writer(out)
}

fn csv_failed(e: impl std::fmt::Display) -> DbError {
    DbError::Config(format!("writing results: {e}"))
}

/// Stores a batch's outcomes as one chunk: its results-CSV records, sorted by row number.
fn insert_chunk(conn: &mut DbConn, task_id: i64, chunk: i64, rows: &[RowResult]) -> Result<(), BatchError> {
    let mut sorted: Vec<&RowResult> = rows.iter().collect();
    sorted.sort_unstable_by_key(|r| r.line);
    let mut w = results_writer(Vec::with_capacity(rows.len() * 64));
    for r in sorted {
        w.write_record([
            r.line.to_string().as_str(),
            &spreadsheet_safe(&r.identifier),
            &spreadsheet_safe(&r.reason),
            r.outcome.as_str(),
            &r.lead_id.map(|i| i.to_string()).unwrap_or_default(),
            &spreadsheet_safe(&r.message),
        ])
        .map_err(csv_failed)?;
    }
    let body = w.into_inner().map_err(csv_failed)?;
    let body = String::from_utf8(body).map_err(csv_failed)?;
    diesel::insert_into(rejection_task_chunks::table)
        .values((
            rejection_task_chunks::task_id.eq(task_id),
            rejection_task_chunks::chunk.eq(chunk),
            rejection_task_chunks::body.eq(body),
        ))
        .execute(conn)?;
    Ok(())
}

/// The row number of a results record.
fn record_row(record: &csv::ByteRecord) -> Option<u64> {
    std::str::from_utf8(record.get(0)?).ok()?.parse().ok()
}

/// Calls `each` with every results record in a task's chunks, in chunk order (one chunk in
/// memory at a time); returns the next chunk's number.
fn for_each_chunk_record(
    conn: &mut DbConn,
    task_id: i64,
    mut each: impl FnMut(&csv::ByteRecord) -> Result<(), DbError>,
) -> Result<i64, DbError> {
    let chunks: Vec<i64> = rejection_task_chunks::table
        .filter(rejection_task_chunks::task_id.eq(task_id))
        .select(rejection_task_chunks::chunk)
        .order(rejection_task_chunks::chunk)
        .load(conn)?;
    let mut record = csv::ByteRecord::new();
    for &chunk in &chunks {
        let body: String = rejection_task_chunks::table
            .find((task_id, chunk))
            .select(rejection_task_chunks::body)
            .first(conn)?;
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(body.as_bytes());
        while reader.read_byte_record(&mut record).map_err(csv_failed)? {
            each(&record)?;
        }
    }
    Ok(chunks.last().map_or(0, |c| c + 1))
}

/// The rows whose outcomes a task has committed (in its chunks), and the next chunk's number.
fn committed_rows(conn: &mut DbConn, task_id: i64) -> Result<(std::collections::HashSet<u64>, i64), DbError> {
    let mut rows = std::collections::HashSet::new();
    let next = for_each_chunk_record(conn, task_id, |record| {
        rows.extend(record_row(record));
        Ok(())
    })?;
    Ok((rows, next))
}

/// The results records a task has committed but not yet merged into its results file (its
/// chunks), in chunk order.
pub fn committed_result_rows(conn: &mut DbConn, task_id: i64) -> Result<Vec<Vec<String>>, DbError> {
    let mut rows = Vec::new();
    for_each_chunk_record(conn, task_id, |record| {
        let cells: Result<Vec<String>, _> =
            record.iter().map(|c| std::str::from_utf8(c).map(str::to_owned)).collect();
        rows.push(cells.map_err(csv_failed)?);
        Ok(())
    })?;
    Ok(rows)
}

/// Merges a task's chunks into its results file, in file order, then deletes the chunks and moves
/// the task to `next_phase` in the same transaction. Run again after a crash, it starts over.
fn finish_results(conn: &mut DbConn, task_id: i64, next_phase: &str) -> Result<(), DbError> {
    diesel::delete(rejection_task_results::table.filter(rejection_task_results::task_id.eq(task_id)))
        .execute(conn)?;
    let bodies: Vec<String> = rejection_task_chunks::table
        .filter(rejection_task_chunks::task_id.eq(task_id))
        .select(rejection_task_chunks::body)
        .order(rejection_task_chunks::chunk)
        .load(conn)?;
    // A k-way merge: each chunk is sorted by row number, and row numbers are unique.
    let mut readers: Vec<csv::Reader<&[u8]>> = bodies
        .iter()
        .map(|b| csv::ReaderBuilder::new().has_headers(false).from_reader(b.as_bytes()))
        .collect();
    let mut current: Vec<csv::ByteRecord> = vec![csv::ByteRecord::new(); readers.len()];
    let mut heap = std::collections::BinaryHeap::new();
    for (i, reader) in readers.iter_mut().enumerate() {
        if reader.read_byte_record(&mut current[i]).map_err(csv_failed)? {
            heap.push(std::cmp::Reverse((record_row(&current[i]).unwrap_or(u64::MAX), i)));
        }
    }
    let mut part = 0_i64;
    let mut w = results_writer(Vec::with_capacity(RESULT_PART_BYTES + 64 * 1024));
    let store = |conn: &mut DbConn, body: Vec<u8>, part: i64| -> Result<(), DbError> {
        let body = String::from_utf8(body).map_err(csv_failed)?;
        diesel::insert_into(rejection_task_results::table)
            .values((
                rejection_task_results::task_id.eq(task_id),
                rejection_task_results::part.eq(part),
                rejection_task_results::body.eq(body),
            ))
            .execute(conn)?;
        Ok(())
    };
    while let Some(std::cmp::Reverse((_, i))) = heap.pop() {
        w.write_byte_record(&current[i]).map_err(csv_failed)?;
        if readers[i].read_byte_record(&mut current[i]).map_err(csv_failed)? {
            heap.push(std::cmp::Reverse((record_row(&current[i]).unwrap_or(u64::MAX), i)));
        }
        if w.get_ref().len() >= RESULT_PART_BYTES {
            let full =
                std::mem::replace(&mut w, results_writer(Vec::with_capacity(RESULT_PART_BYTES + 64 * 1024)));
            store(conn, full.into_inner().map_err(csv_failed)?, part)?;
            part += 1;
        }
    }
    let last = w.into_inner().map_err(csv_failed)?;
    drop(readers);
    drop(bodies);
    write_transaction(conn, |conn| {
        if !last.is_empty() {
            store(conn, last, part)?;
        }
        diesel::delete(rejection_task_chunks::table.filter(rejection_task_chunks::task_id.eq(task_id)))
            .execute(conn)?;
        set_phase(conn, task_id, next_phase)
    })
}

/// Rows per outcome in a task's results file (rows read = the sum), read a part at a time.
pub fn outcome_counts(conn: &mut DbConn, task_id: i64) -> Result<Vec<(Outcome, i64)>, DbError> {
    let mut counts: Vec<(Outcome, i64)> = Outcome::ALL.iter().map(|o| (*o, 0)).collect();
    let mut record = csv::ByteRecord::new();
    for_each_part(conn, task_id, |body| {
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(body.as_bytes());
        while reader.read_byte_record(&mut record).map_err(csv_failed)? {
            if let Some(slot) = counts.iter_mut().find(|(o, _)| Some(o.as_str().as_bytes()) == record.get(3))
            {
                slot.1 += 1;
            }
        }
        Ok(())
    })?;
    Ok(counts)
}

/// Calls `each` with every part of a task's results file, in order (one part in memory at a
/// time).
fn for_each_part(
    conn: &mut DbConn,
    task_id: i64,
    mut each: impl FnMut(&str) -> Result<(), DbError>,
) -> Result<(), DbError> {
    let mut after = -1_i64;
    while let Some((part, body)) = rejection_task_results::table
        .filter(rejection_task_results::task_id.eq(task_id).and(rejection_task_results::part.gt(after)))
        .select((rejection_task_results::part, rejection_task_results::body))
        .order(rejection_task_results::part)
        .first::<(i64, String)>(conn)
        .optional()?
    {
        each(&body)?;
        after = part;
    }
    Ok(())
}

/// A task's results file read back: one record per row (row, identifier, reason, outcome,
/// lead id, message), without the header.
pub fn result_rows(conn: &mut DbConn, task_id: i64) -> Result<Vec<Vec<String>>, DbError> {
    let mut out = Vec::new();
    write_results_csv(conn, task_id, &mut out)?;
    let mut reader = csv::Reader::from_reader(out.as_slice());
    reader.records().map(|r| r.map(|r| r.iter().map(str::to_owned).collect()).map_err(csv_failed)).collect()
}

/// A cell safe to open in a spreadsheet: text that a spreadsheet would run as a formula gets a
/// leading apostrophe (OWASP CSV injection).
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\n') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// Streams the results CSV of a task: one line per input row, in file order.
pub fn write_results_csv(conn: &mut DbConn, task_id: i64, mut out: impl Write) -> Result<(), DbError> {
    let mut w = results_writer(&mut out);
    w.write_record(["row", "identifier", "reason", "outcome", "lead_id", "message"]).map_err(csv_failed)?;
    w.flush().map_err(csv_failed)?;
    drop(w);
    for_each_part(conn, task_id, |body| out.write_all(body.as_bytes()).map_err(csv_failed))?;
    out.flush().map_err(csv_failed)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{
        KEPT_CELLS_BYTES, KEPT_ROW_BYTES, KeptCells, Slot, mark_repeated_lead_ids, spreadsheet_safe,
    };

    #[test]
    fn kept_cells_come_back_as_they_went_in_and_stay_bounded() {
        let mut kept = KeptCells::default();
        let a = kept.keep("1000001", "Wrong number").expect("kept");
        let b = kept.keep("", "Ünïcode, \"quoted\"").expect("kept");
        assert_eq!(kept.get(a), Some(("1000001", "Wrong number")));
        assert_eq!(kept.get(b), Some(("", "Ünïcode, \"quoted\"")));
        // A long cell is left in the file.
        assert!(kept.keep("1", &"x".repeat(KEPT_ROW_BYTES)).is_none());
        // So is everything past the bound.
        let row = "y".repeat(KEPT_ROW_BYTES - 1);
        while kept.keep("1", &row).is_some() {}
        assert!(kept.text.len() <= KEPT_CELLS_BYTES);
        assert!(kept.keep("1", "short").is_some(), "a short row may still fit");
        assert_eq!(kept.get(a), Some(("1000001", "Wrong number")));
    }

    #[test]
    fn a_repeated_lead_id_points_at_its_first_row() {
        let slot =
            |group, lead_id, line| Slot { group, lead_id, line, offset: 0, duplicate_of: None, kept: None };
        // Sorted as pass 2 applies them: (group, lead id, line).
        let mut slots = vec![
            slot(0, 5, 3),
            slot(0, 5, 9),
            slot(0, 5, 12),
            slot(0, 7, 2),
            slot(0, 8, 4),
            slot(0, 8, 6),
            slot(1, 0, 5),
        ];
        mark_repeated_lead_ids(&mut slots);
        let marks: Vec<Option<u64>> = slots.iter().map(|s| s.duplicate_of).collect();
        assert_eq!(marks, [None, Some(3), Some(3), None, None, Some(4), None]);
    }

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("+44 7700"), "'+44 7700");
        assert_eq!(spreadsheet_safe("-1"), "'-1");
        assert_eq!(spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(spreadsheet_safe("\tcmd"), "'\tcmd");
        assert_eq!(spreadsheet_safe("Wrong number"), "Wrong number");
        assert_eq!(spreadsheet_safe(""), "");
    }
}
