//! Undoing a rejection task (docs/DOMAIN.md §8): the checks and the queued undo (itself a
//! rejection task naming the one it undoes, once), the confirmation's figures, and the run:
//! batches over the original's changes in lead id order, each one transaction that restores the
//! leads not changed since (status, reason, cap flag, affiliate events, cap units), writes their
//! history and webhook events, and stores a results chunk; the cursor is the last lead id done.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::IN_CHUNK;
use super::apply::BatchError;
use super::claim::holds_claim;
use super::lookup::{CapRef, cap_give_backs, load_caps};
use super::results::spreadsheet_safe;
use crate::auth::access::TaskVisibility;
use crate::db::outbox::{self, Changes};
use crate::db::schema::{
    affiliate_events, cap_usage, caps, rejection_task_chunks, rejection_tasks, suppliers, undo_horizon,
};
use crate::db::users::{Role, UserContext};
use crate::db::{DbConn, DbError, write_transaction};
use crate::domain::status::LeadStatus;
use crate::domain::task::TaskStatus;
use crate::domain::task_view::{UndoCounts, UndoPreview};
use crate::engine::planner::LeadState;

/// Changes of the original task the confirmation reads per page.
const PREVIEW_PAGE: i64 = 5000;

/// Why an undo cannot start.
#[derive(Debug, thiserror::Error)]
pub enum UndoError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    /// The task cannot be undone; the message says why.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for UndoError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

impl From<UndoError> for crate::error::AppError {
    fn from(err: UndoError) -> Self {
        match err {
            UndoError::NotFound => Self::NotFound,
            UndoError::Forbidden => Self::Forbidden,
            UndoError::Refused(message) => Self::invalid("undo", message),
            UndoError::Db(e) => e.into(),
        }
    }
}

/// What came of a request to undo a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UndoStarted {
    /// The undo is queued: its task id.
    Created(i64),
    /// The same request (its key) came before: the undo it started.
    Repeated(i64),
    /// The key came before for another task's undo; nothing was created.
    KeyReused,
}

/// The original task as an undo needs it.
#[derive(Debug, Queryable)]
struct Original {
    user_id: i64,
    campaign_id: i64,
    upload_id: i64,
    status: String,
    undo_of: Option<i64>,
    identifier_mode: String,
    identifier_field_id: Option<i64>,
    identifier_column: String,
    reason_column: String,
    delimiter: String,
}

/// The task `task_id` if `user` may undo it: it must see it (404 otherwise: another client's
/// task, another instance's) and be owner staff or hold "Reject Leads as a Client" (403).
fn original_for(conn: &mut DbConn, user: &UserContext, task_id: i64) -> Result<Original, UndoError> {
    let task: Option<Original> = rejection_tasks::table
        .filter(rejection_tasks::id.eq(task_id).and(rejection_tasks::instance_id.eq(user.instance_id)))
        .select((
            rejection_tasks::user_id,
            rejection_tasks::campaign_id,
            rejection_tasks::upload_id,
            rejection_tasks::status,
            rejection_tasks::undo_of,
            rejection_tasks::identifier_mode,
            rejection_tasks::identifier_field_id,
            rejection_tasks::identifier_column,
            rejection_tasks::reason_column,
            rejection_tasks::delimiter,
        ))
        .first(conn)
        .optional()?;
    let task = task.filter(|t| TaskVisibility::of(user).allows(t.user_id)).ok_or(UndoError::NotFound)?;
    let allowed = user.role == Role::OwnerStaff || (user.can_reject_leads && user.client_id.is_some());
    if !allowed || user.must_change_password {
        return Err(UndoError::Forbidden);
    }
    Ok(task)
}

/// The undo of task `task_id`, if one was started (and has not failed).
pub fn undone_by(conn: &mut DbConn, task_id: i64) -> Result<Option<i64>, DbError> {
    Ok(rejection_tasks::table
        .filter(rejection_tasks::undo_of.eq(task_id))
        .filter(rejection_tasks::status.ne(TaskStatus::Failed.as_str()))
        .select(rejection_tasks::id)
        .first(conn)
        .optional()?)
}

/// Whether task `task_id` was queued by a version that records what an undo restores (from
/// migration 17 on).
pub fn recorded_for_undo(conn: &mut DbConn, task_id: i64) -> Result<bool, DbError> {
    let first: Option<i64> =
        undo_horizon::table.select(undo_horizon::first_task_id).first(conn).optional()?;
    Ok(first.is_some_and(|first| task_id >= first))
}

