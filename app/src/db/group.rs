//! Group commit for small SQLite writes (one posted lead each): the writes queue for one writer
//! thread, which runs every write waiting, each in a savepoint of its own, in one transaction
//! and commits them together. SQLite runs one write transaction at a time; handing its lock from
//! request to request (a thread wake-up each, and a page cache the last writer made stale) cost
//! more than the writes, and every commit wrote the same index pages again. On PostgreSQL, which
//! writes in parallel, each write runs in its own transaction on a pooled connection as before.
//!
//! What each write sees and decides is what it would see run alone after the writes queued
//! before it: they run in order, and a write that fails is rolled back to its savepoint without
//! touching the others. A write is answered only once its group committed; if the commit fails,
//! every write of the group is answered with the error (nothing of them was stored).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{CustomizeConnection, ManageConnection};
use diesel::sql_types::Text;
use tokio::sync::{OnceCell, mpsc, oneshot};

use super::{DbConn, DbError, Pool, SQLITE_GATE_WAIT, SQLITE_WRITERS, SqlitePragmas};

/// Writes run in one transaction at most.
const MAX_GROUP: usize = 128;
/// Writes waiting for the writer at most; beyond that callers wait to queue.
const QUEUE: usize = 1024;
/// A write not queued within this long, or not begun within this long of being queued, is not
/// run and is answered with an error ("try again"): the database is held by something long.
const MAX_WAIT: Duration = Duration::from_secs(10);

/// The group writer of one database (cheap to clone). The writer thread starts on the first
/// write and ends when the last clone is dropped.
#[derive(Clone)]
pub struct GroupWriter {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    mode: OnceCell<Mode>,
    stats: Arc<Stats>,
}

/// What the writer has committed, for tests and diagnostics.
#[derive(Debug, Default)]
pub struct Stats {
    groups: AtomicU64,
    writes: AtomicU64,
}

enum Mode {
    /// PostgreSQL: each write on a pooled connection.
    Direct,
    /// SQLite: the queue of the writer thread, which holds its own connection to the file.
    Grouped(mpsc::Sender<Box<dyn Job>>),
}

impl GroupWriter {
    pub fn new(pool: Pool) -> Self {
        Self { inner: Arc::new(Inner { pool, mode: OnceCell::new(), stats: Arc::default() }) }
    }

    /// Groups committed and the writes they held (SQLite; zero on PostgreSQL).
    pub fn committed(&self) -> (u64, u64) {
        let stats = &self.inner.stats;
        (stats.groups.load(Ordering::Relaxed), stats.writes.load(Ordering::Relaxed))
    }

    /// Writes queued and not yet taken by the writer.
    pub fn queued(&self) -> usize {
        match self.inner.mode.get() {
            Some(Mode::Grouped(queue)) => queue.max_capacity() - queue.capacity(),
            _ => 0,
        }
    }

    /// Runs `f` as one write: on SQLite in the next group, in a savepoint (its error rolls back
    /// only its own changes); on PostgreSQL like [`super::run_or`]. `f` opens its own
    /// transaction with [`super::write_transaction`] as anywhere else (inside a group that is a
    /// nested savepoint). Answers once `f`'s changes are committed.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    {
        let mode = self
            .inner
            .mode
            .get_or_try_init(|| {
                let pool = self.inner.pool.clone();
                let stats = self.inner.stats.clone();
                async move {
                    tokio::task::spawn_blocking(move || start(pool, stats))
                        .await
                        .map_err(|e| DbError::Join(e.to_string()))?
                }
            })
            .await?;
        let queue = match mode {
            Mode::Direct => return super::run_or(&self.inner.pool, f).await,
            Mode::Grouped(queue) => queue,
        };
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Pending { f: Some(f), reply: Some(reply), result: None, queued: Instant::now() });
        queue.send_timeout(job, MAX_WAIT).await.map_err(|e| match e {
            mpsc::error::SendTimeoutError::Timeout(_) => DbError::Write("the database is busy".to_owned()),
            mpsc::error::SendTimeoutError::Closed(_) => {
                DbError::Write("the database writer has stopped".to_owned())
            }
        })?;
        answer.await.map_err(|_| DbError::Write("the write failed unexpectedly (see the log)".to_owned()))?
    }
}

