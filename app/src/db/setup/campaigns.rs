//! Campaigns of an instance: the list, the campaign page (fields, caps with their usage,
//! suppliers, change log), create with fields, and edit name and maximum rejection days.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::{SetupError, checked, fields, unique_or};
use crate::db::audit::{self, Actor, Entry};
use crate::db::schema::{
    campaign_fields, campaigns, cap_usage, caps, clients, supplier_campaigns, suppliers,
};
use crate::db::{DbConn, DbError, write_transaction};
use crate::domain::caps::CapPeriod;
use crate::domain::identifiers::FieldKind;
use crate::domain::setup::{FieldSpec, MAX_FIELDS, MAX_REJECTION_DAYS, action_words, days_words, name};
use crate::domain::setup_view::{CampaignDetail, CampaignSummary, CapView, ChangeView, FieldView, Named};

/// Changes listed on a campaign's page.
pub const CHANGES_SHOWN: i64 = 50;

/// The instance's campaigns by name.
pub fn list(conn: &mut DbConn, instance_id: i64) -> Result<Vec<CampaignSummary>, DbError> {
    let rows: Vec<(i64, String, i64, String, Option<i32>)> = campaigns::table
        .inner_join(clients::table)
        .filter(campaigns::instance_id.eq(instance_id))
        .order(campaigns::name)
        .select((campaigns::id, campaigns::name, clients::id, clients::name, campaigns::max_rejection_days))
        .load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let field_of: Vec<i64> = campaign_fields::table
        .filter(campaign_fields::campaign_id.eq_any(&ids))
        .select(campaign_fields::campaign_id)
        .load(conn)?;
    let supplier_of: Vec<i64> = supplier_campaigns::table
        .filter(supplier_campaigns::campaign_id.eq_any(&ids))
        .select(supplier_campaigns::campaign_id)
        .load(conn)?;
    let count = |of: &[i64], id: i64| of.iter().filter(|c| **c == id).count() as i64;
    Ok(rows
        .into_iter()
        .map(|(id, name, client_id, client_name, max_rejection_days)| CampaignSummary {
            id,
            name,
            client: Named { id: client_id, name: client_name },
            max_rejection_days,
            fields: count(&field_of, id),
            suppliers: count(&supplier_of, id),
        })
        .collect())
}

/// Finds a campaign of the instance by name.
pub fn find_by_name(conn: &mut DbConn, instance_id: i64, campaign: &str) -> Result<Option<i64>, DbError> {
    Ok(campaigns::table
        .filter(campaigns::instance_id.eq(instance_id).and(campaigns::name.eq(campaign.trim())))
        .select(campaigns::id)
        .first(conn)
        .optional()?)
}

/// The campaign's name when it is one of the instance's (the check every change starts with).
pub(super) fn name_in_instance(
    conn: &mut DbConn,
    instance_id: i64,
    campaign_id: i64,
) -> Result<String, SetupError> {
    campaigns::table
        .filter(campaigns::id.eq(campaign_id).and(campaigns::instance_id.eq(instance_id)))
        .select(campaigns::name)
        .first(conn)
        .optional()?
        .ok_or(SetupError::NotFound)
}

fn name_taken(name: &str) -> String {
    format!("There is already a campaign named {name:?} in this instance. Use another name.")
}

fn days_in_range(days: Option<i32>) -> Result<Option<i32>, SetupError> {
    match days {
        Some(d) if !(1..=MAX_REJECTION_DAYS).contains(&d) => Err(SetupError::invalid(
            "max_rejection_days",
            format!("Enter a whole number of days from 1 to {MAX_REJECTION_DAYS}, or leave it empty."),
        )),
        other => Ok(other),
    }
}

/// A new campaign of one of the instance's clients.
pub struct NewCampaign<'a> {
    pub client_id: i64,
    pub name: &'a str,
    pub max_rejection_days: Option<i32>,
    pub fields: &'a [FieldSpec],
}

