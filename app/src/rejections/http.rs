//! Plain HTTP endpoints of rejection tasks, for what server functions do badly: the CSV upload
//! (streamed to storage, never held in memory, size limit enforced while it arrives) and the
//! results download (streamed from the database). Both check the session, the permission and
//! the tenant like every server function.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use futures_util::StreamExt;
use sha2::Digest;
use tokio::io::AsyncWriteExt;
use tower_sessions::Session;

use super::model::{UploadPreview, UploadRefusal};
use crate::auth::access::{may_read_tasks, may_reject, user_of_session};
use crate::db::users::UserContext;
use crate::engine::csv_file::{self, FileRefusal, RowReader};
use crate::engine::uploads::{
    RecordError, Storage, StorageFull, StoredFile, hex, record_upload_pooled, storage_used,
};
use crate::error::AppError;
use crate::state::AppState;

/// Data rows shown in the upload preview.
pub const PREVIEW_ROWS: usize = 5;
/// Characters of a cell shown in the upload preview; longer cells end with "…". The task reads
/// the whole cell.
pub const PREVIEW_CELL_CHARS: usize = 200;

#[derive(Debug, serde::Deserialize)]
pub struct UploadQuery {
    /// The file's name on the user's computer (shown back, never used as a path).
    #[serde(default)]
    name: String,
}

pub(crate) fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(UploadRefusal { error: message.into() })).into_response()
}

pub(crate) fn refuse_app(err: &AppError) -> Response {
    let status = StatusCode::from_u16(err.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = match err {
        AppError::Forbidden => super::NO_PERMISSION.to_owned(),
        other => other.to_string(),
    };
    refuse(status, message)
}

/// The signed-in user, or the response refusing the request.
pub(crate) async fn signed_in(state: &AppState, session: &Session) -> Result<UserContext, Response> {
    match user_of_session(state, session).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(refuse_app(&AppError::Unauthenticated)),
        Err(err) => Err(refuse_app(&err)),
    }
}

/// A file name fit to show: its last path component, no control characters, at most 255
/// characters.
pub(crate) fn display_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last.chars().filter(|c| !c.is_control()).take(255).collect();
    if clean.trim().is_empty() { "upload.csv".to_owned() } else { clean }
}

fn delimiter_name(d: u8) -> String {
    match d {
        b',' => "comma (,)".to_owned(),
        b';' => "semicolon (;)".to_owned(),
        b'\t' => "tab".to_owned(),
        b'|' => "pipe (|)".to_owned(),
        other => format!("\"{}\"", other as char),
    }
}

/// `POST /api/uploads?name=<file name>` with the file as the request body. Answers with what
/// the task will read ([`UploadPreview`]) or a plain-words refusal ([`UploadRefusal`]).
pub async fn upload(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    receive_upload(state, session, query, headers, body, may_reject).await
}

