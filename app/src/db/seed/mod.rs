//! The demo instance (docs/DOMAIN.md §5), seeded into an empty database: deterministic (fixed random seed,
//! times relative to the moment of seeding) and bulk-inserted so 20,000+ leads take seconds.
//!
//! `catalogue` holds what the demo is made of (instances, clients, suppliers, campaigns with their
//! fields and caps), `generate` draws the leads, `accounts`, `campaigns` and `leads` insert them,
//! `samples` writes the sample rejection files that match them.

mod accounts;
mod campaigns;
mod catalogue;
mod generate;
mod leads;
mod samples;

use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, SubsecRound, TimeDelta};
use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;

use super::schema::{self, *};
use super::{DbConn, DbError, write_transaction};
use crate::auth::password::hash_password;
use generate::DemoData;

pub use samples::write_samples;

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

const DAYS_OF_LEADS: i64 = 45;

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
            return Err(DbError::NotEmpty);
        }
        insert_demo(conn, &data, &hashes, now)
    })?;
    // The query planner's statistics for the tables just filled (both backends would gather
    // them later on their own; the first page views should not wait for that).
    conn.batch_execute("ANALYZE")?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Inserts the generated demo, in the order its ids depend on: the accounts, the campaigns with
/// their fields and caps, then every row of the leads.
fn insert_demo(
    conn: &mut DbConn,
    data: &DemoData,
    hashes: &[crate::auth::password::PasswordHashString],
    now: NaiveDateTime,
) -> Result<SeedReport, DbError> {
    let created_at = now - TimeDelta::days(DAYS_OF_LEADS + 30);
    let accounts = accounts::insert_accounts(conn, hashes, created_at)?;
    let campaigns = campaigns::insert_campaigns(conn, &accounts, created_at)?;

    let rows = leads::LeadRows::build(data, &accounts, &campaigns, now);
    rows.insert(conn)?;
    // Each supplier may send to the campaigns it sent the demo's leads to.
    diesel::insert_into(supplier_campaigns::table)
        .values(
            schema::leads::table.select((schema::leads::supplier_id, schema::leads::campaign_id)).distinct(),
        )
        .into_columns((supplier_campaigns::supplier_id, supplier_campaigns::campaign_id))
        .execute(conn)?;

    Ok(SeedReport {
        instances: catalogue::INSTANCES.len(),
        users: accounts.user_ids.len(),
        campaigns: campaigns.campaign_ids.len(),
        leads: rows.leads.len(),
        affiliate_events: rows.events.len(),
        history_rows: rows.history.len(),
        elapsed: Duration::ZERO,
    })
}
