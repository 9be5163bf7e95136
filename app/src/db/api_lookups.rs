//! What the machine API's lookups read (docs/DOMAIN.md §7): a client's campaigns with their
//! deduplicated fields, and one lead of the client with its status history. Every query takes
//! the key user's instance and client, so another tenant's row is simply not found.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{campaign_fields, campaigns, lead_status_history, leads, suppliers, users};
use super::{DbConn, DbError};

/// A campaign delivering to the client, with the fields that can identify its leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCampaign {
    pub id: i64,
    pub name: String,
    pub max_rejection_days: Option<i32>,
    /// Deduplicated fields, in the campaign's field order.
    pub deduplicated_fields: Vec<DedupeField>,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct DedupeField {
    pub id: i64,
    /// The field key intake accepts values by (`email`, `phone`, …).
    pub key: String,
    pub label: String,
    /// `email`, `phone` or `text`: how its values are normalised for matching.
    pub kind: String,
}

/// The campaigns delivering to `client_id` within `instance_id`, by name then id.
pub fn client_campaigns(
    conn: &mut DbConn,
    instance_id: i64,
    client_id: i64,
) -> Result<Vec<ClientCampaign>, DbError> {
    let heads: Vec<(i64, String, Option<i32>)> = campaigns::table
        .filter(campaigns::instance_id.eq(instance_id).and(campaigns::client_id.eq(client_id)))
        .select((campaigns::id, campaigns::name, campaigns::max_rejection_days))
        .order((campaigns::name, campaigns::id))
        .load(conn)?;
    let ids: Vec<i64> = heads.iter().map(|(id, ..)| *id).collect();
    let fields: Vec<(i64, DedupeField)> = campaign_fields::table
        .filter(campaign_fields::campaign_id.eq_any(&ids).and(campaign_fields::dedupe.eq(true)))
        .select((
            campaign_fields::campaign_id,
            (campaign_fields::id, campaign_fields::field_key, campaign_fields::label, campaign_fields::kind),
        ))
        .order((campaign_fields::campaign_id, campaign_fields::position, campaign_fields::id))
        .load(conn)?;
    Ok(heads
        .into_iter()
        .map(|(id, name, max_rejection_days)| ClientCampaign {
            id,
            name,
            max_rejection_days,
            deduplicated_fields: fields.iter().filter(|(c, _)| *c == id).map(|(_, f)| f.clone()).collect(),
        })
        .collect())
}

/// One lead as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadLookup {
    pub id: i64,
    pub uid: String,
    /// As stored: `received`, `client_rejected`, …
    pub status: String,
    pub status_reason: Option<String>,
    pub campaign_id: i64,
    pub campaign_name: String,
    pub max_rejection_days: Option<i32>,
    pub supplier_id: i64,
    pub supplier_name: String,
    pub received_at: NaiveDateTime,
    /// Oldest first.
    pub history: Vec<StatusChange>,
}

/// One row of a lead's status history.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct StatusChange {
    pub at: NaiveDateTime,
    pub from: Option<String>,
    pub to: String,
    pub reason: Option<String>,
    /// `rejection_task`, `user`, `intake`, `supplier`, …
    pub source: String,
    /// The name of the user who made it, when a user did.
    pub by: Option<String>,
}

/// Lead `lead_id` when its campaign delivers to `client_id` within `instance_id`; `None`
/// otherwise (no such lead, another client's or another instance's — all the same to the caller).
pub fn client_lead(
    conn: &mut DbConn,
    instance_id: i64,
    client_id: i64,
    lead_id: i64,
) -> Result<Option<LeadLookup>, DbError> {
    type Head = (i64, String, String, Option<String>, i64, String, Option<i32>, i64, String, NaiveDateTime);
    let head: Option<Head> = leads::table
        .inner_join(campaigns::table.on(campaigns::id.eq(leads::campaign_id)))
        .inner_join(suppliers::table.on(suppliers::id.eq(leads::supplier_id)))
        .filter(
            leads::id
                .eq(lead_id)
                .and(leads::instance_id.eq(instance_id))
                .and(campaigns::instance_id.eq(instance_id))
                .and(campaigns::client_id.eq(client_id)),
        )
        .select((
            leads::id,
            leads::uid,
            leads::status,
            leads::status_reason,
            campaigns::id,
            campaigns::name,
            campaigns::max_rejection_days,
            suppliers::id,
            suppliers::name,
            leads::received_at,
        ))
        .first(conn)
        .optional()?;
    let Some((
        id,
        uid,
        status,
        status_reason,
        campaign_id,
        campaign_name,
        max_rejection_days,
        supplier_id,
        supplier_name,
        received_at,
    )) = head
    else {
        return Ok(None);
    };
    let history = lead_status_history::table
        .left_join(users::table.on(users::id.nullable().eq(lead_status_history::actor_user_id)))
        .filter(lead_status_history::lead_id.eq(id))
        .select((
            lead_status_history::changed_at,
            lead_status_history::from_status,
            lead_status_history::to_status,
            lead_status_history::reason,
            lead_status_history::source,
            users::name.nullable(),
        ))
        .order((lead_status_history::changed_at, lead_status_history::id))
        .load(conn)?;
    Ok(Some(LeadLookup {
        id,
        uid,
        status,
        status_reason,
        campaign_id,
        campaign_name,
        max_rejection_days,
        supplier_id,
        supplier_name,
        received_at,
        history,
    }))
}