/// Refuses a task that cannot be undone (not finished, an undo itself, already undone).
fn check_undoable(conn: &mut DbConn, task_id: i64, task: &Original) -> Result<(), UndoError> {
    if task.undo_of.is_some() {
        return Err(UndoError::Refused(
            "An undo cannot be undone. Start a task with the original file again instead.".into(),
        ));
    }
    if !recorded_for_undo(conn, task_id)? {
        return Err(UndoError::Refused(
            "This task ran before undo was available, so what it changed was not recorded in full: it cannot be undone."
                .into(),
        ));
    }
    if !TaskStatus::parse(&task.status).is_some_and(TaskStatus::is_finished) {
        return Err(UndoError::Refused("A task can be undone once it has finished.".into()));
    }
    if let Some(undo) = undone_by(conn, task_id)? {
        return Err(UndoError::Refused(format!("This task was already undone by task {undo}.")));
    }
    Ok(())
}

/// Queues the undo of task `task_id` by `user`, after every check. `request_key` (the API's
/// `Idempotency-Key`) makes a repeat answer the undo it started.
pub fn start_undo(
    conn: &mut DbConn,
    user: &UserContext,
    task_id: i64,
    request_key: Option<&str>,
    now: NaiveDateTime,
) -> Result<UndoStarted, UndoError> {
    let repeat =
        |conn: &mut DbConn| -> Result<Option<UndoStarted>, UndoError> {
            let Some(key) = request_key else { return Ok(None) };
            let earlier: Option<(i64, Option<i64>)> = rejection_tasks::table
                .filter(rejection_tasks::request_key.eq(key).and(rejection_tasks::user_id.eq(user.id)))
                .select((rejection_tasks::id, rejection_tasks::undo_of))
                .first(conn)
                .optional()?;
            Ok(earlier.map(|(id, of)| {
                if of == Some(task_id) { UndoStarted::Repeated(id) } else { UndoStarted::KeyReused }
            }))
        };
    if let Some(earlier) = repeat(conn)? {
        return Ok(earlier);
    }
    let result = write_transaction(conn, |conn| {
        let task = original_for(conn, user, task_id)?;
        check_undoable(conn, task_id, &task)?;
        let changes: i64 = diesel::sql_query(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM lead_status_history WHERE task_id = $1",
        )
        .bind::<diesel::sql_types::BigInt, _>(task_id)
        .get_result::<Count>(conn)?
        .n;
        let id: i64 = diesel::insert_into(rejection_tasks::table)
            .values((
                rejection_tasks::instance_id.eq(user.instance_id),
                rejection_tasks::campaign_id.eq(task.campaign_id),
                rejection_tasks::user_id.eq(user.id),
                rejection_tasks::upload_id.eq(task.upload_id),
                rejection_tasks::request_key.eq(request_key),
                rejection_tasks::identifier_mode.eq(&task.identifier_mode),
                rejection_tasks::identifier_field_id.eq(task.identifier_field_id),
                rejection_tasks::identifier_column.eq(&task.identifier_column),
                rejection_tasks::reason_column.eq(&task.reason_column),
                rejection_tasks::status.eq(TaskStatus::Queued.as_str()),
                rejection_tasks::created_at.eq(now),
                rejection_tasks::delimiter.eq(&task.delimiter),
                rejection_tasks::rows_total.eq(Some(changes)),
                rejection_tasks::undo_of.eq(Some(task_id)),
            ))
            .returning(rejection_tasks::id)
            .get_result(conn)?;
        Ok(UndoStarted::Created(id))
    });
    match result {
        // Two undos raced: the unique index let one in.
        Err(UndoError::Db(DbError::Query(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )))) => {
            if let Some(earlier) = repeat(conn)? {
                return Ok(earlier);
            }
            let undo = undone_by(conn, task_id)?;
            Err(UndoError::Refused(match undo {
                Some(undo) => format!("This task was already undone by task {undo}."),
                None => "This task is being undone already.".into(),
            }))
        }
        other => other,
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// One change the original task made, with the lead as it is now.
#[derive(Debug, Clone, QueryableByName)]
struct Change {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    history_id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    lead_id: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    from_status: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    to_status: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    from_reason: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    released_cap: bool,
    #[diesel(sql_type = diesel::sql_types::Text)]
    uid: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::Timestamp)]
    received_at: NaiveDateTime,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    supplier_id: i64,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    cap_released: bool,
    /// The lead's latest history row.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    latest_id: i64,
}

