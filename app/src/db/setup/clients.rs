//! Clients (lead buyers) of an instance: the list with their campaigns and users, create, rename.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{SetupError, checked, unique_or};
use crate::db::audit::{self, Actor, Entry};
use crate::db::schema::{campaigns, clients, users};
use crate::db::{DbConn, DbError, write_transaction};
use crate::domain::setup::name;
use crate::domain::setup_view::{ClientSummary, Named};

/// The instance's clients by name, each with its campaigns and users.
pub fn list(conn: &mut DbConn, instance_id: i64) -> Result<Vec<ClientSummary>, DbError> {
    let rows: Vec<(i64, String)> = clients::table
        .filter(clients::instance_id.eq(instance_id))
        .order(clients::name)
        .select((clients::id, clients::name))
        .load(conn)?;
    let camps: Vec<(i64, i64, String)> = campaigns::table
        .filter(campaigns::instance_id.eq(instance_id))
        .order(campaigns::name)
        .select((campaigns::client_id, campaigns::id, campaigns::name))
        .load(conn)?;
    let people: Vec<(Option<i64>, String)> = users::table
        .filter(users::instance_id.eq(instance_id).and(users::client_id.is_not_null()))
        .order(users::email)
        .select((users::client_id, users::email))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, name)| ClientSummary {
            id,
            name,
            campaigns: camps
                .iter()
                .filter(|(client, ..)| *client == id)
                .map(|(_, cid, cname)| Named { id: *cid, name: cname.clone() })
                .collect(),
            users: people.iter().filter(|(client, _)| *client == Some(id)).map(|(_, e)| e.clone()).collect(),
        })
        .collect())
}

/// Finds a client of the instance by name (the command line names clients).
pub fn find_by_name(conn: &mut DbConn, instance_id: i64, client: &str) -> Result<Option<i64>, DbError> {
    Ok(clients::table
        .filter(clients::instance_id.eq(instance_id).and(clients::name.eq(client.trim())))
        .select(clients::id)
        .first(conn)
        .optional()?)
}

fn name_taken(name: &str) -> String {
    format!("There is already a client named {name:?}. Use another name.")
}

/// Creates a client; its id.
pub fn create(conn: &mut DbConn, actor: Actor, text: &str, now: NaiveDateTime) -> Result<i64, SetupError> {
    let name = checked("name", name(text, "client"))?;
    write_transaction(conn, |conn| {
        let id: i64 = diesel::insert_into(clients::table)
            .values((clients::instance_id.eq(actor.instance_id), clients::name.eq(&name)))
            .returning(clients::id)
            .get_result(conn)
            .map_err(|e| unique_or(e, "name", || name_taken(&name)))?;
        let entry = Entry { action: "client.create", subject: &name, detail: "", campaign_id: None };
        audit::record(conn, actor, &entry, now)?;
        Ok(id)
    })
}

/// Renames a client of the instance.
pub fn rename(
    conn: &mut DbConn,
    actor: Actor,
    client_id: i64,
    text: &str,
    now: NaiveDateTime,
) -> Result<(), SetupError> {
    let name = checked("name", name(text, "client"))?;
    write_transaction(conn, |conn| {
        // Lock the row first: a concurrent rename waits, then reads this one's result.
        let locked = diesel::update(
            clients::table.filter(clients::id.eq(client_id).and(clients::instance_id.eq(actor.instance_id))),
        )
        .set(clients::name.eq(clients::name))
        .execute(conn)?;
        if locked == 0 {
            return Err(SetupError::NotFound);
        }
        let old: String = clients::table
            .filter(clients::id.eq(client_id).and(clients::instance_id.eq(actor.instance_id)))
            .select(clients::name)
            .first(conn)
            .optional()?
            .ok_or(SetupError::NotFound)?;
        if old == name {
            return Ok(());
        }
        diesel::update(clients::table.find(client_id))
            .set(clients::name.eq(&name))
            .execute(conn)
            .map_err(|e| unique_or(e, "name", || name_taken(&name)))?;
        let detail = format!("renamed from {old:?}");
        let entry = Entry { action: "client.rename", subject: &name, detail: &detail, campaign_id: None };
        audit::record(conn, actor, &entry, now)?;
        Ok(())
    })
}
