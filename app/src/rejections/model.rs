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

/// What the server read of an uploaded file: shown as soon as a file is chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadPreview {
    pub upload_id: i64,
    pub file_name: String,
    pub size_bytes: u64,
    /// The sniffed delimiter, in words ("comma").
    pub delimiter: String,
    pub headers: Vec<String>,
    /// The first data rows, as the task will read them.
    pub rows: Vec<Vec<String>>,
}

/// The refusal an upload answers with (HTTP 4xx), in plain words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRefusal {
    pub error: String,
}

/// How the file's rows name their lead, as chosen on the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierChoice {
    LeadId,
    Uid,
    /// A deduped field of the campaign.
    Field(i64),
}

/// The Import Rejections form, as sent for a preview or to start the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskForm {
    pub upload_id: i64,
    pub campaign_id: Option<i64>,
    pub mode: IdentifierChoice,
    pub identifier_column: String,
    pub reason_column: String,
    /// `YYYY-MM-DD`, or empty for today.
    pub reject_from: String,
    pub options: TaskOptions,
}

/// What a task would do ("Preview outcomes"), computed without changing anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewSummary {
    pub rows: i64,
    pub counts: Vec<(Outcome, i64)>,
    /// R, `YYYY-MM-DD`.
    pub reference_date: String,
    /// The first day inside the window, `YYYY-MM-DD`.
    pub window_start: String,
    pub max_rejection_days: i32,
    /// Option 4 on: how many remaining leads would move to accepted.
    pub remaining_to_accept: Option<i64>,
    /// Option 5 on: cap units that would be given back.
    pub cap_units: Option<i64>,
}

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
}

impl TaskView {
    /// Finished one way or the other: nothing more will change.
    pub fn is_finished(&self) -> bool {
        matches!(self.status, TaskStatus::Completed | TaskStatus::Failed)
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

/// Header names that usually hold a Lead ID, a UID, or a reason (compared lower-case, letters
/// and digits only).
const LEAD_ID_NAMES: &[&str] = &["leadid", "lead", "id", "leadnumber"];
const UID_NAMES: &[&str] = &["uid", "consumersessionid", "sessionid", "consumerid", "leaduid"];
const REASON_NAMES: &[&str] = &[
    "reason",
    "rejectionreason",
    "rejectreason",
    "reasonforrejection",
    "rejectedreason",
    "comment",
    "notes",
];

fn simplified(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// The first header whose simplified name is one of `candidates` (in candidate order).
fn pick(headers: &[String], candidates: &[&str]) -> Option<String> {
    candidates.iter().find_map(|want| headers.iter().find(|h| simplified(h) == *want).cloned())
}

/// The column to pre-select as the identifier for `mode`; `field` is the chosen field's label
/// and kind (`email`, `phone`, `text`) in field mode.
pub fn guess_identifier_column(
    headers: &[String],
    mode: IdentifierChoice,
    field: Option<(&str, &str)>,
) -> Option<String> {
    match mode {
        IdentifierChoice::LeadId => pick(headers, LEAD_ID_NAMES),
        IdentifierChoice::Uid => pick(headers, UID_NAMES),
        IdentifierChoice::Field(_) => {
            let (label, kind) = field?;
            let label = simplified(label);
            let mut names: Vec<&str> = vec![label.as_str()];
            match kind {
                "email" => names.extend(["email", "emailaddress", "mail"]),
                "phone" => names.extend(["phone", "phonenumber", "telephone", "mobile", "tel"]),
                _ => {}
            }
            pick(headers, &names)
        }
    }
}

/// The column to pre-select as the rejection reason.
pub fn guess_reason_column(headers: &[String]) -> Option<String> {
    pick(headers, REASON_NAMES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn identifier_columns_are_guessed_from_common_names() {
        use IdentifierChoice::*;
        for name in ["lead_id", "Lead ID", "leadid", "LEAD-ID"] {
            let h = headers(&["Reason", name, "email"]);
            assert_eq!(guess_identifier_column(&h, LeadId, None).as_deref(), Some(name));
        }
        let h = headers(&["uid", "rejection_reason"]);
        assert_eq!(guess_identifier_column(&h, Uid, None).as_deref(), Some("uid"));
        assert_eq!(guess_identifier_column(&h, LeadId, None), None);
        let h = headers(&["E-mail Address", "why"]);
        assert_eq!(
            guess_identifier_column(&h, Field(3), Some(("Email", "email"))).as_deref(),
            Some("E-mail Address")
        );
        let h = headers(&["Mobile", "Reason"]);
        assert_eq!(
            guess_identifier_column(&h, Field(4), Some(("Phone", "phone"))).as_deref(),
            Some("Mobile")
        );
        let h = headers(&["Postcode", "Reason"]);
        assert_eq!(
            guess_identifier_column(&h, Field(5), Some(("Postcode", "text"))).as_deref(),
            Some("Postcode")
        );
        assert_eq!(guess_identifier_column(&h, Field(5), None), None);
    }

    #[test]
    fn reason_columns_are_guessed_from_common_names() {
        assert_eq!(
            guess_reason_column(&headers(&["lead_id", "Rejection Reason"])).as_deref(),
            Some("Rejection Reason")
        );
        assert_eq!(guess_reason_column(&headers(&["reason", "rejection_reason"])).as_deref(), Some("reason"));
        assert_eq!(guess_reason_column(&headers(&["lead_id", "status"])), None);
    }

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