/// Creates a campaign with its fields (in the order given); its id.
pub fn create(
    conn: &mut DbConn,
    actor: Actor,
    new: &NewCampaign<'_>,
    now: NaiveDateTime,
) -> Result<i64, SetupError> {
    let name = checked("name", name(new.name, "campaign"))?;
    let days = days_in_range(new.max_rejection_days)?;
    if new.fields.len() > MAX_FIELDS {
        return Err(SetupError::invalid(
            "fields",
            format!("A campaign can have at most {MAX_FIELDS} fields."),
        ));
    }
    write_transaction(conn, |conn| {
        let client: String = clients::table
            .filter(clients::id.eq(new.client_id).and(clients::instance_id.eq(actor.instance_id)))
            .select(clients::name)
            .first(conn)
            .optional()?
            .ok_or(SetupError::NotFound)?;
        let id: i64 = diesel::insert_into(campaigns::table)
            .values((
                campaigns::instance_id.eq(actor.instance_id),
                campaigns::client_id.eq(new.client_id),
                campaigns::name.eq(&name),
                campaigns::max_rejection_days.eq(days),
                campaigns::created_at.eq(now),
            ))
            .returning(campaigns::id)
            .get_result(conn)
            .map_err(|e| unique_or(e, "name", || name_taken(&name)))?;
        let detail = format!("for {client:?}; maximum rejection days: {}", days_words(days));
        let entry =
            Entry { action: "campaign.create", subject: &name, detail: &detail, campaign_id: Some(id) };
        audit::record(conn, actor, &entry, now)?;
        for (position, spec) in new.fields.iter().enumerate() {
            fields::insert(conn, actor, id, spec, position as i32, now)?;
        }
        Ok(id)
    })
}

/// Changes a campaign's name and maximum rejection days (`None`: it stops accepting rejection
/// tasks). Logs what changed; nothing when nothing did.
pub fn update(
    conn: &mut DbConn,
    actor: Actor,
    campaign_id: i64,
    new_name: &str,
    max_rejection_days: Option<i32>,
    now: NaiveDateTime,
) -> Result<(), SetupError> {
    let name = checked("name", name(new_name, "campaign"))?;
    let days = days_in_range(max_rejection_days)?;
    write_transaction(conn, |conn| {
        // Lock the row first: a concurrent save waits, then reads this one's result.
        let locked = diesel::update(
            campaigns::table
                .filter(campaigns::id.eq(campaign_id).and(campaigns::instance_id.eq(actor.instance_id))),
        )
        .set(campaigns::name.eq(campaigns::name))
        .execute(conn)?;
        if locked == 0 {
            return Err(SetupError::NotFound);
        }
        let (old_name, old_days): (String, Option<i32>) = campaigns::table
            .filter(campaigns::id.eq(campaign_id).and(campaigns::instance_id.eq(actor.instance_id)))
            .select((campaigns::name, campaigns::max_rejection_days))
            .first(conn)
            .optional()?
            .ok_or(SetupError::NotFound)?;
        if old_name != name {
            diesel::update(campaigns::table.find(campaign_id))
                .set(campaigns::name.eq(&name))
                .execute(conn)
                .map_err(|e| unique_or(e, "name", || name_taken(&name)))?;
            let detail = format!("renamed from {old_name:?}");
            let entry = Entry {
                action: "campaign.rename",
                subject: &name,
                detail: &detail,
                campaign_id: Some(campaign_id),
            };
            audit::record(conn, actor, &entry, now)?;
        }
        if old_days != days {
            diesel::update(campaigns::table.find(campaign_id))
                .set(campaigns::max_rejection_days.eq(days))
                .execute(conn)?;
            let detail = format!("maximum rejection days: {} → {}", days_words(old_days), days_words(days));
            let entry = Entry {
                action: "campaign.max_rejection_days",
                subject: &name,
                detail: &detail,
                campaign_id: Some(campaign_id),
            };
            audit::record(conn, actor, &entry, now)?;
        }
        Ok(())
    })
}

