//! The vocabulary of rejection tasks, shared by the engine, the pages and the browser: per-row
//! outcomes, the five options, task status and phase, and how a file's rows name their lead
//! (docs/DOMAIN.md §3). Pure: no I/O.

use serde::{Deserialize, Serialize};

use super::identifiers::FieldKind;

/// A stored value that is not one this version knows (a task written by a newer version, or a
/// damaged row). Loading such a row fails instead of guessing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown stored {what}: {value:?}")]
pub struct UnknownStored {
    pub what: &'static str,
    pub value: String,
}

/// Every data row gets exactly one outcome (docs/DOMAIN.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Rejected,
    AlreadyRejected,
    OutsideWindow,
    AcceptedOutsideWindow,
    NotDelivered,
    NotFound,
    Ambiguous,
    DuplicateInFile,
    Invalid,
}

impl Outcome {
    pub const ALL: [Outcome; 9] = [
        Outcome::Rejected,
        Outcome::AlreadyRejected,
        Outcome::OutsideWindow,
        Outcome::AcceptedOutsideWindow,
        Outcome::NotDelivered,
        Outcome::NotFound,
        Outcome::Ambiguous,
        Outcome::DuplicateInFile,
        Outcome::Invalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Rejected => "rejected",
            Outcome::AlreadyRejected => "already_rejected",
            Outcome::OutsideWindow => "outside_window",
            Outcome::AcceptedOutsideWindow => "accepted_outside_window",
            Outcome::NotDelivered => "not_delivered",
            Outcome::NotFound => "not_found",
            Outcome::Ambiguous => "ambiguous",
            Outcome::DuplicateInFile => "duplicate_in_file",
            Outcome::Invalid => "invalid",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Rejected => "Rejected",
            Outcome::AlreadyRejected => "Already rejected",
            Outcome::OutsideWindow => "Outside the rejection window",
            Outcome::AcceptedOutsideWindow => "Outside the window, moved to accepted",
            Outcome::NotDelivered => "Not delivered",
            Outcome::NotFound => "Not found",
            Outcome::Ambiguous => "Matches several leads",
            Outcome::DuplicateInFile => "Duplicate in file",
            Outcome::Invalid => "Invalid row",
        }
    }
}

/// The optional configuration of a rejection task (docs/DOMAIN.md §3, options 2–5; option 1 is
/// the reject-from date, kept beside it).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskOptions {
    /// "Move leads older than maximum rejected date to accepted".
    pub move_outside_to_accepted: bool,
    /// "Reject affiliate events".
    pub reject_affiliate_events: bool,
    /// "Move any remaining leads to accepted".
    pub move_remaining_to_accepted: bool,
    /// "Count these rejections towards the cap".
    pub count_towards_cap: bool,
}

impl TaskOptions {
    /// Options 2–5 all on: the heaviest task (the benchmark's, and the tests' full runs).
    pub const ALL_ON: TaskOptions = TaskOptions {
        move_outside_to_accepted: true,
        reject_affiliate_events: true,
        move_remaining_to_accepted: true,
        count_towards_cap: true,
    };
}

/// Where a task is in its life: `queued → running → completed | failed`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Queued,
    Running,
    Completed,
    Failed,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 4] =
        [TaskStatus::Queued, TaskStatus::Running, TaskStatus::Completed, TaskStatus::Failed];

    /// The value stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            TaskStatus::Queued => "Queued",
            TaskStatus::Running => "Running",
            TaskStatus::Completed => "Completed",
            TaskStatus::Failed => "Failed",
        }
    }

    /// Finished one way or the other: nothing more will change.
    pub fn is_finished(self) -> bool {
        matches!(self, TaskStatus::Completed | TaskStatus::Failed)
    }
}

impl TryFrom<String> for TaskStatus {
    type Error = UnknownStored;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).ok_or(UnknownStored { what: "task status", value })
    }
}

/// The step a running task is at; each step resumes on its own after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskPhase {
    /// Applying the file's rows in batches.
    Rows,
    /// Merging the batches' outcomes into the results file.
    Results,
    /// Option 4: moving the campaign's remaining leads to accepted.
    Remaining,
    /// Nothing left to do.
    Done,
}

