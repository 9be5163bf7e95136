//! A campaign's fields: add, change, remove, and the duplicates that keep dedupe off.
//!
//! Dedupe on a field means one lead of the campaign per normalised value (docs/DOMAIN.md §9),
//! and the rejection engine relies on it. A change first locks the field's row (a write: the
//! row's lock on PostgreSQL, the database's write lock on SQLite), then reads it, writes the
//! change, and only then counts the values it must check, so a lead stored meanwhile is either
//! counted or waits for the change (lead intake must read the campaign's fields `FOR SHARE`).
//! A refused change rolls back.

use chrono::NaiveDateTime;
use diesel::dsl::{count, count_star, max};
use diesel::prelude::*;

use super::campaigns::name_in_instance;
use super::{SetupError, checked, unique_or};
use crate::db::audit::{self, Actor, Entry};
use crate::db::schema::{campaign_fields, campaigns, lead_values, rejection_tasks};
use crate::db::{DbConn, DbError, write_transaction};
use crate::domain::setup::{FieldSpec, MAX_FIELDS, MAX_POSITION, field_key, name, position};
use crate::domain::setup_view::{DuplicateValue, FieldDuplicates, Named};

/// Values listed on a field's duplicates page, and leads listed per value.
pub const DUPLICATES_SHOWN: i64 = 100;
pub const LEADS_PER_DUPLICATE: i64 = 10;

fn key_taken(key: &str) -> String {
    format!("This campaign already has a field with the key {key:?}. Use another key.")
}

/// Some lead holds a value in the field.
pub fn has_values(conn: &mut DbConn, field_id: i64) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(lead_values::table.filter(lead_values::field_id.eq(field_id))))
        .get_result(conn)?)
}

/// Leads that repeat a value another lead of the field already has (0: dedupe can be on).
/// Values stored without a matching key (empty: refused at intake, or not parseable) identify
/// no lead and are not counted.
pub fn surplus(conn: &mut DbConn, field_id: i64) -> Result<i64, DbError> {
    let (all, distinct): (i64, i64) = lead_values::table
        .filter(lead_values::field_id.eq(field_id).and(lead_values::normalized.ne("")))
        .select((count_star(), count(lead_values::normalized).aggregate_distinct()))
        .first(conn)?;
    Ok(all - distinct)
}

fn refuse_duplicates(conn: &mut DbConn, field_id: i64, label: &str) -> Result<(), SetupError> {
    let surplus = surplus(conn, field_id)?;
    if surplus > 0 {
        let leads = if surplus == 1 { "1 lead".to_owned() } else { format!("{surplus} leads") };
        return Err(SetupError::invalid(
            "dedupe",
            format!(
                "Dedupe cannot be turned on for {label}: {leads} of this campaign repeat a {label} value another \
                 lead already has. Dedupe means one lead per value; resolve the duplicates first."
            ),
        ));
    }
    Ok(())
}

