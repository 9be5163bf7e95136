//! A worker's hold on a job (a rejection task or a lead import) while it runs: a side thread
//! renews the job's heartbeat for the whole run, whatever phase it is in (docs/DOMAIN.md §3,
//! several servers), and says when another worker has taken the job over; a run that ends in an
//! error is recorded, and the same error `max_failures` times in a row fails the job.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

use crate::clock::SharedClock;
use crate::db::schema::job_failures;
use crate::db::{DbConn, DbError, Pool, write_transaction};

/// The kinds of job a worker runs, each in its own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    RejectionTask,
    LeadImport,
}

impl Job {
    fn table(self) -> &'static str {
        match self {
            Job::RejectionTask => "rejection_tasks",
            Job::LeadImport => "lead_imports",
        }
    }

    /// The job's name in `job_failures`.
    pub fn as_str(self) -> &'static str {
        match self {
            Job::RejectionTask => "rejection_task",
            Job::LeadImport => "lead_import",
        }
    }
}

/// How workers share jobs: when a silent worker's job is taken over, how often a running job's
/// heartbeat is renewed, how many identical failures end a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseSettings {
    /// A running job whose heartbeat is older than this is taken over by another worker.
    pub stale_after: TimeDelta,
    /// A job whose run ends with the same error this many times in a row is marked failed.
    pub max_failures: u32,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        Self { stale_after: TimeDelta::seconds(30), max_failures: 3 }
    }
}

impl LeaseSettings {
    /// The heartbeat's period: six beats per stale period, so a few slow beats (a busy
    /// database) do not lose the job.
    pub fn beat_every(&self) -> Duration {
        let stale = self.stale_after.to_std().unwrap_or(Duration::from_secs(30));
        (stale / 6).max(Duration::from_millis(100))
    }
}

/// Inside a write transaction: renews the job's heartbeat if `worker_id` still holds it, and
/// says whether it does. The row is updated, not only read: on PostgreSQL the update locks the
/// job's row until the transaction ends, so no other worker can claim the job between this check
/// and the transaction's commit (a claim waits, then finds a fresh heartbeat).
pub fn renew(
    conn: &mut DbConn,
    job: Job,
    id: i64,
    worker_id: &str,
    now: NaiveDateTime,
) -> Result<bool, diesel::result::Error> {
    let sql = format!(
        "UPDATE {} SET heartbeat_at = $1 WHERE id = $2 AND claimed_by = $3 AND status = 'running'",
        job.table()
    );
    let n = diesel::sql_query(sql)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(id)
        .bind::<Text, _>(worker_id)
        .execute(conn)?;
    Ok(n == 1)
}

/// The heartbeat of one running job, renewed from a side thread with its own pooled
/// connection (taken for each beat only). Stops when dropped.
pub struct Heartbeat {
    lost: Arc<AtomicBool>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    pub fn start(
        pool: Pool,
        clock: SharedClock,
        job: Job,
        id: i64,
        worker_id: String,
        every: Duration,
    ) -> Self {
        let lost = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = mpsc::channel::<()>();
        let flag = lost.clone();
        let thread = std::thread::Builder::new()
            .name(format!("heartbeat-{id}"))
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    let beat = pool.get().map_err(DbError::from).and_then(|mut conn| {
                        write_transaction(&mut conn, |conn| renew(conn, job, id, &worker_id, clock.now()))
                            .map_err(DbError::from)
                    });
                    match beat {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(?job, id, worker = %worker_id, "another worker holds the job now");
                            flag.store(true, Ordering::Relaxed);
                            return;
                        }
                        // A missed beat is not a lost job: the next one may get through.
                        Err(err) => tracing::warn!(?job, id, error = %err, "heartbeat not renewed"),
                    }
                }
            })
            .ok();
        Self { lost, stop: Some(stop), thread }
    }

    /// Set once a beat found the job held by another worker (or no longer running).
    pub fn lost(&self) -> &AtomicBool {
        &self.lost
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What became of a job whose run ended in an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailure {
    /// Handed back: a worker tries again once the backoff has passed.
    Retry { failures: u32 },
    /// The same error `max_failures` times: the job is failed with this reason.
    Failed(String),
    /// Another worker holds the job now: nothing recorded.
    NotHeld,
}

/// Records that `worker_id`'s run of the job ended with `error`. The same error as the job's
/// last one counts towards `max_failures`; another error starts the count again. Below the
/// limit the job is handed back with a backoff (5 s per failure); at the limit it is failed
/// with the reason, which frees its campaign. `fail` marks the job failed (the job's own
/// failure path, which also keeps the rows it applied in its results).
#[allow(
    clippy::too_many_arguments,
    reason = "the job, its holder, the error and the policy: each needed once"
)]
pub fn record_failure(
    conn: &mut DbConn,
    job: Job,
    id: i64,
    worker_id: &str,
    error: &str,
    settings: LeaseSettings,
    now: NaiveDateTime,
    fail: impl FnOnce(&mut DbConn, &str) -> Result<(), DbError>,
) -> Result<AfterFailure, DbError> {
    let error: String = error.chars().take(500).collect();
    let after = write_transaction(conn, |conn| {
        if !renew(conn, job, id, worker_id, now)? {
            return Ok::<_, DbError>(AfterFailure::NotHeld);
        }
        let last: Option<(i32, String)> = job_failures::table
            .find((job.as_str(), id))
            .select((job_failures::failures, job_failures::last_error))
            .first(conn)
            .optional()?;
        let failures = match last {
            Some((n, last_error)) if last_error == error => u32::try_from(n).unwrap_or(0).saturating_add(1),
            _ => 1,
        };
        let n = i32::try_from(failures).unwrap_or(i32::MAX);
        diesel::delete(job_failures::table.find((job.as_str(), id))).execute(conn)?;
        diesel::insert_into(job_failures::table)
            .values((
                job_failures::job.eq(job.as_str()),
                job_failures::job_id.eq(id),
                job_failures::failures.eq(n),
                job_failures::last_error.eq(&error),
            ))
            .execute(conn)?;
        // Handed back: claimable again once the backoff has passed.
        let retry_at = now - settings.stale_after + TimeDelta::seconds(5 * i64::from(failures.min(12)));
        diesel::sql_query(format!("UPDATE {} SET heartbeat_at = $1 WHERE id = $2", job.table()))
            .bind::<Timestamp, _>(retry_at)
            .bind::<BigInt, _>(id)
            .execute(conn)?;
        Ok(if failures >= settings.max_failures.max(1) {
            AfterFailure::Failed(format!("Stopped after {failures} attempts failed the same way: {error}"))
        } else {
            AfterFailure::Retry { failures }
        })
    })?;
    if let AfterFailure::Failed(reason) = &after {
        fail(conn, reason)?;
    }
    Ok(after)
}
