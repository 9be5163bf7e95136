//! Generation (pure): everything random is drawn here, from one seeded generator, in a fixed order,
//! so the same moment of seeding always gives the same leads.

use std::collections::HashSet;

use chrono::{NaiveDateTime, TimeDelta};
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use super::catalogue::{CAMPAIGNS, CLIENT_REJECTION_REASONS, CampaignSpec};
use super::{DAYS_OF_LEADS, KNOWN_LEAD_EMAIL, KNOWN_LEAD_PHONE};
use crate::domain::status::LeadStatus;

const SEED: u64 = 0x5EED_BAC0;
const FIRST_LEAD_ID: i64 = 1_000_001;

const FIRST_NAMES: &[&str] = &[
    "Oliver", "George", "Harry", "Jack", "Noah", "Leo", "Arthur", "Muhammad", "Oscar", "Charlie", "Amelia",
    "Olivia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Isabella", "Rosie", "Sophia", "Grace", "Freya",
    "Florence", "Poppy", "Thomas", "James", "William", "Emily", "Sophie", "Ruby", "Priya", "Aisha", "Callum",
    "Rhys", "Seren", "Fionn", "Niamh", "Eilidh", "Kwame", "Zara",
];
const LAST_NAMES: &[&str] = &[
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson",
    "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes", "Green", "Hall",
    "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood", "Turner", "Martin", "Cooper", "Hill", "Ward",
    "Morris", "Moore", "Clark", "Lee", "King", "Baker", "Harrison", "Khan", "Campbell",
];
const EMAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "hotmail.co.uk",
    "yahoo.co.uk",
    "btinternet.com",
    "icloud.com",
    "sky.com",
    "live.co.uk",
];
const OUTWARD_CODES: &[&str] = &[
    "SW1A", "M1", "B33", "LS6", "EH1", "CF10", "BS8", "NE1", "G2", "L17", "NG7", "S10", "BT9", "OX4", "CB2",
    "BN1", "PL4", "AB10",
];

/// A lead as drawn, before it has database ids.
pub(super) struct GenLead {
    pub(super) id: i64,
    pub(super) instance: usize,
    pub(super) campaign: usize,
    pub(super) supplier: &'static str,
    pub(super) uid: String,
    pub(super) received_at: NaiveDateTime,
    pub(super) status: LeadStatus,
    pub(super) status_reason: Option<String>,
    /// Field key → raw value.
    pub(super) values: Vec<(&'static str, String)>,
    pub(super) events: Vec<GenEvent>,
}

/// An affiliate event of a lead.
pub(super) struct GenEvent {
    pub(super) kind: &'static str,
    pub(super) name: &'static str,
    pub(super) cost_pence: i64,
    pub(super) revenue_pence: i64,
    pub(super) approved: bool,
    pub(super) occurred_at: NaiveDateTime,
}

/// The demo's leads, by id.
pub(super) struct DemoData {
    pub(super) leads: Vec<GenLead>,
}

impl DemoData {
    /// The leads seeding at `now` creates.
    pub(super) fn generate(now: NaiveDateTime) -> Self {
        let mut draw = Draw { rng: SmallRng::seed_from_u64(SEED), used_phones: HashSet::new(), email_seq: 0 };
        let mut leads = Vec::new();
        for (ci, spec) in CAMPAIGNS.iter().enumerate() {
            for _ in 0..spec.leads {
                leads.push(draw.lead(ci, spec, now));
            }
        }
        // The known lead: the first Home Insurance UK lead, received two days ago.
        if let Some(known) = leads.first_mut() {
            known.received_at = now - TimeDelta::days(2);
            known.status = LeadStatus::Received;
            known.status_reason = None;
            known.supplier = "LeadGen Direct";
            known.values = vec![
                ("email", KNOWN_LEAD_EMAIL.to_owned()),
                ("phone", KNOWN_LEAD_PHONE.to_owned()),
                ("first_name", "Jane".to_owned()),
                ("last_name", "Smith".to_owned()),
                ("postcode", "SW1A 1AA".to_owned()),
            ];
        }
        // Lead IDs follow arrival order, as an intake system would assign them.
        leads.sort_by(|a, b| a.received_at.cmp(&b.received_at).then(a.uid.cmp(&b.uid)));
        for (i, lead) in leads.iter_mut().enumerate() {
            lead.id = FIRST_LEAD_ID + i as i64;
        }
        Self { leads }
    }
}

/// The generator and what it must not repeat, while drawing leads.
struct Draw {
    rng: SmallRng,
    used_phones: HashSet<u64>,
    email_seq: u32,
}

impl Draw {
    /// One lead of campaign `ci` (`spec`), received in the `DAYS_OF_LEADS` before `now`.
    fn lead(&mut self, ci: usize, spec: &CampaignSpec, now: NaiveDateTime) -> GenLead {
        let rng = &mut self.rng;
        let offset_secs = rng.random_range(60..DAYS_OF_LEADS * 86_400);
        let received_at = now - TimeDelta::seconds(offset_secs);
        let first = *FIRST_NAMES.choose(rng).unwrap_or(&"Alex");
        let last = *LAST_NAMES.choose(rng).unwrap_or(&"Smith");
        self.email_seq += 1;
        let email_seq = self.email_seq;
        let domain = *EMAIL_DOMAINS.choose(rng).unwrap_or(&"example.co.uk");
        let email = format!("{}.{}{}@{}", first.to_lowercase(), last.to_lowercase(), email_seq, domain);
        let phone = loop {
            let n: u64 = rng.random_range(7_400_000_000..7_999_999_999);
            if self.used_phones.insert(n) {
                break format_phone(n, rng.random_range(0..3));
            }
        };
        let postcode = format!(
            "{} {}{}{}",
            OUTWARD_CODES.choose(rng).unwrap_or(&"SW1A"),
            rng.random_range(1..10),
            char::from(b'A' + rng.random_range(0..26u8)),
            char::from(b'A' + rng.random_range(0..26u8)),
        );
        let (status, status_reason) = draw_status(rng, spec.max_rejection_days.is_some());
        let uid = format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            rng.random::<u32>(),
            rng.random::<u16>(),
            rng.random_range(0..0x1000u16),
            0x8000 | (rng.random::<u16>() & 0x3fff),
            rng.random::<u64>() & 0xffff_ffff_ffff,
        );
        let events = draw_events(rng, received_at);
        let supplier = *spec.suppliers.choose(rng).unwrap_or(&spec.suppliers[0]);
        GenLead {
            id: 0,
            instance: spec.instance,
            campaign: ci,
            supplier,
            uid,
            received_at,
            status,
            status_reason,
            values: vec![
                ("email", email),
                ("phone", phone),
                ("first_name", first.to_owned()),
                ("last_name", last.to_owned()),
                ("postcode", postcode),
            ],
            events,
        }
    }
}

