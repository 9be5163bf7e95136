//! Starting a lead import: every check that can be made before a row is imported (the upload is
//! the user's, the campaign and supplier are the instance's and the supplier may send to the
//! campaign, the file reads as CSV, the columns map to fields), then one queued row. Also the
//! preview, which runs the same row checks over the start of the file and writes nothing.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::run::{Decided, decide_batch, load_fields};
use crate::db::audit::{self, Actor, Entry};
use crate::db::schema::{campaigns, lead_imports, supplier_campaigns, suppliers};
use crate::db::users::UserContext;
use crate::db::{DbConn, DbError, write_transaction};
use crate::domain::intake::FieldDef;
use crate::domain::lead_import::{ImportForm, ImportPreview, Layout, plan_row};
use crate::domain::messages::UPLOAD_GONE;
use crate::engine::csv_file::{self, FileShape, RowReader};
use crate::engine::uploads::{CopyError, Storage, UploadRef, find_upload};
use crate::error::AppError;

/// Rows the preview reads (it says when the file has more).
pub const PREVIEW_MAX_ROWS: usize = 200_000;

/// Why an import was not started.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{message}")]
    Refused { field: &'static str, message: String },
    #[error(transparent)]
    Db(#[from] DbError),
}

impl ImportError {
    fn refused(field: &'static str, message: impl Into<String>) -> Self {
        Self::Refused { field, message: message.into() }
    }
}

impl From<CopyError> for ImportError {
    fn from(err: CopyError) -> Self {
        match err {
            CopyError::Unreadable(refusal) => Self::refused("file", refusal.to_string()),
            CopyError::Db(e) => Self::Db(e),
        }
    }
}

impl From<diesel::result::Error> for ImportError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

impl From<ImportError> for AppError {
    fn from(err: ImportError) -> Self {
        match err {
            ImportError::Refused { field, message } => AppError::invalid(field, message),
            ImportError::Db(e) => e.into(),
        }
    }
}

/// What a valid form resolves to.
pub(super) struct Checked {
    pub campaign_id: i64,
    pub campaign_name: String,
    pub supplier_id: i64,
    pub fields: Vec<FieldDef>,
    pub layout: Layout,
    pub shape: FileShape,
    pub upload: UploadRef,
    /// This server's copy of the file.
    pub path: std::path::PathBuf,
}

fn check(
    conn: &mut DbConn,
    storage: &Storage,
    user: &UserContext,
    form: &ImportForm,
) -> Result<Checked, ImportError> {
    let upload =
        find_upload(conn, user, form.upload_id)?.ok_or_else(|| ImportError::refused("file", UPLOAD_GONE))?;
    let campaign_id =
        form.campaign_id.ok_or_else(|| ImportError::refused("campaign", "Choose the campaign."))?;
    let campaign_name: String = campaigns::table
        .filter(campaigns::id.eq(campaign_id).and(campaigns::instance_id.eq(user.instance_id)))
        .select(campaigns::name)
        .first(conn)
        .optional()?
        .ok_or_else(|| ImportError::refused("campaign", "Choose one of the instance's campaigns."))?;
    let supplier_id = form
        .supplier_id
        .ok_or_else(|| ImportError::refused("supplier", "Choose the supplier the leads came from."))?;
    let supplier_name: String = suppliers::table
        .filter(suppliers::id.eq(supplier_id).and(suppliers::instance_id.eq(user.instance_id)))
        .select(suppliers::name)
        .first(conn)
        .optional()?
        .ok_or_else(|| ImportError::refused("supplier", "Choose one of the instance's suppliers."))?;
    let allowed: i64 = supplier_campaigns::table
        .filter(
            supplier_campaigns::supplier_id
                .eq(supplier_id)
                .and(supplier_campaigns::campaign_id.eq(campaign_id)),
        )
        .count()
        .get_result(conn)?;
    if allowed == 0 {
        return Err(ImportError::refused(
            "supplier",
            format!(
                "{supplier_name} does not send leads to {campaign_name}. Tick the campaign for this supplier on the Suppliers page first."
            ),
        ));
    }
    let path = storage.local_copy(conn, &upload.storage_key)?;
    let shape = csv_file::inspect(&path).map_err(|r| ImportError::refused("file", r.to_string()))?;
    if form.columns.len() != shape.headers.len() {
        return Err(ImportError::refused(
            "columns",
            format!("The file has {} columns; choose what each one is.", shape.headers.len()),
        ));
    }
    let fields = load_fields(conn, campaign_id)?;
    let layout = Layout::new(&fields, &form.columns).map_err(|m| ImportError::refused("columns", m))?;
    Ok(Checked { campaign_id, campaign_name, supplier_id, fields, layout, shape, upload, path })
}

/// Queues the import of `form`'s upload for `user` (owner staff: the caller checks); returns its
/// id. One upload starts one import: starting it again returns the same import.
pub fn submit(
    conn: &mut DbConn,
    storage: &Storage,
    user: &UserContext,
    form: &ImportForm,
    now: NaiveDateTime,
) -> Result<i64, ImportError> {
    let checked = check(conn, storage, user, form)?;
    let field_columns = serde_json::to_string(&checked.layout.field_columns(&checked.fields))
        .map_err(|e| DbError::Inconsistent(e.to_string()))?;
    let queued = queue(conn, user, form, &checked, &field_columns, now);
    match queued {
        // Two starts of one upload at once (PostgreSQL): the other one queued it.
        Err(ImportError::Db(DbError::Query(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )))) => Ok(lead_imports::table
            .filter(lead_imports::upload_id.eq(checked.upload.id))
            .select(lead_imports::id)
            .first(conn)?),
        other => other,
    }
}

