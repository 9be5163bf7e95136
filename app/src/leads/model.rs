//! All leads as the browser and the server share it: the filters carried by the address, a page of
//! results; the lead page types live in `domain::lead` and are re-exported here.

use serde::{Deserialize, Serialize};

use crate::domain::status::LeadStatus;

pub use crate::domain::lead::{EventLine, HistoryLine, LeadDetail, LeadSort, RejectionWindow, pounds};

/// Rows per page of All leads.
pub const PAGE_SIZE: usize = 50;

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
