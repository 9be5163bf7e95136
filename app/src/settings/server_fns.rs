//! Owner-staff server functions for setting up the instance: clients, campaigns (fields, caps),
//! suppliers (with their intake keys) and webhook endpoints. Each requires owner staff (403), acts
//! only within the caller's instance (ids of another instance are "not found"), and leaves the
//! work — checks, the write, the audit row — to `db::setup` (`db::keys` for keys, `db::webhooks`
//! for webhooks).

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

use crate::domain::setup_view::{
    CampaignDetail, CampaignSummary, ClientSummary, FieldDuplicates, KeyView, NewKey, SupplierSummary,
};
use crate::domain::status::LeadStatus;
use crate::domain::webhooks::{CreatedEndpoint, WebhooksPage};
use crate::error::AppError;

#[cfg(feature = "ssr")]
mod ssr {
    use chrono::NaiveDateTime;

    use crate::db::DbConn;
    use crate::db::audit::Actor;
    use crate::db::setup::SetupError;
    use crate::error::AppError;

    /// Runs `f` for the signed-in owner staff, with the instance as actor and the clock's now.
    pub(super) async fn as_owner<T, F>(f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn, Actor, NaiveDateTime) -> Result<T, SetupError> + Send + 'static,
    {
        crate::auth::access::guarded(async move {
            let state = crate::state::app_state()?;
            let owner = crate::auth::access::require_owner().await?;
            let now = state.clock.now();
            let actor = Actor::from(&owner);
            Ok(state.db_or(move |conn| f(conn, actor, now)).await?)
        })
        .await
    }

    /// A form's number field: the value, or `Invalid` on `field` with `message`.
    pub(super) fn number<T: std::str::FromStr>(
        text: &str,
        field: &'static str,
        message: &str,
    ) -> Result<T, SetupError> {
        text.trim().parse().map_err(|_| SetupError::invalid(field, message))
    }

    /// A checkbox of a form: present (any value but "false") means on.
    pub(super) fn checked(value: Option<&str>) -> bool {
        value.is_some_and(|v| v != "false")
    }
}

#[server(endpoint = "setup_clients")]
pub async fn list_setup_clients() -> Result<Vec<ClientSummary>, AppError> {
    ssr::as_owner(|conn, actor, _| Ok(crate::db::setup::clients::list(conn, actor.instance_id)?)).await
}

#[server(endpoint = "create_client")]
pub async fn create_client(name: String) -> Result<i64, AppError> {
    ssr::as_owner(move |conn, actor, now| crate::db::setup::clients::create(conn, actor, &name, now)).await
}

#[server(endpoint = "rename_client")]
pub async fn rename_client(client_id: i64, name: String) -> Result<(), AppError> {
    ssr::as_owner(move |conn, actor, now| {
        crate::db::setup::clients::rename(conn, actor, client_id, &name, now)
    })
    .await
}

#[server(endpoint = "setup_campaigns")]
pub async fn list_setup_campaigns() -> Result<Vec<CampaignSummary>, AppError> {
    ssr::as_owner(|conn, actor, _| Ok(crate::db::setup::campaigns::list(conn, actor.instance_id)?)).await
}

/// Creates a campaign (its fields are added on its page); its id.
#[server(endpoint = "create_campaign")]
pub async fn create_campaign(
    client_id: String,
    name: String,
    max_rejection_days: String,
) -> Result<i64, AppError> {
    ssr::as_owner(move |conn, actor, now| {
        let client_id = ssr::number(&client_id, "client", "Choose the client this campaign is for.")?;
        let days = crate::domain::setup::max_rejection_days(&max_rejection_days)
            .map_err(|m| crate::db::setup::SetupError::invalid("max_rejection_days", m))?;
        let new = crate::db::setup::campaigns::NewCampaign {
            client_id,
            name: &name,
            max_rejection_days: days,
            fields: &[],
        };
        crate::db::setup::campaigns::create(conn, actor, &new, now)
    })
    .await
}

#[server(endpoint = "setup_campaign")]
pub async fn get_setup_campaign(campaign_id: i64) -> Result<CampaignDetail, AppError> {
    ssr::as_owner(move |conn, actor, now| {
        crate::db::setup::campaigns::detail(conn, actor.instance_id, campaign_id, now.date())?
            .ok_or(crate::db::setup::SetupError::NotFound)
    })
    .await
}

/// Saves a campaign's name and maximum rejection days (empty: none).
#[server(endpoint = "update_campaign")]
pub async fn update_campaign(
    campaign_id: i64,
    name: String,
    max_rejection_days: String,
) -> Result<(), AppError> {
    ssr::as_owner(move |conn, actor, now| {
        let days = crate::domain::setup::max_rejection_days(&max_rejection_days)
            .map_err(|m| crate::db::setup::SetupError::invalid("max_rejection_days", m))?;
        crate::db::setup::campaigns::update(conn, actor, campaign_id, &name, days, now)
    })
    .await
}

