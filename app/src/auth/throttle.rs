//! Log-in throttling, per account and per IP address, over failures recorded in the database (so
//! every server process counts the same attempts).
//!
//! - **Per account: a progressive delay**, not a lock-out. The first [`FREE_PER_ACCOUNT`] failures
//!   within [`WINDOW`] cost nothing; after that each attempt must wait, after the latest failure,
//!   1 s, then 2 s, 4 s… up to [`MAX_DELAY`]. Guessing stays slow, and nobody can lock the owner of
//!   an account out for long by failing on purpose: they wait at most a minute.
//! - **Per address: a limit**: [`MAX_PER_IP`] failures within [`WINDOW`] refuse further attempts
//!   from that address until the oldest of them leaves the window.
//!
//! An attempt is **reserved** before its password is checked: the check and the recording of a
//! failure are one atomic step ([`reserve`]), so parallel attempts count each other. A successful
//! log-in then clears the account's failures.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use crate::db::schema::login_failures;
use crate::db::{DbConn, DbError, write_transaction};

/// Failures counted over this window.
pub const WINDOW: TimeDelta = TimeDelta::minutes(15);
/// Failed attempts per account within the window before attempts are spaced out.
pub const FREE_PER_ACCOUNT: i64 = 5;
/// The longest wait between two attempts on one account.
pub const MAX_DELAY: TimeDelta = TimeDelta::seconds(60);
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

/// The wait after the latest failure once an account has `failures` failures in the window.
pub fn account_delay(failures: i64) -> TimeDelta {
    if failures < FREE_PER_ACCOUNT {
        return TimeDelta::zero();
    }
    let doublings = u32::try_from(failures - FREE_PER_ACCOUNT).unwrap_or(u32::MAX).min(16);
    TimeDelta::seconds(1_i64 << doublings).min(MAX_DELAY)
}

/// Whether a log-in attempt for `email` from `ip` may proceed now (reads only).
pub fn check(conn: &mut DbConn, email: &str, ip: &str, now: NaiveDateTime) -> Result<Verdict, DbError> {
    let since = now - WINDOW;
    let by_account: Vec<NaiveDateTime> = login_failures::table
        .filter(login_failures::email.eq(email).and(login_failures::failed_at.gt(since)))
        .select(login_failures::failed_at)
        .order(login_failures::failed_at.desc())
        .limit(FREE_PER_ACCOUNT + 32)
        .load(conn)?;
    let by_ip: Vec<NaiveDateTime> = login_failures::table
        .filter(login_failures::ip.eq(ip).and(login_failures::failed_at.gt(since)))
        .select(login_failures::failed_at)
        .order(login_failures::failed_at.desc())
        .limit(MAX_PER_IP)
        .load(conn)?;
    let account_until = by_account
        .first()
        .map(|latest| *latest + account_delay(i64::try_from(by_account.len()).unwrap_or(i64::MAX)));
    // The address: refused until the oldest failure that keeps the count at its limit leaves
    // the window.
    let ip_until = (i64::try_from(by_ip.len()).unwrap_or(i64::MAX) >= MAX_PER_IP)
        .then(|| by_ip.last().map(|t| *t + WINDOW));
    let until = [account_until, ip_until.flatten()].into_iter().flatten().filter(|u| *u > now).max();
    Ok(match until {
        Some(until) => Verdict::Throttled { until },
        None => Verdict::Allowed,
    })
}

/// Checks an attempt and, when it may proceed, records it as a failure in the same transaction,
/// before its password is verified. Parallel attempts for one account or address queue here
/// (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: advisory locks on the account and the address), so
/// none of them can slip past the limit.
pub fn reserve(conn: &mut DbConn, email: &str, ip: &str, now: NaiveDateTime) -> Result<Verdict, DbError> {
    write_transaction(conn, |conn| {
        if matches!(conn, DbConn::Pg(_)) {
            // Account first, then address, in every transaction: no lock cycle.
            for key in [format!("login-account:{email}"), format!("login-ip:{ip}")] {
                diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1)::bigint)")
                    .bind::<diesel::sql_types::Text, _>(key)
                    .execute(conn)?;
            }
        }
        let verdict = check(conn, email, ip, now)?;
        if verdict == Verdict::Allowed {
            record_failure(conn, email, ip, now)?;
        }
        Ok(verdict)
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

/// A successful log-in clears the account's failures (not the address's other failures), the
/// attempt's own reservation included.
pub fn clear_account(conn: &mut DbConn, email: &str) -> Result<(), DbError> {
    diesel::delete(login_failures::table.filter(login_failures::email.eq(email))).execute(conn)?;
    Ok(())
}

/// Drops failures older than the window (run periodically).
pub fn prune(conn: &mut DbConn, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(login_failures::table.filter(login_failures::failed_at.le(now - WINDOW)))
        .execute(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_delay_grows_then_stops_at_a_minute() {
        assert_eq!(account_delay(0), TimeDelta::zero());
        assert_eq!(account_delay(FREE_PER_ACCOUNT - 1), TimeDelta::zero());
        assert_eq!(account_delay(FREE_PER_ACCOUNT), TimeDelta::seconds(1));
        assert_eq!(account_delay(FREE_PER_ACCOUNT + 1), TimeDelta::seconds(2));
        assert_eq!(account_delay(FREE_PER_ACCOUNT + 5), TimeDelta::seconds(32));
        assert_eq!(account_delay(FREE_PER_ACCOUNT + 6), MAX_DELAY);
        assert_eq!(account_delay(i64::MAX), MAX_DELAY);
    }
}
