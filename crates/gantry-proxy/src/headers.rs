//! Kong's header rules on the way to the upstream (kong-reference §5.2) and back to the
//! client (§5.3): hop-by-hop removal, `X-Forwarded-*`, `X-Real-IP`, `Via`, `Server` and
//! the `X-Kong-*` latency and request-id headers, each switchable by `headers`.

use gantry_plugins::{ConsumerHeaders, RequestHeaders};
use http::header::{self, HeaderName, HeaderValue};

/// Product token used in `Via` and `Server`.
pub const SERVER_TOKEN: &str = concat!("gantry/", env!("CARGO_PKG_VERSION"));

pub static X_KONG_REQUEST_ID: HeaderName = HeaderName::from_static("x-kong-request-id");
pub static X_KONG_PROXY_LATENCY: HeaderName = HeaderName::from_static("x-kong-proxy-latency");
pub static X_KONG_UPSTREAM_LATENCY: HeaderName = HeaderName::from_static("x-kong-upstream-latency");
pub static X_KONG_RESPONSE_LATENCY: HeaderName = HeaderName::from_static("x-kong-response-latency");
pub static X_KONG_UPSTREAM_STATUS: HeaderName = HeaderName::from_static("x-kong-upstream-status");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
static X_FORWARDED_PATH: HeaderName = HeaderName::from_static("x-forwarded-path");
static X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

/// Which Kong headers to emit (kong.conf `headers` and `headers_upstream`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderOptions {
    pub server: bool,
    pub via: bool,
    pub proxy_latency: bool,
    pub upstream_latency: bool,
    pub response_latency: bool,
    pub request_id: bool,
    pub upstream_status: bool,
    /// `headers_upstream`: send `X-Kong-Request-Id` to the upstream.
    pub upstream_request_id: bool,
}

impl Default for HeaderOptions {
    /// Kong's default: `server_tokens, latency_tokens, X-Kong-Request-Id`.
    fn default() -> Self {
        Self {
            server: true,
            via: true,
            proxy_latency: true,
            upstream_latency: true,
            response_latency: true,
            request_id: true,
            upstream_status: false,
            upstream_request_id: true,
        }
    }
}

impl HeaderOptions {
    /// `headers = off`.
    pub fn off() -> Self {
        Self {
            server: false,
            via: false,
            proxy_latency: false,
            upstream_latency: false,
            response_latency: false,
            request_id: false,
            upstream_status: false,
            upstream_request_id: false,
        }
    }
}

/// `Via` values for the common client versions, built once (the hot path clones them,
/// which only bumps a reference count).
static VIA_11: HeaderValue =
    HeaderValue::from_static(concat!("1.1 gantry/", env!("CARGO_PKG_VERSION")));
static VIA_2: HeaderValue =
    HeaderValue::from_static(concat!("2 gantry/", env!("CARGO_PKG_VERSION")));
static VIA_10: HeaderValue =
    HeaderValue::from_static(concat!("1.0 gantry/", env!("CARGO_PKG_VERSION")));
static HTTP: HeaderValue = HeaderValue::from_static("http");
static HTTPS: HeaderValue = HeaderValue::from_static("https");

/// Our `Via` entry for a client speaking `version`.
pub fn via_value(version: http::Version) -> &'static HeaderValue {
    match version {
        http::Version::HTTP_2 => &VIA_2,
        http::Version::HTTP_10 | http::Version::HTTP_09 => &VIA_10,
        _ => &VIA_11,
    }
}

/// Our `Via` entry for a client speaking `version`, as bytes.
pub fn via_bytes(version: http::Version) -> &'static [u8] {
    match version {
        http::Version::HTTP_2 => concat!("2 gantry/", env!("CARGO_PKG_VERSION")).as_bytes(),
        http::Version::HTTP_10 | http::Version::HTTP_09 => {
            concat!("1.0 gantry/", env!("CARGO_PKG_VERSION")).as_bytes()
        }
        _ => concat!("1.1 gantry/", env!("CARGO_PKG_VERSION")).as_bytes(),
    }
}

