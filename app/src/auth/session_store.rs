//! A tower-sessions store in the application's own database (through the Diesel pool), so
//! sessions survive restarts and are shared by every server process. Expiry dates here are
//! tower-sessions' own (wall clock); the idle and absolute limits users see are enforced by
//! `auth::access` against the application clock.

use std::fmt;

use async_trait::async_trait;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};

use crate::db::schema::sessions;
use crate::db::{self, DbError, Pool};

#[derive(Clone)]
pub struct DieselSessionStore {
    pool: Pool,
}

impl fmt::Debug for DieselSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DieselSessionStore")
    }
}

impl DieselSessionStore {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

/// How a store error caused by a full pool starts, so that the caller can answer "busy" (503)
/// rather than "broken" (500).
pub const POOL_BUSY: &str = "pool busy: ";

fn backend(e: DbError) -> session_store::Error {
    match e {
        DbError::Pool(_) => session_store::Error::Backend(format!("{POOL_BUSY}{e}")),
        _ => session_store::Error::Backend(e.to_string()),
    }
}

fn to_naive(t: time::OffsetDateTime) -> NaiveDateTime {
    chrono::DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond())
        .map(|d| d.naive_utc())
        .unwrap_or_default()
}

fn from_naive(t: NaiveDateTime) -> time::OffsetDateTime {
    let utc = t.and_utc();
    time::OffsetDateTime::from_unix_timestamp(utc.timestamp())
        .map(|d| d + time::Duration::nanoseconds(i64::from(utc.timestamp_subsec_nanos())))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

fn encode(record: &Record) -> session_store::Result<(String, Vec<u8>, NaiveDateTime)> {
    let data = serde_json::to_vec(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))?;
    Ok((record.id.to_string(), data, to_naive(record.expiry_date)))
}

/// The values stored under session `id`, read on `conn` as [`SessionStore::load`] would find them
/// (`None` when there is no such session, or it has expired), so a caller can read the session and
/// what it names in one database call.
pub fn read_values(
    conn: &mut db::DbConn,
    id: &Id,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, DbError> {
    let now = chrono::Utc::now().naive_utc();
    let data: Option<Vec<u8>> = sessions::table
        .filter(sessions::id.eq(id.to_string()).and(sessions::expiry_date.gt(now)))
        .select(sessions::data)
        .first(conn)
        .optional()?;
    // Undecodable data reads as no session: the full path through the store reports it.
    Ok(data.and_then(|d| serde_json::from_slice(&d).ok()))
}

#[async_trait]
impl SessionStore for DieselSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // Insert, drawing a new id on the (astronomically unlikely) collision.
        loop {
            let (id, data, expiry) = encode(record)?;
            let inserted = db::run(&self.pool, move |conn| {
                let row = (sessions::id.eq(&id), sessions::data.eq(&data), sessions::expiry_date.eq(expiry));
                let n = crate::with_inner!(conn, |c| diesel::insert_into(sessions::table)
                    .values(row)
                    .on_conflict_do_nothing()
                    .execute(c))?;
                Ok(n == 1)
            })
            .await
            .map_err(backend)?;
            if inserted {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let (id, data, expiry) = encode(record)?;
        db::run(&self.pool, move |conn| {
            let row = (sessions::id.eq(&id), sessions::data.eq(&data), sessions::expiry_date.eq(expiry));
            crate::with_inner!(conn, |c| diesel::insert_into(sessions::table)
                .values(row)
                .on_conflict(sessions::id)
                .do_update()
                .set((sessions::data.eq(&data), sessions::expiry_date.eq(expiry)))
                .execute(c))?;
            Ok(())
        })
        .await
        .map_err(backend)
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        let id = session_id.to_string();
        let now = chrono::Utc::now().naive_utc();
        let row: Option<(Vec<u8>, NaiveDateTime)> = db::run(&self.pool, move |conn| {
            Ok(sessions::table
                .filter(sessions::id.eq(&id).and(sessions::expiry_date.gt(now)))
                .select((sessions::data, sessions::expiry_date))
                .first(conn)
                .optional()?)
        })
        .await
        .map_err(backend)?;
        match row {
            None => Ok(None),
            Some((data, expiry)) => {
                let data =
                    serde_json::from_slice(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
                Ok(Some(Record { id: *session_id, data, expiry_date: from_naive(expiry) }))
            }
        }
    }

    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        let id = session_id.to_string();
        db::run(&self.pool, move |conn| {
            diesel::delete(sessions::table.filter(sessions::id.eq(&id))).execute(conn)?;
            Ok(())
        })
        .await
        .map_err(backend)
    }
}

#[async_trait]
impl ExpiredDeletion for DieselSessionStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        let now = chrono::Utc::now().naive_utc();
        db::run(&self.pool, move |conn| {
            diesel::delete(sessions::table.filter(sessions::expiry_date.le(now))).execute(conn)?;
            Ok(())
        })
        .await
        .map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        let t = time::OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap()
            + time::Duration::microseconds(5);
        assert_eq!(from_naive(to_naive(t)), t);
    }
}
