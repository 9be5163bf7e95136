//! Running a lead import: the claim (the oldest queued import, or a running one whose worker
//! stopped beating), then the file in file order, in batches. Each batch is one transaction: the
//! claim is checked, its rows are decided (dedupe against the campaign and within the batch; rows
//! before it are already leads, so "within the file" needs no memory of earlier batches), caps are
//! taken when asked, the leads, their values and first history rows are inserted, the rows'
//! results are stored as one chunk and the cursor moves past the batch. A stop between batches
//! (crash, shutdown) loses nothing and repeats nothing.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

use super::{DEFAULT_BATCH_ROWS, history_reason};
use crate::clock::Clock;
use crate::db::intake::{CAP_REACHED, campaign_lead_lock, take_cap_units};
use crate::db::schema::{lead_import_chunks, lead_imports, lead_status_history, lead_values, leads, uploads};
use crate::db::{DbConn, DbError, write_transaction};
use crate::domain::intake::FieldDef;
use crate::domain::lead_import::{Layout, PlannedLead, plan_row};
use crate::domain::status::LeadStatus;
use crate::engine::compact;
use crate::engine::csv_file::{FileRefusal, RowReader};
use crate::engine::lease::{self, Job};
use crate::engine::task::{RunEnd, spreadsheet_safe};
use crate::engine::uploads::{CopyError, Storage};

pub(super) use crate::db::intake::load_fields;

/// Why an import fails when a field it fills is gone.
const FIELD_REMOVED: &str = "A field the import fills was removed from the campaign.";

/// A new lead's UID: 32 hex digits, the time in milliseconds then 80 random bits. Unguessable
/// like intake's, but UIDs made together sort together, so a batch adds them at one end of the
/// UID index instead of all over it.
fn time_ordered_uid(now: NaiveDateTime) -> String {
    let millis = u64::try_from(now.and_utc().timestamp_millis()).unwrap_or(0) & 0xffff_ffff_ffff;
    let random = rand::random::<u128>() & ((1_u128 << 80) - 1);
    format!("{millis:012x}{random:020x}")
}

/// Runs `f` with SQLite's foreign-key checks off (a batch inserts tens of thousands of rows whose
/// references were checked when the import started and at the start of the batch: the campaign,
/// supplier, instance and user are never deleted, the fields are checked in the batch's
/// transaction, and the lead ids are the batch's own). Checks are back on afterwards, whatever
/// `f` returned. PostgreSQL checks as always.
fn without_foreign_key_checks<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, DbError>,
) -> Result<T, DbError> {
    use diesel::connection::SimpleConnection as _;
    if let DbConn::Pg(_) = conn {
        return f(conn);
    }
    conn.batch_execute("PRAGMA foreign_keys = OFF")?;
    let result = f(conn);
    let restored = conn.batch_execute("PRAGMA foreign_keys = ON");
    let value = result?;
    restored?;
    Ok(value)
}

/// Whether every field the import fills is still a field (inside the batch's transaction).
fn fields_remain(conn: &mut DbConn, fields: &[FieldDef], layout: &Layout) -> Result<bool, DbError> {
    use crate::db::schema::campaign_fields;
    let ids: Vec<i64> = layout.fields.iter().map(|(_, f)| fields[*f].id).collect();
    let found: i64 =
        campaign_fields::table.filter(campaign_fields::id.eq_any(&ids)).count().get_result(conn)?;
    Ok(usize::try_from(found).ok() == Some(ids.len()))
}

