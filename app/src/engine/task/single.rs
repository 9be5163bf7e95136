//! One lead rejected through the API (docs/DOMAIN.md §7): a one-row task without a file. The
//! planner decides the row exactly as for a task; the change, its history row (source `user`,
//! the key's user), affiliate events and cap give-backs commit in one transaction.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::lookup::{cap_give_backs, load_caps};
use crate::db::outbox::{self, Changes};
use crate::db::schema::{affiliate_events, campaigns, cap_usage, lead_status_history, leads};
use crate::db::{DbConn, DbError, write_transaction};
use crate::domain::status::LeadStatus;
use crate::domain::task::{IdentifierMode, Outcome, TaskOptions};
use crate::engine::planner::{self, Found, Key, LeadState, PlanSettings, RowInput, Seen};

/// Times a rejection is decided again when the lead changed between reading and writing it.
const ATTEMPTS: usize = 5;

/// A single-lead rejection, as asked by an API key's client user.
#[derive(Debug, Clone)]
pub struct SingleReject {
    pub lead_id: i64,
    /// The reason, trimmed, 1 to [`planner::MAX_REASON_CHARS`] characters.
    pub reason: String,
    /// The key's user (the history's actor), their instance and client.
    pub user_id: i64,
    pub instance_id: i64,
    pub client_id: i64,
    pub reject_affiliate_events: bool,
    pub count_towards_cap: bool,
    pub now: NaiveDateTime,
}

/// Why a lead was not rejected; each maps to one API error code.
#[derive(Debug, thiserror::Error)]
pub enum SingleError {
    /// No such lead among the client's campaigns in the instance.
    #[error("no lead of yours has this id")]
    NotFound,
    #[error("the lead is already Client Rejected")]
    AlreadyRejected,
    #[error("{0}")]
    OutsideWindow(String),
    #[error("{0}")]
    NotDelivered(String),
    #[error("the lead's campaign has no maximum rejection days")]
    NoMaxRejectionDays,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
    /// The lead changed between reading and writing it (decided again).
    #[error("the lead changed meanwhile")]
    Conflict,
}

impl From<diesel::result::Error> for SingleError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(e))
    }
}

/// Rejects one lead of the user's client; the lead's status is unchanged unless `Ok`.
pub fn reject_one(conn: &mut DbConn, request: &SingleReject) -> Result<(), SingleError> {
    for _ in 1..ATTEMPTS {
        match write_transaction(conn, |conn| attempt(conn, request)) {
            Err(SingleError::Conflict) => continue,
            other => return other,
        }
    }
    write_transaction(conn, |conn| attempt(conn, request))
}

/// A lead as read for the decision: id, status, received at, supplier, cap released, and its
/// campaign's id and maximum rejection days.
type LeadRow = (i64, String, NaiveDateTime, i64, bool, i64, Option<i32>);

