//! The background worker: claims queued (or abandoned) tasks and runs them on the blocking pool.
//! Several server processes may run workers against one database; claims are atomic, a
//! heartbeat thread keeps a running job's claim, and a job that fails the same way
//! `max_failures` times is failed (engine/lease.rs).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::lead_import::{self, ImportRunner};
use super::lease::{self, AfterFailure, Heartbeat, Job, LeaseSettings};
use super::task::{self, RunEnd, RunLimits, Runner};
use super::uploads::Storage;
use crate::clock::SharedClock;
use crate::db::{self, Pool};

#[derive(Clone)]
pub struct Worker {
    pub pool: Pool,
    pub storage: Arc<Storage>,
    pub clock: SharedClock,
    pub id: String,
    pub batch_rows: usize,
    /// The most memory a task's pass 1 keeps in one sorted run (`engine::spill`).
    pub run_bytes: usize,
    /// When a silent worker's job is taken over; how many identical failures fail a job.
    pub lease: LeaseSettings,
    stop: Arc<AtomicBool>,
}

impl Worker {
    pub fn new(pool: Pool, storage: Storage, clock: SharedClock) -> Self {
        let id = format!("{}-{:08x}", std::process::id(), rand::random::<u32>());
        Self {
            pool,
            storage: Arc::new(storage),
            clock,
            id,
            batch_rows: task::DEFAULT_BATCH_ROWS,
            run_bytes: super::spill::DEFAULT_RUN_BYTES,
            lease: LeaseSettings::default(),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Claims and runs one rejection task or, when none waits, one lead import; `None` when
    /// there was nothing to do. While it runs, a heartbeat thread keeps the claim; a run that
    /// ends in an error (or a panic) is recorded against the job (`lease::record_failure`).
    pub fn run_one(&self, limits: RunLimits) -> Result<Option<(i64, RunEnd)>, db::DbError> {
        let mut conn = self.pool.get()?;
        let now = self.clock.now();
        let Some(task_id) = task::claim_next(&mut conn, &self.id, now, self.lease.stale_after)? else {
            return self.run_one_import(&mut conn, limits);
        };
        tracing::info!(task_id, worker = %self.id, "running rejection task");
        let heartbeat = self.heartbeat(Job::RejectionTask, task_id);
        let runner = Runner {
            storage: &self.storage,
            worker_id: &self.id,
            batch_rows: self.batch_rows,
            clock: &*self.clock,
            stop: Some(&self.stop),
            lost: Some(heartbeat.lost()),
            run_bytes: self.run_bytes,
        };
        let ran = catch_panic(|| runner.run(&mut conn, task_id, limits));
        drop(heartbeat);
        let end = match ran {
            Ok(end) => end,
            Err(error) => {
                let after = lease::record_failure(
                    &mut conn,
                    Job::RejectionTask,
                    task_id,
                    &self.id,
                    &error,
                    self.lease,
                    self.clock.now(),
                    |conn, reason| {
                        task::fail(conn, task_id, &self.id, &*self.clock, &self.storage, reason).map(|_| ())
                    },
                )?;
                tracing::error!(task_id, %error, ?after, "rejection task run ended in an error");
                ended_by_failure(&after)
            }
        };
        tracing::info!(task_id, ?end, "rejection task ended");
        Ok(Some((task_id, end)))
    }

    /// Claims and runs one lead import; `None` when none waits.
    fn run_one_import(
        &self,
        conn: &mut db::DbConn,
        limits: RunLimits,
    ) -> Result<Option<(i64, RunEnd)>, db::DbError> {
        let now = self.clock.now();
        let Some(import_id) = lead_import::claim_next(conn, &self.id, now, self.lease.stale_after)? else {
            return Ok(None);
        };
        tracing::info!(import_id, worker = %self.id, "running lead import");
        let heartbeat = self.heartbeat(Job::LeadImport, import_id);
        let mut runner = ImportRunner::new(&self.storage, &self.id, &*self.clock);
        runner.stop = Some(&self.stop);
        runner.lost = Some(heartbeat.lost());
        runner.batch_rows = self.batch_rows.min(lead_import::DEFAULT_BATCH_ROWS);
        // The heartbeat lives until the end of this function (the runner borrows it).
        let ran = catch_panic(|| runner.run(conn, import_id, limits.max_batches));
        let end = match ran {
            Ok(end) => end,
            Err(error) => {
                let after = lease::record_failure(
                    conn,
                    Job::LeadImport,
                    import_id,
                    &self.id,
                    &error,
                    self.lease,
                    self.clock.now(),
                    |conn, reason| runner.fail(conn, import_id, reason).map(|_| ()),
                )?;
                tracing::error!(import_id, %error, ?after, "lead import run ended in an error");
                ended_by_failure(&after)
            }
        };
        tracing::info!(import_id, ?end, "lead import ended");
        Ok(Some((import_id, end)))
    }

    fn heartbeat(&self, job: Job, id: i64) -> Heartbeat {
        Heartbeat::start(
            self.pool.clone(),
            self.clock.clone(),
            job,
            id,
            self.id.clone(),
            self.lease.beat_every(),
        )
    }

    /// Runs tasks until `shutdown` resolves; idles with a short poll when there is no work.
    pub async fn run_forever(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let stop = self.stop.clone();
        let mut watch = shutdown.clone();
        tokio::spawn(async move {
            if watch.wait_for(|s| *s).await.is_ok() {
                stop.store(true, Ordering::Relaxed);
            }
        });
        loop {
            let me = self.clone();
            let ran = tokio::task::spawn_blocking(move || me.run_one(RunLimits::default())).await;
            let idle = match ran {
                Ok(Ok(Some(_))) => false,
                Ok(Ok(None)) => true,
                Ok(Err(err)) => {
                    tracing::error!(error = %err, "rejection worker");
                    true
                }
                Err(err) => {
                    tracing::error!(error = %err, "rejection worker panicked");
                    true
                }
            };
            if *shutdown.borrow() {
                return;
            }
            if idle {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    }
}

/// Runs a job, turning its error or its panic into the text recorded against the job.
fn catch_panic(run: impl FnOnce() -> Result<RunEnd, db::DbError>) -> Result<RunEnd, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(Ok(end)) => Ok(end),
        Ok(Err(err)) => Err(err.to_string()),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".to_owned());
            Err(format!("the worker panicked: {what}"))
        }
    }
}

fn ended_by_failure(after: &AfterFailure) -> RunEnd {
    match after {
        AfterFailure::Failed(_) => RunEnd::Failed,
        AfterFailure::Retry { .. } | AfterFailure::NotHeld => RunEnd::Stopped,
    }
}
