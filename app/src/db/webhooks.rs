//! Webhook endpoints of an instance (docs/DOMAIN.md §7): made, listed, enabled or disabled,
//! their secret rotated, and their events listed and resent. Every function acts within the
//! actor's instance (another instance's id is `NotFound`) and logs each change in the audit
//! log in the change's transaction. The Webhooks page and the command line both call these.

use base64::Engine as _;
use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use super::audit::{self, Actor, Entry};
use super::schema::{campaigns, lead_status_history, suppliers, webhook_endpoints, webhook_events};
use super::setup::SetupError;
use super::{DbConn, DbError, write_transaction};
use crate::domain::setup_view::Named;
use crate::domain::status::LeadStatus;
use crate::domain::webhooks::{
    CreatedEndpoint, DeliveryView, EndpointView, ROTATION_OVERLAP_HOURS, decode_filter, encode_filter,
    is_forbidden_ip,
};

/// What staff (or an operator) ask for when adding an endpoint.
#[derive(Debug, Clone, Default)]
pub struct EndpointInput {
    pub url: String,
    pub description: String,
    /// Empty: the default, Client Rejected.
    pub statuses: Vec<LeadStatus>,
    /// Empty: every campaign.
    pub campaign_ids: Vec<i64>,
    /// Empty: every supplier.
    pub supplier_ids: Vec<i64>,
}

/// A new signing secret in the Standard Webhooks form: `whsec_` and base64 of 32 random bytes.
pub fn generate_secret() -> String {
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>()))
}

/// Checks a receiver's address as saved: `https://` with a host (plain `http://` only when the
/// server allows private addresses), no user or password in it, and not a literal address a
/// delivery may never reach. Host names are checked again on every delivery, on the addresses
/// they resolve to then. Returns the address as it will be used.
pub fn check_url(text: &str, allow_private: bool) -> Result<String, String> {
    let text = text.trim();
    if text.len() > 2048 {
        return Err("The address is too long (at most 2,048 characters).".into());
    }
    let url = reqwest::Url::parse(text).map_err(|_| {
        "Enter the receiver's full address, e.g. https://crm.example.com/hooks/sendback.".to_owned()
    })?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => {
            return Err(
                "The address must start with https:// (deliveries are never sent unencrypted).".into()
            );
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "Leave the user name and password out of the address; the signature authenticates us.".into()
        );
    }
    let host =
        url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| "The address has no host name.".to_owned())?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let forbidden = match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => is_forbidden_ip(ip),
        Err(_) => {
            let name = bare.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    };
    if forbidden && !allow_private {
        return Err("That address is private (loopback, a private network or a cloud metadata service); \
                    deliveries only go to public addresses."
            .into());
    }
    Ok(url.to_string())
}

fn checked_ids(conn: &mut DbConn, instance_id: i64, input: &EndpointInput) -> Result<(), SetupError> {
    let campaigns_found: i64 = campaigns::table
        .filter(campaigns::instance_id.eq(instance_id).and(campaigns::id.eq_any(&input.campaign_ids)))
        .count()
        .get_result(conn)?;
    if usize::try_from(campaigns_found).ok() != Some(dedup(&input.campaign_ids)) {
        return Err(SetupError::invalid("campaigns", "Choose campaigns of this instance."));
    }
    let suppliers_found: i64 = suppliers::table
        .filter(suppliers::instance_id.eq(instance_id).and(suppliers::id.eq_any(&input.supplier_ids)))
        .count()
        .get_result(conn)?;
    if usize::try_from(suppliers_found).ok() != Some(dedup(&input.supplier_ids)) {
        return Err(SetupError::invalid("suppliers", "Choose suppliers of this instance."));
    }
    Ok(())
}

fn dedup(ids: &[i64]) -> usize {
    ids.iter().collect::<std::collections::BTreeSet<_>>().len()
}

