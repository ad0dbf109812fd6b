//! An upstream response's header lines as they arrived: the head's bytes and where
//! each name and value sits in them. Relaying a response over HTTP/1.1 copies these
//! lines to the client (minus hop-by-hop ones and those Gantry overrides) without
//! ever building a `HeaderMap`; plugins and HTTP/2 get a map built on demand
//! ([`RawHeaders::merged_into`]). Names keep the upstream's spelling, as nginx does.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Byte ranges of one header line inside the head (heads are at most
/// [`super::head::MAX_HEAD_BYTES`], so `u16` offsets suffice).
#[derive(Clone, Copy, Default, Debug)]
pub struct Span {
    pub name: (u16, u16),
    pub value: (u16, u16),
    /// The name's class, found once when the line is parsed.
    pub known: Option<Known>,
}

fn range((a, b): (u16, u16)) -> std::ops::Range<usize> {
    usize::from(a)..usize::from(b)
}

/// Header lines of one message, in order.
#[derive(Clone, Debug, Default)]
pub struct RawHeaders {
    head: Bytes,
    spans: Vec<Span>,
    /// Which [`Known`] names occur (bit per variant): lookups of them that would
    /// find nothing cost no scan.
    present: u16,
}

/// The header names relaying treats specially.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    Connection,
    KeepAlive,
    Proxy,
    ProxyConnection,
    Te,
    Trailer,
    TransferEncoding,
    Upgrade,
    ContentLength,
    Date,
    Server,
    Via,
    /// `X-Kong-*`.
    XKong,
    Host,
    Expect,
}

impl Known {
    fn bit(self) -> u16 {
        1 << (self as u16)
    }

    fn is_hop_by_hop(self) -> bool {
        matches!(
            self,
            Known::Connection
                | Known::KeepAlive
                | Known::Proxy
                | Known::ProxyConnection
                | Known::Te
                | Known::Trailer
                | Known::TransferEncoding
                | Known::Upgrade
        )
    }
}

/// Classifies a header name (any case) by its length first, so most names cost one
/// comparison at most.
pub fn classify(name: &[u8]) -> Option<Known> {
    let known = match name.len() {
        2 if eq_folded(name, b"te") => Known::Te,
        3 if eq_folded(name, b"via") => Known::Via,
        4 if eq_folded(name, b"date") => Known::Date,
        4 if eq_folded(name, b"host") => Known::Host,
        5 if eq_folded(name, b"proxy") => Known::Proxy,
        6 if eq_folded(name, b"server") => Known::Server,
        6 if eq_folded(name, b"expect") => Known::Expect,
        7 if eq_folded(name, b"trailer") => Known::Trailer,
        7 if eq_folded(name, b"upgrade") => Known::Upgrade,
        10 if eq_folded(name, b"connection") => Known::Connection,
        10 if eq_folded(name, b"keep-alive") => Known::KeepAlive,
        14 if eq_folded(name, b"content-length") => Known::ContentLength,
        16 if eq_folded(name, b"proxy-connection") => Known::ProxyConnection,
        17 if eq_folded(name, b"transfer-encoding") => Known::TransferEncoding,
        n if n > 7 && name.get(..7).is_some_and(|p| eq_folded(p, b"x-kong-")) => Known::XKong,
        _ => return None,
    };
    Some(known)
}

/// `name` is `lit` (lowercase letters, digits and `-`) in any case. Letters compare with bit
/// 0x20 forced on and other bytes exactly, so this is exact for any input. With `N`
/// fixed it compiles to two or three overlapping word compares (byte-wise folding cost
/// ~50 instructions per header line, and this runs for every line of every message).
#[inline(always)]
pub(crate) fn eq_folded<const N: usize>(name: &[u8], lit: &[u8; N]) -> bool {
    if name.len() != N {
        return false;
    }
    if N >= 8 {
        let eq = |at| word::<8>(name, at) | fold_mask::<8>(lit, at) == word::<8>(lit, at);
        eq(0) && eq(N - 8) && (N <= 16 || eq(8))
    } else if N >= 4 {
        let eq = |at| word::<4>(name, at) | fold_mask::<4>(lit, at) == word::<4>(lit, at);
        eq(0) && eq(N - 4)
    } else {
        let fold = |l: u8| if l.is_ascii_lowercase() { 0x20 } else { 0 };
        name.iter().zip(lit).all(|(&b, &l)| b | fold(l) == l)
    }
}

