//! One proxied request, start to end: route it, check the route's protocols, pick a
//! target, rewrite the request the way Kong does, send it (with Kong's retries), and
//! relay the streamed response with Kong's response headers. Per-request allocations
//! are kept few: the request's headers move into the upstream request, and constant or
//! per-connection header values are built once and shared.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use gantry_core::Protocol;
use gantry_plugins::RequestHeaders;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use ipnet::IpNet;

use crate::attempt;
use crate::body::{ProxyBody, RequestBody, UpstreamBody};
use crate::downstream::{HeaderScan, forwarded_ip, host_text, is_trusted, strip_port};
use crate::error_page::{ErrorFormat, ErrorSource};
use crate::h1::server::ClientConnOptions;
use crate::headers::{self, ForwardedFacts, HeaderOptions, UpstreamHeaders};
use crate::plugin_phase;
use crate::pool::{KeepaliveOptions, Pool};
use crate::respond::Ctx;
use crate::snapshot::{Destination, RouteRuntime, ServiceRuntime, Snapshot};
use crate::tls::UpstreamTls;
use gantry_balancer::{HashContext, UriCaptures};

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
    /// Client connections: timeouts (header, keep-alive, body, send) and requests
    /// per connection.
    pub client: ClientConnOptions,
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
            client: ClientConnOptions::default(),
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

/// Facts about the downstream connection, computed once per connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// The connection arrived over TLS.
    pub tls: bool,
    /// TLS server name the client asked for.
    pub sni: Option<Arc<str>>,
    /// The peer's IP as a header value (`X-Real-IP`, `X-Forwarded-For`).
    pub peer_ip: HeaderValue,
    /// The listener's port as a header value (`X-Forwarded-Port`).
    pub port: HeaderValue,
    /// Whether the peer is in `trusted_ips`.
    pub trusted: bool,
}

impl ConnInfo {
    pub fn new(
        peer: SocketAddr,
        local: SocketAddr,
        tls: bool,
        sni: Option<Arc<str>>,
        opts: &ProxyOptions,
    ) -> Self {
        ConnInfo {
            peer,
            local,
            tls,
            sni,
            peer_ip: HeaderValue::from_str(&peer.ip().to_string())
                .unwrap_or(HeaderValue::from_static("0.0.0.0")),
            port: HeaderValue::from(local.port()),
            trusted: is_trusted(opts, peer.ip()),
        }
    }
}

/// Serves one request from hyper's HTTP/2 server.
pub async fn handle(
    worker: Arc<Worker>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let req = Downstream {
        method: parts.method,
        uri: parts.uri,
        version: parts.version,
        headers: RequestHeaders::from(parts.headers),
        body: RequestBody::H2(body),
    };
    let mut resp = serve(&worker, &conn, req).await;
    crate::respond::merge_relayed(&mut resp);
    Ok(resp)
}

/// A request as a codec hands it over: its parts, not an `http::Request` (building one
/// only to take it apart cost an empty map's drop and a copy of each part).
pub struct Downstream<'a> {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    /// As the client sent them: the raw lines (HTTP/1.x) or hyper's map (HTTP/2).
    pub headers: RequestHeaders,
    pub body: RequestBody<'a>,
}

