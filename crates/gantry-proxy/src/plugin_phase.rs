//! Runs the plugin pipeline (crate `gantry-plugins`) inside a proxied request: the
//! `rewrite` and `access` phases after routing, reading the request body first when a
//! plugin needs it, applying what plugins changed (headers, method, path, query, body),
//! and `header_filter` on whatever response goes to the client. Only entered when the
//! configuration has plugins.

use bytes::{Bytes, BytesMut};
use gantry_plugins::{
    Decision, KongResponse, PluginRun, PluginSet, RequestCtx, ResponseHead, ResponseSource,
};
use http::{HeaderMap, Method, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use uuid::Uuid;

use crate::body::ProxyBody;
use crate::error_page::ErrorSource;
use crate::respond::Ctx;

/// A request's plugin run and the context plugins read and change.
pub struct PluginState {
    pub run: PluginRun,
    pub ctx: RequestCtx,
}

/// What the request looks like after `access` let it through.
pub struct Admitted {
    pub state: PluginState,
    pub method: Method,
    pub headers: HeaderMap,
    /// The body, when it was read whole (then the stream is gone).
    pub body: Option<Bytes>,
    /// Path and query changed by a plugin: the upstream target to use instead.
    pub rewritten_target: Option<String>,
}

/// The request facts plugins see.
pub struct RequestFacts<'a> {
    pub method: Method,
    pub uri: &'a Uri,
    pub version: Version,
    pub headers: HeaderMap,
    pub client_ip: std::net::IpAddr,
    pub https: bool,
    pub host: &'a str,
    pub port: u16,
    pub route_id: Uuid,
    pub service_id: Option<Uuid>,
    pub upstream_path: String,
}

/// Reads at most `cap` bytes of the body (`None` = all), failing past `limit`.
async fn read_body(
    body: Incoming,
    cap: Option<u64>,
    limit: Option<u64>,
) -> Result<Bytes, StatusCode> {
    let mut body = body;
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| StatusCode::BAD_REQUEST)?;
        if let Some(d) = frame.data_ref() {
            buf.extend_from_slice(d);
            if limit.is_some_and(|l| buf.len() as u64 > l) {
                return Err(StatusCode::PAYLOAD_TOO_LARGE);
            }
            if cap.is_some_and(|c| buf.len() as u64 > c) {
                break;
            }
        }
    }
    Ok(buf.freeze())
}

/// `rewrite` then `access`. `Err` is the response to send (a plugin short-circuited, or
/// the body could not be read).
pub async fn access(
    set: &PluginSet,
    ctx: &Ctx<'_>,
    facts: RequestFacts<'_>,
    body: &mut Option<Incoming>,
    body_limit: Option<u64>,
) -> Result<Admitted, Response<ProxyBody>> {
    let target = facts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut pctx = RequestCtx::new(facts.method, target);
    pctx.scheme = if facts.https { "https" } else { "http" };
    pctx.host = facts.host.to_string();
    pctx.port = facts.port;
    pctx.version = facts.version;
    pctx.headers = facts.headers;
    pctx.client_ip = Some(facts.client_ip);
    pctx.route_id = Some(facts.route_id);
    pctx.service_id = facts.service_id;
    pctx.request_id = ctx.request_id.to_str().unwrap_or("").to_string();
    let original_query = pctx.query.clone();
    let mut run = set.begin();
    let mut decision = run.rewrite(&mut pctx);
    if decision.is_continue() {
        run.select(set.chain_for(Some(facts.route_id), facts.service_id));
        if run.needs_request_body(&pctx) {
            if let Some(stream) = body.take() {
                match read_body(stream, run.request_body_cap(&pctx), body_limit).await {
                    Ok(b) => pctx.body = Some(b),
                    Err(status) => {
                        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                            "Payload too large"
                        } else {
                            "Bad request"
                        };
                        return Err(ctx.error(status, message, ErrorSource::Nginx));
                    }
                }
            }
        }
        decision = run.access(&mut pctx);
    }
    let mut state = PluginState { run, ctx: pctx };
    match decision {
        Decision::Respond(r) => Err(plugin_response(ctx, &mut state, r)),
        Decision::Continue => {
            let rewritten_target =
                if state.ctx.upstream_path.is_some() || state.ctx.query != original_query {
                    let path = state
                        .ctx
                        .upstream_path
                        .clone()
                        .unwrap_or(facts.upstream_path);
                    Some(match &state.ctx.query {
                        Some(q) if !q.is_empty() => format!("{path}?{q}"),
                        _ => path,
                    })
                } else {
                    None
                };
            Ok(Admitted {
                method: state.ctx.method.clone(),
                headers: std::mem::take(&mut state.ctx.headers),
                body: state.ctx.body.take(),
                rewritten_target,
                state,
            })
        }
    }
}

/// A plugin's own response, with Kong's response headers and `header_filter` applied.
fn plugin_response(ctx: &Ctx<'_>, state: &mut PluginState, r: KongResponse) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::full(r.body));
    *resp.status_mut() = r.status;
    *resp.headers_mut() = r.headers;
    let resp = ctx.finish_own(resp);
    header_filter(state, resp, ResponseSource::Plugin)
}

/// Runs `header_filter` on a response about to go to the client.
pub fn header_filter(
    state: &mut PluginState,
    resp: Response<ProxyBody>,
    source: ResponseSource,
) -> Response<ProxyBody> {
    let (mut parts, body) = resp.into_parts();
    let mut head = ResponseHead {
        status: parts.status,
        headers: std::mem::take(&mut parts.headers),
        source,
    };
    state.run.header_filter(&mut state.ctx, &mut head);
    parts.status = head.status;
    parts.headers = head.headers;
    Response::from_parts(parts, body)
}

/// Whether a response was relayed from the upstream.
pub fn source_of(resp: &Response<ProxyBody>) -> ResponseSource {
    match resp.body() {
        ProxyBody::Upstream { .. } => ResponseSource::Upstream,
        ProxyBody::Full { .. } => ResponseSource::Proxy,
    }
}
