//! Kong's header rules on the way to the upstream (kong-reference §5.2) and back to the
//! client (§5.3): hop-by-hop removal, `X-Forwarded-*`, `X-Real-IP`, `Via`, `Server` and
//! the `X-Kong-*` latency and request-id headers, each switchable by `headers`.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Product token used in `Via` and `Server`.
pub const SERVER_TOKEN: &str = concat!("gantry/", env!("CARGO_PKG_VERSION"));

pub static X_KONG_REQUEST_ID: HeaderName = HeaderName::from_static("x-kong-request-id");
pub static X_KONG_PROXY_LATENCY: HeaderName = HeaderName::from_static("x-kong-proxy-latency");
pub static X_KONG_UPSTREAM_LATENCY: HeaderName = HeaderName::from_static("x-kong-upstream-latency");
pub static X_KONG_RESPONSE_LATENCY: HeaderName = HeaderName::from_static("x-kong-response-latency");
pub static X_KONG_UPSTREAM_STATUS: HeaderName = HeaderName::from_static("x-kong-upstream-status");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
static X_FORWARDED_PATH: HeaderName = HeaderName::from_static("x-forwarded-path");
static X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY: HeaderName = HeaderName::from_static("proxy");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

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

/// Removes hop-by-hop headers: those named in `Connection`, plus the standard set.
/// `keep_te_trailers` keeps `TE: trailers` (the client asked for trailers).
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_te_trailers: bool) {
    if let Some(conn) = headers.remove(header::CONNECTION) {
        let listed: Vec<HeaderName> = headers_named_in(&conn);
        for name in listed {
            // Kong keeps the semantics of keep-alive/close/upgrade tokens but removes
            // any other header the client marked hop-by-hop.
            headers.remove(&name);
        }
        // Further Connection values (repeated header lines).
        while let Some(more) = headers.remove(header::CONNECTION) {
            for name in headers_named_in(&more) {
                headers.remove(&name);
            }
        }
    }
    headers.remove(&KEEP_ALIVE);
    headers.remove(&PROXY);
    headers.remove(&PROXY_CONNECTION);
    headers.remove(header::TRANSFER_ENCODING);
    headers.remove(header::UPGRADE);
    headers.remove(header::TRAILER);
    let te_trailers = keep_te_trailers
        && headers.get_all(header::TE).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.to_ascii_lowercase().contains("trailers"))
        });
    headers.remove(header::TE);
    if te_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

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
    /// Request host without port.
    pub host: Option<HeaderValue>,
    /// The listener's port.
    pub listener_port: &'a HeaderValue,
    /// Request path without the query string.
    pub path: &'a str,
    /// The route prefix strip_path removed, if it removed something other than `/`.
    pub prefix: Option<&'a str>,
    /// The client's HTTP version, for `Via`.
    pub version: http::Version,
    pub request_id: &'a HeaderValue,
}

/// Sets Kong's upstream request headers (everything but `Host`).
pub fn set_upstream_request_headers(
    headers: &mut HeaderMap,
    facts: &ForwardedFacts<'_>,
    opts: &HeaderOptions,
) {
    match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.is_empty() => {
            let joined = format!("{prev}, {}", facts.client_ip.to_str().unwrap_or(""));
            set(headers, &X_FORWARDED_FOR, &joined);
        }
        _ => {
            headers.insert(X_FORWARDED_FOR.clone(), facts.client_ip.clone());
        }
    }
    headers.insert(X_REAL_IP.clone(), facts.client_ip.clone());

    let trusted = facts.trusted;
    put(headers, &X_FORWARDED_PROTO, facts.scheme.clone(), trusted);
    if let Some(host) = &facts.host {
        put(headers, &X_FORWARDED_HOST, host.clone(), trusted);
    }
    put(
        headers,
        &X_FORWARDED_PORT,
        facts.listener_port.clone(),
        trusted,
    );
    if !(trusted && headers.contains_key(&X_FORWARDED_PATH)) {
        set(headers, &X_FORWARDED_PATH, facts.path);
    }
    match facts.prefix {
        Some(p) if !(trusted && headers.contains_key(&X_FORWARDED_PREFIX)) => {
            set(headers, &X_FORWARDED_PREFIX, p);
        }
        Some(_) => {}
        None if !trusted => {
            headers.remove(&X_FORWARDED_PREFIX);
        }
        None => {}
    }
    if opts.via {
        append_via(headers, facts.version);
    }
    if opts.upstream_request_id {
        headers.insert(X_KONG_REQUEST_ID.clone(), facts.request_id.clone());
    }
}