/// Serves one request. Never fails: every error becomes a Kong-shaped response.
pub async fn serve(worker: &Worker, conn: &ConnInfo, req: Downstream<'_>) -> Response<ProxyBody> {
    let start = crate::clock::this_poll();
    let snapshot_ref = worker.snapshot.load_full();
    let snapshot: &Snapshot = &snapshot_ref;
    let Downstream {
        mut method,
        uri,
        version,
        mut headers,
        body,
    } = req;
    let mut scan = HeaderScan::of(&headers);
    let ctx_value = Ctx::with_negotiation(
        start,
        scan.accept.take(),
        scan.content_type.take(),
        &worker.opts,
    );
    let ctx = &ctx_value;
    // Boxed: it lives across every await below, so inline it would grow the future.
    let mut plugin_state: Option<plugin_phase::Pooled> = None;
    // The whole pipeline up to the response is this one block rather than an async
    // fn of its own: every async level copies the (kilobytes-large) future of the
    // level below when it starts it, and this one ran on every request. When the
    // configuration has plugins, `plugins` receives the request's plugin run (for the
    // response phases).
    let resp = 'forward: {
        let plugins = &mut plugin_state;
        let opts = &*worker.opts;
        let scheme = if conn.tls {
            Protocol::Https
        } else {
            Protocol::Http
        };
        let forwarded_scheme = if conn.trusted {
            headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .and_then(Protocol::parse)
                .unwrap_or(scheme)
        } else {
            scheme
        };
        let client_ip = forwarded_ip(opts, conn.trusted, &headers);

        // The host as routing and the upstream headers see it (after `rewrite`).
        let first_host = scan.host_value(&uri);
        let first_host_text = host_text(&uri, first_host.as_ref());
        let first_host_name = strip_port(first_host_text);
        let mut rewritten_host = None;
        // Plugins: `rewrite` (global plugins) runs before routing and may change headers.
        if let Some(set) = snapshot.plugins.as_ref() {
            let host = first_host_name;
            let facts = plugin_phase::RequestFacts {
                method: method.clone(),
                uri: &uri,
                version,
                client_ip: client_ip.unwrap_or(conn.peer.ip()),
                server_addr: conn.local.ip(),
                https: forwarded_scheme == Protocol::Https,
                host,
                port: conn.local.port(),
                content_length: scan.content_length,
            };
            let (mut state, rewritten) = plugin_phase::rewrite(set, ctx, facts, &mut headers);
            state.swap_headers(&mut headers);
            let rewrote = state.run.has_rewrite();
            *plugins = Some(state);
            if let Err(resp) = rewritten {
                break 'forward resp;
            }
            // Plugins may have changed the headers.
            if rewrote {
                scan = HeaderScan::of(&headers);
                rewritten_host = Some(scan.host_value(&uri));
            }
        }
        let (host_value, raw_host, host_name) = match &rewritten_host {
            Some(v) => {
                let text = host_text(&uri, v.as_ref());
                (v.as_ref(), text, strip_port(text))
            }
            None => (first_host.as_ref(), first_host_text, first_host_name),
        };
        let routed = match route(
            conn,
            snapshot,
            ctx,
            &method,
            &uri,
            version,
            &headers,
            forwarded_scheme,
            raw_host,
        ) {
            Ok(r) => r,
            Err(resp) => break 'forward resp,
        };

        if let (Some(limit), Some(len)) = (opts.client_max_body_size, scan.content_length)
            && len > limit
        {
            break 'forward ctx.error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload too large",
                ErrorSource::Nginx,
            );
        }

        // Values that borrow the request headers, taken before they move upstream. A
        // host that is no text goes out as it came.
        let forwarded_host = host_value.map(|v| {
            if raw_host.is_empty() {
                v.as_bytes()
            } else {
                host_name.as_bytes()
            }
        });
        let real_ip = client_ip.and_then(|ip| HeaderValue::from_str(&ip.to_string()).ok());

        // Plugins: `access` on the route's chain (may answer, or change the request).
        let mut body = Some(body);
        let mut buffered = None;
        let mut upstream_uri = None;
        let mut consumer_headers = None;
        if let (Some(set), Some(state)) = (snapshot.plugins.as_ref(), plugins.as_mut()) {
            let route_facts = plugin_phase::RouteFacts {
                route_id: routed.rt.route.id,
                service_id: routed.rt.route.service.map(|s| s.id),
                upstream_path: &routed.upstream_path,
                query: uri.query(),
                captures: routed.matched.captures.as_ref(),
            };
            if state.select(set, &route_facts, &mut headers) {
                let limit = opts.client_max_body_size;
                // Boxed: only plugins that read bodies pay for this future's size.
                if let Err(resp) = Box::pin(state.read_request_body(ctx, &mut body, limit)).await {
                    break 'forward resp;
                }
            }
            match state.access(ctx, &route_facts, &mut headers) {
                Ok(admitted) => {
                    method = admitted.method;
                    buffered = admitted.body;
                    consumer_headers = admitted.consumer_headers;
                    if let Some(target) = admitted.rewritten_target {
                        match Uri::try_from(target.as_str()) {
                            Ok(_) => upstream_uri = Some(target),
                            Err(_) => {
                                break 'forward ctx.error(
                                    StatusCode::BAD_REQUEST,
                                    "Bad request",
                                    ErrorSource::Nginx,
                                );
                            }
                        }
                    }
                }
                Err(resp) => break 'forward resp,
            }
            // A balancer may hash on a header: it sees the consumer headers too.
            if matches!(routed.service.destination, Destination::Balanced(_))
                && let Some(c) = consumer_headers.take()
            {
                c.apply(&mut headers);
            }
            if state.run.may_have_changed_headers() {
                scan = HeaderScan::of(&headers);
            }
        }

        let facts = ForwardedFacts {
            client_ip: real_ip.as_ref().unwrap_or(&conn.peer_ip),
            trusted: conn.trusted,
            scheme: headers::scheme_value(forwarded_scheme == Protocol::Https),
            host: forwarded_host,
            listener_port: &conn.port,
            path: uri.path(),
            prefix: routed.matched.strip_prefix().filter(|p| *p != "/"),
            version,
            request_id: &ctx.request_id,
        };
        let mut kong_headers = UpstreamHeaders::new(&headers, &scan, &facts, &opts.headers);
        kong_headers.set_consumer(consumer_headers.as_ref());

        let mut up_body = match (buffered, body) {
            (Some(b), _) if !b.is_empty() => UpstreamBody::Full(b),
            (Some(_), _) | (None, None) => UpstreamBody::Empty,
            (None, Some(b)) if http_body::Body::is_end_stream(&b) => UpstreamBody::Empty,
            (None, Some(b)) => UpstreamBody::stream(b, opts.client_max_body_size),
        };
        // A plugin's rewritten target holds its own query.
        let (up_path, up_query) = match &upstream_uri {
            Some(t) => (t.as_str(), None),
            None => (&*routed.upstream_path, routed.query),
        };

        // A plugin that set `Host` (Kong's `upstream_host`) wins over `preserve_host`.
        let plugin_host = plugins
            .as_ref()
            .and_then(|st| st.ctx.scratch.get::<gantry_plugins::UpstreamHost>())
            .map(|h| h.0.clone());
        let preserved_host = match plugin_host {
            Some(h) => Some(h),
            None if routed.rt.route.preserve_host => host_value.cloned(),
            None => None,
        };
        let mut tries = match &routed.service.destination {
            Destination::Balanced(b) => {
                if b.needs_resolve() {
                    Box::pin(b.resolve()).await;
                }
                // The authenticated consumer (or credential) is what `hash_on =
                // consumer` hashes.
                let consumer_id = plugins.as_ref().and_then(|st| {
                    st.ctx
                        .consumer
                        .as_ref()
                        .map(|c| c.id.to_string())
                        .or_else(|| st.ctx.credential.as_ref().map(|c| c.id.to_string()))
                });
                let captures = routed.matched.captures.as_ref();
                let hash = HashContext {
                    consumer: consumer_id.as_deref(),
                    client_ip: Some(client_ip.unwrap_or(conn.peer.ip())),
                    headers: Some(&headers),
                    path: routed.matched.normalized_str(),
                    query: uri.query(),
                    uri_captures: captures.map(|c| UriCaptures {
                        named: &c.named,
                        numbered: &c.numbered,
                    }),
                };
                Some(b.start(&hash))
            }
            Destination::Direct(_) => None,
        };
        // Everything goes by reference: the future of `attempt::send` stays small, and
        // it is copied when it starts.
        let out = attempt::Outgoing {
            method: &method,
            target: crate::h1::head::Target {
                path: up_path,
                query: up_query,
            },
            headers: &headers,
            kong: &kong_headers,
            preserved_host: preserved_host.as_ref(),
            client_version: version,
        };
        let resp = attempt::send(
            worker,
            ctx,
            routed.service,
            &out,
            &mut up_body,
            tries.as_mut(),
        )
        .await;
        // The response phases read the request as the upstream got it (cors echoes
        // `Origin` in `header_filter`): its headers go back into the plugin context.
        if let Some(state) = plugins.as_mut().filter(|st| st.has_response_phases()) {
            state.swap_headers(&mut headers);
        }
        resp
    };
    match plugin_state {
        // Boxed, like the other plugin-only futures: they are large, and a future held
        // inline makes every request's future that large.
        Some(state) if state.has_response_phases() => {
            Box::pin((*state.into_inner()).finish(ctx, resp)).await
        }
        Some(_) | None => resp,
    }
}