/// Rows per multi-row INSERT: under SQLite's and PostgreSQL's bound-parameter limits.
const INSERT_CHUNK: usize = 1000;
/// Deduplicated values looked up per query.
const LOOKUP_CHUNK: usize = 500;

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Atomically claims the oldest runnable import: queued, or running with no heartbeat for
/// `stale_after`.
pub fn claim_next(
    conn: &mut DbConn,
    worker_id: &str,
    now: NaiveDateTime,
    stale_after: chrono::TimeDelta,
) -> Result<Option<i64>, DbError> {
    let lock = match conn {
        DbConn::Pg(_) => "FOR UPDATE SKIP LOCKED",
        DbConn::Sqlite(_) => "",
    };
    let sql = format!(
        "UPDATE lead_imports SET status = 'running', claimed_by = $1, heartbeat_at = $2, \
           started_at = COALESCE(started_at, $2) \
         WHERE id = (SELECT i.id FROM lead_imports i \
           WHERE i.status = 'queued' OR (i.status = 'running' AND i.heartbeat_at < $3) \
           ORDER BY CASE WHEN i.status = 'running' THEN 0 ELSE 1 END, i.created_at, i.id LIMIT 1 {lock}) \
         RETURNING id"
    );
    let claimed = write_transaction(conn, |conn| {
        diesel::sql_query(&sql)
            .bind::<Text, _>(worker_id)
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(now - stale_after)
            .get_result::<Id>(conn)
            .optional()
    })?;
    Ok(claimed.map(|r| r.id))
}

/// Inside a write transaction: whether `worker_id` still holds the import (its heartbeat is
/// renewed and, on PostgreSQL, its row locked until the commit).
fn holds_claim(
    conn: &mut DbConn,
    import_id: i64,
    worker_id: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    Ok(lease::renew(conn, Job::LeadImport, import_id, worker_id, now)?)
}

/// An import as the runner needs it.
#[derive(Debug, Queryable)]
struct ImportRow {
    id: i64,
    instance_id: i64,
    campaign_id: i64,
    supplier_id: i64,
    user_id: i64,
    storage_key: String,
    field_columns: String,
    received_at_column: Option<i64>,
    status_column: Option<i64>,
    reason_column: Option<i64>,
    apply_caps: bool,
    delimiter: String,
    rows_total: Option<i64>,
    cursor_offset: i64,
    cursor_line: i64,
    chunks: i64,
}

fn load(conn: &mut DbConn, import_id: i64) -> Result<ImportRow, DbError> {
    Ok(lead_imports::table
        .inner_join(uploads::table)
        .filter(lead_imports::id.eq(import_id))
        .select((
            lead_imports::id,
            lead_imports::instance_id,
            lead_imports::campaign_id,
            lead_imports::supplier_id,
            lead_imports::user_id,
            uploads::storage_key,
            lead_imports::field_columns,
            lead_imports::received_at_column,
            lead_imports::status_column,
            lead_imports::reason_column,
            lead_imports::apply_caps,
            lead_imports::delimiter,
            lead_imports::rows_total,
            lead_imports::cursor_offset,
            lead_imports::cursor_line,
            lead_imports::chunks,
        ))
        .first(conn)?)
}

/// How a row ended: a lead to insert, or refused with a message.
pub(super) enum Decided {
    Lead { line: u64, lead: PlannedLead },
    Refused { line: u64, message: String },
}

/// Decides a batch's rows against the campaign's leads and `seen` (the deduplicated values of
/// rows decided before in this run of `decide_batch`, with their lines): a row holding a
/// deduplicated value another lead or an earlier row holds is refused. Reads only.
pub(super) fn decide_batch(
    conn: &mut DbConn,
    campaign_id: i64,
    fields: &[FieldDef],
    rows: Vec<(u64, Result<PlannedLead, String>)>,
    seen: &mut HashMap<(i64, String), u64>,
) -> Result<Vec<Decided>, DbError> {
    let _ = campaign_id; // field ids belong to one campaign: the values' index is enough
    let mut wanted: HashMap<i64, HashSet<&str>> = HashMap::new();
    for (_, planned) in &rows {
        if let Ok(lead) = planned
            && lead.holds_values()
        {
            for v in &lead.values {
                if fields[v.field].dedupe
                    && let Some(n) = v.normalized.as_deref().filter(|n| !n.is_empty())
                {
                    wanted.entry(fields[v.field].id).or_default().insert(n);
                }
            }
        }
    }
    let mut taken: HashMap<(i64, String), i64> = HashMap::new();
    for (field_id, values) in wanted {
        let values: Vec<&str> = values.into_iter().collect();
        for chunk in values.chunks(LOOKUP_CHUNK) {
            let found: Vec<(String, i64)> = lead_values::table
                .filter(lead_values::field_id.eq(field_id).and(lead_values::normalized.eq_any(chunk)))
                .select((lead_values::normalized, lead_values::lead_id))
                .load(conn)?;
            for (value, lead_id) in found {
                taken.entry((field_id, value)).or_insert(lead_id);
            }
        }
    }
    let mut decided = Vec::with_capacity(rows.len());
    for (line, planned) in rows {
        let lead = match planned {
            Ok(lead) => lead,
            Err(message) => {
                decided.push(Decided::Refused { line, message });
                continue;
            }
        };
        let mut duplicate = None;
        if lead.holds_values() {
            for v in &lead.values {
                let field = &fields[v.field];
                let (true, Some(n)) = (field.dedupe, v.normalized.as_deref().filter(|n| !n.is_empty()))
                else {
                    continue;
                };
                let key = (field.id, n.to_owned());
                if let Some(lead_id) = taken.get(&key) {
                    duplicate = Some(format!("Duplicate {} (lead {lead_id})", field.label));
                } else if let Some(earlier) = seen.get(&key) {
                    duplicate = Some(format!("Duplicate {} (line {earlier})", field.label));
                }
                if duplicate.is_some() {
                    break;
                }
            }
        }
        match duplicate {
            Some(message) => decided.push(Decided::Refused { line, message }),
            None => {
                if lead.holds_values() {
                    for v in &lead.values {
                        let field = &fields[v.field];
                        if let (true, Some(n)) =
                            (field.dedupe, v.normalized.as_deref().filter(|n| !n.is_empty()))
                        {
                            seen.insert((field.id, n.to_owned()), line);
                        }
                    }
                }
                decided.push(Decided::Lead { line, lead });
            }
        }
    }
    Ok(decided)
}