/// What becomes of one lead the original task changed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// Back to `status` with `reason`.
    Restore { status: LeadStatus, reason: Option<String>, from: LeadStatus, clear_cap: bool },
    /// Changed since the task (or not as the task left it): left as it is.
    ChangedSince,
}

/// A lead of the original task and what the undo does with it.
#[derive(Debug, Clone)]
struct Decided {
    lead: Change,
    verdict: Verdict,
    /// The task moved it to accepted (options 2 and 4).
    was_accepted: bool,
}

/// The original task's changes to leads after `cursor`, in lead id order, grouped per lead (a
/// task changes a lead once; should it ever have changed one twice, the lead goes back to what
/// it was before the first change). A page that filled its limit leaves its last lead for the
/// next page, so that a lead is never split. With `lock` (an undo's batch, on PostgreSQL) the
/// page's leads are locked until the transaction ends, so nothing changes them between this
/// read and the batch's writes (SQLite's write transaction already excludes other writers).
fn changes_after(
    conn: &mut DbConn,
    original: i64,
    (cursor, limit): (i64, i64),
    lock: bool,
) -> Result<Vec<Decided>, DbError> {
    let lock = if lock && matches!(conn, DbConn::Pg(_)) { " FOR UPDATE OF l" } else { "" };
    let rows: Vec<Change> = diesel::sql_query(format!(
        "SELECT h.id AS history_id, h.lead_id, h.from_status, h.to_status, h.from_reason, h.released_cap, \
           l.uid, l.status, l.received_at, l.supplier_id, l.cap_released, \
           (SELECT MAX(x.id) FROM lead_status_history x WHERE x.lead_id = h.lead_id) AS latest_id \
         FROM lead_status_history h JOIN leads l ON l.id = h.lead_id \
         WHERE h.task_id = $1 AND h.lead_id > $2 ORDER BY h.lead_id, h.id LIMIT $3{lock}",
    ))
    .bind::<diesel::sql_types::BigInt, _>(original)
    .bind::<diesel::sql_types::BigInt, _>(cursor)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn)?;
    let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) >= limit;
    let last = rows.last().map(|r| r.lead_id);
    let mut decided: Vec<Decided> = Vec::with_capacity(rows.len());
    let mut i = 0;
    while i < rows.len() {
        let lead_id = rows[i].lead_id;
        let end = rows[i..].iter().position(|r| r.lead_id != lead_id).map_or(rows.len(), |n| i + n);
        if full && Some(lead_id) == last && i > 0 {
            break;
        }
        let (first, latest) = (&rows[i], &rows[end - 1]);
        let unchanged = latest.latest_id == latest.history_id && latest.status == latest.to_status;
        let released = rows[i..end].iter().any(|r| r.released_cap);
        let verdict = match (unchanged, first.from_status.as_deref().and_then(LeadStatus::parse)) {
            (true, Some(status)) => Verdict::Restore {
                status,
                reason: first.from_reason.clone(),
                from: LeadStatus::parse(&latest.status).unwrap_or(status),
                clear_cap: released,
            },
            _ => Verdict::ChangedSince,
        };
        decided.push(Decided {
            lead: latest.clone(),
            verdict,
            was_accepted: latest.to_status == LeadStatus::Accepted.as_str(),
        });
        i = end;
    }
    Ok(decided)
}

/// The leads whose cap units an undo takes again, as `cap_give_backs` reads them.
fn cap_leads(decided: &[Decided]) -> Vec<LeadState> {
    decided
        .iter()
        .filter_map(|d| match &d.verdict {
            Verdict::Restore { status, clear_cap: true, .. } => Some(LeadState {
                id: d.lead.lead_id,
                status: *status,
                received_at: d.lead.received_at,
                supplier_id: d.lead.supplier_id,
                cap_released: d.lead.cap_released,
            }),
            _ => None,
        })
        .collect()
}

fn restored_ids(decided: &[Decided]) -> Vec<i64> {
    decided.iter().filter(|d| matches!(d.verdict, Verdict::Restore { .. })).map(|d| d.lead.lead_id).collect()
}

