//! Which IP a request comes from: the socket peer, or a forwarded address only when the
//! peer is a configured trusted proxy (never trust `X-Forwarded-For` otherwise).

use std::net::IpAddr;

/// Trusted proxy configuration.
#[derive(Debug, Clone, Default)]
pub struct ProxyConfig {
    /// Peers whose forwarding header is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// The header they set (lower-case), e.g. `x-forwarded-for`.
    pub header: String,
}

impl ProxyConfig {
    /// The client IP: when `peer` is trusted, the right-most address in the header that
    /// is not itself a trusted proxy (the left-most ones are client-controlled).
    pub fn client_ip(&self, peer: IpAddr, header_value: Option<&str>) -> IpAddr {
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let Some(v) = header_value else { return peer };
        for part in v.rsplit(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) if self.trusted_proxies.contains(&ip) => continue,
                Ok(ip) => return ip,
                Err(_) => return peer,
            }
        }
        peer
    }
}

/// The network prefix shown in session lists and security events: /24 for IPv4, /48
/// for IPv6. Full addresses are personal data and not needed for either.
pub fn ip_prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return ip_prefix(IpAddr::V4(v4));
            }
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn forwarded_header_only_from_trusted_peer() {
        let cfg = ProxyConfig {
            trusted_proxies: vec!["10.0.0.1".parse().unwrap()],
            header: "x-forwarded-for".into(),
        };
        let peer: IpAddr = "127.0.0.9".parse().unwrap();
        assert_eq!(cfg.client_ip(peer, Some("1.2.3.4")), peer);
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            cfg.client_ip(proxy, Some("6.6.6.6, 1.2.3.4")),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(cfg.client_ip(proxy, Some("garbage")), proxy);
        assert_eq!(cfg.client_ip(proxy, None), proxy);
    }

    #[test]
    fn prefixes() {
        assert_eq!(ip_prefix("192.168.7.9".parse().unwrap()), "192.168.7.0/24");
        assert_eq!(
            ip_prefix("2001:db8:1:2::5".parse().unwrap()),
            "2001:db8:1::/48"
        );
    }
}
