//! The background worker: claims queued (or abandoned) tasks and runs them on the blocking pool.
//! Several server processes may run workers against one database; claims are atomic.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::lead_import::{self, ImportRunner};
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
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Claims and runs one rejection task or, when none waits, one lead import; `None` when
    /// there was nothing to do.
    pub fn run_one(&self, limits: RunLimits) -> Result<Option<(i64, RunEnd)>, db::DbError> {
        let mut conn = self.pool.get()?;
        let Some(task_id) = task::claim_next(&mut conn, &self.id, self.clock.now())? else {
            return self.run_one_import(&mut conn, limits);
        };
        tracing::info!(task_id, worker = %self.id, "running rejection task");
        let runner = Runner {
            storage: &self.storage,
            worker_id: &self.id,
            batch_rows: self.batch_rows,
            clock: &*self.clock,
            stop: Some(&self.stop),
        };
        let end = runner.run(&mut conn, task_id, limits)?;
        tracing::info!(task_id, ?end, "rejection task ended");
        Ok(Some((task_id, end)))
    }

    /// Claims and runs one lead import; `None` when none waits.
    fn run_one_import(
        &self,
        conn: &mut db::DbConn,
        limits: RunLimits,
    ) -> Result<Option<(i64, RunEnd)>, db::DbError> {
        let Some(import_id) = lead_import::claim_next(conn, &self.id, self.clock.now())? else {
            return Ok(None);
        };
        tracing::info!(import_id, worker = %self.id, "running lead import");
        let mut runner = ImportRunner::new(&self.storage, &self.id, &*self.clock);
        runner.stop = Some(&self.stop);
        runner.batch_rows = self.batch_rows.min(lead_import::DEFAULT_BATCH_ROWS);
        let end = runner.run(conn, import_id, limits.max_batches)?;
        tracing::info!(import_id, ?end, "lead import ended");
        Ok(Some((import_id, end)))
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