/// `W` (8 or 4) bytes of `s` from `at` as a little-endian number, in one load (0 past
/// the end).
#[inline(always)]
fn word<const W: usize>(s: &[u8], at: usize) -> u64 {
    match s.get(at..at + W) {
        Some(c) if W == 8 => <[u8; 8]>::try_from(c).map_or(0, u64::from_le_bytes),
        Some(c) if W == 4 => <[u8; 4]>::try_from(c).map_or(0, |a| u64::from(u32::from_le_bytes(a))),
        _ => 0,
    }
}

/// 0x20 in each byte of `lit[at..at + W]` that is a lowercase letter.
#[inline(always)]
fn fold_mask<const W: usize>(lit: &[u8], at: usize) -> u64 {
    let mut m = 0u64;
    for (k, &b) in lit.iter().skip(at).take(W).enumerate() {
        if b.is_ascii_lowercase() {
            m |= 0x20 << (8 * k);
        }
    }
    m
}

/// Something with header lines to look up by name (a `HeaderMap` or raw lines).
pub trait HeaderLines {
    /// Every value of `name` (lowercase), in order.
    fn values_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]>;

    fn has(&self, name: &str) -> bool {
        self.values_of(name).next().is_some()
    }
}

impl HeaderLines for HeaderMap {
    fn values_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> {
        self.get_all(name).iter().map(HeaderValue::as_bytes)
    }
}

impl HeaderLines for RawHeaders {
    fn values_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> {
        let absent = classify(name.as_bytes())
            .is_some_and(|k| k != Known::XKong && self.present & k.bit() == 0);
        let lines = if absent { &[][..] } else { &self.spans[..] };
        lines
            .iter()
            .map(|s| {
                (
                    self.head.get(range(s.name)).unwrap_or(&[]),
                    self.head.get(range(s.value)).unwrap_or(&[]),
                )
            })
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }
}

impl RawHeaders {
    /// Lines whose `known` class is already set (as the parser sets it).
    pub fn new(head: Bytes, spans: Vec<Span>) -> Self {
        let mut present = 0;
        for s in &spans {
            if let Some(k) = s.known {
                present |= k.bit();
            }
        }
        Self {
            head,
            spans,
            present,
        }
    }

    /// Whether a line named `k` occurs.
    pub fn has_known(&self, k: Known) -> bool {
        self.present & k.bit() != 0
    }

    /// `(class, name, whole line)` of every line, in order: the line is the bytes as
    /// received from the name to the end of line included, ready to copy as it is.
    pub fn wire_lines(&self) -> impl Iterator<Item = (Option<Known>, &[u8], &[u8])> {
        self.spans.iter().map(|s| {
            let end = usize::from(s.value.1);
            // httparse accepts CRLF or a bare LF after the value.
            let eol = match self.head.get(end) {
                Some(b'\r') => end + 2,
                _ => end + 1,
            };
            (
                s.known,
                self.head.get(range(s.name)).unwrap_or(&[]),
                self.head
                    .get(usize::from(s.name.0)..eol.min(self.head.len()))
                    .unwrap_or(&[]),
            )
        })
    }

    /// `(class, name, value)` of every line, in order.
    pub fn known_lines(&self) -> impl Iterator<Item = (Option<Known>, &[u8], &[u8])> {
        self.spans.iter().map(|s| {
            (
                s.known,
                self.head.get(range(s.name)).unwrap_or(&[]),
                self.head.get(range(s.value)).unwrap_or(&[]),
            )
        })
    }

