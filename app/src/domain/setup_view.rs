//! What the set-up pages show (docs/DOMAIN.md §9): clients, campaigns with their fields, caps,
//! suppliers and change log, and suppliers with their campaigns. Read models shared by the
//! server functions and the browser.

use serde::{Deserialize, Serialize};

use super::caps::CapPeriod;
use super::identifiers::FieldKind;

/// An id and a name: a campaign, client, supplier or user as a list mentions it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    pub id: i64,
    pub name: String,
}

/// A row of the Clients page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSummary {
    pub id: i64,
    pub name: String,
    pub campaigns: Vec<Named>,
    /// The client's users, by email.
    pub users: Vec<String>,
}

/// A row of the Campaigns page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignSummary {
    pub id: i64,
    pub name: String,
    pub client: Named,
    pub max_rejection_days: Option<i32>,
    pub fields: i64,
    pub suppliers: i64,
}

/// A field of a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldView {
    pub id: i64,
    pub key: String,
    pub label: String,
    pub kind: FieldKind,
    pub dedupe: bool,
    pub position: i32,
    /// Some lead of the campaign has a value in this field: its key and kind are fixed.
    pub has_values: bool,
}

/// A cap of a campaign, with what its current period has used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapView {
    pub id: i64,
    /// `None`: the cap is on the whole campaign.
    pub supplier: Option<Named>,
    pub period: CapPeriod,
    pub limit: i64,
    /// Units used in the period holding today.
    pub used: i64,
    /// The first day of that period (ISO date); empty for a total cap.
    pub period_start: String,
}

/// One logged change to a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeView {
    /// `YYYY-MM-DD HH:MM` UTC.
    pub at: String,
    /// The user's name, or "Command line".
    pub who: String,
    pub action: String,
    pub detail: String,
}

/// The campaign page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignDetail {
    pub id: i64,
    pub name: String,
    pub client: Named,
    pub max_rejection_days: Option<i32>,
    pub fields: Vec<FieldView>,
    pub caps: Vec<CapView>,
    /// Suppliers that may send leads to this campaign.
    pub suppliers: Vec<Named>,
    /// Every supplier of the instance (for choosing a cap's supplier).
    pub all_suppliers: Vec<Named>,
    /// Newest first.
    pub changes: Vec<ChangeView>,
}

/// A row of the Suppliers page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupplierSummary {
    pub id: i64,
    pub name: String,
    /// Campaigns the supplier may send leads to.
    pub campaigns: Vec<Named>,
}

/// A value held by more than one lead of a campaign's field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateValue {
    pub value: String,
    pub leads: i64,
    /// The first few of those leads' ids.
    pub lead_ids: Vec<i64>,
}

/// The duplicates page of a field: the values that stop dedupe being turned on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDuplicates {
    pub campaign: Named,
    pub field: Named,
    /// Leads that repeat a value an earlier lead has.
    pub surplus: i64,
    /// The most repeated values, most first.
    pub values: Vec<DuplicateValue>,
}

/// A supplier's intake key as the Suppliers page lists it: never the key itself, only the
/// characters shown to tell keys apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyView {
    pub id: i64,
    pub supplier_id: i64,
    /// The first characters, e.g. `sbk_1a2b3c4d…`.
    pub shown: String,
    /// `YYYY-MM-DD HH:MM` UTC.
    pub created_at: String,
    /// `YYYY-MM-DD HH:MM` UTC; `None` if never used.
    pub last_used_at: Option<String>,
    pub revoked: bool,
}

/// A key just made: the only time the whole key is given out (so `Debug` leaves it out).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewKey {
    pub id: i64,
    pub key: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey").field("id", &self.id).field("key", &"…").finish()
    }
}