/// How writes run on this database; on SQLite, starts the writer thread with its connection.
fn start(pool: Pool, stats: Arc<Stats>) -> Result<Mode, DbError> {
    let mut conn = pool.get()?;
    let DbConn::Sqlite(_) = &*conn else { return Ok(Mode::Direct) };
    #[derive(QueryableByName)]
    struct File {
        #[diesel(sql_type = Text)]
        file: String,
    }
    let file = diesel::sql_query("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .get_result::<File>(&mut *conn)?
        .file;
    drop(conn);
    if file.is_empty() {
        // A temporary or in-memory database: another connection would not see it.
        return Ok(Mode::Direct);
    }
    // A connection as the pool makes them, with the pool's PRAGMAs.
    let manager = super::ConnectionManager { target: super::DatabaseTarget::Sqlite(file.into()) };
    let open = move || -> Result<DbConn, DbError> {
        let mut conn =
            manager.connect().map_err(|e| DbError::Config(format!("the writer's connection: {e}")))?;
        SqlitePragmas
            .on_acquire(&mut conn)
            .map_err(|e| DbError::Config(format!("the writer's connection: {e}")))?;
        Ok(conn)
    };
    let first = open()?;
    let (queue, mut jobs) = mpsc::channel::<Box<dyn Job>>(QUEUE);
    std::thread::Builder::new()
        .name("sqlite-group-writer".to_owned())
        .spawn(move || {
            let mut conn = Some(first);
            while let Some(first) = jobs.blocking_recv() {
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match jobs.try_recv() {
                        Ok(job) => group.push(job),
                        Err(_) => break,
                    }
                }
                let c = match conn.take().map_or_else(&open, Ok) {
                    Ok(c) => conn.insert(c),
                    Err(e) => {
                        tracing::error!(error = %e, "the group writer could not open its connection");
                        let message = e.to_string();
                        group.into_iter().for_each(|job| job.fail(&message));
                        continue;
                    }
                };
                // Whatever fails, the thread goes on: a write that panics is caught in
                // `run_group`; this catches the rest (closing a connection, say).
                let kept = catch_unwind(AssertUnwindSafe(|| run_group(c, group, &stats)));
                if !matches!(kept, Ok(true)) {
                    // Closing the connection rolls back whatever it still had open.
                    if catch_unwind(AssertUnwindSafe(|| conn = None)).is_err() {
                        tracing::error!("closing the group writer's connection failed");
                    }
                }
            }
        })
        .map_err(|e| DbError::Join(format!("starting the database writer: {e}")))?;
    Ok(Mode::Grouped(queue))
}

/// Runs one group in one transaction and answers its writes. `false` when nothing was
/// committed and the connection must be replaced (a write panicked or left the transaction in
/// another state than it found it, or the transaction could not begin or end).
fn run_group(conn: &mut DbConn, group: Vec<Box<dyn Job>>, stats: &Stats) -> bool {
    let _gate = SQLITE_WRITERS.try_lock_for(SQLITE_GATE_WAIT);
    let DbConn::Sqlite(c) = conn else { unreachable!("the group writer runs on SQLite") };
    if let Err(e) = AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "beginning a group of writes failed");
        let message = format!("starting a write: {e}");
        group.into_iter().for_each(|job| job.fail(&message));
        return false;
    }
    let mut ran: Vec<Box<dyn Job>> = Vec::with_capacity(group.len());
    let mut rest = group.into_iter();
    while let Some(mut job) = rest.next() {
        let panicked = catch_unwind(AssertUnwindSafe(|| job.run(conn))).is_err();
        // Each write leaves the group's transaction as it found it (its savepoint released or
        // rolled back). If not — it panicked, or SQLite rolled the whole transaction back after
        // an I/O error — nothing run so far can be trusted to commit, and nothing more may run
        // on this connection (it would commit on its own).
        if panicked || !in_group_transaction(conn) {
            let message = if panicked {
                tracing::error!("a write panicked: its group is rolled back and answered with an error");
                "a write of the same group failed; try again"
            } else {
                tracing::error!("a write left its group's transaction: the group is rolled back");
                "the write was interrupted; try again"
            };
            drop(job);
            ran.into_iter().chain(rest).for_each(|job| job.fail(message));
            return false;
        }
        ran.push(job);
    }
    match <DbConn as Connection>::TransactionManager::commit_transaction(conn) {
        Ok(()) => {
            // Counted before anyone is answered: a caller that saw its answer sees its group.
            stats.groups.fetch_add(1, Ordering::Relaxed);
            stats.writes.fetch_add(ran.len() as u64, Ordering::Relaxed);
            ran.into_iter().for_each(|job| job.committed());
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "committing a group of writes failed");
            let message = format!("committing the write: {e}");
            ran.into_iter().for_each(|job| job.fail(&message));
            false
        }
    }
}

/// Whether the connection is still inside the group's transaction, at its top level.
fn in_group_transaction(conn: &mut DbConn) -> bool {
    let DbConn::Sqlite(c) = conn else { return false };
    let depth = AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth();
    matches!(depth, Ok(Some(d)) if d.get() == 1)
}

/// A queued write, type-erased for the queue.
trait Job: Send {
    /// Runs the write in a savepoint of the group's transaction, keeping its result.
    fn run(&mut self, conn: &mut DbConn);
    /// The group committed: answers the kept result.
    fn committed(self: Box<Self>);
    /// Nothing of the group was stored: answers an error (a refusal the write decided itself
    /// stands, as it stored nothing either way).
    fn fail(self: Box<Self>, message: &str);
}

struct Pending<F, T, E> {
    f: Option<F>,
    reply: Option<oneshot::Sender<Result<T, E>>>,
    result: Option<Result<T, E>>,
    queued: Instant,
}

impl<T, E, F> Job for Pending<F, T, E>
where
    T: Send + 'static,
    E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
{
    fn run(&mut self, conn: &mut DbConn) {
        let Some(f) = self.f.take() else { return };
        if self.reply.as_ref().is_none_or(oneshot::Sender::is_closed) {
            // Nobody waits for the answer any more (the client went away): not stored.
            self.reply = None;
            return;
        }
        if self.queued.elapsed() > MAX_WAIT {
            self.result = Some(Err(E::from(DbError::Write("the database is busy".to_owned()))));
            return;
        }
        self.result = Some(conn.transaction(f));
    }

    fn committed(mut self: Box<Self>) {
        if let (Some(reply), Some(result)) = (self.reply.take(), self.result.take()) {
            let _ = reply.send(result);
        }
    }

    fn fail(mut self: Box<Self>, message: &str) {
        let answer = match self.result.take() {
            Some(Err(refused)) => Err(refused),
            _ => Err(E::from(DbError::Write(message.to_owned()))),
        };
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(answer);
        }
    }
}