/// Adds an endpoint; its id and secret (shown once).
pub fn create(
    conn: &mut DbConn,
    actor: Actor,
    input: &EndpointInput,
    allow_private: bool,
    now: NaiveDateTime,
) -> Result<CreatedEndpoint, SetupError> {
    let url = check_url(&input.url, allow_private).map_err(|m| SetupError::invalid("url", m))?;
    let description = input.description.trim();
    if description.chars().count() > 200 {
        return Err(SetupError::invalid("description", "Keep the description under 200 characters."));
    }
    let mut statuses: Vec<&str> = input.statuses.iter().map(|s| s.as_str()).collect();
    if statuses.is_empty() {
        statuses = crate::domain::webhooks::DEFAULT_STATUSES.iter().map(|s| s.as_str()).collect();
    }
    statuses.sort_unstable();
    statuses.dedup();
    let mut campaign_ids = input.campaign_ids.clone();
    campaign_ids.sort_unstable();
    campaign_ids.dedup();
    let mut supplier_ids = input.supplier_ids.clone();
    supplier_ids.sort_unstable();
    supplier_ids.dedup();
    let secret = generate_secret();
    write_transaction(conn, |conn| {
        checked_ids(conn, actor.instance_id, input)?;
        let id: i64 = diesel::insert_into(webhook_endpoints::table)
            .values((
                webhook_endpoints::instance_id.eq(actor.instance_id),
                webhook_endpoints::url.eq(&url),
                webhook_endpoints::description.eq(description),
                webhook_endpoints::statuses.eq(encode_filter(&statuses)),
                webhook_endpoints::campaign_ids.eq(encode_filter(&campaign_ids)),
                webhook_endpoints::supplier_ids.eq(encode_filter(&supplier_ids)),
                webhook_endpoints::enabled.eq(true),
                webhook_endpoints::secret.eq(&secret),
                webhook_endpoints::created_at.eq(now),
                webhook_endpoints::updated_at.eq(now),
            ))
            .returning(webhook_endpoints::id)
            .get_result(conn)?;
        let detail = format!(
            "{url} for {}{}{}",
            statuses.join(", "),
            if campaign_ids.is_empty() { String::new() } else { format!("; campaigns {campaign_ids:?}") },
            if supplier_ids.is_empty() { String::new() } else { format!("; suppliers {supplier_ids:?}") },
        );
        let subject = format!("Webhook {id}");
        audit::record(
            conn,
            actor,
            &Entry {
                action: "Added a webhook endpoint",
                subject: &subject,
                detail: &detail,
                campaign_id: None,
            },
            now,
        )?;
        Ok(CreatedEndpoint { id, secret: secret.clone() })
    })
}

/// Locks the endpoint of the actor's instance for a change; its URL.
fn endpoint_in_instance(conn: &mut DbConn, instance_id: i64, id: i64) -> Result<String, SetupError> {
    webhook_endpoints::table
        .filter(webhook_endpoints::id.eq(id).and(webhook_endpoints::instance_id.eq(instance_id)))
        .select(webhook_endpoints::url)
        .first(conn)
        .optional()?
        .ok_or(SetupError::NotFound)
}

/// Turns an endpoint on or off. Events of a disabled endpoint wait (pending) until it is on.
pub fn set_enabled(
    conn: &mut DbConn,
    actor: Actor,
    id: i64,
    enabled: bool,
    now: NaiveDateTime,
) -> Result<(), SetupError> {
    write_transaction(conn, |conn| {
        let url = endpoint_in_instance(conn, actor.instance_id, id)?;
        diesel::update(webhook_endpoints::table.find(id))
            .set((
                webhook_endpoints::enabled.eq(enabled),
                webhook_endpoints::disabled_reason.eq(None::<String>),
                webhook_endpoints::updated_at.eq(now),
            ))
            .execute(conn)?;
        let action = if enabled { "Enabled a webhook endpoint" } else { "Disabled a webhook endpoint" };
        let subject = format!("Webhook {id}");
        audit::record(
            conn,
            actor,
            &Entry { action, subject: &subject, detail: &url, campaign_id: None },
            now,
        )?;
        Ok(())
    })
}

