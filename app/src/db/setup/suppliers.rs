//! Suppliers of an instance (sources that send leads into campaigns): the list with the
//! campaigns each may send to, create, rename, and choose those campaigns.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{SetupError, checked, unique_or};
use crate::db::audit::{self, Actor, Entry};
use crate::db::schema::{campaigns, supplier_campaigns, suppliers};
use crate::db::{DbConn, DbError, write_transaction};
use crate::domain::setup::name;
use crate::domain::setup_view::{Named, SupplierSummary};

/// The instance's suppliers by name, each with the campaigns it may send to.
pub fn list(conn: &mut DbConn, instance_id: i64) -> Result<Vec<SupplierSummary>, DbError> {
    let rows: Vec<(i64, String)> = suppliers::table
        .filter(suppliers::instance_id.eq(instance_id))
        .order(suppliers::name)
        .select((suppliers::id, suppliers::name))
        .load(conn)?;
    let links: Vec<(i64, i64, String)> = supplier_campaigns::table
        .inner_join(campaigns::table)
        .filter(campaigns::instance_id.eq(instance_id))
        .order(campaigns::name)
        .select((supplier_campaigns::supplier_id, campaigns::id, campaigns::name))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, name)| SupplierSummary {
            id,
            name,
            campaigns: links
                .iter()
                .filter(|(s, ..)| *s == id)
                .map(|(_, cid, cname)| Named { id: *cid, name: cname.clone() })
                .collect(),
        })
        .collect())
}

/// Finds a supplier of the instance by name.
pub fn find_by_name(conn: &mut DbConn, instance_id: i64, supplier: &str) -> Result<Option<i64>, DbError> {
    Ok(suppliers::table
        .filter(suppliers::instance_id.eq(instance_id).and(suppliers::name.eq(supplier.trim())))
        .select(suppliers::id)
        .first(conn)
        .optional()?)
}

fn name_taken(name: &str) -> String {
    format!("There is already a supplier named {name:?}. Use another name.")
}

/// Creates a supplier; its id.
pub fn create(conn: &mut DbConn, actor: Actor, text: &str, now: NaiveDateTime) -> Result<i64, SetupError> {
    let name = checked("name", name(text, "supplier"))?;
    write_transaction(conn, |conn| {
        let id: i64 = diesel::insert_into(suppliers::table)
            .values((suppliers::instance_id.eq(actor.instance_id), suppliers::name.eq(&name)))
            .returning(suppliers::id)
            .get_result(conn)
            .map_err(|e| unique_or(e, "name", || name_taken(&name)))?;
        let entry = Entry { action: "supplier.create", subject: &name, detail: "", campaign_id: None };
        audit::record(conn, actor, &entry, now)?;
        Ok(id)
    })
}

/// Locks the supplier's row and reads its name, when it is one of the instance's: concurrent
/// changes of one supplier run one after the other, each reading the last one's result.
fn lock_in_instance(conn: &mut DbConn, instance_id: i64, supplier_id: i64) -> Result<String, SetupError> {
    let locked = diesel::update(
        suppliers::table.filter(suppliers::id.eq(supplier_id).and(suppliers::instance_id.eq(instance_id))),
    )
    .set(suppliers::name.eq(suppliers::name))
    .execute(conn)?;
    if locked == 0 {
        return Err(SetupError::NotFound);
    }
    suppliers::table
        .filter(suppliers::id.eq(supplier_id).and(suppliers::instance_id.eq(instance_id)))
        .select(suppliers::name)
        .first(conn)
        .optional()?
        .ok_or(SetupError::NotFound)
}

/// Renames a supplier of the instance.
pub fn rename(
    conn: &mut DbConn,
    actor: Actor,
    supplier_id: i64,
    text: &str,
    now: NaiveDateTime,
) -> Result<(), SetupError> {
    let name = checked("name", name(text, "supplier"))?;
    write_transaction(conn, |conn| {
        let old = lock_in_instance(conn, actor.instance_id, supplier_id)?;
        if old == name {
            return Ok(());
        }
        diesel::update(suppliers::table.find(supplier_id))
            .set(suppliers::name.eq(&name))
            .execute(conn)
            .map_err(|e| unique_or(e, "name", || name_taken(&name)))?;
        let detail = format!("renamed from {old:?}");
        let entry = Entry { action: "supplier.rename", subject: &name, detail: &detail, campaign_id: None };
        audit::record(conn, actor, &entry, now)?;
        Ok(())
    })
}

/// Sets the campaigns a supplier may send to (every id must be one of the instance's
/// campaigns, or the whole change is `NotFound`). Each campaign added or removed is logged on that campaign.
pub fn set_campaigns(
    conn: &mut DbConn,
    actor: Actor,
    supplier_id: i64,
    campaign_ids: &[i64],
    now: NaiveDateTime,
) -> Result<(), SetupError> {
    write_transaction(conn, |conn| {
        let supplier = lock_in_instance(conn, actor.instance_id, supplier_id)?;
        let wanted: Vec<(i64, String)> = campaigns::table
            .filter(campaigns::instance_id.eq(actor.instance_id).and(campaigns::id.eq_any(campaign_ids)))
            .select((campaigns::id, campaigns::name))
            .load(conn)?;
        let mut distinct = campaign_ids.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        if wanted.len() != distinct.len() {
            return Err(SetupError::NotFound);
        }
        let current: Vec<(i64, String)> = supplier_campaigns::table
            .inner_join(campaigns::table)
            .filter(supplier_campaigns::supplier_id.eq(supplier_id))
            .select((campaigns::id, campaigns::name))
            .load(conn)?;
        for (id, campaign) in &wanted {
            if !current.iter().any(|(c, _)| c == id) {
                diesel::insert_into(supplier_campaigns::table)
                    .values((
                        supplier_campaigns::supplier_id.eq(supplier_id),
                        supplier_campaigns::campaign_id.eq(id),
                    ))
                    .execute(conn)?;
                let detail = format!("{supplier} may send leads to {campaign}");
                let entry = Entry {
                    action: "supplier.campaigns",
                    subject: &supplier,
                    detail: &detail,
                    campaign_id: Some(*id),
                };
                audit::record(conn, actor, &entry, now)?;
            }
        }
        for (id, campaign) in &current {
            if !wanted.iter().any(|(c, _)| c == id) {
                diesel::delete(
                    supplier_campaigns::table.filter(
                        supplier_campaigns::supplier_id
                            .eq(supplier_id)
                            .and(supplier_campaigns::campaign_id.eq(id)),
                    ),
                )
                .execute(conn)?;
                let detail = format!("{supplier} may no longer send leads to {campaign}");
                let entry = Entry {
                    action: "supplier.campaigns",
                    subject: &supplier,
                    detail: &detail,
                    campaign_id: Some(*id),
                };
                audit::record(conn, actor, &entry, now)?;
            }
        }
        Ok(())
    })
}
