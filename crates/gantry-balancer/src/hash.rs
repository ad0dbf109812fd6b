//! What consistent hashing hashes: Kong's `get_value_to_hash` over `hash_on` and
//! `hash_fallback` (consumer, ip, header, cookie, path, query_arg, uri_capture), and
//! the `Set-Cookie` Kong adds when the hashing cookie is missing.

use std::borrow::Cow;
use std::net::IpAddr;

use gantry_core::{HashOn, Upstream};

use crate::xxhash::continuum_index;
use http::HeaderMap;

/// Router captures of the matched route (`uri_captures`), borrowed from the router's
/// result: named groups as `(name, value)` and numbered groups (0 = whole match).
#[derive(Debug, Clone, Copy, Default)]
pub struct UriCaptures<'a> {
    pub named: &'a [(String, String)],
    pub numbered: &'a [Option<String>],
}

impl<'a> UriCaptures<'a> {
    fn get(&self, group: &str) -> Option<&'a str> {
        if let Some((_, v)) = self.named.iter().find(|(n, _)| n == group) {
            return Some(v.as_str());
        }
        let i: usize = group.parse().ok()?;
        self.numbered.get(i)?.as_deref()
    }
}

/// Everything `hash_on` may need from one request, borrowed. Only the fields the
/// upstream hashes on are read; leave the rest at their defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct HashContext<'a> {
    /// Authenticated consumer id, else the authenticated credential id.
    pub consumer: Option<&'a str>,
    /// Client address as Kong sees it (`$remote_addr`, after real-ip processing).
    pub client_ip: Option<IpAddr>,
    /// Request headers (also the source of cookies).
    pub headers: Option<&'a HeaderMap>,
    /// Normalized request path (nginx `$uri`).
    pub path: Option<&'a str>,
    /// Raw query string, without `?`.
    pub query: Option<&'a str>,
    /// Captures of the matched route's regex path.
    pub uri_captures: Option<UriCaptures<'a>>,
}

/// One `hash_on` / `hash_fallback` source, with its parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HashSource {
    None,
    Consumer,
    Ip,
    Header(String),
    Cookie { name: String, path: String },
    Path,
    QueryArg(String),
    UriCapture(String),
}

/// The upstream's hashing rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HashRule {
    pub primary: HashSource,
    pub fallback: HashSource,
}

fn source(
    kind: HashOn,
    header: Option<&str>,
    query: Option<&str>,
    capture: Option<&str>,
    u: &Upstream,
) -> HashSource {
    let s = |v: Option<&str>| v.unwrap_or_default().to_owned();
    match kind {
        HashOn::None => HashSource::None,
        HashOn::Consumer => HashSource::Consumer,
        HashOn::Ip => HashSource::Ip,
        HashOn::Header => HashSource::Header(s(header)),
        HashOn::Cookie => HashSource::Cookie {
            name: s(u.hash_on_cookie.as_deref()),
            path: if u.hash_on_cookie_path.is_empty() {
                "/".to_owned()
            } else {
                u.hash_on_cookie_path.clone()
            },
        },
        HashOn::Path => HashSource::Path,
        HashOn::QueryArg => HashSource::QueryArg(s(query)),
        HashOn::UriCapture => HashSource::UriCapture(s(capture)),
    }
}

impl HashRule {
    pub fn from_upstream(u: &Upstream) -> HashRule {
        HashRule {
            primary: source(
                u.hash_on,
                u.hash_on_header.as_deref(),
                u.hash_on_query_arg.as_deref(),
                u.hash_on_uri_capture.as_deref(),
                u,
            ),
            fallback: source(
                u.hash_fallback,
                u.hash_fallback_header.as_deref(),
                u.hash_fallback_query_arg.as_deref(),
                u.hash_fallback_uri_capture.as_deref(),
                u,
            ),
        }
    }