/// The campaign page, `None` when the campaign is not one of the instance's. Cap usage is of
/// the period holding `today`.
pub fn detail(
    conn: &mut DbConn,
    instance_id: i64,
    campaign_id: i64,
    today: NaiveDate,
) -> Result<Option<CampaignDetail>, DbError> {
    let row: Option<(String, i64, String, Option<i32>)> = campaigns::table
        .inner_join(clients::table)
        .filter(campaigns::id.eq(campaign_id).and(campaigns::instance_id.eq(instance_id)))
        .select((campaigns::name, clients::id, clients::name, campaigns::max_rejection_days))
        .first(conn)
        .optional()?;
    let Some((name, client_id, client_name, max_rejection_days)) = row else { return Ok(None) };
    let field_rows: Vec<(i64, String, String, String, bool, i32)> = campaign_fields::table
        .filter(campaign_fields::campaign_id.eq(campaign_id))
        .order((campaign_fields::position, campaign_fields::id))
        .select((
            campaign_fields::id,
            campaign_fields::field_key,
            campaign_fields::label,
            campaign_fields::kind,
            campaign_fields::dedupe,
            campaign_fields::position,
        ))
        .load(conn)?;
    let mut field_views = Vec::with_capacity(field_rows.len());
    for (id, key, label, kind, dedupe, position) in field_rows {
        let has_values = fields::has_values(conn, id)?;
        let kind =
            FieldKind::parse(&kind).ok_or_else(|| DbError::Inconsistent(format!("field kind {kind:?}")))?;
        field_views.push(FieldView { id, key, label, kind, dedupe, position, has_values });
    }
    let all_suppliers: Vec<Named> = suppliers::table
        .filter(suppliers::instance_id.eq(instance_id))
        .order(suppliers::name)
        .select((suppliers::id, suppliers::name))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .map(|(id, name)| Named { id, name })
        .collect();
    let linked: Vec<i64> = supplier_campaigns::table
        .filter(supplier_campaigns::campaign_id.eq(campaign_id))
        .select(supplier_campaigns::supplier_id)
        .load(conn)?;
    let suppliers = all_suppliers.iter().filter(|s| linked.contains(&s.id)).cloned().collect();
    let caps = cap_views(conn, campaign_id, &all_suppliers, today)?;
    let changes = audit::campaign_changes(conn, instance_id, campaign_id, CHANGES_SHOWN)?
        .into_iter()
        .map(|c| ChangeView {
            at: c.at.format("%Y-%m-%d %H:%M").to_string(),
            who: c.who.map_or_else(|| "Command line".to_owned(), |(name, _)| name),
            action: action_words(&c.action).to_owned(),
            detail: if c.detail.is_empty() { c.subject } else { format!("{}: {}", c.subject, c.detail) },
        })
        .collect();
    Ok(Some(CampaignDetail {
        id: campaign_id,
        name,
        client: Named { id: client_id, name: client_name },
        max_rejection_days,
        fields: field_views,
        caps,
        suppliers,
        all_suppliers,
        changes,
    }))
}

fn cap_views(
    conn: &mut DbConn,
    campaign_id: i64,
    all_suppliers: &[Named],
    today: NaiveDate,
) -> Result<Vec<CapView>, DbError> {
    let rows: Vec<(i64, Option<i64>, String, i64)> = caps::table
        .filter(caps::campaign_id.eq(campaign_id))
        .order(caps::id)
        .select((caps::id, caps::supplier_id, caps::period, caps::cap_limit))
        .load(conn)?;
    let mut views = Vec::with_capacity(rows.len());
    for (id, supplier_id, period, limit) in rows {
        let period = CapPeriod::parse(&period)
            .ok_or_else(|| DbError::Inconsistent(format!("cap period {period:?}")))?;
        let start = period.period_start(today);
        let used: i64 = cap_usage::table
            .filter(cap_usage::cap_id.eq(id).and(cap_usage::period_start.eq(start)))
            .select(cap_usage::used)
            .first(conn)
            .optional()?
            .unwrap_or(0);
        views.push(CapView {
            id,
            supplier: supplier_id.and_then(|s| all_suppliers.iter().find(|n| n.id == s).cloned()),
            period,
            limit,
            used,
            period_start: if period == CapPeriod::Total { String::new() } else { start.to_string() },
        });
    }
    Ok(views)
}
