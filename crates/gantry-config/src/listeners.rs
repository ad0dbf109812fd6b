//! Kong's `*_listen` syntax: `addr:port [flags...], ...` or `off`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::values;

/// Kong's usage text for HTTP listeners (after the key name).
pub const LISTEN_USAGE: &str = "must be of form: [off] | <ip>:<port> [ssl] [http2] [proxy_protocol] [deferred] [bind] [reuseport] [backlog=%d+] [ipv6only=on] [ipv6only=off] [so_keepalive=on] [so_keepalive=off] [so_keepalive=%w*:%w*:%d*], [... next entry ...]";

/// The host part of a listener.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListenHost {
    /// A literal IPv4 or IPv6 address.
    Ip(IpAddr),
    /// `*`: every IPv4 address (nginx semantics; same as `0.0.0.0`).
    Wildcard,
    /// A host name, to be resolved when binding (nginx resolves at startup).
    Name(String),
}

impl fmt::Display for ListenHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenHost::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            ListenHost::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            ListenHost::Wildcard => f.write_str("*"),
            ListenHost::Name(name) => f.write_str(name),
        }
    }
}

/// The `so_keepalive=` listener flag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SoKeepalive {
    /// `so_keepalive=on`: enable TCP keepalive with system defaults.
    On,
    /// `so_keepalive=off`: disable TCP keepalive.
    Off,
    /// `so_keepalive=[idle]:[interval]:[count]`, e.g. `30m::10`. Idle and
    /// interval keep their nginx time syntax (`30`, `30s`, `1m`); empty parts
    /// mean "system default".
    Custom {
        /// TCP_KEEPIDLE (nginx time string).
        idle: Option<String>,
        /// TCP_KEEPINTVL (nginx time string).
        interval: Option<String>,
        /// TCP_KEEPCNT.
        count: Option<u32>,
    },
}

impl fmt::Display for SoKeepalive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SoKeepalive::On => f.write_str("on"),
            SoKeepalive::Off => f.write_str("off"),
            SoKeepalive::Custom {
                idle,
                interval,
                count,
            } => {
                let count = count.map(|c| c.to_string());
                write!(
                    f,
                    "{}:{}:{}",
                    idle.as_deref().unwrap_or(""),
                    interval.as_deref().unwrap_or(""),
                    count.as_deref().unwrap_or("")
                )
            }
        }
    }
}

/// One listening address with its flags.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Listener {
    /// Address to bind.
    pub host: ListenHost,
    /// Port (0 = let the OS choose).
    pub port: u16,
    /// `ssl`: terminate TLS.
    pub ssl: bool,
    /// `http2`: accept HTTP/2 (with `ssl`: via ALPN; without: prior knowledge).
    pub http2: bool,
    /// `proxy_protocol`: expect a PROXY protocol header.
    pub proxy_protocol: bool,
    /// `deferred`: TCP_DEFER_ACCEPT.
    pub deferred: bool,
    /// `bind`: bind this address separately.
    pub bind: bool,
    /// `reuseport`: SO_REUSEPORT (one socket per worker).
    pub reuseport: bool,
    /// `backlog=N`: listen backlog.
    pub backlog: Option<u32>,
    /// `ipv6only=on|off`: IPV6_V6ONLY for IPv6 addresses.
    pub ipv6only: Option<bool>,
    /// `so_keepalive=...`: TCP keepalive.
    pub so_keepalive: Option<SoKeepalive>,
}

impl Listener {
    /// A plain listener on `host:port` with no flags.
    pub fn new(host: ListenHost, port: u16) -> Self {
        Listener {
            host,
            port,
            ssl: false,
            http2: false,
            proxy_protocol: false,
            deferred: false,
            bind: false,
            reuseport: false,
            backlog: None,
            ipv6only: None,
            so_keepalive: None,
        }
    }

    /// The socket address to bind, when the host is an IP or `*` (`None` for
    /// host names, which the caller must resolve).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match &self.host {
            ListenHost::Ip(ip) => Some(SocketAddr::new(*ip, self.port)),
            ListenHost::Wildcard => Some(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                self.port,
            )),
            ListenHost::Name(_) => None,
        }
    }

    /// `host:port` (IPv6 in brackets), e.g. `[::1]:8000`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Kong's normalized listener string: address then flags in Kong's order,
/// e.g. `0.0.0.0:8443 http2 ssl reuseport backlog=16384` becomes
/// `0.0.0.0:8443 ssl http2 reuseport backlog=16384`.
impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.address())?;
        let flags = [
            (self.ssl, "ssl"),
            (self.http2, "http2"),
            (self.proxy_protocol, "proxy_protocol"),
            (self.deferred, "deferred"),
            (self.bind, "bind"),
            (self.reuseport, "reuseport"),
        ];
        for (on, name) in flags {
            if on {
                write!(f, " {name}")?;
            }
        }
        if let Some(b) = self.backlog {
            write!(f, " backlog={b}")?;
        }
        if let Some(v6) = self.ipv6only {
            write!(f, " ipv6only={}", if v6 { "on" } else { "off" })?;
        }
        if let Some(k) = &self.so_keepalive {
            write!(f, " so_keepalive={k}")?;
        }
        Ok(())
    }
}

