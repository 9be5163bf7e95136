//! What the lead page and the lead list show, shared by the server (which fills them from the
//! database) and the browser: the lead's details, its rejection window, events and history, and
//! the orders of All leads.

use serde::{Deserialize, Serialize};

use super::status::LeadStatus;
use super::webhooks::DeliveryView;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadDetail {
    pub id: i64,
    pub uid: String,
    pub campaign: String,
    pub supplier: String,
    pub status: LeadStatus,
    pub status_reason: Option<String>,
    /// UTC, `YYYY-MM-DD HH:MM:SS`.
    pub received_at: String,
    pub window: RejectionWindow,
    /// (label, value) in the campaign's field order.
    pub fields: Vec<(String, String)>,
    pub events: Vec<EventLine>,
    /// Newest first.
    pub history: Vec<HistoryLine>,
    /// The lead's webhook events, oldest first: for owner staff only (a client never sees its
    /// supplier's endpoints), `None` for anyone else.
    pub webhooks: Option<Vec<DeliveryView>>,
}

/// Whether a client may still reject the lead (docs/DOMAIN.md §3: inside while the UTC date of
/// `received_at` is on or after today − N days).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectionWindow {
    /// Inside until the end of `until` (UTC).
    Inside { until: String, days: i32 },
    /// The last day it could be rejected was `ended`.
    Closed { ended: String, days: i32 },
    /// The campaign has no maximum rejection time.
    NoWindow,
}

impl RejectionWindow {
    pub fn describe(&self) -> String {
        match self {
            RejectionWindow::Inside { until, days } => {
                format!("Inside the rejection window until {until} (UTC), {days} days after it was received.")
            }
            RejectionWindow::Closed { ended, days } => {
                format!(
                    "Outside the rejection window: it closed after {ended}, {days} days after it was received."
                )
            }
            RejectionWindow::NoWindow => {
                "Not rejectable: the campaign has no maximum rejection time.".to_owned()
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLine {
    pub kind: String,
    pub name: String,
    /// Pounds, e.g. `£12.50`.
    pub cost: String,
    pub revenue: String,
    pub status: String,
    pub occurred_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryLine {
    pub at: String,
    pub from: Option<LeadStatus>,
    pub to: LeadStatus,
    pub reason: Option<String>,
    /// Who or what made the change, in words.
    pub by: String,
    pub task_id: Option<i64>,
}

/// Pence as pounds: `1250` → `£12.50`.
pub fn pounds(pence: i64) -> String {
    let sign = if pence < 0 { "-" } else { "" };
    let p = pence.unsigned_abs();
    format!("{sign}£{}.{:02}", p / 100, p % 100)
}

#[cfg(test)]
mod tests {
    use super::pounds;

    #[test]
    fn pence_are_shown_as_pounds() {
        assert_eq!(pounds(1250), "£12.50");
        assert_eq!(pounds(5), "£0.05");
        assert_eq!(pounds(0), "£0.00");
        assert_eq!(pounds(-199), "-£1.99");
    }
}

/// The order of All leads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeadSort {
    #[default]
    Newest,
    Oldest,
    IdAsc,
    IdDesc,
}

impl LeadSort {
    pub const ALL: [LeadSort; 4] = [LeadSort::Newest, LeadSort::Oldest, LeadSort::IdDesc, LeadSort::IdAsc];

    pub fn as_str(self) -> &'static str {
        match self {
            LeadSort::Newest => "newest",
            LeadSort::Oldest => "oldest",
            LeadSort::IdAsc => "id",
            LeadSort::IdDesc => "id_desc",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            LeadSort::Newest => "Newest first",
            LeadSort::Oldest => "Oldest first",
            LeadSort::IdAsc => "Lead ID, ascending",
            LeadSort::IdDesc => "Lead ID, descending",
        }
    }
}
