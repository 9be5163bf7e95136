//! Read models of rejection tasks: the task page and the task history. Owner staff see every
//! task of their instance; a client user sees the tasks they started. Anything else is "not
//! found", whatever id is asked for.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::tasks::{parse_changed, parse_counts};
use crate::db::schema::{campaign_fields, campaigns, rejection_tasks, uploads, users};
use crate::db::users::{Role, UserContext};
use crate::db::{DbConn, DbError};
use crate::rejections::{AffectedLead, Outcome, TaskOptions, TaskStatus, TaskSummary, TaskView};

fn stamp(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// Whether `user` may see task `task_id` (its page, its results file).
pub fn may_see(conn: &mut DbConn, user: &UserContext, task_id: i64) -> Result<bool, DbError> {
    let owner: Option<i64> = rejection_tasks::table
        .filter(rejection_tasks::id.eq(task_id).and(rejection_tasks::instance_id.eq(user.instance_id)))
        .select(rejection_tasks::user_id)
        .first(conn)
        .optional()?;
    Ok(match owner {
        None => false,
        Some(started_by) => user.role == Role::OwnerStaff || started_by == user.id,
    })
}

type TaskTuple = (
    (
        i64,
        String,
        Option<String>,
        Option<i64>,
        i64,
        String,
        Option<i64>,
        String,
        String,
        Option<chrono::NaiveDate>,
    ),
    (bool, bool, bool, bool, i64, i64, String, NaiveDateTime, Option<NaiveDateTime>),
    (String, String, String, String),
);

/// The task page's data, or `None` when `user` may not see it.
pub fn task_view(conn: &mut DbConn, user: &UserContext, task_id: i64) -> Result<Option<TaskView>, DbError> {
    let mut q = rejection_tasks::table
        .inner_join(uploads::table)
        .inner_join(campaigns::table)
        .inner_join(users::table.on(users::id.eq(rejection_tasks::user_id)))
        .filter(rejection_tasks::id.eq(task_id).and(rejection_tasks::instance_id.eq(user.instance_id)))
        .select((
            (
                rejection_tasks::id,
                rejection_tasks::status,
                rejection_tasks::failure_reason,
                rejection_tasks::rows_total,
                rejection_tasks::rows_done,
                rejection_tasks::identifier_mode,
                rejection_tasks::identifier_field_id,
                rejection_tasks::identifier_column,
                rejection_tasks::reason_column,
                rejection_tasks::reject_from,
            ),
            (
                rejection_tasks::move_outside_to_accepted,
                rejection_tasks::reject_affiliate_events,
                rejection_tasks::move_remaining_to_accepted,
                rejection_tasks::count_towards_cap,
                rejection_tasks::remaining_accepted,
                rejection_tasks::cap_units_released,
                rejection_tasks::outcome_counts,
                rejection_tasks::created_at,
                rejection_tasks::finished_at,
            ),
            (uploads::original_name, campaigns::name, users::name, rejection_tasks::changed_rows),
        ))
        .into_boxed();
    // The same rule as `may_see`, in the one query the page polls.
    if user.role != Role::OwnerStaff {
        q = q.filter(rejection_tasks::user_id.eq(user.id));
    }
    let Some(row) = q.first::<TaskTuple>(conn).optional()? else { return Ok(None) };
    let (
        (
            id,
            status,
            failure_reason,
            rows_total,
            rows_done,
            mode,
            field_id,
            identifier_column,
            reason_column,
            reject_from,
        ),
        (
            outside,
            events,
            remaining,
            cap,
            remaining_accepted,
            cap_units_released,
            counts,
            created_at,
            finished_at,
        ),
        (file_name, campaign, started_by, changed),
    ) = row;
    let identifier = match (mode.as_str(), field_id) {
        ("lead_id", _) => "Lead ID".to_owned(),
        ("uid", _) => "Consumer Session ID (UID)".to_owned(),
        (_, Some(field_id)) => campaign_fields::table
            .find(field_id)
            .select(campaign_fields::label)
            .first(conn)
            .optional()?
            .unwrap_or_else(|| "a campaign field".to_owned()),
        _ => mode,
    };
    let status = TaskStatus::parse(&status).unwrap_or(TaskStatus::Failed);
    // The first changed rows in file order (kept on the task as batches commit); listed once the
    // task is done.
    let affected = if status == TaskStatus::Completed {
        parse_changed(&changed)
            .into_iter()
            .map(|(row, lead_id, outcome)| AffectedLead {
                row: i64::try_from(row).unwrap_or(i64::MAX),
                lead_id,
                outcome,
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Some(TaskView {
        id,
        file_name,
        campaign,
        started_by,
        created_at: stamp(created_at),
        finished_at: finished_at.map(stamp),
        status,
        failure_reason,
        rows_total,
        rows_done,
        counts: parse_counts(&counts),
        identifier,
        identifier_column,
        reason_column,
        reject_from: reject_from.map(|d| d.to_string()),
        options: TaskOptions {
            move_outside_to_accepted: outside,
            reject_affiliate_events: events,
            move_remaining_to_accepted: remaining,
            count_towards_cap: cap,
        },
        remaining_accepted,
        cap_units_released,
        affected,
    }))
}

type HistoryTuple = (i64, String, String, String, NaiveDateTime, String, Option<i64>, i64, String);

/// The newest tasks `user` may see, newest first.
pub fn task_history(conn: &mut DbConn, user: &UserContext, limit: i64) -> Result<Vec<TaskSummary>, DbError> {
    let mut q = rejection_tasks::table
        .inner_join(uploads::table)
        .inner_join(campaigns::table)
        .inner_join(users::table.on(users::id.eq(rejection_tasks::user_id)))
        .filter(rejection_tasks::instance_id.eq(user.instance_id))
        .select((
            rejection_tasks::id,
            uploads::original_name,
            campaigns::name,
            users::name,
            rejection_tasks::created_at,
            rejection_tasks::status,
            rejection_tasks::rows_total,
            rejection_tasks::rows_done,
            rejection_tasks::outcome_counts,
        ))
        .order((rejection_tasks::created_at.desc(), rejection_tasks::id.desc()))
        .limit(limit)
        .into_boxed();
    if user.role != Role::OwnerStaff {
        q = q.filter(rejection_tasks::user_id.eq(user.id));
    }
    let rows: Vec<HistoryTuple> = q.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, file_name, campaign, started_by, created_at, status, rows_total, rows_done, counts)| {
            let rejected = parse_counts(&counts)
                .into_iter()
                .find(|(o, _)| *o == Outcome::Rejected)
                .map_or(0, |(_, n)| n);
            TaskSummary {
                id,
                file_name,
                campaign,
                started_by,
                created_at: stamp(created_at),
                status: TaskStatus::parse(&status).unwrap_or(TaskStatus::Failed),
                rows_total,
                rows_done,
                rejected,
            }
        })
        .collect())
}
