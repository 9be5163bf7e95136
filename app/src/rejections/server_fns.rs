//! Rejection server functions. Every one requires "Reject Leads as a Client" (403 otherwise).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectionCampaign {
    pub id: i64,
    pub name: String,
    /// `None`: the campaign accepts no rejection tasks.
    pub max_rejection_days: Option<i32>,
}

/// The campaigns of the user's client, with their maximum rejection time.
#[server(endpoint = "rejection_campaigns")]
pub async fn rejection_campaigns() -> Result<Vec<RejectionCampaign>, AppError> {
    crate::auth::access::guarded(async {
        let user = crate::auth::access::require_reject_permission().await?;
        let (instance_id, client_id) = (user.instance_id, user.client_id.ok_or(AppError::Forbidden)?);
        let state = crate::state::app_state()?;
        let rows =
            state.db(move |conn| crate::db::leads::campaigns_of_client(conn, instance_id, client_id)).await?;
        Ok(rows
            .into_iter()
            .map(|c| RejectionCampaign { id: c.id, name: c.name, max_rejection_days: c.max_rejection_days })
            .collect())
    })
    .await
}
