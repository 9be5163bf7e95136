//! Submitting a task: every file-level check that refuses a whole task (docs/DOMAIN.md §3), then
//! the task recorded as `queued` on a stored upload — before any lead changes.

use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::schema::{campaign_fields, campaigns, rejection_tasks, uploads};
use crate::db::users::{Role, UserContext};
use crate::db::{DbConn, DbError, write_transaction};
use crate::domain::identifiers::FieldKind;
use crate::domain::messages;
use crate::domain::task::{IdentifierChoice, IdentifierMode, TaskOptions, TaskStatus};
use crate::engine::csv_file;
use crate::engine::uploads::{
    CopyError, RecordError, Storage, StoredFile, begin_upload, discard_upload, find_upload, mark_stored,
    store_parts,
};
use crate::error::AppError;

/// A request to reject the leads of an uploaded file.
#[derive(Debug, Clone)]
pub struct TaskRequest {
    pub campaign_id: i64,
    pub mode: IdentifierChoice,
    pub identifier_column: String,
    pub reason_column: String,
    pub reject_from: Option<NaiveDate>,
    pub options: TaskOptions,
    /// Set by the form so a repeated submission returns the same task.
    pub request_key: Option<String>,
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
}

impl SubmitError {
    pub(super) fn refused(field: &'static str, message: impl Into<String>) -> Self {
        Self::Refused { field, message: message.into() }
    }
}

impl From<diesel::result::Error> for SubmitError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

impl From<CopyError> for SubmitError {
    fn from(err: CopyError) -> Self {
        match err {
            CopyError::Unreadable(refusal) => Self::refused("file", refusal.to_string()),
            CopyError::Db(e) => Self::Db(e),
        }
    }
}

impl From<RecordError> for SubmitError {
    fn from(err: RecordError) -> Self {
        match err {
            RecordError::Full(full) => Self::refused("file", full.to_string()),
            RecordError::Db(e) => Self::Db(e),
        }
    }
}

impl From<SubmitError> for AppError {
    fn from(err: SubmitError) -> Self {
        match err {
            SubmitError::CampaignNotFound => AppError::invalid("campaign", "Choose one of your campaigns."),
            SubmitError::Refused { field, message } => AppError::invalid(field, message),
            SubmitError::Db(e) => e.into(),
        }
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

/// Runs every check that refuses a whole task, without writing anything.
pub fn validate(
    conn: &mut DbConn,
    user: &UserContext,
    req: &TaskRequest,
    file: &Path,
    today: NaiveDate,
) -> Result<Validated, SubmitError> {
    let (campaign_id, max_days) = scoped_campaign(conn, user, req.campaign_id)?;
    let Some(max_days) = max_days.and_then(|d| u32::try_from(d).ok()) else {
        return Err(SubmitError::refused("campaign", messages::NO_MAXIMUM_REJECTION_TIME));
    };
    let mode = resolve_mode(conn, campaign_id, req.mode)?;
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

/// Campaign `campaign_id` with its maximum rejection days, when `user` may reject its leads: one
/// of the instance's campaigns, and for a client user one of their client's.
fn scoped_campaign(
    conn: &mut DbConn,
    user: &UserContext,
    campaign_id: i64,
) -> Result<(i64, Option<i32>), SubmitError> {
    let mut q = campaigns::table
        .filter(campaigns::id.eq(campaign_id).and(campaigns::instance_id.eq(user.instance_id)))
        .select((campaigns::id, campaigns::max_rejection_days))
        .into_boxed();
    if user.role == Role::ClientUser {
        q = q.filter(campaigns::client_id.eq(user.client_id.unwrap_or(-1)));
    }
    q.first::<(i64, Option<i32>)>(conn).optional()?.ok_or(SubmitError::CampaignNotFound)
}

/// The id of the field whose key is `field_key` on campaign `campaign_id` (the machine API names
/// fields by key). Another client's campaign is "not found", whatever its fields.
pub fn field_by_key(
    conn: &mut DbConn,
    user: &UserContext,
    campaign_id: i64,
    field_key: &str,
) -> Result<i64, SubmitError> {
    let (campaign_id, _) = scoped_campaign(conn, user, campaign_id)?;
    campaign_fields::table
        .filter(campaign_fields::campaign_id.eq(campaign_id).and(campaign_fields::field_key.eq(field_key)))
        .select(campaign_fields::id)
        .first(conn)
        .optional()?
        .ok_or_else(|| {
            SubmitError::refused(
                "identifier",
                format!("This campaign has no field with the key \"{field_key}\"."),
            )
        })
}

/// The chosen identifier, checked against the campaign: a field must be one of its deduped
/// fields (docs/DOMAIN.md §2: only those identify one lead).
fn resolve_mode(
    conn: &mut DbConn,
    campaign_id: i64,
    choice: IdentifierChoice,
) -> Result<IdentifierMode, SubmitError> {
    let field_id = match choice {
        IdentifierChoice::LeadId => return Ok(IdentifierMode::LeadId),
        IdentifierChoice::Uid => return Ok(IdentifierMode::Uid),
        IdentifierChoice::Field(field_id) => field_id,
    };
    let field: Option<(String, String, bool)> = campaign_fields::table
        .filter(campaign_fields::id.eq(field_id).and(campaign_fields::campaign_id.eq(campaign_id)))
        .select((campaign_fields::label, campaign_fields::kind, campaign_fields::dedupe))
        .first(conn)
        .optional()?;
    match field {
        Some((_, kind, true)) => {
            Ok(IdentifierMode::Field { field_id, kind: FieldKind::parse(&kind).unwrap_or(FieldKind::Text) })
        }
        Some((label, _, false)) => Err(SubmitError::refused(
            "field",
            format!(
                "The field \"{label}\" is not deduplicated on this campaign, so it cannot identify a lead. Use Lead IDs instead."
            ),
        )),
        None => Err(SubmitError::refused("field", "Choose one of this campaign's deduplicated fields.")),
    }
}

/// Queues a task on a file the user uploaded earlier, after every check. A repeated
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
    let upload = find_upload(conn, user, upload_id)?
        .ok_or_else(|| SubmitError::refused("file", messages::UPLOAD_GONE))?;
    let path = storage.local_copy(conn, &upload.storage_key)?;
    let v = validate(conn, user, req, &path, now.date())?;
    let result = write_transaction(conn, |conn| insert_task(conn, user, req, &v, upload.id, now));
    // A failed insert may have lost a race with the same request: return the task that won.
    if result.is_err()
        && let Some(existing) = find_by_request_key(conn, user, req.request_key.as_deref())?
    {
        return Ok(existing);
    }
    result
}

/// What came of a file sent to the machine API with an idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// A new task, queued; the file is now its upload.
    Created(i64),
    /// The same key with the same file and settings came before: its task. The new copy of
    /// the file is not needed.
    Repeated(i64),
    /// The key came before with another file or other settings; nothing was created.
    KeyReused,
}

/// A file the API stored for a request, not yet recorded as an upload.
#[derive(Debug, Clone, Copy)]
pub struct ReceivedFile<'a> {
    /// The name shown for it (the request's `name`, or a default).
    pub name: &'a str,
    pub stored: &'a StoredFile,
    pub path: &'a Path,
    /// The instance's storage quota (`Storage::quota_bytes`).
    pub quota_bytes: Option<u64>,
}