/// Sets `name` — unless the peer is trusted and already sent one (pass-through).
fn put(headers: &mut HeaderMap, name: &HeaderName, value: HeaderValue, trusted: bool) {
    if trusted && headers.contains_key(name) {
        return;
    }
    headers.insert(name.clone(), value);
}

/// Appends `<version> gantry/<v>` to any existing `Via`.
pub fn append_via(headers: &mut HeaderMap, version: http::Version) {
    let mine = via_value(version);
    match headers.get(header::VIA).and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.is_empty() => {
            let joined = format!("{prev}, {}", mine.to_str().unwrap_or(""));
            set(headers, &header::VIA, &joined);
        }
        _ => {
            headers.insert(header::VIA, mine.clone());
        }
    }
}

fn set(headers: &mut HeaderMap, name: &HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name.clone(), v);
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
    use super::*;

    fn hv(s: &'static str) -> HeaderValue {
        HeaderValue::from_static(s)
    }

    #[test]
    fn connection_listed_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, hv("keep-alive, X-Secret"));
        h.insert("x-secret", hv("1"));
        h.insert("keep-alive", hv("timeout=5"));
        h.insert("proxy-connection", hv("keep-alive"));
        h.insert("x-kept", hv("1"));
        h.insert(header::TE, hv("trailers, deflate"));
        strip_hop_by_hop(&mut h, true);
        assert!(!h.contains_key("x-secret"));
        assert!(!h.contains_key("keep-alive"));
        assert!(!h.contains_key(header::CONNECTION));
        assert!(!h.contains_key("proxy-connection"));
        assert_eq!(h.get(header::TE), Some(&hv("trailers")));
        assert!(h.contains_key("x-kept"));
    }

    static IP: HeaderValue = HeaderValue::from_static("10.0.0.7");
    static PORT: HeaderValue = HeaderValue::from_static("8000");
    static ID: HeaderValue = HeaderValue::from_static("abc");

    fn facts(trusted: bool) -> ForwardedFacts<'static> {
        ForwardedFacts {
            client_ip: &IP,
            trusted,
            scheme: scheme_value(false),
            host: Some(hv("example.com")),
            listener_port: &PORT,
            path: "/a/b",
            prefix: Some("/a"),
            version: http::Version::HTTP_11,
            request_id: &ID,
        }
    }

    #[test]
    fn untrusted_peer_gets_forwarded_headers_overwritten() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", hv("1.2.3.4"));
        h.insert("x-forwarded-proto", hv("https"));
        h.insert("via", hv("1.0 fred"));
        set_upstream_request_headers(&mut h, &facts(false), &HeaderOptions::default());
        assert_eq!(h["x-forwarded-for"], "1.2.3.4, 10.0.0.7");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "example.com");
        assert_eq!(h["x-forwarded-port"], "8000");
        assert_eq!(h["x-forwarded-path"], "/a/b");
        assert_eq!(h["x-forwarded-prefix"], "/a");
        assert_eq!(h["x-real-ip"], "10.0.0.7");
        assert_eq!(h["via"], format!("1.0 fred, 1.1 {SERVER_TOKEN}").as_str());
        assert_eq!(h["x-kong-request-id"], "abc");
    }

    #[test]
    fn trusted_peer_passes_forwarded_headers_through() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-proto", hv("https"));
        h.insert("x-forwarded-port", hv("443"));
        set_upstream_request_headers(&mut h, &facts(true), &HeaderOptions::off());
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-port"], "443");
        assert_eq!(h["x-forwarded-host"], "example.com");
        assert!(!h.contains_key("via"));
        assert!(!h.contains_key("x-kong-request-id"));
    }
}
