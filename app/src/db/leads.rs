//! Lead queries, always within a [`Scope`]: the caller's instance and, for client users, the
//! campaigns of their client.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{campaign_fields, campaigns, leads, suppliers};
use super::users::{Role, UserContext};
use super::{DbConn, DbError};

/// What a user may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub instance_id: i64,
    /// `Some` for client users: only campaigns delivering to this client.
    pub client_id: Option<i64>,
}

impl Scope {
    pub fn of(user: &UserContext) -> Self {
        Self {
            instance_id: user.instance_id,
            client_id: if user.role == Role::ClientUser { Some(user.client_id.unwrap_or(-1)) } else { None },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct LeadRow {
    pub id: i64,
    pub campaign: String,
    pub supplier: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub received_at: NaiveDateTime,
}

/// The newest leads the scope may see.
pub fn recent(conn: &mut DbConn, scope: Scope, limit: i64) -> Result<Vec<LeadRow>, DbError> {
    let mut q = leads::table
        .inner_join(campaigns::table)
        .inner_join(suppliers::table)
        .filter(leads::instance_id.eq(scope.instance_id))
        .select((
            leads::id,
            campaigns::name,
            suppliers::name,
            leads::status,
            leads::status_reason,
            leads::received_at,
        ))
        .order(leads::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(client_id) = scope.client_id {
        q = q.filter(campaigns::client_id.eq(client_id));
    }
    Ok(q.load(conn)?)
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct CampaignRow {
    pub id: i64,
    pub name: String,
    pub max_rejection_days: Option<i32>,
}

/// Campaigns delivering to `client_id` within the instance.
pub fn campaigns_of_client(
    conn: &mut DbConn,
    instance_id: i64,
    client_id: i64,
) -> Result<Vec<CampaignRow>, DbError> {
    Ok(campaigns::table
        .filter(campaigns::instance_id.eq(instance_id).and(campaigns::client_id.eq(client_id)))
        .select((campaigns::id, campaigns::name, campaigns::max_rejection_days))
        .order(campaigns::name)
        .load(conn)?)
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct FieldRow {
    pub id: i64,
    pub campaign_id: i64,
    pub label: String,
    pub kind: String,
}

/// The deduplicated fields of `campaign_ids` (those can identify a lead), in form order.
pub fn dedupe_fields(conn: &mut DbConn, campaign_ids: &[i64]) -> Result<Vec<FieldRow>, DbError> {
    Ok(campaign_fields::table
        .filter(campaign_fields::campaign_id.eq_any(campaign_ids).and(campaign_fields::dedupe.eq(true)))
        .select((
            campaign_fields::id,
            campaign_fields::campaign_id,
            campaign_fields::label,
            campaign_fields::kind,
        ))
        .order((campaign_fields::campaign_id, campaign_fields::position))
        .load(conn)?)
}
