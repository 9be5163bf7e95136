//! Uploaded CSV files: stored in the database in parts (`upload_parts`), so every server can run
//! every task (docs/DOMAIN.md §6); each server's upload directory is its cache of them. Their rows
//! in `uploads`, the local copy a reader opens, and their clean-up.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use sha2::Digest;

use crate::db::schema::{lead_imports, rejection_tasks, upload_parts, uploads};
use crate::db::users::UserContext;
use crate::db::{DbConn, DbError, write_transaction};
use crate::engine::csv_file::FileRefusal;

/// Bytes of one stored part of a file (the last part may be shorter).
pub const PART_BYTES: usize = 1024 * 1024;
/// Parts stored per write transaction: SQLite has one writer, which a large file must not hold
/// for the whole of its storing.
const PARTS_PER_TRANSACTION: usize = 16;

/// This server's directory of uploaded files: where a received file is written, and where copies
/// of stored files are kept for reading; and how much an instance may keep.
#[derive(Debug, Clone)]
pub struct Storage {
    pub dir: PathBuf,
    /// Bytes an instance may keep (uploads and results files); a new upload past it is refused
    /// ([`StorageFull`]). `None`: no limit.
    pub quota_bytes: Option<u64>,
}

/// A file stored under a server-chosen name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub key: String,
    pub size: u64,
    /// Hex SHA-256 of the contents.
    pub sha256: String,
}

impl Storage {
    /// A storage directory without a quota.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into(), quota_bytes: None }
    }

    pub fn path_of(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    /// A fresh server-chosen file name (see [`is_key`]).
    pub fn new_key() -> String {
        format!("{:032x}.csv", rand::random::<u128>())
    }

    /// Copies `source` in under a fresh server-chosen name, synced to disk.
    pub fn store(&self, source: &Path) -> std::io::Result<StoredFile> {
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
        Ok(StoredFile { key, size, sha256: hex(&hasher.finalize()) })
    }

    /// A complete local copy of the stored file `key`, to read by byte offsets: this server's
    /// copy when it has one of the right size, else one fetched from the database a part at a
    /// time, checked against the upload's size and SHA-256, synced and renamed into place (two
    /// readers fetching at once each rename a whole copy). A file that cannot be had is
    /// [`CopyError::Unreadable`], as an unreadable file always was.
    pub fn local_copy(&self, conn: &mut DbConn, key: &str) -> Result<PathBuf, CopyError> {
        let upload: Option<(i64, i64, String, bool, Option<NaiveDateTime>)> = uploads::table
            .filter(uploads::storage_key.eq(key))
            .select((uploads::id, uploads::size_bytes, uploads::sha256, uploads::stored, uploads::deleted_at))
            .first(conn)
            .optional()
            .map_err(DbError::from)?;
        let Some((id, size, sha256, stored, deleted_at)) = upload else {
            return Err(unreadable("its upload is gone"));
        };
        if let Some(at) = deleted_at {
            return Err(unreadable(&format!(
                "it was deleted on {} under the retention policy (the results stay)",
                at.format("%Y-%m-%d")
            )));
        }
        let size = u64::try_from(size).unwrap_or(0);
        let path = self.path_of(key);
        if std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == size) {
            return Ok(path);
        }
        if !stored {
            return Err(unreadable("it is still being stored"));
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| unreadable(&e.to_string()))?;
        let fetch = self.dir.join(format!("{key}.fetch-{:016x}", rand::random::<u64>()));
        let fetched = fetch_parts(conn, id, size, &sha256, &fetch)
            .and_then(|()| std::fs::rename(&fetch, &path).map_err(|e| unreadable(&e.to_string())));
        if fetched.is_err() {
            let _ = std::fs::remove_file(&fetch);
        }
        fetched.map(|()| path)
    }
}