/// `http` / `https` as a header value.
pub fn scheme_value(https: bool) -> &'static HeaderValue {
    if https { &HTTPS } else { &HTTP }
}

/// What the proxy knows about the downstream request, for the `X-Forwarded-*` family.
/// Values arrive as header values so that per-connection ones are built once.
pub struct ForwardedFacts<'a> {
    /// The client address after real-IP processing (`$remote_addr`).
    pub client_ip: &'a HeaderValue,
    /// Whether the direct peer is in `trusted_ips`.
    pub trusted: bool,
    /// `http` or `https`.
    pub scheme: &'a HeaderValue,
    /// Request host without port (a stretch of the request's own value).
    pub host: Option<&'a [u8]>,
    /// The listener's port.
    pub listener_port: &'a HeaderValue,
    /// Request path without the query string.
    pub path: &'a str,
    /// The route prefix strip_path removed, if it removed something other than `/`.
    pub prefix: Option<&'a str>,
    /// The client's HTTP version, for `Via`.
    pub version: http::Version,
    pub request_id: &'a crate::request_id::RequestId,
}

/// What happens to one Kong-managed request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Managed<'a> {
    /// The client's lines are dropped and this value is sent.
    Set(&'a [u8]),
    /// The client's lines go through as they are (a trusted peer's, or unmanaged).
    Keep,
    /// The client's lines are dropped.
    Remove,
}

/// Kong's headers on the way to the upstream (kong-reference §5.2), decided once per
/// request and applied while the request head is written
/// ([`crate::h1::head::write_request_head`]): the client's `HeaderMap` is never
/// edited, and values are borrowed from the request's facts, so nothing is copied or
/// hashed on the hot path beyond a few lookups.
#[derive(Debug, Clone)]
pub struct UpstreamHeaders<'a> {
    /// `X-Forwarded-For` when the client sent one (ours appended), else the client IP.
    forwarded_for: Option<Vec<u8>>,
    real_ip: &'a [u8],
    proto: Managed<'a>,
    host: Managed<'a>,
    port: Managed<'a>,
    path: Managed<'a>,
    prefix: Managed<'a>,
    /// `None`: `Via` is off and the client's goes through.
    via: Option<Via<'a>>,
    request_id: Option<&'a [u8]>,
    /// Names the client's `Connection` header marked hop-by-hop.
    listed: Vec<HeaderName>,
    /// The client asked for trailers (`TE: trailers` is the one `TE` forwarded).
    te_trailers: bool,
    /// Consumer headers an authentication plugin decided: they replace the
    /// client's lines of those names.
    consumer: Option<&'a ConsumerHeaders>,
}

#[derive(Debug, Clone)]
enum Via<'a> {
    Ours(&'a [u8]),
    Appended(Vec<u8>),
}

/// Which rule a client request header falls under when forwarded.
enum Role {
    HopByHop,
    Te,
    Framing,
    Host,
    Via,
    ForwardedFor,
    RealIp,
    Proto,
    ForwardedHost,
    Port,
    Path,
    Prefix,
    RequestId,
    Other,
}

/// Longest name [`role`] knows (`x-forwarded-prefix`).
const LONGEST_ROLE: usize = 18;

/// Room for the longest name [`role`] or the consumer headers know: a longer client
/// name is none of them.
const LONGEST_MANAGED: usize = if ConsumerHeaders::LONGEST_NAME > LONGEST_ROLE {
    ConsumerHeaders::LONGEST_NAME
} else {
    LONGEST_ROLE
};

/// `name` in lowercase in `buf`, or `None` when it is longer than any managed name.
fn lowercase<'b>(name: &[u8], buf: &'b mut [u8; LONGEST_MANAGED]) -> Option<&'b [u8]> {
    let out = buf.get_mut(..name.len())?;
    for (o, b) in out.iter_mut().zip(name) {
        *o = b.to_ascii_lowercase();
    }
    Some(out)
}