    /// The continuum index of the request's hash value in a ring of `points`, and the
    /// `Set-Cookie` value when a hashing cookie was invented. Hashing on the client IP
    /// formats it on the stack.
    pub fn index(&self, ctx: &HashContext<'_>, points: u32) -> (u32, Option<String>) {
        if let (HashSource::Ip, Some(ip)) = (&self.primary, ctx.client_ip) {
            use std::io::Write;
            let mut buf = [0u8; 64];
            let mut cur = std::io::Cursor::new(&mut buf[..]);
            if write!(cur, "{ip}").is_ok() {
                let len = usize::try_from(cur.position()).unwrap_or(0);
                if let Some(bytes) = buf.get(..len) {
                    return (continuum_index(bytes, points), None);
                }
            }
        }
        let (value, cookie) = self.value(ctx);
        (continuum_index(value.as_bytes(), points), cookie)
    }

    /// The value to hash and, when a hashing cookie had to be invented, the
    /// `Set-Cookie` value for the response. No value hashes the empty string.
    pub fn value<'c>(&self, ctx: &HashContext<'c>) -> (Cow<'c, str>, Option<String>) {
        if self.primary == HashSource::None {
            return (Cow::Borrowed(""), None);
        }
        for src in [&self.primary, &self.fallback] {
            if let Some(found) = extract(src, ctx) {
                return found;
            }
            if self.fallback == HashSource::None {
                break;
            }
        }
        (Cow::Borrowed(""), None)
    }
}

type Found<'c> = (Cow<'c, str>, Option<String>);

fn extract<'c>(src: &HashSource, ctx: &HashContext<'c>) -> Option<Found<'c>> {
    let plain = |v: Cow<'c, str>| Some((v, None));
    match src {
        HashSource::None => None,
        HashSource::Consumer => ctx.consumer.and_then(|c| plain(Cow::Borrowed(c))),
        HashSource::Ip => ctx
            .client_ip
            .and_then(|ip| plain(Cow::Owned(ip.to_string()))),
        HashSource::Header(name) => header(ctx.headers?, name).and_then(plain),
        HashSource::Cookie { name, path } => {
            if let Some(v) = ctx.headers.and_then(|h| cookie(h, name)) {
                return plain(Cow::Borrowed(v));
            }
            let id = uuid::Uuid::new_v4().to_string();
            let set = format!("{name}={id}; Path={path}; Same-Site=Lax; HttpOnly");
            Some((Cow::Owned(id), Some(set)))
        }
        HashSource::Path => ctx.path.and_then(|p| plain(Cow::Borrowed(p))),
        HashSource::QueryArg(name) => query_arg(ctx.query?, name).and_then(plain),
        HashSource::UriCapture(group) => ctx
            .uri_captures
            .and_then(|c| c.get(group))
            .and_then(|v| plain(Cow::Borrowed(v))),
    }
}

/// All values of a header, joined as nginx joins them for `$http_*`.
fn header<'c>(headers: &'c HeaderMap, name: &str) -> Option<Cow<'c, str>> {
    let mut values = headers.get_all(name).iter().filter_map(|v| v.to_str().ok());
    let first = values.next()?;
    match values.next() {
        None => Some(Cow::Borrowed(first)),
        Some(second) => {
            let mut joined = format!("{first}, {second}");
            for v in values {
                joined.push_str(", ");
                joined.push_str(v);
            }
            Some(Cow::Owned(joined))
        }
    }
}