/// Gives an endpoint a new secret; the old one keeps signing alongside it for 24 hours.
pub fn rotate_secret(
    conn: &mut DbConn,
    actor: Actor,
    id: i64,
    now: NaiveDateTime,
) -> Result<CreatedEndpoint, SetupError> {
    let secret = generate_secret();
    write_transaction(conn, |conn| {
        let url = endpoint_in_instance(conn, actor.instance_id, id)?;
        // One statement: the secret it replaces is the one in the row now (two rotations at once
        // cannot both keep the same old one). A second rotation within the 24 hours ends the
        // first one's overlap.
        diesel::update(webhook_endpoints::table.find(id))
            .set((
                webhook_endpoints::secret.eq(&secret),
                webhook_endpoints::previous_secret.eq(webhook_endpoints::secret.nullable()),
                webhook_endpoints::previous_secret_until
                    .eq(Some(now + TimeDelta::hours(ROTATION_OVERLAP_HOURS))),
                webhook_endpoints::updated_at.eq(now),
            ))
            .execute(conn)?;
        let subject = format!("Webhook {id}");
        audit::record(
            conn,
            actor,
            &Entry { action: "Rotated a webhook secret", subject: &subject, detail: &url, campaign_id: None },
            now,
        )?;
        Ok(CreatedEndpoint { id, secret: secret.clone() })
    })
}

/// Sends an event again: it becomes pending and due now, with a fresh set of retries.
pub fn resend(conn: &mut DbConn, actor: Actor, event_id: i64, now: NaiveDateTime) -> Result<(), SetupError> {
    write_transaction(conn, |conn| {
        let found: Option<(String, Option<String>, NaiveDateTime)> = webhook_events::table
            .inner_join(webhook_endpoints::table)
            .filter(webhook_events::id.eq(event_id).and(webhook_endpoints::instance_id.eq(actor.instance_id)))
            .select((webhook_endpoints::url, webhook_events::claimed_by, webhook_events::next_attempt_at))
            .first(conn)
            .optional()?;
        let (url, claimed_by, until) = found.ok_or(SetupError::NotFound)?;
        if claimed_by.is_some() && until > now {
            return Err(SetupError::invalid(
                "event",
                "This event is being sent right now. Look again in a minute before resending it.",
            ));
        }
        diesel::update(webhook_events::table.find(event_id))
            .set((
                webhook_events::state.eq("pending"),
                webhook_events::attempts.eq(0),
                webhook_events::next_attempt_at.eq(now),
                webhook_events::claimed_by.eq(None::<String>),
            ))
            .execute(conn)?;
        let subject = format!("Webhook event {event_id}");
        audit::record(
            conn,
            actor,
            &Entry { action: "Resent a webhook event", subject: &subject, detail: &url, campaign_id: None },
            now,
        )?;
        Ok(())
    })
}

type EndpointRow =
    (i64, String, String, String, String, String, bool, Option<String>, Option<NaiveDateTime>, NaiveDateTime);

/// The instance's endpoints, newest first, with their events counted by state.
pub fn list(conn: &mut DbConn, instance_id: i64) -> Result<Vec<EndpointView>, DbError> {
    let rows: Vec<EndpointRow> = webhook_endpoints::table
        .filter(webhook_endpoints::instance_id.eq(instance_id))
        .order(webhook_endpoints::id.desc())
        .select((
            webhook_endpoints::id,
            webhook_endpoints::url,
            webhook_endpoints::description,
            webhook_endpoints::statuses,
            webhook_endpoints::campaign_ids,
            webhook_endpoints::supplier_ids,
            webhook_endpoints::enabled,
            webhook_endpoints::disabled_reason,
            webhook_endpoints::previous_secret_until,
            webhook_endpoints::created_at,
        ))
        .load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let counts: Vec<(i64, String, i64)> = webhook_events::table
        .filter(webhook_events::endpoint_id.eq_any(&ids))
        .group_by((webhook_events::endpoint_id, webhook_events::state))
        .select((webhook_events::endpoint_id, webhook_events::state, diesel::dsl::count_star()))
        .load(conn)?;
    let campaign_names: Vec<(i64, String)> = campaigns::table
        .filter(campaigns::instance_id.eq(instance_id))
        .select((campaigns::id, campaigns::name))
        .load(conn)?;
    let supplier_names: Vec<(i64, String)> = suppliers::table
        .filter(suppliers::instance_id.eq(instance_id))
        .select((suppliers::id, suppliers::name))
        .load(conn)?;
    let named = |stored: &str, names: &[(i64, String)]| -> Vec<Named> {
        decode_filter(stored)
            .into_iter()
            .filter_map(|s| s.parse::<i64>().ok())
            .filter_map(|id| {
                names.iter().find(|(i, _)| *i == id).map(|(id, name)| Named { id: *id, name: name.clone() })
            })
            .collect()
    };
    let count =
        |id: i64, state: &str| counts.iter().find(|(e, s, _)| *e == id && s == state).map_or(0, |c| c.2);
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                url,
                description,
                statuses,
                campaign_ids,
                supplier_ids,
                enabled,
                disabled_reason,
                until,
                created_at,
            )| {
                EndpointView {
                    id,
                    url,
                    description,
                    statuses: decode_filter(&statuses).into_iter().filter_map(LeadStatus::parse).collect(),
                    campaigns: named(&campaign_ids, &campaign_names),
                    suppliers: named(&supplier_ids, &supplier_names),
                    enabled,
                    disabled_reason,
                    previous_secret_until: until,
                    created_at,
                    pending: count(id, "pending"),
                    failed: count(id, "failed"),
                    delivered: count(id, "delivered"),
                }
            },
        )
        .collect())
}