/// The rule for a client line named `name` (any case).
fn role(name: &[u8]) -> Role {
    // Every managed name starts with one of these: most client lines (`accept`,
    // `user-agent`, `apikey`, ...) are told apart by their first byte.
    if !matches!(
        name.first().map(u8::to_ascii_lowercase),
        Some(b'c' | b'h' | b'k' | b'p' | b't' | b'u' | b'v' | b'x')
    ) {
        return Role::Other;
    }
    let mut buf = [0; LONGEST_MANAGED];
    let Some(lower) = lowercase(name, &mut buf) else {
        return Role::Other;
    };
    match lower {
        b"connection" | b"keep-alive" | b"proxy" | b"proxy-connection" | b"trailer"
        | b"transfer-encoding" | b"upgrade" => Role::HopByHop,
        b"te" => Role::Te,
        b"content-length" => Role::Framing,
        b"host" => Role::Host,
        b"via" => Role::Via,
        b"x-forwarded-for" => Role::ForwardedFor,
        b"x-real-ip" => Role::RealIp,
        b"x-forwarded-proto" => Role::Proto,
        b"x-forwarded-host" => Role::ForwardedHost,
        b"x-forwarded-port" => Role::Port,
        b"x-forwarded-path" => Role::Path,
        b"x-forwarded-prefix" => Role::Prefix,
        b"x-kong-request-id" => Role::RequestId,
        _ => Role::Other,
    }
}

/// Whether `name` (any case) is one of the consumer headers an authentication sets.
fn is_consumer_header(name: &[u8]) -> bool {
    if !name.first().is_some_and(|b| b.eq_ignore_ascii_case(&b'x')) {
        return false;
    }
    let mut buf = [0; LONGEST_MANAGED];
    lowercase(name, &mut buf).is_some_and(ConsumerHeaders::names_bytes)
}

/// Names a `Connection` value marks hop-by-hop (its `keep-alive`, `close` and
/// `upgrade` tokens are connection options, not names).
fn headers_named_in(value: &HeaderValue) -> Vec<HeaderName> {
    let Ok(s) = value.to_str() else {
        return Vec::new();
    };
    s.split(',')
        .map(str::trim)
        .filter(|t| {
            !t.is_empty()
                && !t.eq_ignore_ascii_case("keep-alive")
                && !t.eq_ignore_ascii_case("close")
                && !t.eq_ignore_ascii_case("upgrade")
        })
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect()
}

fn joined(prev: &[u8], next: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(prev.len() + 2 + next.len());
    v.extend_from_slice(prev);
    v.extend_from_slice(b", ");
    v.extend_from_slice(next);
    v
}