#[derive(Insertable)]
#[diesel(table_name = leads)]
struct NewLead<'a> {
    id: i64,
    instance_id: i64,
    campaign_id: i64,
    supplier_id: i64,
    uid: &'a str,
    received_at: NaiveDateTime,
    status: &'static str,
    status_reason: Option<&'a str>,
    cap_released: bool,
    updated_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = lead_values)]
struct NewValue<'a> {
    lead_id: i64,
    field_id: i64,
    value: &'a str,
    normalized: &'a str,
}

#[derive(Insertable)]
#[diesel(table_name = lead_status_history)]
struct NewHistory<'a> {
    lead_id: i64,
    to_status: &'static str,
    reason: &'a str,
    source: &'static str,
    actor_user_id: Option<i64>,
    changed_at: NaiveDateTime,
}

/// `n` fresh lead ids. Inside the batch's write transaction: on SQLite writers run one at a time,
/// so the ids after the largest are free; on PostgreSQL they come from the identity's sequence.
fn new_lead_ids(conn: &mut DbConn, n: usize) -> Result<Vec<i64>, DbError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    match conn {
        DbConn::Pg(_) => Ok(diesel::sql_query(
            "SELECT nextval(pg_get_serial_sequence('leads', 'id')) AS id FROM generate_series(1, $1)",
        )
        .bind::<BigInt, _>(i64::try_from(n).unwrap_or(i64::MAX))
        .load::<Id>(conn)?
        .into_iter()
        .map(|r| r.id)
        .collect()),
        DbConn::Sqlite(_) => {
            let max: Option<i64> = leads::table.select(diesel::dsl::max(leads::id)).first(conn)?;
            let first = max.unwrap_or(0) + 1;
            Ok((first..first + i64::try_from(n).unwrap_or(i64::MAX)).collect())
        }
    }
}

/// Runs imports: a worker's view of one import at a time.
pub struct ImportRunner<'a> {
    pub storage: &'a Storage,
    pub worker_id: &'a str,
    pub clock: &'a dyn Clock,
    pub batch_rows: usize,
    /// Set on shutdown: the import stops between batches and is handed back.
    pub stop: Option<&'a AtomicBool>,
    /// Set by the run's heartbeat when another worker has taken the import over.
    pub lost: Option<&'a AtomicBool>,
}