type DeliveryRow = (
    (i64, i64, i64, String, i32, NaiveDateTime, Option<i32>, Option<i32>, Option<String>, NaiveDateTime),
    String,
    (Option<String>, String),
);

/// The columns a delivery row is read from.
macro_rules! delivery_columns {
    () => {
        (
            (
                webhook_events::id,
                webhook_events::endpoint_id,
                webhook_events::lead_id,
                webhook_events::state,
                webhook_events::attempts,
                webhook_events::next_attempt_at,
                webhook_events::last_status_code,
                webhook_events::last_latency_ms,
                webhook_events::last_error,
                webhook_events::created_at,
            ),
            webhook_endpoints::url,
            (lead_status_history::from_status, lead_status_history::to_status),
        )
    };
}

/// The instance's latest events (of one endpoint, or of all), newest first.
pub fn recent_deliveries(
    conn: &mut DbConn,
    instance_id: i64,
    endpoint_id: Option<i64>,
    limit: i64,
) -> Result<Vec<DeliveryView>, DbError> {
    let mut query = webhook_events::table
        .inner_join(webhook_endpoints::table)
        .inner_join(lead_status_history::table)
        .filter(webhook_endpoints::instance_id.eq(instance_id))
        .into_boxed();
    if let Some(endpoint_id) = endpoint_id {
        query = query.filter(webhook_events::endpoint_id.eq(endpoint_id));
    }
    let rows: Vec<DeliveryRow> =
        query.order(webhook_events::id.desc()).limit(limit).select(delivery_columns!()).load(conn)?;
    Ok(rows.into_iter().map(to_view).collect())
}

/// A lead's events, oldest first (the caller has checked the user may see the lead).
pub fn lead_deliveries(conn: &mut DbConn, lead_id: i64) -> Result<Vec<DeliveryView>, DbError> {
    let rows: Vec<DeliveryRow> = webhook_events::table
        .inner_join(webhook_endpoints::table)
        .inner_join(lead_status_history::table)
        .filter(webhook_events::lead_id.eq(lead_id))
        .order(webhook_events::id)
        .limit(200)
        .select(delivery_columns!())
        .load(conn)?;
    Ok(rows.into_iter().map(to_view).collect())
}

fn to_view(row: DeliveryRow) -> DeliveryView {
    let (
        (event_id, endpoint_id, lead_id, state, attempts, next, code, latency, error, created_at),
        url,
        (from, to),
    ) = row;
    DeliveryView {
        event_id,
        endpoint_id,
        endpoint_url: url,
        lead_id,
        previous_status: from.as_deref().and_then(LeadStatus::parse),
        status: LeadStatus::parse(&to).unwrap_or(LeadStatus::Received),
        next_attempt_at: (state == "pending").then_some(next),
        state,
        attempts,
        last_status_code: code,
        last_latency_ms: latency,
        last_error: error,
        created_at,
    }
}
