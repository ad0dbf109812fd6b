//! Kong's address parsing (`kong/tools/ip.lua`): `normalize_ip`, hostname checks.

/// Kind of address found by [`normalize_ip`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// Dotted IPv4.
    Ipv4,
    /// IPv6 (fully expanded in [`NormalizedHost::host`]).
    Ipv6,
    /// A hostname (not normalized).
    Name,
}

/// Result of [`normalize_ip`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedHost {
    /// Address kind.
    pub kind: HostKind,
    /// Normalized address or the name as given.
    pub host: String,
    /// Port, if one was given.
    pub port: Option<u32>,
}

/// `hostname_type`: by exclusion, not validation.
pub fn hostname_type(name: &str) -> HostKind {
    let colons = name.bytes().filter(|b| *b == b':').count();
    if colons > 1 {
        return HostKind::Ipv6;
    }
    let rest: Vec<u8> = name.bytes().filter(|b| *b != b':').collect();
    if !rest.is_empty() && rest.iter().all(|b| b.is_ascii_digit() || *b == b'.') {
        return HostKind::Ipv4;
    }
    HostKind::Name
}

fn parse_port(digits: &str) -> Result<u32, String> {
    // Lua tonumber() of a long digit string never overflows into an error; anything
    // above 65535 is "invalid port number".
    match digits.parse::<u64>() {
        Ok(p) if p <= 65535 => Ok(p as u32),
        _ => Err("invalid port number".into()),
    }
}

fn octet(s: &str) -> Option<u8> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().and_then(|v| u8::try_from(v).ok())
}

/// `normalize_ipv4`: `a.b.c.d[:port]`, octets 1–3 digits ≤ 255.
pub fn normalize_ipv4(address: &str) -> Result<(String, Option<u32>), String> {
    let invalid = || format!("invalid ipv4 address: {address}");
    let (addr, port) = match address.split_once(':') {
        Some((a, p)) => {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            (a, Some(p))
        }
        None => (address, None),
    };
    let parts: Vec<&str> = addr.split('.').collect();
    if parts.len() != 4 {
        return Err(invalid());
    }
    let mut out = Vec::with_capacity(4);
    for p in parts {
        out.push(octet(p).ok_or_else(invalid)?.to_string());
    }
    let port = port.map(parse_port).transpose()?;
    Ok((out.join("."), port))
}

/// `normalize_ipv6`: `ipv6`, `[ipv6]` or `[ipv6]:port`; output fully expanded, lowercase.
pub fn normalize_ipv6(address: &str) -> Result<(String, Option<u32>), String> {
    let (check, port) = if let Some(rest) = address.strip_prefix('[') {
        let Some(close) = rest.find(']') else {
            return Err(format!("invalid ipv6 address: {address}"));
        };
        let inner = rest.get(..close).unwrap_or_default();
        let tail = rest.get(close + 1..).unwrap_or_default();
        let port = if tail.is_empty() {
            None
        } else {
            match tail.strip_prefix(':') {
                Some(d) if !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) => {
                    Some(parse_port(d)?)
                }
                _ => return Err("invalid ipv6 address".into()),
            }
        };
        (inner.to_string(), port)
    } else {
        (address.to_string(), None)
    };
    let mut check = check;
    if check.starts_with(':') {
        check.insert(0, '0');
    }
    if check.ends_with(':') {
        check.push('0');
    }
    if check.contains("::") {
        let count = check.bytes().filter(|b| *b == b':').count();
        let ins = format!(":{}", "0:".repeat(8usize.saturating_sub(count)));
        check = check.replacen("::", &ins, 1);
    }
    let groups: Vec<&str> = check.split(':').collect();
    let valid = groups.len() == 8
        && groups
            .iter()
            .all(|g| !g.is_empty() && g.len() <= 4 && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if !valid {
        return Err(format!("invalid ipv6 address: {address}"));
    }
    let expanded = groups
        .iter()
        .map(|g| format!("{:0>4}", g.to_ascii_lowercase()))
        .collect::<Vec<_>>()
        .join(":");
    Ok((expanded, port))
}

