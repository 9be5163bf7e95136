//! What the Import Rejections page and the server exchange: the upload's first rows, the form,
//! the preview's summary, and the guesses of which columns to map. The task vocabulary itself
//! (outcomes, options, statuses, task views) lives in `domain` and is re-exported here.

use serde::{Deserialize, Serialize};

pub use crate::domain::task::{IdentifierChoice, Outcome, TaskOptions, TaskStatus};
pub use crate::domain::task_view::{AffectedLead, TaskHistory, TaskSummary, TaskView};

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
}
