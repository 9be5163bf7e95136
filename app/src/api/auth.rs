//! Who a machine API request acts for: the API key in `Authorization: Bearer …` (or the form
//! field `key` on the Databowl-compatible path) names a client user, loaded afresh at each
//! request so a revoked permission or key stops it at once (docs/DOMAIN.md §7). Session cookies
//! count for nothing here. Each key has its own token bucket in this process: a key that sends
//! too fast is told when to come back (429 with `Retry-After`).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;

use super::error::{ApiError, ErrorCode};
use crate::auth::access::may_reject;
use crate::db::keys;
use crate::db::users::UserContext;
use crate::state::AppState;

/// How fast one API key may send requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// Requests a second, on average (taken as at least 1).
    pub per_second: u32,
    /// Requests at once after a quiet spell (taken as at least 1).
    pub burst: u32,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self { per_second: 20, burst: 100 }
    }
}

/// Buckets kept before those full again (keys quiet for a while) are dropped.
const MAX_BUCKETS: usize = 10_000;

/// A key's tokens as of `at`.
struct Bucket {
    tokens: f64,
    at: NaiveDateTime,
}

/// Every key's bucket in this process, by the key's hash.
struct Limiter {
    limits: ApiLimits,
    buckets: HashMap<String, Bucket>,
}

impl Limiter {
    fn rates(&self) -> (f64, f64) {
        (f64::from(self.limits.per_second.max(1)), f64::from(self.limits.burst.max(1)))
    }

    /// Takes one request from the key's bucket, or says how many whole seconds (at least 1)
    /// until one is there.
    fn take(&mut self, key_hash: &str, now: NaiveDateTime) -> Result<(), u64> {
        let (rate, burst) = self.rates();
        let filled = |b: &Bucket| (b.tokens + seconds(now - b.at) * rate).min(burst);
        if self.buckets.len() >= MAX_BUCKETS && !self.buckets.contains_key(key_hash) {
            self.buckets.retain(|_, b| filled(b) < burst);
        }
        let bucket = self.buckets.entry(key_hash.to_owned()).or_insert(Bucket { tokens: burst, at: now });
        bucket.tokens = filled(bucket);
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - bucket.tokens) / rate).ceil().max(1.0);
        // Whole seconds, at least 1: `(1 - tokens) / rate` is at most a second, so no truncation.
        Err(wait as u64)
    }
}

/// A time span in seconds; a clock moving back counts as none.
fn seconds(span: chrono::TimeDelta) -> f64 {
    span.num_microseconds().map_or(f64::MAX, |us| us.max(0) as f64 / 1e6)
}

static LIMITER: LazyLock<Mutex<Limiter>> =
    LazyLock::new(|| Mutex::new(Limiter { limits: ApiLimits::default(), buckets: HashMap::new() }));

fn limiter() -> std::sync::MutexGuard<'static, Limiter> {
    // The map stays consistent whatever panicked while holding it.
    LIMITER.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sets every key's limits (the server's configuration, or a test's), starting all buckets full.
pub fn set_api_limits(limits: ApiLimits) {
    let mut limiter = limiter();
    limiter.limits = limits;
    limiter.buckets.clear();
}

/// An API error: `{"result":"error","error":{"code":…,"message":…}}` with `status`. The code is
/// an [`ErrorCode`] (the document lists those).
pub fn error(status: StatusCode, code: impl AsRef<str>, message: &str) -> Response {
    (status, axum::Json(ApiError::new(code, message))).into_response()
}

/// The same answer for a key that is missing, malformed, unknown or revoked: nothing tells a
/// guesser which.
fn invalid_key() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidKey,
        "Send a valid API key as Authorization: Bearer <key>. The key is missing, unknown or revoked.",
    )
}

fn rate_limited(wait_seconds: u64) -> Response {
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::RateLimited,
        "Too many requests with this key. Wait for the time in Retry-After, then try again.",
    );
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait_seconds));
    response
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

/// The client user an API request acts for: from `form_key` when given (the form field `key`),
/// else `Authorization: Bearer`. Refusals are ready answers: 401 `INVALID_KEY`, 429
/// `RATE_LIMITED` (with `Retry-After`), 403 `FORBIDDEN` when the user no longer holds "Reject
/// Leads as a Client".
pub async fn api_user(
    state: &AppState,
    headers: &HeaderMap,
    form_key: Option<&str>,
) -> Result<UserContext, Response> {
    let presented =
        form_key.map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned).or_else(|| bearer(headers));
    let Some(key) = presented else { return Err(invalid_key()) };
    let now = state.clock.now();
    let caller = state.db(move |conn| keys::api_user(conn, &key, now)).await.map_err(|err| {
        tracing::error!(error = %err, "looking up an API key");
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "Something went wrong on our side. Try again in a moment.",
        )
    })?;
    let Some(caller) = caller else { return Err(invalid_key()) };
    limiter().take(&caller.key_hash, now).map_err(rate_limited)?;
    if may_reject(&caller.user).is_err() {
        return Err(error(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "This key's user no longer holds the permission Reject Leads as a Client.",
        ));
    }
    Ok(caller.user)
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn limiter(per_second: u32, burst: u32) -> Limiter {
        Limiter { limits: ApiLimits { per_second, burst }, buckets: HashMap::new() }
    }

    #[test]
    fn a_key_has_its_burst_then_waits_for_the_rate() {
        let mut l = limiter(2, 3);
        let t = chrono::DateTime::UNIX_EPOCH.naive_utc();
        for _ in 0..3 {
            assert_eq!(l.take("a", t), Ok(()));
        }
        assert_eq!(l.take("a", t), Err(1));
        // Another key has its own bucket.
        assert_eq!(l.take("b", t), Ok(()));
        // Half a second gives one request back at 2 a second.
        let later = t + TimeDelta::milliseconds(500);
        assert_eq!(l.take("a", later), Ok(()));
        assert_eq!(l.take("a", later), Err(1));
        // The bucket never holds more than the burst.
        let much_later = t + TimeDelta::hours(1);
        for _ in 0..3 {
            assert_eq!(l.take("a", much_later), Ok(()));
        }
        assert!(l.take("a", much_later).is_err());
    }

    #[test]
    fn the_wait_is_a_whole_second_at_least() {
        let mut l = limiter(1, 1);
        let t = chrono::DateTime::UNIX_EPOCH.naive_utc();
        assert_eq!(l.take("a", t), Ok(()));
        assert_eq!(l.take("a", t + TimeDelta::milliseconds(100)), Err(1));
    }

    #[test]
    fn the_defaults_are_20_a_second_with_bursts_of_100() {
        assert_eq!(ApiLimits::default(), ApiLimits { per_second: 20, burst: 100 });
    }
}
