//! The address a request comes from, for the per-address log-in limit: the connection's peer,
//! unless that peer is a trusted reverse proxy, in which case `X-Forwarded-For` says who it
//! forwarded for. Only trusted peers are believed: anyone can send the header.
//!
//! The result is a key: IPv4 addresses as they are, IPv6 addresses by their /64 (one subscriber
//! usually holds a whole /64, and could otherwise take a new address per attempt), IPv4-mapped
//! IPv6 addresses as IPv4.

use std::net::{IpAddr, SocketAddr};

use ipnet::{IpNet, Ipv6Net};

/// One hop of `X-Forwarded-For` as proxies write it: an address, perhaps with a port, brackets
/// or an IPv6 zone.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = hop.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    let bare = hop.trim_start_matches('[').split(']').next().unwrap_or_default();
    bare.split('%').next().unwrap_or_default().parse().ok()
}

/// The key the per-address limit counts under.
pub fn address_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => Ipv6Net::new(v6, 64).map_or_else(|_| v6.to_string(), |net| net.trunc().to_string()),
    }
}

/// The client's key. `forwarded_for` holds the `X-Forwarded-For` headers in order (each a
/// comma-separated list, the nearest hop last). Walking back from the peer, each trusted proxy
/// hands over to the address it forwarded for; the first untrusted address is the client. A hop
/// that cannot be read is the client as written (never the proxy's own address, which everyone
/// behind it shares).
pub fn client_key(peer: Option<IpAddr>, forwarded_for: &[String], trusted: &[IpNet]) -> Option<String> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer?.to_canonical();
    if !is_trusted(&client) {
        return Some(address_key(client));
    }
    let hops: Vec<&str> = forwarded_for.iter().flat_map(|h| h.split(',')).map(str::trim).collect();
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            let raw: String = hop.chars().filter(|c| !c.is_control()).take(64).collect();
            return Some(format!("unreadable:{raw}"));
        };
        client = ip.to_canonical();
        if !is_trusted(&client) {
            break;
        }
    }
    Some(address_key(client))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().expect("cidr")).collect()
    }

    fn key(peer: &str, headers: &[&str], trusted: &[IpNet]) -> Option<String> {
        let headers: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
        client_key(Some(ip(peer)), &headers, trusted)
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(key("203.0.113.7", &["198.51.100.1"], &trusted).as_deref(), Some("203.0.113.7"));
        assert_eq!(key("203.0.113.7", &[], &[]).as_deref(), Some("203.0.113.7"));
        assert_eq!(client_key(None, &["198.51.100.1".to_owned()], &trusted), None);
    }

    #[test]
    fn a_trusted_proxy_hands_over_to_the_address_it_forwarded_for() {
        let trusted = nets(&["10.0.0.0/8", "::1/128"]);
        assert_eq!(key("10.1.2.3", &["198.51.100.1"], &trusted).as_deref(), Some("198.51.100.1"));
        // Two proxies: the client is the first address no trusted proxy vouches beyond.
        assert_eq!(
            key("10.1.2.3", &["203.0.113.9, 198.51.100.1, 10.9.9.9"], &trusted).as_deref(),
            Some("198.51.100.1")
        );
        // Several headers are one list.
        assert_eq!(key("::1", &["203.0.113.9", "198.51.100.1"], &trusted).as_deref(), Some("198.51.100.1"));
        // Ports, brackets and zones as proxies write them.
        assert_eq!(key("10.1.2.3", &["198.51.100.1:5123"], &trusted).as_deref(), Some("198.51.100.1"));
        assert_eq!(key("10.1.2.3", &["[2001:db8::1]:443"], &trusted).as_deref(), Some("2001:db8::/64"));
        assert_eq!(key("10.1.2.3", &["fe80::1%eth0"], &trusted).as_deref(), Some("fe80::/64"));
        // No header: the proxy itself (a request it made on its own).
        assert_eq!(key("10.1.2.3", &[], &trusted).as_deref(), Some("10.1.2.3"));
    }

    #[test]
    fn an_unreadable_hop_is_its_own_client_not_the_proxy() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            key("10.1.2.3", &["not an address"], &trusted).as_deref(),
            Some("unreadable:not an address")
        );
        assert_ne!(key("10.1.2.3", &["\u{fffd}"], &trusted).as_deref(), Some("10.1.2.3"));
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(address_key(ip("2001:db8:1:2:aaaa::1")), address_key(ip("2001:db8:1:2:bbbb::9")));
        assert_ne!(address_key(ip("2001:db8:1:2::1")), address_key(ip("2001:db8:1:3::1")));
        assert_eq!(address_key(ip("::ffff:10.0.0.5")), "10.0.0.5");
        // A proxy seen through an IPv4-mapped address is still the trusted proxy.
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(key("::ffff:10.0.0.5", &["198.51.100.1"], &trusted).as_deref(), Some("198.51.100.1"));
    }
}