/// What routing decided, with the request parts still needed afterwards.
struct Routed<'s, 'u> {
    rt: &'s RouteRuntime,
    service: &'s ServiceRuntime,
    /// Path and query for the upstream request line (checked: no spaces or control
    /// bytes), borrowed from the request where they are its own.
    upstream_path: std::borrow::Cow<'u, str>,
    query: Option<&'u str>,
    matched: gantry_router::RouteMatch<'u>,
}

/// Router match, protocol checks, service and upstream path.
#[allow(clippy::too_many_arguments)]
#[allow(
    clippy::result_large_err,
    reason = "the Err is the response to send, moved once; a box would cost an allocation per early answer"
)]
fn route<'s, 'u>(
    conn: &ConnInfo,
    snapshot: &'s Snapshot,
    ctx: &Ctx<'_>,
    method: &http::Method,
    uri: &'u Uri,
    version: Version,
    headers: &RequestHeaders,
    scheme: Protocol,
    raw_host: &str,
) -> Result<Routed<'s, 'u>, Response<ProxyBody>> {
    // The map is built only when some route matches on headers; otherwise one shared
    // empty map (a fresh one cost its drop on every request).
    static NO_HEADERS: std::sync::LazyLock<HeaderMap> = std::sync::LazyLock::new(HeaderMap::new);
    let routed_on: &HeaderMap = if snapshot.router.routes_on_headers() {
        headers
    } else {
        &NO_HEADERS
    };
    let view = gantry_router::RequestView {
        scheme,
        method: method.as_str(),
        host: (!raw_host.is_empty()).then_some(raw_host),
        listener_port: conn.local.port(),
        path: uri.path().as_bytes(),
        headers: routed_on,
        sni: conn.sni.as_deref(),
        client_addr: Some(conn.peer),
        local_addr: Some(conn.local),
    };
    let Some(m) = snapshot.router.find(&view) else {
        return Err(ctx.error(
            StatusCode::NOT_FOUND,
            "no Route matched with those values",
            ErrorSource::Helper,
        ));
    };
    let Some(rt) = snapshot.routes.get(m.route_index) else {
        return Err(ctx.error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An unexpected error occurred",
            ErrorSource::Helper,
        ));
    };
    if let Some(resp) = protocol_mismatch(ctx, rt, scheme, raw_host, uri, version, headers) {
        return Err(resp);
    }
    let Some(service) = rt.service.as_deref() else {
        return Err(ctx.exit_json(
            StatusCode::SERVICE_UNAVAILABLE,
            "no Service found with those values",
        ));
    };
    let path = m.upstream_path(service.service.path.as_deref());
    let query = uri.query();
    // What a request line may carry (a decoded path could hold a space or a control
    // byte): checked here rather than by building a `Uri` per request.
    let line_safe = |s: &str| s.bytes().all(|b| b.is_ascii_graphic() || b >= 0x80);
    if path.is_empty() || !line_safe(&path) || !query.is_none_or(line_safe) {
        return Err(ctx.error(StatusCode::BAD_REQUEST, "Bad request", ErrorSource::Nginx));
    }
    Ok(Routed {
        rt,
        service,
        upstream_path: path,
        query,
        matched: m,
    })
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
    req_headers: &RequestHeaders,
) -> Option<Response<ProxyBody>> {
    let protocols = &rt.route.protocols;
    let has = |p: Protocol| protocols.contains(&p);
    if has(Protocol::Grpc) || has(Protocol::Grpcs) {
        let is_grpc = req_headers
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