fn attempt(conn: &mut DbConn, request: &SingleReject) -> Result<(), SingleError> {
    let found: Option<LeadRow> = leads::table
        .inner_join(campaigns::table.on(campaigns::id.eq(leads::campaign_id)))
        .filter(
            leads::id
                .eq(request.lead_id)
                .and(leads::instance_id.eq(request.instance_id))
                .and(campaigns::instance_id.eq(request.instance_id))
                .and(campaigns::client_id.eq(request.client_id)),
        )
        .select((
            leads::id,
            leads::status,
            leads::received_at,
            leads::supplier_id,
            leads::cap_released,
            campaigns::id,
            campaigns::max_rejection_days,
        ))
        .first(conn)
        .optional()?;
    let Some((id, status, received_at, supplier_id, cap_released, campaign_id, max_days)) = found else {
        return Err(SingleError::NotFound);
    };
    let Some(status) = LeadStatus::parse(&status) else {
        return Err(SingleError::Db(DbError::Inconsistent(format!("lead {id} has an unknown status"))));
    };
    // A task refuses such a campaign before reading any row (docs/DOMAIN.md §3).
    let Some(max_rejection_days) = max_days.and_then(|n| u32::try_from(n).ok()) else {
        return Err(SingleError::NoMaxRejectionDays);
    };
    let lead = LeadState { id, status, received_at, supplier_id, cap_released };
    let settings = PlanSettings {
        reference_date: request.now.date(),
        max_rejection_days,
        options: TaskOptions {
            move_outside_to_accepted: false,
            reject_affiliate_events: request.reject_affiliate_events,
            move_remaining_to_accepted: false,
            count_towards_cap: request.count_towards_cap,
        },
    };
    let key = id.to_string();
    let row = RowInput::new(1, IdentifierMode::LeadId, Ok((key.as_str(), request.reason.as_str())));
    let found = std::collections::HashMap::from([(Key::LeadId(id), Found::One(lead))]);
    let plan = planner::plan_batch(&settings, vec![row], &found, &mut Seen::default());
    let Some(result) = plan.rows.first() else {
        return Err(SingleError::Db(DbError::Inconsistent("the planner gave no outcome".into())));
    };
    match result.outcome {
        Outcome::Rejected => {}
        Outcome::AlreadyRejected => return Err(SingleError::AlreadyRejected),
        Outcome::OutsideWindow | Outcome::AcceptedOutsideWindow => {
            return Err(SingleError::OutsideWindow(result.message.clone()));
        }
        Outcome::NotDelivered => return Err(SingleError::NotDelivered(result.message.clone())),
        Outcome::Invalid => return Err(SingleError::Invalid(result.message.clone())),
        Outcome::NotFound | Outcome::Ambiguous | Outcome::DuplicateInFile => {
            return Err(SingleError::NotFound);
        }
    }
    let [change] = plan.changes.as_slice() else {
        return Err(SingleError::Db(DbError::Inconsistent("a rejection without one change".into())));
    };
    let release = !plan.release_caps_of.is_empty();
    // Guarded by the status planned from: a lead changed meanwhile is decided again.
    let target = leads::table.filter(leads::id.eq(id).and(leads::status.eq(change.from.as_str())));
    let set = (
        leads::status.eq(change.to.as_str()),
        leads::status_reason.eq(change.reason.as_deref()),
        leads::updated_at.eq(request.now),
    );
    let changed = if release {
        diesel::update(target.filter(leads::cap_released.eq(false)))
            .set((set, leads::cap_released.eq(true)))
            .execute(conn)?
    } else {
        diesel::update(target).set(set).execute(conn)?
    };
    if changed != 1 {
        return Err(SingleError::Conflict);
    }
    let history_id: i64 = diesel::insert_into(lead_status_history::table)
        .values((
            lead_status_history::lead_id.eq(id),
            lead_status_history::from_status.eq(Some(change.from.as_str())),
            lead_status_history::to_status.eq(change.to.as_str()),
            lead_status_history::reason.eq(change.reason.as_deref()),
            lead_status_history::source.eq("user"),
            lead_status_history::actor_user_id.eq(Some(request.user_id)),
            lead_status_history::changed_at.eq(request.now),
        ))
        .returning(lead_status_history::id)
        .get_result(conn)?;
    outbox::enqueue(conn, campaign_id, Changes::History(history_id), request.now)?;
    if !plan.reject_events_of.is_empty() {
        diesel::update(
            affiliate_events::table
                .filter(affiliate_events::lead_id.eq(id).and(affiliate_events::status.eq("approved"))),
        )
        .set(affiliate_events::status.eq("rejected"))
        .execute(conn)?;
    }
    if release {
        let caps = load_caps(conn, campaign_id)?;
        // As a task's option 5: one unit to every cap the lead counted in, never below zero.
        for ((cap_id, period_start), n) in cap_give_backs(&caps, &plan.release_caps_of) {
            diesel::update(
                cap_usage::table
                    .filter(cap_usage::cap_id.eq(cap_id).and(cap_usage::period_start.eq(period_start))),
            )
            .set(cap_usage::used.eq(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
                "CASE WHEN used >= {n} THEN used - {n} ELSE 0 END"
            ))))
            .execute(conn)?;
        }
    }
    Ok(())
}
