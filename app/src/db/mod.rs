//! The data layer (server only): one connection type over SQLite and PostgreSQL, the pool,
//! embedded migrations, and the blocking-pool bridge every async caller goes through.

pub mod api_lookups;
pub mod audit;
pub mod group;
pub mod intake;
pub mod keys;
pub mod leads;
pub mod outbox;
pub mod reports;
pub mod schema;
pub mod seed;
pub mod setup;
pub mod stats;
pub mod users;
pub mod webhooks;

use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, CustomizeConnection, ManageConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// A connection to whichever backend `DATABASE_URL` names. Queries are written once against it.
/// PostgreSQL comes first: `establish` tries the variants in order.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

impl DbConn {
    pub fn backend(&self) -> Backend {
        match self {
            DbConn::Pg(_) => Backend::Postgres,
            DbConn::Sqlite(_) => Backend::Sqlite,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// Where the data lives, parsed from a `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// A SQLite database file (created when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl DatabaseTarget {
    /// Accepts `postgres://…`, `postgresql://…`, `sqlite://path`, `sqlite:path` or a bare file path.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.is_empty() {
            return Err("DATABASE_URL is empty".into());
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
        if path.is_empty() || path == ":memory:" {
            return Err(format!(
                "DATABASE_URL {url:?} does not name a database file (an in-memory database would lose every change)"
            ));
        }
        if let Some((scheme, _)) = path.split_once("://") {
            return Err(format!(
                "DATABASE_URL scheme {scheme:?} is not supported; use postgres://… or a SQLite file path"
            ));
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    /// A description safe to log (no password).
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite:{}", path.display()),
            Self::Postgres(url) => match (url.find("://"), url.rfind('@')) {
                (Some(scheme_end), Some(at)) if at > scheme_end => {
                    format!("{}://…@{}", &url[..scheme_end], &url[at + 1..])
                }
                _ => url.clone(),
            },
        }
    }
}

/// Opens connections for the pool, each as its backend needs.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    target: DatabaseTarget,
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        match &self.target {
            DatabaseTarget::Postgres(url) => diesel::PgConnection::establish(url).map(DbConn::Pg),
            DatabaseTarget::Sqlite(path) => {
                diesel::SqliteConnection::establish(&path.to_string_lossy()).map(DbConn::Sqlite)
            }
        }
        .map_err(r2d2::Error::ConnectionError)
    }

    /// Run on every check-out. On SQLite it also turns foreign key enforcement (back) on: the
    /// rejection worker turns it off on its connection while it runs a task. The setting is
    /// read first, with a cached statement, and set only when it is off: setting it makes
    /// SQLite expire every statement the connection has prepared, so each check-out made the
    /// queries that followed parse and plan their SQL again (about 5% of the CPU of a
    /// lead-page benchmark, `perf`, issue 21).
    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        match conn {
            DbConn::Sqlite(c) => {
                use pragma::pragma_foreign_keys::dsl::{foreign_keys, pragma_foreign_keys};
                match pragma_foreign_keys.select(foreign_keys).first::<i32>(c) {
                    Ok(0) => c.batch_execute("PRAGMA foreign_keys = ON"),
                    Ok(_) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            DbConn::Pg(c) => c.batch_execute("SELECT 1"),
        }
        .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        <DbConn as Connection>::TransactionManager::is_broken_transaction_manager(conn)
    }
}

/// SQLite's `pragma_foreign_keys` table-valued function, so the check-out reads the setting
/// with a statement Diesel prepares once per connection.
mod pragma {
    diesel::table! {
        pragma_foreign_keys (foreign_keys) {
            foreign_keys -> Integer,
        }
    }
}

/// Per-connection SQLite settings: WAL, foreign keys, a busy timeout so writers queue instead of failing.
#[derive(Debug)]
pub(crate) struct SqlitePragmas;

impl CustomizeConnection<DbConn, r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        if let DbConn::Sqlite(c) = conn {
            c.batch_execute(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                 PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536; \
                 PRAGMA wal_autocheckpoint = 16384;",
            )
            .map_err(r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// Runs the same Diesel expression on the inner connection of whichever backend `$conn` is, for
/// the statements Diesel's generic multi-backend cannot render (multi-row `INSERT`,
/// `ON CONFLICT`). It runs inside whatever transaction the outer connection holds.
#[macro_export]
macro_rules! with_inner {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Pg($c) => $body,
            $crate::db::DbConn::Sqlite($c) => $body,
        }
    };
}

