//! One proxied request, start to end: route it, check the route's protocols, pick a
//! target, rewrite the request the way Kong does, send it (with Kong's retries), and
//! relay the streamed response with Kong's response headers.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use bytes::Bytes;
use gantry_core::Protocol;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use ipnet::IpNet;

use crate::balancer::Peer;
use crate::body::{Checkin, ProxyBody, UpstreamBody, UpstreamResponseBody};
use crate::error_page::{self, ErrorFormat, ErrorSource};
use crate::headers::{self, ForwardedFacts, HeaderOptions};
use crate::pool::{KeepaliveOptions, Pool};
use crate::request_id;
use crate::snapshot::{Destination, RouteRuntime, ServiceRuntime, Snapshot};
use crate::tls::UpstreamTls;
use crate::upstream::{self, UpstreamError};

/// Proxy behaviour switches derived from kong.conf.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    pub headers: HeaderOptions,
    /// `client_max_body_size`; `None` = unlimited (Kong's proxy default).
    pub client_max_body_size: Option<u64>,
    pub keepalive: KeepaliveOptions,
    pub trusted_ips: Vec<IpNet>,
    /// `real_ip_header` (default `X-Real-IP`).
    pub real_ip_header: HeaderName,
    pub real_ip_recursive: bool,
    /// `error_default_type`.
    pub error_default_type: ErrorFormat,
    /// The node's default TLS certificate(s) (`ssl_cert`); `None` = generate a
    /// self-signed one when a TLS listener starts.
    pub default_certificate: Option<Vec<Arc<rustls::sign::CertifiedKey>>>,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        Self {
            headers: HeaderOptions::default(),
            client_max_body_size: None,
            keepalive: KeepaliveOptions::default(),
            trusted_ips: Vec::new(),
            real_ip_header: HeaderName::from_static("x-real-ip"),
            real_ip_recursive: false,
            error_default_type: ErrorFormat::Plain,
            default_certificate: None,
        }
    }
}

/// The live configuration, swapped atomically on reconfiguration.
pub type SharedSnapshot = Arc<ArcSwap<Snapshot>>;

/// Per-worker state shared by that worker's connections.
pub struct Worker {
    pub snapshot: SharedSnapshot,
    pub pool: Pool,
    pub opts: Arc<ProxyOptions>,
    pub upstream_tls: UpstreamTls,
}

/// Facts about the downstream connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// The connection arrived over TLS.
    pub tls: bool,
    /// TLS server name the client asked for.
    pub sni: Option<Arc<str>>,
}

/// Per-request context carried through the pipeline.
struct Ctx<'a> {
    start: Instant,
    request_id: String,
    req_headers: &'a HeaderMap,
    opts: &'a ProxyOptions,
}

impl Ctx<'_> {
    /// A response Gantry produces itself via Kong's `kong.response.error` helper.
    fn error(&self, status: StatusCode, message: &str, source: ErrorSource) -> Response<ProxyBody> {
        let format = error_page::negotiate(self.req_headers, source, self.opts.error_default_type);
        let (ct, body) = error_page::render(format, message, &self.request_id);
        let mut resp = Response::new(ProxyBody::full(body));
        *resp.status_mut() = status;
        resp.headers_mut().insert(header::CONTENT_TYPE, ct);
        self.finish_own(resp)
    }

    /// A response via Kong's `kong.response.exit` helper: compact JSON.
    fn exit_json(&self, status: StatusCode, message: &str) -> Response<ProxyBody> {
        let body = serde_json::json!({ "message": message }).to_string();
        let mut resp = Response::new(ProxyBody::full(Bytes::from(body)));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        self.finish_own(resp)
    }

    /// Kong's headers on a response it generated.
    fn finish_own(&self, mut resp: Response<ProxyBody>) -> Response<ProxyBody> {
        let h = resp.headers_mut();
        let o = &self.opts.headers;
        if o.server {
            h.insert(
                header::SERVER,
                HeaderValue::from_static(headers::SERVER_TOKEN),
            );
        }
        if o.response_latency {
            h.insert(
                headers::X_KONG_RESPONSE_LATENCY.clone(),
                headers::millis_value(self.start.elapsed().as_millis()),
            );
        }
        if o.request_id {
            if let Ok(v) = HeaderValue::from_str(&self.request_id) {
                h.insert(headers::X_KONG_REQUEST_ID.clone(), v);
            }
        }
        resp
    }
}

