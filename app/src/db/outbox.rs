//! The webhook outbox (docs/DOMAIN.md §7): every lead status change writes one event per
//! matching endpoint, from the change's history row, inside the transaction that makes the
//! change, so an event exists exactly when the change committed. The delivery worker
//! (`engine::webhooks`) sends them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{campaigns, webhook_endpoints};
use super::{DbConn, DbError};

/// Which history rows, just written in this transaction, are the changes to announce.
#[derive(Debug, Clone, Copy)]
pub enum Changes {
    /// One history row.
    History(i64),
    /// A rejection task's batch: the rows of the leads in the connection's `batch_changes`
    /// table, written by the task at `changed_at`.
    TaskBatch { task_id: i64, changed_at: NaiveDateTime },
    /// An undo's batch: the rows of the leads in the connection's `undo_changes` table, written
    /// by the undo at `changed_at`.
    UndoBatch { task_id: i64, changed_at: NaiveDateTime },
    /// Option 4's batch: the task's moves to accepted of the leads with ids in (after, upto].
    Accepted { task_id: i64, changed_at: NaiveDateTime, after: i64, upto: i64 },
}

impl Changes {
    /// The SQL condition on `h` (the history row); `$2` is `changed_at`.
    fn condition(self) -> (String, Option<NaiveDateTime>) {
        match self {
            Changes::History(id) => (format!("h.id = {id}"), None),
            Changes::TaskBatch { task_id, changed_at } => (
                format!(
                    "h.lead_id IN (SELECT lead_id FROM batch_changes) AND h.task_id = {task_id} AND h.changed_at = $2"
                ),
                Some(changed_at),
            ),
            Changes::UndoBatch { task_id, changed_at } => (
                format!(
                    "h.lead_id IN (SELECT lead_id FROM undo_changes) AND h.task_id = {task_id} AND h.changed_at = $2"
                ),
                Some(changed_at),
            ),
            Changes::Accepted { task_id, changed_at, after, upto } => (
                format!(
                    "h.lead_id > {after} AND h.lead_id <= {upto} AND h.task_id = {task_id} \
                     AND h.changed_at = $2 AND h.to_status = 'accepted'"
                ),
                Some(changed_at),
            ),
        }
    }
}

/// Whether the campaign's instance has an enabled endpoint (read in the change's transaction:
/// an endpoint added meanwhile gets the events of changes that commit after it).
pub fn has_endpoints(conn: &mut DbConn, campaign_id: i64) -> Result<bool, DbError> {
    let n: i64 = webhook_endpoints::table
        .inner_join(campaigns::table.on(campaigns::instance_id.eq(webhook_endpoints::instance_id)))
        .filter(campaigns::id.eq(campaign_id).and(webhook_endpoints::enabled.eq(true)))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Writes the events of `changes` (of leads of `campaign_id`) for every enabled endpoint of the
/// instance whose filters match: status, campaign, supplier. Returns how many. Call it inside the
/// change's transaction, after its history rows.
pub fn enqueue(
    conn: &mut DbConn,
    campaign_id: i64,
    changes: Changes,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    if !has_endpoints(conn, campaign_id)? {
        return Ok(0);
    }
    let (condition, changed_at) = changes.condition();
    // Filters are stored as ",a,b," ('' = any): one LIKE each.
    let sql = format!(
        "INSERT INTO webhook_events (endpoint_id, history_id, lead_id, state, attempts, next_attempt_at, created_at) \
         SELECT e.id, h.id, h.lead_id, 'pending', 0, $1, $1 \
         FROM lead_status_history h \
         JOIN leads l ON l.id = h.lead_id \
         JOIN webhook_endpoints e ON e.instance_id = l.instance_id AND e.enabled \
         WHERE {condition} \
           AND (e.statuses = '' OR e.statuses LIKE '%,' || h.to_status || ',%') \
           AND (e.campaign_ids = '' OR e.campaign_ids LIKE '%,' || CAST(l.campaign_id AS TEXT) || ',%') \
           AND (e.supplier_ids = '' OR e.supplier_ids LIKE '%,' || CAST(l.supplier_id AS TEXT) || ',%') \
         ORDER BY h.id, e.id"
    );
    let query = diesel::sql_query(sql).bind::<diesel::sql_types::Timestamp, _>(now);
    let written = match changed_at {
        Some(at) => query.bind::<diesel::sql_types::Timestamp, _>(at).execute(conn)?,
        None => query.execute(conn)?,
    };
    Ok(written)
}