/// A tracked click for about a third of leads; about half of those also converted.
fn draw_events(rng: &mut SmallRng, received_at: NaiveDateTime) -> Vec<GenEvent> {
    let mut events = Vec::new();
    if rng.random_bool(0.3) {
        events.push(GenEvent {
            kind: "click",
            name: "Click",
            cost_pence: rng.random_range(20..80),
            revenue_pence: 0,
            approved: rng.random_bool(0.95),
            occurred_at: received_at - TimeDelta::seconds(rng.random_range(30..600)),
        });
        if rng.random_bool(0.5) {
            events.push(GenEvent {
                kind: "conversion",
                name: "Quote requested",
                cost_pence: rng.random_range(150..600),
                revenue_pence: rng.random_range(500..2500),
                approved: rng.random_bool(0.9),
                occurred_at: received_at,
            });
        }
    }
    events
}

/// UK mobile numbers written the ways people write them.
fn format_phone(n: u64, style: u8) -> String {
    let digits = format!("0{n}");
    match style {
        0 => digits,
        1 => format!("{} {}", &digits[..5], &digits[5..]),
        _ => format!("+44 {} {}", &digits[1..5], &digits[5..]),
    }
}

fn draw_status(rng: &mut SmallRng, rejectable: bool) -> (LeadStatus, Option<String>) {
    let roll = rng.random_range(0..100);
    match roll {
        0..=54 => (LeadStatus::Received, None),
        55..=66 => (LeadStatus::Accepted, None),
        67..=71 => (LeadStatus::Sale, None),
        72..=76 => (LeadStatus::Pending, Some("Awaiting phone verification".into())),
        77..=79 => (LeadStatus::Flagged, Some("Phone number not verified".into())),
        80..=84 => (LeadStatus::Rejected, Some("Failed validation: duplicate within 30 days".into())),
        85..=86 => (LeadStatus::Quarantine, Some("Suspected fraud: repeated IP address".into())),
        _ if rejectable => {
            (LeadStatus::ClientRejected, CLIENT_REJECTION_REASONS.choose(rng).map(|r| (*r).to_owned()))
        }
        _ => (LeadStatus::Received, None),
    }
}
