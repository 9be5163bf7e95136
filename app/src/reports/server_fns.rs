//! Owner reports.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignReportRow {
    pub campaign: String,
    pub client: String,
    pub delivered: i64,
    pub client_rejected: i64,
}

#[server(endpoint = "rejections_by_campaign")]
pub async fn rejections_by_campaign() -> Result<Vec<CampaignReportRow>, AppError> {
    crate::auth::access::guarded(async {
        let state = crate::state::app_state()?;
        let owner = crate::auth::access::require_owner().await?;
        let rows =
            state.db(move |conn| crate::db::reports::rejections_by_campaign(conn, owner.instance_id)).await?;
        Ok(rows
            .into_iter()
            .map(|r| CampaignReportRow {
                campaign: r.campaign,
                client: r.client,
                delivered: r.delivered,
                client_rejected: r.client_rejected,
            })
            .collect())
    })
    .await
}
