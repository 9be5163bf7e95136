//! Reading what a batch is planned from: the campaign's leads that the rows' keys match, the
//! campaign's caps, and the cap units leads would give back (docs/DOMAIN.md §2, option 5).

use std::collections::HashMap;

use chrono::{Days, NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::IN_CHUNK;
use super::row::CampaignRef;
use crate::db::schema::{caps, lead_values, leads};
use crate::db::{DbConn, DbError};
use crate::domain::caps::CapPeriod;
use crate::domain::status::LeadStatus;
use crate::domain::task::IdentifierMode;
use crate::engine::planner::{Found, Key, LeadState};

/// A cap of the campaign: on the whole campaign, or on one supplier's leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CapRef {
    pub id: i64,
    pub supplier_id: Option<i64>,
    pub period: CapPeriod,
}

/// The campaign's caps.
pub(super) fn load_caps(conn: &mut DbConn, campaign_id: i64) -> Result<Vec<CapRef>, DbError> {
    Ok(caps::table
        .filter(caps::campaign_id.eq(campaign_id))
        .select((caps::id, caps::supplier_id, caps::period))
        .load::<(i64, Option<i64>, String)>(conn)?
        .into_iter()
        .filter_map(|(id, supplier_id, period)| {
            Some(CapRef { id, supplier_id, period: CapPeriod::parse(&period)? })
        })
        .collect())
}

/// (cap id, first day of its period) → units the leads give back: one per cap each lead counted
/// in (the campaign's caps, and the caps of the lead's supplier).
pub(super) fn cap_give_backs(caps: &[CapRef], leads: &[LeadState]) -> HashMap<(i64, NaiveDate), i64> {
    let mut give_back: HashMap<(i64, NaiveDate), i64> = HashMap::new();
    for lead in leads {
        for cap in caps {
            if cap.supplier_id.is_none_or(|s| s == lead.supplier_id) {
                *give_back.entry((cap.id, cap.period.period_start(lead.received_at.date()))).or_default() +=
                    1;
            }
        }
    }
    give_back
}

/// Option 4 moves leads received before this instant: the end of day R.
pub(super) fn remaining_until(reference_date: NaiveDate) -> NaiveDateTime {
    reference_date
        .checked_add_days(Days::new(1))
        .unwrap_or(NaiveDate::MAX)
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
}

type LeadTuple = (i64, String, NaiveDateTime, i64, bool);

fn lead_state((id, status, received_at, supplier_id, cap_released): LeadTuple) -> Option<LeadState> {
    Some(LeadState { id, status: LeadStatus::parse(&status)?, received_at, supplier_id, cap_released })
}

fn texts<'k>(keys: &[&'k Key]) -> Vec<&'k str> {
    keys.iter().filter_map(|k| if let Key::Text(t) = k { Some(t.as_str()) } else { None }).collect()
}

/// The campaign's leads matching the batch's keys (a lead of another campaign or instance is
/// not found, like a missing one).
pub(super) fn find_leads(
    conn: &mut DbConn,
    campaign: CampaignRef,
    mode: IdentifierMode,
    keys: &[&Key],
) -> Result<HashMap<Key, Found>, DbError> {
    let cols = (leads::id, leads::status, leads::received_at, leads::supplier_id, leads::cap_released);
    let mut found = HashMap::new();
    match mode {
        IdentifierMode::LeadId => {
            let ids: Vec<i64> =
                keys.iter().filter_map(|k| if let Key::LeadId(id) = k { Some(*id) } else { None }).collect();
            for chunk in ids.chunks(IN_CHUNK) {
                let rows: Vec<LeadTuple> = leads::table
                    .filter(leads::campaign_id.eq(campaign.campaign_id).and(leads::id.eq_any(chunk)))
                    .select(cols)
                    .load(conn)?;
                for lead in rows.into_iter().filter_map(lead_state) {
                    found.insert(Key::LeadId(lead.id), Found::One(lead));
                }
            }
        }
        IdentifierMode::Uid => {
            for chunk in texts(keys).chunks(IN_CHUNK) {
                let rows: Vec<(String, LeadTuple)> = leads::table
                    .filter(
                        leads::instance_id
                            .eq(campaign.instance_id)
                            .and(leads::campaign_id.eq(campaign.campaign_id))
                            .and(leads::uid.eq_any(chunk)),
                    )
                    .select((leads::uid, cols))
                    .load(conn)?;
                for (uid, t) in rows {
                    if let Some(lead) = lead_state(t) {
                        found.insert(Key::Text(uid), Found::One(lead));
                    }
                }
            }
        }
        IdentifierMode::Field { field_id, .. } => {
            for chunk in texts(keys).chunks(IN_CHUNK) {
                let rows: Vec<(String, LeadTuple)> = lead_values::table
                    .inner_join(leads::table)
                    .filter(
                        lead_values::field_id
                            .eq(field_id)
                            .and(lead_values::normalized.eq_any(chunk))
                            .and(leads::campaign_id.eq(campaign.campaign_id)),
                    )
                    .select((lead_values::normalized, cols))
                    .load(conn)?;
                for (value, t) in rows {
                    let Some(lead) = lead_state(t) else { continue };
                    let key = Key::Text(value);
                    let next = match found.remove(&key) {
                        None => Found::One(lead),
                        Some(Found::One(_)) => Found::Many(2),
                        Some(Found::Many(n)) => Found::Many(n + 1),
                    };
                    found.insert(key, next);
                }
            }
        }
    }
    Ok(found)
}
