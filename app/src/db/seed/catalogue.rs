//! What the demo is made of: its instances, clients and suppliers, and its campaigns with their
//! fields, rejection windows, suppliers and caps.

use crate::domain::caps::CapPeriod;
use crate::domain::identifiers::FieldKind;

/// A campaign of the demo and how many leads it gets.
pub(super) struct CampaignSpec {
    pub(super) instance: usize,
    pub(super) client: &'static str,
    pub(super) name: &'static str,
    pub(super) max_rejection_days: Option<i32>,
    pub(super) fields: &'static [(&'static str, &'static str, FieldKind, bool)],
    pub(super) leads: usize,
    pub(super) suppliers: &'static [&'static str],
    pub(super) caps: &'static [(Option<&'static str>, CapPeriod, i64)],
}

const CONTACT_FIELDS_DEDUPED: &[(&str, &str, FieldKind, bool)] = &[
    ("email", "Email", FieldKind::Email, true),
    ("phone", "Phone", FieldKind::Phone, true),
    ("first_name", "First name", FieldKind::Text, false),
    ("last_name", "Last name", FieldKind::Text, false),
    ("postcode", "Postcode", FieldKind::Text, false),
];
const CONTACT_FIELDS_PLAIN: &[(&str, &str, FieldKind, bool)] = &[
    ("email", "Email", FieldKind::Email, false),
    ("phone", "Phone", FieldKind::Phone, false),
    ("first_name", "First name", FieldKind::Text, false),
    ("last_name", "Last name", FieldKind::Text, false),
    ("postcode", "Postcode", FieldKind::Text, false),
];
const ENERGY_FIELDS: &[(&str, &str, FieldKind, bool)] = &[
    ("email", "Email", FieldKind::Email, true),
    ("phone", "Phone", FieldKind::Phone, false),
    ("first_name", "First name", FieldKind::Text, false),
    ("last_name", "Last name", FieldKind::Text, false),
    ("postcode", "Postcode", FieldKind::Text, false),
];

pub(super) const INSTANCES: [&str; 2] = ["Demo Leads Ltd", "Other Supplier Co"];
pub(super) const CLIENTS: [(usize, &str); 3] =
    [(0, "Acme Insurance"), (0, "Bolt Energy"), (1, "Zenith Loans")];
pub(super) const SUPPLIERS: [(usize, &str); 6] = [
    (0, "LeadGen Direct"),
    (0, "Compare Media"),
    (0, "Quote Partners"),
    (0, "Insure Clicks"),
    (1, "Northern Leads"),
    (1, "Finance Funnel"),
];

pub(super) const CAMPAIGNS: [CampaignSpec; 5] = [
    CampaignSpec {
        instance: 0,
        client: "Acme Insurance",
        name: "Home Insurance UK",
        max_rejection_days: Some(7),
        fields: CONTACT_FIELDS_DEDUPED,
        leads: 9000,
        suppliers: &["LeadGen Direct", "Compare Media", "Quote Partners", "Insure Clicks"],
        caps: &[(None, CapPeriod::Day, 400), (Some("LeadGen Direct"), CapPeriod::Week, 1200)],
    },
    CampaignSpec {
        instance: 0,
        client: "Acme Insurance",
        name: "Car Insurance UK",
        max_rejection_days: Some(30),
        fields: CONTACT_FIELDS_PLAIN,
        leads: 6000,
        suppliers: &["LeadGen Direct", "Compare Media", "Insure Clicks"],
        caps: &[(None, CapPeriod::Month, 6000)],
    },
    CampaignSpec {
        instance: 0,
        client: "Acme Insurance",
        name: "Pet Insurance UK",
        max_rejection_days: None,
        fields: CONTACT_FIELDS_PLAIN,
        leads: 2500,
        suppliers: &["Quote Partners", "Insure Clicks"],
        caps: &[],
    },
    CampaignSpec {
        instance: 0,
        client: "Bolt Energy",
        name: "Energy Switch UK",
        max_rejection_days: Some(14),
        fields: ENERGY_FIELDS,
        leads: 3000,
        suppliers: &["Compare Media", "Quote Partners"],
        caps: &[(Some("Compare Media"), CapPeriod::Total, 5000)],
    },
    CampaignSpec {
        instance: 1,
        client: "Zenith Loans",
        name: "Loans UK",
        max_rejection_days: Some(14),
        fields: ENERGY_FIELDS,
        leads: 2000,
        suppliers: &["Northern Leads", "Finance Funnel"],
        caps: &[(None, CapPeriod::Day, 100)],
    },
];

pub(super) const CLIENT_REJECTION_REASONS: &[&str] = &[
    "Duplicate lead",
    "Wrong number",
    "Not interested",
    "Fake details",
    "Outside service area",
    "Already a customer",
];
