//! Previews as background jobs ("Preview outcomes" of a rejection file, the lead import's
//! preview): a request queues a job and answers its id at once; every server runs a few preview
//! worker threads (the global cap) that claim queued jobs, write the rows read and a heartbeat
//! after every chunk, stop when the job was cancelled, and store the result or the error. A user
//! has at most one unfinished preview: a new one cancels the old. Finished jobs are deleted after
//! an hour.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, SharedClock};
use crate::db::schema::preview_jobs;
use crate::db::users::{self, Role, UserContext};
use crate::db::{DbConn, DbError, Pool, write_transaction};
use crate::domain::lead_import::{ImportForm, ImportPreview};
use crate::domain::messages::UPLOAD_GONE;
use crate::domain::preview_job::PreviewStatus;
use crate::domain::task::{IdentifierChoice, Outcome, TaskOptions};
use crate::engine::lead_import::{self, ImportError};
use crate::engine::task::{self, SubmitError, TaskRequest};
use crate::engine::uploads::{Storage, find_upload};
use crate::error::AppError;

/// The job `id` while `worker_id` runs it.
macro_rules! held {
    ($id:expr, $worker_id:expr) => {
        preview_jobs::table.filter(
            preview_jobs::id
                .eq($id)
                .and(preview_jobs::claimed_by.eq($worker_id))
                .and(preview_jobs::status.eq(PreviewStatus::Running.as_str())),
        )
    };
}

/// Preview worker threads per server process by default (`--preview-workers`).
pub const DEFAULT_WORKERS: usize = 2;
/// A running job whose heartbeat is older than this is taken over (its server died). Progress is
/// written every chunk (5,000 rows), many times a second.
pub const STALE_AFTER: TimeDelta = TimeDelta::seconds(60);
/// How often an idle worker looks for a queued job.
pub const IDLE_POLL: Duration = Duration::from_millis(200);
/// Finished jobs are kept this long (their page may still ask), then deleted.
pub const KEEP_FINISHED: TimeDelta = TimeDelta::hours(1);
/// Any job is deleted this long after it was created, finished or not (a job left by a server
/// that stopped and never came back).
pub const KEEP_ANY: TimeDelta = TimeDelta::days(1);

/// A rejection preview's request: the user's upload and the form as the engine takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectionPreviewRequest {
    pub upload_id: i64,
    pub campaign_id: i64,
    pub mode: IdentifierChoice,
    pub identifier_column: String,
    pub reason_column: String,
    pub reject_from: Option<NaiveDate>,
    pub options: TaskOptions,
}

impl RejectionPreviewRequest {
    pub fn of(upload_id: i64, req: &TaskRequest) -> Self {
        Self {
            upload_id,
            campaign_id: req.campaign_id,
            mode: req.mode,
            identifier_column: req.identifier_column.clone(),
            reason_column: req.reason_column.clone(),
            reject_from: req.reject_from,
            options: req.options,
        }
    }

    pub fn task_request(&self) -> TaskRequest {
        TaskRequest {
            campaign_id: self.campaign_id,
            mode: self.mode,
            identifier_column: self.identifier_column.clone(),
            reason_column: self.reason_column.clone(),
            reject_from: self.reject_from,
            options: self.options,
            request_key: None,
        }
    }
}

/// What a job previews (stored as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PreviewRequest {
    Rejection(RejectionPreviewRequest),
    LeadImport(ImportForm),
}

impl PreviewRequest {
    /// The job's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Rejection(_) => KIND_REJECTION,
            Self::LeadImport(_) => KIND_LEAD_IMPORT,
        }
    }
}

pub const KIND_REJECTION: &str = "rejection";
pub const KIND_LEAD_IMPORT: &str = "lead_import";

/// A finished rejection preview, as stored ([`task::Preview`]'s figures).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectionPreviewResult {
    pub rows: i64,
    pub counts: Vec<(Outcome, i64)>,
    pub reference_date: NaiveDate,
    pub window_start: NaiveDate,
    pub remaining_to_accept: i64,
    pub cap_units: i64,
}

