//! The demo's leads as rows: the leads, their field values, affiliate events, status history and
//! cap usage, built from the generated leads and bulk-inserted in chunks.

use std::collections::BTreeMap;

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use super::accounts::Accounts;
use super::campaigns::Campaigns;
use super::catalogue::CAMPAIGNS;
use super::generate::{DemoData, GenLead};
use crate::db::schema::*;
use crate::db::{DbConn, DbError};
use crate::domain::status::LeadStatus;

/// Rows per multi-row INSERT: under SQLite's and PostgreSQL's bound-parameter limits.
const CHUNK: usize = 1000;

#[derive(Insertable)]
#[diesel(table_name = cap_usage)]
struct NewCapUsage {
    cap_id: i64,
    period_start: chrono::NaiveDate,
    used: i64,
}

#[derive(Insertable)]
#[diesel(table_name = leads)]
pub(super) struct NewLead<'a> {
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
pub(super) struct NewEvent {
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
pub(super) struct NewHistory<'a> {
    lead_id: i64,
    from_status: Option<&'static str>,
    to_status: &'static str,
    reason: Option<&'a str>,
    source: &'static str,
    actor_user_id: Option<i64>,
    task_id: Option<i64>,
    changed_at: NaiveDateTime,
}

/// Every row the leads give, in lead order.
pub(super) struct LeadRows<'a> {
    pub(super) leads: Vec<NewLead<'a>>,
    values: Vec<NewValue<'a>>,
    pub(super) events: Vec<NewEvent>,
    pub(super) history: Vec<NewHistory<'a>>,
    /// (cap id, period start) → leads counted.
    usage: BTreeMap<(i64, chrono::NaiveDate), i64>,
}

impl<'a> LeadRows<'a> {
    pub(super) fn build(
        data: &'a DemoData,
        accounts: &Accounts,
        campaigns: &Campaigns,
        now: NaiveDateTime,
    ) -> Self {
        let user_ids = &accounts.user_ids;
        let client_user_of = |campaign: usize| match CAMPAIGNS[campaign].client {
            "Acme Insurance" => user_ids.get("client@sendback.test").copied(),
            "Bolt Energy" => user_ids.get("bolt@sendback.test").copied(),
            _ => None,
        };
        let mut rows = Self {
            leads: Vec::with_capacity(data.leads.len()),
            values: Vec::with_capacity(data.leads.len() * 5),
            events: Vec::new(),
            history: Vec::with_capacity(data.leads.len() * 2),
            usage: BTreeMap::new(),
        };
        for lead in &data.leads {
            let later = (lead.received_at + TimeDelta::hours(20)).min(now);
            rows.push_lead(lead, accounts, campaigns, later);
            rows.push_history(lead, later, client_user_of(lead.campaign));
            rows.count_usage(lead, campaigns);
        }
        rows
    }

    /// The lead, its field values and its affiliate events.
    fn push_lead(
        &mut self,
        lead: &'a GenLead,
        accounts: &Accounts,
        campaigns: &Campaigns,
        later: NaiveDateTime,
    ) {
        let Accounts { instance_ids, supplier_ids, .. } = accounts;
        let Campaigns { campaign_ids, field_ids, .. } = campaigns;
        self.leads.push(NewLead {
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
                self.values.push(NewValue {
                    lead_id: lead.id,
                    field_id: *field_id,
                    value: raw,
                    normalized: kind.normalize(raw).unwrap_or_default(),
                });
            }
        }
        for ev in &lead.events {
            self.events.push(NewEvent {
                lead_id: lead.id,
                kind: ev.kind,
                name: ev.name,
                cost_pence: ev.cost_pence,
                revenue_pence: ev.revenue_pence,
                status: if ev.approved { "approved" } else { "rejected" },
                occurred_at: ev.occurred_at,
            });
        }
    }

    /// History: intake, then the later change that led to the current status.
    fn push_history(&mut self, lead: &'a GenLead, later: NaiveDateTime, client_user: Option<i64>) {
        let intake_status = match lead.status {
            LeadStatus::Pending | LeadStatus::Flagged | LeadStatus::Rejected | LeadStatus::Quarantine => {
                lead.status
            }
            _ => LeadStatus::Received,
        };
        self.history.push(NewHistory {
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
            self.history.push(NewHistory {
                lead_id: lead.id,
                from_status: Some(LeadStatus::Received.as_str()),
                to_status: lead.status.as_str(),
                reason: lead.status_reason.as_deref(),
                source: if by_client { "user" } else { "supplier" },
                actor_user_id: if by_client { client_user } else { None },
                task_id: None,
                changed_at: later,
            });
        }
    }

    /// One unit of each cap the lead counts in, for the period it was received in.
    fn count_usage(&mut self, lead: &GenLead, campaigns: &Campaigns) {
        if lead.status.counts_towards_caps() {
            for (cap_id, ci, supplier, period) in &campaigns.cap_rows {
                if *ci == lead.campaign && supplier.is_none_or(|s| s == lead.supplier) {
                    *self
                        .usage
                        .entry((*cap_id, period.period_start(lead.received_at.date())))
                        .or_default() += 1;
                }
            }
        }
    }

    /// Inserts the rows in chunks (leads, values, events, history, cap usage); on PostgreSQL, moves
    /// the lead id sequence past the ids given.
    pub(super) fn insert(&self, conn: &mut DbConn) -> Result<(), DbError> {
        insert_chunked(&self.leads, |c| crate::batch_insert!(&mut *conn, leads::table, c))?;
        insert_chunked(&self.values, |c| crate::batch_insert!(&mut *conn, lead_values::table, c))?;
        insert_chunked(&self.events, |c| crate::batch_insert!(&mut *conn, affiliate_events::table, c))?;
        insert_chunked(&self.history, |c| crate::batch_insert!(&mut *conn, lead_status_history::table, c))?;
        let usage_rows: Vec<NewCapUsage> = self
            .usage
            .iter()
            .map(|(&(cap_id, period_start), &used)| NewCapUsage { cap_id, period_start, used })
            .collect();
        insert_chunked(&usage_rows, |c| crate::batch_insert!(&mut *conn, cap_usage::table, c))?;
        if let DbConn::Pg(_) = conn {
            // Lead IDs were given explicitly: move the identity past them.
            diesel::sql_query(
                "SELECT setval(pg_get_serial_sequence('leads', 'id'), (SELECT MAX(id) FROM leads))",
            )
            .execute(conn)?;
        }
        Ok(())
    }
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