/// Whether `name` is a server-chosen file name: 32 hex digits and `.csv`.
fn is_key(name: &str) -> bool {
    name.strip_suffix(".csv").is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a local copy of a stored file could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The file cannot be had (its parts are missing or do not match, or the local disk
    /// failed): the task or import that needs it fails with this reason.
    #[error("{0}")]
    Unreadable(FileRefusal),
    #[error(transparent)]
    Db(#[from] DbError),
}

fn unreadable(why: &str) -> CopyError {
    CopyError::Unreadable(FileRefusal::Unreadable(why.to_owned()))
}

/// Writes upload `upload_id`'s parts into the new file `dest`, one part in memory at a time,
/// checks them against the upload's `size` and `sha256`, and syncs the file.
fn fetch_parts(
    conn: &mut DbConn,
    upload_id: i64,
    size: u64,
    sha256: &str,
    dest: &Path,
) -> Result<(), CopyError> {
    let io = |e: std::io::Error| unreadable(&e.to_string());
    let mut output = std::fs::OpenOptions::new().write(true).create_new(true).open(dest).map_err(io)?;
    let mut hasher = sha2::Sha256::new();
    let mut written = 0_u64;
    let parts = size.div_ceil(PART_BYTES as u64);
    for part in 0..i64::try_from(parts).unwrap_or(i64::MAX) {
        let data: Option<Vec<u8>> = upload_parts::table
            .find((upload_id, part))
            .select(upload_parts::data)
            .first(conn)
            .optional()
            .map_err(DbError::from)?;
        let Some(data) = data else {
            return Err(unreadable(if part == 0 {
                "it is kept only on the server that received it (it was uploaded before files were stored in the database)"
            } else {
                "a part of the stored file is missing"
            }));
        };
        hasher.update(&data);
        output.write_all(&data).map_err(io)?;
        written += data.len() as u64;
    }
    if written != size || hex(&hasher.finalize()) != sha256 {
        return Err(unreadable("the stored file does not match the file received"));
    }
    output.sync_all().map_err(io)?;
    Ok(())
}

/// An upload the user made, as a task needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRef {
    pub id: i64,
    pub storage_key: String,
}

/// The user's own upload `upload_id` (nobody else's, whatever id the browser sends), once its file
/// is stored.
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
                .and(uploads::instance_id.eq(user.instance_id))
                .and(uploads::stored.eq(true))
                .and(uploads::deleted_at.is_null()),
        )
        .select((uploads::id, uploads::storage_key))
        .first::<(i64, String)>(conn)
        .optional()?
        .map(|(id, storage_key)| UploadRef { id, storage_key }))
}

/// Records the file `file`, received into `storage`, as `user`'s upload and stores it in the
/// database; returns the upload's id. The upload is usable (found by [`find_upload`]) only once
/// every part is stored; one that fails is deleted again.
pub fn record_upload(
    conn: &mut DbConn,
    storage: &Storage,
    user: &UserContext,
    original_name: &str,
    file: &StoredFile,
    now: NaiveDateTime,
) -> Result<i64, RecordError> {
    record_with(&mut |f| f(conn), storage, user, original_name, file, now)
}

/// [`record_upload`] taking a pooled connection for each transaction and giving it back between
/// them, so storing a large file never holds one of the pool's connections for long.
pub fn record_upload_pooled(
    pool: &crate::db::Pool,
    storage: &Storage,
    user: &UserContext,
    original_name: &str,
    file: &StoredFile,
    now: NaiveDateTime,
) -> Result<i64, RecordError> {
    // The first connection is the request's: it waits no longer than a request does. Once the
    // upload has begun, each part waits the pool's own timeout.
    let mut first = true;
    record_with(
        &mut |f| {
            let wait =
                if std::mem::take(&mut first) { crate::db::REQUEST_WAIT } else { crate::db::POOL_WAIT };
            let mut conn = pool.get_timeout(wait).map_err(DbError::from)?;
            f(&mut conn)
        },
        storage,
        user,
        original_name,
        file,
        now,
    )
}

/// Runs a piece of database work on a connection: the caller's one, or a pooled one taken for it.
pub(crate) type WithConn<'a> =
    dyn FnMut(&mut dyn FnMut(&mut DbConn) -> Result<(), DbError>) -> Result<(), DbError> + 'a;

fn record_with(
    with_conn: &mut WithConn<'_>,
    storage: &Storage,
    user: &UserContext,
    original_name: &str,
    file: &StoredFile,
    now: NaiveDateTime,
) -> Result<i64, RecordError> {
    let mut begun: Result<i64, RecordError> = Err(RecordError::Db(DbError::Inconsistent("no upload".into())));
    with_conn(&mut |conn| {
        begun = begin_upload(conn, user, original_name, file, now, storage.quota_bytes);
        Ok(())
    })?;
    let id = begun?;
    let stored = store_parts(with_conn, id, &storage.path_of(&file.key), file)
        .and_then(|()| with_conn(&mut |conn| write_transaction(conn, |conn| mark_stored(conn, id))));
    match stored {
        Ok(()) => Ok(id),
        Err(err) => {
            if let Err(e) = with_conn(&mut |conn| discard_upload(conn, id)) {
                tracing::warn!(upload_id = id, error = %e, "deleting an upload that was not stored");
            }
            Err(err.into())
        }
    }
}

