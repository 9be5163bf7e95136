//! Users, their permissions and the audit log: the queries behind log-in, the current user and
//! the Users page. Every query that takes an id is scoped to the caller's instance.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{clients, instances, user_permissions, users};
use super::{DbConn, DbError, write_transaction};

pub const PERMISSION_REJECT_LEADS: &str = "reject_leads";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    OwnerStaff,
    ClientUser,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner_staff" => Some(Role::OwnerStaff),
            "client_user" => Some(Role::ClientUser),
            _ => None,
        }
    }
}

/// What log-in needs of a user.
#[derive(Debug, Queryable)]
pub struct LoginRow {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
}

pub fn find_for_login(conn: &mut DbConn, email: &str) -> Result<Option<LoginRow>, DbError> {
    Ok(users::table
        .filter(users::email.eq(email))
        .select((users::id, users::email, users::password_hash))
        .first(conn)
        .optional()?)
}

pub fn update_password_hash(conn: &mut DbConn, user_id: i64, hash: &str) -> Result<(), DbError> {
    diesel::update(users::table.find(user_id)).set(users::password_hash.eq(hash)).execute(conn)?;
    Ok(())
}

/// The signed-in user, as every access check sees it; loaded fresh on each request so a revoked
/// permission takes effect at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserContext {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub instance_id: i64,
    pub instance_name: String,
    pub client_id: Option<i64>,
    pub client_name: Option<String>,
    pub can_reject_leads: bool,
    /// Signed in with a one-time password: nothing but choosing a new one is allowed.
    pub must_change_password: bool,
    /// Bumped by each password change: sessions signed in under an older one are ended.
    pub password_version: i64,
}

#[derive(Queryable)]
struct ContextRow {
    id: i64,
    email: String,
    name: String,
    role: String,
    instance_id: i64,
    instance_name: String,
    client_id: Option<i64>,
    client_name: Option<String>,
    must_change_password: bool,
    password_version: i64,
}

pub fn load_context(conn: &mut DbConn, user_id: i64) -> Result<Option<UserContext>, DbError> {
    let row: Option<ContextRow> = users::table
        .inner_join(instances::table)
        .left_join(clients::table)
        .filter(users::id.eq(user_id))
        .select((
            users::id,
            users::email,
            users::name,
            users::role,
            users::instance_id,
            instances::name,
            users::client_id,
            clients::name.nullable(),
            users::must_change_password,
            users::password_version,
        ))
        .first(conn)
        .optional()?;
    let Some(ContextRow {
        id,
        email,
        name,
        role,
        instance_id,
        instance_name,
        client_id,
        client_name,
        must_change_password,
        password_version,
    }) = row
    else {
        return Ok(None);
    };
    let Some(role) = Role::parse(&role) else { return Ok(None) };
    let can_reject_leads = role == Role::ClientUser && has_permission(conn, id, PERMISSION_REJECT_LEADS)?;
    Ok(Some(UserContext {
        id,
        email,
        name,
        role,
        instance_id,
        instance_name,
        client_id,
        client_name,
        can_reject_leads,
        must_change_password,
        password_version,
    }))
}

/// The user's password version, stored in a session when it signs in.
pub fn password_version(conn: &mut DbConn, user_id: i64) -> Result<i64, DbError> {
    Ok(users::table.find(user_id).select(users::password_version).first(conn)?)
}

/// Stores a user's new password hash, ending a one-time password's hold on the account and
/// every session signed in under the old password.
pub fn set_own_password(
    conn: &mut DbConn,
    user: &UserContext,
    hash: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    write_transaction(conn, |conn| {
        diesel::update(users::table.find(user.id))
            .set((
                users::password_hash.eq(hash),
                users::must_change_password.eq(false),
                users::password_version.eq(users::password_version + 1),
            ))
            .execute(conn)?;
        audit(conn, user, "password.change", &user.email, "", now)
    })
}

fn has_permission(conn: &mut DbConn, user_id: i64, permission: &str) -> Result<bool, DbError> {
    let n: i64 = user_permissions::table
        .filter(user_permissions::user_id.eq(user_id).and(user_permissions::permission.eq(permission)))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// A row of the Users page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserListRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub client_name: Option<String>,
    pub can_reject_leads: bool,
}

pub fn list_in_instance(conn: &mut DbConn, instance_id: i64) -> Result<Vec<UserListRow>, DbError> {
    let rows: Vec<(i64, String, String, String, Option<String>)> = users::table
        .left_join(clients::table)
        .filter(users::instance_id.eq(instance_id))
        .select((users::id, users::email, users::name, users::role, clients::name.nullable()))
        .order((users::role.desc(), users::email))
        .load(conn)?;
    let granted: Vec<i64> = user_permissions::table
        .inner_join(users::table)
        .filter(
            users::instance_id.eq(instance_id).and(user_permissions::permission.eq(PERMISSION_REJECT_LEADS)),
        )
        .select(user_permissions::user_id)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, email, name, role, client_name)| {
            Some(UserListRow {
                id,
                email,
                name,
                role: Role::parse(&role)?,
                client_name,
                can_reject_leads: granted.contains(&id),
            })
        })
        .collect())
}