/// Parses a `*_listen` value. `off` (as the first entry) yields no listeners;
/// an empty value is an error, as in Kong.
pub fn parse_listeners(key: &str, value: &str) -> Result<Vec<Listener>, String> {
    let entries = values::parse_list(value);
    let usage = |entry: &str| format!("{key} {LISTEN_USAGE}; invalid entry: '{entry}'");
    match entries.first() {
        None => return Err(format!("{key} {LISTEN_USAGE}")),
        Some(first) if first == "off" => return Ok(Vec::new()),
        Some(_) => {}
    }
    entries
        .iter()
        .map(|entry| parse_entry(entry).ok_or_else(|| usage(entry)))
        .collect()
}

/// Parses one `addr:port flag flag...` entry; flags may appear anywhere.
fn parse_entry(entry: &str) -> Option<Listener> {
    let mut listener = Listener::new(ListenHost::Wildcard, 0);
    let mut address: Option<&str> = None;
    for token in entry.split_whitespace() {
        if !apply_flag(&mut listener, token) {
            if address.is_some() {
                return None; // two non-flag tokens: unknown flag or junk
            }
            address = Some(token);
        }
    }
    let (host, port) = parse_address(address?)?;
    listener.host = host;
    listener.port = port;
    Some(listener)
}

/// Applies `token` if it is a known flag; returns false otherwise.
fn apply_flag(l: &mut Listener, token: &str) -> bool {
    match token {
        "ssl" => l.ssl = true,
        "http2" => l.http2 = true,
        "proxy_protocol" => l.proxy_protocol = true,
        "deferred" => l.deferred = true,
        "bind" => l.bind = true,
        "reuseport" => l.reuseport = true,
        "ipv6only=on" => l.ipv6only = Some(true),
        "ipv6only=off" => l.ipv6only = Some(false),
        "so_keepalive=on" => l.so_keepalive = Some(SoKeepalive::On),
        "so_keepalive=off" => l.so_keepalive = Some(SoKeepalive::Off),
        _ => {
            if let Some(n) = token.strip_prefix("backlog=") {
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return false;
                }
                match n.parse::<u32>() {
                    Ok(n) => l.backlog = Some(n),
                    Err(_) => return false,
                }
            } else if let Some(spec) = token.strip_prefix("so_keepalive=") {
                match parse_keepalive(spec) {
                    Some(k) => l.so_keepalive = Some(k),
                    None => return false,
                }
            } else {
                return false;
            }
        }
    }
    true
}

/// `[idle]:[interval]:[count]` with alphanumeric idle/interval and digit count.
fn parse_keepalive(spec: &str) -> Option<SoKeepalive> {
    let mut parts = spec.split(':');
    let (idle, interval, count) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let alnum = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric());
    if !alnum(idle) || !alnum(interval) || !count.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let count = if count.is_empty() {
        None
    } else {
        Some(count.parse::<u32>().ok()?)
    };
    Some(SoKeepalive::Custom {
        idle: opt(idle),
        interval: opt(interval),
        count,
    })
}

/// `1.2.3.4:80`, `[::1]:80`, `*:80`, `name:80`.
fn parse_address(addr: &str) -> Option<(ListenHost, u16)> {
    if let Some(rest) = addr.strip_prefix('[') {
        let (ip, port) = rest.split_once("]:")?;
        let ip: Ipv6Addr = ip.parse().ok()?;
        return Some((ListenHost::Ip(IpAddr::V6(ip)), parse_port(port)?));
    }
    let (host, port) = addr.rsplit_once(':')?;
    let port = parse_port(port)?;
    if host == "*" {
        return Some((ListenHost::Wildcard, port));
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Some((ListenHost::Ip(IpAddr::V4(ip)), port));
    }
    let is_name = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        && host.bytes().any(|b| b.is_ascii_alphabetic());
    is_name.then(|| (ListenHost::Name(host.to_owned()), port))
}

