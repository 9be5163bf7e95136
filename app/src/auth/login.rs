//! Checking credentials: throttling (an attempt is reserved before its password is checked),
//! a bounded number of password checks at a time, constant-cost verification, re-hashing weak
//! hashes.

use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::auth::password::{self, PasswordHashString};
use crate::auth::throttle::{self, Verdict};
use crate::db::users;
use crate::error::AppError;
use crate::state::AppState;

/// The one message for an unknown email and a wrong password alike.
pub const BAD_CREDENTIALS: &str = "That email and password do not match an account.";

/// How long an attempt waits for a free password check before it is answered 503.
const WAIT_FOR_CHECK: Duration = Duration::from_secs(3);

/// Verified against when the email is unknown, so both cases cost one argon2 verification.
fn dummy_hash() -> &'static Option<PasswordHashString> {
    static DUMMY: OnceLock<Option<PasswordHashString>> = OnceLock::new();
    DUMMY.get_or_init(|| password::hash_password("not a real password, only spends time").ok())
}

/// Password checks running at once: one per core. Each costs ~19 MiB and a core for ~20 ms, so a
/// burst of log-ins queues here instead of taking the server's memory and threads. The permit
/// goes into the blocking check itself, so a client that hangs up does not free it early.
static CHECKS: LazyLock<Arc<Semaphore>> = LazyLock::new(|| {
    Arc::new(Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)))
});

/// The longest email address there is (RFC 5321); longer input is not an account.
const MAX_EMAIL_CHARS: usize = 254;

/// Builds the dummy hash now, so the first log-in with an unknown email does not pay for it.
pub fn warm_up() {
    let _ = dummy_hash();
}

fn throttled(until: chrono::NaiveDateTime, now: chrono::NaiveDateTime) -> AppError {
    let seconds = (until - now).num_seconds().max(0) + 1;
    let wait = if seconds < 90 {
        format!("{seconds} second{}", if seconds == 1 { "" } else { "s" })
    } else {
        let minutes = (seconds + 59) / 60;
        format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
    };
    AppError::TooManyAttempts(format!("Too many failed log-in attempts. Try again in {wait}."))
}

/// Returns the user id when `email` and `password` match and the account is not throttled.
pub async fn authenticate(state: &AppState, email: &str, password: &str, ip: &str) -> Result<i64, AppError> {
    let email = email.trim().to_lowercase();
    if email.is_empty() {
        return Err(AppError::invalid("email", "Enter your email address."));
    }
    if password.is_empty() {
        return Err(AppError::invalid("password", "Enter your password."));
    }
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Err(AppError::invalid("credentials", BAD_CREDENTIALS));
    }
    let now = state.clock.now();
    // The attempt counts as a failure from here on; a success clears it below.
    let (e, i) = (email.clone(), ip.to_owned());
    if let Verdict::Throttled { until } = state.db(move |conn| throttle::reserve(conn, &e, &i, now)).await? {
        return Err(throttled(until, now));
    }
    let Ok(Ok(permit)) = tokio::time::timeout(WAIT_FOR_CHECK, Arc::clone(&CHECKS).acquire_owned()).await
    else {
        // Not checked, so not counted.
        let (e, i) = (email.clone(), ip.to_owned());
        state.db(move |conn| throttle::refund(conn, &e, &i, now)).await?;
        return Err(AppError::Busy(
            "The server is busy checking other log-ins. Try again in a moment.".to_owned(),
        ));
    };

    let e = email.clone();
    let row = state.db(move |conn| users::find_for_login(conn, &e)).await?;
    let password = password.to_owned();
    let stored = row.as_ref().map(|r| PasswordHashString::from_stored(r.password_hash.clone()));
    let (ok, rehash) = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        // One verification whether or not the email has an account: the answer's timing tells
        // nothing (the dummy hash costs what a real one does).
        let hash = stored.as_ref().or(dummy_hash().as_ref());
        let verified = hash.is_some_and(|h| password::verify_password(&password, h));
        let ok = stored.is_some() && verified;
        let rehash = if ok && stored.as_ref().is_some_and(password::needs_rehash) {
            password::hash_password(&password).ok()
        } else {
            None
        };
        (ok, rehash)
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "password verification task");
        AppError::Internal
    })?;

    let Some(row) = row.filter(|_| ok) else {
        return Err(AppError::invalid("credentials", BAD_CREDENTIALS));
    };
    let user_id = row.id;
    let ip = ip.to_owned();
    state
        .db(move |conn| {
            throttle::clear_account(conn, &email, &ip)?;
            if let Some(h) = rehash {
                users::update_password_hash(conn, user_id, h.as_str())?;
            }
            Ok(())
        })
        .await?;
    Ok(user_id)
}
