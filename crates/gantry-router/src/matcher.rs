//! One compiled matcher (a route, or one path group of a split route) and its evaluation
//! against a request, with exactly the semantics of the ATC expression Kong's
//! `transform.lua` generates for it (kong-reference §4.3, §4.4).

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use http::{HeaderMap, HeaderName};
use ipnet::IpNet;
use regex::Regex;
use uuid::Uuid;

/// How a host or SNI pattern compares (`==`, `=^` postfix, `^=` prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrOp {
    Exact,
    Suffix,
    Prefix,
}

impl StrOp {
    fn test(self, value: &str, pattern: &str) -> bool {
        match self {
            StrOp::Exact => value == pattern,
            StrOp::Suffix => value.ends_with(pattern),
            StrOp::Prefix => value.starts_with(pattern),
        }
    }
}

/// One entry of `hosts`: `(http.host <op> "value" [&& net.dst.port == port])`.
#[derive(Debug)]
pub(crate) struct HostCond {
    pub op: StrOp,
    pub value: Box<str>,
    pub port: Option<i64>,
}

/// One entry of `snis`: `tls.sni <op> "value"`.
#[derive(Debug)]
pub(crate) struct SniCond {
    pub op: StrOp,
    pub value: Box<str>,
}

/// The `paths` of a matcher: all prefixes (same length after splitting) or all regexes.
#[derive(Debug)]
pub(crate) enum PathCond {
    Any,
    Prefix(Box<[Box<str>]>),
    Regex(Box<[PathRegex]>),
}

/// A compiled regex path and the literal every match must start with (used to index it).
#[derive(Debug)]
pub(crate) struct PathRegex {
    pub regex: Regex,
    pub literal_prefix: Box<str>,
}

/// One configured header value: exact (compared lower-cased) or `~*` regex.
#[derive(Debug)]
pub(crate) enum HeaderValueCond {
    Exact(Box<str>),
    Regex(Regex),
}

/// One configured header: `any(lower(http.headers.<name>)) (== v1 || ~ v2 ...)`.
#[derive(Debug)]
pub(crate) struct HeaderCond {
    pub name: HeaderName,
    pub values: Box<[HeaderValueCond]>,
}

/// IP part of a `sources` / `destinations` entry.
#[derive(Debug)]
pub(crate) enum IpCond {
    Addr(IpAddr),
    Net(IpNet),
}

/// One `sources` / `destinations` entry: ip and/or port, both required when both set.
#[derive(Debug)]
pub(crate) struct NetCond {
    pub ip: Option<IpCond>,
    pub port: Option<i64>,
}

/// A compiled matcher. Its ordering key (priority, id) decides its position in the
/// router (see `router::ranks`).
#[derive(Debug)]
pub(crate) struct Matcher {
    /// Index of the original route in the slice given to `Router::new`.
    pub route_index: usize,
    /// Matcher id (route id, or the UUIDv5 of a split fragment).
    pub id: Uuid,
    // Boxed slices rather than Vecs: 8 bytes less each, and a large configuration is
    // mostly matchers.
    pub snis: Option<Box<[SniCond]>>,
    pub sources: Option<Box<[NetCond]>>,
    pub destinations: Option<Box<[NetCond]>>,
    pub methods: Option<Box<[Box<str>]>>,
    pub hosts: Option<Box<[HostCond]>>,
    pub paths: PathCond,
    pub headers: Box<[HeaderCond]>,
}

/// Request attributes as the ATC context would hold them.
pub(crate) struct Facts<'r> {
    /// `net.protocol`: `http` or `https`.
    pub scheme: &'static str,
    pub method: &'r str,
    /// `http.host`: Host header minus a numeric `:port` suffix.
    pub host: Option<&'r str>,
    /// `net.dst.port`: port from the Host header, else the listener port.
    pub port: i64,
    /// `http.path`: normalized path (UTF-8).
    pub path: Option<&'r str>,
    pub sni: Option<&'r str>,
    pub headers: &'r HeaderMap,
    pub src: Option<SocketAddr>,
    pub dst_ip: Option<IpAddr>,
}

/// Regex captures exposed as `uri_captures` (kong-reference §4.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captures {
    /// Numbered groups; index 0 is the whole match. `None` for groups that did not
    /// participate in the match.
    pub numbered: Vec<Option<String>>,
    /// Named groups that participated, as `(name, value)`, in pattern order.
    pub named: Vec<(String, String)>,
}

impl Captures {
    /// Number of entries Kong's captures table would hold.
    pub fn len(&self) -> usize {
        self.numbered.iter().flatten().count() + self.named.len()
    }