fn parse_port(port: &str) -> Option<u16> {
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn one(v: &str) -> Listener {
        let mut l = parse_listeners("proxy_listen", v).unwrap();
        assert_eq!(l.len(), 1);
        l.remove(0)
    }

    #[test]
    fn kong_default_proxy_listen() {
        let l = parse_listeners(
            "proxy_listen",
            "0.0.0.0:8000 reuseport backlog=16384, 0.0.0.0:8443 http2 ssl reuseport backlog=16384",
        )
        .unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].socket_addr(), Some("0.0.0.0:8000".parse().unwrap()));
        assert!(l[0].reuseport && !l[0].ssl && !l[0].http2);
        assert_eq!(l[0].backlog, Some(16384));
        assert!(l[1].ssl && l[1].http2 && l[1].reuseport);
        assert_eq!(l[1].port, 8443);
        assert_eq!(
            l[1].to_string(),
            "0.0.0.0:8443 ssl http2 reuseport backlog=16384"
        );
    }

    #[test]
    fn off_and_empty() {
        assert!(parse_listeners("admin_listen", "off").unwrap().is_empty());
        assert!(
            parse_listeners("admin_listen", " off , 1.2.3.4:5")
                .unwrap()
                .is_empty()
        );
        let err = parse_listeners("admin_listen", "").unwrap_err();
        assert_eq!(err, format!("admin_listen {LISTEN_USAGE}"));
    }

    #[test]
    fn ipv6_and_hosts() {
        let l = one("[::1]:8000 ipv6only=on");
        assert_eq!(l.host, ListenHost::Ip("::1".parse().unwrap()));
        assert_eq!(l.ipv6only, Some(true));
        assert_eq!(l.address(), "[::1]:8000");
        assert_eq!(l.socket_addr(), Some("[::1]:8000".parse().unwrap()));
        assert_eq!(one("[::]:80 ipv6only=off").ipv6only, Some(false));
        let l = one("*:8000");
        assert_eq!(l.host, ListenHost::Wildcard);
        assert_eq!(l.socket_addr(), Some("0.0.0.0:8000".parse().unwrap()));
        let l = one("localhost:8001");
        assert_eq!(l.host, ListenHost::Name("localhost".into()));
        assert_eq!(l.socket_addr(), None);
        assert_eq!(l.to_string(), "localhost:8001");
        assert_eq!(one("127.0.0.1:0").port, 0);
    }

    #[test]
    fn all_flags() {
        let l = one(
            "ssl 10.0.0.1:443 http2 proxy_protocol deferred bind reuseport backlog=5 so_keepalive=on",
        );
        assert!(l.ssl && l.http2 && l.proxy_protocol && l.deferred && l.bind && l.reuseport);
        assert_eq!(l.backlog, Some(5));
        assert_eq!(l.so_keepalive, Some(SoKeepalive::On));
        assert_eq!(
            one("1.1.1.1:1 so_keepalive=off").so_keepalive,
            Some(SoKeepalive::Off)
        );
        let l = one("1.1.1.1:1 so_keepalive=30m::10");
        assert_eq!(
            l.so_keepalive,
            Some(SoKeepalive::Custom {
                idle: Some("30m".into()),
                interval: None,
                count: Some(10)
            })
        );
        assert_eq!(l.to_string(), "1.1.1.1:1 so_keepalive=30m::10");
        let l = one("1.1.1.1:1 so_keepalive=::");
        assert_eq!(
            l.so_keepalive,
            Some(SoKeepalive::Custom {
                idle: None,
                interval: None,
                count: None
            })
        );
        // duplicated flags are harmless
        assert!(one("1.1.1.1:1 ssl ssl").ssl);
    }

    #[test]
    fn errors() {
        for bad in [
            "127.0.0.1",
            "127.0.0.1:",
            "127.0.0.1:99999",
            "127.0.0.1:80 sll",
            "127.0.0.1:80 backlog=",
            "127.0.0.1:80 backlog=-1",
            "127.0.0.1:80 backlog=99999999999",
            "127.0.0.1:80 ipv6only=yes",
            "127.0.0.1:80 so_keepalive=1:2",
            "127.0.0.1:80 so_keepalive=1:2:x",
            "127.0.0.1:80 so_keepalive=a-b::",
            "::1:8000",
            "[::1]8000",
            "[zz]:80",
            "1.2.3.4:80 5.6.7.8:90",
            "ssl",
            ":80",
            "-:80",
            "1.2.3:80",
            "999.1.1.1:80",
            "a/b:80",
            "127.0.0.1:8a",
        ] {
            let err = parse_listeners("proxy_listen", bad).unwrap_err();
            assert!(
                err.starts_with("proxy_listen must be of form: [off] | <ip>:<port> [ssl]"),
                "{bad}: {err}"
            );
            assert!(err.contains("invalid entry"), "{bad}: {err}");
        }
        let err = parse_listeners("status_listen", "1.1.1.1:1, junk").unwrap_err();
        assert!(err.ends_with("invalid entry: 'junk'"));
    }

    #[test]
    fn multiple_entries_and_blank_entries() {
        let l = parse_listeners("admin_listen", "127.0.0.1:8001, ,[::1]:8001,").unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[1].port, 8001);
    }
}