/// Affiliate events the original task rejected, of `leads`, still rejected.
fn events_to_restore(conn: &mut DbConn, original: i64, leads: &[i64]) -> Result<i64, DbError> {
    let mut n = 0;
    for chunk in leads.chunks(IN_CHUNK) {
        n += affiliate_events::table
            .filter(affiliate_events::rejected_by_task.eq(Some(original)))
            .filter(affiliate_events::lead_id.eq_any(chunk).and(affiliate_events::status.eq("rejected")))
            .count()
            .get_result::<i64>(conn)?;
    }
    Ok(n)
}

/// What undoing task `task_id` would do now, for the confirmation (read a page at a time).
pub fn undo_preview(conn: &mut DbConn, user: &UserContext, task_id: i64) -> Result<UndoPreview, UndoError> {
    let task = original_for(conn, user, task_id)?;
    check_undoable(conn, task_id, &task)?;
    let caps = load_caps(conn, task.campaign_id)?;
    let mut preview = UndoPreview::default();
    let mut units: HashMap<(i64, NaiveDate), i64> = HashMap::new();
    let mut cursor = 0;
    loop {
        let decided = changes_after(conn, task_id, (cursor, PREVIEW_PAGE), false)?;
        let Some(last) = decided.last() else { break };
        cursor = last.lead.lead_id;
        for d in &decided {
            match d.verdict {
                Verdict::Restore { .. } => {
                    preview.leads_back += 1;
                    preview.accepted_back += i64::from(d.was_accepted);
                }
                Verdict::ChangedSince => preview.changed_since += 1,
            }
        }
        preview.events += events_to_restore(conn, task_id, &restored_ids(&decided))?;
        for (key, n) in cap_give_backs(&caps, &cap_leads(&decided)) {
            *units.entry(key).or_default() += n;
        }
    }
    preview.cap_units = units.values().sum();
    preview.over_limit = over_limit(conn, &caps, &units)?;
    Ok(preview)
}

/// The caps that taking `units` again would put over their limit, described.
fn over_limit(
    conn: &mut DbConn,
    caps_of_campaign: &[CapRef],
    units: &HashMap<(i64, NaiveDate), i64>,
) -> Result<Vec<String>, DbError> {
    let mut over = Vec::new();
    let mut keys: Vec<_> = units.iter().collect();
    keys.sort();
    for (&(cap_id, start), &n) in keys {
        let Some(cap) = caps_of_campaign.iter().find(|c| c.id == cap_id) else { continue };
        let limit: i64 = caps::table.find(cap_id).select(caps::cap_limit).first(conn)?;
        let used: i64 = cap_usage::table
            .filter(cap_usage::cap_id.eq(cap_id).and(cap_usage::period_start.eq(start)))
            .select(cap_usage::used)
            .first(conn)
            .optional()?
            .unwrap_or(0);
        if used + n > limit {
            let whose = match cap.supplier_id {
                Some(s) => suppliers::table
                    .find(s)
                    .select(suppliers::name)
                    .first::<String>(conn)
                    .optional()?
                    .map_or_else(|| " (a supplier's)".to_owned(), |name| format!(" of {name}")),
                None => String::new(),
            };
            over.push(format!(
                "The {} cap{whose} for the period from {start}: {used} used + {n} taken again = {} of {limit}.",
                cap.period.as_str(),
                used + n
            ));
        }
    }
    Ok(over)
}

diesel::table! {
    /// Per-connection temporary table of an undo batch's restores.
    undo_changes (lead_id) {
        lead_id -> BigInt,
        from_status -> Text,
        to_status -> Text,
        reason -> Nullable<Text>,
        clear_cap -> Bool,
    }
}

/// An undo as its batches need it: its id, the task it undoes, their campaign.
#[derive(Debug, Clone, Copy)]
pub(super) struct UndoJob {
    pub id: i64,
    pub original: i64,
    pub campaign_id: i64,
}