    /// `(name, value)` of every line, in order.
    pub fn lines(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.spans.iter().map(|s| {
            (
                self.head.get(range(s.name)).unwrap_or(&[]),
                self.head.get(range(s.value)).unwrap_or(&[]),
            )
        })
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// A `HeaderMap` of these lines (values share the head's bytes). Fails on a name or
    /// value `http` does not accept.
    pub fn to_map(&self) -> Result<HeaderMap, &'static str> {
        let mut map = HeaderMap::with_capacity(self.spans.len() + 8);
        for s in &self.spans {
            let name = gantry_plugins::name_cache::header_name(
                self.head.get(range(s.name)).unwrap_or(&[]),
            )
            .map_err(|_| "invalid header name")?;
            let value = HeaderValue::from_maybe_shared(self.head.slice(range(s.value)))
                .map_err(|_| "invalid header value")?;
            map.append(name, value);
        }
        Ok(map)
    }
}

/// Kong's headers on a relayed response (kong-reference §5.3), kept as plain values
/// and written straight into the response head.
#[derive(Debug, Default, Clone)]
pub struct KongHeaders {
    /// `Via` (ours, or the upstream's with ours appended); `None` = off.
    pub via: Option<std::borrow::Cow<'static, [u8]>>,
    /// Add `Server` (the upstream sent none).
    pub server: bool,
    pub upstream_latency: Option<u64>,
    pub proxy_latency: Option<u64>,
    pub upstream_status: Option<u16>,
    pub request_id: Option<crate::request_id::RequestId>,
}

impl KongHeaders {
    /// Whether Kong sets `name` (so the upstream's copy is dropped).
    fn overrides(&self, name: &[u8]) -> bool {
        let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
        (self.via.is_some() && is(b"via"))
            || (self.upstream_latency.is_some() && is(b"x-kong-upstream-latency"))
            || (self.proxy_latency.is_some() && is(b"x-kong-proxy-latency"))
            || (self.upstream_status.is_some() && is(b"x-kong-upstream-status"))
            || (self.request_id.is_some() && is(b"x-kong-request-id"))
    }

    /// Each header Kong adds, as `(start, value)`: `start` is the lowercase name and
    /// `": "` (so a writer copies the two as one piece, as `LineSink::ours`).
    pub fn for_each(&self, mut f: impl FnMut(&'static [u8], &[u8])) {
        if let Some(v) = &self.via {
            f(b"via: ", v);
        }
        if self.server {
            f(b"server: ", crate::headers::SERVER_TOKEN.as_bytes());
        }
        let mut digits = itoa::Buffer::new();
        if let Some(ms) = self.upstream_latency {
            f(b"x-kong-upstream-latency: ", digits.format(ms).as_bytes());
        }
        if let Some(ms) = self.proxy_latency {
            f(b"x-kong-proxy-latency: ", digits.format(ms).as_bytes());
        }
        if let Some(s) = self.upstream_status {
            f(b"x-kong-upstream-status: ", digits.format(s).as_bytes());
        }
        if let Some(id) = &self.request_id {
            f(b"x-kong-request-id: ", id.as_bytes());
        }
    }
}

/// Upstream response lines still to be relayed, with what decides which of them go:
/// hop-by-hop names (the standard set and those the upstream's `Connection` lists)
/// never do, and a name Gantry sets itself ([`KongHeaders`], or the response's own
/// `HeaderMap`) wins over the upstream's.
#[derive(Debug, Default)]
pub struct Relayed {
    pub raw: RawHeaders,
    /// Names the upstream's `Connection` header marked hop-by-hop (lowercase).
    listed: Vec<Vec<u8>>,
    pub kong: KongHeaders,
}

impl Relayed {
    pub fn new(raw: RawHeaders, kong: KongHeaders) -> Self {
        let mut listed = Vec::new();
        let connection = raw
            .has_known(Known::Connection)
            .then(|| {
                raw.known_lines()
                    .filter(|(k, _, _)| *k == Some(Known::Connection))
                    .map(|(_, _, v)| v)
            })
            .into_iter()
            .flatten();
        for v in connection {
            for t in v.split(|&b| b == b',') {
                let t = t.trim_ascii();
                if !t.is_empty()
                    && !t.eq_ignore_ascii_case(b"keep-alive")
                    && !t.eq_ignore_ascii_case(b"close")
                    && !t.eq_ignore_ascii_case(b"upgrade")
                {
                    listed.push(t.to_ascii_lowercase());
                }
            }
        }
        Self { raw, listed, kong }
    }