fn queue(
    conn: &mut DbConn,
    user: &UserContext,
    form: &ImportForm,
    checked: &Checked,
    field_columns: &str,
    now: NaiveDateTime,
) -> Result<i64, ImportError> {
    write_transaction(conn, |conn| {
        let existing: Option<i64> = lead_imports::table
            .filter(lead_imports::upload_id.eq(checked.upload.id))
            .select(lead_imports::id)
            .first(conn)
            .optional()?;
        if let Some(id) = existing {
            return Ok(id);
        }
        let to_i64 = |v: Option<usize>| v.map(|c| i64::try_from(c).unwrap_or(i64::MAX));
        let id: i64 = diesel::insert_into(lead_imports::table)
            .values((
                lead_imports::instance_id.eq(user.instance_id),
                lead_imports::campaign_id.eq(checked.campaign_id),
                lead_imports::supplier_id.eq(checked.supplier_id),
                lead_imports::user_id.eq(user.id),
                lead_imports::upload_id.eq(checked.upload.id),
                lead_imports::field_columns.eq(field_columns),
                lead_imports::received_at_column.eq(to_i64(checked.layout.received_at)),
                lead_imports::status_column.eq(to_i64(checked.layout.status)),
                lead_imports::reason_column.eq(to_i64(checked.layout.reason)),
                lead_imports::apply_caps.eq(form.apply_caps),
                lead_imports::delimiter.eq((checked.shape.delimiter as char).to_string()),
                lead_imports::status.eq("queued"),
                lead_imports::cursor_offset.eq(i64::try_from(checked.shape.data_offset).unwrap_or(i64::MAX)),
                lead_imports::cursor_line.eq(i64::try_from(checked.shape.data_line).unwrap_or(i64::MAX)),
                lead_imports::created_at.eq(now),
            ))
            .returning(lead_imports::id)
            .get_result(conn)?;
        audit::record(
            conn,
            Actor::from(user),
            &Entry {
                action: "lead_import.start",
                subject: &format!("lead import {id}"),
                detail: &format!(
                    "Import of leads into {}{}",
                    checked.campaign_name,
                    if form.apply_caps { ", taking cap units" } else { "" }
                ),
                campaign_id: Some(checked.campaign_id),
            },
            now,
        )?;
        Ok(id)
    })
}