#[server(endpoint = "add_field")]
pub async fn add_field(
    campaign_id: i64,
    key: String,
    label: String,
    kind: String,
    dedupe: Option<String>,
) -> Result<i64, AppError> {
    ssr::as_owner(move |conn, actor, now| {
        let kind = crate::domain::setup::field_kind(&kind)
            .map_err(|m| crate::db::setup::SetupError::invalid("kind", m))?;
        let spec =
            crate::domain::setup::FieldSpec { key, label, kind, dedupe: ssr::checked(dedupe.as_deref()) };
        crate::db::setup::fields::add(conn, actor, campaign_id, &spec, now)
    })
    .await
}

#[server(endpoint = "update_field")]
pub async fn update_field(
    field_id: i64,
    key: String,
    label: String,
    kind: String,
    dedupe: Option<String>,
    position: String,
) -> Result<(), AppError> {
    ssr::as_owner(move |conn, actor, now| {
        let kind = crate::domain::setup::field_kind(&kind)
            .map_err(|m| crate::db::setup::SetupError::invalid("kind", m))?;
        let position = crate::domain::setup::position(&position)
            .map_err(|m| crate::db::setup::SetupError::invalid("position", m))?;
        let spec =
            crate::domain::setup::FieldSpec { key, label, kind, dedupe: ssr::checked(dedupe.as_deref()) };
        crate::db::setup::fields::update(
            conn,
            actor,
            field_id,
            &crate::db::setup::fields::FieldChange { spec, position },
            now,
        )
    })
    .await
}

#[server(endpoint = "remove_field")]
pub async fn remove_field(field_id: i64) -> Result<(), AppError> {
    ssr::as_owner(move |conn, actor, now| crate::db::setup::fields::remove(conn, actor, field_id, now)).await
}

/// The values that keep dedupe off for a field.
#[server(endpoint = "field_duplicates")]
pub async fn get_field_duplicates(field_id: i64) -> Result<FieldDuplicates, AppError> {
    ssr::as_owner(move |conn, actor, _| {
        crate::db::setup::fields::duplicates(conn, actor.instance_id, field_id)?
            .ok_or(crate::db::setup::SetupError::NotFound)
    })
    .await
}

/// Adds a cap; `supplier_id` empty means the whole campaign.
#[server(endpoint = "add_cap")]
pub async fn add_cap(
    campaign_id: i64,
    supplier_id: String,
    period: String,
    limit: String,
) -> Result<i64, AppError> {
    ssr::as_owner(move |conn, actor, now| {
        let supplier_id = match supplier_id.trim() {
            "" => None,
            id => Some(ssr::number(id, "supplier", "Choose one of this instance's suppliers.")?),
        };
        let period = crate::domain::setup::cap_period(&period)
            .map_err(|m| crate::db::setup::SetupError::invalid("period", m))?;
        let limit = crate::domain::setup::cap_limit(&limit)
            .map_err(|m| crate::db::setup::SetupError::invalid("limit", m))?;
        crate::db::setup::caps::add(conn, actor, campaign_id, supplier_id, period, limit, now)
    })
    .await
}

#[server(endpoint = "set_cap_limit")]
pub async fn set_cap_limit(cap_id: i64, limit: String) -> Result<(), AppError> {
    ssr::as_owner(move |conn, actor, now| {
        let limit = crate::domain::setup::cap_limit(&limit)
            .map_err(|m| crate::db::setup::SetupError::invalid("limit", m))?;
        crate::db::setup::caps::set_limit(conn, actor, cap_id, limit, now)
    })
    .await
}

#[server(endpoint = "remove_cap")]
pub async fn remove_cap(cap_id: i64) -> Result<(), AppError> {
    ssr::as_owner(move |conn, actor, now| crate::db::setup::caps::remove(conn, actor, cap_id, now)).await
}

#[server(endpoint = "setup_suppliers")]
pub async fn list_setup_suppliers() -> Result<Vec<SupplierSummary>, AppError> {
    ssr::as_owner(|conn, actor, _| Ok(crate::db::setup::suppliers::list(conn, actor.instance_id)?)).await
}

#[server(endpoint = "create_supplier")]
pub async fn create_supplier(name: String) -> Result<i64, AppError> {
    ssr::as_owner(move |conn, actor, now| crate::db::setup::suppliers::create(conn, actor, &name, now)).await
}

#[server(endpoint = "rename_supplier")]
pub async fn rename_supplier(supplier_id: i64, name: String) -> Result<(), AppError> {
    ssr::as_owner(move |conn, actor, now| {
        crate::db::setup::suppliers::rename(conn, actor, supplier_id, &name, now)
    })
    .await
}

/// Sets the campaigns a supplier may send leads to (the whole list, replacing the old one).
#[server(endpoint = "set_supplier_campaigns", input = Json)]
pub async fn set_supplier_campaigns(supplier_id: i64, campaign_ids: Vec<i64>) -> Result<(), AppError> {
    ssr::as_owner(move |conn, actor, now| {
        crate::db::setup::suppliers::set_campaigns(conn, actor, supplier_id, &campaign_ids, now)
    })
    .await
}

