//! Argon2id password hashing at OWASP's floor (m = 19456 KiB, t = 2, p = 1). CPU-heavy:
//! async callers run these on the blocking pool.

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

/// A PHC-format argon2id hash. Deliberately not `Serialize`: it never leaves the server.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHashString(String);

impl std::fmt::Debug for PasswordHashString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHashString(…)")
    }
}

impl PasswordHashString {
    /// Wraps a hash read from the database.
    pub fn from_stored(hash: String) -> Self {
        Self(hash)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes a password with a fresh random salt.
/// Hashes on the blocking pool, for server functions: a failure is logged and answered as
/// `AppError::Internal`.
pub async fn hash_off_thread(password: String) -> Result<PasswordHashString, crate::error::AppError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|_| crate::error::AppError::Internal)?
        .map_err(|e| {
            tracing::error!(error = %e, "hashing");
            crate::error::AppError::Internal
        })
}

pub fn hash_password(password: &str) -> Result<PasswordHashString, HashError> {
    let hash: PasswordHash =
        Argon2::default().hash_password(password.as_bytes()).map_err(|e| HashError(e.to_string()))?;
    Ok(PasswordHashString(hash.to_string()))
}

/// Password verifications run by this process (the log-in tests check that an unknown email
/// costs one, like a known one).
static VERIFICATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many password verifications this process has run.
pub fn verifications() -> u64 {
    VERIFICATIONS.load(std::sync::atomic::Ordering::Relaxed)
}

/// True when `password` matches `hash`. A malformed stored hash never matches.
pub fn verify_password(password: &str, hash: &PasswordHashString) -> bool {
    VERIFICATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Argon2::default().verify_password(password.as_bytes(), hash.as_str()).is_ok()
}

/// True when `hash` is not argon2id at least as strong as the current parameters; such hashes
/// are replaced at the next successful log-in.
pub fn needs_rehash(hash: &PasswordHashString) -> bool {
    let Ok(parsed) = PasswordHash::new(hash.as_str()) else { return true };
    if parsed.algorithm.as_str() != "argon2id" {
        return true;
    }
    let current = argon2::Params::DEFAULT;
    let param = |name: &str| -> u32 { parsed.params.get_str(name).and_then(|v| v.parse().ok()).unwrap_or(0) };
    param("m") < current.m_cost() || param("t") < current.t_cost() || param("p") < current.p_cost()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let a = hash_password("sendback-demo").expect("hash");
        let b = hash_password("sendback-demo").expect("hash");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(a.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", a.as_str());
        assert!(verify_password("sendback-demo", &a));
        assert!(!verify_password("sendback-demo ", &a));
        assert!(!verify_password("sendback-demo", &PasswordHashString::from_stored("garbage".into())));
    }

    #[test]
    fn weak_hashes_need_rehashing() {
        let current = hash_password("pw").expect("hash");
        assert!(!needs_rehash(&current));
        let weak = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(4096, 1, 1, None).expect("params"),
        );
        let weak: PasswordHash = weak.hash_password(b"pw").expect("weak hash");
        let weak = PasswordHashString::from_stored(weak.to_string());
        assert!(verify_password("pw", &weak), "still verifies");
        assert!(needs_rehash(&weak));
        assert!(needs_rehash(&PasswordHashString::from_stored("$2b$12$bcrypt".into())));
    }

    #[test]
    fn debug_does_not_print_the_hash() {
        let h = hash_password("x").expect("hash");
        assert_eq!(format!("{h:?}"), "PasswordHashString(…)");
    }
}