/// What the import would do with the first [`PREVIEW_MAX_ROWS`] rows, writing nothing. Caps are
/// not counted (they depend on the leads arriving meanwhile).
pub fn preview(
    conn: &mut DbConn,
    storage: &Storage,
    user: &UserContext,
    form: &ImportForm,
    now: NaiveDateTime,
) -> Result<ImportPreview, ImportError> {
    preview_with_progress(conn, storage, user, form, now, &mut |_, _| Ok(()))
}

/// Called after each batch with the connection and the rows read so far; an error stops the
/// preview (a background preview: cancelled, or its worker stopping) and is returned.
pub type ImportPreviewProgress<'a> = dyn FnMut(&mut DbConn, i64) -> Result<(), ImportError> + 'a;

/// [`preview`], calling `progress` after every batch of rows.
pub fn preview_with_progress(
    conn: &mut DbConn,
    storage: &Storage,
    user: &UserContext,
    form: &ImportForm,
    now: NaiveDateTime,
    progress: &mut ImportPreviewProgress<'_>,
) -> Result<ImportPreview, ImportError> {
    let checked = check(conn, storage, user, form)?;
    let unreadable = |r: csv_file::FileRefusal| ImportError::refused("file", r.to_string());
    let mut reader = RowReader::open(
        &checked.path,
        checked.shape.delimiter,
        checked.shape.data_offset,
        checked.shape.data_line,
    )
    .map_err(unreadable)?;
    let mut result = ImportPreview::default();
    let mut statuses: HashMap<crate::domain::status::LeadStatus, i64> = HashMap::new();
    let mut reasons: HashMap<String, i64> = HashMap::new();
    let mut seen = HashMap::new();
    loop {
        let mut batch = Vec::new();
        while batch.len() < super::DEFAULT_BATCH_ROWS
            && result.rows + (batch.len() as i64) < PREVIEW_MAX_ROWS as i64
        {
            let Some(row) = reader.next_row().map_err(unreadable)? else { break };
            let planned = plan_row(&checked.fields, &checked.layout, |i| row.text(i), now);
            batch.push((row.line, planned));
        }
        if batch.is_empty() {
            break;
        }
        result.rows += batch.len() as i64;
        for decided in decide_batch(conn, checked.campaign_id, &checked.fields, batch, &mut seen)? {
            match decided {
                Decided::Lead { lead, .. } => *statuses.entry(lead.status).or_default() += 1,
                Decided::Refused { message, .. } => *reasons.entry(reason_kind(&message)).or_default() += 1,
            }
        }
        progress(conn, result.rows)?;
        if result.rows >= PREVIEW_MAX_ROWS as i64 {
            result.more_rows = reader.next_row().map_err(unreadable)?.is_some();
            break;
        }
    }
    result.would_create = statuses.values().sum();
    result.refused = reasons.values().sum();
    result.statuses = sorted(statuses);
    result.reasons = sorted(reasons);
    result.reasons.truncate(8);
    Ok(result)
}

/// A refusal's kind, for counting: the message up to its first colon or parenthesis
/// ("Duplicate Email", "Invalid Phone", "Received at …").
fn reason_kind(message: &str) -> String {
    let cut = message.find([':', '(']).unwrap_or(message.len());
    message[..cut].trim().to_owned()
}

fn sorted<K: Ord>(counts: HashMap<K, i64>) -> Vec<(K, i64)> {
    let mut v: Vec<(K, i64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

#[cfg(test)]
mod tests {
    use super::reason_kind;

    #[test]
    fn refusals_are_counted_by_kind() {
        assert_eq!(reason_kind("Duplicate Email (lead 12)"), "Duplicate Email");
        assert_eq!(
            reason_kind("Invalid Phone: the value is not one a lead can be received with."),
            "Invalid Phone"
        );
        assert_eq!(reason_kind("The row has no value in any field."), "The row has no value in any field.");
    }
}
