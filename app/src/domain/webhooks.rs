//! Lead-status webhooks (docs/DOMAIN.md §7): the retry schedule, endpoint filters as stored,
//! which addresses a delivery may never reach, and what the Webhooks page shows.

use std::net::{IpAddr, Ipv4Addr};

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::setup_view::Named;
use super::status::LeadStatus;

/// Waits before each retry after a failed attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
/// After the last retry fails the event is marked failed.
pub const RETRY_DELAYS_SECS: [i64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

/// Attempts an event gets in all: the first and one per retry.
pub const MAX_ATTEMPTS: i32 = 1 + RETRY_DELAYS_SECS.len() as i32;

/// How long a delivery waits for the receiver's answer.
pub const REQUEST_TIMEOUT_SECS: u64 = 10;

/// How much of a receiver's answer is read (and kept, as text, on a failed attempt).
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024;

/// How long the old secret keeps signing after a rotation.
pub const ROTATION_OVERLAP_HOURS: i64 = 24;

/// The statuses a new endpoint is for when none are chosen.
pub const DEFAULT_STATUSES: [LeadStatus; 1] = [LeadStatus::ClientRejected];

/// The wait, in milliseconds, before the next attempt after `attempts` failed ones, or `None`
/// when none is left. `jitter` in [0, 1) spreads retries by up to ±10% so that events that
/// failed together (a receiver down) do not all come back at once.
pub fn retry_delay_ms(attempts: i32, jitter: f64) -> Option<i64> {
    let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
    let base = *RETRY_DELAYS_SECS.get(index)? * 1000;
    let spread = (jitter.clamp(0.0, 1.0) * 0.2 - 0.1) * base as f64;
    Some(base + spread.round() as i64)
}

/// A filter list as stored: `",a,b,"` (one `LIKE '%,x,%'` matches it in SQL); empty = any.
pub fn encode_filter<T: ToString>(items: &[T]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let mut out = String::from(",");
    for item in items {
        out.push_str(&item.to_string());
        out.push(',');
    }
    out
}

/// The items of a stored filter list.
pub fn decode_filter(stored: &str) -> Vec<&str> {
    stored.split(',').filter(|s| !s.is_empty()).collect()
}

/// Addresses a webhook may not be sent to unless the server allows private ones: loopback,
/// private, link-local (cloud metadata services live at 169.254.169.254), unspecified,
/// shared (carrier-grade NAT), benchmarking, documentation, multicast and reserved ranges, and
/// their IPv6 counterparts (unique local, link-local, IPv4-mapped forms of the above).
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            // IPv4-mapped (::ffff:a.b.c.d) and the deprecated IPv4-compatible (::a.b.c.d) forms.
            if let Some(v4) = v6.to_ipv4() {
                return forbidden_v4(v4);
            }
            let seg = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (seg[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (seg[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
                || (seg[0] == 0x64 && seg[1] == 0xff9b) // NAT64 64:ff9b::/96 can reach IPv4 inside
                || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
                || seg[0] == 0x2002 // 6to4: carries an IPv4 address
                || (seg[0] == 0x2001 && seg[1] == 0) // Teredo: carries an IPv4 address
                || (seg[0] == 0x0100 && seg[1..4] == [0, 0, 0]) // discard 100::/64
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space 100.64.0.0/10
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18.0.0/15
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || a >= 240 // reserved
}

/// An endpoint as the Webhooks page lists it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointView {
    pub id: i64,
    pub url: String,
    pub description: String,
    pub statuses: Vec<LeadStatus>,
    /// Empty: every campaign.
    pub campaigns: Vec<Named>,
    /// Empty: every supplier.
    pub suppliers: Vec<Named>,
    pub enabled: bool,
    /// Why the server disabled it (a 410 Gone answer).
    pub disabled_reason: Option<String>,
    /// Until when the secret replaced by the last rotation still signs too.
    pub previous_secret_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub pending: i64,
    pub failed: i64,
    pub delivered: i64,
}

/// One event of an endpoint (or of a lead) as a page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub event_id: i64,
    pub endpoint_id: i64,
    pub endpoint_url: String,
    pub lead_id: i64,
    pub previous_status: Option<LeadStatus>,
    pub status: LeadStatus,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_latency_ms: Option<i32>,
    pub last_error: Option<String>,
    /// Pending only: when the next attempt is due.
    pub next_attempt_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// What the Webhooks page shows: the endpoints and, per endpoint, its recent deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhooksPage {
    pub endpoints: Vec<EndpointView>,
    pub recent: Vec<DeliveryView>,
    /// For the form's filters.
    pub campaigns: Vec<Named>,
    pub suppliers: Vec<Named>,
}

/// A new endpoint (or a rotation): its id and the secret, shown once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedEndpoint {
    pub id: i64,
    pub secret: String,
}

/// Never prints the secret (a logged value must not hand it out).
impl std::fmt::Debug for CreatedEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedEndpoint").field("id", &self.id).field("secret", &"whsec_…").finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_schedule_then_stop() {
        assert_eq!(retry_delay_ms(1, 0.5), Some(5_000));
        assert_eq!(retry_delay_ms(2, 0.5), Some(300_000));
        assert_eq!(retry_delay_ms(7, 0.5), Some(36_000_000));
        assert_eq!(retry_delay_ms(8, 0.5), None);
        assert_eq!(retry_delay_ms(0, 0.5), None);
        assert_eq!(MAX_ATTEMPTS, 8);
    }

    #[test]
    fn jitter_spreads_by_at_most_ten_percent() {
        assert_eq!(retry_delay_ms(1, 0.0), Some(4_500));
        assert_eq!(retry_delay_ms(1, 0.999_999), Some(5_500));
        assert_eq!(retry_delay_ms(4, 0.25), Some(7_200_000 - 360_000));
    }

    #[test]
    fn filters_round_trip_and_empty_means_any() {
        assert_eq!(encode_filter(&["client_rejected", "accepted"]), ",client_rejected,accepted,");
        assert_eq!(encode_filter::<i64>(&[]), "");
        assert_eq!(decode_filter(",3,14,"), vec!["3", "14"]);
        assert!(decode_filter("").is_empty());
    }

    #[test]
    fn private_and_metadata_addresses_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378::1",
            "100::1",
        ] {
            assert!(is_forbidden_ip(ip.parse().unwrap()), "{ip} should be forbidden");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(!is_forbidden_ip(ip.parse().unwrap()), "{ip} should be allowed");
        }
    }
}