/// Stores the request body as the signed-in user's upload when `allowed` lets the user upload
/// (a rejection file, or a lead import's file), and answers with the preview.
pub(crate) async fn receive_upload(
    state: AppState,
    session: Session,
    query: UploadQuery,
    headers: HeaderMap,
    body: Body,
    allowed: fn(&UserContext) -> Result<(), AppError>,
) -> Response {
    let user = match signed_in(&state, &session).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    if let Err(err) = allowed(&user) {
        return refuse_app(&err);
    }
    let limit = state.uploads.max_bytes;
    let too_large = || refuse(StatusCode::PAYLOAD_TOO_LARGE, FileRefusal::TooLarge { limit }.to_string());
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return too_large();
    }
    let storage = state.uploads.storage.clone();
    // A full instance is told before the file is sent, not after (the check that counts is made
    // again when the upload is recorded).
    if let Some(quota) = storage.quota_bytes {
        let instance_id = user.instance_id;
        match state.db(move |conn| storage_used(conn, instance_id)).await {
            Ok(used) if used.saturating_add(declared.unwrap_or(0)) > quota => {
                let full = StorageFull { size: declared.unwrap_or(0), used, quota };
                return refuse(StatusCode::INSUFFICIENT_STORAGE, full.to_string());
            }
            Ok(_) => {}
            Err(err) => return refuse_app(&AppError::from(err)),
        }
    }
    let key = Storage::new_key();
    let stored = match receive(&storage, &key, body, limit).await {
        Ok(Received::Stored(stored)) => stored,
        Ok(Received::TooLarge) => return too_large(),
        Err(err) => {
            tracing::warn!(error = %err, "upload interrupted");
            return refuse(StatusCode::BAD_REQUEST, "The upload was interrupted. Choose the file again.");
        }
    };
    let name = display_name(&query.name);
    let now = state.clock.now();
    let path = storage.path_of(&key);
    let pool = state.pool.clone();
    let outcome = tokio::task::spawn_blocking(move || -> Result<UploadPreview, UploadError> {
        let (shape, rows) = read_preview(&path).inspect_err(|_| {
            let _ = std::fs::remove_file(&path);
        })?;
        let recorded = record_upload_pooled(&pool, &storage, &user, &name, &stored, now);
        // A file no row refers to would never be cleaned up.
        let upload_id = recorded.map_err(UploadError::from).inspect_err(|_| {
            let _ = std::fs::remove_file(&path);
        })?;
        Ok(UploadPreview {
            upload_id,
            file_name: name,
            size_bytes: stored.size,
            delimiter: delimiter_name(shape.delimiter),
            headers: shape.headers,
            rows,
        })
    })
    .await;
    match outcome {
        Ok(Ok(preview)) => (StatusCode::OK, Json(preview)).into_response(),
        Ok(Err(UploadError::Refused(refusal))) => {
            refuse(StatusCode::UNPROCESSABLE_ENTITY, refusal.to_string())
        }
        Ok(Err(UploadError::Full(full))) => refuse(StatusCode::INSUFFICIENT_STORAGE, full.to_string()),
        Ok(Err(UploadError::App(err))) => refuse_app(&err),
        Err(err) => {
            tracing::error!(error = %err, "upload preview task");
            refuse_app(&AppError::Internal)
        }
    }
}

