//! Compiles `gantry_core::Route`s into matchers, mirroring how Kong's
//! `kong/router/transform.lua` turns a traditional route into an ATC expression.

use std::net::IpAddr;
use std::str::FromStr;

use gantry_core::{CidrPort, Route};
use http::HeaderName;
use ipnet::IpNet;
use regex::Regex;
use regex_syntax::hir::{Hir, HirKind, Look};
use uuid::Uuid;

use crate::RouterError;
use crate::matcher::{
    HeaderCond, HeaderValueCond, HostCond, IpCond, Matcher, NetCond, PathCond, PathRegex, SniCond,
    StrOp,
};
use crate::priority::{fragment_priority, is_regex_path, split_paths};

/// Parses a port the way Lua's `tonumber` would read it (surrounding whitespace, sign,
/// `0x` hex, decimals and exponents), truncated to an integer as LuaJIT's FFI does.
pub(crate) fn lua_tonumber_int(s: &str) -> Option<i64> {
    let t = s.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'));
    if t.is_empty() {
        return None;
    }
    // The common case (a plain port, on every request's Host): no float parsing.
    if t.len() <= 18 && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().ok();
    }
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, t.get(1..)?),
        Some(b'+') => (false, t.get(1..)?),
        _ => (false, t),
    };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let v = i64::from_str_radix(hex, 16).ok()?;
        return Some(if neg { -v } else { v });
    }
    if body.is_empty() || !body.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    if !body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let v: f64 = body.parse().ok()?;
    if !v.is_finite() {
        return None;
    }
    let v = v.trunc();
    // in range of i64 by the check below; `as` saturates otherwise
    let v = v as i64;
    Some(if neg { -v } else { v })
}

/// Kong's `split_host_port`: split at the first `:`; when the rest is not a number the
/// whole string is the host.
pub(crate) fn split_host_port(s: &str) -> (&str, Option<i64>) {
    let b = s.as_bytes();
    // One scan for the first `:` (none: no port, the usual `Host` of a name on 80/443).
    let Some(colon) = b.iter().position(|&c| c == b':') else {
        return (s, None);
    };
    let (Some(host), Some(port)) = (s.get(..colon), s.get(colon + 1..)) else {
        return (s, None);
    };
    // A plain port of 1–5 digits (on every request that names one): no `tonumber`.
    let digits = port.as_bytes();
    if (1..=5).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) {
        let n = digits
            .iter()
            .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
        return (host, Some(n));
    }
    match lua_tonumber_int(port) {
        Some(p) => (host, Some(p)),
        None => (s, None),
    }
}

fn host_cond(entry: &str) -> HostCond {
    let (host, port) = split_host_port(entry);
    let (op, value) = if let Some(rest) = host.strip_prefix('*') {
        (StrOp::Suffix, rest)
    } else if let Some(rest) = host.strip_suffix('*') {
        (StrOp::Prefix, rest)
    } else {
        (StrOp::Exact, host)
    };
    HostCond {
        op,
        value: value.into(),
        port,
    }
}

fn sni_cond(sni: &str) -> SniCond {
    if sni.starts_with('*') {
        let trimmed = if sni.len() > 1 {
            sni.strip_suffix('.').unwrap_or(sni)
        } else {
            sni
        };
        let value = trimmed.strip_prefix('*').unwrap_or(trimmed);
        SniCond {
            op: StrOp::Suffix,
            value: value.into(),
        }
    } else if let Some(value) = sni.strip_suffix('*') {
        SniCond {
            op: StrOp::Prefix,
            value: value.into(),
        }
    } else {
        let value = if sni.len() > 1 {
            sni.strip_suffix('.').unwrap_or(sni)
        } else {
            sni
        };
        SniCond {
            op: StrOp::Exact,
            value: value.into(),
        }
    }
}

fn compile_regex(route: &Route, pattern: String) -> Result<Regex, RouterError> {
    Regex::new(&pattern).map_err(|source| RouterError::InvalidRegex {
        route_id: route.id,
        pattern,
        source: Box::new(source),
    })
}

/// `~/re` → `^/re` with `?<` rewritten to `?P<`, literally as Kong's `gsub` does.
pub(crate) fn path_regex_source(path: &str) -> String {
    format!(
        "^{}",
        path.get(1..).unwrap_or_default().replace("?<", "?P<")
    )
}

