//! Lead server functions.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use leptos::server_fn::codec::Json;

use super::model::{LeadPage, LeadQuery};
use crate::domain::status::LeadStatus;
use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadSummary {
    pub id: i64,
    pub campaign: String,
    pub supplier: String,
    pub status: LeadStatus,
    pub status_reason: Option<String>,
    /// UTC, `YYYY-MM-DD HH:MM`.
    pub received_at: String,
}

/// A page of All leads: the user's scope, filtered, searched, sorted, after a keyset cursor.
#[server(endpoint = "list_leads", input = Json)]
pub async fn list_leads(query: LeadQuery) -> Result<LeadPage, AppError> {
    crate::auth::access::guarded(async move {
        let state = crate::state::app_state()?;
        let user = crate::auth::access::current_user().await?;
        let scope = crate::db::leads::Scope::of(&user);
        let midnight = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).unwrap_or_default();
        let from = AppError::date_field("from", &query.from)?.map(midnight);
        let until = AppError::date_field("to", &query.to)?
            .and_then(|d| d.checked_add_days(chrono::Days::new(1)))
            .map(midnight);
        let sort = query.sort;
        let filter = crate::db::leads::ListFilter {
            campaign_id: query.campaign,
            status: query.status,
            from,
            until,
            ids: None,
            sort,
            after: crate::db::leads::Cursor::parse(&query.after, sort),
        };
        let text = query.q.clone();
        let (rows, next, campaigns) = state
            .db(move |conn| {
                let mut filter = filter;
                if !text.is_empty() {
                    filter.ids = Some(crate::db::leads::search_ids(conn, scope, &text)?);
                }
                let mut rows =
                    crate::db::leads::list(conn, scope, &filter, super::model::PAGE_SIZE as i64 + 1)?;
                let next = if rows.len() > super::model::PAGE_SIZE {
                    rows.truncate(super::model::PAGE_SIZE);
                    rows.last().map(|r| crate::db::leads::Cursor::after(r, sort))
                } else {
                    None
                };
                Ok((rows, next, crate::db::leads::campaigns_in_scope(conn, scope)?))
            })
            .await?;
        Ok(LeadPage {
            rows: rows
                .into_iter()
                .filter_map(|r| {
                    Some(LeadSummary {
                        id: r.id,
                        campaign: r.campaign,
                        supplier: r.supplier,
                        status: LeadStatus::parse(&r.status)?,
                        status_reason: r.status_reason,
                        received_at: r.received_at.format("%Y-%m-%d %H:%M").to_string(),
                    })
                })
                .collect(),
            next,
            campaigns,
        })
    })
    .await
}

/// One lead, as its page shows it. "Not found" (404) for a lead the user may not see, exactly
/// as for one that does not exist. Owner staff also get its webhook deliveries, read only once
/// the lead is found in their instance.
#[server(endpoint = "lead_detail")]
pub async fn lead_detail(id: i64) -> Result<super::model::LeadDetail, AppError> {
    crate::auth::access::guarded(async move {
        let state = crate::state::app_state()?;
        let user = crate::auth::access::current_user().await?;
        let scope = crate::db::leads::Scope::of(&user);
        let owner = crate::auth::access::require_owner_user(&user).is_ok();
        let today = state.clock.now().date();
        state
            .db(move |conn| {
                let Some(mut lead) = crate::db::leads::detail(conn, scope, id, today)? else {
                    return Ok(None);
                };
                if owner {
                    lead.webhooks = Some(crate::db::webhooks::lead_deliveries(conn, lead.id)?);
                }
                Ok(Some(lead))
            })
            .await?
            .ok_or(AppError::NotFound)
    })
    .await
}
