//! Which worker runs a task: the atomic claim of the oldest runnable task, the check every
//! write of a run makes (in its own transaction) that its worker still holds the task, and
//! handing a task back on shutdown.

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use crate::db::schema::rejection_tasks;
use crate::db::{DbConn, DbError, write_transaction};
use crate::domain::task::TaskPhase;
use crate::engine::lease::{self, Job};

#[derive(QueryableByName)]
struct ClaimedId {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

/// Atomically claims the oldest runnable task: queued, or running with a stale heartbeat (its
/// worker died: no heartbeat for `stale_after`). One running task per campaign (a unique index
/// enforces it whatever races).
pub fn claim_next(
    conn: &mut DbConn,
    worker_id: &str,
    now: NaiveDateTime,
    stale_after: TimeDelta,
) -> Result<Option<i64>, DbError> {
    let stale_before = now - stale_after;
    let lock = match conn {
        DbConn::Pg(_) => "FOR UPDATE SKIP LOCKED",
        DbConn::Sqlite(_) => "",
    };
    let sql = format!(
        "UPDATE rejection_tasks SET status = 'running', claimed_by = $1, heartbeat_at = $2, \
           started_at = COALESCE(started_at, $2) \
         WHERE id = (SELECT t.id FROM rejection_tasks t \
           WHERE (t.status = 'queued' OR (t.status = 'running' AND t.heartbeat_at < $3)) \
             AND NOT EXISTS (SELECT 1 FROM rejection_tasks r WHERE r.campaign_id = t.campaign_id \
               AND r.status = 'running' AND r.id <> t.id AND r.heartbeat_at >= $3) \
           ORDER BY CASE WHEN t.status = 'running' THEN 0 ELSE 1 END, t.created_at, t.id LIMIT 1 {lock}) \
         RETURNING id"
    );
    let claimed = write_transaction(conn, |conn| {
        diesel::sql_query(&sql)
            .bind::<diesel::sql_types::Text, _>(worker_id)
            .bind::<diesel::sql_types::Timestamp, _>(now)
            .bind::<diesel::sql_types::Timestamp, _>(stale_before)
            .get_result::<ClaimedId>(conn)
            .optional()
    });
    match claimed {
        Ok(row) => Ok(row.map(|r| r.id)),
        // Another worker took a task of the same campaign first: try again later.
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Inside a write transaction: whether `worker_id` still holds the task (its heartbeat is
/// renewed, and on PostgreSQL its row stays locked until the transaction ends, so no claim can
/// slip in before the commit).
pub(super) fn holds_claim(
    conn: &mut DbConn,
    task_id: i64,
    worker_id: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    Ok(lease::renew(conn, Job::RejectionTask, task_id, worker_id, now)?)
}

/// Hands a running task back at once (graceful shutdown): any worker may resume it from its
/// cursor without waiting for the heartbeat to go stale.
pub(super) fn release(conn: &mut DbConn, task_id: i64, worker_id: &str) -> Result<(), DbError> {
    let epoch = NaiveDate::default().and_hms_opt(0, 0, 0).unwrap_or_default();
    diesel::update(
        rejection_tasks::table
            .filter(rejection_tasks::id.eq(task_id).and(rejection_tasks::claimed_by.eq(worker_id))),
    )
    // No holder: the run's heartbeat thread, if it beats once more, finds the task no longer
    // its own (and cannot make it look alive again).
    .set((rejection_tasks::heartbeat_at.eq(Some(epoch)), rejection_tasks::claimed_by.eq(None::<String>)))
    .execute(conn)?;
    Ok(())
}

/// Moves the task to `phase` if `worker_id` still holds it (one transaction); `false` when it
/// does not.
pub(super) fn set_phase(
    conn: &mut DbConn,
    task_id: i64,
    worker_id: &str,
    now: NaiveDateTime,
    phase: TaskPhase,
) -> Result<bool, DbError> {
    write_transaction(conn, |conn| {
        if !holds_claim(conn, task_id, worker_id, now)? {
            return Ok(false);
        }
        set_phase_unchecked(conn, task_id, phase)?;
        Ok(true)
    })
}

/// Inside a transaction that has checked the claim: moves the task to `phase`.
pub(super) fn set_phase_unchecked(conn: &mut DbConn, task_id: i64, phase: TaskPhase) -> Result<(), DbError> {
    diesel::update(rejection_tasks::table.find(task_id))
        .set(rejection_tasks::phase.eq(phase.as_str()))
        .execute(conn)?;
    Ok(())
}
