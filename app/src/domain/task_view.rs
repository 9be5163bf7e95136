//! A rejection task as pages show it: the task page (progress, counts, options, the first leads
//! it changed) and a line of the task history. Filled by the engine's read queries.

use serde::{Deserialize, Serialize};

use super::task::{Outcome, TaskOptions, TaskStatus};

/// A rejection task as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskView {
    pub id: i64,
    pub file_name: String,
    pub campaign: String,
    pub started_by: String,
    /// UTC, `YYYY-MM-DD HH:MM`.
    pub created_at: String,
    pub finished_at: Option<String>,
    pub status: TaskStatus,
    pub failure_reason: Option<String>,
    pub rows_total: Option<i64>,
    pub rows_done: i64,
    pub counts: Vec<(Outcome, i64)>,
    /// "Lead ID", "Consumer Session ID (UID)" or the field's label.
    pub identifier: String,
    pub identifier_column: String,
    pub reason_column: String,
    pub reject_from: Option<String>,
    pub options: TaskOptions,
    pub remaining_accepted: i64,
    pub cap_units_released: i64,
    /// The first leads the task changed (rows in file order), once it has finished.
    pub affected: Vec<AffectedLead>,
    /// An undo: the task it undoes (its counts are in `undo`, not `counts`).
    pub undo_of: Option<i64>,
    /// The undo of this task, once one was started.
    pub undone_by: Option<i64>,
    /// An undo's counts so far.
    pub undo: Option<UndoCounts>,
    /// The viewer may undo this task now (finished, not an undo, not undone, and the viewer is
    /// owner staff or holds "Reject Leads as a Client"). The server checks again.
    pub may_undo: bool,
}

/// What an undo did (so far): leads restored (of them, moved to accepted by the original),
/// leads changed since and left alone, affiliate events back to approved, cap units taken again.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct UndoCounts {
    pub restored: i64,
    pub accepted_restored: i64,
    pub changed_since: i64,
    pub events_restored: i64,
    pub cap_units: i64,
}

/// What undoing a task would do now (the confirmation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UndoPreview {
    /// Leads that go back to the status they had before the task.
    pub leads_back: i64,
    /// Of them, leads the task moved to accepted (options 2 and 4), back to received.
    pub accepted_back: i64,
    /// Leads changed since the task by anyone: left as they are.
    pub changed_since: i64,
    /// Affiliate events the task rejected, back to approved.
    pub events: i64,
    /// Cap units the task gave back, taken again.
    pub cap_units: i64,
    /// Caps that taking the units again puts over their limit, described.
    pub over_limit: Vec<String>,
}

impl TaskView {
    /// Finished one way or the other: nothing more will change.
    pub fn is_finished(&self) -> bool {
        self.status.is_finished()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedLead {
    pub row: i64,
    pub lead_id: i64,
    pub outcome: Outcome,
}

/// A line of the task history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSummary {
    pub id: i64,
    pub file_name: String,
    pub campaign: String,
    pub started_by: String,
    pub created_at: String,
    pub status: TaskStatus,
    pub rows_total: Option<i64>,
    pub rows_done: i64,
    pub rejected: i64,
}

/// A page of the task history, newest first, with the cursors of its neighbours: `older` is the
/// id to read older tasks before (its last task), `newer` the id to read newer ones after (its
/// first), each `None` when there are none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TaskHistory {
    pub tasks: Vec<TaskSummary>,
    pub older: Option<i64>,
    pub newer: Option<i64>,
}
