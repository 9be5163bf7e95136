//! The machine API's lookups (docs/DOMAIN.md §7): `GET /api/v1/campaigns` (the key user's
//! client's campaigns and the fields that identify their leads) and `GET /api/v1/leads/{lead_id}`
//! (one lead of the client: status, rejection window, history). A lead of another client or
//! instance is answered exactly as a missing one.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDateTime, SecondsFormat};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::{api_user, error};
use super::error::{ApiError, ErrorCode};
use crate::db::api_lookups::{self, ClientCampaign, DedupeField, LeadLookup, StatusChange};
use crate::db::leads::window_of;
use crate::domain::lead::RejectionWindow;
use crate::state::AppState;

/// `GET /api/v1/campaigns`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CampaignList {
    /// By name, then id.
    pub campaigns: Vec<Campaign>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Campaign {
    pub id: i64,
    pub name: String,
    /// N of the rejection window; `null`: the campaign's leads cannot be rejected.
    pub max_rejection_days: Option<i32>,
    /// The fields whose value identifies a lead of the campaign, in its field order.
    pub deduplicated_fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Field {
    pub id: i64,
    /// The field key, as intake takes values by.
    pub key: String,
    pub label: String,
    /// `email`, `phone` or `text`.
    pub kind: String,
}

/// `GET /api/v1/leads/{lead_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Lead {
    pub lead_id: i64,
    pub uid: String,
    /// As suppliers know it: `received`, `accepted`, `client_rejected`, …
    pub status: String,
    pub status_reason: Option<String>,
    pub campaign: Named,
    pub supplier: Named,
    /// RFC 3339, UTC.
    pub received_at: String,
    /// The last UTC day (`YYYY-MM-DD`) the lead may be rejected on: the date it was received plus
    /// the campaign's maximum rejection days; `null` when the campaign has none.
    pub inside_window_until: Option<String>,
    /// Whether that day is today (UTC) or later; `null` when the campaign has no window.
    pub inside_window: Option<bool>,
    /// Oldest first.
    pub history: Vec<Change>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Named {
    pub id: i64,
    pub name: String,
}

/// One status change of a lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Change {
    /// RFC 3339, UTC.
    pub at: String,
    /// `null` for the status the lead arrived with.
    pub from: Option<String>,
    pub to: String,
    pub reason: Option<String>,
    /// What made it: `rejection_task`, `user` (the API or a person), `intake`, `supplier`, …
    pub source: String,
    /// The user who made it, by name, when a user did.
    pub by: Option<String>,
}

fn rfc3339(at: NaiveDateTime) -> String {
    at.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn internal(err: &crate::db::DbError, what: &str) -> Response {
    tracing::error!(error = %err, "{what} through the API");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Internal,
        "Something went wrong on our side. Try again in a moment.",
    )
}

fn lead_not_found() -> Response {
    error(StatusCode::NOT_FOUND, ErrorCode::LeadNotFound, "No lead of yours has this id.")
}

impl From<ClientCampaign> for Campaign {
    fn from(c: ClientCampaign) -> Self {
        Self {
            id: c.id,
            name: c.name,
            max_rejection_days: c.max_rejection_days,
            deduplicated_fields: c.deduplicated_fields.into_iter().map(Field::from).collect(),
        }
    }
}

impl From<DedupeField> for Field {
    fn from(f: DedupeField) -> Self {
        Self { id: f.id, key: f.key, label: f.label, kind: f.kind }
    }
}

impl From<StatusChange> for Change {
    fn from(c: StatusChange) -> Self {
        Self { at: rfc3339(c.at), from: c.from, to: c.to, reason: c.reason, source: c.source, by: c.by }
    }
}

impl Lead {
    /// The lead as the API shows it on `today` (UTC), its window by the lead page's rule
    /// (docs/DOMAIN.md §3: inside while received on or after today − N days).
    fn of(lead: LeadLookup, today: chrono::NaiveDate) -> Self {
        let (inside_window_until, inside_window) =
            match window_of(lead.received_at.date(), lead.max_rejection_days, today) {
                RejectionWindow::Inside { until, .. } => (Some(until), Some(true)),
                RejectionWindow::Closed { ended, .. } => (Some(ended), Some(false)),
                RejectionWindow::NoWindow => (None, None),
            };
        Self {
            lead_id: lead.id,
            uid: lead.uid,
            status: lead.status,
            status_reason: lead.status_reason,
            campaign: Named { id: lead.campaign_id, name: lead.campaign_name },
            supplier: Named { id: lead.supplier_id, name: lead.supplier_name },
            received_at: rfc3339(lead.received_at),
            inside_window_until,
            inside_window,
            history: lead.history.into_iter().map(Change::from).collect(),
        }
    }
}

/// Your campaigns
///
/// The campaigns of the key's client, to find a `campaign_id` and the deduplicated fields that
/// identify their leads (`identifier=field:<key>` in a rejection task).
#[utoipa::path(
    get,
    path = "/api/v1/campaigns",
    tag = "leads",
    security(("bearer" = [])),
    responses((status = 200, description = "The client's campaigns, by name.", body = CampaignList)),
)]
pub async fn campaigns(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let user = match api_user(&state, &headers, None).await {
        Ok(user) => user,
        Err(refusal) => return refusal,
    };
    // A key's user always belongs to a client (`api_user` requires the permission).
    let Some(client_id) = user.client_id else {
        return axum::Json(CampaignList { campaigns: Vec::new() }).into_response();
    };
    let instance_id = user.instance_id;
    match state.db(move |conn| api_lookups::client_campaigns(conn, instance_id, client_id)).await {
        Ok(found) => axum::Json(CampaignList { campaigns: found.into_iter().map(Campaign::from).collect() })
            .into_response(),
        Err(err) => internal(&err, "listing campaigns"),
    }
}

/// A lead
///
/// One lead of the key's client: its status and reason, campaign, supplier, received time,
/// rejection window and status history.
#[utoipa::path(
    get,
    path = "/api/v1/leads/{lead_id}",
    tag = "leads",
    params(("lead_id" = i64, Path, description = "The lead's id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The lead.", body = Lead),
        (status = 404, description = "`LEAD_NOT_FOUND`: no lead of your client has this id.", body = ApiError),
    ),
)]
pub async fn lead(
    State(state): State<AppState>,
    Path(lead_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let user = match api_user(&state, &headers, None).await {
        Ok(user) => user,
        Err(refusal) => return refusal,
    };
    let (Ok(lead_id), Some(client_id)) = (lead_id.trim().parse::<i64>(), user.client_id) else {
        return lead_not_found();
    };
    let instance_id = user.instance_id;
    let today = state.clock.now().date();
    match state.db(move |conn| api_lookups::client_lead(conn, instance_id, client_id, lead_id)).await {
        Ok(Some(found)) => axum::Json(Lead::of(found, today)).into_response(),
        Ok(None) => lead_not_found(),
        Err(err) => internal(&err, "looking up a lead"),
    }
}
