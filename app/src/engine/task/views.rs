//! Read models of rejection tasks: the task page and the task history. Which tasks a user sees
//! is decided by `auth::access::TaskVisibility`; anything else is "not found", whatever id is
//! asked for.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::progress::{parse_changed, parse_counts};
use super::row::{StoredIdentifier, StoredOptions};
use super::undo::parse_undo_counts;
use crate::auth::access::TaskVisibility;
use crate::db::schema::{campaign_fields, campaigns, rejection_tasks, uploads, users};
use crate::db::users::{Role, UserContext};
use crate::db::{DbConn, DbError};
use crate::domain::task::{IdentifierChoice, Outcome, TaskOptions, TaskStatus};
use crate::domain::task_view::{AffectedLead, TaskSummary, TaskView, UndoCounts};

fn stamp(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// Whether `user` may see task `task_id` (its page, its results file): a task of the user's
/// instance that the visibility rule allows, or the undo of such a task (owner staff may undo a
/// client's task; the client sees what undid it).
pub fn may_see(conn: &mut DbConn, user: &UserContext, task_id: i64) -> Result<bool, DbError> {
    let visibility = TaskVisibility::of(user);
    let task: Option<(i64, Option<i64>)> = rejection_tasks::table
        .filter(rejection_tasks::id.eq(task_id).and(rejection_tasks::instance_id.eq(user.instance_id)))
        .select((rejection_tasks::user_id, rejection_tasks::undo_of))
        .first(conn)
        .optional()?;
    let Some((started_by, undo_of)) = task else { return Ok(false) };
    if visibility.allows(started_by) {
        return Ok(true);
    }
    let Some(original) = undo_of else { return Ok(false) };
    let original_by: Option<i64> = rejection_tasks::table
        .filter(rejection_tasks::id.eq(original).and(rejection_tasks::instance_id.eq(user.instance_id)))
        .select(rejection_tasks::user_id)
        .first(conn)
        .optional()?;
    Ok(original_by.is_some_and(|by| visibility.allows(by)))
}

/// What a task is called on its page and in the history: its file, campaign and starter (the
/// query joins `uploads`, `campaigns` and `users`).
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = rejection_tasks)]
struct TaskNames {
    #[diesel(select_expression = uploads::original_name)]
    #[diesel(select_expression_type = uploads::original_name)]
    file_name: String,
    #[diesel(select_expression = campaigns::name)]
    #[diesel(select_expression_type = campaigns::name)]
    campaign: String,
    #[diesel(select_expression = users::name)]
    #[diesel(select_expression_type = users::name)]
    started_by: String,
}

/// A task's row as its page shows it, with its file, campaign and starter.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = rejection_tasks)]
struct TaskPageRow {
    id: i64,
    #[diesel(deserialize_as = String)]
    status: TaskStatus,
    failure_reason: Option<String>,
    rows_total: Option<i64>,
    rows_done: i64,
    #[diesel(select_expression = (rejection_tasks::identifier_mode, rejection_tasks::identifier_field_id))]
    #[diesel(select_expression_type = (rejection_tasks::identifier_mode, rejection_tasks::identifier_field_id))]
    #[diesel(deserialize_as = StoredIdentifier)]
    identifier: IdentifierChoice,
    identifier_column: String,
    reason_column: String,
    reject_from: Option<NaiveDate>,
    #[diesel(embed)]
    options: StoredOptions,
    remaining_accepted: i64,
    cap_units_released: i64,
    outcome_counts: String,
    created_at: NaiveDateTime,
    finished_at: Option<NaiveDateTime>,
    changed_rows: String,
    undo_of: Option<i64>,
    #[diesel(embed)]
    names: TaskNames,
}

