//! The per-request state the proxy fills and the plugins read and change: the
//! request as the upstream will see it, the authenticated consumer, and a typed
//! scratch map for plugins' own per-request data. Also the response-side views
//! handed to `header_filter`, `body_filter` and `log`.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};
use uuid::Uuid;

use crate::consumers::{ConsumerHeaders, ConsumerInfo, CredentialInfo};
use crate::request_headers::RequestHeaders;
use crate::respond::{Decision, KongResponse, error_response};

/// The request as plugins see it. Changes to `method`, `query`, `upstream_path`,
/// `headers` and `body` are what the upstream receives (Kong's
/// `kong.service.request.*`), so the proxy builds the upstream request from these
/// fields after `access`.
#[derive(Debug)]
pub struct RequestCtx {
    /// Request method (request-transformer may change it).
    pub method: Method,
    /// `http` or `https` (`grpc`/`grpcs` for gRPC requests).
    pub scheme: &'static str,
    /// Request host without port.
    pub host: String,
    /// The listener port.
    pub port: u16,
    /// The client's HTTP version.
    pub version: Version,
    /// The request path as received (no query string).
    pub path: String,
    /// The raw query string (no leading `?`); plugins may rewrite it.
    pub query: Option<String>,
    /// Set by a plugin to replace the upstream path the proxy computed.
    pub upstream_path: Option<String>,
    /// Request headers; changes go upstream. The client's lines until a plugin reads
    /// or changes the map (see [`RequestHeaders`]).
    pub headers: RequestHeaders,
    /// The buffered request body, filled by the proxy before `access` when
    /// [`crate::PluginRun::needs_request_body`] says so. Plugins may replace it.
    pub body: Option<Bytes>,
    /// The client address after real-IP processing (`None` for unix sockets).
    pub client_ip: Option<IpAddr>,
    /// The local address the request arrived on (`$server_addr`).
    pub server_addr: Option<IpAddr>,
    /// Serial number of the downstream connection (`$connection`).
    pub connection_id: u64,
    /// Requests served on this connection so far, this one included
    /// (`$connection_requests`).
    pub connection_requests: u64,
    /// The matched route (`None` before routing or when none matched).
    pub route_id: Option<Uuid>,
    /// The matched route's service.
    pub service_id: Option<Uuid>,
    /// Named captures of the matched route's regex path.
    pub uri_captures: Vec<(String, String)>,
    /// `X-Kong-Request-Id` value, used in error bodies.
    pub request_id: String,
    /// Wall-clock time of the request (JWT expiry, HMAC clock skew, key TTLs).
    pub now: SystemTime,
    /// The consumer authenticated so far (Kong's `kong.client.get_consumer`).
    pub consumer: Option<Arc<ConsumerInfo>>,
    /// The credential that authenticated it (`None` for the anonymous consumer).
    pub credential: Option<Arc<CredentialInfo>>,
    /// Groups set by an authentication plugin (Kong's `authenticated_groups`).
    pub authenticated_groups: Option<Vec<String>>,
    /// Consumer headers the last authentication decided, not yet in `headers` (see
    /// [`crate::consumers::authenticate`]); [`RequestCtx::apply_consumer_headers`]
    /// puts them there.
    pub consumer_headers: Option<ConsumerHeaders>,
    /// Plugins' per-request data, keyed by type.
    pub scratch: http::Extensions,
}

impl RequestCtx {
    /// A context for `method` and a request target `path?query`; everything else
    /// empty. The proxy then sets the fields it knows.
    pub fn new(method: Method, target: &str) -> Self {
        Self::new_at(method, target, SystemTime::now())
    }

    /// Like [`RequestCtx::new`], with the request's time given (the proxy passes its
    /// per-poll reading instead of reading the clock again).
    pub fn new_at(method: Method, target: &str, now: SystemTime) -> Self {
        let (path, query) = match split_target(target) {
            (p, Some(q)) => (p.to_string(), Some(q.to_string())),
            (p, None) => (p.to_string(), None),
        };
        RequestCtx {
            method,
            scheme: "http",
            host: String::new(),
            port: 80,
            version: Version::HTTP_11,
            path,
            query,
            upstream_path: None,
            headers: RequestHeaders::default(),
            body: None,
            client_ip: None,
            server_addr: None,
            connection_id: 0,
            connection_requests: 1,
            route_id: None,
            service_id: None,
            uri_captures: Vec::new(),
            request_id: String::new(),
            now,
            consumer: None,
            credential: None,
            authenticated_groups: None,
            consumer_headers: None,
            scratch: http::Extensions::new(),
        }
    }

    /// Writes pending consumer headers into `headers`, for code that reads or changes
    /// the whole header set (the next plugin, a test).
    pub fn apply_consumer_headers(&mut self) {
        if let Some(c) = self.consumer_headers.take() {
            c.apply(&mut self.headers);
        }
    }