impl ImportRunner<'_> {
    pub fn new<'a>(storage: &'a Storage, worker_id: &'a str, clock: &'a dyn Clock) -> ImportRunner<'a> {
        ImportRunner { storage, worker_id, clock, batch_rows: DEFAULT_BATCH_ROWS, stop: None, lost: None }
    }

    /// Runs the claimed import `import_id` to its end, or until `max_batches` batches committed
    /// (as a crash would leave it), a shutdown, or a lost claim.
    pub fn run(
        &self,
        conn: &mut DbConn,
        import_id: i64,
        max_batches: Option<usize>,
    ) -> Result<RunEnd, DbError> {
        let import = load(conn, import_id)?;
        let path = match self.storage.local_copy(conn, &import.storage_key) {
            Ok(path) => path,
            Err(CopyError::Unreadable(refusal)) => return self.fail(conn, import_id, &refusal.to_string()),
            Err(CopyError::Db(e)) => return Err(e),
        };
        let delimiter = import.delimiter.bytes().next().unwrap_or(b',');
        let fields = load_fields(conn, import.campaign_id)?;
        let field_columns: Vec<(usize, i64)> = serde_json::from_str(&import.field_columns)
            .map_err(|e| DbError::Inconsistent(format!("lead import {import_id} columns: {e}")))?;
        let mut layout = Layout {
            fields: Vec::new(),
            received_at: import.received_at_column.and_then(|c| usize::try_from(c).ok()),
            status: import.status_column.and_then(|c| usize::try_from(c).ok()),
            reason: import.reason_column.and_then(|c| usize::try_from(c).ok()),
        };
        for (column, field_id) in field_columns {
            match fields.iter().position(|f| f.id == field_id) {
                Some(field) => layout.fields.push((column, field)),
                None => {
                    return self.fail(
                        conn,
                        import_id,
                        "A field the import fills was removed from the campaign.",
                    );
                }
            }
        }
        if import.rows_total.is_none() {
            match count_rows(&path, delimiter, import.cursor_offset, import.cursor_line) {
                Ok(total) => {
                    diesel::update(
                        lead_imports::table
                            .find(import_id)
                            .filter(lead_imports::claimed_by.eq(self.worker_id))
                            .filter(lead_imports::status.eq("running")),
                    )
                    .set((
                        lead_imports::rows_total.eq(Some(total)),
                        lead_imports::heartbeat_at.eq(Some(self.clock.now())),
                    ))
                    .execute(conn)?;
                }
                Err(refusal) => return self.fail(conn, import_id, &refusal.to_string()),
            }
        }
        let offset = u64::try_from(import.cursor_offset).unwrap_or(0);
        let line = u64::try_from(import.cursor_line).unwrap_or(1);
        let mut reader = match RowReader::open(&path, delimiter, offset, line) {
            Ok(reader) => reader,
            Err(refusal) => return self.fail(conn, import_id, &refusal.to_string()),
        };
        let mut chunk = import.chunks;
        let mut batches = 0_usize;
        loop {
            if max_batches.is_some_and(|m| batches >= m) {
                return Ok(RunEnd::Stopped);
            }
            if self.lost.is_some_and(|l| l.load(Ordering::Relaxed)) {
                return Ok(RunEnd::Stopped);
            }
            if self.stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                self.release(conn, import_id)?;
                return Ok(RunEnd::Stopped);
            }
            let now = self.clock.now();
            let mut rows = Vec::with_capacity(self.batch_rows.min(DEFAULT_BATCH_ROWS));
            let mut cursor = None;
            while rows.len() < self.batch_rows.max(1) {
                let row = match reader.next_row() {
                    Ok(Some(row)) => row,
                    Ok(None) => break,
                    Err(refusal) => return self.fail(conn, import_id, &refusal.to_string()),
                };
                rows.push((row.line, plan_row(&fields, &layout, |i| row.text(i), now)));
                cursor = Some((row.next_offset, row.next_line));
            }
            let Some((next_offset, next_line)) = cursor else {
                return self.complete(conn, import_id);
            };
            let held = without_foreign_key_checks(conn, |conn| {
                write_transaction(conn, |conn| {
                    if !holds_claim(conn, import_id, self.worker_id, now)? {
                        return Ok::<_, DbError>(false);
                    }
                    if !fields_remain(conn, &fields, &layout)? {
                        return Err(DbError::Inconsistent(FIELD_REMOVED.to_owned()));
                    }
                    self.apply(conn, &import, &fields, rows, chunk, (next_offset, next_line), now)?;
                    Ok(true)
                })
            });
            let held = match held {
                Err(DbError::Inconsistent(reason)) if reason == FIELD_REMOVED => {
                    return self.fail(conn, import_id, FIELD_REMOVED);
                }
                other => other?,
            };
            if !held {
                tracing::warn!(
                    import_id,
                    worker = self.worker_id,
                    "lead import taken over by another worker"
                );
                return Ok(RunEnd::Stopped);
            }
            chunk += 1;
            batches += 1;
        }
    }

    /// One batch, inside its transaction.
    #[allow(clippy::too_many_arguments)]
    fn apply(
        &self,
        conn: &mut DbConn,
        import: &ImportRow,
        fields: &[FieldDef],
        rows: Vec<(u64, Result<PlannedLead, String>)>,
        chunk: i64,
        (next_offset, next_line): (u64, u64),
        now: NaiveDateTime,
    ) -> Result<(), DbError> {
        if let DbConn::Pg(_) = conn {
            // Intake holds it shared: no posted lead decides its dedupe while the batch does.
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<BigInt, _>(campaign_lead_lock(import.campaign_id))
                .execute(conn)?;
        }
        let n_rows = rows.len();
        let mut decided = decide_batch(conn, import.campaign_id, fields, rows, &mut HashMap::new())?;
        // Caps, when asked: a Received lead takes a unit of each cap for the period it was
        // received in, or waits in Quarantine.
        let mut took_units = vec![false; decided.len()];
        if import.apply_caps {
            for (i, d) in decided.iter_mut().enumerate() {
                if let Decided::Lead { lead, .. } = d
                    && lead.status == LeadStatus::Received
                {
                    if take_cap_units(conn, import.campaign_id, import.supplier_id, lead.received_at)? {
                        took_units[i] = true;
                    } else {
                        lead.status = LeadStatus::Quarantine;
                        lead.reason = Some(CAP_REACHED.to_owned());
                    }
                }
            }
        }
        let n_leads = decided.iter().filter(|d| matches!(d, Decided::Lead { .. })).count();
        let ids = new_lead_ids(conn, n_leads)?;
        let uids: Vec<String> = (0..n_leads).map(|_| time_ordered_uid(now)).collect();
        let default_reason = history_reason(import.id);
        let mut new_leads = Vec::with_capacity(n_leads);
        let mut new_values = Vec::new();
        let mut history = Vec::with_capacity(n_leads);
        let mut results = csv::Writer::from_writer(Vec::with_capacity(n_rows * 64));
        let mut next = 0_usize;
        for (i, d) in decided.iter().enumerate() {
            let record = match d {
                Decided::Refused { line, message } => [
                    line.to_string(),
                    "refused".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                    spreadsheet_safe(message).into_owned(),
                ],
                Decided::Lead { line, lead } => {
                    let (id, uid) = (ids[next], &uids[next]);
                    next += 1;
                    new_leads.push(NewLead {
                        id,
                        instance_id: import.instance_id,
                        campaign_id: import.campaign_id,
                        supplier_id: import.supplier_id,
                        uid,
                        received_at: lead.received_at,
                        status: lead.status.as_str(),
                        status_reason: lead.reason.as_deref(),
                        // A lead that took no cap unit has none to give back.
                        cap_released: !took_units[i],
                        updated_at: now,
                    });
                    for v in &lead.values {
                        let field = &fields[v.field];
                        // Values of a lead refused at intake never identify it on a deduplicated field.
                        let matches = lead.holds_values() || !field.dedupe;
                        new_values.push(NewValue {
                            lead_id: id,
                            field_id: field.id,
                            value: &v.raw,
                            normalized: v.normalized.as_deref().filter(|_| matches).unwrap_or(""),
                        });
                    }
                    history.push(NewHistory {
                        lead_id: id,
                        to_status: lead.status.as_str(),
                        reason: lead.reason.as_deref().unwrap_or(&default_reason),
                        source: "intake",
                        actor_user_id: Some(import.user_id),
                        changed_at: lead.received_at,
                    });
                    [
                        line.to_string(),
                        "created".into(),
                        id.to_string(),
                        uid.clone(),
                        lead.status.label().into(),
                        spreadsheet_safe(lead.reason.as_deref().unwrap_or_default()).into_owned(),
                    ]
                }
            };
            results
                .write_record(&record)
                .map_err(|e| DbError::Inconsistent(format!("results record: {e}")))?;
        }
        for c in new_leads.chunks(INSERT_CHUNK) {
            crate::batch_insert!(&mut *conn, leads::table, c)?;
        }
        for c in new_values.chunks(INSERT_CHUNK) {
            crate::batch_insert!(&mut *conn, lead_values::table, c)?;
        }
        for c in history.chunks(INSERT_CHUNK) {
            crate::batch_insert!(&mut *conn, lead_status_history::table, c)?;
        }
        let body = results.into_inner().map_err(|e| DbError::Inconsistent(format!("results chunk: {e}")))?;
        diesel::insert_into(lead_import_chunks::table)
            .values((
                lead_import_chunks::import_id.eq(import.id),
                lead_import_chunks::chunk.eq(chunk),
                lead_import_chunks::body.eq(""),
                lead_import_chunks::packed.eq(Some(compact::pack(&body)?)),
            ))
            .execute(conn)?;
        let refused = i64::try_from(n_rows - n_leads).unwrap_or(i64::MAX);
        let created = i64::try_from(n_leads).unwrap_or(i64::MAX);
        diesel::update(lead_imports::table.find(import.id))
            .set((
                lead_imports::rows_done.eq(lead_imports::rows_done + created + refused),
                lead_imports::leads_created.eq(lead_imports::leads_created + created),
                lead_imports::rows_refused.eq(lead_imports::rows_refused + refused),
                lead_imports::cursor_offset.eq(i64::try_from(next_offset).unwrap_or(i64::MAX)),
                lead_imports::cursor_line.eq(i64::try_from(next_line).unwrap_or(i64::MAX)),
                lead_imports::chunks.eq(chunk + 1),
                lead_imports::heartbeat_at.eq(Some(now)),
            ))
            .execute(conn)?;
        Ok(())
    }

    fn complete(&self, conn: &mut DbConn, import_id: i64) -> Result<RunEnd, DbError> {
        let now = self.clock.now();
        let done = diesel::update(
            lead_imports::table.filter(
                lead_imports::id
                    .eq(import_id)
                    .and(lead_imports::status.eq("running"))
                    .and(lead_imports::claimed_by.eq(self.worker_id)),
            ),
        )
        .set((lead_imports::status.eq("completed"), lead_imports::finished_at.eq(Some(now))))
        .execute(conn)?;
        Ok(if done == 1 { RunEnd::Completed } else { RunEnd::Stopped })
    }

    /// Marks the import failed with `reason` (while this worker holds it).
    pub fn fail(&self, conn: &mut DbConn, import_id: i64, reason: &str) -> Result<RunEnd, DbError> {
        tracing::warn!(import_id, reason, "lead import failed");
        let now = self.clock.now();
        diesel::update(
            lead_imports::table.filter(
                lead_imports::id
                    .eq(import_id)
                    .and(lead_imports::claimed_by.eq(self.worker_id))
                    .and(lead_imports::status.eq("running")),
            ),
        )
        .set((
            lead_imports::status.eq("failed"),
            lead_imports::failure_reason.eq(Some(reason)),
            lead_imports::finished_at.eq(Some(now)),
        ))
        .execute(conn)?;
        Ok(RunEnd::Failed)
    }

    /// Hands the import back at once (graceful shutdown): another worker resumes it from its cursor.
    fn release(&self, conn: &mut DbConn, import_id: i64) -> Result<(), DbError> {
        diesel::update(
            lead_imports::table
                .filter(lead_imports::id.eq(import_id).and(lead_imports::claimed_by.eq(self.worker_id))),
        )
        .set(lead_imports::status.eq("queued"))
        .execute(conn)?;
        Ok(())
    }
}

/// The data rows from the cursor to the end of the file.
fn count_rows(path: &std::path::Path, delimiter: u8, offset: i64, line: i64) -> Result<i64, FileRefusal> {
    let mut reader = RowReader::open(
        path,
        delimiter,
        u64::try_from(offset).unwrap_or(0),
        u64::try_from(line).unwrap_or(1),
    )?;
    let mut n = 0_i64;
    while reader.next_row()?.is_some() {
        n += 1;
    }
    Ok(n)
}
