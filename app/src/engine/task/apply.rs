//! Pass 2's writes: one batch of rows planned and applied in one transaction (status changes
//! through a temporary table and one set-based `UPDATE … FROM`, history, affiliate events, cap
//! give-backs, the webhook outbox's events, the batch's outcome chunk and the task's counters),
//! and option 4's batches of remaining leads moved to accepted (with their events). Every
//! batch first checks that its worker holds the task.

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::IN_CHUNK;
use super::claim::holds_claim;
use super::lookup::{cap_give_backs, find_leads};
use super::progress::{Timings, merge_changed, merge_counts, timed};
use super::results::insert_chunk;
use super::row::{TaskRow, TaskSetup};
use crate::db::outbox::{self, Changes};
use crate::db::schema::{affiliate_events, cap_usage, rejection_tasks};
use crate::db::{DbConn, DbError, write_transaction};
use crate::engine::planner::{self, BatchPlan, Key, LeadChange, RowInput, Seen};

/// Why a batch did not commit.
#[derive(Debug, thiserror::Error)]
pub(super) enum BatchError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("a lead changed while the batch was planned")]
    Conflict,
    #[error("this worker no longer holds the task")]
    LostClaim,
}

impl From<diesel::result::Error> for BatchError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

/// The worker a batch runs for, and the time it writes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Claim<'a> {
    pub worker_id: &'a str,
    pub now: NaiveDateTime,
}

impl Claim<'_> {
    /// Inside a batch transaction: this worker still holds the task.
    fn check(&self, conn: &mut DbConn, task_id: i64) -> Result<(), BatchError> {
        if holds_claim(conn, task_id, self.worker_id, self.now)? {
            Ok(())
        } else {
            Err(BatchError::LostClaim)
        }
    }
}

/// Plans and applies one batch of rows, with the cursor (the batch's last slot), in one
/// transaction.
pub(super) fn commit_batch(
    conn: &mut DbConn,
    claim: Claim<'_>,
    task: &TaskRow,
    setup: &TaskSetup,
    inputs: Vec<RowInput>,
    chunk: i64,
) -> Result<(), BatchError> {
    let now = claim.now;
    let commit_started = std::time::Instant::now();
    let mut inner = std::time::Duration::ZERO;
    let result = write_transaction(conn, |conn| {
        let inner_started = std::time::Instant::now();
        claim.check(conn, task.id)?;
        let keys: Vec<&Key> = inputs.iter().filter_map(|r| r.parsed.as_ref().ok()).collect();
        let found = timed(|t| &mut t.lookup, || find_leads(conn, task.campaign(), setup.mode, &keys))?;
        let n_rows = inputs.len();
        let plan = planner::plan_batch(&setup.settings, inputs, &found, &mut Seen::default());
        let units = timed(|t| &mut t.apply, || apply_plan(conn, task, setup, &plan, now))?;
        timed(|t| &mut t.outcomes, || insert_chunk(conn, task.id, chunk, &plan.rows))?;
        let (counts, changed): (String, String) = rejection_tasks::table
            .find(task.id)
            .select((rejection_tasks::outcome_counts, rejection_tasks::changed_rows))
            .first(conn)?;
        diesel::update(rejection_tasks::table.find(task.id))
            .set((
                rejection_tasks::outcome_counts.eq(merge_counts(&counts, &plan.rows)),
                rejection_tasks::changed_rows.eq(merge_changed(&changed, &plan.rows)),
                rejection_tasks::cap_units_released.eq(rejection_tasks::cap_units_released + units),
                rejection_tasks::rows_done
                    .eq(rejection_tasks::rows_done + i64::try_from(n_rows).unwrap_or(0)),
                rejection_tasks::heartbeat_at.eq(Some(now)),
            ))
            .execute(conn)?;
        inner = inner_started.elapsed();
        Ok(())
    });
    Timings::add(|t| &mut t.commit, commit_started.elapsed().saturating_sub(inner));
    result
}

