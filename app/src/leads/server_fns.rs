//! Lead server functions.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

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

/// The 50 newest leads the signed-in user may see.
#[server(endpoint = "recent_leads")]
pub async fn recent_leads() -> Result<Vec<LeadSummary>, AppError> {
    crate::auth::access::guarded(async {
        let state = crate::state::app_state()?;
        let user = crate::auth::access::current_user().await?;
        let scope = crate::db::leads::Scope::of(&user);
        let rows = state.db(move |conn| crate::db::leads::recent(conn, scope, 50)).await?;
        Ok(rows
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
            .collect())
    })
    .await
}

/// One lead, as its page shows it. "Not found" (404) for a lead the user may not see, exactly
/// as for one that does not exist.
#[server(endpoint = "lead_detail")]
pub async fn lead_detail(id: i64) -> Result<super::model::LeadDetail, AppError> {
    crate::auth::access::guarded(async move {
        let state = crate::state::app_state()?;
        let user = crate::auth::access::current_user().await?;
        let scope = crate::db::leads::Scope::of(&user);
        let today = state.clock.now().date();
        state
            .db(move |conn| crate::db::leads::detail(conn, scope, id, today))
            .await?
            .ok_or(AppError::NotFound)
    })
    .await
}