/// Inserts a field into a campaign the caller has checked, inside the caller's transaction.
pub(super) fn insert(
    conn: &mut DbConn,
    actor: Actor,
    campaign_id: i64,
    spec: &FieldSpec,
    position: i32,
    now: NaiveDateTime,
) -> Result<i64, SetupError> {
    let key = checked("key", field_key(&spec.key))?;
    let label = checked("label", name(&spec.label, "field"))?;
    let id: i64 = diesel::insert_into(campaign_fields::table)
        .values((
            campaign_fields::campaign_id.eq(campaign_id),
            campaign_fields::field_key.eq(&key),
            campaign_fields::label.eq(&label),
            campaign_fields::kind.eq(spec.kind.as_str()),
            campaign_fields::dedupe.eq(spec.dedupe),
            campaign_fields::position.eq(position),
        ))
        .returning(campaign_fields::id)
        .get_result(conn)
        .map_err(|e| unique_or(e, "key", || key_taken(&key)))?;
    let detail = format!("{key} ({}), dedupe {}", spec.kind.as_str(), on_off(spec.dedupe));
    let entry =
        Entry { action: "field.add", subject: &label, detail: &detail, campaign_id: Some(campaign_id) };
    audit::record(conn, actor, &entry, now)?;
    Ok(id)
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// Adds a field at the end of a campaign's fields; its id.
pub fn add(
    conn: &mut DbConn,
    actor: Actor,
    campaign_id: i64,
    spec: &FieldSpec,
    now: NaiveDateTime,
) -> Result<i64, SetupError> {
    write_transaction(conn, |conn| {
        name_in_instance(conn, actor.instance_id, campaign_id)?;
        let (count, last): (i64, Option<i32>) = campaign_fields::table
            .filter(campaign_fields::campaign_id.eq(campaign_id))
            .select((count_star(), max(campaign_fields::position)))
            .first(conn)?;
        if count >= MAX_FIELDS as i64 {
            return Err(SetupError::invalid(
                "key",
                format!("A campaign can have at most {MAX_FIELDS} fields."),
            ));
        }
        insert(conn, actor, campaign_id, spec, last.map_or(0, |p| p.saturating_add(1).min(MAX_POSITION)), now)
    })
}

/// A field's settings as the campaign page submits them.
#[derive(Debug, Clone)]
pub struct FieldChange {
    pub spec: FieldSpec,
    pub position: i32,
}

type FieldRow = (i64, String, String, String, bool, i32);

/// Locks the field's row (a write that changes nothing) and reads it, when its campaign is one
/// of the instance's. Read after the lock, the values are the latest committed: a concurrent
/// change of the same field waits, then sees this one's result.
fn load(conn: &mut DbConn, instance_id: i64, field_id: i64) -> Result<FieldRow, SetupError> {
    let of_instance = campaigns::table.filter(campaigns::instance_id.eq(instance_id)).select(campaigns::id);
    let locked = diesel::update(
        campaign_fields::table
            .filter(campaign_fields::id.eq(field_id).and(campaign_fields::campaign_id.eq_any(of_instance))),
    )
    .set(campaign_fields::position.eq(campaign_fields::position))
    .execute(conn)?;
    if locked == 0 {
        return Err(SetupError::NotFound);
    }
    campaign_fields::table
        .inner_join(campaigns::table)
        .filter(campaign_fields::id.eq(field_id).and(campaigns::instance_id.eq(instance_id)))
        .select((
            campaign_fields::campaign_id,
            campaign_fields::field_key,
            campaign_fields::label,
            campaign_fields::kind,
            campaign_fields::dedupe,
            campaign_fields::position,
        ))
        .first(conn)
        .optional()?
        .ok_or(SetupError::NotFound)
}

/// Changes a field. Refused: a new key or kind while leads hold values in the field (they were
/// stored and normalised under the old ones); dedupe turned on while values repeat.
pub fn update(
    conn: &mut DbConn,
    actor: Actor,
    field_id: i64,
    change: &FieldChange,
    now: NaiveDateTime,
) -> Result<(), SetupError> {
    let key = checked("key", field_key(&change.spec.key))?;
    let label = checked("label", name(&change.spec.label, "field"))?;
    checked("position", position(&change.position.to_string()))?;
    let kind = change.spec.kind;
    write_transaction(conn, |conn| {
        let (campaign_id, old_key, old_label, old_kind, old_dedupe, old_position) =
            load(conn, actor.instance_id, field_id)?;
        // Written before the checks below, which then see every value stored before it.
        diesel::update(campaign_fields::table.find(field_id))
            .set((
                campaign_fields::field_key.eq(&key),
                campaign_fields::label.eq(&label),
                campaign_fields::kind.eq(kind.as_str()),
                campaign_fields::dedupe.eq(change.spec.dedupe),
                campaign_fields::position.eq(change.position),
            ))
            .execute(conn)
            .map_err(|e| unique_or(e, "key", || key_taken(&key)))?;
        let kind_changed = old_kind != kind.as_str();
        if (kind_changed || old_key != key) && has_values(conn, field_id)? {
            let (what, field) = if kind_changed { ("kind", "kind") } else { ("key", "key") };
            return Err(SetupError::invalid(
                field,
                format!("Leads already hold values in {old_label}, so its {what} cannot change."),
            ));
        }
        if change.spec.dedupe && !old_dedupe {
            refuse_duplicates(conn, field_id, &label)?;
        }
        let mut what = Vec::new();
        if old_key != key {
            what.push(format!("key {old_key} → {key}"));
        }
        if old_label != label {
            what.push(format!("label {old_label:?} → {label:?}"));
        }
        if kind_changed {
            what.push(format!("kind {old_kind} → {}", kind.as_str()));
        }
        if old_dedupe != change.spec.dedupe {
            what.push(format!("dedupe {}", on_off(change.spec.dedupe)));
        }
        if old_position != change.position {
            what.push(format!("position {old_position} → {}", change.position));
        }
        if !what.is_empty() {
            let detail = what.join(", ");
            let entry = Entry {
                action: "field.update",
                subject: &label,
                detail: &detail,
                campaign_id: Some(campaign_id),
            };
            audit::record(conn, actor, &entry, now)?;
        }
        Ok(())
    })
}

/// Removes a field no lead holds a value in and no rejection task identifies leads by.
pub fn remove(conn: &mut DbConn, actor: Actor, field_id: i64, now: NaiveDateTime) -> Result<(), SetupError> {
    write_transaction(conn, |conn| {
        let (campaign_id, key, label, ..) = load(conn, actor.instance_id, field_id)?;
        if has_values(conn, field_id)? {
            return Err(SetupError::invalid(
                "field",
                format!("Leads hold values in {label}, so it cannot be removed."),
            ));
        }
        let used: i64 = rejection_tasks::table
            .filter(rejection_tasks::identifier_field_id.eq(field_id))
            .count()
            .get_result(conn)?;
        if used > 0 {
            return Err(SetupError::invalid(
                "field",
                format!("Rejection tasks identified leads by {label}, so it cannot be removed."),
            ));
        }
        diesel::delete(campaign_fields::table.find(field_id)).execute(conn)?;
        let entry =
            Entry { action: "field.remove", subject: &label, detail: &key, campaign_id: Some(campaign_id) };
        audit::record(conn, actor, &entry, now)?;
        Ok(())
    })
}

/// The values of a field that more than one lead holds, most repeated first; `None` when the
/// field is not one of the instance's.
pub fn duplicates(
    conn: &mut DbConn,
    instance_id: i64,
    field_id: i64,
) -> Result<Option<FieldDuplicates>, DbError> {
    let found: Option<(i64, String, String)> = campaign_fields::table
        .inner_join(campaigns::table)
        .filter(campaign_fields::id.eq(field_id).and(campaigns::instance_id.eq(instance_id)))
        .select((campaigns::id, campaigns::name, campaign_fields::label))
        .first(conn)
        .optional()?;
    let Some((campaign_id, campaign_name, label)) = found else { return Ok(None) };
    let surplus = surplus(conn, field_id)?;
    let repeated: Vec<(String, i64)> = lead_values::table
        .filter(lead_values::field_id.eq(field_id).and(lead_values::normalized.ne("")))
        .group_by(lead_values::normalized)
        .having(count_star().gt(1))
        .select((lead_values::normalized, count_star()))
        .order((count_star().desc(), lead_values::normalized))
        .limit(DUPLICATES_SHOWN)
        .load(conn)?;
    let mut values = Vec::with_capacity(repeated.len());
    for (value, leads) in repeated {
        let lead_ids: Vec<i64> = lead_values::table
            .filter(lead_values::field_id.eq(field_id).and(lead_values::normalized.eq(&value)))
            .order(lead_values::lead_id)
            .limit(LEADS_PER_DUPLICATE)
            .select(lead_values::lead_id)
            .load(conn)?;
        values.push(DuplicateValue { value, leads, lead_ids });
    }
    Ok(Some(FieldDuplicates {
        campaign: Named { id: campaign_id, name: campaign_name },
        field: Named { id: field_id, name: label },
        surplus,
        values,
    }))
}
