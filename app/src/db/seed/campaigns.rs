//! The demo's campaigns with their fields and caps.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::accounts::Accounts;
use super::catalogue::CAMPAIGNS;
use crate::db::schema::*;
use crate::db::{DbConn, DbError};
use crate::domain::caps::CapPeriod;
use crate::domain::identifiers::FieldKind;

#[derive(Insertable)]
#[diesel(table_name = campaigns)]
struct NewCampaign<'a> {
    instance_id: i64,
    client_id: i64,
    name: &'a str,
    max_rejection_days: Option<i32>,
    created_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = campaign_fields)]
struct NewField<'a> {
    campaign_id: i64,
    field_key: &'a str,
    label: &'a str,
    kind: &'a str,
    dedupe: bool,
    position: i32,
}

#[derive(Insertable)]
#[diesel(table_name = caps)]
struct NewCap {
    campaign_id: i64,
    supplier_id: Option<i64>,
    period: &'static str,
    cap_limit: i64,
}

/// The ids the campaigns, fields and caps were given.
pub(super) struct Campaigns {
    /// By position in `CAMPAIGNS`.
    pub(super) campaign_ids: Vec<i64>,
    /// Per campaign: field key → field id and kind.
    pub(super) field_ids: Vec<BTreeMap<&'static str, (i64, FieldKind)>>,
    /// Cap id, campaign position, supplier (`None`: every supplier), period.
    pub(super) cap_rows: Vec<(i64, usize, Option<&'static str>, CapPeriod)>,
}

/// Inserts every campaign, each followed by its fields and caps.
pub(super) fn insert_campaigns(
    conn: &mut DbConn,
    accounts: &Accounts,
    created_at: NaiveDateTime,
) -> Result<Campaigns, DbError> {
    let Accounts { instance_ids, client_ids, supplier_ids, .. } = accounts;
    let mut campaign_ids = Vec::new();
    let mut field_ids: Vec<BTreeMap<&str, (i64, FieldKind)>> = Vec::new();
    let mut cap_rows: Vec<(i64, usize, Option<&str>, CapPeriod)> = Vec::new();
    for (ci, spec) in CAMPAIGNS.iter().enumerate() {
        let campaign_id: i64 = diesel::insert_into(campaigns::table)
            .values(&NewCampaign {
                instance_id: instance_ids[spec.instance],
                client_id: client_ids[spec.client],
                name: spec.name,
                max_rejection_days: spec.max_rejection_days,
                created_at,
            })
            .returning(campaigns::id)
            .get_result(conn)?;
        campaign_ids.push(campaign_id);
        let mut fields = BTreeMap::new();
        for (pos, (key, label, kind, dedupe)) in spec.fields.iter().enumerate() {
            let id: i64 = diesel::insert_into(campaign_fields::table)
                .values(&NewField {
                    campaign_id,
                    field_key: key,
                    label,
                    kind: kind.as_str(),
                    dedupe: *dedupe,
                    position: pos as i32,
                })
                .returning(campaign_fields::id)
                .get_result(conn)?;
            fields.insert(*key, (id, *kind));
        }
        field_ids.push(fields);
        for (supplier, period, limit) in spec.caps {
            let cap_id: i64 = diesel::insert_into(caps::table)
                .values(&NewCap {
                    campaign_id,
                    supplier_id: supplier.map(|s| supplier_ids[s]),
                    period: period.as_str(),
                    cap_limit: *limit,
                })
                .returning(caps::id)
                .get_result(conn)?;
            cap_rows.push((cap_id, ci, *supplier, *period));
        }
    }
    Ok(Campaigns { campaign_ids, field_ids, cap_rows })
}