impl TaskPhase {
    pub const ALL: [TaskPhase; 4] =
        [TaskPhase::Rows, TaskPhase::Results, TaskPhase::Remaining, TaskPhase::Done];

    /// The value stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskPhase::Rows => "rows",
            TaskPhase::Results => "results",
            TaskPhase::Remaining => "remaining",
            TaskPhase::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The phase after the results file is written.
    pub fn after_results(options: TaskOptions) -> Self {
        if options.move_remaining_to_accepted { TaskPhase::Remaining } else { TaskPhase::Done }
    }
}

impl TryFrom<String> for TaskPhase {
    type Error = UnknownStored;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).ok_or(UnknownStored { what: "task phase", value })
    }
}

/// How a file's rows name their lead, as the user chose it. The same value goes from the form
/// to the engine and into the task's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierChoice {
    LeadId,
    Uid,
    /// A deduped field of the campaign (its id).
    Field(i64),
}

impl IdentifierChoice {
    /// The stored form: the `identifier_mode` column and the `identifier_field_id` column.
    pub fn to_stored(self) -> (&'static str, Option<i64>) {
        match self {
            IdentifierChoice::LeadId => ("lead_id", None),
            IdentifierChoice::Uid => ("uid", None),
            IdentifierChoice::Field(id) => ("field", Some(id)),
        }
    }

    /// Reads the stored form back; `None` for a combination [`to_stored`](Self::to_stored)
    /// never writes.
    pub fn from_stored(mode: &str, field_id: Option<i64>) -> Option<Self> {
        match (mode, field_id) {
            ("lead_id", None) => Some(IdentifierChoice::LeadId),
            ("uid", None) => Some(IdentifierChoice::Uid),
            ("field", Some(id)) => Some(IdentifierChoice::Field(id)),
            _ => None,
        }
    }
}

impl TryFrom<(String, Option<i64>)> for IdentifierChoice {
    type Error = UnknownStored;

    fn try_from((mode, field_id): (String, Option<i64>)) -> Result<Self, Self::Error> {
        Self::from_stored(&mode, field_id)
            .ok_or(UnknownStored { what: "identifier mode", value: format!("{mode} {field_id:?}") })
    }
}

/// How rows name their lead once the task is checked: in field mode, with the field's kind,
/// which says how its values are normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifierMode {
    LeadId,
    Uid,
    /// A deduped campaign field.
    Field {
        field_id: i64,
        kind: FieldKind,
    },
}

impl IdentifierMode {
    /// The choice this mode was resolved from.
    pub fn choice(self) -> IdentifierChoice {
        match self {
            IdentifierMode::LeadId => IdentifierChoice::LeadId,
            IdentifierMode::Uid => IdentifierChoice::Uid,
            IdentifierMode::Field { field_id, .. } => IdentifierChoice::Field(field_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        for t in TaskStatus::ALL {
            assert_eq!(TaskStatus::try_from(t.as_str().to_owned()), Ok(t));
        }
        for p in TaskPhase::ALL {
            assert_eq!(TaskPhase::try_from(p.as_str().to_owned()), Ok(p));
        }
        for c in [IdentifierChoice::LeadId, IdentifierChoice::Uid, IdentifierChoice::Field(7)] {
            let (mode, field) = c.to_stored();
            assert_eq!(IdentifierChoice::try_from((mode.to_owned(), field)), Ok(c));
        }
    }

    #[test]
    fn unknown_stored_values_are_refused_not_guessed() {
        assert!(TaskStatus::try_from("paused".to_owned()).is_err());
        assert!(TaskPhase::try_from("".to_owned()).is_err());
        assert!(IdentifierChoice::try_from(("field".to_owned(), None)).is_err());
        assert!(IdentifierChoice::try_from(("lead_id".to_owned(), Some(3))).is_err());
        assert!(IdentifierChoice::try_from(("email".to_owned(), Some(3))).is_err());
    }

    #[test]
    fn the_phase_after_the_results_depends_on_option_4() {
        let mut options = TaskOptions::default();
        assert_eq!(TaskPhase::after_results(options), TaskPhase::Done);
        options.move_remaining_to_accepted = true;
        assert_eq!(TaskPhase::after_results(options), TaskPhase::Remaining);
    }
}