/// Serves one request. Never fails: every error becomes a Kong-shaped response.
pub async fn handle(
    worker: Arc<Worker>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let start = Instant::now();
    let snapshot = worker.snapshot.load_full();
    let (parts, body) = req.into_parts();
    let ctx = Ctx {
        start,
        request_id: request_id::new(),
        req_headers: &parts.headers,
        opts: &worker.opts,
    };
    let resp = proxy(
        &worker,
        &conn,
        &snapshot,
        &ctx,
        parts.method,
        parts.uri,
        parts.version,
        &parts.headers,
        body,
    )
    .await;
    Ok(resp)
}

fn is_trusted(opts: &ProxyOptions, ip: IpAddr) -> bool {
    opts.trusted_ips.iter().any(|n| n.contains(&ip))
}

/// `$remote_addr` after the realip module: the header's address when the peer is trusted.
fn client_ip(opts: &ProxyOptions, peer: IpAddr, trusted: bool, h: &HeaderMap) -> IpAddr {
    if !trusted {
        return peer;
    }
    let Some(value) = h.get(&opts.real_ip_header).and_then(|v| v.to_str().ok()) else {
        return peer;
    };
    let addrs: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let pick = if opts.real_ip_recursive {
        // Rightmost address that is not itself trusted.
        addrs
            .iter()
            .rev()
            .filter_map(|a| a.parse::<IpAddr>().ok())
            .find(|ip| !is_trusted(opts, *ip))
            .or_else(|| addrs.first().and_then(|a| a.parse().ok()))
    } else {
        addrs.last().and_then(|a| a.parse().ok())
    };
    pick.unwrap_or(peer)
}