/// The task page's data, or `None` when `user` may not see it.
pub fn task_view(conn: &mut DbConn, user: &UserContext, task_id: i64) -> Result<Option<TaskView>, DbError> {
    if !may_see(conn, user, task_id)? {
        return Ok(None);
    }
    let row: Option<TaskPageRow> = rejection_tasks::table
        .inner_join(uploads::table)
        .inner_join(campaigns::table)
        .inner_join(users::table.on(users::id.eq(rejection_tasks::user_id)))
        .filter(rejection_tasks::id.eq(task_id).and(rejection_tasks::instance_id.eq(user.instance_id)))
        .select(TaskPageRow::as_select())
        .first(conn)
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    let identifier = match row.identifier {
        IdentifierChoice::LeadId => "Lead ID".to_owned(),
        IdentifierChoice::Uid => "Consumer Session ID (UID)".to_owned(),
        IdentifierChoice::Field(field_id) => campaign_fields::table
            .find(field_id)
            .select(campaign_fields::label)
            .first(conn)
            .optional()?
            .unwrap_or_else(|| "a campaign field".to_owned()),
    };
    // The first changed rows in file order (kept on the task as batches commit); listed once the
    // task is done.
    let affected = if row.status == TaskStatus::Completed {
        parse_changed(&row.changed_rows)
            .into_iter()
            .map(|(line, lead_id, outcome)| AffectedLead {
                row: i64::try_from(line).unwrap_or(i64::MAX),
                lead_id,
                outcome,
            })
            .collect()
    } else {
        Vec::new()
    };
    let undone_by = super::undo::undone_by(conn, row.id)?;
    Ok(Some(TaskView {
        id: row.id,
        file_name: row.names.file_name,
        campaign: row.names.campaign,
        started_by: row.names.started_by,
        created_at: stamp(row.created_at),
        finished_at: row.finished_at.map(stamp),
        status: row.status,
        failure_reason: row.failure_reason,
        rows_total: row.rows_total,
        rows_done: row.rows_done,
        counts: parse_counts(&row.outcome_counts),
        identifier,
        identifier_column: row.identifier_column,
        reason_column: row.reason_column,
        reject_from: row.reject_from.map(|d| d.to_string()),
        options: row.options.into(),
        remaining_accepted: row.remaining_accepted,
        cap_units_released: row.cap_units_released,
        affected,
        may_undo: row.status.is_finished()
            && row.undo_of.is_none()
            && super::undo::recorded_for_undo(conn, row.id)?
            && undone_by.is_none()
            && (user.role == Role::OwnerStaff || (user.can_reject_leads && user.client_id.is_some())),
        undo: row.undo_of.map(|_| parse_undo_counts(&row.outcome_counts)),
        undo_of: row.undo_of,
        undone_by,
    }))
}

/// A line of the task history, as read.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = rejection_tasks)]
struct HistoryRow {
    id: i64,
    #[diesel(embed)]
    names: TaskNames,
    created_at: NaiveDateTime,
    #[diesel(deserialize_as = String)]
    status: TaskStatus,
    rows_total: Option<i64>,
    rows_done: i64,
    outcome_counts: String,
    undo_of: Option<i64>,
}

/// Which page of the task history to read: keyset pages over (created, id), newest first, so a
/// page stays the same while new tasks arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HistoryPage {
    /// The newest tasks.
    #[default]
    Newest,
    /// The tasks just older than task `id`.
    OlderThan(i64),
    /// The tasks just newer than task `id`.
    NewerThan(i64),
}

/// A page of the task history, newest first, and whether tasks lie on either side of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistorySlice {
    pub tasks: Vec<TaskSummary>,
    pub has_older: bool,
    pub has_newer: bool,
}

/// The tasks `user` may see (`TaskVisibility`), joined to their names, as a boxed query.
macro_rules! visible_history {
    ($user:expr) => {{
        let mut q = rejection_tasks::table
            .inner_join(uploads::table)
            .inner_join(campaigns::table)
            .inner_join(users::table.on(users::id.eq(rejection_tasks::user_id)))
            .filter(rejection_tasks::instance_id.eq($user.instance_id))
            .into_boxed();
        if let TaskVisibility::StartedBy(user_id) = TaskVisibility::of($user) {
            q = q.filter(rejection_tasks::user_id.eq(user_id));
        }
        q
    }};
}

/// The newest tasks `user` may see, newest first.
pub fn task_history(conn: &mut DbConn, user: &UserContext, limit: i64) -> Result<Vec<TaskSummary>, DbError> {
    Ok(task_history_page(conn, user, HistoryPage::Newest, limit)?.tasks)
}