    /// Whether the upstream line `name` goes to the client, next to `own` (the headers
    /// Gantry set on the response). `Content-Length` is left to the caller (framing).
    /// `known` is the name's class (see [`Span::known`]).
    pub fn passes(&self, known: Option<Known>, name: &[u8], own: &HeaderMap) -> bool {
        let own_has = || {
            !own.is_empty()
                && gantry_plugins::name_cache::header_name(name).is_ok_and(|n| own.contains_key(n))
        };
        match known {
            Some(k) if k.is_hop_by_hop() => false,
            Some(Known::Via | Known::XKong) => !(self.kong.overrides(name) || own_has()),
            Some(Known::Server) => !own_has(),
            _ => {
                self.listed.is_empty()
                    || !self
                        .listed
                        .iter()
                        .any(|l| name.eq_ignore_ascii_case(l.as_slice()))
            }
        }
    }

    /// The relayed lines and `own` as one `HeaderMap` (for plugins and HTTP/2): the
    /// upstream's lines that pass, then Gantry's, which replace same-named ones
    /// (`Set-Cookie` is added to, never replaced).
    pub fn merged_into(self, own: HeaderMap) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.raw.len() + own.len());
        for s in &self.raw.spans {
            let name_bytes = self.raw.head.get(range(s.name)).unwrap_or(&[]);
            if !self.passes(s.known, name_bytes, &own) {
                continue;
            }
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name_bytes),
                HeaderValue::from_maybe_shared(self.raw.head.slice(range(s.value))),
            ) else {
                continue;
            };
            map.append(name, value);
        }
        self.kong.for_each(|start, v| {
            let n = start.strip_suffix(b": ").unwrap_or(start);
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(n), HeaderValue::from_bytes(v)) {
                map.insert(n, v);
            }
        });
        let mut last: Option<HeaderName> = None;
        for (name, value) in own {
            let name = match name {
                Some(n) => {
                    last = Some(n.clone());
                    if n != header::SET_COOKIE {
                        map.remove(&n);
                    }
                    n
                }
                None => match &last {
                    Some(n) => n.clone(),
                    None => continue,
                },
            };
            map.append(name, value);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn relayed(lines: &[(&str, &str)]) -> Relayed {
        let mut head = Vec::new();
        let mut spans = Vec::new();
        for (n, v) in lines {
            let ns = head.len() as u16;
            head.extend_from_slice(n.as_bytes());
            let ne = head.len() as u16;
            head.extend_from_slice(b": ");
            let vs = head.len() as u16;
            head.extend_from_slice(v.as_bytes());
            let ve = head.len() as u16;
            head.extend_from_slice(b"\r\n");
            spans.push(Span {
                name: (ns, ne),
                value: (vs, ve),
                known: classify(n.as_bytes()),
            });
        }
        Relayed::new(
            RawHeaders::new(Bytes::from(head), spans),
            KongHeaders::default(),
        )
    }

    /// `classify` is exactly an ASCII-case-insensitive comparison: every byte of every
    /// known name, changed to each other value, is checked against that.
    #[test]
    fn classify_is_exactly_case_insensitive_equality() {
        let known: &[(&[u8], Known)] = &[
            (b"te", Known::Te),
            (b"via", Known::Via),
            (b"date", Known::Date),
            (b"host", Known::Host),
            (b"proxy", Known::Proxy),
            (b"server", Known::Server),
            (b"expect", Known::Expect),
            (b"trailer", Known::Trailer),
            (b"upgrade", Known::Upgrade),
            (b"connection", Known::Connection),
            (b"keep-alive", Known::KeepAlive),
            (b"content-length", Known::ContentLength),
            (b"proxy-connection", Known::ProxyConnection),
            (b"transfer-encoding", Known::TransferEncoding),
            (b"x-kong-upstream-status", Known::XKong),
        ];
        for &(name, class) in known {
            assert_eq!(classify(name), Some(class));
            assert_eq!(classify(&name.to_ascii_uppercase()), Some(class));
            for i in 0..name.len() {
                for b in 0..=255u8 {
                    let mut n = name.to_vec();
                    n[i] = b;
                    let expect = n.eq_ignore_ascii_case(name)
                        || (class == Known::XKong && n[..7].eq_ignore_ascii_case(b"x-kong-"));
                    assert_eq!(classify(&n) == Some(class), expect, "{n:?}");
                }
            }
            if class != Known::XKong {
                assert_ne!(classify(&name[..name.len() - 1]), Some(class));
            }
        }
        assert_eq!(classify(b"x-kong-"), None);
        assert_eq!(classify(b"content-type"), None);
    }

    #[test]
    fn hop_by_hop_and_listed_lines_stay_behind() {
        let r = relayed(&[
            ("Connection", "keep-alive, X-Secret"),
            ("X-Secret", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Content-Type", "text/plain"),
            ("Set-Cookie", "a=1"),
            ("Via", "1.0 upstream"),
            ("X-Kong-Upstream-Latency", "999"),
        ]);
        let mut r = r;
        r.kong.via = Some(b"1.0 upstream, 1.1 gantry".to_vec().into());
        r.kong.upstream_latency = Some(3);
        let mut own = HeaderMap::new();
        own.append("set-cookie", HeaderValue::from_static("b=2"));
        let passing: Vec<&[u8]> = r
            .raw
            .known_lines()
            .filter(|(k, n, _)| r.passes(*k, n, &own))
            .map(|(_, n, _)| n)
            .collect();
        assert_eq!(passing, vec![&b"Content-Type"[..], b"Set-Cookie"]);
        let map = r.merged_into(own);
        assert_eq!(map["content-type"], "text/plain");
        assert_eq!(map["via"], "1.0 upstream, 1.1 gantry");
        assert_eq!(map["x-kong-upstream-latency"], "3");
        let cookies: Vec<_> = map.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, vec!["a=1", "b=2"]);
        assert!(!map.contains_key("x-secret") && !map.contains_key("connection"));
    }

    #[test]
    fn classifies_names_in_any_case() {
        assert_eq!(classify(b"Connection"), Some(Known::Connection));
        assert_eq!(classify(b"KEEP-ALIVE"), Some(Known::KeepAlive));
        assert_eq!(
            classify(b"Transfer-Encoding"),
            Some(Known::TransferEncoding)
        );
        assert_eq!(classify(b"x-kong-upstream-latency"), Some(Known::XKong));
        assert_eq!(classify(b"x-kong-"), None);
        assert_eq!(classify(b"x-konga"), None);
        assert_eq!(classify(b"content-type"), None);
        assert_eq!(classify(b""), None);
        let r = relayed(&[("Date", "x")]);
        assert!(r.raw.has_known(Known::Date) && !r.raw.has_known(Known::Via));
        assert_eq!(r.raw.values_of("via").count(), 0);
    }

    #[test]
    fn lookups_ignore_case() {
        let r = relayed(&[("SERVER", "nginx"), ("x-a", "1"), ("X-A", "2")]);
        assert!(r.raw.has("server"));
        assert_eq!(r.raw.values_of("x-a").count(), 2);
        assert_eq!(r.raw.to_map().unwrap().get_all("x-a").iter().count(), 2);
    }
}