impl From<task::Preview> for RejectionPreviewResult {
    fn from(p: task::Preview) -> Self {
        Self {
            rows: p.rows,
            counts: p.counts,
            reference_date: p.reference_date,
            window_start: p.window_start,
            remaining_to_accept: p.remaining_to_accept,
            cap_units: p.cap_units,
        }
    }
}

impl From<RejectionPreviewResult> for task::Preview {
    fn from(p: RejectionPreviewResult) -> Self {
        Self {
            rows: p.rows,
            counts: p.counts,
            reference_date: p.reference_date,
            window_start: p.window_start,
            remaining_to_accept: p.remaining_to_accept,
            cap_units: p.cap_units,
        }
    }
}

/// A finished job's result (stored as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PreviewResult {
    Rejection(RejectionPreviewResult),
    LeadImport(ImportPreview),
}

/// Why a job failed (stored as JSON): the refusal the synchronous preview answered, so the page
/// shows it next to its field as before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PreviewFailure {
    CampaignNotFound,
    Refused {
        field: String,
        message: String,
    },
    /// The user may no longer preview (permission revoked meanwhile).
    Forbidden,
    /// A database or server error, logged; the user reads the usual "try again".
    Internal,
}

impl PreviewFailure {
    fn of_submit(err: SubmitError) -> Self {
        match err {
            SubmitError::CampaignNotFound => Self::CampaignNotFound,
            SubmitError::Refused { field, message } => Self::Refused { field: field.to_owned(), message },
            SubmitError::Db(err) => {
                tracing::error!(error = %err, "rejection preview");
                Self::Internal
            }
        }
    }

    fn of_import(err: ImportError) -> Self {
        match err {
            ImportError::Refused { field, message } => Self::Refused { field: field.to_owned(), message },
            ImportError::Db(err) => {
                tracing::error!(error = %err, "lead import preview");
                Self::Internal
            }
        }
    }

    /// What the page's server function answers.
    pub fn app_error(&self) -> AppError {
        match self {
            Self::CampaignNotFound => SubmitError::CampaignNotFound.into(),
            Self::Refused { field, message } => AppError::invalid(field.clone(), message.clone()),
            Self::Forbidden => AppError::Forbidden,
            Self::Internal => AppError::Internal,
        }
    }

    /// The refusal as the engine's error (the API maps it to its error codes).
    pub fn submit_error(&self) -> SubmitError {
        const FIELDS: [&str; 8] = [
            "file",
            "campaign",
            "identifier_column",
            "reason_column",
            "reject_from",
            "field",
            "identifier",
            "mode",
        ];
        match self {
            Self::CampaignNotFound => SubmitError::CampaignNotFound,
            Self::Refused { field, message } => SubmitError::Refused {
                field: FIELDS.into_iter().find(|f| f == field).unwrap_or("file"),
                message: message.clone(),
            },
            Self::Forbidden | Self::Internal => {
                SubmitError::Db(DbError::Inconsistent("the preview failed".to_owned()))
            }
        }
    }
}

/// One job as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = preview_jobs)]
pub struct PreviewJob {
    pub id: i64,
    pub user_id: i64,
    pub kind: String,
    pub request: String,
    pub status: String,
    pub rows_read: i64,
    pub rows_total: Option<i64>,
    pub result: Option<String>,
    pub error: Option<String>,
    pub created_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
}

fn json_error(e: serde_json::Error) -> DbError {
    DbError::Inconsistent(format!("a preview job's JSON: {e}"))
}

impl PreviewJob {
    pub fn status(&self) -> PreviewStatus {
        PreviewStatus::parse(&self.status).unwrap_or(PreviewStatus::Failed)
    }

    pub fn request(&self) -> Result<PreviewRequest, DbError> {
        serde_json::from_str(&self.request).map_err(json_error)
    }

    /// The result, once done.
    pub fn result(&self) -> Result<Option<PreviewResult>, DbError> {
        self.result.as_deref().map(serde_json::from_str).transpose().map_err(json_error)
    }

