//! The demo instance (docs/DOMAIN.md §5), seeded into an empty database: deterministic (fixed random seed,
//! times relative to the moment of seeding) and bulk-inserted so 20,000+ leads take seconds.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, SubsecRound, TimeDelta};
use diesel::prelude::*;
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use super::schema::*;
use super::{DbConn, DbError, write_transaction};
use crate::auth::password::hash_password;
use crate::domain::caps::CapPeriod;
use crate::domain::identifiers::FieldKind;
use crate::domain::status::LeadStatus;

/// The password of every demo account.
pub const DEMO_PASSWORD: &str = "sendback-demo";

/// The demo accounts: email and who they are.
pub const DEMO_USERS: [(&str, &str); 5] = [
    ("owner@sendback.test", "owner staff of Demo Leads Ltd"),
    ("client@sendback.test", "Acme Insurance, may Reject Leads as a Client"),
    ("viewer@sendback.test", "Acme Insurance, without the permission"),
    ("bolt@sendback.test", "Bolt Energy, may Reject Leads as a Client"),
    ("other@sendback.test", "owner staff of Other Supplier Co"),
];

/// A lead that demos and tests can rely on: Home Insurance UK, received two days before seeding.
pub const KNOWN_LEAD_EMAIL: &str = "jane.smith@example.co.uk";
/// The known lead's phone, as stored (`07700900123` once normalised).
pub const KNOWN_LEAD_PHONE: &str = "+44 7700 900123";

const SEED: u64 = 0x5EED_BAC0;
const FIRST_LEAD_ID: i64 = 1_000_001;
const DAYS_OF_LEADS: i64 = 45;
/// Rows per multi-row INSERT: under SQLite's and PostgreSQL's bound-parameter limits.
const CHUNK: usize = 1000;

#[derive(Debug, Clone)]
pub struct SeedReport {
    pub instances: usize,
    pub users: usize,
    pub campaigns: usize,
    pub leads: usize,
    pub affiliate_events: usize,
    pub history_rows: usize,
    pub elapsed: Duration,
}

/// True when no instance exists yet.
pub fn is_empty(conn: &mut DbConn) -> Result<bool, DbError> {
    let n: i64 = instances::table.count().get_result(conn)?;
    Ok(n == 0)
}

/// Seeds the demo instance when the database holds no instance; `None` when it already had data.
pub fn seed_if_empty(conn: &mut DbConn, now: NaiveDateTime) -> Result<Option<SeedReport>, DbError> {
    if !is_empty(conn)? {
        return Ok(None);
    }
    seed_demo(conn, now).map(Some)
}

/// Seeds the demo data in one transaction. Refuses a database that already has instances, so a
/// mistaken run never mixes demo data into real data.
pub fn seed_demo(conn: &mut DbConn, now: NaiveDateTime) -> Result<SeedReport, DbError> {
    let started = Instant::now();
    let now = now.trunc_subsecs(0);
    let data = DemoData::generate(now);
    // Hash outside the transaction: argon2 is deliberately slow and the write lock should be short.
    let mut hashes = Vec::with_capacity(DEMO_USERS.len());
    for _ in DEMO_USERS {
        hashes.push(hash_password(DEMO_PASSWORD).map_err(|e| DbError::Hash(e.to_string()))?);
    }
    let mut report = write_transaction(conn, |conn| {
        if !is_empty(conn)? {
            return Err(DbError::Config(
                "the database already holds data; the demo is only seeded into an empty database".into(),
            ));
        }
        insert_demo(conn, &data, &hashes, now)
    })?;
    report.elapsed = started.elapsed();
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// Generation (pure): everything random is drawn here, from one seeded generator.

struct CampaignSpec {
    instance: usize,
    client: &'static str,
    name: &'static str,
    max_rejection_days: Option<i32>,
    fields: &'static [(&'static str, &'static str, FieldKind, bool)],
    leads: usize,
    suppliers: &'static [&'static str],
    caps: &'static [(Option<&'static str>, CapPeriod, i64)],
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