/// Host as the client gave it (`:authority` for HTTP/2, else `Host`), port included.
fn request_host<'a>(uri: &'a Uri, h: &'a HeaderMap) -> &'a str {
    if let Some(a) = uri.authority() {
        return a.as_str();
    }
    h.get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(i) => host.get(..=i).unwrap_or(host),
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

fn version_token(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

#[allow(clippy::too_many_arguments)]
async fn proxy(
    worker: &Worker,
    conn: &ConnInfo,
    snapshot: &Snapshot,
    ctx: &Ctx<'_>,
    method: http::Method,
    uri: Uri,
    version: Version,
    req_headers: &HeaderMap,
    body: Incoming,
) -> Response<ProxyBody> {
    let opts = &*worker.opts;
    let trusted = is_trusted(opts, conn.peer.ip());
    let client_ip = client_ip(opts, conn.peer.ip(), trusted, req_headers);
    let raw_host = request_host(&uri, req_headers);
    let scheme = if conn.tls {
        Protocol::Https
    } else {
        Protocol::Http
    };
    let forwarded_scheme = if trusted {
        req_headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(Protocol::parse)
            .unwrap_or(scheme)
    } else {
        scheme
    };

    let view = gantry_router::RequestView {
        scheme: forwarded_scheme,
        method: method.as_str(),
        host: (!raw_host.is_empty()).then_some(raw_host.as_bytes()),
        listener_port: conn.local.port(),
        path: uri.path().as_bytes(),
        headers: req_headers,
        sni: conn.sni.as_deref(),
        client_addr: Some(conn.peer),
        local_addr: Some(conn.local),
    };
    let Some(m) = snapshot.router.find(&view) else {
        return ctx.error(
            StatusCode::NOT_FOUND,
            "no Route matched with those values",
            ErrorSource::Helper,
        );
    };
    let Some(rt) = snapshot.routes.get(m.route_index) else {
        return ctx.error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An unexpected error occurred",
            ErrorSource::Helper,
        );
    };

    if let Some(resp) = protocol_mismatch(ctx, rt, forwarded_scheme, raw_host, &uri, version) {
        return resp;
    }
    let Some(service) = rt.service.as_deref() else {
        return ctx.exit_json(
            StatusCode::SERVICE_UNAVAILABLE,
            "no Service found with those values",
        );
    };

    let declared_len = req_headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let (Some(limit), Some(len)) = (opts.client_max_body_size, declared_len) {
        if len > limit {
            return ctx.error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload too large",
                ErrorSource::Nginx,
            );
        }
    }

    // Path and query sent upstream.
    let upstream_path = m.upstream_path(service.service.path.as_deref());
    let path_and_query = match uri.query() {
        Some(q) => format!("{upstream_path}?{q}"),
        None => upstream_path,
    };
    let Ok(upstream_uri) = Uri::try_from(path_and_query) else {
        return ctx.error(StatusCode::BAD_REQUEST, "Bad request", ErrorSource::Nginx);
    };

    let mut up_headers = req_headers.clone();
    headers::strip_hop_by_hop(&mut up_headers, true);
    let host_no_port = strip_port(raw_host);
    let facts = ForwardedFacts {
        client_ip,
        trusted,
        scheme: forwarded_scheme.as_str(),
        host: host_no_port,
        listener_port: conn.local.port(),
        path: uri.path(),
        prefix: m.strip_prefix().filter(|p| *p != "/"),
        http_version: version_token(version),
        request_id: &ctx.request_id,
    };
    headers::set_upstream_request_headers(&mut up_headers, &facts, &opts.headers);

    let up_body = if http_body::Body::is_end_stream(&body) {
        UpstreamBody::Empty
    } else {
        UpstreamBody::stream(body, opts.client_max_body_size)
    };
    let mut up_req = Request::new(up_body);
    *up_req.method_mut() = method;
    *up_req.uri_mut() = upstream_uri;
    *up_req.headers_mut() = up_headers;

    let preserve_host = rt.route.preserve_host && !raw_host.is_empty();
    let client_host = HeaderValue::from_str(raw_host).ok();
    send_with_retries(
        worker,
        ctx,
        service,
        up_req,
        preserve_host.then_some(client_host).flatten(),
        version,
    )
    .await
}

/// Kong's protocol checks after routing (kong-reference §4.8, `kong/runloop/handler.lua`):
/// the router ignores protocols, so an https-only route reached over http answers 426
/// or redirects, and gRPC routes refuse non-gRPC or non-HTTP/2 requests.
fn protocol_mismatch(
    ctx: &Ctx<'_>,
    rt: &RouteRuntime,
    scheme: Protocol,
    raw_host: &str,
    uri: &Uri,
    version: Version,
) -> Option<Response<ProxyBody>> {
    let protocols = &rt.route.protocols;
    let has = |p: Protocol| protocols.contains(&p);
    if has(Protocol::Grpc) || has(Protocol::Grpcs) {
        let is_grpc = ctx
            .req_headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/grpc"));
        if !is_grpc {
            return Some(ctx.error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Non-gRPC request matched gRPC route",
                ErrorSource::Helper,
            ));
        }
        if version != Version::HTTP_2 {
            let mut resp = ctx.error(
                StatusCode::UPGRADE_REQUIRED,
                "Please use HTTP2 protocol",
                ErrorSource::Helper,
            );
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            resp.headers_mut()
                .insert(header::UPGRADE, HeaderValue::from_static("HTTP/2"));
            return Some(resp);
        }
        if !has(Protocol::Grpc) && scheme != Protocol::Https {
            let mut resp = Response::new(ProxyBody::empty());
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc"),
            );
            h.insert("grpc-status", HeaderValue::from_static("1"));
            h.insert(
                "grpc-message",
                HeaderValue::from_static("gRPC request matched gRPCs route"),
            );
            return Some(ctx.finish_own(resp));
        }
        return None;
    }
    if !(has(Protocol::Https) && !has(Protocol::Http) && scheme != Protocol::Https) {
        return None;
    }
    let code = rt.route.https_redirect_status_code;
    if code == 426 {
        let mut resp = ctx.error(
            StatusCode::UPGRADE_REQUIRED,
            "Please use HTTPS protocol",
            ErrorSource::Helper,
        );
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        resp.headers_mut().insert(
            header::UPGRADE,
            HeaderValue::from_static("TLS/1.2, HTTP/1.1"),
        );
        return Some(resp);
    }
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::MOVED_PERMANENTLY);
    let location = format!(
        "https://{}{}",
        strip_port(raw_host),
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut resp = Response::new(ProxyBody::empty());
    *resp.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Some(ctx.finish_own(resp))
}