/// Queues a task on a file the machine API received, after every check: the file is stored as
/// the user's upload, which becomes usable in the task's transaction. `req.request_key`
/// (required) makes the request idempotent: the same key again returns its task when the file
/// (by SHA-256) and the settings are the same, and [`Submitted::KeyReused`] when they are not —
/// also when two requests race.
pub fn submit_file(
    conn: &mut DbConn,
    user: &UserContext,
    req: &TaskRequest,
    file: ReceivedFile<'_>,
    now: NaiveDateTime,
) -> Result<Submitted, SubmitError> {
    let key = req.request_key.as_deref();
    if let Some(existing) = find_by_request_key(conn, user, key)? {
        return same_request(conn, existing, req, &file.stored.sha256);
    }
    let v = validate(conn, user, req, file.path, now.date())?;
    // The file is stored first, as an upload not yet usable; it becomes usable with its task.
    let upload_id = begin_upload(conn, user, file.name, file.stored, now, file.quota_bytes)?;
    let parts = store_parts(&mut |f| f(conn), upload_id, file.path, file.stored);
    let result = parts.map_err(SubmitError::from).and_then(|()| {
        write_transaction(conn, |conn| {
            mark_stored(conn, upload_id)?;
            insert_task(conn, user, req, &v, upload_id, now)
        })
    });
    if result.is_err()
        && let Err(e) = discard_upload(conn, upload_id)
    {
        tracing::warn!(upload_id, error = %e, "deleting an upload that started no task");
    }
    match result {
        Ok(id) => Ok(Submitted::Created(id)),
        // A failed insert may have lost a race with the same key: answer as for a repeat.
        Err(err) => match find_by_request_key(conn, user, key)? {
            Some(existing) => same_request(conn, existing, req, &file.stored.sha256),
            None => Err(err),
        },
    }
}

/// Whether task `task_id` was created by a request like `req` on a file with digest `sha256`.
fn same_request(
    conn: &mut DbConn,
    task_id: i64,
    req: &TaskRequest,
    sha256: &str,
) -> Result<Submitted, SubmitError> {
    let task = super::row::TaskRow::load(conn, task_id)?;
    let file_sha: String = uploads::table
        .inner_join(rejection_tasks::table)
        .filter(rejection_tasks::id.eq(task_id))
        .select(uploads::sha256)
        .first(conn)?;
    let same = file_sha == sha256
        && task.campaign_id == req.campaign_id
        && task.identifier == req.mode
        && task.identifier_column == req.identifier_column
        && task.reason_column == req.reason_column
        && task.reject_from == req.reject_from
        && task.options() == req.options;
    Ok(if same { Submitted::Repeated(task_id) } else { Submitted::KeyReused })
}

fn insert_task(
    conn: &mut DbConn,
    user: &UserContext,
    req: &TaskRequest,
    v: &Validated,
    upload_id: i64,
    now: NaiveDateTime,
) -> Result<i64, SubmitError> {
    let (mode, field_id) = v.mode.choice().to_stored();
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

fn find_by_request_key(
    conn: &mut DbConn,
    user: &UserContext,
    key: Option<&str>,
) -> Result<Option<i64>, SubmitError> {
    let Some(key) = key else { return Ok(None) };
    Ok(rejection_tasks::table
        .filter(rejection_tasks::request_key.eq(key).and(rejection_tasks::user_id.eq(user.id)))
        // An undo's key answers only undo requests.
        .filter(rejection_tasks::undo_of.is_null())
        .select(rejection_tasks::id)
        .first(conn)
        .optional()?)
}

/// A field's label and kind (`email`, `phone`, `text`), for guessing its column.
pub fn field_label_and_kind(
    conn: &mut DbConn,
    field_id: i64,
) -> Result<Option<(String, String)>, SubmitError> {
    Ok(campaign_fields::table
        .find(field_id)
        .select((campaign_fields::label, campaign_fields::kind))
        .first(conn)
        .optional()?)
}