    /// Makes this context what [`RequestCtx::new_at`] would build, keeping the
    /// allocations of its strings and tables (the proxy reuses contexts). Every
    /// field is named here, so a new one cannot be forgotten and leak from one
    /// request into the next.
    pub fn reset(&mut self, method: Method, target: &str, now: SystemTime) {
        let RequestCtx {
            method: m,
            scheme,
            host,
            port,
            version,
            path,
            query,
            upstream_path,
            headers,
            body,
            client_ip,
            server_addr,
            connection_id,
            connection_requests,
            route_id,
            service_id,
            uri_captures,
            request_id,
            now: n,
            consumer,
            credential,
            authenticated_groups,
            consumer_headers,
            scratch,
        } = self;
        let (p, q) = split_target(target);
        *m = method;
        *scheme = "http";
        host.clear();
        *port = 80;
        *version = Version::HTTP_11;
        path.clear();
        path.push_str(p);
        match (query.as_mut(), q) {
            (Some(old), Some(q)) => {
                old.clear();
                old.push_str(q);
            }
            (_, q) => *query = q.map(str::to_string),
        }
        *upstream_path = None;
        headers.clear();
        *body = None;
        *client_ip = None;
        *server_addr = None;
        *connection_id = 0;
        *connection_requests = 1;
        *route_id = None;
        *service_id = None;
        uri_captures.clear();
        request_id.clear();
        *n = now;
        *consumer = None;
        *credential = None;
        *authenticated_groups = None;
        *consumer_headers = None;
        scratch.clear();
    }

    /// Unix seconds of [`RequestCtx::now`].
    pub fn now_secs(&self) -> f64 {
        self.now
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs_f64()
    }

    /// A Kong error-template response (`kong.response.error`) in the format the
    /// client's `Accept` asks for.
    pub fn error(&self, status: StatusCode, message: &str) -> KongResponse {
        error_response(
            status,
            message,
            self.headers.get(http::header::ACCEPT),
            &self.request_id,
        )
    }

    /// [`RequestCtx::error`] as a [`Decision`].
    pub fn reject(&self, status: StatusCode, message: &str) -> Decision {
        Decision::Respond(Box::new(self.error(status, message)))
    }

    /// Kong's `get_query()[name]`.
    pub fn query_arg(&self, name: &str) -> QueryArg {
        let mut found = QueryArg::Absent;
        for (k, v) in query_pairs(self.query.as_deref().unwrap_or("")) {
            if k != name {
                continue;
            }
            found = match found {
                QueryArg::Absent => match v {
                    Some(v) => QueryArg::One(v.into_owned()),
                    None => QueryArg::Flag,
                },
                _ => QueryArg::Many,
            };
        }
        found
    }

    /// Removes every occurrence of a query argument, keeping the rest of the raw
    /// query string as it was (`kong.service.request.clear_query_arg`).
    pub fn clear_query_arg(&mut self, name: &str) {
        let Some(q) = self.query.as_deref() else {
            return;
        };
        let kept: Vec<&str> = q
            .split('&')
            .filter(|part| {
                let key = part.split('=').next().unwrap_or("");
                decode(key) != name
            })
            .collect();
        self.query = Some(kept.join("&"));
    }

    /// Sets (replaces) an upstream request header; invalid values are ignored.
    pub fn set_header(&mut self, name: HeaderName, value: &str) {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
    }
}

/// Put in [`RequestCtx::scratch`] by a plugin that sets the `Host` header
/// (Kong's `kong.service.request.set_header("host", …)`, which sets
/// `upstream_host`): the proxy sends this `Host` upstream instead of the one it
/// would compute (`preserve_host` or the target's host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamHost(pub HeaderValue);

/// A query argument's shape, as Kong's `get_query()` table gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryArg {
    /// Not present.
    Absent,
    /// Present without `=` (Lua `true`).
    Flag,
    /// Present once with a value.
    One(String),
    /// Present more than once (Lua table).
    Many,
}

fn decode(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b == b'%' || b == b'+') {
        let plus = s.replace('+', " ");
        Cow::Owned(
            percent_encoding::percent_decode_str(&plus)
                .decode_utf8_lossy()
                .into_owned(),
        )
    } else {
        Cow::Borrowed(s)
    }
}

/// Decoded `(name, value)` pairs of a raw query string; `None` values are args
/// without `=`. Empty names are skipped as nginx does.
pub fn query_pairs(q: &str) -> impl Iterator<Item = (Cow<'_, str>, Option<Cow<'_, str>>)> {
    q.split('&').filter(|p| !p.is_empty()).filter_map(|part| {
        let (k, v) = match part.split_once('=') {
            Some((k, v)) => (k, Some(decode(v))),
            None => (part, None),
        };
        if k.is_empty() {
            return None;
        }
        Some((decode(k), v))
    })
}

