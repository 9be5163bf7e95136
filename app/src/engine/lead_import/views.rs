//! Lead imports as pages show them (owner staff of the instance only), and the results file.

use std::io::Write;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::RESULTS_HEADER;
use crate::db::schema::{
    campaign_fields, campaigns, clients, lead_import_chunks, lead_imports, supplier_campaigns, suppliers,
    uploads, users,
};
use crate::db::users::Role;
use crate::db::users::UserContext;
use crate::db::{DbConn, DbError};
use crate::domain::lead_import::{ImportCampaign, ImportField, ImportSummary, ImportView};
use crate::domain::task::TaskStatus;
use crate::engine::compact;

/// Imports listed on the import page.
pub const RECENT_IMPORTS: i64 = 20;

fn stamp(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

fn status_of(stored: &str) -> Result<TaskStatus, DbError> {
    TaskStatus::parse(stored).ok_or_else(|| DbError::Inconsistent(format!("lead import status {stored:?}")))
}

/// Whether `user` may see import `import_id`: owner staff of its instance.
pub fn may_see(conn: &mut DbConn, user: &UserContext, import_id: i64) -> Result<bool, DbError> {
    if user.role != Role::OwnerStaff {
        return Ok(false);
    }
    let found: i64 = lead_imports::table
        .filter(lead_imports::id.eq(import_id).and(lead_imports::instance_id.eq(user.instance_id)))
        .count()
        .get_result(conn)?;
    Ok(found == 1)
}

type ViewRow = (
    i64,
    String,
    String,
    String,
    String,
    NaiveDateTime,
    Option<NaiveDateTime>,
    String,
    Option<String>,
    Option<i64>,
    i64,
    i64,
    i64,
    bool,
);

/// The import page's data, or `None` when `user` may not see it.
pub fn import_view(
    conn: &mut DbConn,
    user: &UserContext,
    import_id: i64,
) -> Result<Option<ImportView>, DbError> {
    if user.role != Role::OwnerStaff {
        return Ok(None);
    }
    let row: Option<ViewRow> = lead_imports::table
        .inner_join(uploads::table)
        .inner_join(campaigns::table)
        .inner_join(suppliers::table)
        .inner_join(users::table.on(users::id.eq(lead_imports::user_id)))
        .filter(lead_imports::id.eq(import_id).and(lead_imports::instance_id.eq(user.instance_id)))
        .select((
            lead_imports::id,
            uploads::original_name,
            campaigns::name,
            suppliers::name,
            users::name,
            lead_imports::created_at,
            lead_imports::finished_at,
            lead_imports::status,
            lead_imports::failure_reason,
            lead_imports::rows_total,
            lead_imports::rows_done,
            lead_imports::leads_created,
            lead_imports::rows_refused,
            lead_imports::apply_caps,
        ))
        .first(conn)
        .optional()?;
    let Some((
        id,
        file_name,
        campaign,
        supplier,
        started_by,
        created,
        finished,
        status,
        failure,
        total,
        done,
        created_n,
        refused,
        caps,
    )) = row
    else {
        return Ok(None);
    };
    Ok(Some(ImportView {
        id,
        file_name,
        campaign,
        supplier,
        started_by,
        created_at: stamp(created),
        finished_at: finished.map(stamp),
        status: status_of(&status)?,
        failure_reason: failure,
        rows_total: total,
        rows_done: done,
        leads_created: created_n,
        rows_refused: refused,
        apply_caps: caps,
    }))
}

type SummaryRow = (i64, String, String, String, NaiveDateTime, String, i64, i64, i64);

/// The instance's latest imports, newest first (owner staff only).
pub fn recent_imports(conn: &mut DbConn, user: &UserContext) -> Result<Vec<ImportSummary>, DbError> {
    if user.role != Role::OwnerStaff {
        return Ok(Vec::new());
    }
    let rows: Vec<SummaryRow> = lead_imports::table
        .inner_join(uploads::table)
        .inner_join(campaigns::table)
        .inner_join(suppliers::table)
        .filter(lead_imports::instance_id.eq(user.instance_id))
        .order((lead_imports::created_at.desc(), lead_imports::id.desc()))
        .limit(RECENT_IMPORTS)
        .select((
            lead_imports::id,
            uploads::original_name,
            campaigns::name,
            suppliers::name,
            lead_imports::created_at,
            lead_imports::status,
            lead_imports::rows_done,
            lead_imports::leads_created,
            lead_imports::rows_refused,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(
            |(id, file_name, campaign, supplier, created, status, rows_done, leads_created, rows_refused)| {
                Ok(ImportSummary {
                    id,
                    file_name,
                    campaign,
                    supplier,
                    created_at: stamp(created),
                    status: status_of(&status)?,
                    rows_done,
                    leads_created,
                    rows_refused,
                })
            },
        )
        .collect()
}

/// Writes an import's results file: the header, then every committed batch's records in file
/// order (one chunk in memory at a time).
pub fn write_results_csv(conn: &mut DbConn, import_id: i64, mut out: impl Write) -> Result<(), DbError> {
    let failed = |source| DbError::File { what: "writing the results file", source };
    out.write_all(RESULTS_HEADER.as_bytes()).map_err(failed)?;
    let mut after = -1_i64;
    while let Some((chunk, body)) = next_results_part(conn, import_id, after)? {
        out.write_all(&body).map_err(failed)?;
        after = chunk;
    }
    out.flush().map_err(failed)?;
    Ok(())
}

/// The part of an import's results file (a committed batch's records) after part `after`
/// (start with -1): its number and its CSV records, or `None` past the last. The one reader of
/// stored parts (compressed, or text stored before compression).
pub fn next_results_part(
    conn: &mut DbConn,
    import_id: i64,
    after: i64,
) -> Result<Option<(i64, Vec<u8>)>, DbError> {
    let part: Option<(i64, String, Option<Vec<u8>>)> = lead_import_chunks::table
        .filter(lead_import_chunks::import_id.eq(import_id).and(lead_import_chunks::chunk.gt(after)))
        .order(lead_import_chunks::chunk)
        .select((lead_import_chunks::chunk, lead_import_chunks::body, lead_import_chunks::packed))
        .first(conn)
        .optional()?;
    part.map(|(chunk, body, packed)| Ok((chunk, compact::unpack(body, packed)?))).transpose()
}

/// Suppliers as (id, name).
type Suppliers = Vec<(i64, String)>;

/// The instance's campaigns with their fields and suppliers, and its suppliers, for the import
/// form (owner staff only: the caller checks).
pub fn import_setup(
    conn: &mut DbConn,
    user: &UserContext,
) -> Result<(Vec<ImportCampaign>, Suppliers), DbError> {
    let rows: Vec<(i64, String, String)> = campaigns::table
        .inner_join(clients::table)
        .filter(campaigns::instance_id.eq(user.instance_id))
        .order((clients::name, campaigns::name, campaigns::id))
        .select((campaigns::id, campaigns::name, clients::name))
        .load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let fields: Vec<(i64, i64, String, String, bool)> = campaign_fields::table
        .filter(campaign_fields::campaign_id.eq_any(&ids))
        .order((campaign_fields::position, campaign_fields::id))
        .select((
            campaign_fields::campaign_id,
            campaign_fields::id,
            campaign_fields::field_key,
            campaign_fields::label,
            campaign_fields::dedupe,
        ))
        .load(conn)?;
    let links: Vec<(i64, i64)> = supplier_campaigns::table
        .filter(supplier_campaigns::campaign_id.eq_any(&ids))
        .select((supplier_campaigns::campaign_id, supplier_campaigns::supplier_id))
        .load(conn)?;
    let campaigns = rows
        .into_iter()
        .map(|(id, name, client)| ImportCampaign {
            id,
            name,
            client,
            fields: fields
                .iter()
                .filter(|f| f.0 == id)
                .map(|f| ImportField { id: f.1, key: f.2.clone(), label: f.3.clone(), dedupe: f.4 })
                .collect(),
            supplier_ids: links.iter().filter(|l| l.0 == id).map(|l| l.1).collect(),
        })
        .collect();
    let suppliers: Vec<(i64, String)> = suppliers::table
        .filter(suppliers::instance_id.eq(user.instance_id))
        .order((suppliers::name, suppliers::id))
        .select((suppliers::id, suppliers::name))
        .load(conn)?;
    Ok((campaigns, suppliers))
}