impl<'a> UpstreamHeaders<'a> {
    /// Decides Kong's upstream headers for a request with client headers `headers`.
    /// `scan` is what one pass over `headers` found (see
    /// [`crate::downstream::HeaderScan`]).
    pub fn new(
        headers: &RequestHeaders,
        scan: &crate::downstream::HeaderScan,
        facts: &'a ForwardedFacts<'a>,
        opts: &HeaderOptions,
    ) -> Self {
        let trusted = facts.trusted;
        // A trusted peer's own X-Forwarded-* pass through; anyone else's are replaced.
        let keep_or = |name: &HeaderName, value: &'a [u8]| {
            if trusted && headers.contains_key(name) {
                Managed::Keep
            } else {
                Managed::Set(value)
            }
        };
        let ip = facts.client_ip.as_bytes();
        let forwarded_for = match &scan.forwarded_for {
            Some(prev) if !prev.is_empty() => Some(joined(prev.as_bytes(), ip)),
            _ => None,
        };
        let prefix = match facts.prefix {
            Some(p) => keep_or(&X_FORWARDED_PREFIX, p.as_bytes()),
            None if trusted => Managed::Keep,
            None => Managed::Remove,
        };
        let via = opts.via.then(|| {
            let mine = via_value(facts.version).as_bytes();
            match &scan.via {
                Some(prev) if !prev.is_empty() => Via::Appended(joined(prev.as_bytes(), mine)),
                _ => Via::Ours(mine),
            }
        });
        let mut listed = Vec::new();
        if scan.connection {
            for v in headers.get_all(header::CONNECTION) {
                listed.extend(headers_named_in(v));
            }
        }
        let te_trailers = scan.te
            && headers.get_all(header::TE).iter().any(|v| {
                v.as_bytes()
                    .split(|&b| b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"trailers"))
            });
        UpstreamHeaders {
            forwarded_for,
            real_ip: ip,
            proto: keep_or(&X_FORWARDED_PROTO, facts.scheme.as_bytes()),
            host: match facts.host {
                Some(h) => keep_or(&X_FORWARDED_HOST, h),
                None => Managed::Keep,
            },
            port: keep_or(&X_FORWARDED_PORT, facts.listener_port.as_bytes()),
            path: keep_or(&X_FORWARDED_PATH, facts.path.as_bytes()),
            prefix,
            via,
            request_id: opts
                .upstream_request_id
                .then(|| facts.request_id.as_bytes()),
            listed,
            te_trailers,
            consumer: None,
        }
    }

    /// Adds the consumer headers an authentication decided (see
    /// [`gantry_plugins::consumers::authenticate`]). In place: the struct is large, and
    /// taking and returning it by value cost a copy of it per request.
    pub fn set_consumer(&mut self, consumer: Option<&'a ConsumerHeaders>) {
        self.consumer = consumer;
    }

    /// Whether the client's line `name` (any case) is forwarded as it is.
    fn forwards(&self, name: &[u8]) -> bool {
        let keep = |m: &Managed<'_>| *m == Managed::Keep;
        match role(name) {
            Role::HopByHop
            | Role::Te
            | Role::Framing
            | Role::Host
            | Role::ForwardedFor
            | Role::RealIp => false,
            Role::Via => self.via.is_none(),
            Role::Proto => keep(&self.proto),
            Role::ForwardedHost => keep(&self.host),
            Role::Port => keep(&self.port),
            Role::Path => keep(&self.path),
            Role::Prefix => keep(&self.prefix),
            Role::RequestId => self.request_id.is_none(),
            Role::Other => {
                !self
                    .listed
                    .iter()
                    .any(|l| l.as_str().as_bytes().eq_ignore_ascii_case(name))
                    && (self.consumer.is_none() || !is_consumer_header(name))
            }
        }
    }

    /// The client's headers that go upstream unchanged, then Kong's (the caller adds
    /// `Host` and the framing).
    /// The client's lines keep their spelling and order while no plugin changed them.
    pub fn for_each(&self, headers: &RequestHeaders, mut f: impl LineSink) {
        headers.for_each_line(|line| {
            if self.forwards(line.name) {
                f.line(line.name, line.value);
            }
        });
        if let Some(c) = self.consumer {
            f.consumer(c);
        }
        if self.te_trailers {
            f.ours(b"te: ", b"trailers");
        }
        f.ours(
            b"x-forwarded-for: ",
            self.forwarded_for.as_deref().unwrap_or(self.real_ip),
        );
        f.ours(b"x-real-ip: ", self.real_ip);
        let managed = [
            (&b"x-forwarded-proto: "[..], &self.proto),
            (b"x-forwarded-host: ", &self.host),
            (b"x-forwarded-port: ", &self.port),
            (b"x-forwarded-path: ", &self.path),
            (b"x-forwarded-prefix: ", &self.prefix),
        ];
        for (name, m) in managed {
            if let Managed::Set(v) = m {
                f.ours(name, v);
            }
        }
        match &self.via {
            Some(Via::Ours(v)) => f.ours(b"via: ", v),
            Some(Via::Appended(v)) => f.ours(b"via: ", v),
            None => {}
        }
        if let Some(v) = self.request_id {
            f.ours(b"x-kong-request-id: ", v);
        }
    }
}

/// Where [`UpstreamHeaders::for_each`] puts the lines: any `FnMut(name, value)`, or a
/// writer that takes the consumer headers' prepared HTTP/1.1 lines whole.
pub trait LineSink {
    fn line(&mut self, name: &[u8], value: &[u8]);

