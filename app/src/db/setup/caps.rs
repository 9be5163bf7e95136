//! A campaign's caps: a limit on leads taken per period (day, week, month or total), on the
//! whole campaign or on one supplier's leads (docs/DOMAIN.md §2). Add, change the limit, remove.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::campaigns::name_in_instance;
use super::{SetupError, unique_or};
use crate::db::audit::{self, Actor, Entry};
use crate::db::schema::{campaigns, cap_usage, caps, suppliers};
use crate::db::{DbConn, write_transaction};
use crate::domain::caps::CapPeriod;
use crate::domain::setup::{MAX_CAP_LIMIT, period_words};

fn limit_in_range(limit: i64) -> Result<i64, SetupError> {
    if (0..=MAX_CAP_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(SetupError::invalid("limit", "Enter the limit as a whole number of leads, 0 or more."))
    }
}

/// "Cap 500 per day on LeadGen Direct's leads" — the words the change log uses.
fn describe(limit: i64, period: CapPeriod, supplier: Option<&str>) -> String {
    match supplier {
        Some(s) => format!("{limit} {} on {s}'s leads", period_words(period)),
        None => format!("{limit} {} on the campaign", period_words(period)),
    }
}

/// Adds a cap; its id. `supplier_id` must be one of the instance's suppliers.
pub fn add(
    conn: &mut DbConn,
    actor: Actor,
    campaign_id: i64,
    supplier_id: Option<i64>,
    period: CapPeriod,
    limit: i64,
    now: NaiveDateTime,
) -> Result<i64, SetupError> {
    let limit = limit_in_range(limit)?;
    write_transaction(conn, |conn| {
        let campaign = name_in_instance(conn, actor.instance_id, campaign_id)?;
        let supplier = match supplier_id {
            None => None,
            Some(id) => Some(
                suppliers::table
                    .filter(suppliers::id.eq(id).and(suppliers::instance_id.eq(actor.instance_id)))
                    .select(suppliers::name)
                    .first::<String>(conn)
                    .optional()?
                    .ok_or(SetupError::NotFound)?,
            ),
        };
        let id: i64 = diesel::insert_into(caps::table)
            .values((
                caps::campaign_id.eq(campaign_id),
                caps::supplier_id.eq(supplier_id),
                caps::period.eq(period.as_str()),
                caps::cap_limit.eq(limit),
            ))
            .returning(caps::id)
            .get_result(conn)
            .map_err(|e| {
                unique_or(e, "period", || {
                    let whose =
                        supplier.as_deref().map_or("the campaign".to_owned(), |s| format!("{s}'s leads"));
                    format!(
                        "There is already a cap {} on {whose}. Change its limit instead.",
                        period_words(period)
                    )
                })
            })?;
        let detail = describe(limit, period, supplier.as_deref());
        let entry =
            Entry { action: "cap.add", subject: &campaign, detail: &detail, campaign_id: Some(campaign_id) };
        audit::record(conn, actor, &entry, now)?;
        Ok(id)
    })
}

/// Locks the cap's row and reads its campaign (id, name), supplier name, period and limit, when
/// its campaign is the instance's.
fn load(
    conn: &mut DbConn,
    instance_id: i64,
    cap_id: i64,
) -> Result<(i64, String, Option<String>, CapPeriod, i64), SetupError> {
    let of_instance = campaigns::table.filter(campaigns::instance_id.eq(instance_id)).select(campaigns::id);
    let locked =
        diesel::update(caps::table.filter(caps::id.eq(cap_id).and(caps::campaign_id.eq_any(of_instance))))
            .set(caps::cap_limit.eq(caps::cap_limit))
            .execute(conn)?;
    if locked == 0 {
        return Err(SetupError::NotFound);
    }
    let row: (i64, String, Option<i64>, String, i64) = caps::table
        .inner_join(campaigns::table)
        .filter(caps::id.eq(cap_id).and(campaigns::instance_id.eq(instance_id)))
        .select((campaigns::id, campaigns::name, caps::supplier_id, caps::period, caps::cap_limit))
        .first(conn)
        .optional()?
        .ok_or(SetupError::NotFound)?;
    let (campaign_id, campaign, supplier_id, period, limit) = row;
    let supplier = match supplier_id {
        Some(id) => suppliers::table.find(id).select(suppliers::name).first(conn).optional()?,
        None => None,
    };
    let period = CapPeriod::parse(&period).unwrap_or(CapPeriod::Total);
    Ok((campaign_id, campaign, supplier, period, limit))
}

/// Changes a cap's limit. Units already used stay used: a lower limit only stops new leads.
pub fn set_limit(
    conn: &mut DbConn,
    actor: Actor,
    cap_id: i64,
    limit: i64,
    now: NaiveDateTime,
) -> Result<(), SetupError> {
    let limit = limit_in_range(limit)?;
    write_transaction(conn, |conn| {
        let (campaign_id, campaign, supplier, period, old) = load(conn, actor.instance_id, cap_id)?;
        if old == limit {
            return Ok(());
        }
        diesel::update(caps::table.find(cap_id)).set(caps::cap_limit.eq(limit)).execute(conn)?;
        let detail = format!("{} (was {old})", describe(limit, period, supplier.as_deref()));
        let entry = Entry {
            action: "cap.update",
            subject: &campaign,
            detail: &detail,
            campaign_id: Some(campaign_id),
        };
        audit::record(conn, actor, &entry, now)?;
        Ok(())
    })
}

/// Removes a cap and its usage counts.
pub fn remove(conn: &mut DbConn, actor: Actor, cap_id: i64, now: NaiveDateTime) -> Result<(), SetupError> {
    write_transaction(conn, |conn| {
        let (campaign_id, campaign, supplier, period, limit) = load(conn, actor.instance_id, cap_id)?;
        diesel::delete(cap_usage::table.filter(cap_usage::cap_id.eq(cap_id))).execute(conn)?;
        diesel::delete(caps::table.find(cap_id)).execute(conn)?;
        let detail = describe(limit, period, supplier.as_deref());
        let entry = Entry {
            action: "cap.remove",
            subject: &campaign,
            detail: &detail,
            campaign_id: Some(campaign_id),
        };
        audit::record(conn, actor, &entry, now)?;
        Ok(())
    })
}