/// nginx `$cookie_<name>`: the first cookie of that name in any `Cookie` header.
fn cookie<'c>(headers: &'c HeaderMap, name: &str) -> Option<&'c str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k.trim() == name).then(|| v.trim())
        })
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `ngx.req.get_uri_args` decoding: `+` is a space, `%XX` escapes.
fn decode(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).and_then(|h| hex(*h)),
                bytes.get(i + 2).and_then(|l| hex(*l)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Kong's `get_query_arg`: a flag argument is `"true"`, several values are sorted
/// and joined with commas.
fn query_arg<'c>(query: &'c str, name: &str) -> Option<Cow<'c, str>> {
    let mut values: Vec<Cow<'c, str>> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (pair, None),
        };
        if decode(k) != name {
            continue;
        }
        values.push(match v {
            Some(v) => decode(v),
            None => Cow::Borrowed("true"),
        });
    }
    match values.len() {
        0 => None,
        1 => values.pop(),
        _ => {
            values.sort();
            Some(Cow::Owned(values.join(",")))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http::HeaderValue;

    fn rule(primary: HashSource, fallback: HashSource) -> HashRule {
        HashRule { primary, fallback }
    }

    #[test]
    fn ip_index_matches_the_formatted_value() {
        let r = rule(HashSource::Ip, HashSource::None);
        for ip in ["10.1.2.3", "::1", "2001:db8::ff00:42:8329"] {
            let ctx = HashContext {
                client_ip: Some(ip.parse().unwrap()),
                ..Default::default()
            };
            assert_eq!(
                r.index(&ctx, 10_000).0,
                continuum_index(ip.as_bytes(), 10_000)
            );
        }
    }

    #[test]
    fn none_hashes_empty() {
        let r = rule(HashSource::None, HashSource::None);
        assert_eq!(r.value(&HashContext::default()).0, "");
    }

    #[test]
    fn fallback_used_when_primary_missing() {
        let r = rule(HashSource::Consumer, HashSource::Ip);
        let ctx = HashContext {
            client_ip: Some("10.1.2.3".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(r.value(&ctx).0, "10.1.2.3");
        let ctx = HashContext {
            consumer: Some("c1"),
            ..ctx
        };
        assert_eq!(r.value(&ctx).0, "c1");
        assert_eq!(r.value(&HashContext::default()).0, "");
    }

    #[test]
    fn headers_join_and_cookies_parse() {
        let mut h = HeaderMap::new();
        h.append("x-user", HeaderValue::from_static("a"));
        h.append("x-user", HeaderValue::from_static("b"));
        h.append("cookie", HeaderValue::from_static("x=1; sticky=abc"));
        let ctx = HashContext {
            headers: Some(&h),
            ..Default::default()
        };
        let r = rule(HashSource::Header("X-User".into()), HashSource::None);
        assert_eq!(r.value(&ctx).0, "a, b");
        let r = rule(
            HashSource::Cookie {
                name: "sticky".into(),
                path: "/".into(),
            },
            HashSource::None,
        );
        let (v, set) = r.value(&ctx);
        assert_eq!((v.as_ref(), set), ("abc", None));
    }

    #[test]
    fn missing_cookie_is_invented_and_set() {
        let r = rule(
            HashSource::Cookie {
                name: "sticky".into(),
                path: "/app".into(),
            },
            HashSource::None,
        );
        let (v, set) = r.value(&HashContext::default());
        let set = set.unwrap();
        assert_eq!(v.len(), 36);
        assert_eq!(
            set,
            format!("sticky={v}; Path=/app; Same-Site=Lax; HttpOnly")
        );
    }

    #[test]
    fn query_args_sorted_and_decoded() {
        assert_eq!(query_arg("a=2&b=1&a=1", "a").unwrap(), "1,2");
        assert_eq!(query_arg("flag&x=1", "flag").unwrap(), "true");
        assert_eq!(query_arg("q=hello+w%6Frld", "q").unwrap(), "hello world");
        assert!(query_arg("x=1", "y").is_none());
    }

    #[test]
    fn uri_captures_by_name_or_number() {
        let named = vec![("user".to_string(), "42".to_string())];
        let numbered = vec![Some("/u/42".to_string()), Some("42".to_string())];
        let caps = UriCaptures {
            named: &named,
            numbered: &numbered,
        };
        let ctx = HashContext {
            uri_captures: Some(caps),
            ..Default::default()
        };
        let r = rule(HashSource::UriCapture("user".into()), HashSource::None);
        assert_eq!(r.value(&ctx).0, "42");
        let r = rule(HashSource::UriCapture("1".into()), HashSource::None);
        assert_eq!(r.value(&ctx).0, "42");
    }
}