    /// Why it failed, once failed.
    pub fn failure(&self) -> Option<PreviewFailure> {
        (self.status() == PreviewStatus::Failed).then(|| {
            self.error
                .as_deref()
                .and_then(|e| serde_json::from_str(e).ok())
                .unwrap_or(PreviewFailure::Internal)
        })
    }
}

/// Queues a preview for `user_id` and returns its id; the user's unfinished preview, if any, is
/// cancelled in the same transaction (its worker stops at its next chunk). A unique index keeps
/// one unfinished job per user whatever the race; a start that loses one tries again.
pub fn start(
    conn: &mut DbConn,
    user_id: i64,
    request: &PreviewRequest,
    now: NaiveDateTime,
) -> Result<i64, DbError> {
    let json = serde_json::to_string(request).map_err(json_error)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let inserted = write_transaction(conn, |conn| {
            cancel_unfinished(conn, user_id, now)?;
            diesel::insert_into(preview_jobs::table)
                .values((
                    preview_jobs::user_id.eq(user_id),
                    preview_jobs::kind.eq(request.kind()),
                    preview_jobs::request.eq(&json),
                    preview_jobs::status.eq(PreviewStatus::Queued.as_str()),
                    preview_jobs::created_at.eq(now),
                ))
                .returning(preview_jobs::id)
                .get_result::<i64>(conn)
        });
        match inserted {
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) if attempt < 5 => {}
            other => return Ok(other?),
        }
    }
}

/// Cancels the user's queued or running previews.
fn cancel_unfinished(
    conn: &mut DbConn,
    user_id: i64,
    now: NaiveDateTime,
) -> Result<usize, diesel::result::Error> {
    diesel::update(preview_jobs::table.filter(preview_jobs::user_id.eq(user_id)).filter(
        preview_jobs::status.eq_any([PreviewStatus::Queued.as_str(), PreviewStatus::Running.as_str()]),
    ))
    .set((
        preview_jobs::status.eq(PreviewStatus::Cancelled.as_str()),
        preview_jobs::finished_at.eq(Some(now)),
        preview_jobs::claimed_by.eq(None::<String>),
    ))
    .execute(conn)
}

/// The job `id` of kind `kind` if it is `user_id`'s (anyone else's: `None`).
pub fn find(conn: &mut DbConn, user_id: i64, id: i64, kind: &str) -> Result<Option<PreviewJob>, DbError> {
    Ok(preview_jobs::table
        .filter(
            preview_jobs::id.eq(id).and(preview_jobs::user_id.eq(user_id)).and(preview_jobs::kind.eq(kind)),
        )
        .select(PreviewJob::as_select())
        .first(conn)
        .optional()?)
}