const INSTANCES: [&str; 2] = ["Demo Leads Ltd", "Other Supplier Co"];
const CLIENTS: [(usize, &str); 3] = [(0, "Acme Insurance"), (0, "Bolt Energy"), (1, "Zenith Loans")];
const SUPPLIERS: [(usize, &str); 6] = [
    (0, "LeadGen Direct"),
    (0, "Compare Media"),
    (0, "Quote Partners"),
    (0, "Insure Clicks"),
    (1, "Northern Leads"),
    (1, "Finance Funnel"),
];

const CAMPAIGNS: [CampaignSpec; 5] = [
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
const CLIENT_REJECTION_REASONS: &[&str] = &[
    "Duplicate lead",
    "Wrong number",
    "Not interested",
    "Fake details",
    "Outside service area",
    "Already a customer",
];

struct GenLead {
    id: i64,
    instance: usize,
    campaign: usize,
    supplier: &'static str,
    uid: String,
    received_at: NaiveDateTime,
    status: LeadStatus,
    status_reason: Option<String>,
    /// Field key → raw value.
    values: Vec<(&'static str, String)>,
    events: Vec<GenEvent>,
}

struct GenEvent {
    kind: &'static str,
    name: &'static str,
    cost_pence: i64,
    revenue_pence: i64,
    approved: bool,
    occurred_at: NaiveDateTime,
}

struct DemoData {
    leads: Vec<GenLead>,
}

impl DemoData {
    fn generate(now: NaiveDateTime) -> Self {
        let mut rng = SmallRng::seed_from_u64(SEED);
        let mut used_phones = HashSet::new();
        let mut email_seq = 0u32;
        let mut leads = Vec::new();
        for (ci, spec) in CAMPAIGNS.iter().enumerate() {
            for _ in 0..spec.leads {
                let offset_secs = rng.random_range(60..DAYS_OF_LEADS * 86_400);
                let received_at = now - TimeDelta::seconds(offset_secs);
                let first = *FIRST_NAMES.choose(&mut rng).unwrap_or(&"Alex");
                let last = *LAST_NAMES.choose(&mut rng).unwrap_or(&"Smith");
                email_seq += 1;
                let domain = *EMAIL_DOMAINS.choose(&mut rng).unwrap_or(&"example.co.uk");
                let email =
                    format!("{}.{}{}@{}", first.to_lowercase(), last.to_lowercase(), email_seq, domain);
                let phone = loop {
                    let n: u64 = rng.random_range(7_400_000_000..7_999_999_999);
                    if used_phones.insert(n) {
                        break format_phone(n, rng.random_range(0..3));
                    }
                };
                let postcode = format!(
                    "{} {}{}{}",
                    OUTWARD_CODES.choose(&mut rng).unwrap_or(&"SW1A"),
                    rng.random_range(1..10),
                    char::from(b'A' + rng.random_range(0..26u8)),
                    char::from(b'A' + rng.random_range(0..26u8)),
                );
                let (status, status_reason) = draw_status(&mut rng, spec.max_rejection_days.is_some());
                let uid = format!(
                    "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
                    rng.random::<u32>(),
                    rng.random::<u16>(),
                    rng.random_range(0..0x1000u16),
                    0x8000 | (rng.random::<u16>() & 0x3fff),
                    rng.random::<u64>() & 0xffff_ffff_ffff,
                );
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
                let supplier = *spec.suppliers.choose(&mut rng).unwrap_or(&spec.suppliers[0]);
                leads.push(GenLead {
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
                });
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

// ---------------------------------------------------------------------------------------------
// Insertion.

#[derive(Insertable)]
#[diesel(table_name = instances)]
struct NewInstance<'a> {
    name: &'a str,
    created_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = clients)]
struct NewClient<'a> {
    instance_id: i64,
    name: &'a str,
}

#[derive(Insertable)]
#[diesel(table_name = suppliers)]
struct NewSupplier<'a> {
    instance_id: i64,
    name: &'a str,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUser<'a> {
    instance_id: i64,
    client_id: Option<i64>,
    email: &'a str,
    name: &'a str,
    password_hash: &'a str,
    role: &'a str,
    created_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = user_permissions)]
struct NewPermission {
    user_id: i64,
    permission: &'static str,
    granted_by: Option<i64>,
    granted_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = campaigns)]
struct NewCampaign<'a> {
    instance_id: i64,
    client_id: i64,
    name: &'a str,
    max_rejection_days: Option<i32>,
    created_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = campaign_fields)]
