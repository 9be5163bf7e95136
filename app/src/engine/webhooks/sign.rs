//! Standard Webhooks (v1) signatures: `v1,` and the base64 HMAC-SHA256, keyed with the
//! secret's bytes, of `"{webhook-id}.{webhook-timestamp}.{body}"`. Several secrets (during a
//! rotation) give several signatures, separated by spaces, in one `webhook-signature` header.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The key bytes of a `whsec_…` secret.
fn key_of(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix("whsec_").unwrap_or(secret)).ok()
}

/// One `v1,…` signature of a message with one secret; `None` for a secret that is not base64.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = key_of(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// The `webhook-signature` header: one signature per secret, space-separated.
pub fn header(secrets: &[String], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets.iter().filter_map(|s| sign(s, msg_id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// Whether `header` holds a valid signature of the message with `secret` (what a receiver
/// does; the tests use it). Compared in constant time.
pub fn verify(secret: &str, msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let Some(key) = key_of(secret) else { return false };
    header.split(' ').filter_map(|s| s.strip_prefix("v1,")).any(|sig| {
        let Ok(expected) = STANDARD.decode(sig) else { return false };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else { return false };
        mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
        mac.update(body);
        mac.verify_slice(&expected).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks specification's reference libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn signs_the_reference_example() {
        assert_eq!(
            sign(SECRET, ID, TS, BODY).as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn verifies_any_of_several_signatures_and_nothing_altered() {
        let other = "whsec_".to_owned() + &STANDARD.encode([7_u8; 32]);
        let h = header(&[other.clone(), SECRET.to_owned()], ID, TS, BODY);
        assert_eq!(h.split(' ').count(), 2);
        assert!(verify(SECRET, ID, TS, BODY, &h));
        assert!(verify(&other, ID, TS, BODY, &h));
        assert!(!verify(SECRET, ID, TS + 1, BODY, &h));
        assert!(!verify(SECRET, "msg_other", TS, BODY, &h));
        assert!(!verify(SECRET, ID, TS, br#"{"test": 2432232315}"#, &h));
        assert!(sign("whsec_not base64!", ID, TS, BODY).is_none());
    }
}
