//! A lead arriving from a supplier (docs/DOMAIN.md §9), decided and stored in one write
//! transaction: an invalid email or phone → `rejected`; a deduped value already on a lead of the
//! campaign → `rejected`; over any cap for its period → `quarantine`; otherwise `received`, taking
//! a unit of each of its caps. The supplier always gets the lead back.
//!
//! Under concurrency (PostgreSQL; SQLite runs write transactions one at a time): the campaign's
//! field rows are read `FOR SHARE`, so a field change (which locks the row) waits for the lead or
//! the lead for it; a deduped value is checked under a transaction lock on (field, value), so two
//! leads with one value are decided one after the other; a cap unit is taken by one conditional
//! `UPDATE … WHERE used < limit`, so no cap is overshot.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Text};

use super::keys::KeyHolder;
use super::schema::{
    campaign_fields, campaigns, cap_usage, caps, lead_status_history, lead_values, leads, supplier_campaigns,
};
use super::{DbConn, DbError, write_transaction};
use crate::domain::caps::CapPeriod;
use crate::domain::identifiers::FieldKind;
use crate::domain::intake::{FieldDef, FieldRefusal, Value, invalid_reason, resolve};
use crate::domain::status::LeadStatus;

/// The reason of a lead over one of its caps.
pub const CAP_REACHED: &str = "Cap reached";

/// Why a posted lead was not taken at all (nothing is stored).
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("unknown campaign")]
    UnknownCampaign,
    #[error("supplier not allowed")]
    SupplierNotAllowed,
    #[error("invalid field {}", .0.field)]
    InvalidField(FieldRefusal),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for IntakeError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

/// A stored lead, as the supplier is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub lead_id: i64,
    pub uid: String,
    pub status: LeadStatus,
    pub reason: Option<String>,
}

/// Stores a lead posted with `holder`'s key for `campaign_id` (the key's supplier sends it).
pub fn receive(
    conn: &mut DbConn,
    holder: KeyHolder,
    campaign_id: i64,
    posted: &[(String, String)],
    now: NaiveDateTime,
) -> Result<Received, IntakeError> {
    let supplier_id = holder.supplier_id.ok_or(IntakeError::SupplierNotAllowed)?;
    write_transaction(conn, |conn| {
        let found: Option<i64> = campaigns::table
            .filter(campaigns::id.eq(campaign_id).and(campaigns::instance_id.eq(holder.instance_id)))
            .select(campaigns::id)
            .first(conn)
            .optional()?;
        found.ok_or(IntakeError::UnknownCampaign)?;
        let allowed: i64 = supplier_campaigns::table
            .filter(
                supplier_campaigns::supplier_id
                    .eq(supplier_id)
                    .and(supplier_campaigns::campaign_id.eq(campaign_id)),
            )
            .count()
            .get_result(conn)?;
        if allowed == 0 {
            return Err(IntakeError::SupplierNotAllowed);
        }
        if let DbConn::Pg(_) = conn {
            // A bulk import of the campaign's leads holds this lock exclusively per batch.
            diesel::sql_query("SELECT pg_advisory_xact_lock_shared($1)")
                .bind::<BigInt, _>(campaign_lead_lock(campaign_id))
                .execute(conn)?;
        }
        let fields = load_fields(conn, campaign_id)?;
        let values = resolve(&fields, posted).map_err(IntakeError::InvalidField)?;
        let mut reason = invalid_reason(&fields, &values);
        if reason.is_none() {
            reason = duplicate_reason(conn, &fields, &values)?;
        }
        let status = match &reason {
            Some(_) => LeadStatus::Rejected,
            None if take_cap_units(conn, campaign_id, supplier_id, now)? => LeadStatus::Received,
            None => {
                reason = Some(CAP_REACHED.to_owned());
                LeadStatus::Quarantine
            }
        };
        let uid = format!("{:032x}", rand::random::<u128>());
        let lead_id: i64 = diesel::insert_into(leads::table)
            .values((
                leads::instance_id.eq(holder.instance_id),
                leads::campaign_id.eq(campaign_id),
                leads::supplier_id.eq(supplier_id),
                leads::uid.eq(&uid),
                leads::received_at.eq(now),
                leads::status.eq(status.as_str()),
                leads::status_reason.eq(reason.as_deref()),
                // A lead that took no cap unit has none to give back.
                leads::cap_released.eq(status != LeadStatus::Received),
                leads::updated_at.eq(now),
            ))
            .returning(leads::id)
            .get_result(conn)?;
        store_values(conn, lead_id, &fields, &values, status == LeadStatus::Rejected)?;
        let history_id: i64 = diesel::insert_into(lead_status_history::table)
            .values((
                lead_status_history::lead_id.eq(lead_id),
                lead_status_history::to_status.eq(status.as_str()),
                lead_status_history::reason.eq(reason.as_deref().unwrap_or("Lead intake")),
                lead_status_history::source.eq("intake"),
                lead_status_history::changed_at.eq(now),
            ))
            .returning(lead_status_history::id)
            .get_result(conn)?;
        super::outbox::enqueue(conn, campaign_id, super::outbox::Changes::History(history_id), now)?;
        Ok(Received { lead_id, uid, status, reason })
    })
}