/// Multi-row `INSERT … VALUES (…), (…)` of a slice of `Insertable` rows.
#[macro_export]
macro_rules! batch_insert {
    ($conn:expr, $table:expr, $rows:expr) => {
        $crate::with_inner!($conn, |c| diesel::insert_into($table).values($rows).execute(c))
    };
}

/// The connection pool, and the slots that let at most as many request closures ([`run`],
/// [`run_or`]) onto the blocking pool as the pool has connections. The rest wait for a slot
/// asynchronously, as cheap futures, instead of each parking a blocking thread on the pool's
/// lock: at 50 concurrent page views on an 8-connection pool, 42 threads that only wait would
/// otherwise compete with the ones at work for 2 cores. Background work ([`run_background`],
/// the task worker) takes connections without a slot, so requests never queue behind it here.
#[derive(Clone)]
pub struct Pool {
    inner: r2d2::Pool<ConnectionManager>,
    request_slots: std::sync::Arc<tokio::sync::Semaphore>,
}

impl std::ops::Deref for Pool {
    type Target = r2d2::Pool<ConnectionManager>;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("state", &self.inner.state()).finish_non_exhaustive()
    }
}

pub type PooledConn = r2d2::PooledConnection<ConnectionManager>;

/// Errors of the data layer. Internal: logged, never shown to users as is.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("invalid database configuration: {0}")]
    Config(String),
    #[error("could not create the database directory {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("could not open a database connection: {0}")]
    Pool(#[from] r2d2::PoolError),
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("blocking task failed: {0}")]
    Join(String),
    /// A grouped write was not stored (see [`group`]).
    #[error("the write was not stored: {0}")]
    Write(String),
    /// Reading or writing a file the data layer keeps (an upload, a results file).
    #[error("{what}: {source}")]
    File { what: &'static str, source: std::io::Error },
    /// The demo is only seeded into an empty database.
    #[error("the database already holds data; the demo is only seeded into an empty database")]
    NotEmpty,
    /// Data that breaks a rule the code relies on (a bug, or rows changed behind its back).
    #[error("inconsistent data: {0}")]
    Inconsistent(String),
}

/// Opens the pool (creating the SQLite file and its directory when missing) and applies migrations.
pub fn connect(database_url: &str, max_size: u32) -> Result<Pool, DbError> {
    let target = DatabaseTarget::parse(database_url).map_err(DbError::Config)?;
    if let DatabaseTarget::Sqlite(path) = &target {
        ensure_parent_dir(path)?;
    }
    let inner = r2d2::Pool::builder()
        .max_size(max_size)
        .connection_timeout(POOL_WAIT)
        .connection_customizer(Box::new(SqlitePragmas))
        .build(ConnectionManager { target })?;
    let mut conn = inner.get()?;
    run_migrations(&mut conn)?;
    drop(conn);
    let slots = usize::try_from(max_size).unwrap_or(usize::MAX);
    Ok(Pool { inner, request_slots: std::sync::Arc::new(tokio::sync::Semaphore::new(slots)) })
}

fn ensure_parent_dir(path: &Path) -> Result<(), DbError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir { path: dir.to_owned(), source })
        }
        _ => Ok(()),
    }
}

/// Applies every pending migration of the connection's backend.
pub fn run_migrations(conn: &mut DbConn) -> Result<(), DbError> {
    let result = match conn {
        DbConn::Pg(c) => c.run_pending_migrations(PG_MIGRATIONS).map(|_| ()),
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
    };
    result.map_err(|e| DbError::Migration(e.to_string()))
}

/// How often the server checkpoints SQLite's write-ahead log.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// How often the checkpoint thread also refreshes the query planner's statistics of tables
/// that grew or shrank a lot (`PRAGMA optimize`, as SQLite advises for long-lived connections).
const OPTIMIZE_EVERY: Duration = Duration::from_secs(3600);