/// Moves one batch of the campaign's remaining `received` leads to accepted (option 4).
pub(super) fn accept_remaining_batch(
    conn: &mut DbConn,
    claim: Claim<'_>,
    task: &TaskRow,
    until: NaiveDateTime,
    cursor: i64,
    last: i64,
) -> Result<usize, BatchError> {
    let now = claim.now;
    write_transaction(conn, |conn| {
        claim.check(conn, task.id)?;
        let reason = format!("Moved to accepted by rejection task {}", task.id);
        // Set-based over the id window (cursor, last]: history first (it reads the rows still
        // `received`), then the update, both walking the primary key. (Placeholders are
        // numbered in order of appearance: SQLite numbers `$n` that way.)
        let logged = diesel::sql_query(
            "INSERT INTO lead_status_history \
               (lead_id, from_status, to_status, reason, source, actor_user_id, task_id, changed_at, from_reason) \
             SELECT id, 'received', 'accepted', $1, 'rejection_task', $2, $3, $4, status_reason FROM leads \
             WHERE campaign_id = $5 AND id > $6 AND id <= $7 AND status = 'received' AND received_at < $8 \
             ORDER BY id",
        )
        .bind::<diesel::sql_types::Text, _>(&reason)
        .bind::<diesel::sql_types::BigInt, _>(task.user_id)
        .bind::<diesel::sql_types::BigInt, _>(task.id)
        .bind::<diesel::sql_types::Timestamp, _>(now)
        .bind::<diesel::sql_types::BigInt, _>(task.campaign_id)
        .bind::<diesel::sql_types::BigInt, _>(cursor)
        .bind::<diesel::sql_types::BigInt, _>(last)
        .bind::<diesel::sql_types::Timestamp, _>(until)
        .execute(conn)?;
        let changed = diesel::sql_query(
            "UPDATE leads SET status = 'accepted', status_reason = $1, updated_at = $2 \
             WHERE campaign_id = $3 AND id > $4 AND id <= $5 AND status = 'received' AND received_at < $6",
        )
        .bind::<diesel::sql_types::Text, _>(&reason)
        .bind::<diesel::sql_types::Timestamp, _>(now)
        .bind::<diesel::sql_types::BigInt, _>(task.campaign_id)
        .bind::<diesel::sql_types::BigInt, _>(cursor)
        .bind::<diesel::sql_types::BigInt, _>(last)
        .bind::<diesel::sql_types::Timestamp, _>(until)
        .execute(conn)?;
        if changed != logged {
            return Err(BatchError::Conflict);
        }
        let changes = Changes::Accepted { task_id: task.id, changed_at: now, after: cursor, upto: last };
        timed(|t| &mut t.outbox, || outbox::enqueue(conn, task.campaign_id, changes, now))?;
        diesel::update(rejection_tasks::table.find(task.id))
            .set((
                rejection_tasks::remaining_accepted
                    .eq(rejection_tasks::remaining_accepted + i64::try_from(changed).unwrap_or(0)),
                rejection_tasks::remaining_cursor.eq(last),
                rejection_tasks::heartbeat_at.eq(Some(now)),
            ))
            .execute(conn)?;
        Ok(changed)
    })
}

diesel::table! {
    /// Per-connection temporary table of a batch's status changes (created on first use).
    batch_changes (lead_id) {
        lead_id -> BigInt,
        from_status -> Text,
        to_status -> Text,
        reason -> Nullable<Text>,
        release_cap -> Bool,
    }
}