/// The key of the PostgreSQL transaction lock on a campaign's new leads: intake holds it shared
/// (posted leads decide in parallel, under their per-value locks), a bulk import's batch holds it
/// exclusively (its dedupe check covers the whole batch at once).
pub fn campaign_lead_lock(campaign_id: i64) -> i64 {
    // A namespace in the high bits keeps it apart from other advisory locks.
    (0x5e4d_i64 << 48) | (campaign_id & 0xffff_ffff_ffff)
}

/// The campaign's fields; on PostgreSQL their rows are held `FOR SHARE` until the lead commits.
pub(crate) fn load_fields(conn: &mut DbConn, campaign_id: i64) -> Result<Vec<FieldDef>, DbError> {
    if let DbConn::Pg(_) = conn {
        diesel::sql_query("SELECT id FROM campaign_fields WHERE campaign_id = $1 FOR SHARE")
            .bind::<BigInt, _>(campaign_id)
            .execute(conn)?;
    }
    let rows: Vec<(i64, String, String, String, bool)> = campaign_fields::table
        .filter(campaign_fields::campaign_id.eq(campaign_id))
        .order((campaign_fields::position, campaign_fields::id))
        .select((
            campaign_fields::id,
            campaign_fields::field_key,
            campaign_fields::label,
            campaign_fields::kind,
            campaign_fields::dedupe,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, key, label, kind, dedupe)| {
            let kind = FieldKind::parse(&kind)
                .ok_or_else(|| DbError::Inconsistent(format!("field kind {kind:?}")))?;
            Ok(FieldDef { id, key, label, kind, dedupe })
        })
        .collect()
}

/// "Duplicate <label>" when a deduped value is already on a lead of the campaign.
fn duplicate_reason(
    conn: &mut DbConn,
    fields: &[FieldDef],
    values: &[Value],
) -> Result<Option<String>, IntakeError> {
    for value in values {
        let field = &fields[value.field];
        let (true, Some(normalized)) = (field.dedupe, value.normalized.as_deref()) else { continue };
        if let DbConn::Pg(_) = conn {
            // One lead per (field, value) decides at a time; released at commit.
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))")
                .bind::<Text, _>(field.id.to_string())
                .bind::<Text, _>(normalized)
                .execute(conn)?;
        }
        let taken: bool = diesel::select(diesel::dsl::exists(
            lead_values::table
                .filter(lead_values::field_id.eq(field.id).and(lead_values::normalized.eq(normalized))),
        ))
        .get_result(conn)?;
        if taken {
            return Ok(Some(format!("Duplicate {}", field.label)));
        }
    }
    Ok(None)
}

/// Takes one unit of each cap of the campaign that applies to the supplier, in the period of
/// `now`; `false` (and nothing taken) when any is full.
pub(crate) fn take_cap_units(
    conn: &mut DbConn,
    campaign_id: i64,
    supplier_id: i64,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let applicable: Vec<(i64, String, i64)> = caps::table
        .filter(
            caps::campaign_id
                .eq(campaign_id)
                .and(caps::supplier_id.is_null().or(caps::supplier_id.eq(supplier_id))),
        )
        .order(caps::id)
        .select((caps::id, caps::period, caps::cap_limit))
        .load(conn)?;
    if applicable.is_empty() {
        return Ok(true);
    }
    // A full cap rolls back (to a savepoint) the units taken so far.
    let taken = conn.transaction::<_, diesel::result::Error, _>(|conn| {
        for (cap_id, period, limit) in &applicable {
            let period = CapPeriod::parse(period).unwrap_or(CapPeriod::Total);
            let start = period.period_start(now.date());
            diesel::sql_query("INSERT INTO cap_usage (cap_id, period_start, used) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING")
                .bind::<BigInt, _>(*cap_id)
                .bind::<Date, _>(start)
                .execute(conn)?;
            let took = diesel::update(
                cap_usage::table.filter(
                    cap_usage::cap_id.eq(*cap_id).and(cap_usage::period_start.eq(start)).and(cap_usage::used.lt(*limit)),
                ),
            )
            .set(cap_usage::used.eq(cap_usage::used + 1))
            .execute(conn)?;
            if took == 0 {
                return Err(diesel::result::Error::RollbackTransaction);
            }
        }
        Ok(())
    });
    match taken {
        Ok(()) => Ok(true),
        Err(diesel::result::Error::RollbackTransaction) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Stores the lead's values. A value matches others by its normalised form, except: one that
/// does not parse, and a deduped field's value on a lead refused at intake, are stored with an
/// empty matching key — they never identify a lead, so a deduped field keeps one lead per value.
fn store_values(
    conn: &mut DbConn,
    lead_id: i64,
    fields: &[FieldDef],
    values: &[Value],
    refused: bool,
) -> Result<(), IntakeError> {
    for value in values {
        let matches = !(refused && fields[value.field].dedupe);
        let normalized = value.normalized.clone().filter(|_| matches).unwrap_or_default();
        diesel::insert_into(lead_values::table)
            .values((
                lead_values::lead_id.eq(lead_id),
                lead_values::field_id.eq(fields[value.field].id),
                lead_values::value.eq(&value.raw),
                lead_values::normalized.eq(normalized),
            ))
            .execute(conn)?;
    }
    Ok(())
}