pub fn clients_of_instance(conn: &mut DbConn, instance_id: i64) -> Result<Vec<(i64, String)>, DbError> {
    Ok(clients::table
        .filter(clients::instance_id.eq(instance_id))
        .select((clients::id, clients::name))
        .order(clients::name)
        .load(conn)?)
}

/// The answer when a new user's email is already used, in this instance or another.
pub const EMAIL_NOT_FREE: &str = "This email address cannot be used for a new user. Use another address.";

/// Why a user could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    /// The client is not one of the actor's instance.
    #[error("client not found")]
    ClientNotFound,
    #[error("email taken")]
    EmailTaken,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for CreateUserError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

impl From<CreateUserError> for crate::error::AppError {
    fn from(err: CreateUserError) -> Self {
        match err {
            CreateUserError::ClientNotFound => Self::NotFound,
            // The same words whichever instance holds the address: nothing outside the caller's
            // instance can be learnt from them beyond "not free" (emails sign in, so they are
            // unique across instances).
            CreateUserError::EmailTaken => Self::invalid("email", EMAIL_NOT_FREE),
            CreateUserError::Db(e) => e.into(),
        }
    }
}

pub struct NewClientUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub client_id: i64,
    pub password_hash: &'a str,
}

/// Creates a client user in `actor`'s instance and records it in the audit log.
pub fn create_client_user(
    conn: &mut DbConn,
    actor: &UserContext,
    new: &NewClientUser<'_>,
    now: NaiveDateTime,
) -> Result<i64, CreateUserError> {
    write_transaction(conn, |conn| {
        let client: Option<String> = clients::table
            .filter(clients::id.eq(new.client_id).and(clients::instance_id.eq(actor.instance_id)))
            .select(clients::name)
            .first(conn)
            .optional()?;
        let Some(client_name) = client else { return Err(CreateUserError::ClientNotFound) };
        let taken: i64 = users::table.filter(users::email.eq(new.email)).count().get_result(conn)?;
        if taken > 0 {
            return Err(CreateUserError::EmailTaken);
        }
        let id: i64 = diesel::insert_into(users::table)
            .values((
                users::instance_id.eq(actor.instance_id),
                users::client_id.eq(Some(new.client_id)),
                users::email.eq(new.email),
                users::name.eq(new.name),
                users::password_hash.eq(new.password_hash),
                users::role.eq("client_user"),
                users::created_at.eq(now),
            ))
            .returning(users::id)
            .get_result(conn)?;
        audit(conn, actor, "user.create", new.email, &format!("client user of {client_name}"), now)?;
        Ok(id)
    })
}

/// Grants or revokes "Reject Leads as a Client". `Ok(false)` when the user is not a client user
/// of `actor`'s instance (reported to the caller as not found).
pub fn set_reject_permission(
    conn: &mut DbConn,
    actor: &UserContext,
    user_id: i64,
    granted: bool,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    write_transaction(conn, |conn| {
        let target: Option<String> = users::table
            .filter(
                users::id
                    .eq(user_id)
                    .and(users::instance_id.eq(actor.instance_id))
                    .and(users::role.eq("client_user")),
            )
            .select(users::email)
            .first(conn)
            .optional()?;
        let Some(email) = target else { return Ok(false) };
        let had = has_permission(conn, user_id, PERMISSION_REJECT_LEADS)?;
        if granted && !had {
            diesel::insert_into(user_permissions::table)
                .values((
                    user_permissions::user_id.eq(user_id),
                    user_permissions::permission.eq(PERMISSION_REJECT_LEADS),
                    user_permissions::granted_by.eq(Some(actor.id)),
                    user_permissions::granted_at.eq(now),
                ))
                .execute(conn)?;
            audit(conn, actor, "permission.grant", &email, "Reject Leads as a Client", now)?;
        } else if !granted && had {
            diesel::delete(
                user_permissions::table.filter(
                    user_permissions::user_id
                        .eq(user_id)
                        .and(user_permissions::permission.eq(PERMISSION_REJECT_LEADS)),
                ),
            )
            .execute(conn)?;
            audit(conn, actor, "permission.revoke", &email, "Reject Leads as a Client", now)?;
        }
        Ok(true)
    })
}

fn audit(
    conn: &mut DbConn,
    actor: &UserContext,
    action: &str,
    subject: &str,
    detail: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let entry = super::audit::Entry { action, subject, detail, campaign_id: None };
    super::audit::record(conn, actor.into(), &entry, now)
}
