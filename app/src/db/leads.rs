//! Lead queries, always within a [`Scope`]: the caller's instance and, for client users, the
//! campaigns of their client.

use chrono::{Days, NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::{
    affiliate_events, campaign_fields, campaigns, lead_status_history, lead_values, leads, suppliers, users,
};
use super::users::{Role, UserContext};
use super::{DbConn, DbError};
use crate::domain::status::LeadStatus;
use crate::leads::model::{EventLine, HistoryLine, LeadDetail, RejectionWindow, pounds};

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

/// The rejection window of a lead received on `received` under a campaign allowing `max_days`,
/// seen on `today`.
pub fn window_of(received: NaiveDate, max_days: Option<i32>, today: NaiveDate) -> RejectionWindow {
    let Some(days) = max_days.filter(|d| *d >= 0) else { return RejectionWindow::NoWindow };
    let last =
        received.checked_add_days(Days::new(u64::try_from(days).unwrap_or(0))).unwrap_or(NaiveDate::MAX);
    if today <= last {
        RejectionWindow::Inside { until: last.to_string(), days }
    } else {
        RejectionWindow::Closed { ended: last.to_string(), days }
    }
}

fn stamp(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Lead `id` as its page shows it, or `None` when the scope may not see it (other instance,
/// other client's campaign, no such lead — all the same to the caller).
pub fn detail(
    conn: &mut DbConn,
    scope: Scope,
    id: i64,
    today: NaiveDate,
) -> Result<Option<LeadDetail>, DbError> {
    let mut q = leads::table
        .inner_join(campaigns::table)
        .inner_join(suppliers::table)
        .filter(leads::id.eq(id).and(leads::instance_id.eq(scope.instance_id)))
        .select((
            leads::uid,
            campaigns::name,
            campaigns::max_rejection_days,
            suppliers::name,
            leads::status,
            leads::status_reason,
            leads::received_at,
        ))
        .into_boxed();
    if let Some(client_id) = scope.client_id {
        q = q.filter(campaigns::client_id.eq(client_id));
    }
    type Head = (String, String, Option<i32>, String, String, Option<String>, NaiveDateTime);
    let Some((uid, campaign, max_days, supplier, status, status_reason, received_at)) =
        q.first::<Head>(conn).optional()?
    else {
        return Ok(None);
    };
    let Some(status) = LeadStatus::parse(&status) else { return Ok(None) };
    let fields: Vec<(String, String)> = lead_values::table
        .inner_join(campaign_fields::table)
        .filter(lead_values::lead_id.eq(id))
        .select((campaign_fields::label, lead_values::value))
        .order(campaign_fields::position)
        .load(conn)?;
    let events = affiliate_events::table
        .filter(affiliate_events::lead_id.eq(id))
        .select((
            affiliate_events::kind,
            affiliate_events::name,
            affiliate_events::cost_pence,
            affiliate_events::revenue_pence,
            affiliate_events::status,
            affiliate_events::occurred_at,
        ))
        .order(affiliate_events::occurred_at)
        .load::<(String, String, i64, i64, String, NaiveDateTime)>(conn)?
        .into_iter()
        .map(|(kind, name, cost, revenue, status, at)| EventLine {
            kind,
            name,
            cost: pounds(cost),
            revenue: pounds(revenue),
            status,
            occurred_at: stamp(at),
        })
        .collect();
    type Change =
        (NaiveDateTime, Option<String>, String, Option<String>, String, Option<String>, Option<i64>);
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
            lead_status_history::task_id,
        ))
        .order((lead_status_history::changed_at.desc(), lead_status_history::id.desc()))
        .load::<Change>(conn)?
        .into_iter()
        .filter_map(|(at, from, to, reason, source, actor, task_id)| {
            let by = match (source.as_str(), &actor, task_id) {
                ("rejection_task", Some(name), Some(task)) => format!("{name}, rejection task {task}"),
                ("rejection_task", None, Some(task)) => format!("Rejection task {task}"),
                ("intake", ..) => "Lead intake".to_owned(),
                ("supplier", ..) => format!("Supplier {supplier}"),
                (_, Some(name), _) => name.clone(),
                _ => "System".to_owned(),
            };
            Some(HistoryLine {
                at: stamp(at),
                from: from.as_deref().and_then(LeadStatus::parse),
                to: LeadStatus::parse(&to)?,
                reason,
                by,
                task_id,
            })
        })
        .collect();
    Ok(Some(LeadDetail {
        id,
        uid,
        campaign,
        supplier,
        status,
        status_reason,
        received_at: stamp(received_at),
        window: window_of(received_at.date(), max_days, today),
        fields,
        events,
        history,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    /// The DESIGN example: N = 7, today 2026-11-26 → received 2026-11-19 is inside (until
    /// 2026-11-26), 2026-11-18 is outside.
    #[test]
    fn the_window_matches_the_design_example() {
        assert_eq!(
            window_of(d("2026-11-19"), Some(7), d("2026-11-26")),
            RejectionWindow::Inside { until: "2026-11-26".into(), days: 7 }
        );
        assert_eq!(
            window_of(d("2026-11-18"), Some(7), d("2026-11-26")),
            RejectionWindow::Closed { ended: "2026-11-25".into(), days: 7 }
        );
        assert_eq!(window_of(d("2026-11-18"), None, d("2026-11-26")), RejectionWindow::NoWindow);
    }
}