    fn consumer(&mut self, c: &ConsumerHeaders) {
        c.for_each(|n, v| self.line(n, v));
    }

    /// One of Kong's own lines: `start` is its lowercase name and `": "` (a writer
    /// copies the two as one piece).
    fn ours(&mut self, start: &'static [u8], value: &[u8]) {
        self.line(start.strip_suffix(b": ").unwrap_or(start), value);
    }
}

impl<F: FnMut(&[u8], &[u8])> LineSink for F {
    fn line(&mut self, name: &[u8], value: &[u8]) {
        self(name, value);
    }
}

/// Precomputed values for latencies up to this many milliseconds.
const CACHED_MILLIS: usize = 1024;

static MILLIS: std::sync::LazyLock<Vec<HeaderValue>> =
    std::sync::LazyLock::new(|| (0..CACHED_MILLIS).map(HeaderValue::from).collect());

/// A millisecond figure as a header value; small values come from a table, so the
/// latency headers cost no allocation.
pub fn millis_value(ms: u128) -> HeaderValue {
    match usize::try_from(ms).ok().and_then(|i| MILLIS.get(i)) {
        Some(v) => v.clone(),
        None => HeaderValue::from(u64::try_from(ms).unwrap_or(u64::MAX)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http::HeaderMap;

    /// Every managed name, in any case, gets past `role`'s first-byte filter, and
    /// consumer headers are found in any case.
    #[test]
    fn managed_names_are_recognised_in_any_case() {
        let managed = [
            "connection",
            "keep-alive",
            "proxy",
            "proxy-connection",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "te",
            "content-length",
            "host",
            "via",
            "x-forwarded-for",
            "x-real-ip",
            "x-forwarded-proto",
            "x-forwarded-host",
            "x-forwarded-port",
            "x-forwarded-path",
            "x-forwarded-prefix",
            "x-kong-request-id",
        ];
        assert_eq!(managed.iter().map(|n| n.len()).max(), Some(LONGEST_ROLE));
        for n in managed {
            for spelled in [n.to_string(), n.to_ascii_uppercase()] {
                assert!(
                    !matches!(role(spelled.as_bytes()), Role::Other),
                    "{spelled}"
                );
            }
        }
        for n in [
            "accept",
            "user-agent",
            "apikey",
            "x-custom",
            "authorization",
        ] {
            assert!(matches!(role(n.as_bytes()), Role::Other), "{n}");
        }
        for n in ConsumerHeaders::NAMES {
            for spelled in [n.to_string(), n.to_ascii_uppercase()] {
                assert!(is_consumer_header(spelled.as_bytes()), "{spelled}");
            }
        }
        assert!(!is_consumer_header(b"x-consumer-idx"));
        assert!(!is_consumer_header(b"apikey"));
    }

    fn hv(s: &'static str) -> HeaderValue {
        HeaderValue::from_static(s)
    }

    static IP: HeaderValue = HeaderValue::from_static("10.0.0.7");
    static PORT: HeaderValue = HeaderValue::from_static("8000");
    static ID: std::sync::LazyLock<crate::request_id::RequestId> =
        std::sync::LazyLock::new(crate::request_id::RequestId::generate);

    fn facts(trusted: bool) -> ForwardedFacts<'static> {
        ForwardedFacts {
            client_ip: &IP,
            trusted,
            scheme: scheme_value(false),
            host: Some(b"example.com"),
            listener_port: &PORT,
            path: "/a/b",
            prefix: Some("/a"),
            version: http::Version::HTTP_11,
            request_id: &ID,
        }
    }

    /// The upstream request's headers as written, lowercased, in order.
    fn sent(h: &HeaderMap, trusted: bool, opts: &HeaderOptions) -> Vec<(String, String)> {
        let f = facts(trusted);
        let h = RequestHeaders::from(h.clone());
        let scan = crate::downstream::HeaderScan::of(&h);
        let u = UpstreamHeaders::new(&h, &scan, &f, opts);
        let mut out = Vec::new();
        u.for_each(&h, |n: &[u8], v: &[u8]| {
            out.push((
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            ));
        });
        out
    }

    fn get<'a>(sent: &'a [(String, String)], name: &str) -> Vec<&'a str> {
        sent.iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn hop_by_hop_and_connection_listed_headers_stay_behind() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, hv("keep-alive, X-Secret"));
        h.insert("x-secret", hv("1"));
        h.insert("keep-alive", hv("timeout=5"));
        h.insert("proxy-connection", hv("keep-alive"));
        h.insert("x-kept", hv("1"));
        h.insert(header::TE, hv("trailers, deflate"));
        h.insert(header::HOST, hv("client-host"));
        h.insert(header::CONTENT_LENGTH, hv("5"));
        let s = sent(&h, false, &HeaderOptions::default());
        for gone in [
            "x-secret",
            "keep-alive",
            "connection",
            "proxy-connection",
            "host",
            "content-length",
        ] {
            assert!(get(&s, gone).is_empty(), "{gone} forwarded");
        }
        assert_eq!(get(&s, "te"), vec!["trailers"]);
        assert_eq!(get(&s, "x-kept"), vec!["1"]);
    }

    #[test]
    fn untrusted_peer_gets_forwarded_headers_overwritten() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", hv("1.2.3.4"));
        h.insert("x-forwarded-proto", hv("https"));
        h.insert("x-forwarded-prefix", hv("/evil"));
        h.insert("x-kong-request-id", hv("forged"));
        h.insert("via", hv("1.0 fred"));
        let s = sent(&h, false, &HeaderOptions::default());
        assert_eq!(get(&s, "x-forwarded-for"), vec!["1.2.3.4, 10.0.0.7"]);
        assert_eq!(get(&s, "x-forwarded-proto"), vec!["http"]);
        assert_eq!(get(&s, "x-forwarded-host"), vec!["example.com"]);
        assert_eq!(get(&s, "x-forwarded-port"), vec!["8000"]);
        assert_eq!(get(&s, "x-forwarded-path"), vec!["/a/b"]);
        assert_eq!(get(&s, "x-forwarded-prefix"), vec!["/a"]);
        assert_eq!(get(&s, "x-real-ip"), vec!["10.0.0.7"]);
        assert_eq!(
            get(&s, "via"),
            vec![format!("1.0 fred, 1.1 {SERVER_TOKEN}").as_str()]
        );
        assert_eq!(get(&s, "x-kong-request-id"), vec![ID.as_str()]);
    }

    #[test]
    fn untrusted_prefix_is_removed_when_nothing_was_stripped() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-prefix", hv("/evil"));
        let f = ForwardedFacts {
            prefix: None,
            ..facts(false)
        };
        let h = RequestHeaders::from(h);
        let scan = crate::downstream::HeaderScan::of(&h);
        let u = UpstreamHeaders::new(&h, &scan, &f, &HeaderOptions::default());
        let mut names = Vec::new();
        u.for_each(&h, |n: &[u8], _: &[u8]| names.push(n.to_vec()));
        assert!(!names.iter().any(|n| n == b"x-forwarded-prefix"));
    }

    #[test]
    fn trusted_peer_passes_forwarded_headers_through() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-proto", hv("https"));
        h.insert("x-forwarded-port", hv("443"));
        h.insert("via", hv("1.0 fred"));
        h.insert("x-kong-request-id", hv("theirs"));
        let s = sent(&h, true, &HeaderOptions::off());
        assert_eq!(get(&s, "x-forwarded-proto"), vec!["https"]);
        assert_eq!(get(&s, "x-forwarded-port"), vec!["443"]);
        assert_eq!(get(&s, "x-forwarded-host"), vec!["example.com"]);
        // Via and the request id are off: the client's go through untouched.
        assert_eq!(get(&s, "via"), vec!["1.0 fred"]);
        assert_eq!(get(&s, "x-kong-request-id"), vec!["theirs"]);
    }
}
