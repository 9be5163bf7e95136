//! Instances (tenants) and their first owner, for the command line: `sendback instance add`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{SetupError, checked, unique_or};
use crate::db::audit::{self, Actor, Entry};
use crate::db::schema::{instances, users};
use crate::db::{DbConn, DbError, write_transaction};
use crate::domain::setup::name;

/// Finds an instance by name.
pub fn find_by_name(conn: &mut DbConn, instance: &str) -> Result<Option<i64>, DbError> {
    Ok(instances::table
        .filter(instances::name.eq(instance.trim()))
        .select(instances::id)
        .first(conn)
        .optional()?)
}

/// A new instance and its first owner-staff user.
pub struct NewInstance<'a> {
    pub name: &'a str,
    pub owner_email: &'a str,
    pub owner_name: &'a str,
    /// The hash of a one-time password: the owner must choose a new one at first log-in.
    pub password_hash: &'a str,
}

/// Creates the instance and its owner; (instance id, owner's user id).
pub fn create(
    conn: &mut DbConn,
    new: &NewInstance<'_>,
    now: NaiveDateTime,
) -> Result<(i64, i64), SetupError> {
    let instance_name = checked("name", name(new.name, "instance"))?;
    let owner_name = checked("owner_name", name(new.owner_name, "owner"))?;
    let email = new.owner_email.trim().to_lowercase();
    write_transaction(conn, |conn| {
        let instance_id: i64 = diesel::insert_into(instances::table)
            .values((instances::name.eq(&instance_name), instances::created_at.eq(now)))
            .returning(instances::id)
            .get_result(conn)
            .map_err(|e| {
                unique_or(e, "name", || format!("There is already an instance named {instance_name:?}."))
            })?;
        let user_id: i64 = diesel::insert_into(users::table)
            .values((
                users::instance_id.eq(instance_id),
                users::client_id.eq(None::<i64>),
                users::email.eq(&email),
                users::name.eq(&owner_name),
                users::password_hash.eq(new.password_hash),
                users::role.eq("owner_staff"),
                users::created_at.eq(now),
                users::must_change_password.eq(true),
            ))
            .returning(users::id)
            .get_result(conn)
            .map_err(|e| {
                unique_or(e, "owner_email", || format!("A user with the email {email} already exists."))
            })?;
        let detail = format!("owner {email}");
        let entry =
            Entry { action: "instance.create", subject: &instance_name, detail: &detail, campaign_id: None };
        audit::record(conn, Actor::command_line(instance_id), &entry, now)?;
        Ok((instance_id, user_id))
    })
}
