//! Checking credentials: throttling, constant-cost verification, re-hashing weak hashes.

use std::sync::OnceLock;

use crate::auth::password::{self, PasswordHashString};
use crate::auth::throttle::{self, Verdict};
use crate::db::users;
use crate::error::AppError;
use crate::state::AppState;

/// The one message for an unknown email and a wrong password alike.
pub const BAD_CREDENTIALS: &str = "That email and password do not match an account.";

/// Verified against when the email is unknown, so both cases cost one argon2 verification.
fn dummy_hash() -> &'static Option<PasswordHashString> {
    static DUMMY: OnceLock<Option<PasswordHashString>> = OnceLock::new();
    DUMMY.get_or_init(|| password::hash_password("not a real password, only spends time").ok())
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
    let now = state.clock.now();
    let (e, i) = (email.clone(), ip.to_owned());
    let verdict = state.db(move |conn| throttle::check(conn, &e, &i, now)).await?;
    if let Verdict::Throttled { until } = verdict {
        let minutes = (until - now).num_minutes().max(0) + 1;
        return Err(AppError::TooManyAttempts(format!(
            "Too many failed log-in attempts. Try again in {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        )));
    }

    let e = email.clone();
    let row = state.db(move |conn| users::find_for_login(conn, &e)).await?;
    let password = password.to_owned();
    let stored = row.as_ref().map(|r| PasswordHashString::from_stored(r.password_hash.clone()));
    let (ok, rehash) = tokio::task::spawn_blocking(move || {
        let hash = stored.as_ref().or(dummy_hash().as_ref());
        let ok = stored.is_some() && hash.is_some_and(|h| password::verify_password(&password, h));
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
        let (e, i) = (email, ip.to_owned());
        state.db(move |conn| throttle::record_failure(conn, &e, &i, now)).await?;
        return Err(AppError::invalid("credentials", BAD_CREDENTIALS));
    };
    let user_id = row.id;
    state
        .db(move |conn| {
            throttle::clear_account(conn, &email)?;
            if let Some(h) = rehash {
                users::update_password_hash(conn, user_id, h.as_str())?;
            }
            Ok(())
        })
        .await?;
    Ok(user_id)
}
