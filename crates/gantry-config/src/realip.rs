//! Client-address settings: `trusted_ips` and `real_ip_header`.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// The `trusted_ips` setting: peers whose forwarding headers are believed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TrustedIps {
    /// Trusted networks (single addresses are stored as /32 or /128).
    pub nets: Vec<IpNet>,
    /// `unix:` was listed: connections over Unix domain sockets are trusted.
    pub unix: bool,
}

impl TrustedIps {
    /// Parses the list entries. Kong's error: `trusted_ips must be a comma
    /// separated list in the form of IPv4 or IPv6 address or CIDR block or
    /// 'unix:', got '<entry>'`.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut out = TrustedIps::default();
        for entry in entries {
            let e = entry.trim();
            if e == "unix:" {
                out.unix = true;
                continue;
            }
            let net = if e.contains('/') {
                e.parse::<IpNet>().ok().map(|n| n.trunc())
            } else {
                e.parse::<IpAddr>().ok().map(IpNet::from)
            };
            match net {
                Some(n) => out.nets.push(n),
                None => {
                    return Err(format!(
                        "trusted_ips must be a comma separated list in the form of IPv4 or IPv6 address or CIDR block or 'unix:', got '{e}'"
                    ));
                }
            }
        }
        Ok(out)
    }

    /// True when `ip` is inside a trusted network. IPv4-mapped IPv6
    /// addresses (`::ffff:a.b.c.d`) are checked as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// True when nothing is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty() && !self.unix
    }
}

impl fmt::Display for TrustedIps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self.nets.iter().map(ToString::to_string).collect();
        if self.unix {
            parts.push("unix:".into());
        }
        if parts.is_empty() {
            f.write_str("NONE")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// Where the client address comes from for trusted peers (`real_ip_header`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RealIpHeader {
    /// A request header, e.g. `X-Real-IP` (default) or `X-Forwarded-For`.
    Header(String),
    /// `proxy_protocol`: the PROXY protocol header of a `proxy_protocol` listener.
    ProxyProtocol,
}

impl RealIpHeader {
    /// Parses the value: `proxy_protocol` or an HTTP header field name.
    pub fn parse(key: &str, value: &str) -> Result<Self, String> {
        let v = value.trim();
        if v == "proxy_protocol" {
            return Ok(RealIpHeader::ProxyProtocol);
        }
        let is_token = !v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if is_token {
            Ok(RealIpHeader::Header(v.to_owned()))
        } else {
            Err(format!(
                "{key} must be 'proxy_protocol' or a header name, got '{v}'"
            ))
        }
    }
}

impl Default for RealIpHeader {
    fn default() -> Self {
        RealIpHeader::Header("X-Real-IP".into())
    }
}

impl fmt::Display for RealIpHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RealIpHeader::Header(h) => f.write_str(h),
            RealIpHeader::ProxyProtocol => f.write_str("proxy_protocol"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<TrustedIps, String> {
        TrustedIps::parse(&crate::values::parse_list(s))
    }

    #[test]
    fn all_addresses() {
        let t = parse("0.0.0.0/0,::/0").unwrap();
        assert!(t.contains("1.2.3.4".parse().unwrap()));
        assert!(t.contains("2001:db8::1".parse().unwrap()));
        assert!(!t.unix);
        assert_eq!(t.to_string(), "0.0.0.0/0, ::/0");
    }

    #[test]
    fn cidrs_addresses_and_unix() {
        let t = parse("10.0.0.0/8, 192.168.1.7, ::1, 172.16.5.4/12, unix:").unwrap();
        assert!(t.unix);
        assert!(t.contains("10.200.1.1".parse().unwrap()));
        assert!(t.contains("192.168.1.7".parse().unwrap()));
        assert!(!t.contains("192.168.1.8".parse().unwrap()));
        assert!(t.contains("::1".parse().unwrap()));
        assert!(
            t.contains("172.31.0.1".parse().unwrap()),
            "host bits are truncated"
        );
        assert!(!t.contains("11.0.0.1".parse().unwrap()));
        // IPv4-mapped IPv6 peers are matched against IPv4 networks
        assert!(t.contains("::ffff:10.1.2.3".parse().unwrap()));
    }

    #[test]
    fn empty_and_errors() {
        let t = parse("").unwrap();
        assert!(t.is_empty());
        assert_eq!(t.to_string(), "NONE");
        assert!(!t.contains("127.0.0.1".parse().unwrap()));
        assert_eq!(
            parse("10.0.0.0/8, foo").unwrap_err(),
            "trusted_ips must be a comma separated list in the form of IPv4 or IPv6 address or CIDR block or 'unix:', got 'foo'"
        );
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "unix",
            "1.2.3.4/",
            "/8",
            "1.2.3.4.5",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn real_ip_header() {
        assert_eq!(
            RealIpHeader::parse("real_ip_header", "X-Forwarded-For").unwrap(),
            RealIpHeader::Header("X-Forwarded-For".into())
        );
        assert_eq!(
            RealIpHeader::parse("real_ip_header", "proxy_protocol").unwrap(),
            RealIpHeader::ProxyProtocol
        );
        assert_eq!(
            RealIpHeader::parse("real_ip_header", "X Bad").unwrap_err(),
            "real_ip_header must be 'proxy_protocol' or a header name, got 'X Bad'"
        );
        assert!(RealIpHeader::parse("real_ip_header", "").is_err());
        assert_eq!(RealIpHeader::default().to_string(), "X-Real-IP");
    }
}