/// The response as `header_filter` sees it: the upstream's, or the one a plugin
/// or the proxy produced. Changes go to the client.
#[derive(Debug)]
pub struct ResponseHead {
    /// Status code.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Where the response came from.
    pub source: ResponseSource,
}

/// Origin of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseSource {
    /// Relayed from the upstream service.
    Upstream,
    /// Produced by a plugin's short-circuit.
    Plugin,
    /// Produced by the proxy itself (router 404, balancer errors, …).
    Proxy,
}

/// What `log` gets once the response has been sent.
#[derive(Debug, Clone)]
pub struct LogInfo {
    /// Final status sent to the client.
    pub status: StatusCode,
    /// Body bytes sent to the client.
    pub response_bytes: u64,
    /// Request body bytes received.
    pub request_bytes: u64,
    /// Time from request start to the last byte sent.
    pub total: Duration,
    /// Time spent waiting for the upstream (`None` if not proxied).
    pub upstream: Option<Duration>,
}

/// `path?query` split at the first `?` (a byte scan: `str::split_once` runs a char
/// searcher, several times the cost for the usual short target).
fn split_target(target: &str) -> (&str, Option<&str>) {
    match target.bytes().position(|b| b == b'?') {
        Some(i) => (
            target.get(..i).unwrap_or(target),
            Some(target.get(i + 1..).unwrap_or("")),
        ),
        None => (target, None),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_context_is_a_fresh_one() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut used = RequestCtx::new_at(Method::POST, "/old/path?x=1", now);
        used.scheme = "https";
        used.host = "old.example".into();
        used.port = 8443;
        used.upstream_path = Some("/elsewhere".into());
        used.headers.insert("x-old", HeaderValue::from_static("1"));
        used.body = Some(Bytes::from_static(b"body"));
        used.client_ip = Some("10.0.0.1".parse().unwrap());
        used.connection_id = 7;
        used.route_id = Some(Uuid::nil());
        used.uri_captures.push(("0".into(), "x".into()));
        used.request_id = "abc".into();
        used.authenticated_groups = Some(vec!["g".into()]);
        used.scratch.insert(5u32);
        used.consumer_headers = Some(ConsumerHeaders::default());
        let later = now + Duration::from_secs(1);
        for target in ["/new?y=2", "/new", "/new?y=2"] {
            used.reset(Method::GET, target, later);
            let fresh = RequestCtx::new_at(Method::GET, target, later);
            assert_eq!(format!("{used:?}"), format!("{fresh:?}"), "{target}");
            // (Extensions' Debug shows no entries.)
            assert!(used.scratch.get::<u32>().is_none());
        }
    }

    #[test]
    fn query_args_like_kong() {
        let ctx = RequestCtx::new(Method::GET, "/p?a=1&b&c=2&c=3&d=&e=x%20y+z");
        assert_eq!(ctx.query_arg("a"), QueryArg::One("1".into()));
        assert_eq!(ctx.query_arg("b"), QueryArg::Flag);
        assert_eq!(ctx.query_arg("c"), QueryArg::Many);
        assert_eq!(ctx.query_arg("d"), QueryArg::One(String::new()));
        assert_eq!(ctx.query_arg("e"), QueryArg::One("x y z".into()));
        assert_eq!(ctx.query_arg("z"), QueryArg::Absent);
    }

    #[test]
    fn clear_query_arg_keeps_the_rest() {
        let mut ctx = RequestCtx::new(Method::GET, "/p?apikey=s&x=1&apikey=t&y");
        ctx.clear_query_arg("apikey");
        assert_eq!(ctx.query.as_deref(), Some("x=1&y"));
    }

    #[test]
    fn single_header_detects_duplicates_in_short_and_long_header_lists() {
        let apikey = HeaderName::from_static("apikey");
        for filler in [0, 30] {
            let mut ctx = RequestCtx::new(Method::GET, "/");
            for i in 0..filler {
                let name = HeaderName::from_bytes(format!("x-filler-{i}").as_bytes()).unwrap();
                ctx.headers.append(name, HeaderValue::from_static("v"));
            }
            assert_eq!(ctx.headers.single(&apikey), Ok(None), "{filler}");
            ctx.headers.append("ApiKey", HeaderValue::from_static("a"));
            assert_eq!(ctx.headers.single(&apikey), Ok(Some(&b"a"[..])), "{filler}");
            ctx.headers.append("apikey", HeaderValue::from_static("b"));
            assert!(ctx.headers.single(&apikey).is_err(), "{filler}");
        }
    }
}
