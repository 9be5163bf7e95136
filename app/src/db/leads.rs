//! Lead queries, always within a [`Scope`]: the caller's instance and, for client users, the
//! campaigns of their client.

use chrono::{Days, NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::{
    affiliate_events, campaign_fields, campaigns, lead_status_history, lead_values, leads, rejection_tasks,
    suppliers, users,
};
use super::users::{Role, UserContext};
use super::{DbConn, DbError};
use crate::domain::identifiers::FieldKind;
use crate::domain::lead::{EventLine, HistoryLine, LeadDetail, LeadSort, RejectionWindow, pounds};
use crate::domain::status::LeadStatus;

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
    Ok(Some(LeadDetail {
        id,
        uid,
        campaign,
        status,
        status_reason,
        received_at: stamp(received_at),
        window: window_of(received_at.date(), max_days, today),
        fields,
        events: events_of(conn, id)?,
        history: history_of(conn, id, &supplier)?,
        supplier,
        webhooks: None,
    }))
}

/// The lead's affiliate events, oldest first.
fn events_of(conn: &mut DbConn, id: i64) -> Result<Vec<EventLine>, DbError> {
    Ok(affiliate_events::table
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
        .collect())
}

/// The lead's status history, newest first, with who or what made each change.
fn history_of(conn: &mut DbConn, id: i64, supplier: &str) -> Result<Vec<HistoryLine>, DbError> {
    type Change = (
        NaiveDateTime,
        Option<String>,
        String,
        Option<String>,
        String,
        Option<String>,
        Option<i64>,
        Option<i64>,
    );
    Ok(lead_status_history::table
        .left_join(users::table.on(users::id.nullable().eq(lead_status_history::actor_user_id)))
        .left_join(rejection_tasks::table.on(rejection_tasks::id.nullable().eq(lead_status_history::task_id)))
        .filter(lead_status_history::lead_id.eq(id))
        .select((
            lead_status_history::changed_at,
            lead_status_history::from_status,
            lead_status_history::to_status,
            lead_status_history::reason,
            lead_status_history::source,
            users::name.nullable(),
            lead_status_history::task_id,
            rejection_tasks::undo_of.assume_not_null().nullable(),
        ))
        .order((lead_status_history::changed_at.desc(), lead_status_history::id.desc()))
        .load::<Change>(conn)?
        .into_iter()
        .filter_map(|(at, from, to, reason, source, actor, task_id, undo_of)| {
            let by = match (source.as_str(), &actor, task_id) {
                // An undo's change (its reason says which task it undid).
                ("rejection_task", Some(name), Some(task)) if undo_of.is_some() => {
                    format!("{name}, undo (task {task})")
                }
                ("rejection_task", Some(name), Some(task)) => format!("{name}, rejection task {task}"),
                ("rejection_task", None, Some(task)) => format!("Rejection task {task}"),
                ("intake", Some(name), _) => format!("{name}, lead import"),
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
        .collect())
}

/// Where a page of All leads starts: after this (received_at, id), or this id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    At(NaiveDateTime, i64),
    Id(i64),
}

impl Cursor {
    /// The cursor after `row` in `sort` order, as the page's address carries it.
    pub fn after(row: &LeadRow, sort: LeadSort) -> String {
        match sort {
            LeadSort::Newest | LeadSort::Oldest => {
                format!("{}_{}", row.received_at.and_utc().timestamp_micros(), row.id)
            }
            LeadSort::IdAsc | LeadSort::IdDesc => row.id.to_string(),
        }
    }

    /// `None` for a cursor this sort did not produce (a hand-edited address: the first page).
    pub fn parse(s: &str, sort: LeadSort) -> Option<Self> {
        match sort {
            LeadSort::Newest | LeadSort::Oldest => {
                let (t, id) = s.split_once('_')?;
                let at = chrono::DateTime::from_timestamp_micros(t.parse().ok()?)?.naive_utc();
                Some(Cursor::At(at, id.parse().ok()?))
            }
            LeadSort::IdAsc | LeadSort::IdDesc => s.parse().ok().map(Cursor::Id),
        }
    }
}

/// The filters of All leads, parsed.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub campaign_id: Option<i64>,
    pub status: Option<LeadStatus>,
    /// Received at or after.
    pub from: Option<NaiveDateTime>,
    /// Received before.
    pub until: Option<NaiveDateTime>,
    /// Only these leads (a search's matches).
    pub ids: Option<Vec<i64>>,
    pub sort: LeadSort,
    pub after: Option<Cursor>,
}

/// One page of leads in the scope, in `filter.sort` order, starting after the cursor: keyset
/// pagination on `(instance_id, received_at, id)` or the primary key, so page 1,000 costs what
/// page 1 does.
pub fn list(
    conn: &mut DbConn,
    scope: Scope,
    filter: &ListFilter,
    limit: i64,
) -> Result<Vec<LeadRow>, DbError> {
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
        .limit(limit)
        .into_boxed();
    if let Some(client_id) = scope.client_id {
        q = q.filter(campaigns::client_id.eq(client_id));
    }
    if let Some(c) = filter.campaign_id {
        q = q.filter(leads::campaign_id.eq(c));
    }
    if let Some(s) = filter.status {
        q = q.filter(leads::status.eq(s.as_str()));
    }
    if let Some(from) = filter.from {
        q = q.filter(leads::received_at.ge(from));
    }
    if let Some(until) = filter.until {
        q = q.filter(leads::received_at.lt(until));
    }
    if let Some(ids) = &filter.ids {
        q = q.filter(leads::id.eq_any(ids.clone()));
    }
    q = match (filter.sort, filter.after) {
        (LeadSort::Newest, Some(Cursor::At(t, id))) => {
            q.filter(leads::received_at.lt(t).or(leads::received_at.eq(t).and(leads::id.lt(id))))
        }
        (LeadSort::Oldest, Some(Cursor::At(t, id))) => {
            q.filter(leads::received_at.gt(t).or(leads::received_at.eq(t).and(leads::id.gt(id))))
        }
        (LeadSort::IdAsc, Some(Cursor::Id(id))) => q.filter(leads::id.gt(id)),
        (LeadSort::IdDesc, Some(Cursor::Id(id))) => q.filter(leads::id.lt(id)),
        _ => q,
    };
    q = match filter.sort {
        LeadSort::Newest => q.order((leads::received_at.desc(), leads::id.desc())),
        LeadSort::Oldest => q.order((leads::received_at.asc(), leads::id.asc())),
        LeadSort::IdAsc => q.order(leads::id.asc()),
        LeadSort::IdDesc => q.order(leads::id.desc()),
    };
    Ok(q.load(conn)?)
}

/// Most leads one email or phone search takes (the list shows a page of them).
const SEARCH_MATCHES: i64 = 1000;

/// Leads in `scope` that a search box text names: as a Lead ID, a UID, an email or a phone
/// (emails and phones normalised as for rejections, so `+44 7700 900123` finds `07700900123`).
/// The scope is applied inside each query, so other tenants' matches never crowd out the
/// caller's.
pub fn search_ids(conn: &mut DbConn, scope: Scope, text: &str) -> Result<Vec<i64>, DbError> {
    let text = text.trim();
    let mut ids: Vec<i64> = Vec::new();
    let as_id = text.parse::<i64>().ok();
    let mut q = leads::table
        .inner_join(campaigns::table)
        .filter(leads::instance_id.eq(scope.instance_id))
        .filter(leads::uid.eq(text).or(leads::id.nullable().eq(as_id)))
        .select(leads::id)
        .into_boxed();
    if let Some(client_id) = scope.client_id {
        q = q.filter(campaigns::client_id.eq(client_id));
    }
    ids.extend(q.load::<i64>(conn)?);
    for kind in [FieldKind::Email, FieldKind::Phone] {
        let Some(value) = kind.normalize(text) else { continue };
        let mut q = lead_values::table
            .inner_join(campaign_fields::table.inner_join(campaigns::table))
            .filter(campaign_fields::kind.eq(kind.as_str()).and(lead_values::normalized.eq(value)))
            .filter(campaigns::instance_id.eq(scope.instance_id))
            .select(lead_values::lead_id)
            .limit(SEARCH_MATCHES)
            .into_boxed();
        if let Some(client_id) = scope.client_id {
            q = q.filter(campaigns::client_id.eq(client_id));
        }
        ids.extend(q.load::<i64>(conn)?);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// The campaigns the scope may filter by: (id, name).
pub fn campaigns_in_scope(conn: &mut DbConn, scope: Scope) -> Result<Vec<(i64, String)>, DbError> {
    let mut q = campaigns::table
        .filter(campaigns::instance_id.eq(scope.instance_id))
        .select((campaigns::id, campaigns::name))
        .order(campaigns::name)
        .into_boxed();
    if let Some(client_id) = scope.client_id {
        q = q.filter(campaigns::client_id.eq(client_id));
    }
    Ok(q.load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    /// The docs/DOMAIN.md example: N = 7, today 2026-11-26 → received 2026-11-19 is inside (until
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