/// Applies a batch plan: status changes (guarded by the status they were planned from), history,
/// affiliate events, cap give-backs (a lead's `cap_released` flag is set in the same update).
/// Returns the cap units given back.
pub(super) fn apply_plan(
    conn: &mut DbConn,
    task: &TaskRow,
    setup: &TaskSetup,
    plan: &BatchPlan,
    now: NaiveDateTime,
) -> Result<i64, BatchError> {
    // The batch's changes go into a per-connection temporary table, then one `UPDATE … FROM`
    // and one `INSERT … SELECT` apply them: SQLite and PostgreSQL do the per-lead work
    // themselves, in lead id order, instead of one statement per lead. (Reading the changes
    // from one JSON parameter with `json_each` instead was measured: the batches' apply time
    // went from 7.6 to 12.9 s on the 1M-row benchmark.)
    // (On SQLite `INTEGER PRIMARY KEY` makes the lead id the row id: one B-tree, not two.)
    // PostgreSQL empties it with TRUNCATE: temporary tables are never autovacuumed, so each
    // batch's DELETE left its rows dead in the table, the planner took the table for hundreds
    // of thousands of rows and the `UPDATE … FROM` became a hash join over a sequential scan of
    // every lead (5M rows per batch in the benchmark) instead of one index probe per change.
    let (key, empty) = if matches!(conn, DbConn::Sqlite(_)) {
        ("INTEGER", "DELETE FROM batch_changes")
    } else {
        ("BIGINT", "TRUNCATE batch_changes")
    };
    conn.batch_execute(&format!(
        "CREATE TEMP TABLE IF NOT EXISTS batch_changes (lead_id {key} PRIMARY KEY, from_status TEXT NOT NULL, \
         to_status TEXT NOT NULL, reason TEXT, release_cap BOOLEAN NOT NULL); {empty};",
    ))?;
    let releasing: std::collections::HashSet<i64> = plan.release_caps_of.iter().map(|l| l.id).collect();
    let mut sorted: Vec<&LeadChange> = plan.changes.iter().collect();
    sorted.sort_unstable_by_key(|c| c.lead_id);
    let rows: Vec<_> = sorted
        .into_iter()
        .map(|c| {
            (
                batch_changes::lead_id.eq(c.lead_id),
                batch_changes::from_status.eq(c.from.as_str()),
                batch_changes::to_status.eq(c.to.as_str()),
                batch_changes::reason.eq(c.reason.as_deref()),
                batch_changes::release_cap.eq(releasing.contains(&c.lead_id)),
            )
        })
        .collect();
    // The planner gives a cap unit back only for a lead it changes (and once per lead).
    let marked = plan.changes.iter().filter(|c| releasing.contains(&c.lead_id)).count();
    if releasing.len() != plan.release_caps_of.len() || marked != releasing.len() {
        return Err(BatchError::Db(DbError::Inconsistent("a cap give-back without a status change".into())));
    }
    for chunk in rows.chunks(1000) {
        crate::batch_insert!(&mut *conn, batch_changes::table, chunk)?;
    }
    // History first, while the leads still hold what the change replaces: the reason the lead
    // had (`from_reason`) and whether the change gives its cap units back are what an undo
    // restores (engine/task/undo.rs). The join only finds leads still in their planned status;
    // the update below must change exactly as many.
    let logged = diesel::sql_query(
        "INSERT INTO lead_status_history \
           (lead_id, from_status, to_status, reason, source, actor_user_id, task_id, changed_at, from_reason, released_cap) \
         SELECT c.lead_id, c.from_status, c.to_status, c.reason, 'rejection_task', $1, $2, $3, l.status_reason, c.release_cap \
         FROM batch_changes c JOIN leads l ON l.id = c.lead_id AND l.status = c.from_status ORDER BY c.lead_id",
    )
    .bind::<diesel::sql_types::BigInt, _>(task.user_id)
    .bind::<diesel::sql_types::BigInt, _>(task.id)
    .bind::<diesel::sql_types::Timestamp, _>(now)
    .execute(conn)?;
    if logged != plan.changes.len() {
        return Err(BatchError::Conflict);
    }
    let changed = diesel::sql_query(
        // Both planners walk the batch (in lead id order) and look each lead up by its key.
        "UPDATE leads SET status = c.to_status, status_reason = c.reason, updated_at = $1, \
           cap_released = (leads.cap_released OR c.release_cap) \
         FROM batch_changes c WHERE leads.id = c.lead_id AND leads.status = c.from_status",
    )
    .bind::<diesel::sql_types::Timestamp, _>(now)
    .execute(conn)?;
    if changed != plan.changes.len() {
        return Err(BatchError::Conflict);
    }
    // The webhook outbox: one event per change and matching endpoint, in this transaction.
    let changes = Changes::TaskBatch { task_id: task.id, changed_at: now };
    timed(|t| &mut t.outbox, || outbox::enqueue(conn, task.campaign_id, changes, now))?;
    apply_events_and_caps(conn, task.id, setup, plan)
}

/// Rejects the batch's affiliate events and gives its cap units back; returns the units.
/// Each event remembers the task that rejected it, for an undo.
fn apply_events_and_caps(
    conn: &mut DbConn,
    task_id: i64,
    setup: &TaskSetup,
    plan: &BatchPlan,
) -> Result<i64, BatchError> {
    for chunk in plan.reject_events_of.chunks(IN_CHUNK) {
        diesel::update(
            affiliate_events::table
                .filter(affiliate_events::lead_id.eq_any(chunk).and(affiliate_events::status.eq("approved"))),
        )
        .set((affiliate_events::status.eq("rejected"), affiliate_events::rejected_by_task.eq(Some(task_id))))
        .execute(conn)?;
    }
    let mut units = 0;
    if !plan.release_caps_of.is_empty() {
        let give_back = cap_give_backs(&setup.caps, &plan.release_caps_of);
        units = give_back.values().sum();
        for ((cap_id, period_start), n) in give_back {
            diesel::update(
                cap_usage::table
                    .filter(cap_usage::cap_id.eq(cap_id).and(cap_usage::period_start.eq(period_start))),
            )
            .set(cap_usage::used.eq(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
                "CASE WHEN used >= {n} THEN used - {n} ELSE 0 END"
            ))))
            .execute(conn)?;
        }
    }
    Ok(units)
}