/// The intake keys of the instance's suppliers, newest first (never the keys themselves).
#[server(endpoint = "supplier_keys")]
pub async fn list_supplier_keys() -> Result<Vec<KeyView>, AppError> {
    ssr::as_owner(|conn, actor, _| {
        let at = |t: chrono::NaiveDateTime| t.format("%Y-%m-%d %H:%M").to_string();
        let keys = crate::db::keys::supplier_keys(conn, actor.instance_id)?;
        Ok(keys
            .into_iter()
            .map(|k| KeyView {
                id: k.id,
                supplier_id: k.supplier_id,
                shown: k.shown,
                created_at: at(k.created_at),
                last_used_at: k.last_used_at.map(at),
                revoked: k.revoked_at.is_some(),
            })
            .collect())
    })
    .await
}

/// Makes an intake key for a supplier; the answer is the only time the key is shown.
#[server(endpoint = "create_supplier_key")]
pub async fn create_supplier_key(supplier_id: i64) -> Result<NewKey, AppError> {
    ssr::as_owner(move |conn, actor, now| {
        let (id, key) = crate::db::keys::create_supplier_key(conn, actor, supplier_id, now)?;
        Ok(NewKey { id, key })
    })
    .await
}

/// Revokes a supplier's intake key: it stops working at once.
#[server(endpoint = "revoke_supplier_key")]
pub async fn revoke_supplier_key(key_id: i64) -> Result<(), AppError> {
    ssr::as_owner(move |conn, actor, now| crate::db::keys::revoke_supplier_key(conn, actor, key_id, now))
        .await
}

/// The Webhooks page: the instance's endpoints, its latest 50 events, and the campaigns and
/// suppliers an endpoint may be limited to.
#[server(endpoint = "webhooks_page")]
pub async fn get_webhooks_page() -> Result<WebhooksPage, AppError> {
    ssr::as_owner(|conn, actor, _| {
        let instance_id = actor.instance_id;
        let named = |id, name| crate::domain::setup_view::Named { id, name };
        Ok(WebhooksPage {
            endpoints: crate::db::webhooks::list(conn, instance_id)?,
            recent: crate::db::webhooks::recent_deliveries(conn, instance_id, None, 50)?,
            campaigns: crate::db::setup::campaigns::list(conn, instance_id)?
                .into_iter()
                .map(|c| named(c.id, c.name))
                .collect(),
            suppliers: crate::db::setup::suppliers::list(conn, instance_id)?
                .into_iter()
                .map(|s| named(s.id, s.name))
                .collect(),
        })
    })
    .await
}

/// What the Add endpoint form sends: campaigns or suppliers left empty mean all of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEndpoint {
    pub url: String,
    pub description: String,
    pub statuses: Vec<LeadStatus>,
    pub campaign_ids: Vec<i64>,
    pub supplier_ids: Vec<i64>,
}

/// Adds a webhook endpoint; the answer is the only time its signing secret is shown. A private
/// or plain-http address is refused unless the server runs with `--allow-private-webhooks`.
#[server(endpoint = "create_webhook", input = Json)]
pub async fn create_webhook(endpoint: NewEndpoint) -> Result<CreatedEndpoint, AppError> {
    crate::auth::access::guarded(async move {
        let allow_private = crate::state::app_state()?.network.allow_private_webhooks;
        ssr::as_owner(move |conn, actor, now| {
            if endpoint.statuses.is_empty() {
                return Err(crate::db::setup::SetupError::invalid(
                    "statuses",
                    "Tick at least one status to send.",
                ));
            }
            let input = crate::db::webhooks::EndpointInput {
                url: endpoint.url,
                description: endpoint.description,
                statuses: endpoint.statuses,
                campaign_ids: endpoint.campaign_ids,
                supplier_ids: endpoint.supplier_ids,
            };
            crate::db::webhooks::create(conn, actor, &input, allow_private, now)
        })
        .await
    })
    .await
}

/// Turns an endpoint on (its waiting events go out) or off (they wait).
#[server(endpoint = "set_webhook_enabled")]
pub async fn set_webhook_enabled(endpoint_id: i64, enabled: bool) -> Result<(), AppError> {
    ssr::as_owner(move |conn, actor, now| {
        crate::db::webhooks::set_enabled(conn, actor, endpoint_id, enabled, now)
    })
    .await
}

/// Gives an endpoint a new signing secret, shown this once; the old one signs too for 24 hours.
#[server(endpoint = "rotate_webhook_secret")]
pub async fn rotate_webhook_secret(endpoint_id: i64) -> Result<CreatedEndpoint, AppError> {
    ssr::as_owner(move |conn, actor, now| crate::db::webhooks::rotate_secret(conn, actor, endpoint_id, now))
        .await
}

/// Sends an event again, now, with a fresh set of retries.
#[server(endpoint = "resend_webhook_event")]
pub async fn resend_webhook_event(event_id: i64) -> Result<(), AppError> {
    ssr::as_owner(move |conn, actor, now| crate::db::webhooks::resend(conn, actor, event_id, now)).await
}