struct NewField<'a> {
    campaign_id: i64,
    field_key: &'a str,
    label: &'a str,
    kind: &'a str,
    dedupe: bool,
    position: i32,
}

#[derive(Insertable)]
#[diesel(table_name = caps)]
struct NewCap {
    campaign_id: i64,
    supplier_id: Option<i64>,
    period: &'static str,
    cap_limit: i64,
}

#[derive(Insertable)]
#[diesel(table_name = cap_usage)]
struct NewCapUsage {
    cap_id: i64,
    period_start: chrono::NaiveDate,
    used: i64,
}

#[derive(Insertable)]
#[diesel(table_name = leads)]
struct NewLead<'a> {
    id: i64,
    instance_id: i64,
    campaign_id: i64,
    supplier_id: i64,
    uid: &'a str,
    received_at: NaiveDateTime,
    status: &'static str,
    status_reason: Option<&'a str>,
    cap_released: bool,
    updated_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = lead_values)]
struct NewValue<'a> {
    lead_id: i64,
    field_id: i64,
    value: &'a str,
    normalized: String,
}

#[derive(Insertable)]
#[diesel(table_name = affiliate_events)]
struct NewEvent {
    lead_id: i64,
    kind: &'static str,
    name: &'static str,
    cost_pence: i64,
    revenue_pence: i64,
    status: &'static str,
    occurred_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = lead_status_history)]
struct NewHistory<'a> {
    lead_id: i64,
    from_status: Option<&'static str>,
    to_status: &'static str,
    reason: Option<&'a str>,
    source: &'static str,
    actor_user_id: Option<i64>,
    task_id: Option<i64>,
    changed_at: NaiveDateTime,
}

fn insert_chunked<T, F>(rows: &[T], mut insert: F) -> Result<(), DbError>
where
    F: FnMut(&[T]) -> QueryResult<usize>,
{
    for chunk in rows.chunks(CHUNK) {
        insert(chunk)?;
    }
    Ok(())
}