/// SQLite: copies the write-ahead log into the database file from a background thread every
/// `every`, so that a committing connection (the rejection worker's, above all) rarely has to:
/// WAL checkpoints otherwise run inside the commit that crosses `wal_autocheckpoint`. Passive
/// checkpoints never block readers or writers. At its first turn and then once an hour it also
/// runs `PRAGMA optimize` (SQLite's advice for long-lived connections): the query planner's
/// statistics are gathered for any table that has none or has grown or shrunk tenfold since, so
/// All leads and the searches get the plans their indexes allow. Without statistics SQLite
/// scanned every lead of the instance for a page of All leads sorted by Lead ID (bench-pages,
/// demo database: 402 ms at p50 under 50 connections, 47 ms with them). Nothing is started for PostgreSQL. Stops when
/// the returned guard is dropped.
pub fn start_checkpointer(pool: &Pool, every: Duration) -> Option<Checkpointer> {
    let conn = pool.get().ok()?;
    if !matches!(*conn, DbConn::Sqlite(_)) {
        return None;
    }
    drop(conn);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pool = pool.clone();
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            let mut optimized: Option<std::time::Instant> = None;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(every);
                match pool.get() {
                    Ok(mut conn) => {
                        if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE);") {
                            tracing::warn!(error = %e, "WAL checkpoint failed");
                        }
                        if optimized.is_none_or(|at| at.elapsed() >= OPTIMIZE_EVERY) {
                            // At start every table is checked (0x10000), later those used.
                            let pragma = if optimized.is_none() {
                                "PRAGMA optimize = 0x10002;"
                            } else {
                                "PRAGMA optimize;"
                            };
                            optimized = Some(std::time::Instant::now());
                            if let Err(e) = conn.batch_execute(pragma) {
                                tracing::warn!(error = %e, "PRAGMA optimize failed");
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "WAL checkpoint: no connection"),
                }
            }
        })
        .ok()?;
    Some(Checkpointer { stop, thread: Some(thread) })
}

/// The background checkpoint thread; stopped (and joined) on drop.
#[derive(Debug)]
pub struct Checkpointer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reverts the newest applied migration (tests of a migration's data conversion; development).
pub fn revert_last_migration(conn: &mut DbConn) -> Result<(), DbError> {
    let result = match conn {
        DbConn::Pg(c) => c.revert_last_migration(PG_MIGRATIONS).map(|_| ()),
        DbConn::Sqlite(c) => c.revert_last_migration(SQLITE_MIGRATIONS).map(|_| ()),
    };
    result.map_err(|e| DbError::Migration(e.to_string()))
}

/// The top-level SQLite write transactions of this process, one at a time (see
/// [`write_transaction`]).
pub(crate) static SQLITE_WRITERS: parking_lot::Mutex<()> = parking_lot::Mutex::new(());
/// How long a writer waits for [`SQLITE_WRITERS`] before going on without it (SQLite's busy
/// timeout then applies).
pub(crate) const SQLITE_GATE_WAIT: Duration = Duration::from_secs(10);

/// Runs `f` in a transaction that takes the write lock up front. On SQLite a deferred transaction
/// that reads before it writes can fail with SQLITE_BUSY instead of waiting; `BEGIN IMMEDIATE`
/// makes writers queue for the lock, in this process on a fair in-process gate first. Nested
/// calls become savepoints.
pub fn write_transaction<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let top_level_sqlite = match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::transaction_manager_status_mut(c)
            .transaction_depth()
            .map_err(E::from)?
            .is_none(),
        DbConn::Pg(_) => false,
    };
    if !top_level_sqlite {
        return conn.transaction(f);
    }
    // Writers of this process queue here rather than on SQLite's busy handler, whose waits grow
    // in steps of up to 100 ms: under load that stepping, not the work, made the slowest requests.
    // Bounded like the busy timeout, after which SQLite's own waiting applies (writers of another
    // process, or a thread that holds the gate while it waits for this one).
    let _gate = SQLITE_WRITERS.try_lock_for(SQLITE_GATE_WAIT);
    if let DbConn::Sqlite(c) = conn {
        AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
    }
    match f(conn) {
        Ok(value) => {
            <DbConn as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(err) => {
            // The caller's error is the one that matters; a failed rollback leaves the
            // connection marked broken and the pool discards it.
            let _ = <DbConn as Connection>::TransactionManager::rollback_transaction(conn);
            Err(err)
        }
    }
}

/// How long a request waits for a pooled connection before it is answered 503 ("busy"): a
/// full pool means the server is overloaded, and a quick, clear answer beats a 30 s queue.
/// Background work (the task worker, previews) waits the pool's own, longer timeout.
pub const REQUEST_WAIT: Duration = Duration::from_secs(2);
/// The pool's own wait for a connection (background work).
pub const POOL_WAIT: Duration = Duration::from_secs(30);

