//! Keys for machines: a supplier's intake key and a client user's API key. An intake key is
//! `sbk_` and 48 random hex digits; an API key is `sbk_` and 32 random bytes in URL-safe base64.
//! Either is shown once, when made; only its SHA-256 is stored, so a request's key is found by
//! its hash. Keys can be revoked; their last use is kept (written at most once a minute, so busy
//! keys do not contend on their row). An API key acts as its user, loaded afresh at each request
//! (docs/DOMAIN.md §7).

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use sha2::Digest as _;

use super::audit::{self, Actor, Entry};
use super::schema::{api_keys, suppliers, users};
use super::setup::SetupError;
use super::users::{Role, UserContext, load_context};
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

impl KeyHolder {
    /// Whether this is an intake key of the supplier whose id was posted as `sid` (text).
    pub fn is_supplier(&self, sid: &str) -> bool {
        self.supplier_id.is_some_and(|s| s.to_string() == sid)
    }
}

/// The holder of a presented key, `None` when it is unknown or revoked. Notes the key's use.
pub fn holder(conn: &mut DbConn, key: &str, now: NaiveDateTime) -> Result<Option<KeyHolder>, DbError> {
    let Some((holder, last_used)) = lookup(conn, key)? else { return Ok(None) };
    note_use(conn, holder.key_id, last_used, now)?;
    Ok(Some(holder))
}

/// [`holder`] without noting the use: a read only (a check before queueing for a write).
pub fn peek(conn: &mut DbConn, key: &str) -> Result<Option<KeyHolder>, DbError> {
    Ok(lookup(conn, key)?.map(|(holder, _)| holder))
}

fn lookup(conn: &mut DbConn, key: &str) -> Result<Option<(KeyHolder, Option<NaiveDateTime>)>, DbError> {
    let key = key.trim();
    if key.is_empty() || key.len() > MAX_KEY_CHARS {
        return Ok(None);
    }
    let found: Option<(i64, i64, Option<i64>, Option<NaiveDateTime>)> = api_keys::table
        .filter(api_keys::secret_hash.eq(hash(key)).and(api_keys::revoked_at.is_null()))
        .select((api_keys::id, api_keys::instance_id, api_keys::supplier_id, api_keys::last_used_at))
        .first(conn)
        .optional()?;
    Ok(found.map(|(key_id, instance_id, supplier_id, last_used)| {
        (KeyHolder { key_id, instance_id, supplier_id }, last_used)
    }))
}

/// Records a key's use at `now`, unless noted less than a minute ago: then nothing is written
/// (on SQLite every write waits for the one lock).
fn note_use(
    conn: &mut DbConn,
    key_id: i64,
    last_used: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let stale = now - TimeDelta::minutes(1);
    if last_used.is_some_and(|at| at >= stale) {
        return Ok(());
    }
    diesel::update(api_keys::table.filter(
        api_keys::id.eq(key_id).and(api_keys::last_used_at.is_null().or(api_keys::last_used_at.lt(stale))),
    ))
    .set(api_keys::last_used_at.eq(now))
    .execute(conn)?;
    Ok(())
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

/// A new random API key: `sbk_` and 32 random bytes in URL-safe base64 (43 characters).
fn generate_client() -> String {
    format!("{KEY_PREFIX}{}", base64_url(&rand::random::<[u8; 32]>()))
}

/// URL-safe base64 without padding (RFC 4648 §5).
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        // A chunk of k bytes gives k + 1 characters.
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// The user an API key acts for, as they stand now, and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCaller {
    pub key_id: i64,
    /// The key's SHA-256 (hex): what the rate limiter counts by, the same key in any database.
    pub key_hash: String,
    pub user: UserContext,
}

/// The user a presented API key acts for, loaded afresh (their client and permission as they
/// stand now); `None` when the key is malformed, unknown, revoked, not an API key, or its user is
/// gone. Notes the key's use.
pub fn api_user(conn: &mut DbConn, key: &str, now: NaiveDateTime) -> Result<Option<ApiCaller>, DbError> {
    let key = key.trim();
    if !key.starts_with(KEY_PREFIX) || key.len() > MAX_KEY_CHARS {
        return Ok(None);
    }
    let key_hash = hash(key);
    let found: Option<(i64, i64, Option<i64>, Option<NaiveDateTime>)> = api_keys::table
        .filter(
            api_keys::secret_hash
                .eq(&key_hash)
                .and(api_keys::revoked_at.is_null())
                .and(api_keys::kind.eq("client_api")),
        )
        .select((api_keys::id, api_keys::instance_id, api_keys::user_id, api_keys::last_used_at))
        .first(conn)
        .optional()?;
    let Some((key_id, instance_id, Some(user_id), last_used)) = found else { return Ok(None) };
    let Some(user) = load_context(conn, user_id)?.filter(|u| u.instance_id == instance_id) else {
        return Ok(None);
    };
    note_use(conn, key_id, last_used, now)?;
    Ok(Some(ApiCaller { key_id, key_hash, user }))
}

/// An API key as the API keys page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKeyRow {
    pub id: i64,
    pub name: String,
    /// The first characters, e.g. `sbk_Ab3-x_9Q…`.
    pub shown: String,
    /// Whose key it is: the user's name and email.
    pub user_name: String,
    pub user_email: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