/// `check_hostname`: `name[:port]`, characters `[0-9A-Za-z-._]`, no label
/// ending in `-`, no empty label except a trailing one (FQDN dot).
pub fn check_hostname(address: &str) -> Result<(String, Option<u32>), String> {
    let mut name = address;
    let mut port = None;
    if let Some(idx) = address.rfind(':') {
        let digits = address.get(idx + 1..).unwrap_or_default();
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            port = Some(parse_port(digits)?);
            name = address.get(..idx).unwrap_or_default();
        }
    }
    let invalid = || format!("invalid hostname: {address}");
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err(invalid());
    }
    let labels: Vec<&str> = name.split('.').collect();
    let last = labels.len();
    for (i, label) in labels.iter().enumerate() {
        if label.ends_with('-') || (label.is_empty() && i + 1 != last) {
            return Err(invalid());
        }
    }
    Ok((name.to_string(), port))
}

/// Kong's `normalize_ip`: verifies and normalizes `ipv4[:port]`, `ipv6`,
/// `[ipv6]:port`, `name[:port]`.
pub fn normalize_ip(address: &str) -> Result<NormalizedHost, String> {
    let kind = hostname_type(address);
    let (host, port) = match kind {
        HostKind::Ipv4 => normalize_ipv4(address)?,
        HostKind::Ipv6 => normalize_ipv6(address)?,
        HostKind::Name => check_hostname(address)?,
    };
    Ok(NormalizedHost { kind, host, port })
}

/// `format_host`: `host[:port]`, IPv6 in brackets, `default_port` when none.
pub fn format_host(h: &NormalizedHost, default_port: Option<u32>) -> String {
    let port = h.port.or(default_port);
    let host = if h.kind == HostKind::Ipv6 {
        format!("[{}]", h.host)
    } else {
        h.host.clone()
    };
    match port {
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}

/// A literal IPv4/IPv6 address or CIDR (`is_valid_ip_or_cidr`).
pub fn is_ip_or_cidr(s: &str) -> bool {
    if s.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    // the slash is searched from the 3rd character on, as Kong does
    let Some(slash) = s.get(2..).and_then(|t| t.find('/')).map(|i| i + 2) else {
        return false;
    };
    let (ip, prefix) = (
        s.get(..slash).unwrap_or_default(),
        s.get(slash + 1..).unwrap_or_default(),
    );
    let canonical = |max: u8| {
        prefix
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max && p.to_string() == prefix)
    };
    if ip.parse::<std::net::Ipv4Addr>().is_ok() {
        return canonical(32).is_some();
    }
    if ip.parse::<std::net::Ipv6Addr>().is_ok() {
        return canonical(128).is_some();
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_with_and_without_port() {
        let h = normalize_ip("001.002.003.004:123").unwrap();
        assert_eq!(
            (h.kind, h.host.as_str(), h.port),
            (HostKind::Ipv4, "1.2.3.4", Some(123))
        );
        assert_eq!(
            normalize_ip("1.2.3").unwrap_err(),
            "invalid ipv4 address: 1.2.3"
        );
        assert_eq!(
            normalize_ip("1.2.3.4:70000").unwrap_err(),
            "invalid port number"
        );
    }

    #[test]
    fn ipv6_forms() {
        let h = normalize_ip("::1").unwrap();
        assert_eq!(h.host, "0000:0000:0000:0000:0000:0000:0000:0001");
        let h = normalize_ip("[::1]:80").unwrap();
        assert_eq!(h.port, Some(80));
        assert!(normalize_ip("gg::1").is_err());
        assert_eq!(
            format_host(&normalize_ip("::1").unwrap(), Some(8000)),
            "[0000:0000:0000:0000:0000:0000:0000:0001]:8000"
        );
    }

    #[test]
    fn hostnames() {
        assert!(normalize_ip("example.com").is_ok());
        assert!(normalize_ip("example.com.").is_ok());
        assert_eq!(normalize_ip("example.com:8080").unwrap().port, Some(8080));
        assert_eq!(
            normalize_ip("ex ample").unwrap_err(),
            "invalid hostname: ex ample"
        );
        assert!(normalize_ip("a-.b").is_err());
        assert!(normalize_ip("a..b").is_err());
        assert!(normalize_ip(".a").is_err());
    }

    #[test]
    fn cidrs() {
        assert!(is_ip_or_cidr("10.0.0.0/8"));
        assert!(is_ip_or_cidr("::1"));
        assert!(is_ip_or_cidr("2001:db8::/32"));
        assert!(!is_ip_or_cidr("10.0.0.0/33"));
        assert!(!is_ip_or_cidr("10.0.0.0/08"));
        assert!(!is_ip_or_cidr("example.com"));
    }
}
