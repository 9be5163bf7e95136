//! Uploaded rejection files: where they are stored (server-chosen names in one directory every
//! server process can read, docs/DOMAIN.md §6), their rows in `uploads`, and their clean-up.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use sha2::Digest;

use crate::db::schema::{lead_imports, rejection_tasks, uploads};
use crate::db::users::UserContext;
use crate::db::{DbConn, DbError};

/// Where uploaded files are kept.
#[derive(Debug, Clone)]
pub struct Storage {
    pub dir: PathBuf,
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
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

/// Records a file already stored for `user`; returns the upload's id.
pub fn record_upload(
    conn: &mut DbConn,
    user: &UserContext,
    original_name: &str,
    file: &StoredFile,
    now: NaiveDateTime,
) -> Result<i64, DbError> {
    let original_name: String = original_name.chars().take(255).collect();
    Ok(diesel::insert_into(uploads::table)
        .values((
            uploads::instance_id.eq(user.instance_id),
            uploads::user_id.eq(user.id),
            uploads::original_name.eq(&original_name),
            uploads::storage_key.eq(&file.key),
            uploads::size_bytes.eq(i64::try_from(file.size).unwrap_or(i64::MAX)),
            uploads::sha256.eq(&file.sha256),
            uploads::created_at.eq(now),
        ))
        .returning(uploads::id)
        .get_result(conn)?)
}

/// Stores a local file as `user`'s upload, as the upload endpoint does with a request body (the
/// command line and the benchmark start tasks this way); returns the upload's id.
pub fn upload_local_file(
    conn: &mut DbConn,
    storage: &Storage,
    user: &UserContext,
    source: &Path,
    now: NaiveDateTime,
) -> Result<i64, DbError> {
    let stored =
        storage.store(source).map_err(|source| DbError::File { what: "storing the upload", source })?;
    let name = source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    record_upload(conn, user, &name, &stored, now).inspect_err(|_| {
        // Nothing refers to the stored copy.
        let _ = std::fs::remove_file(storage.path_of(&stored.key));
    })
}

/// Uploads no task or lead import uses, received before `before`, are deleted with their files (a user who
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
        .filter(diesel::dsl::not(diesel::dsl::exists(
            lead_imports::table.filter(lead_imports::upload_id.eq(uploads::id)),
        )))
        .select((uploads::id, uploads::storage_key))
        .load(conn)?;
    for (id, key) in &unused {
        // The row first: a file without a row is harmless, a row without its file is not.
        let deleted = diesel::delete(
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