    /// True when no group participated.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value of a named group.
    pub fn name(&self, name: &str) -> Option<&str> {
        self.named
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Value of a numbered group (0 = whole match).
    pub fn get(&self, index: usize) -> Option<&str> {
        self.numbered.get(index).and_then(|v| v.as_deref())
    }

    /// Records the groups of a successful regex predicate, overwriting earlier entries with
    /// the same key, as ATC's capture map does.
    fn record(&mut self, regex: &Regex, caps: &regex::Captures<'_>) {
        for (i, group) in caps.iter().enumerate() {
            if let Some(m) = group {
                if self.numbered.len() <= i {
                    self.numbered.resize(i + 1, None);
                }
                if let Some(slot) = self.numbered.get_mut(i) {
                    *slot = Some(m.as_str().to_owned());
                }
            }
        }
        for name in regex.capture_names().flatten() {
            if let Some(m) = caps.name(name) {
                let value = m.as_str().to_owned();
                match self.named.iter_mut().find(|(n, _)| n == name) {
                    Some(entry) => entry.1 = value,
                    None => self.named.push((name.to_owned(), value)),
                }
            }
        }
    }
}

/// What the path predicate matched.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Matched<'m> {
    /// The matcher has no paths.
    Nothing,
    /// A literal prefix of the matcher.
    Prefix(&'m str),
    /// A regex match of the request path, `path[start..end]` (a top-level alternation
    /// such as `~/a|/b` leaves later branches unanchored, so `start` may be non-zero).
    Regex(usize, usize),
}

/// Result of a successful evaluation.
#[derive(Debug)]
pub(crate) struct Hit<'m> {
    pub matched: Matched<'m>,
    pub captures: Option<Captures>,
}

/// Lower-cases like ATC's `lower()` (Rust `to_lowercase`), borrowing when possible.
fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        Cow::Borrowed(s)
    } else if s.is_ascii() {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

fn net_matches(conds: &[NetCond], ip: Option<IpAddr>, port: Option<i64>) -> bool {
    conds.iter().any(|c| {
        let ip_ok = match &c.ip {
            None => true,
            Some(IpCond::Addr(a)) => ip == Some(*a),
            Some(IpCond::Net(n)) => ip.is_some_and(|ip| n.contains(&ip)),
        };
        let port_ok = match c.port {
            None => true,
            Some(p) => port == Some(p),
        };
        ip_ok && port_ok
    })
}

impl Matcher {
    /// Evaluates the matcher's expression against the request. `None` means no match.
    pub(crate) fn eval(&self, facts: &Facts<'_>) -> Option<Hit<'_>> {
        if let Some(snis) = &self.snis {
            // `(net.protocol != "https" || tls.sni ...)`
            if facts.scheme == "https" {
                let sni = facts.sni?;
                if !snis.iter().any(|c| c.op.test(sni, &c.value)) {
                    return None;
                }
            }
        }
        if let Some(sources) = &self.sources {
            let ip = facts.src.map(|a| a.ip());
            let port = facts.src.map(|a| i64::from(a.port()));
            if !net_matches(sources, ip, port) {
                return None;
            }
        }
        if let Some(destinations) = &self.destinations
            && !net_matches(destinations, facts.dst_ip, Some(facts.port))
        {
            return None;
        }
        if let Some(methods) = &self.methods
            && !methods.iter().any(|m| **m == *facts.method)
        {
            return None;
        }
        if let Some(hosts) = &self.hosts {
            let host = facts.host?;
            let ok = hosts
                .iter()
                .any(|c| c.op.test(host, &c.value) && c.port.is_none_or(|p| p == facts.port));
            if !ok {
                return None;
            }
        }
        let mut captures: Option<Captures> = None;
        let matched = match &self.paths {
            PathCond::Any => Matched::Nothing,
            PathCond::Prefix(prefixes) => {
                let path = facts.path?;
                let p = prefixes.iter().find(|p| path.starts_with(&***p))?;
                Matched::Prefix(p)
            }
            PathCond::Regex(regexes) => {
                let path = facts.path?;
                let (regex, caps) = regexes
                    .iter()
                    .find_map(|r| r.regex.captures(path).map(|c| (&r.regex, c)))?;
                let (start, end) = caps.get(0).map_or((0, 0), |m| (m.start(), m.end()));
                let mut c = Captures::default();
                c.record(regex, &caps);
                captures = Some(c);
                Matched::Regex(start, end)
            }
        };
        for header in &self.headers {
            if !header_matches(header, facts.headers, &mut captures) {
                return None;
            }
        }
        Some(Hit { matched, captures })
    }
}

/// `(any(lower(h)) == v1 || any(lower(h)) ~ v2 || ...)`: configured values are tried in
/// order, each against every request value; a regex hit records its captures.
fn header_matches(cond: &HeaderCond, headers: &HeaderMap, captures: &mut Option<Captures>) -> bool {
    let mut values = headers.get_all(&cond.name).iter().peekable();
    if values.peek().is_none() {
        return false;
    }
    for want in &cond.values {
        for value in headers.get_all(&cond.name) {
            let Ok(value) = std::str::from_utf8(value.as_bytes()) else {
                continue;
            };
            match want {
                HeaderValueCond::Exact(v) => {
                    if value.is_ascii() {
                        if value.eq_ignore_ascii_case(v) {
                            return true;
                        }
                    } else if lower(value) == **v {
                        return true;
                    }
                }
                HeaderValueCond::Regex(r) => {
                    let lowered = lower(value);
                    if let Some(caps) = r.captures(&lowered) {
                        captures
                            .get_or_insert_with(Captures::default)
                            .record(r, &caps);
                        return true;
                    }
                }
            }
        }
    }
    false
}