/// Whether a job waits for a worker (a read: idle workers ask this before they try to claim).
fn waiting(conn: &mut DbConn, now: NaiveDateTime, stale_after: TimeDelta) -> Result<bool, DbError> {
    let stale_before = now - stale_after;
    let n: i64 = preview_jobs::table
        .filter(
            preview_jobs::status.eq(PreviewStatus::Queued.as_str()).or(preview_jobs::status
                .eq(PreviewStatus::Running.as_str())
                .and(preview_jobs::heartbeat_at.lt(stale_before))),
        )
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

#[derive(QueryableByName)]
struct ClaimedId {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

/// Atomically claims the oldest queued job, or a running one whose heartbeat is older than
/// `stale_after` (its server died). PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: one write
/// transaction.
pub fn claim_next(
    conn: &mut DbConn,
    worker_id: &str,
    now: NaiveDateTime,
    stale_after: TimeDelta,
) -> Result<Option<i64>, DbError> {
    let lock = match conn {
        DbConn::Pg(_) => "FOR UPDATE SKIP LOCKED",
        DbConn::Sqlite(_) => "",
    };
    let sql = format!(
        "UPDATE preview_jobs SET status = 'running', claimed_by = $1, heartbeat_at = $2, \
           started_at = COALESCE(started_at, $2) \
         WHERE status IN ('queued', 'running') AND id = (SELECT j.id FROM preview_jobs j \
           WHERE j.status = 'queued' OR (j.status = 'running' AND j.heartbeat_at < $3) \
           ORDER BY j.created_at, j.id LIMIT 1 {lock}) \
         RETURNING id"
    );
    let claimed = write_transaction(conn, |conn| {
        diesel::sql_query(&sql)
            .bind::<diesel::sql_types::Text, _>(worker_id)
            .bind::<diesel::sql_types::Timestamp, _>(now)
            .bind::<diesel::sql_types::Timestamp, _>(now - stale_after)
            .get_result::<ClaimedId>(conn)
            .optional()
    })?;
    Ok(claimed.map(|c| c.id))
}

/// Records the rows read and renews the heartbeat; `false` when the job is no longer this
/// worker's running job (cancelled by a newer preview, or taken over).
pub fn record_progress(
    conn: &mut DbConn,
    id: i64,
    worker_id: &str,
    rows_read: i64,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = write_transaction(conn, |conn| {
        diesel::update(held!(id, worker_id))
            .set((preview_jobs::rows_read.eq(rows_read), preview_jobs::heartbeat_at.eq(Some(now))))
            .execute(conn)
    })?;
    Ok(n == 1)
}

/// Ends the job with its result (done) or its failure; `false` when it was no longer this
/// worker's (cancelled meanwhile: nothing is written).
fn finish(
    conn: &mut DbConn,
    id: i64,
    worker_id: &str,
    ended: Result<(PreviewResult, i64), PreviewFailure>,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let (status, result, error, rows) = match ended {
        Ok((result, rows)) => {
            (PreviewStatus::Done, Some(serde_json::to_string(&result).map_err(json_error)?), None, Some(rows))
        }
        Err(failure) => {
            (PreviewStatus::Failed, None, Some(serde_json::to_string(&failure).map_err(json_error)?), None)
        }
    };
    let n = write_transaction(conn, |conn| {
        let n = diesel::update(held!(id, worker_id))
            .set((
                preview_jobs::status.eq(status.as_str()),
                preview_jobs::result.eq(result),
                preview_jobs::error.eq(error),
                preview_jobs::rows_total.eq(rows),
                preview_jobs::finished_at.eq(Some(now)),
                preview_jobs::claimed_by.eq(None::<String>),
            ))
            .execute(conn)?;
        if let (1, Some(rows)) = (n, rows) {
            diesel::update(preview_jobs::table.find(id))
                .set(preview_jobs::rows_read.eq(rows))
                .execute(conn)?;
        }
        Ok::<_, diesel::result::Error>(n)
    })?;
    Ok(n == 1)
}

/// Hands a running job back (the worker is stopping): another worker starts it again at once.
fn hand_back(conn: &mut DbConn, id: i64, worker_id: &str) -> Result<(), DbError> {
    write_transaction(conn, |conn| {
        diesel::update(held!(id, worker_id))
            .set((
                preview_jobs::status.eq(PreviewStatus::Queued.as_str()),
                preview_jobs::claimed_by.eq(None::<String>),
                preview_jobs::rows_read.eq(0),
            ))
            .execute(conn)
    })?;
    Ok(())
}

/// Deletes jobs finished more than [`KEEP_FINISHED`] ago, and any job older than [`KEEP_ANY`].
pub fn prune(conn: &mut DbConn, now: NaiveDateTime) -> Result<usize, DbError> {
    let finished =
        [PreviewStatus::Done.as_str(), PreviewStatus::Failed.as_str(), PreviewStatus::Cancelled.as_str()];
    Ok(diesel::delete(
        preview_jobs::table.filter(
            preview_jobs::status
                .eq_any(finished)
                .and(preview_jobs::finished_at.lt(now - KEEP_FINISHED))
                .or(preview_jobs::created_at.lt(now - KEEP_ANY)),
        ),
    )
    .execute(conn)?)
}

/// Why a run stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interrupt {
    /// Cancelled by a newer preview, or taken over: nothing more is written.
    Lost,
    /// This server is stopping: the job is handed back.
    Stopping,
}

/// Runs claimed jobs.
pub struct PreviewRunner<'a> {
    pub storage: &'a Storage,
    pub clock: &'a dyn Clock,
    pub worker_id: &'a str,
    /// Set when the server stops: the run hands its job back at its next chunk.
    pub stop: Option<&'a AtomicBool>,
}

