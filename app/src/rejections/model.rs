//! The vocabulary of rejection tasks shared by the server and the browser: per-row outcomes,
//! the five options, task status.

use serde::{Deserialize, Serialize};

/// Every data row gets exactly one outcome (DESIGN §3).
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

/// The optional configuration of a rejection task (DESIGN §3, options 2–5; option 1 is the
/// reject-from date, kept beside it).
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Queued,
    Running,
    Completed,
    Failed,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [TaskStatus::Queued, TaskStatus::Running, TaskStatus::Completed, TaskStatus::Failed]
            .into_iter()
            .find(|t| t.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            TaskStatus::Queued => "Queued",
            TaskStatus::Running => "Running",
            TaskStatus::Completed => "Completed",
            TaskStatus::Failed => "Failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        for t in [TaskStatus::Queued, TaskStatus::Running, TaskStatus::Completed, TaskStatus::Failed] {
            assert_eq!(TaskStatus::parse(t.as_str()), Some(t));
        }
    }
}