/// A page of at most `limit` tasks `user` may see, newest first. A cursor naming a task the user
/// may not see (or none) reads as the newest page.
pub fn task_history_page(
    conn: &mut DbConn,
    user: &UserContext,
    page: HistoryPage,
    limit: i64,
) -> Result<HistorySlice, DbError> {
    let key_of = |conn: &mut DbConn, id: i64| -> Result<Option<(NaiveDateTime, i64)>, DbError> {
        Ok(visible_history!(user)
            .filter(rejection_tasks::id.eq(id))
            .select((rejection_tasks::created_at, rejection_tasks::id))
            .first(conn)
            .optional()?)
    };
    let cursor = match page {
        HistoryPage::Newest => None,
        HistoryPage::OlderThan(id) => key_of(conn, id)?.map(|key| (key, true)),
        HistoryPage::NewerThan(id) => key_of(conn, id)?.map(|key| (key, false)),
    };
    let limit = limit.max(1);
    let q = visible_history!(user).select(HistoryRow::as_select()).limit(limit + 1);
    let (mut rows, more): (Vec<HistoryRow>, bool) = match cursor {
        None | Some((_, true)) => {
            let mut q = q.order((rejection_tasks::created_at.desc(), rejection_tasks::id.desc()));
            if let Some(((at, id), _)) = cursor {
                q = q.filter(
                    rejection_tasks::created_at
                        .lt(at)
                        .or(rejection_tasks::created_at.eq(at).and(rejection_tasks::id.lt(id))),
                );
            }
            let mut rows: Vec<HistoryRow> = q.load(conn)?;
            let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
            rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            (rows, more)
        }
        Some(((at, id), false)) => {
            let q = q.order((rejection_tasks::created_at.asc(), rejection_tasks::id.asc())).filter(
                rejection_tasks::created_at
                    .gt(at)
                    .or(rejection_tasks::created_at.eq(at).and(rejection_tasks::id.gt(id))),
            );
            let mut rows: Vec<HistoryRow> = q.load(conn)?;
            let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
            rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            rows.reverse();
            (rows, more)
        }
    };
    if rows.is_empty() && cursor.is_some() {
        // Nothing beyond the cursor (any more): the newest page.
        return task_history_page(conn, user, HistoryPage::Newest, limit);
    }
    // Across the page's other edge: is there a task beyond it?
    let beyond = |conn: &mut DbConn, edge: Option<&HistoryRow>, older: bool| -> Result<bool, DbError> {
        let Some(edge) = edge else { return Ok(false) };
        let (at, id) = (edge.created_at, edge.id);
        let q = visible_history!(user).select(rejection_tasks::id);
        let found: Option<i64> = if older {
            q.filter(
                rejection_tasks::created_at
                    .lt(at)
                    .or(rejection_tasks::created_at.eq(at).and(rejection_tasks::id.lt(id))),
            )
            .first(conn)
            .optional()?
        } else {
            q.filter(
                rejection_tasks::created_at
                    .gt(at)
                    .or(rejection_tasks::created_at.eq(at).and(rejection_tasks::id.gt(id))),
            )
            .first(conn)
            .optional()?
        };
        Ok(found.is_some())
    };
    let (has_older, has_newer) = match cursor {
        None | Some((_, true)) => (more, cursor.is_some() && beyond(conn, rows.first(), false)?),
        Some((_, false)) => (beyond(conn, rows.last(), true)?, more),
    };
    let tasks = rows.drain(..).map(summary).collect();
    Ok(HistorySlice { tasks, has_older, has_newer })
}

fn summary(row: HistoryRow) -> TaskSummary {
    let rejected = parse_counts(&row.outcome_counts)
        .into_iter()
        .find(|(o, _)| *o == Outcome::Rejected)
        .map_or(0, |(_, n)| n);
    let (file_name, rejected) = match row.undo_of {
        // An undo rejects nothing; it is named after the task it undoes.
        Some(of) => (format!("Undo of task {of} ({})", row.names.file_name), 0),
        None => (row.names.file_name, rejected),
    };
    TaskSummary {
        id: row.id,
        file_name,
        campaign: row.names.campaign,
        started_by: row.names.started_by,
        created_at: stamp(row.created_at),
        status: row.status,
        rows_total: row.rows_total,
        rows_done: row.rows_done,
        rejected,
    }
}

/// A task as the machine API reports it (`GET /api/v1/rejection-tasks…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    pub id: i64,
    pub status: TaskStatus,
    pub campaign_id: i64,
    pub campaign: String,
    pub file_name: String,
    pub identifier: IdentifierChoice,
    /// The key of the identifying field, in field mode.
    pub identifier_field_key: Option<String>,
    pub identifier_column: String,
    pub reason_column: String,
    pub reject_from: Option<NaiveDate>,
    pub options: TaskOptions,
    pub rows_total: Option<i64>,
    pub rows_done: i64,
    /// Every outcome, in [`Outcome::ALL`] order, with its count so far.
    pub counts: Vec<(Outcome, i64)>,
    pub remaining_accepted: i64,
    pub cap_units_released: i64,
    pub failure_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub started_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
    /// An undo: the task it undoes, and its counts.
    pub undo_of: Option<i64>,
    pub undo: Option<UndoCounts>,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = rejection_tasks)]