impl PreviewRunner<'_> {
    /// Runs the claimed job `id` to its end; the status it was left in (`Queued` when handed
    /// back, `Cancelled` when it was cancelled or taken over meanwhile).
    pub fn run(&self, conn: &mut DbConn, id: i64) -> Result<PreviewStatus, DbError> {
        let job: PreviewJob = preview_jobs::table.find(id).select(PreviewJob::as_select()).first(conn)?;
        let user = users::load_context(conn, job.user_id)?;
        let mut interrupted = None;
        let ended = match (job.request(), user) {
            (Err(err), _) => {
                tracing::error!(job = id, error = %err, "an unreadable preview request");
                Err(PreviewFailure::Internal)
            }
            (Ok(_), None) => Err(PreviewFailure::Forbidden),
            (Ok(PreviewRequest::Rejection(req)), Some(user)) => {
                self.rejection(conn, id, &user, &req, &mut interrupted).map(|p| {
                    let rows = p.rows;
                    (PreviewResult::Rejection(p.into()), rows)
                })
            }
            (Ok(PreviewRequest::LeadImport(form)), Some(user)) => {
                self.lead_import(conn, id, &user, &form, &mut interrupted).map(|p| {
                    let rows = p.rows;
                    (PreviewResult::LeadImport(p), rows)
                })
            }
        };
        match interrupted {
            Some(Interrupt::Lost) => Ok(PreviewStatus::Cancelled),
            Some(Interrupt::Stopping) => {
                hand_back(conn, id, self.worker_id)?;
                Ok(PreviewStatus::Queued)
            }
            None => {
                let status = if ended.is_ok() { PreviewStatus::Done } else { PreviewStatus::Failed };
                if finish(conn, id, self.worker_id, ended, self.clock.now())? {
                    Ok(status)
                } else {
                    Ok(PreviewStatus::Cancelled)
                }
            }
        }
    }

    /// After each chunk: stop when the server stops or the job is no longer ours; else write the
    /// rows read.
    fn beat(&self, conn: &mut DbConn, id: i64, rows: i64) -> Result<Option<Interrupt>, DbError> {
        if self.stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            return Ok(Some(Interrupt::Stopping));
        }
        if !record_progress(conn, id, self.worker_id, rows, self.clock.now())? {
            return Ok(Some(Interrupt::Lost));
        }
        Ok(None)
    }

    fn rejection(
        &self,
        conn: &mut DbConn,
        id: i64,
        user: &UserContext,
        req: &RejectionPreviewRequest,
        interrupted: &mut Option<Interrupt>,
    ) -> Result<task::Preview, PreviewFailure> {
        if !(user.role == Role::ClientUser && user.can_reject_leads && user.client_id.is_some()) {
            return Err(PreviewFailure::Forbidden);
        }
        let stopped = || SubmitError::Refused { field: "preview", message: "stopped".to_owned() };
        let mut progress = |conn: &mut DbConn, rows: i64| -> Result<(), SubmitError> {
            match self.beat(conn, id, rows)? {
                None => Ok(()),
                Some(why) => {
                    *interrupted = Some(why);
                    Err(stopped())
                }
            }
        };
        let ran = (|| {
            let upload = find_upload(conn, user, req.upload_id)?
                .ok_or_else(|| SubmitError::Refused { field: "file", message: UPLOAD_GONE.to_owned() })?;
            let path = self.storage.local_copy(conn, &upload.storage_key)?;
            let today = self.clock.now().date();
            task::preview_with_progress(conn, user, &req.task_request(), &path, today, &mut progress)
        })();
        ran.map_err(PreviewFailure::of_submit)
    }

    fn lead_import(
        &self,
        conn: &mut DbConn,
        id: i64,
        user: &UserContext,
        form: &ImportForm,
        interrupted: &mut Option<Interrupt>,
    ) -> Result<ImportPreview, PreviewFailure> {
        if user.role != Role::OwnerStaff {
            return Err(PreviewFailure::Forbidden);
        }
        let mut progress = |conn: &mut DbConn, rows: i64| -> Result<(), ImportError> {
            match self.beat(conn, id, rows)? {
                None => Ok(()),
                Some(why) => {
                    *interrupted = Some(why);
                    Err(ImportError::Refused { field: "preview", message: "stopped".to_owned() })
                }
            }
        };
        let now = self.clock.now();
        lead_import::preview_with_progress(conn, self.storage, user, form, now, &mut progress)
            .map_err(PreviewFailure::of_import)
    }
}