/// Picks a peer for attempt `n`.
fn pick_peer(service: &ServiceRuntime) -> Option<(&Peer, Option<&Arc<str>>)> {
    match &service.destination {
        Destination::Direct(p) => Some((p, None)),
        Destination::Balanced {
            balancer,
            host_header,
            ..
        } => balancer.pick().map(|p| (p, host_header.as_ref())),
    }
}

async fn send_with_retries(
    worker: &Worker,
    ctx: &Ctx<'_>,
    service: &ServiceRuntime,
    mut req: Request<UpstreamBody>,
    preserved_host: Option<HeaderValue>,
    client_version: Version,
) -> Response<ProxyBody> {
    let attempts = u32::from(service.service.retries) + 1;
    let has_body = !http_body::Body::is_end_stream(req.body());
    let response_timeout = if has_body {
        service.read_timeout + service.write_timeout
    } else {
        service.read_timeout
    };
    let mut last_err: Option<UpstreamError> = None;
    for _ in 0..attempts {
        let Some((peer, upstream_host)) = pick_peer(service) else {
            return ctx.error(
                StatusCode::SERVICE_UNAVAILABLE,
                "failure to get a peer from the ring-balancer",
                ErrorSource::Helper,
            );
        };
        let host = match (&preserved_host, upstream_host) {
            (Some(h), _) => h.clone(),
            (None, Some(h)) => HeaderValue::from_str(h).unwrap_or(HeaderValue::from_static("")),
            (None, None) => {
                HeaderValue::from_str(&peer.host_header).unwrap_or(HeaderValue::from_static(""))
            }
        };
        req.headers_mut().insert(header::HOST, host);
        let sent_at = Instant::now();
        let proxy_latency = sent_at.duration_since(ctx.start).as_millis();
        // Connect (or reuse) first: the request is only consumed once a connection is up,
        // so connection failures can move on to the next target with the body intact.
        let conn = match upstream::acquire(
            &worker.pool,
            &peer.key,
            service.connect_timeout,
            &worker.upstream_tls,
        )
        .await
        {
            Ok(c) => c,
            Err(e) if e.is_retryable() => {
                tracing::debug!(peer = %peer.key.host, error = %e, "upstream attempt failed");
                last_err = Some(e);
                continue;
            }
            Err(e) => return upstream_failure(ctx, &e),
        };
        match upstream::send(
            &worker.pool,
            &peer.key,
            conn,
            req,
            service.connect_timeout,
            response_timeout,
            &worker.upstream_tls,
        )
        .await
        {
            Ok(sent) => {
                let upstream_latency = sent_at.elapsed().as_millis();
                let checkin = Checkin {
                    pool: worker.pool.clone(),
                    key: peer.key.clone(),
                    conn: sent.conn,
                };
                return relay(
                    ctx,
                    sent.response,
                    checkin,
                    service,
                    proxy_latency,
                    upstream_latency,
                    client_version,
                );
            }
            Err(e) => {
                tracing::debug!(peer = %peer.key.host, error = %e, "upstream request failed");
                return upstream_failure(ctx, &e);
            }
        }
    }
    match last_err {
        Some(e) => upstream_failure(ctx, &e),
        None => ctx.error(
            StatusCode::BAD_GATEWAY,
            &error_page::default_message(StatusCode::BAD_GATEWAY),
            ErrorSource::Nginx,
        ),
    }
}