/// The literal every match of an anchored regex must begin with: the literal run right
/// after the leading `^` in the parsed pattern (empty when the pattern does not have the
/// shape `^literal...`, e.g. with a top-level alternation).
pub(crate) fn regex_literal_prefix(source: &str) -> String {
    let Ok(hir) = regex_syntax::parse(source) else {
        return String::new();
    };
    let HirKind::Concat(subs) = hir.kind() else {
        return String::new();
    };
    let mut subs = subs.iter();
    if !matches!(subs.next().map(Hir::kind), Some(HirKind::Look(Look::Start))) {
        return String::new();
    }
    let mut out = Vec::new();
    for sub in subs {
        match sub.kind() {
            HirKind::Literal(lit) => out.extend_from_slice(&lit.0),
            // a user-written `^` right after Kong's
            HirKind::Look(Look::Start) if out.is_empty() => {}
            _ => break,
        }
    }
    String::from_utf8(out).unwrap_or_default()
}

fn path_cond(route: &Route, paths: &[String]) -> Result<PathCond, RouterError> {
    match paths.first() {
        None => Ok(PathCond::Any),
        Some(first) if is_regex_path(first) => paths
            .iter()
            .map(|p| {
                let source = path_regex_source(p);
                let literal_prefix = regex_literal_prefix(&source).into();
                compile_regex(route, source).map(|regex| PathRegex {
                    regex,
                    literal_prefix,
                })
            })
            .collect::<Result<Box<[_]>, _>>()
            .map(PathCond::Regex),
        Some(_) => Ok(PathCond::Prefix(
            paths.iter().map(|p| p.as_str().into()).collect(),
        )),
    }
}

/// Header name as nginx would look it up: lower-cased, `_` read as `-`.
pub(crate) fn header_lookup_name(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

fn header_conds(route: &Route) -> Result<Box<[HeaderCond]>, RouterError> {
    let Some(headers) = &route.headers else {
        return Ok(Box::default());
    };
    let mut out = Vec::with_capacity(headers.len());
    for (name, values) in headers {
        let lookup = header_lookup_name(name);
        let header =
            HeaderName::from_bytes(lookup.as_bytes()).map_err(|_| RouterError::InvalidRoute {
                route_id: route.id,
                reason: format!("invalid header name '{name}'"),
            })?;
        if values.is_empty() {
            return Err(RouterError::InvalidRoute {
                route_id: route.id,
                reason: format!("header '{name}' has no values"),
            });
        }
        let mut conds = Vec::with_capacity(values.len());
        for value in values {
            // Kong lower-cases with Lua's ASCII-only `string.lower`.
            if let Some(re) = value.strip_prefix("~*") {
                conds.push(HeaderValueCond::Regex(compile_regex(
                    route,
                    re.to_ascii_lowercase(),
                )?));
            } else {
                conds.push(HeaderValueCond::Exact(value.to_ascii_lowercase().into()));
            }
        }
        out.push(HeaderCond {
            name: header,
            values: conds.into_boxed_slice(),
        });
    }
    Ok(out.into_boxed_slice())
}

fn net_conds(
    route: &Route,
    entries: Option<&Vec<CidrPort>>,
) -> Result<Option<Box<[NetCond]>>, RouterError> {
    let Some(entries) = entries.filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let ip = match entry.ip.as_deref() {
            None => None,
            Some(ip) if ip.contains('/') => {
                Some(IpCond::Net(IpNet::from_str(ip).map_err(|_| {
                    RouterError::InvalidRoute {
                        route_id: route.id,
                        reason: format!("invalid CIDR '{ip}'"),
                    }
                })?))
            }
            Some(ip) => Some(IpCond::Addr(IpAddr::from_str(ip).map_err(|_| {
                RouterError::InvalidRoute {
                    route_id: route.id,
                    reason: format!("invalid IP '{ip}'"),
                }
            })?)),
        };
        out.push(NetCond {
            ip,
            port: entry.port.map(i64::from),
        });
    }
    Ok(Some(out.into_boxed_slice()))
}

fn non_empty<T>(v: Option<&Vec<T>>) -> Option<&Vec<T>> {
    v.filter(|v| !v.is_empty())
}

/// True when the route belongs to the HTTP subsystem router.
pub(crate) fn is_http_route(route: &Route) -> bool {
    route.protocols.iter().any(|p| p.is_http())
}

