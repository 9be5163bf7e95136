//! Log-in throttling per account and per IP address: a sliding window over recorded failures.
//! The failures live in the database so that every server process counts the same attempts.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use crate::db::schema::login_failures;
use crate::db::{DbConn, DbError};

/// Failures counted over this window.
pub const WINDOW: TimeDelta = TimeDelta::minutes(15);
/// Failed attempts allowed per account within the window.
pub const MAX_PER_ACCOUNT: i64 = 5;
/// Failed attempts allowed per IP address within the window (several people may share one).
pub const MAX_PER_IP: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Refused until this moment.
    Throttled {
        until: NaiveDateTime,
    },
}

/// Whether a log-in attempt for `email` from `ip` may proceed now.
pub fn check(conn: &mut DbConn, email: &str, ip: &str, now: NaiveDateTime) -> Result<Verdict, DbError> {
    let since = now - WINDOW;
    let by_account: Vec<NaiveDateTime> = login_failures::table
        .filter(login_failures::email.eq(email).and(login_failures::failed_at.gt(since)))
        .select(login_failures::failed_at)
        .order(login_failures::failed_at.desc())
        .limit(MAX_PER_ACCOUNT)
        .load(conn)?;
    let by_ip: Vec<NaiveDateTime> = login_failures::table
        .filter(login_failures::ip.eq(ip).and(login_failures::failed_at.gt(since)))
        .select(login_failures::failed_at)
        .order(login_failures::failed_at.desc())
        .limit(MAX_PER_IP)
        .load(conn)?;
    // Refused until the oldest failure that keeps the count at its limit leaves the window.
    let until = [(by_account, MAX_PER_ACCOUNT), (by_ip, MAX_PER_IP)]
        .into_iter()
        .filter(|(v, max)| v.len() as i64 >= *max)
        .filter_map(|(v, _)| v.last().map(|oldest| *oldest + WINDOW))
        .max();
    Ok(match until {
        Some(until) => Verdict::Throttled { until },
        None => Verdict::Allowed,
    })
}

pub fn record_failure(conn: &mut DbConn, email: &str, ip: &str, now: NaiveDateTime) -> Result<(), DbError> {
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::email.eq(email),
            login_failures::ip.eq(ip),
            login_failures::failed_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// A successful log-in clears the account's failures (not the IP's).
pub fn clear_account(conn: &mut DbConn, email: &str) -> Result<(), DbError> {
    diesel::delete(login_failures::table.filter(login_failures::email.eq(email))).execute(conn)?;
    Ok(())
}

/// Drops failures older than the window (run periodically).
pub fn prune(conn: &mut DbConn, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(login_failures::table.filter(login_failures::failed_at.le(now - WINDOW)))
        .execute(conn)?)
}