/// Applies one page of the undo (the original's changes to up to `rows` leads after `cursor`)
/// in one transaction, after checking the worker still holds the undo: restores, history,
/// events, caps, the results chunk and the counters. Returns the last lead id done, `None`
/// when nothing was left.
pub(super) fn undo_batch(
    conn: &mut DbConn,
    (worker_id, now): (&str, NaiveDateTime),
    undo: UndoJob,
    (cursor, rows): (i64, i64),
    chunk: i64,
) -> Result<Option<i64>, BatchError> {
    let UndoJob { id: undo_id, original, campaign_id } = undo;
    write_transaction(conn, |conn| {
        if !holds_claim(conn, undo_id, worker_id, now)? {
            return Err(BatchError::LostClaim);
        }
        let decided = changes_after(conn, original, (cursor, rows.max(1)), true)?;
        let Some(last) = decided.last().map(|d| d.lead.lead_id) else { return Ok(None) };
        let user_id: i64 =
            rejection_tasks::table.find(undo_id).select(rejection_tasks::user_id).first(conn)?;
        let counts = restore(conn, (undo_id, original, campaign_id, user_id), &decided, now)?;
        insert_results(conn, undo_id, chunk, &decided)?;
        let stored: String =
            rejection_tasks::table.find(undo_id).select(rejection_tasks::outcome_counts).first(conn)?;
        let done = i64::try_from(decided.len()).unwrap_or(i64::MAX);
        diesel::update(rejection_tasks::table.find(undo_id))
            .set((
                rejection_tasks::outcome_counts.eq(merge_undo_counts(&stored, &counts)),
                rejection_tasks::rows_done.eq(rejection_tasks::rows_done + done),
                rejection_tasks::remaining_cursor.eq(last),
                rejection_tasks::heartbeat_at.eq(Some(now)),
            ))
            .execute(conn)?;
        Ok(Some(last))
    })
}

/// The restores of one page: leads (guarded by the status the original left them in), their
/// history naming the undo, webhook events, affiliate events, cap units. Returns the counts.
fn restore(
    conn: &mut DbConn,
    (undo_id, original, campaign_id, user_id): (i64, i64, i64, i64),
    decided: &[Decided],
    now: NaiveDateTime,
) -> Result<UndoCounts, BatchError> {
    let (key, empty) = if matches!(conn, DbConn::Sqlite(_)) {
        ("INTEGER", "DELETE FROM undo_changes")
    } else {
        ("BIGINT", "TRUNCATE undo_changes")
    };
    conn.batch_execute(&format!(
        "CREATE TEMP TABLE IF NOT EXISTS undo_changes (lead_id {key} PRIMARY KEY, from_status TEXT NOT NULL, \
         to_status TEXT NOT NULL, reason TEXT, clear_cap BOOLEAN NOT NULL); {empty};",
    ))?;
    let mut counts = UndoCounts::default();
    let rows: Vec<_> = decided
        .iter()
        .filter_map(|d| match &d.verdict {
            Verdict::Restore { status, reason, from, clear_cap } => {
                counts.restored += 1;
                counts.accepted_restored += i64::from(d.was_accepted);
                Some((
                    undo_changes::lead_id.eq(d.lead.lead_id),
                    undo_changes::from_status.eq(from.as_str()),
                    undo_changes::to_status.eq(status.as_str()),
                    undo_changes::reason.eq(reason.clone()),
                    undo_changes::clear_cap.eq(*clear_cap),
                ))
            }
            Verdict::ChangedSince => {
                counts.changed_since += 1;
                None
            }
        })
        .collect();
    for chunk in rows.chunks(1000) {
        crate::batch_insert!(&mut *conn, undo_changes::table, chunk)?;
    }
    let expected = rows.len();
    let logged = diesel::sql_query(
        "INSERT INTO lead_status_history \
           (lead_id, from_status, to_status, reason, source, actor_user_id, task_id, changed_at, from_reason) \
         SELECT c.lead_id, c.from_status, c.to_status, $1, 'rejection_task', $2, $3, $4, l.status_reason \
         FROM undo_changes c JOIN leads l ON l.id = c.lead_id AND l.status = c.from_status ORDER BY c.lead_id",
    )
    .bind::<diesel::sql_types::Text, _>(format!("Undo of task {original}"))
    .bind::<diesel::sql_types::BigInt, _>(user_id)
    .bind::<diesel::sql_types::BigInt, _>(undo_id)
    .bind::<diesel::sql_types::Timestamp, _>(now)
    .execute(conn)?;
    let changed = diesel::sql_query(
        "UPDATE leads SET status = c.to_status, status_reason = c.reason, updated_at = $1, \
           cap_released = CASE WHEN c.clear_cap THEN FALSE ELSE leads.cap_released END \
         FROM undo_changes c WHERE leads.id = c.lead_id AND leads.status = c.from_status",
    )
    .bind::<diesel::sql_types::Timestamp, _>(now)
    .execute(conn)?;
    if logged != expected || changed != expected {
        return Err(BatchError::Conflict);
    }
    outbox::enqueue(conn, campaign_id, Changes::UndoBatch { task_id: undo_id, changed_at: now }, now)?;
    for chunk in restored_ids(decided).chunks(IN_CHUNK) {
        counts.events_restored += i64::try_from(
            diesel::update(
                affiliate_events::table.filter(affiliate_events::rejected_by_task.eq(Some(original))).filter(
                    affiliate_events::lead_id.eq_any(chunk).and(affiliate_events::status.eq("rejected")),
                ),
            )
            .set((
                affiliate_events::status.eq("approved"),
                affiliate_events::rejected_by_task.eq(None::<i64>),
            ))
            .execute(conn)?,
        )
        .unwrap_or(0);
    }
    let caps = load_caps(conn, campaign_id)?;
    for ((cap_id, period_start), n) in cap_give_backs(&caps, &cap_leads(decided)) {
        counts.cap_units += n;
        let updated = diesel::update(
            cap_usage::table
                .filter(cap_usage::cap_id.eq(cap_id).and(cap_usage::period_start.eq(period_start))),
        )
        .set(cap_usage::used.eq(cap_usage::used + n))
        .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(cap_usage::table)
                .values((
                    cap_usage::cap_id.eq(cap_id),
                    cap_usage::period_start.eq(period_start),
                    cap_usage::used.eq(n),
                ))
                .execute(conn)?;
        }
    }
    Ok(counts)
}