struct RecordRow {
    id: i64,
    #[diesel(deserialize_as = String)]
    status: TaskStatus,
    campaign_id: i64,
    #[diesel(select_expression = campaigns::name)]
    #[diesel(select_expression_type = campaigns::name)]
    campaign: String,
    #[diesel(select_expression = uploads::original_name)]
    #[diesel(select_expression_type = uploads::original_name)]
    file_name: String,
    #[diesel(select_expression = (rejection_tasks::identifier_mode, rejection_tasks::identifier_field_id))]
    #[diesel(select_expression_type = (rejection_tasks::identifier_mode, rejection_tasks::identifier_field_id))]
    #[diesel(deserialize_as = StoredIdentifier)]
    identifier: IdentifierChoice,
    identifier_column: String,
    reason_column: String,
    reject_from: Option<NaiveDate>,
    #[diesel(embed)]
    options: StoredOptions,
    rows_total: Option<i64>,
    rows_done: i64,
    outcome_counts: String,
    remaining_accepted: i64,
    cap_units_released: i64,
    failure_reason: Option<String>,
    created_at: NaiveDateTime,
    started_at: Option<NaiveDateTime>,
    finished_at: Option<NaiveDateTime>,
    undo_of: Option<i64>,
}

/// Which tasks [`task_records`] reads.
#[derive(Debug, Clone, Copy)]
pub enum RecordQuery {
    /// Task `id` alone.
    One(i64),
    /// The newest tasks first, up to `limit`, with ids below `before` when given (a cursor).
    Page { before: Option<i64>, limit: i64 },
}

/// The tasks `user` may see (the same rule as the pages), as the machine API reports them.
pub fn task_records(
    conn: &mut DbConn,
    user: &UserContext,
    query: RecordQuery,
) -> Result<Vec<TaskRecord>, DbError> {
    let mut q = rejection_tasks::table
        .inner_join(uploads::table)
        .inner_join(campaigns::table)
        .filter(rejection_tasks::instance_id.eq(user.instance_id))
        .select(RecordRow::as_select())
        .into_boxed();
    if let TaskVisibility::StartedBy(user_id) = TaskVisibility::of(user) {
        q = q.filter(rejection_tasks::user_id.eq(user_id));
    }
    q = match query {
        RecordQuery::One(id) => q.filter(rejection_tasks::id.eq(id)),
        RecordQuery::Page { before, limit } => {
            let q = q.order(rejection_tasks::id.desc()).limit(limit);
            match before {
                Some(before) => q.filter(rejection_tasks::id.lt(before)),
                None => q,
            }
        }
    };
    let rows: Vec<RecordRow> = q.load(conn)?;
    let field_ids: Vec<i64> = rows
        .iter()
        .filter_map(|r| if let IdentifierChoice::Field(id) = r.identifier { Some(id) } else { None })
        .collect();
    let field_keys: std::collections::HashMap<i64, String> = if field_ids.is_empty() {
        Default::default()
    } else {
        campaign_fields::table
            .filter(campaign_fields::id.eq_any(&field_ids))
            .select((campaign_fields::id, campaign_fields::field_key))
            .load::<(i64, String)>(conn)?
            .into_iter()
            .collect()
    };
    Ok(rows
        .into_iter()
        .map(|r| TaskRecord {
            identifier_field_key: match r.identifier {
                IdentifierChoice::Field(id) => field_keys.get(&id).cloned(),
                _ => None,
            },
            id: r.id,
            status: r.status,
            campaign_id: r.campaign_id,
            campaign: r.campaign,
            file_name: r.file_name,
            identifier: r.identifier,
            identifier_column: r.identifier_column,
            reason_column: r.reason_column,
            reject_from: r.reject_from,
            options: r.options.into(),
            undo: r.undo_of.map(|_| parse_undo_counts(&r.outcome_counts)),
            undo_of: r.undo_of,
            rows_total: r.rows_total,
            rows_done: r.rows_done,
            counts: parse_counts(&r.outcome_counts),
            remaining_accepted: r.remaining_accepted,
            cap_units_released: r.cap_units_released,
            failure_reason: r.failure_reason,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
        })
        .collect())
}