/// Ends a job whose run broke (a database error, a panic) as failed, if it is still ours.
fn fail_broken(conn: &mut DbConn, id: i64, worker_id: &str, now: NaiveDateTime) {
    if let Err(err) = finish(conn, id, worker_id, Err(PreviewFailure::Internal), now) {
        tracing::warn!(job = id, error = %err, "recording a preview's failure");
    }
}

/// The preview worker threads of one server: at most this many previews run here at once.
/// Dropping it stops them (each hands its job back at its next chunk) and waits for them.
pub struct PreviewWorkers {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl PreviewWorkers {
    /// Starts `workers` threads. Each takes one pooled connection for a claim or a run only.
    pub fn start(pool: Pool, storage: Storage, clock: SharedClock, workers: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let storage = Arc::new(storage);
        let process = format!("preview-{}-{:08x}", std::process::id(), rand::random::<u32>());
        let threads = (0..workers)
            .filter_map(|n| {
                let (pool, storage, clock, stop) =
                    (pool.clone(), storage.clone(), clock.clone(), stop.clone());
                let worker_id = format!("{process}-{n}");
                std::thread::Builder::new()
                    .name(format!("preview-{n}"))
                    .spawn(move || work(&pool, &storage, &*clock, &worker_id, &stop))
                    .inspect_err(|err| tracing::error!(error = %err, "starting a preview worker"))
                    .ok()
            })
            .collect();
        Self { stop, threads }
    }

    /// Stops the workers and waits for them (the same as dropping).
    pub fn stop(self) {}
}

impl Drop for PreviewWorkers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in &self.threads {
            t.thread().unpark();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// One worker thread: claim, run, repeat; idle, look again every [`IDLE_POLL`].
fn work(pool: &Pool, storage: &Storage, clock: &dyn Clock, worker_id: &str, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let ran = pool.get().map_err(DbError::from).and_then(|mut conn| {
            let now = clock.now();
            if !waiting(&mut conn, now, STALE_AFTER)? {
                return Ok(false);
            }
            let Some(id) = claim_next(&mut conn, worker_id, now, STALE_AFTER)? else { return Ok(false) };
            let runner = PreviewRunner { storage, clock, worker_id, stop: Some(stop) };
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.run(&mut conn, id))) {
                Ok(Ok(status)) => tracing::debug!(job = id, ?status, "preview ended"),
                Ok(Err(err)) => {
                    tracing::error!(job = id, error = %err, "preview run ended in an error");
                    fail_broken(&mut conn, id, worker_id, clock.now());
                }
                Err(_) => {
                    tracing::error!(job = id, "preview run panicked");
                    fail_broken(&mut conn, id, worker_id, clock.now());
                }
            }
            Ok(true)
        });
        match ran {
            Ok(true) => {}
            Ok(false) => std::thread::park_timeout(IDLE_POLL),
            Err(err) => {
                tracing::warn!(error = %err, "preview worker");
                std::thread::park_timeout(Duration::from_secs(1));
            }
        }
    }
}
