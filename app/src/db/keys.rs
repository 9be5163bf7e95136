//! Keys for machines: a supplier's intake key (and, later, a client user's API key). A key is
//! `sbk_` and 48 random hex digits, shown once when made; only its SHA-256 is stored, so a
//! request's key is found by its hash. Keys can be revoked; their last use is kept (written at
//! most once a minute, so busy keys do not contend on their row).

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use sha2::Digest as _;

use super::audit::{self, Actor, Entry};
use super::schema::{api_keys, suppliers};
use super::setup::SetupError;
use super::{DbConn, DbError, write_transaction};
use crate::engine::uploads::hex;

/// The start of every key, so one found in a log or a repository is recognisable.
pub const KEY_PREFIX: &str = "sbk_";
/// Characters of a key shown in lists (the prefix and the first 8 hex digits).
const SHOWN_CHARS: usize = 12;
/// Longest text looked up as a key (longer is not one of ours).
const MAX_KEY_CHARS: usize = 128;

fn hash(key: &str) -> String {
    hex(&sha2::Sha256::digest(key.as_bytes()))
}

/// A new random key.
fn generate() -> String {
    format!("{KEY_PREFIX}{}", hex(&rand::random::<[u8; 24]>()))
}

/// Who a key acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyHolder {
    pub key_id: i64,
    pub instance_id: i64,
    /// Set for a supplier's intake key.
    pub supplier_id: Option<i64>,
}

/// The holder of a presented key, `None` when it is unknown or revoked. Notes the key's use.
pub fn holder(conn: &mut DbConn, key: &str, now: NaiveDateTime) -> Result<Option<KeyHolder>, DbError> {
    let key = key.trim();
    if key.is_empty() || key.len() > MAX_KEY_CHARS {
        return Ok(None);
    }
    let found: Option<(i64, i64, Option<i64>, Option<NaiveDateTime>)> = api_keys::table
        .filter(api_keys::secret_hash.eq(hash(key)).and(api_keys::revoked_at.is_null()))
        .select((api_keys::id, api_keys::instance_id, api_keys::supplier_id, api_keys::last_used_at))
        .first(conn)
        .optional()?;
    let Some((key_id, instance_id, supplier_id, last_used)) = found else { return Ok(None) };
    let stale = now - TimeDelta::minutes(1);
    if last_used.is_some_and(|at| at >= stale) {
        // Noted less than a minute ago: no write (on SQLite every write waits for the one lock).
        return Ok(Some(KeyHolder { key_id, instance_id, supplier_id }));
    }
    diesel::update(api_keys::table.filter(
        api_keys::id.eq(key_id).and(api_keys::last_used_at.is_null().or(api_keys::last_used_at.lt(stale))),
    ))
    .set(api_keys::last_used_at.eq(now))
    .execute(conn)?;
    Ok(Some(KeyHolder { key_id, instance_id, supplier_id }))
}

/// A key as the Suppliers page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub id: i64,
    pub supplier_id: i64,
    /// The first characters, e.g. `sbk_1a2b3c4d…`.
    pub shown: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

/// The intake keys of the instance's suppliers, newest first.
pub fn supplier_keys(conn: &mut DbConn, instance_id: i64) -> Result<Vec<KeyRow>, DbError> {
    type Row = (i64, Option<i64>, String, NaiveDateTime, Option<NaiveDateTime>, Option<NaiveDateTime>);
    let rows: Vec<Row> = api_keys::table
        .filter(api_keys::instance_id.eq(instance_id).and(api_keys::kind.eq("supplier_intake")))
        .order(api_keys::id.desc())
        .select((
            api_keys::id,
            api_keys::supplier_id,
            api_keys::prefix,
            api_keys::created_at,
            api_keys::last_used_at,
            api_keys::revoked_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, supplier_id, prefix, created_at, last_used_at, revoked_at)| {
            Some(KeyRow {
                id,
                supplier_id: supplier_id?,
                shown: format!("{prefix}…"),
                created_at,
                last_used_at,
                revoked_at,
            })
        })
        .collect())
}

/// Makes an intake key for one of the instance's suppliers; (key id, the key). The key is not
/// stored and cannot be shown again.
pub fn create_supplier_key(
    conn: &mut DbConn,
    actor: Actor,
    supplier_id: i64,
    now: NaiveDateTime,
) -> Result<(i64, String), SetupError> {
    let key = generate();
    write_transaction(conn, |conn| {
        let supplier: String = suppliers::table
            .filter(suppliers::id.eq(supplier_id).and(suppliers::instance_id.eq(actor.instance_id)))
            .select(suppliers::name)
            .first(conn)
            .optional()?
            .ok_or(SetupError::NotFound)?;
        let shown: String = key.chars().take(SHOWN_CHARS).collect();
        let id: i64 = diesel::insert_into(api_keys::table)
            .values((
                api_keys::instance_id.eq(actor.instance_id),
                api_keys::kind.eq("supplier_intake"),
                api_keys::supplier_id.eq(Some(supplier_id)),
                api_keys::prefix.eq(&shown),
                api_keys::secret_hash.eq(hash(&key)),
                api_keys::created_by.eq(actor.user_id),
                api_keys::created_at.eq(now),
            ))
            .returning(api_keys::id)
            .get_result(conn)?;
        let detail = format!("{shown}…");
        let entry = Entry { action: "key.create", subject: &supplier, detail: &detail, campaign_id: None };
        audit::record(conn, actor, &entry, now)?;
        Ok((id, key.clone()))
    })
}

/// Revokes an intake key of one of the instance's suppliers; it stops working at once.
pub fn revoke_supplier_key(
    conn: &mut DbConn,
    actor: Actor,
    key_id: i64,
    now: NaiveDateTime,
) -> Result<(), SetupError> {
    write_transaction(conn, |conn| {
        let found: Option<(String, Option<NaiveDateTime>)> = api_keys::table
            .filter(
                api_keys::id
                    .eq(key_id)
                    .and(api_keys::instance_id.eq(actor.instance_id))
                    .and(api_keys::kind.eq("supplier_intake")),
            )
            .select((api_keys::prefix, api_keys::revoked_at))
            .first(conn)
            .optional()?;
        let Some((shown, revoked)) = found else { return Err(SetupError::NotFound) };
        if revoked.is_some() {
            return Ok(());
        }
        diesel::update(api_keys::table.find(key_id)).set(api_keys::revoked_at.eq(Some(now))).execute(conn)?;
        let detail = format!("{shown}…");
        let entry = Entry {
            action: "key.revoke",
            subject: "supplier intake key",
            detail: &detail,
            campaign_id: None,
        };
        audit::record(conn, actor, &entry, now)?;
        Ok(())
    })
}