fn insert_demo(
    conn: &mut DbConn,
    data: &DemoData,
    hashes: &[crate::auth::password::PasswordHashString],
    now: NaiveDateTime,
) -> Result<SeedReport, DbError> {
    let created_at = now - TimeDelta::days(DAYS_OF_LEADS + 30);
    let mut instance_ids = Vec::new();
    for name in INSTANCES {
        let id: i64 = diesel::insert_into(instances::table)
            .values(&NewInstance { name, created_at })
            .returning(instances::id)
            .get_result(conn)?;
        instance_ids.push(id);
    }
    let mut client_ids = BTreeMap::new();
    for (inst, name) in CLIENTS {
        let id: i64 = diesel::insert_into(clients::table)
            .values(&NewClient { instance_id: instance_ids[inst], name })
            .returning(clients::id)
            .get_result(conn)?;
        client_ids.insert(name, id);
    }
    let mut supplier_ids = BTreeMap::new();
    for (inst, name) in SUPPLIERS {
        let id: i64 = diesel::insert_into(suppliers::table)
            .values(&NewSupplier { instance_id: instance_ids[inst], name })
            .returning(suppliers::id)
            .get_result(conn)?;
        supplier_ids.insert(name, id);
    }

    // Users: (email, name, instance, client, may reject leads).
    let people: [(&str, &str, usize, Option<&str>, bool); 5] = [
        ("owner@sendback.test", "Olivia Owner", 0, None, false),
        ("client@sendback.test", "Cara Client", 0, Some("Acme Insurance"), true),
        ("viewer@sendback.test", "Victor Viewer", 0, Some("Acme Insurance"), false),
        ("bolt@sendback.test", "Bella Bolt", 0, Some("Bolt Energy"), true),
        ("other@sendback.test", "Otto Other", 1, None, false),
    ];
    let mut user_ids = BTreeMap::new();
    for ((email, name, inst, client, may_reject), hash) in people.into_iter().zip(hashes) {
        let client_id = client.and_then(|c| client_ids.get(c).copied());
        let id: i64 = diesel::insert_into(users::table)
            .values(&NewUser {
                instance_id: instance_ids[inst],
                client_id,
                email,
                name,
                password_hash: hash.as_str(),
                role: if client_id.is_some() { "client_user" } else { "owner_staff" },
                created_at,
            })
            .returning(users::id)
            .get_result(conn)?;
        user_ids.insert(email, id);
        if may_reject {
            diesel::insert_into(user_permissions::table)
                .values(&NewPermission {
                    user_id: id,
                    permission: "reject_leads",
                    granted_by: user_ids.get("owner@sendback.test").copied(),
                    granted_at: created_at,
                })
                .execute(conn)?;
        }
    }

    // Campaigns, their fields and caps.
    let mut campaign_ids = Vec::new();
    let mut field_ids: Vec<BTreeMap<&str, (i64, FieldKind)>> = Vec::new();
    let mut cap_rows: Vec<(i64, usize, Option<&str>, CapPeriod)> = Vec::new();
    for (ci, spec) in CAMPAIGNS.iter().enumerate() {
        let campaign_id: i64 = diesel::insert_into(campaigns::table)
            .values(&NewCampaign {
                instance_id: instance_ids[spec.instance],
                client_id: client_ids[spec.client],
                name: spec.name,
                max_rejection_days: spec.max_rejection_days,
                created_at,
            })
            .returning(campaigns::id)
            .get_result(conn)?;
        campaign_ids.push(campaign_id);
        let mut fields = BTreeMap::new();
        for (pos, (key, label, kind, dedupe)) in spec.fields.iter().enumerate() {
            let id: i64 = diesel::insert_into(campaign_fields::table)
                .values(&NewField {
                    campaign_id,
                    field_key: key,
                    label,
                    kind: kind.as_str(),
                    dedupe: *dedupe,
                    position: pos as i32,
                })
                .returning(campaign_fields::id)
                .get_result(conn)?;
            fields.insert(*key, (id, *kind));
        }
        field_ids.push(fields);
        for (supplier, period, limit) in spec.caps {
            let cap_id: i64 = diesel::insert_into(caps::table)
                .values(&NewCap {
                    campaign_id,
                    supplier_id: supplier.map(|s| supplier_ids[s]),
                    period: period.as_str(),
                    cap_limit: *limit,
                })
                .returning(caps::id)
                .get_result(conn)?;
            cap_rows.push((cap_id, ci, *supplier, *period));
        }
    }

    // Leads, their values, events, history and cap usage.
    let client_user_of = |campaign: usize| match CAMPAIGNS[campaign].client {
        "Acme Insurance" => user_ids.get("client@sendback.test").copied(),
        "Bolt Energy" => user_ids.get("bolt@sendback.test").copied(),
        _ => None,
    };
    let mut new_leads = Vec::with_capacity(data.leads.len());
    let mut new_values = Vec::with_capacity(data.leads.len() * 5);
    let mut new_events = Vec::new();
    let mut new_history = Vec::with_capacity(data.leads.len() * 2);
    let mut usage: BTreeMap<(i64, chrono::NaiveDate), i64> = BTreeMap::new();
    for lead in &data.leads {
        let later = (lead.received_at + TimeDelta::hours(20)).min(now);
        new_leads.push(NewLead {
            id: lead.id,
            instance_id: instance_ids[lead.instance],
            campaign_id: campaign_ids[lead.campaign],
            supplier_id: supplier_ids[lead.supplier],
            uid: &lead.uid,
            received_at: lead.received_at,
            status: lead.status.as_str(),
            status_reason: lead.status_reason.as_deref(),
            cap_released: false,
            // Leads whose status changed after intake were last updated then.
            updated_at: if lead.status == LeadStatus::Received
                || !lead.status.is_delivered() && lead.status != LeadStatus::ClientRejected
            {
                lead.received_at
            } else {
                later
            },
        });
        for (key, raw) in &lead.values {
            if let Some((field_id, kind)) = field_ids[lead.campaign].get(key) {
                new_values.push(NewValue {
                    lead_id: lead.id,
                    field_id: *field_id,
                    value: raw,
                    normalized: kind.normalize(raw).unwrap_or_default(),
                });
            }
        }
        for ev in &lead.events {
            new_events.push(NewEvent {
                lead_id: lead.id,
                kind: ev.kind,
                name: ev.name,
                cost_pence: ev.cost_pence,
                revenue_pence: ev.revenue_pence,
                status: if ev.approved { "approved" } else { "rejected" },
                occurred_at: ev.occurred_at,
            });
        }
        // History: intake, then the later change that led to the current status.
        let intake_status = match lead.status {
            LeadStatus::Pending | LeadStatus::Flagged | LeadStatus::Rejected | LeadStatus::Quarantine => {
                lead.status
            }
            _ => LeadStatus::Received,
        };
        new_history.push(NewHistory {
            lead_id: lead.id,
            from_status: None,
            to_status: intake_status.as_str(),
            reason: if intake_status == lead.status { lead.status_reason.as_deref() } else { None },
            source: "intake",
            actor_user_id: None,
            task_id: None,
            changed_at: lead.received_at,
        });
        if intake_status != lead.status {
            let by_client = lead.status == LeadStatus::ClientRejected;
            new_history.push(NewHistory {
                lead_id: lead.id,
                from_status: Some(LeadStatus::Received.as_str()),
                to_status: lead.status.as_str(),
                reason: lead.status_reason.as_deref(),
                source: if by_client { "user" } else { "supplier" },
                actor_user_id: if by_client { client_user_of(lead.campaign) } else { None },
                task_id: None,
                changed_at: later,
            });
        }
        if lead.status.counts_towards_caps() {
            for (cap_id, ci, supplier, period) in &cap_rows {
                if *ci == lead.campaign && supplier.is_none_or(|s| s == lead.supplier) {
                    *usage.entry((*cap_id, period.period_start(lead.received_at.date()))).or_default() += 1;
                }
            }
        }
    }
    insert_chunked(&new_leads, |c| crate::batch_insert!(&mut *conn, leads::table, c))?;
    insert_chunked(&new_values, |c| crate::batch_insert!(&mut *conn, lead_values::table, c))?;
    insert_chunked(&new_events, |c| crate::batch_insert!(&mut *conn, affiliate_events::table, c))?;
    insert_chunked(&new_history, |c| crate::batch_insert!(&mut *conn, lead_status_history::table, c))?;
    let usage_rows: Vec<NewCapUsage> = usage
        .into_iter()
        .map(|((cap_id, period_start), used)| NewCapUsage { cap_id, period_start, used })
        .collect();
    insert_chunked(&usage_rows, |c| crate::batch_insert!(&mut *conn, cap_usage::table, c))?;
    if let DbConn::Pg(_) = conn {
        // Lead IDs were given explicitly: move the identity past them.
        diesel::sql_query(
            "SELECT setval(pg_get_serial_sequence('leads', 'id'), (SELECT MAX(id) FROM leads))",
        )
        .execute(conn)?;
    }

    Ok(SeedReport {
        instances: INSTANCES.len(),
        users: user_ids.len(),
        campaigns: campaign_ids.len(),
        leads: new_leads.len(),
        affiliate_events: new_events.len(),
        history_rows: new_history.len(),
        elapsed: Duration::ZERO,
    })
}