/// The API keys `user` sees, newest first: a client user's own; owner staff, every API key of
/// their instance.
pub fn client_keys(conn: &mut DbConn, user: &UserContext) -> Result<Vec<ClientKeyRow>, DbError> {
    type Row = (
        i64,
        Option<String>,
        String,
        String,
        String,
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
    );
    let mut query = api_keys::table
        .inner_join(users::table.on(api_keys::user_id.eq(users::id.nullable())))
        .filter(api_keys::instance_id.eq(user.instance_id).and(api_keys::kind.eq("client_api")))
        .into_boxed();
    if user.role != Role::OwnerStaff {
        query = query.filter(api_keys::user_id.eq(user.id));
    }
    let rows: Vec<Row> = query
        .order(api_keys::id.desc())
        .select((
            api_keys::id,
            api_keys::name,
            api_keys::prefix,
            users::name,
            users::email,
            api_keys::created_at,
            api_keys::last_used_at,
            api_keys::revoked_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, prefix, user_name, user_email, created_at, last_used_at, revoked_at)| ClientKeyRow {
            id,
            name: name.unwrap_or_default(),
            shown: format!("{prefix}…"),
            user_name,
            user_email,
            created_at,
            last_used_at,
            revoked_at,
        })
        .collect())
}

/// Makes an API key named `name` for `holder`, a client user of the actor's instance (the user
/// themselves, or the command line); (key id, the key). The key is not stored and cannot be
/// shown again. Whether the holder may use it is checked at each request, not here.
pub fn create_client_key(
    conn: &mut DbConn,
    actor: Actor,
    holder: &UserContext,
    name: &str,
    now: NaiveDateTime,
) -> Result<(i64, String), SetupError> {
    let name = crate::domain::setup::name(name, "key")
        .map_err(|message| SetupError::Invalid { field: "name", message })?;
    if holder.instance_id != actor.instance_id || holder.role != Role::ClientUser {
        return Err(SetupError::NotFound);
    }
    let key = generate_client();
    write_transaction(conn, |conn| {
        let shown: String = key.chars().take(SHOWN_CHARS).collect();
        let id: i64 = diesel::insert_into(api_keys::table)
            .values((
                api_keys::instance_id.eq(actor.instance_id),
                api_keys::kind.eq("client_api"),
                api_keys::user_id.eq(Some(holder.id)),
                api_keys::name.eq(Some(&name)),
                api_keys::prefix.eq(&shown),
                api_keys::secret_hash.eq(hash(&key)),
                api_keys::created_by.eq(actor.user_id),
                api_keys::created_at.eq(now),
            ))
            .returning(api_keys::id)
            .get_result(conn)?;
        let detail = format!("{name:?} {shown}…");
        let entry =
            Entry { action: "api_key.create", subject: &holder.email, detail: &detail, campaign_id: None };
        audit::record(conn, actor, &entry, now)?;
        Ok((id, key.clone()))
    })
}

/// Revokes an API key: a client user's own, or any of the instance's for owner staff; it stops
/// working at once. Another's key (or another instance's) is not found.
pub fn revoke_client_key(
    conn: &mut DbConn,
    user: &UserContext,
    key_id: i64,
    now: NaiveDateTime,
) -> Result<(), SetupError> {
    // The holder's id, the key's name and first characters, the holder's email, when revoked.
    type Found = (i64, Option<String>, String, String, Option<NaiveDateTime>);
    write_transaction(conn, |conn| {
        let found: Option<Found> = api_keys::table
            .inner_join(users::table.on(api_keys::user_id.eq(users::id.nullable())))
            .filter(
                api_keys::id
                    .eq(key_id)
                    .and(api_keys::instance_id.eq(user.instance_id))
                    .and(api_keys::kind.eq("client_api")),
            )
            .select((users::id, api_keys::name, api_keys::prefix, users::email, api_keys::revoked_at))
            .first(conn)
            .optional()?;
        let Some((holder, name, shown, email, revoked)) = found else { return Err(SetupError::NotFound) };
        if user.role != Role::OwnerStaff && holder != user.id {
            return Err(SetupError::NotFound);
        }
        if revoked.is_some() {
            return Ok(());
        }
        diesel::update(api_keys::table.find(key_id)).set(api_keys::revoked_at.eq(Some(now))).execute(conn)?;
        let detail = format!("{:?} {shown}…", name.unwrap_or_default());
        let entry = Entry { action: "api_key.revoke", subject: &email, detail: &detail, campaign_id: None };
        audit::record(conn, Actor::from(user), &entry, now)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_url_matches_rfc_4648_without_padding() {
        assert_eq!(base64_url(b""), "");
        assert_eq!(base64_url(b"f"), "Zg");
        assert_eq!(base64_url(b"fo"), "Zm8");
        assert_eq!(base64_url(b"foo"), "Zm9v");
        assert_eq!(base64_url(b"foob"), "Zm9vYg");
        assert_eq!(base64_url(b"fooba"), "Zm9vYmE");
        assert_eq!(base64_url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_url(&[0xfb, 0xff, 0xbf]), "-_-_");
    }

    #[test]
    fn api_keys_are_sbk_and_43_url_safe_characters() {
        let (a, b) = (generate_client(), generate_client());
        assert_ne!(a, b);
        let rest = a.strip_prefix(KEY_PREFIX).expect("prefix");
        assert_eq!(rest.len(), 43);
        assert!(rest.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'), "{a}");
    }
}
