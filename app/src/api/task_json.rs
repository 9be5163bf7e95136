//! The JSON answers of `/api/v1/rejection-tasks…`: a task, a page of tasks, a created task and a
//! preview, with their OpenAPI schemas (filled from the engine's task records).

use chrono::{NaiveDateTime, SecondsFormat};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::task::{IdentifierChoice, Outcome, TaskOptions, TaskStatus};
use crate::domain::task_view::UndoCounts;
use crate::engine::task::views::TaskRecord;

/// Where a task's JSON and its results are.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskLinks {
    #[serde(rename = "self")]
    pub self_: String,
    pub results: String,
}

impl TaskLinks {
    pub(super) fn of(task_id: i64) -> Self {
        Self {
            self_: format!("/api/v1/rejection-tasks/{task_id}"),
            results: format!("/api/v1/rejection-tasks/{task_id}/results.csv"),
        }
    }
}

/// The answer to a created (202) or repeated (200) task.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskCreated {
    pub task_id: i64,
    pub status: TaskStatus,
    pub links: TaskLinks,
}

/// Rows per outcome, named as in the results file.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct OutcomeCounts {
    pub rejected: i64,
    pub already_rejected: i64,
    pub outside_window: i64,
    pub accepted_outside_window: i64,
    pub not_delivered: i64,
    pub not_found: i64,
    pub ambiguous: i64,
    pub duplicate_in_file: i64,
    pub invalid: i64,
}

impl OutcomeCounts {
    pub(super) fn of(counts: &[(Outcome, i64)]) -> Self {
        let mut c = Self::default();
        for (outcome, n) in counts {
            let slot = match outcome {
                Outcome::Rejected => &mut c.rejected,
                Outcome::AlreadyRejected => &mut c.already_rejected,
                Outcome::OutsideWindow => &mut c.outside_window,
                Outcome::AcceptedOutsideWindow => &mut c.accepted_outside_window,
                Outcome::NotDelivered => &mut c.not_delivered,
                Outcome::NotFound => &mut c.not_found,
                Outcome::Ambiguous => &mut c.ambiguous,
                Outcome::DuplicateInFile => &mut c.duplicate_in_file,
                Outcome::Invalid => &mut c.invalid,
            };
            *slot += n;
        }
        c
    }
}

/// What `preview=true` answers: what the task would do now, nothing changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPreview {
    pub preview: bool,
    pub rows: i64,
    pub counts: OutcomeCounts,
    /// The reject-from date, or today (`YYYY-MM-DD`).
    pub reference_date: String,
    /// The first day inside the rejection window.
    pub window_start: String,
    /// With `move_remaining_to_accepted`: leads that would move to accepted.
    pub remaining_to_accept: Option<i64>,
    /// With `count_towards_cap`: cap units that would be given back.
    pub cap_units: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskCampaign {
    pub id: i64,
    pub name: String,
}

/// A rejection task as `GET /api/v1/rejection-tasks/{id}` reports it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskJson {
    pub task_id: i64,
    pub status: TaskStatus,
    pub campaign: TaskCampaign,
    pub file_name: String,
    /// `lead_id`, `uid` or `field:<field key>`.
    pub identifier: String,
    pub identifier_column: String,
    pub reason_column: String,
    pub reject_from: Option<String>,
    pub options: TaskOptions,
    pub rows_total: Option<i64>,
    pub rows_done: i64,
    pub counts: OutcomeCounts,
    pub remaining_accepted: i64,
    pub cap_units_released: i64,
    pub failure_reason: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// An undo (`POST …/{id}/undo`): the task it undoes; `null` for a task started from a file.
    pub undo_of: Option<i64>,
    /// An undo's counts so far: leads restored (of them, moved to accepted by the task), left
    /// alone because they changed since, affiliate events back to approved, cap units taken
    /// again. `null` for a task started from a file.
    pub undo: Option<UndoCounts>,
    pub links: TaskLinks,
}

/// A time as RFC 3339 in UTC, to the second.
fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl From<TaskRecord> for TaskJson {
    fn from(t: TaskRecord) -> Self {
        let identifier = match t.identifier {
            IdentifierChoice::LeadId => "lead_id".to_owned(),
            IdentifierChoice::Uid => "uid".to_owned(),
            IdentifierChoice::Field(id) => {
                format!("field:{}", t.identifier_field_key.unwrap_or(id.to_string()))
            }
        };
        TaskJson {
            task_id: t.id,
            status: t.status,
            campaign: TaskCampaign { id: t.campaign_id, name: t.campaign },
            file_name: t.file_name,
            identifier,
            identifier_column: t.identifier_column,
            reason_column: t.reason_column,
            reject_from: t.reject_from.map(|d| d.to_string()),
            options: t.options,
            rows_total: t.rows_total,
            rows_done: t.rows_done,
            counts: OutcomeCounts::of(&t.counts),
            remaining_accepted: t.remaining_accepted,
            cap_units_released: t.cap_units_released,
            failure_reason: t.failure_reason,
            created_at: rfc3339(t.created_at),
            started_at: t.started_at.map(rfc3339),
            finished_at: t.finished_at.map(rfc3339),
            undo_of: t.undo_of,
            undo: t.undo,
            links: TaskLinks::of(t.id),
        }
    }
}

/// One page of the key user's tasks, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPage {
    pub tasks: Vec<TaskJson>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}