fn upstream_failure(ctx: &Ctx<'_>, e: &UpstreamError) -> Response<ProxyBody> {
    let status = e.status();
    let message = match e {
        UpstreamError::Resolve(_) => "name resolution failed".to_string(),
        _ => error_page::default_message(status),
    };
    let source = match e {
        UpstreamError::Resolve(_) => ErrorSource::Helper,
        _ => ErrorSource::Nginx,
    };
    ctx.error(status, &message, source)
}

fn relay(
    ctx: &Ctx<'_>,
    resp: Response<Incoming>,
    checkin: Checkin,
    service: &ServiceRuntime,
    proxy_latency: u128,
    upstream_latency: u128,
    client_version: Version,
) -> Response<ProxyBody> {
    let (mut parts, body) = resp.into_parts();
    let upstream_status = parts.status;
    headers::strip_hop_by_hop(&mut parts.headers, false);
    let o = &ctx.opts.headers;
    let h = &mut parts.headers;
    if o.via {
        headers::append_via(h, version_token(client_version));
    }
    if o.server && !h.contains_key(header::SERVER) {
        h.insert(
            header::SERVER,
            HeaderValue::from_static(headers::SERVER_TOKEN),
        );
    }
    if o.upstream_latency {
        h.insert(
            headers::X_KONG_UPSTREAM_LATENCY.clone(),
            headers::millis_value(upstream_latency),
        );
    }
    if o.proxy_latency {
        h.insert(
            headers::X_KONG_PROXY_LATENCY.clone(),
            headers::millis_value(proxy_latency),
        );
    }
    if o.upstream_status {
        h.insert(
            headers::X_KONG_UPSTREAM_STATUS.clone(),
            HeaderValue::from(upstream_status.as_u16()),
        );
    }
    if o.request_id {
        if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
            h.insert(headers::X_KONG_REQUEST_ID.clone(), v);
        }
    }
    parts.version = Version::HTTP_11;
    let body = UpstreamResponseBody::new(body, Some(checkin), service.read_timeout);
    Response::from_parts(parts, ProxyBody::Upstream { inner: body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_port_variants() {
        assert_eq!(strip_port("a.com:8000"), "a.com");
        assert_eq!(strip_port("a.com"), "a.com");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }

    #[test]
    fn real_ip_only_from_trusted_peers() {
        let mut opts = ProxyOptions::default();
        opts.trusted_ips = vec!["10.0.0.0/8".parse().unwrap_or_else(|_| IpNet::default())];
        let mut h = HeaderMap::new();
        h.insert("x-real-ip", HeaderValue::from_static("1.2.3.4"));
        let peer: IpAddr = [10, 1, 1, 1].into();
        let stranger: IpAddr = [8, 8, 8, 8].into();
        assert_eq!(client_ip(&opts, peer, true, &h), IpAddr::from([1, 2, 3, 4]));
        assert_eq!(client_ip(&opts, stranger, false, &h), stranger);
        opts.real_ip_header = HeaderName::from_static("x-forwarded-for");
        opts.real_ip_recursive = true;
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("5.5.5.5, 1.2.3.4, 10.2.2.2"),
        );
        assert_eq!(client_ip(&opts, peer, true, &h), IpAddr::from([1, 2, 3, 4]));
        opts.real_ip_recursive = false;
        assert_eq!(
            client_ip(&opts, peer, true, &h),
            IpAddr::from([10, 2, 2, 2])
        );
    }
}
