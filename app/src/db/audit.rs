//! The audit log: who changed what in an instance, and when. Every change owner staff make (and
//! every change made from the command line) writes one row in the same transaction as the change.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{audit_log, users};
use super::users::UserContext;
use super::{DbConn, DbError};

/// Who makes a change: a signed-in user of the instance, or the command line (no user).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub instance_id: i64,
    pub user_id: Option<i64>,
}

impl Actor {
    /// An operator running `sendback …` on the server: changes are logged without a user.
    pub fn command_line(instance_id: i64) -> Self {
        Self { instance_id, user_id: None }
    }
}

impl From<&UserContext> for Actor {
    fn from(user: &UserContext) -> Self {
        Self { instance_id: user.instance_id, user_id: Some(user.id) }
    }
}

/// One change, as written to the log.
pub struct Entry<'a> {
    pub action: &'a str,
    pub subject: &'a str,
    pub detail: &'a str,
    /// The campaign the change is about, so the campaign's page lists it.
    pub campaign_id: Option<i64>,
}

pub fn record(conn: &mut DbConn, actor: Actor, entry: &Entry<'_>, now: NaiveDateTime) -> Result<(), DbError> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::instance_id.eq(actor.instance_id),
            audit_log::actor_user_id.eq(actor.user_id),
            audit_log::action.eq(entry.action),
            audit_log::subject.eq(entry.subject),
            audit_log::detail.eq(entry.detail),
            audit_log::campaign_id.eq(entry.campaign_id),
            audit_log::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// A logged change as a page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedChange {
    pub at: NaiveDateTime,
    /// The user's name and email; `None` for the command line.
    pub who: Option<(String, String)>,
    pub action: String,
    pub subject: String,
    pub detail: String,
}

/// The newest `limit` changes to a campaign of `instance_id`, newest first.
pub fn campaign_changes(
    conn: &mut DbConn,
    instance_id: i64,
    campaign_id: i64,
    limit: i64,
) -> Result<Vec<LoggedChange>, DbError> {
    type Row = (NaiveDateTime, Option<String>, Option<String>, String, String, String);
    let rows: Vec<Row> = audit_log::table
        .left_join(users::table.on(users::id.nullable().eq(audit_log::actor_user_id)))
        .filter(audit_log::instance_id.eq(instance_id).and(audit_log::campaign_id.eq(campaign_id)))
        .order(audit_log::id.desc())
        .limit(limit)
        .select((
            audit_log::created_at,
            users::name.nullable(),
            users::email.nullable(),
            audit_log::action,
            audit_log::subject,
            audit_log::detail,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(at, name, email, action, subject, detail)| LoggedChange {
            at,
            who: name.zip(email),
            action,
            subject,
            detail,
        })
        .collect())
}