/// Runs a database closure on the blocking pool with a pooled connection, so Diesel never
/// blocks the async runtime. Waits at most [`REQUEST_WAIT`] for the connection.
pub async fn run<T, F>(pool: &Pool, f: F) -> Result<T, DbError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn) -> Result<T, DbError> + Send + 'static,
{
    run_or(pool, f).await
}

/// [`run`] for a closure with an error type of its own that says more than [`DbError`]; pool
/// and join failures become that type too.
pub async fn run_or<T, E, F>(pool: &Pool, f: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
{
    let started = std::time::Instant::now();
    // No slot within the wait (a closed semaphore cannot happen: it is never closed): go on
    // without one, so the pool's own timeout below answers "busy" unless a connection is free.
    let slot = tokio::time::timeout(REQUEST_WAIT, pool.request_slots.clone().acquire_owned())
        .await
        .ok()
        .and_then(Result::ok);
    let wait = REQUEST_WAIT.saturating_sub(started.elapsed());
    let pool = pool.inner.clone();
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let mut conn = pool.get_timeout(wait).map_err(DbError::from)?;
        f(&mut conn)
    })
    .await
    .map_err(|e| DbError::Join(e.to_string()))?
}

/// [`run`] for work that is part of something already under way (the next part of a download):
/// it waits the pool's full timeout for a connection rather than [`REQUEST_WAIT`], so a busy
/// moment does not cut a download short.
pub async fn run_background<T, F>(pool: &Pool, f: F) -> Result<T, DbError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn) -> Result<T, DbError> + Send + 'static,
{
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().map_err(DbError::from)?;
        f(&mut conn)
    })
    .await
    .map_err(|e| DbError::Join(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_database_urls() {
        assert_eq!(
            DatabaseTarget::parse("postgres://u:p@localhost/db"),
            Ok(DatabaseTarget::Postgres("postgres://u:p@localhost/db".into()))
        );
        assert_eq!(
            DatabaseTarget::parse("sqlite://data/sendback.db"),
            Ok(DatabaseTarget::Sqlite("data/sendback.db".into()))
        );
        assert_eq!(DatabaseTarget::parse("sqlite:/tmp/x.db"), Ok(DatabaseTarget::Sqlite("/tmp/x.db".into())));
        assert_eq!(DatabaseTarget::parse("./data/x.db"), Ok(DatabaseTarget::Sqlite("./data/x.db".into())));
        assert!(DatabaseTarget::parse("").is_err());
        assert!(DatabaseTarget::parse("sqlite::memory:").is_err());
        assert!(DatabaseTarget::parse("mysql://localhost/db").is_err());
    }

    /// A request waiting for a connection waits as a future, not on a blocking thread: with the
    /// pool's one connection held by a request, a second request queues for it, and the
    /// runtime's one other blocking thread stays free for other work (an upload's parsing, a
    /// password hash). Without the slots, the second request would park on that thread.
    #[test]
    fn a_request_waiting_for_a_connection_leaves_the_blocking_threads_to_other_work() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("slots.db").display());
        let pool = connect(&url, 1).expect("the pool");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let (release, held) = std::sync::mpsc::channel::<()>();
            let (started, has_started) = tokio::sync::oneshot::channel();
            let first = tokio::spawn({
                let pool = pool.clone();
                async move {
                    run(&pool, move |_| {
                        let _ = started.send(());
                        let _ = held.recv();
                        Ok(1)
                    })
                    .await
                }
            });
            has_started.await.expect("the first request holds the connection");
            let second = tokio::spawn({
                let pool = pool.clone();
                async move { run(&pool, |_| Ok(2)).await }
            });
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert!(!second.is_finished(), "the second request waits for the connection");
            let other = tokio::time::timeout(Duration::from_secs(1), tokio::task::spawn_blocking(|| 3)).await;
            assert!(matches!(other, Ok(Ok(3))), "other blocking work ran while a request waited: {other:?}");
            release.send(()).expect("the first request is still running");
            assert_eq!(first.await.expect("the first request").expect("its answer"), 1);
            assert_eq!(second.await.expect("the second request").expect("its answer"), 2);
        });
    }

    #[test]
    fn redacts_passwords() {
        let t = DatabaseTarget::parse("postgres://me:secret@db.example:5432/sendback").unwrap();
        assert_eq!(t.redacted(), "postgres://…@db.example:5432/sendback");
        assert!(!t.redacted().contains("secret"));
    }
}
