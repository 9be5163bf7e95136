//! The address a request comes from, for the per-address log-in limit: the connection's peer,
//! unless that peer is a trusted reverse proxy, in which case `X-Forwarded-For` says who it
//! forwarded for. Only trusted peers are believed: anyone can send the header.

use std::net::IpAddr;

use ipnet::IpNet;

/// The client's address. `forwarded_for` holds the `X-Forwarded-For` headers in order (each a
/// comma-separated list, the nearest hop last). Walking back from the peer, each trusted proxy
/// hands over to the address it forwarded for; the first untrusted address is the client.
pub fn client_ip(peer: Option<IpAddr>, forwarded_for: &[&str], trusted: &[IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer?;
    if !is_trusted(&client) {
        return Some(client);
    }
    let hops: Vec<&str> = forwarded_for.iter().flat_map(|h| h.split(',')).map(str::trim).collect();
    for hop in hops.iter().rev() {
        // A malformed entry: stop at the last address we could trust.
        let Ok(ip) = hop.parse::<IpAddr>() else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Some(client)
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

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(client_ip(Some(ip("203.0.113.7")), &["198.51.100.1"], &trusted), Some(ip("203.0.113.7")));
        assert_eq!(client_ip(Some(ip("203.0.113.7")), &[], &[]), Some(ip("203.0.113.7")));
        assert_eq!(client_ip(None, &["198.51.100.1"], &trusted), None);
    }

    #[test]
    fn a_trusted_proxy_hands_over_to_the_address_it_forwarded_for() {
        let trusted = nets(&["10.0.0.0/8", "::1/128"]);
        assert_eq!(client_ip(Some(ip("10.1.2.3")), &["198.51.100.1"], &trusted), Some(ip("198.51.100.1")));
        // Two proxies: the client is the first address no trusted proxy vouches beyond.
        assert_eq!(
            client_ip(Some(ip("10.1.2.3")), &["203.0.113.9, 198.51.100.1, 10.9.9.9"], &trusted),
            Some(ip("198.51.100.1"))
        );
        // Several headers are one list.
        assert_eq!(
            client_ip(Some(ip("::1")), &["203.0.113.9", "198.51.100.1"], &trusted),
            Some(ip("198.51.100.1"))
        );
        // No header, or garbage: the proxy itself.
        assert_eq!(client_ip(Some(ip("10.1.2.3")), &[], &trusted), Some(ip("10.1.2.3")));
        assert_eq!(client_ip(Some(ip("10.1.2.3")), &["not an address"], &trusted), Some(ip("10.1.2.3")));
    }
}