/// Why an upload was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The instance's storage quota would be exceeded (a refusal the user reads).
    #[error("{0}")]
    Full(StorageFull),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for RecordError {
    fn from(e: diesel::result::Error) -> Self {
        RecordError::Db(e.into())
    }
}

/// An instance's storage is full: the file was not kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "This file ({file}) does not fit: this instance's storage holds {used} of its {quota}. Files of \
     finished tasks are deleted after the retention period; ask the instance's administrator to \
     raise the storage quota, or try again later.",
    file = megabytes(*.size), used = megabytes(*.used), quota = megabytes(*.quota)
)]
pub struct StorageFull {
    pub size: u64,
    pub used: u64,
    pub quota: u64,
}

fn megabytes(bytes: u64) -> String {
    crate::domain::messages::megabytes(bytes)
}

/// The bytes instance `instance_id` keeps: its uploads whose files have not been deleted, and
/// the results files of its rejection tasks and lead imports (as stored, compressed).
pub fn storage_used(conn: &mut DbConn, instance_id: i64) -> Result<u64, DbError> {
    #[derive(QueryableByName)]
    struct Total {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    // Results are stored compressed (`packed`); `body` holds only parts stored before that.
    let total: Total = diesel::sql_query(
        "SELECT CAST(\
           COALESCE((SELECT SUM(size_bytes) FROM uploads \
             WHERE instance_id = $1 AND deleted_at IS NULL), 0) \
         + COALESCE((SELECT SUM(COALESCE(LENGTH(r.packed), 0) + LENGTH(r.body)) \
             FROM rejection_task_results r JOIN rejection_tasks t ON t.id = r.task_id \
             WHERE t.instance_id = $1), 0) \
         + COALESCE((SELECT SUM(COALESCE(LENGTH(c.packed), 0) + LENGTH(c.body)) \
             FROM lead_import_chunks c JOIN lead_imports i ON i.id = c.import_id \
             WHERE i.instance_id = $1), 0) \
         AS BIGINT) AS n",
    )
    .bind::<diesel::sql_types::BigInt, _>(instance_id)
    .get_result(conn)?;
    Ok(u64::try_from(total.n).unwrap_or(0))
}

/// Refuses `size` more bytes for `user`'s instance when they would pass `quota`. Runs inside the
/// write transaction that records the upload; on PostgreSQL it first locks the instance's row,
/// so two uploads at once are counted one after the other (SQLite has one writer anyway).
fn check_quota(
    conn: &mut DbConn,
    instance_id: i64,
    size: u64,
    quota: Option<u64>,
) -> Result<(), RecordError> {
    let Some(quota) = quota else { return Ok(()) };
    if let DbConn::Pg(pg) = conn {
        // NO KEY: rows referring to the instance (leads, audit rows) can still be inserted.
        diesel::sql_query("SELECT id FROM instances WHERE id = $1 FOR NO KEY UPDATE")
            .bind::<diesel::sql_types::BigInt, _>(instance_id)
            .execute(pg)?;
    }
    let used = storage_used(conn, instance_id)?;
    if used.saturating_add(size) > quota {
        return Err(RecordError::Full(StorageFull { size, used, quota }));
    }
    Ok(())
}

/// Inserts `file`'s upload row for `user`, not yet usable (`stored` false); returns its id.
pub(crate) fn begin_upload(
    conn: &mut DbConn,
    user: &UserContext,
    original_name: &str,
    file: &StoredFile,
    now: NaiveDateTime,
    quota: Option<u64>,
) -> Result<i64, RecordError> {
    let original_name: String = original_name.chars().take(255).collect();
    write_transaction(conn, |conn| {
        check_quota(conn, user.instance_id, file.size, quota)?;
        Ok(diesel::insert_into(uploads::table)
            .values((
                uploads::instance_id.eq(user.instance_id),
                uploads::user_id.eq(user.id),
                uploads::original_name.eq(&original_name),
                uploads::storage_key.eq(&file.key),
                uploads::size_bytes.eq(i64::try_from(file.size).unwrap_or(i64::MAX)),
                uploads::sha256.eq(&file.sha256),
                uploads::created_at.eq(now),
                uploads::stored.eq(false),
            ))
            .returning(uploads::id)
            .get_result(conn)?)
    })
}

/// Stores the local file at `path` as upload `upload_id`'s parts, [`PART_BYTES`] each, one part
/// in memory at a time and [`PARTS_PER_TRANSACTION`] per transaction. Fails when the file is not
/// the one received (`file`'s size and SHA-256).
pub(crate) fn store_parts(
    with_conn: &mut WithConn<'_>,
    upload_id: i64,
    path: &Path,
    file: &StoredFile,
) -> Result<(), DbError> {
    let io = |source| DbError::File { what: "storing the upload", source };
    let mut input = std::fs::File::open(path).map_err(io)?;
    let mut buf = vec![0_u8; PART_BYTES];
    let mut hasher = sha2::Sha256::new();
    let mut size = 0_u64;
    let mut part = 0_i64;
    let mut at_end = false;
    while !at_end {
        // A connection for each transaction: given back between them.
        with_conn(&mut |conn| {
            write_transaction(conn, |conn| -> Result<(), DbError> {
                for _ in 0..PARTS_PER_TRANSACTION {
                    let n = read_full(&mut input, &mut buf).map_err(io)?;
                    at_end = n < PART_BYTES;
                    if n > 0 {
                        hasher.update(&buf[..n]);
                        size += n as u64;
                        diesel::insert_into(upload_parts::table)
                            .values((
                                upload_parts::upload_id.eq(upload_id),
                                upload_parts::part.eq(part),
                                upload_parts::data.eq(&buf[..n]),
                            ))
                            .execute(conn)?;
                        part += 1;
                    }
                    if at_end {
                        break;
                    }
                }
                Ok(())
            })
        })?;
    }
    if size != file.size || hex(&hasher.finalize()) != file.sha256 {
        return Err(io(std::io::Error::other("the file changed after it was received")));
    }
    Ok(())
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Makes upload `upload_id` usable: all its parts are stored. Runs in the caller's transaction.
pub(crate) fn mark_stored(conn: &mut DbConn, upload_id: i64) -> Result<(), DbError> {
    diesel::update(uploads::table.find(upload_id)).set(uploads::stored.eq(true)).execute(conn)?;
    Ok(())
}

/// Deletes upload `upload_id`, which nothing uses, and its parts.
pub(crate) fn discard_upload(conn: &mut DbConn, upload_id: i64) -> Result<(), DbError> {
    write_transaction(conn, |conn| {
        diesel::delete(upload_parts::table.filter(upload_parts::upload_id.eq(upload_id))).execute(conn)?;
        diesel::delete(uploads::table.find(upload_id)).execute(conn)?;
        Ok(())
    })
}

/// Stores a local file as `user`'s upload, as the upload endpoint does with a request body (the
/// command line and the benchmark start tasks this way); returns the upload's id.
pub fn upload_local_file(
    conn: &mut DbConn,
    storage: &Storage,
    user: &UserContext,
    source: &Path,
    now: NaiveDateTime,
) -> Result<i64, RecordError> {
    let stored =
        storage.store(source).map_err(|source| DbError::File { what: "storing the upload", source })?;
    let name = source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    record_upload(conn, storage, user, &name, &stored, now).inspect_err(|_| {
        // Nothing refers to the stored copy.
        let _ = std::fs::remove_file(storage.path_of(&stored.key));
    })
}

/// Retention: the files of uploads whose tasks and lead imports have all ended (completed or
/// failed) before `ended_before` are deleted (their parts, and this server's copy); the rows
/// stay, marked `deleted_at = now`, since the tasks refer to them. The results files stay.
/// Returns how many files went.
pub fn prune_expired_uploads(
    conn: &mut DbConn,
    storage: &Storage,
    ended_before: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    use crate::domain::task::TaskStatus;
    let ended = [TaskStatus::Completed.as_str(), TaskStatus::Failed.as_str()];
    // Used by something, and by nothing that has not ended long enough ago.
    let not_ended_task = rejection_tasks::table.filter(rejection_tasks::upload_id.eq(uploads::id)).filter(
        rejection_tasks::status
            .ne_all(ended)
            .or(rejection_tasks::finished_at.is_null())
            .or(rejection_tasks::finished_at.ge(ended_before)),
    );
    let not_ended_import = lead_imports::table.filter(lead_imports::upload_id.eq(uploads::id)).filter(
        lead_imports::status
            .ne_all(ended)
            .or(lead_imports::finished_at.is_null())
            .or(lead_imports::finished_at.ge(ended_before)),
    );
    let used = diesel::dsl::exists(rejection_tasks::table.filter(rejection_tasks::upload_id.eq(uploads::id)))
        .or(diesel::dsl::exists(lead_imports::table.filter(lead_imports::upload_id.eq(uploads::id))));
    let expired: Vec<(i64, String)> = uploads::table
        .filter(uploads::deleted_at.is_null())
        .filter(used)
        .filter(diesel::dsl::not(diesel::dsl::exists(not_ended_task.clone())))
        .filter(diesel::dsl::not(diesel::dsl::exists(not_ended_import.clone())))
        .select((uploads::id, uploads::storage_key))
        .load(conn)?;
    let mut deleted = 0;
    for (id, key) in &expired {
        // Marked first, checked again in the same statement: from then on `find_upload` does
        // not return it, so nothing new starts on it; a task started on it just before is seen.
        let gone = write_transaction(conn, |conn| -> Result<bool, DbError> {
            let marked = diesel::update(
                uploads::table
                    .find(id)
                    .filter(uploads::deleted_at.is_null())
                    .filter(diesel::dsl::not(diesel::dsl::exists(not_ended_task.clone())))
                    .filter(diesel::dsl::not(diesel::dsl::exists(not_ended_import.clone()))),
            )
            .set(uploads::deleted_at.eq(Some(now)))
            .execute(conn)?;
            if marked == 1 {
                diesel::delete(upload_parts::table.filter(upload_parts::upload_id.eq(id))).execute(conn)?;
            }
            Ok(marked == 1)
        })?;
        if gone {
            let _ = std::fs::remove_file(storage.path_of(key));
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Why an unused upload was not deleted.
enum Prune {
    /// A task or import started on it meanwhile.
    InUse,
    Db(DbError),
}

impl From<diesel::result::Error> for Prune {
    fn from(e: diesel::result::Error) -> Self {
        Prune::Db(DbError::Query(e))
    }
}

/// Uploads no task or lead import uses, received before `before`, are deleted with their parts
/// and this server's copies (a user who chose a file and never started a task; an upload whose
/// storing was interrupted). So are, when older than `before`: partial files (`.part`,
/// `.fetch-…`), temporary files of jobs a crash ended (`.tmp`) and copies of uploads deleted by
/// another server or whose file retention deleted. Returns how many uploads went.
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
        .filter(diesel::dsl::not(diesel::dsl::exists(
            lead_imports::table.filter(lead_imports::upload_id.eq(uploads::id)),
        )))
        .select((uploads::id, uploads::storage_key))
        .load(conn)?;
    let mut pruned = 0;
    for (id, key) in &unused {
        // The parts and the row together, only while nothing uses the upload: a task inserted
        // meanwhile keeps both (the row's delete finds nothing, or fails on the task's reference).
        let deleted = write_transaction(conn, |conn| -> Result<(), Prune> {
            diesel::delete(upload_parts::table.filter(upload_parts::upload_id.eq(id))).execute(conn)?;
            let rows = diesel::delete(
                uploads::table
                    .filter(uploads::id.eq(id))
                    .filter(diesel::dsl::not(diesel::dsl::exists(
                        rejection_tasks::table.filter(rejection_tasks::upload_id.eq(uploads::id)),
                    )))
                    .filter(diesel::dsl::not(diesel::dsl::exists(
                        lead_imports::table.filter(lead_imports::upload_id.eq(uploads::id)),
                    ))),
            )
            .execute(conn)?;
            if rows == 1 { Ok(()) } else { Err(Prune::InUse) }
        });
        match deleted {
            Ok(()) => {
                // The copy after the row: a file without a row is harmless, a row without its
                // file is not.
                let _ = std::fs::remove_file(storage.path_of(key));
                pruned += 1;
            }
            Err(Prune::InUse) => {}
            Err(Prune::Db(e)) => return Err(e),
        }
    }
    let cutoff = std::time::SystemTime::UNIX_EPOCH
        + std::time::Duration::from_secs(u64::try_from(before.and_utc().timestamp()).unwrap_or(0));
    if let Ok(entries) = std::fs::read_dir(&storage.dir) {
        for entry in entries.flatten() {
            let stale = entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < cutoff);
            if !stale {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            // `.tmp`: a running job's temporary file (engine/spill.rs) that a crash left behind.
            let partial = name.ends_with(".part") || name.contains(".fetch-") || name.ends_with(".tmp");
            // A copy of an upload that is gone, or whose file retention deleted (on whichever
            // server ran the clean-up).
            let orphan = !partial
                && is_key(&name)
                && !matches!(
                    uploads::table
                        .filter(uploads::storage_key.eq(&name))
                        .select(uploads::deleted_at)
                        .first::<Option<NaiveDateTime>>(conn)
                        .optional()?,
                    Some(None)
                );
            if partial || orphan {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(pruned)
}