// ---------------------------------------------------------------------------------------------
// Sample files.

/// Writes the sample rejection files under `dir`, matching the leads that `seed_demo(now)` creates.
/// The committed `samples/` folder is this function's output (a test keeps them in step).
pub fn write_samples(dir: &Path, now: NaiveDateTime) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let data = DemoData::generate(now);
    let mut written = Vec::new();
    for (name, contents) in sample_files(&data, now) {
        std::fs::write(dir.join(name), contents)?;
        written.push(name.to_owned());
    }
    Ok(written)
}

/// The sample files' names and contents.
fn sample_files(data: &DemoData, now: NaiveDateTime) -> Vec<(&'static str, String)> {
    let campaign = |name: &str| CAMPAIGNS.iter().position(|c| c.name == name).unwrap_or(0);
    let (home, car) = (campaign("Home Insurance UK"), campaign("Car Insurance UK"));
    let age_days = |l: &GenLead| (now - l.received_at).num_days();
    let pick = |campaign: usize, pred: &dyn Fn(&GenLead) -> bool, n: usize| -> Vec<&GenLead> {
        data.leads.iter().filter(|l| l.campaign == campaign && pred(l)).take(n).collect()
    };
    let value = |l: &GenLead, key: &str| {
        l.values.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()).unwrap_or_default()
    };
    let reasons = CLIENT_REJECTION_REASONS;

    // Home Insurance UK by Lead ID: recent deliveries, a few of every other outcome.
    let mut ids = String::from("Lead ID,Rejection Reason,Agent\n");
    let recent = pick(home, &|l| l.status == LeadStatus::Received && age_days(l) <= 4, 20);
    for (i, l) in recent.iter().enumerate() {
        let _ = writeln!(ids, "{},{},agent-{}", l.id, reasons[i % reasons.len()], i % 3 + 1);
    }
    for l in pick(home, &|l| l.status == LeadStatus::Received && age_days(l) >= 10, 3) {
        let _ = writeln!(ids, "{},Outside the window,agent-1", l.id);
    }
    for l in pick(home, &|l| l.status == LeadStatus::ClientRejected, 2) {
        let _ = writeln!(ids, "{},Duplicate lead,agent-2", l.id);
    }
    for l in pick(home, &|l| l.status == LeadStatus::Pending, 2) {
        let _ = writeln!(ids, "{},Not interested,agent-3", l.id);
    }
    for l in pick(car, &|l| l.status == LeadStatus::Received, 1) {
        let _ = writeln!(ids, "{},Lead of another campaign,agent-1", l.id);
    }
    if let Some(first) = recent.first() {
        let _ = writeln!(ids, "{},Repeated row,agent-1", first.id);
    }
    ids.push_str("99999999,No such lead,agent-1\n");
    ids.push_str("ABC-123,Not a number,agent-2\n");
    ids.push_str(",Missing identifier,agent-2\n");
    if let Some(l) = pick(home, &|l| l.status == LeadStatus::Received && age_days(l) <= 4, 21).last() {
        let _ = writeln!(ids, "{},,agent-3", l.id);
    }

    // Home Insurance UK by email: `;`-delimited, with a BOM, values written untidily.
    let mut emails = String::from("\u{feff}email;rejection_reason\n");
    for (i, l) in pick(home, &|l| l.status == LeadStatus::Received && age_days(l) <= 5, 15).iter().enumerate()
    {
        let e = value(l, "email");
        let e = if i % 2 == 0 { format!(" {} ", e.to_uppercase()) } else { e };
        let _ = writeln!(emails, "{e};\"Wrong number; no answer\"");
    }
    emails.push_str("nobody@example.com;Unknown email\n");

    // Home Insurance UK by phone: `|`-delimited, numbers in several formats.
    let mut phones = String::from("Phone|Reason|Notes\n");
    for (i, l) in pick(home, &|l| l.status == LeadStatus::Received && (1..=5).contains(&age_days(l)), 15)
        .iter()
        .enumerate()
    {
        let digits = crate::domain::identifiers::Phone::parse(&value(l, "phone"))
            .map(|p| p.into_inner())
            .unwrap_or_default();
        let shown = match i % 3 {
            0 => digits.clone(),
            1 => format!("+44 {}", &digits[1..]),
            _ => format!("{} {}", &digits[..5], &digits[5..]),
        };
        let _ = writeln!(phones, "{shown}|Not interested|called twice");
    }

    // Car Insurance UK by UID: tab-delimited with CRLF line ends.
    let mut uids = String::from("uid\treason\r\n");
    for l in pick(car, &|l| l.status == LeadStatus::Received && age_days(l) <= 20, 15) {
        let _ = write!(uids, "{}\tCustomer never requested a quote\r\n", l.uid);
    }
    for l in pick(car, &|l| l.status == LeadStatus::Received && age_days(l) > 31, 2) {
        let _ = write!(uids, "{}\tToo old to reject\r\n", l.uid);
    }

    vec![
        ("home-insurance-lead-ids.csv", ids),
        ("home-insurance-emails.csv", emails),
        ("home-insurance-phones.csv", phones),
        ("car-insurance-uids.csv", uids),
    ]
}
