//! What the lead page shows, shared by the server and the browser.

use serde::{Deserialize, Serialize};

use crate::domain::status::LeadStatus;

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
}

/// Whether a client may still reject the lead (DESIGN §3: inside while the UTC date of
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

/// Rows per page of All leads.
pub const PAGE_SIZE: usize = 50;

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

/// The All leads filters, as the page's address carries them (`?q=…&campaign=…`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadQuery {
    /// A Lead ID, UID, email or phone (normalised as for rejections).
    pub q: String,
    pub campaign: Option<i64>,
    pub status: Option<LeadStatus>,
    /// Received on or after this UTC date, `YYYY-MM-DD`.
    pub from: String,
    /// Received on or before this UTC date, `YYYY-MM-DD`.
    pub to: String,
    pub sort: LeadSort,
    /// The page's keyset cursor (from the previous page's `next`).
    pub after: String,
}

impl LeadQuery {
    /// Reads the filters from the address's query parameters.
    pub fn from_params(get: impl Fn(&str) -> Option<String>) -> Self {
        let text = |k: &str| get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
        Self {
            q: text("q"),
            campaign: get("campaign").and_then(|v| v.parse().ok()),
            status: get("status").and_then(|v| LeadStatus::parse(&v)),
            from: text("from"),
            to: text("to"),
            sort: get("sort").and_then(|v| LeadSort::parse(&v)).unwrap_or_default(),
            after: text("after"),
        }
    }

    /// The address of this query on the All leads page.
    pub fn href(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut push = |k: &str, v: &str| {
            if !v.is_empty() {
                parts.push(format!("{k}={}", crate::components::percent_encode(v, b"")));
            }
        };
        push("q", &self.q);
        push("campaign", &self.campaign.map(|c| c.to_string()).unwrap_or_default());
        push("status", self.status.map(|s| s.as_str()).unwrap_or_default());
        push("from", &self.from);
        push("to", &self.to);
        if self.sort != LeadSort::Newest {
            push("sort", self.sort.as_str());
        }
        push("after", &self.after);
        if parts.is_empty() { "/leads".to_owned() } else { format!("/leads?{}", parts.join("&")) }
    }
}

/// One page of All leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadPage {
    pub rows: Vec<super::server_fns::LeadSummary>,
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
    /// The campaigns the user may filter by: (id, name).
    pub campaigns: Vec<(i64, String)>,
}

#[cfg(test)]
mod query_tests {
    use super::*;

    #[test]
    fn queries_round_trip_through_the_address() {
        let q = LeadQuery {
            q: "+44 7700 900123".into(),
            campaign: Some(3),
            status: Some(LeadStatus::ClientRejected),
            from: "2026-11-01".into(),
            to: String::new(),
            sort: LeadSort::IdAsc,
            after: "1020069".into(),
        };
        let href = q.href();
        assert_eq!(
            href,
            "/leads?q=%2B44%207700%20900123&campaign=3&status=client_rejected&from=2026-11-01&sort=id&after=1020069"
        );
        let params: Vec<(String, String)> = href
            .trim_start_matches("/leads?")
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k.to_owned(), v.replace("%2B", "+").replace("%20", " "))
            })
            .collect();
        let back = LeadQuery::from_params(|k| params.iter().find(|(pk, _)| pk == k).map(|(_, v)| v.clone()));
        assert_eq!(back, q);
        assert_eq!(LeadQuery::default().href(), "/leads");
    }
}