/// Compiles one route into its matchers, one per path group in Kong's split order,
/// handing each to `emit` with its priority. The first error in that order wins.
pub(crate) fn compile_route(
    route_index: usize,
    route: &Route,
    mut emit: impl FnMut(u64, Matcher),
) -> Result<(), RouterError> {
    let groups = split_paths(route);
    for group in 0..groups.len() {
        let paths = groups.paths(group);
        let matcher = compile_matcher(route_index, groups.id(route, group), route, paths)?;
        emit(fragment_priority(route, paths), matcher);
    }
    Ok(())
}

/// Compiles the matcher for one path group (`paths`) of `route`.
fn compile_matcher(
    route_index: usize,
    id: Uuid,
    route: &Route,
    paths: &[String],
) -> Result<Matcher, RouterError> {
    Ok(Matcher {
        route_index,
        id,
        snis: non_empty(route.snis.as_ref()).map(|s| s.iter().map(|s| sni_cond(s)).collect()),
        sources: net_conds(route, route.sources.as_ref())?,
        destinations: net_conds(route, route.destinations.as_ref())?,
        methods: non_empty(route.methods.as_ref())
            .map(|m| m.iter().map(|m| m.as_str().into()).collect()),
        hosts: non_empty(route.hosts.as_ref()).map(|h| h.iter().map(|h| host_cond(h)).collect()),
        paths: path_cond(route, paths)?,
        headers: header_conds(route)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lua_tonumber_ports() {
        assert_eq!(lua_tonumber_int("8000"), Some(8000));
        assert_eq!(lua_tonumber_int(" 80 "), Some(80));
        assert_eq!(lua_tonumber_int("0x50"), Some(80));
        assert_eq!(lua_tonumber_int("80.9"), Some(80));
        assert_eq!(lua_tonumber_int("abc"), None);
        assert_eq!(lua_tonumber_int(""), None);
        assert_eq!(lua_tonumber_int("inf"), None);
    }

    #[test]
    fn splits_host_and_port() {
        assert_eq!(split_host_port("a.com:8000"), ("a.com", Some(8000)));
        assert_eq!(split_host_port("a.com"), ("a.com", None));
        assert_eq!(split_host_port("a.com:x"), ("a.com:x", None));
        assert_eq!(split_host_port("[::1]:80"), ("[::1]:80", None));
        assert_eq!(split_host_port("a.com:00080"), ("a.com", Some(80)));
        assert_eq!(split_host_port(":80"), ("", Some(80)));
        assert_eq!(split_host_port("a.com:"), ("a.com:", None));
    }

    /// The plain-port fast path gives what Kong's `tonumber` reading gives.
    fn split_the_long_way(s: &str) -> (&str, Option<i64>) {
        match s.split_once(':') {
            Some((host, port)) => match lua_tonumber_int(port) {
                Some(p) => (host, Some(p)),
                None => (s, None),
            },
            None => (s, None),
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_port_split_agrees_with_tonumber(s in "[a-z.]{0,6}(:[0-9 x.:+-]{0,7})?") {
            proptest::prop_assert_eq!(split_host_port(&s), split_the_long_way(&s));
        }
    }

    #[test]
    fn sni_patterns() {
        let c = sni_cond("*.example.com.");
        assert_eq!((c.op, &*c.value), (StrOp::Suffix, ".example.com"));
        let c = sni_cond("example.*");
        assert_eq!((c.op, &*c.value), (StrOp::Prefix, "example."));
        let c = sni_cond("example.com.");
        assert_eq!((c.op, &*c.value), (StrOp::Exact, "example.com"));
    }

    #[test]
    fn regex_literal_prefixes() {
        assert_eq!(regex_literal_prefix(r"^/users/(?P<id>\d+)"), "/users/");
        assert_eq!(regex_literal_prefix(r"^/a/b\.c"), "/a/b.c");
        assert_eq!(regex_literal_prefix(r"^/ab?"), "/a");
        assert_eq!(regex_literal_prefix(r"^/a|/b"), "");
        assert_eq!(regex_literal_prefix(r"^(?i)/abc"), "/");
        assert_eq!(regex_literal_prefix(r"^/x(?i)abc"), "/x");
        assert_eq!(regex_literal_prefix(r"^(/a)"), "");
        assert_eq!(regex_literal_prefix(r"^/a{0}"), "/");
        assert_eq!(regex_literal_prefix(r"^^/a/"), "/a/");
    }

    #[test]
    fn regex_source_is_anchored_with_named_groups() {
        assert_eq!(path_regex_source("~/(?<v>\\d+)/x"), "^/(?P<v>\\d+)/x");
    }
}