/// The undo's results records of one page, in lead id order: lead id, UID, `restored` or
/// `changed_since`, the lead's status now, and a message.
fn insert_results(conn: &mut DbConn, undo_id: i64, chunk: i64, decided: &[Decided]) -> Result<(), DbError> {
    let failed = |e: csv::Error| DbError::File {
        what: "writing the undo's results",
        source: std::io::Error::other(e),
    };
    let mut w = csv::WriterBuilder::new().quote_style(csv::QuoteStyle::Always).from_writer(Vec::new());
    for d in decided {
        let (outcome, status, message) = match &d.verdict {
            Verdict::Restore { status, from, .. } => (
                "restored",
                status.as_str().to_owned(),
                format!("Back to {} (was {})", status.label(), from.label()),
            ),
            Verdict::ChangedSince => {
                ("changed_since", d.lead.status.clone(), "Changed since the task: left as it is".to_owned())
            }
        };
        w.write_record([
            d.lead.lead_id.to_string().as_str(),
            &spreadsheet_safe(&d.lead.uid),
            outcome,
            &status,
            &message,
        ])
        .map_err(failed)?;
    }
    let body = w.into_inner().map_err(|e| failed(e.into_error().into()))?;
    diesel::insert_into(rejection_task_chunks::table)
        .values((
            rejection_task_chunks::task_id.eq(undo_id),
            rejection_task_chunks::chunk.eq(chunk),
            rejection_task_chunks::body.eq(String::from_utf8_lossy(&body).into_owned()),
        ))
        .execute(conn)?;
    Ok(())
}

/// The results file's header of an undo.
pub const UNDO_RESULTS_COLUMNS: [&str; 5] = ["lead_id", "uid", "outcome", "status", "message"];

/// Adds a page's counts to the undo's stored counts (the task's `outcome_counts` JSON).
fn merge_undo_counts(stored: &str, add: &UndoCounts) -> String {
    let mut counts: UndoCounts = serde_json::from_str(stored).unwrap_or_default();
    counts.restored += add.restored;
    counts.accepted_restored += add.accepted_restored;
    counts.changed_since += add.changed_since;
    counts.events_restored += add.events_restored;
    counts.cap_units += add.cap_units;
    serde_json::to_string(&counts).unwrap_or_else(|_| "{}".to_owned())
}

/// An undo's stored counts.
pub fn parse_undo_counts(stored: &str) -> UndoCounts {
    serde_json::from_str(stored).unwrap_or_default()
}