/// Why a received file was not kept.
#[derive(Debug, thiserror::Error)]
enum UploadError {
    /// Not a file a task can read (422, in plain words).
    #[error("{0}")]
    Refused(FileRefusal),
    /// The instance's storage quota is used up (507).
    #[error("{0}")]
    Full(StorageFull),
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<RecordError> for UploadError {
    fn from(err: RecordError) -> Self {
        match err {
            RecordError::Full(full) => UploadError::Full(full),
            RecordError::Db(e) => UploadError::App(e.into()),
        }
    }
}

impl From<FileRefusal> for UploadError {
    fn from(refusal: FileRefusal) -> Self {
        UploadError::Refused(refusal)
    }
}

pub(crate) enum Received {
    Stored(StoredFile),
    TooLarge,
}

/// Streams `body` into `<storage>/<key>` (via a `.part` file, renamed once complete and synced).
pub(crate) async fn receive(
    storage: &Storage,
    key: &str,
    body: Body,
    limit: u64,
) -> std::io::Result<Received> {
    tokio::fs::create_dir_all(&storage.dir).await?;
    let part = storage.path_of(&format!("{key}.part"));
    let result = async {
        let mut file = tokio::fs::OpenOptions::new().write(true).create_new(true).open(&part).await?;
        let mut hasher = sha2::Sha256::new();
        let mut size = 0_u64;
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(std::io::Error::other)?;
            size += chunk.len() as u64;
            if size > limit {
                return Ok(Received::TooLarge);
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
        }
        file.sync_all().await?;
        tokio::fs::rename(&part, storage.path_of(key)).await?;
        Ok(Received::Stored(StoredFile { key: key.to_owned(), size, sha256: hex(&hasher.finalize()) }))
    }
    .await;
    if !matches!(result, Ok(Received::Stored { .. })) {
        let _ = tokio::fs::remove_file(&part).await;
    }
    result
}

/// The file-level checks and the first rows as the task will read them.
fn read_preview(path: &std::path::Path) -> Result<(csv_file::FileShape, Vec<Vec<String>>), FileRefusal> {
    let shape = csv_file::inspect(path)?;
    let mut reader = RowReader::open(path, shape.delimiter, shape.data_offset, shape.data_line)?;
    let mut rows = Vec::new();
    while rows.len() < PREVIEW_ROWS {
        let Some(row) = reader.next_row()? else { break };
        rows.push(row.cells.iter().map(|c| preview_cell(&String::from_utf8_lossy(c))).collect());
    }
    Ok((shape, rows))
}

/// A cell as the preview shows it: at most [`PREVIEW_CELL_CHARS`] characters.
fn preview_cell(cell: &str) -> String {
    crate::engine::planner::truncate(cell, PREVIEW_CELL_CHARS)
}

/// `GET /leads/import-rejections/tasks/{id}/results.csv`: the per-row results, streamed.
pub async fn results(State(state): State<AppState>, session: Session, Path(task_id): Path<i64>) -> Response {
    let user = match signed_in(&state, &session).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    if let Err(err) = may_read_tasks(&user) {
        return refuse_app(&err);
    }
    let check_user = user.clone();
    let seen = state
        .db(move |conn| {
            if crate::engine::task::views::may_see(conn, &check_user, task_id)? {
                crate::engine::task::results_header(conn, task_id).map(Some)
            } else {
                Ok(None)
            }
        })
        .await;
    let header = match seen {
        Ok(Some(header)) => header,
        Ok(None) => return refuse_app(&AppError::NotFound),
        Err(err) => return refuse_app(&AppError::from(err)),
    };
    parts_download(&state, format!("sendback-task-{task_id}-results.csv"), header, move |conn, after| {
        crate::engine::task::next_part(conn, task_id, after)
    })
}

/// A CSV download of a stored file: `header`, then each part `next` returns (the part after the
/// one it is given, `-1` for the first), sent in 64 KB pieces. Each part is read with a pooled
/// connection that is given back before the part is sent, and the sending is an async task, not
/// a thread: a client that stops reading holds no connection and no thread, only the part in
/// hand, and one that goes away ends the task.
pub(crate) fn parts_download<F>(state: &AppState, file_name: String, header: Vec<u8>, next: F) -> Response
where
    F: Fn(&mut crate::db::DbConn, i64) -> Result<Option<(i64, Vec<u8>)>, crate::db::DbError>
        + Send
        + Sync
        + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    let pool = state.pool.clone();
    let name = file_name.clone();
    let next = std::sync::Arc::new(next);
    tokio::spawn(async move {
        if tx.send(Ok(Bytes::from(header))).await.is_err() {
            return;
        }
        let mut after = -1_i64;
        loop {
            let read = std::sync::Arc::clone(&next);
            match crate::db::run_background(&pool, move |conn| read(conn, after)).await {
                Ok(Some((part, body))) => {
                    after = part;
                    let body = Bytes::from(body);
                    let mut at = 0;
                    while at < body.len() {
                        let end = (at + CHUNK).min(body.len());
                        if tx.send(Ok(body.slice(at..end))).await.is_err() {
                            return; // the client went away
                        }
                        at = end;
                    }
                }
                Ok(None) => return,
                Err(err) => {
                    tracing::error!(error = %err, file = name, "reading a CSV download");
                    let _ = tx.send(Err(std::io::Error::other("the results file could not be read"))).await;
                    return;
                }
            }
        }
    });
    // Fused: the compression layer may poll once more after the end.
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) }).fuse();
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file_name}\"")),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// A download is sent in pieces of this size.
const CHUNK: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::{PREVIEW_CELL_CHARS, display_name, preview_cell};

    #[test]
    fn preview_cells_are_cut_short() {
        assert_eq!(preview_cell("Wrong number"), "Wrong number");
        let long = "é".repeat(PREVIEW_CELL_CHARS + 1);
        let shown = preview_cell(&long);
        assert_eq!(shown.chars().count(), PREVIEW_CELL_CHARS + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(preview_cell(&"x".repeat(PREVIEW_CELL_CHARS)), "x".repeat(PREVIEW_CELL_CHARS));
    }

    #[test]
    fn file_names_are_shown_without_paths_or_control_characters() {
        assert_eq!(display_name("C:\\Users\\me\\rejects.csv"), "rejects.csv");
        assert_eq!(display_name("../../etc/passwd"), "passwd");
        assert_eq!(display_name("a\u{0}b\n.csv"), "ab.csv");
        assert_eq!(display_name(""), "upload.csv");
    }
}
