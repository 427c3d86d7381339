//! Who the client is, for rate limits: the socket's peer address, unless that peer is a trusted
//! proxy (`TRUSTED_PROXIES`); then `X-Forwarded-For` is walked from the right, skipping trusted
//! proxies, and the first other address is the client. A spoofed header from an untrusted peer
//! changes nothing.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// `10.0.0.1, 192.168.0.0/16, ::1`.
    pub fn parse(list: &str) -> Option<Self> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<IpNet>().ok().or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from)))
            .collect::<Option<Vec<_>>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address, given the peer and the `X-Forwarded-For` values (in order).
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_for.iter().flat_map(|v| v.split(',')).map(str::trim).collect::<Vec<_>>();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else { break };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, with or without a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`, `[2001:db8::1]`). A bare IPv6 address is never split at a colon.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let ip = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse::<Ipv6Addr>().ok().map(IpAddr::V6))?;
    Some(ip.to_canonical())
}

/// The rate-limit key for an address: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its /64, since
/// one client usually holds a whole /64.
pub fn limit_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_ignores_forwarded_for() {
        let t = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(t.client_ip(ip("203.0.113.9"), &["1.2.3.4"]), ip("203.0.113.9"));
    }

    #[test]
    fn trusted_peer_walks_from_the_right() {
        let t = TrustedProxies::parse("10.0.0.0/8, 192.168.1.1").unwrap();
        assert_eq!(t.client_ip(ip("10.0.0.2"), &["1.1.1.1, 203.0.113.7, 192.168.1.1"]), ip("203.0.113.7"));
        assert_eq!(t.client_ip(ip("10.0.0.2"), &["1.1.1.1", "203.0.113.7"]), ip("203.0.113.7"));
        assert_eq!(t.client_ip(ip("10.0.0.2"), &[]), ip("10.0.0.2"));
        assert_eq!(t.client_ip(ip("::ffff:10.0.0.2"), &["198.51.100.1"]), ip("198.51.100.1"));
        assert!(TrustedProxies::parse("not-an-ip").is_none());
    }

    #[test]
    fn forwarded_entries_with_ports() {
        assert_eq!(parse_hop("1.2.3.4:5678"), Some(ip("1.2.3.4")));
        assert_eq!(parse_hop("[2001:db8::1]:443"), Some(ip("2001:db8::1")));
        assert_eq!(parse_hop("[2001:db8::1]"), Some(ip("2001:db8::1")));
        assert_eq!(parse_hop("2001:db8::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_hop("2001:db8::1:443"), Some(ip("2001:db8::1:443")), "an address, not a port");
        assert_eq!(parse_hop("::ffff:1.2.3.4"), Some(ip("1.2.3.4")));
        assert_eq!(parse_hop("[::ffff:1.2.3.4]:80"), Some(ip("1.2.3.4")));
        for bad in ["", "unknown", "1.2.3.4:", "1.2.3.4:99999", "[1.2.3.4]:80", "2001:db8::1:443]", "[::1"] {
            assert_eq!(parse_hop(bad), None, "{bad:?}");
        }
        let t = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(t.client_ip(ip("10.0.0.2"), &["203.0.113.7:5678, 10.0.0.3:80"]), ip("203.0.113.7"));
        assert_eq!(t.client_ip(ip("10.0.0.2"), &["[2001:db8::7]:443"]), ip("2001:db8::7"));
    }

    #[test]
    fn keys() {
        assert_eq!(limit_key(ip("::ffff:1.2.3.4")), "1.2.3.4");
        assert_eq!(limit_key(ip("2001:db8:1:2:3:4:5:6")), limit_key(ip("2001:db8:1:2:ffff::1")));
        assert_ne!(limit_key(ip("2001:db8:1:2::1")), limit_key(ip("2001:db8:1:3::1")));
    }
}
