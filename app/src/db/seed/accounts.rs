//! The demo's organisations and people: instances, clients, suppliers, users and the Reject Leads
//! as a Client permission.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::catalogue::{CLIENTS, INSTANCES, SUPPLIERS};
use crate::auth::password::PasswordHashString;
use crate::db::schema::*;
use crate::db::{DbConn, DbError};

#[derive(Insertable)]
#[diesel(table_name = instances)]
struct NewInstance<'a> {
    name: &'a str,
    created_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = clients)]
struct NewClient<'a> {
    instance_id: i64,
    name: &'a str,
}

#[derive(Insertable)]
#[diesel(table_name = suppliers)]
struct NewSupplier<'a> {
    instance_id: i64,
    name: &'a str,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUser<'a> {
    instance_id: i64,
    client_id: Option<i64>,
    email: &'a str,
    name: &'a str,
    password_hash: &'a str,
    role: &'a str,
    created_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = user_permissions)]
struct NewPermission {
    user_id: i64,
    permission: &'static str,
    granted_by: Option<i64>,
    granted_at: NaiveDateTime,
}

/// The ids the accounts were given, by position (instances) or by name (clients, suppliers, users'
/// emails).
pub(super) struct Accounts {
    pub(super) instance_ids: Vec<i64>,
    pub(super) client_ids: BTreeMap<&'static str, i64>,
    pub(super) supplier_ids: BTreeMap<&'static str, i64>,
    pub(super) user_ids: BTreeMap<&'static str, i64>,
}

/// Inserts the instances, clients, suppliers and users, in that order.
pub(super) fn insert_accounts(
    conn: &mut DbConn,
    hashes: &[PasswordHashString],
    created_at: NaiveDateTime,
) -> Result<Accounts, DbError> {
    let mut instance_ids = Vec::new();
    for name in INSTANCES {
        let id: i64 = diesel::insert_into(instances::table)
            .values(&NewInstance { name, created_at })
            .returning(instances::id)
            .get_result(conn)?;
        instance_ids.push(id);
    }
    let mut client_ids = BTreeMap::new();
    for (inst, name) in CLIENTS {
        let id: i64 = diesel::insert_into(clients::table)
            .values(&NewClient { instance_id: instance_ids[inst], name })
            .returning(clients::id)
            .get_result(conn)?;
        client_ids.insert(name, id);
    }
    let mut supplier_ids = BTreeMap::new();
    for (inst, name) in SUPPLIERS {
        let id: i64 = diesel::insert_into(suppliers::table)
            .values(&NewSupplier { instance_id: instance_ids[inst], name })
            .returning(suppliers::id)
            .get_result(conn)?;
        supplier_ids.insert(name, id);
    }
    let user_ids = insert_users(conn, hashes, &instance_ids, &client_ids, created_at)?;
    Ok(Accounts { instance_ids, client_ids, supplier_ids, user_ids })
}

/// The demo accounts, with the permission for those who may reject leads.
fn insert_users(
    conn: &mut DbConn,
    hashes: &[PasswordHashString],
    instance_ids: &[i64],
    client_ids: &BTreeMap<&'static str, i64>,
    created_at: NaiveDateTime,
) -> Result<BTreeMap<&'static str, i64>, DbError> {
    // Users: (email, name, instance, client, may reject leads).
    let people: [(&str, &str, usize, Option<&str>, bool); 5] = [
        ("owner@sendback.test", "Olivia Owner", 0, None, false),
        ("client@sendback.test", "Cara Client", 0, Some("Acme Insurance"), true),
        ("viewer@sendback.test", "Victor Viewer", 0, Some("Acme Insurance"), false),
        ("bolt@sendback.test", "Bella Bolt", 0, Some("Bolt Energy"), true),
        ("other@sendback.test", "Otto Other", 1, None, false),
    ];
    let mut user_ids = BTreeMap::new();
    for ((email, name, inst, client, may_reject), hash) in people.into_iter().zip(hashes) {
        let client_id = client.and_then(|c| client_ids.get(c).copied());
        let id: i64 = diesel::insert_into(users::table)
            .values(&NewUser {
                instance_id: instance_ids[inst],
                client_id,
                email,
                name,
                password_hash: hash.as_str(),
                role: if client_id.is_some() { "client_user" } else { "owner_staff" },
                created_at,
            })
            .returning(users::id)
            .get_result(conn)?;
        user_ids.insert(email, id);
        if may_reject {
            diesel::insert_into(user_permissions::table)
                .values(&NewPermission {
                    user_id: id,
                    permission: "reject_leads",
                    granted_by: user_ids.get("owner@sendback.test").copied(),
                    granted_at: created_at,
                })
                .execute(conn)?;
        }
    }
    Ok(user_ids)
}
