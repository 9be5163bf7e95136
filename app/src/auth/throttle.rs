//! Log-in throttling, per account and per IP address, over failures recorded in the database (so
//! every server process counts the same attempts).
//!
//! - **Per account and address: a progressive delay**, not a lock-out. The first
//!   [`FREE_PER_ACCOUNT`] failures for an account from one address within [`WINDOW`] cost nothing;
//!   after that each attempt from that address must wait, after its latest failure, 1 s, then 2 s,
//!   4 s… up to [`MAX_DELAY`]. Someone failing on purpose from their address does not slow the
//!   account's owner at theirs.
//! - **Per account, from everywhere: a ceiling**: once [`ACCOUNT_CEILING`] failures within the
//!   window come from any addresses together, every attempt waits [`MAX_DELAY`] after the latest,
//!   so many addresses cannot guess fast either.
//! - **Per address: a limit**: [`MAX_PER_IP`] failures within [`WINDOW`] refuse further attempts
//!   from that address until the oldest of them leaves the window.
//!
//! An attempt is **reserved** before its password is checked: the check and the recording of a
//! failure are one atomic step ([`reserve`]), so parallel attempts count each other. A throttled
//! attempt is refused by a plain read first and never takes the write lock. A successful log-in
//! clears the account's failures from its own address.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;

use crate::db::schema::login_failures;
use crate::db::{DbConn, DbError, write_transaction};

/// Failures counted over this window.
pub const WINDOW: TimeDelta = TimeDelta::minutes(15);
/// Failed attempts per account from one address within the window before attempts from that
/// address are spaced out.
pub const FREE_PER_ACCOUNT: i64 = 5;
/// Failed attempts per account from all addresses within the window before every attempt waits
/// [`MAX_DELAY`].
pub const ACCOUNT_CEILING: i64 = 50;
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
    let by_pair: Vec<NaiveDateTime> = login_failures::table
        .filter(login_failures::email.eq(email).and(login_failures::ip.eq(ip)))
        .filter(login_failures::failed_at.gt(since))
        .select(login_failures::failed_at)
        .order(login_failures::failed_at.desc())
        .limit(FREE_PER_ACCOUNT + 32)
        .load(conn)?;
    let by_account: Vec<NaiveDateTime> = login_failures::table
        .filter(login_failures::email.eq(email).and(login_failures::failed_at.gt(since)))
        .select(login_failures::failed_at)
        .order(login_failures::failed_at.desc())
        .limit(ACCOUNT_CEILING)
        .load(conn)?;
    let by_ip: Vec<NaiveDateTime> = login_failures::table
        .filter(login_failures::ip.eq(ip).and(login_failures::failed_at.gt(since)))
        .select(login_failures::failed_at)
        .order(login_failures::failed_at.desc())
        .limit(MAX_PER_IP)
        .load(conn)?;
    let pair_until = by_pair
        .first()
        .map(|latest| *latest + account_delay(i64::try_from(by_pair.len()).unwrap_or(i64::MAX)));
    let account_until = (i64::try_from(by_account.len()).unwrap_or(i64::MAX) >= ACCOUNT_CEILING)
        .then(|| by_account.first().map(|latest| *latest + MAX_DELAY))
        .flatten();
    // The address: refused until the oldest failure that keeps the count at its limit leaves
    // the window.
    let ip_until = (i64::try_from(by_ip.len()).unwrap_or(i64::MAX) >= MAX_PER_IP)
        .then(|| by_ip.last().map(|t| *t + WINDOW));
    let until =
        [pair_until, account_until, ip_until.flatten()].into_iter().flatten().filter(|u| *u > now).max();
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
    // Refused already: a plain read says so, without the write lock (a flood of throttled
    // attempts does not queue behind, or hold up, other writers).
    if let throttled @ Verdict::Throttled { .. } = check(conn, email, ip, now)? {
        return Ok(throttled);
    }
    write_transaction(conn, |conn| {
        if matches!(conn, DbConn::Pg(_)) {
            // The check below must see every reservation committed before: read committed, and
            // a lock per account and per address. Two lock classes (1: account, 2: address), so an
            // account's key never meets an address's; every transaction takes its account lock
            // before its address lock, so no two wait for each other.
            diesel::sql_query("SET TRANSACTION ISOLATION LEVEL READ COMMITTED").execute(conn)?;
            for (class, key) in [(1, email), (2, ip)] {
                diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
                    .bind::<diesel::sql_types::Integer, _>(class)
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

/// A successful log-in clears the account's failures from its own address, the attempt's own
/// reservation included. Failures from other addresses stay: they still count against those
/// addresses and towards the account's ceiling.
pub fn clear_account(conn: &mut DbConn, email: &str, ip: &str) -> Result<(), DbError> {
    diesel::delete(
        login_failures::table.filter(login_failures::email.eq(email).and(login_failures::ip.eq(ip))),
    )
    .execute(conn)?;
    Ok(())
}

/// Gives back a reservation whose password was never checked (the server was too busy).
pub fn refund(conn: &mut DbConn, email: &str, ip: &str, at: NaiveDateTime) -> Result<(), DbError> {
    diesel::delete(login_failures::table.filter(
        login_failures::email.eq(email).and(login_failures::ip.eq(ip)).and(login_failures::failed_at.eq(at)),
    ))
    .execute(conn)?;
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
