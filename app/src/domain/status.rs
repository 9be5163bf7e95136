//! Lead statuses, as suppliers know them (docs/DOMAIN.md §2).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    Received,
    Pending,
    Flagged,
    Rejected,
    Quarantine,
    Accepted,
    ClientRejected,
    Sale,
}

impl LeadStatus {
    pub const ALL: [LeadStatus; 8] = [
        LeadStatus::Received,
        LeadStatus::Pending,
        LeadStatus::Flagged,
        LeadStatus::Rejected,
        LeadStatus::Quarantine,
        LeadStatus::Accepted,
        LeadStatus::ClientRejected,
        LeadStatus::Sale,
    ];

    /// The value stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::Received => "received",
            LeadStatus::Pending => "pending",
            LeadStatus::Flagged => "flagged",
            LeadStatus::Rejected => "rejected",
            LeadStatus::Quarantine => "quarantine",
            LeadStatus::Accepted => "accepted",
            LeadStatus::ClientRejected => "client_rejected",
            LeadStatus::Sale => "sale",
        }
    }

    /// The label users see.
    pub fn label(self) -> &'static str {
        match self {
            LeadStatus::Received => "Received",
            LeadStatus::Pending => "Pending",
            LeadStatus::Flagged => "Flagged",
            LeadStatus::Rejected => "Rejected",
            LeadStatus::Quarantine => "Quarantine",
            LeadStatus::Accepted => "Accepted",
            LeadStatus::ClientRejected => "Client Rejected",
            LeadStatus::Sale => "Sale",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// For a client, a lead was delivered if it is received, accepted or sold.
    pub fn is_delivered(self) -> bool {
        matches!(self, LeadStatus::Received | LeadStatus::Accepted | LeadStatus::Sale)
    }

    /// Whether the lead took a unit of its caps. `rejected` means refused at intake, so it never counted.
    pub fn counts_towards_caps(self) -> bool {
        self != LeadStatus::Rejected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_status() {
        for s in LeadStatus::ALL {
            assert_eq!(LeadStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(LeadStatus::parse("Received"), None);
    }

    #[test]
    fn delivered_statuses() {
        let delivered: Vec<_> = LeadStatus::ALL.into_iter().filter(|s| s.is_delivered()).collect();
        assert_eq!(delivered, [LeadStatus::Received, LeadStatus::Accepted, LeadStatus::Sale]);
    }

    #[test]
    fn labels_use_suppliers_words() {
        assert_eq!(LeadStatus::ClientRejected.label(), "Client Rejected");
    }
}
