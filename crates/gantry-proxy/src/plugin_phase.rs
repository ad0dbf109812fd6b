//! Runs the plugin pipeline (crate `gantry-plugins`) around a proxied request, in
//! Kong's phase order: `rewrite` (global plugins, before routing: header changes are
//! seen by the router), `access` after routing (reading the request body first when a
//! plugin needs it, then applying what plugins changed: headers, method, path, query,
//! body), and on whatever response goes to the client — the upstream's, a plugin's, or
//! the proxy's own (404, 502, …) — `response` (whole body buffered, only when a plugin
//! implements it), `header_filter`, `body_filter` per chunk and `log` once the response
//! has been sent. Only entered when the configuration has plugins.

use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use gantry_plugins::{
    ConsumerHeaders, Decision, KongResponse, LogInfo, PluginRun, PluginSet, RequestCtx,
    RequestHeaders, ResponseHead, ResponseSource,
};
use http::header::{CONTENT_LENGTH, HeaderValue};
use http::{Method, Response, StatusCode, Uri, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use uuid::Uuid;

use crate::body::{BoxError, ProxyBody, RequestBody};
use crate::error_page::ErrorSource;
use crate::respond::Ctx;

/// A request's plugin run and the context plugins read and change.
pub struct PluginState {
    pub run: PluginRun,
    pub ctx: RequestCtx,
    /// The response to the client was produced by a plugin.
    short_circuit: bool,
    /// Request body bytes, when known (buffered, or `Content-Length`).
    request_bytes: u64,
}

/// The request facts plugins see before routing.
pub struct RequestFacts<'a> {
    pub method: Method,
    pub uri: &'a Uri,
    pub version: Version,
    pub client_ip: IpAddr,
    pub server_addr: IpAddr,
    pub https: bool,
    /// Host without port.
    pub host: &'a str,
    pub port: u16,
    /// The request's `Content-Length`, as the proxy read it.
    pub content_length: Option<u64>,
}

/// What routing found, for `access`.
pub struct RouteFacts<'a> {
    pub route_id: Uuid,
    pub service_id: Option<Uuid>,
    /// The upstream path the proxy computed (used when a plugin changes the query).
    pub upstream_path: &'a str,
    /// The request's query string as received (to tell whether a plugin changed it).
    pub query: Option<&'a str>,
    pub captures: Option<&'a gantry_router::Captures>,
}

/// What the request looks like after `access` let it through (the headers are
/// handed back in place).
pub struct Admitted {
    pub method: Method,
    /// The body, when it was read whole (then the stream is gone).
    pub body: Option<Bytes>,
    /// Path and query changed by a plugin: the upstream target to use instead.
    pub rewritten_target: Option<String>,
    /// The consumer headers an authentication decided, still to be written (into
    /// `headers`, or with the upstream request head).
    pub consumer_headers: Option<ConsumerHeaders>,
}

/// A request's [`PluginState`], in a box that goes back to this thread's stack of
/// spares when dropped: the next request reuses the box and the allocations of its
/// context's strings and tables instead of building them anew (and the state, large,
/// is filled in place rather than copied into its box).
pub struct Pooled(Option<Box<PluginState>>);

/// Spare states kept per thread: one per request in flight needs one; beyond this,
/// they are freed.
const SPARE_STATES: usize = 256;

thread_local! {
    #[allow(clippy::vec_box, reason = "states are large and leave the stack as boxes")]
    static SPARES: std::cell::RefCell<Vec<Box<PluginState>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl Pooled {
    fn take(set: &PluginSet, method: Method, target: &str, now: std::time::SystemTime) -> Self {
        let spare = SPARES.with(|s| s.borrow_mut().pop());
        let state = match spare {
            Some(mut st) => {
                set.restart(&mut st.run);
                st.ctx.reset(method, target, now);
                st.short_circuit = false;
                st.request_bytes = 0;
                st
            }
            None => Box::new(PluginState {
                run: set.begin(),
                ctx: RequestCtx::new_at(method, target, now),
                short_circuit: false,
                request_bytes: 0,
            }),
        };
        Pooled(Some(state))
    }

    /// The state itself (out of the pool: the response phases carry it on).
    pub fn into_inner(mut self) -> Box<PluginState> {
        match self.0.take() {
            Some(st) => st,
            // Only `Drop` leaves it empty.
            None => unreachable!("a pooled plugin state is taken once"),
        }
    }
}

impl std::ops::Deref for Pooled {
    type Target = PluginState;
    fn deref(&self) -> &PluginState {
        self.0.as_deref().unwrap_or_else(|| unreachable!("taken"))
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut PluginState {
        self.0
            .as_deref_mut()
            .unwrap_or_else(|| unreachable!("taken"))
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let Some(mut st) = self.0.take() else {
            return;
        };
        // Nothing of this request outlives it in the spare: not the consumer, the
        // plugin instances, the body, plugins' scratch data.
        st.run.release();
        let c = &mut st.ctx;
        c.headers.clear();
        c.body = None;
        c.consumer = None;
        c.credential = None;
        c.consumer_headers = None;
        c.scratch.clear();
        let _ = SPARES.try_with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < SPARE_STATES {
                s.push(st);
            }
        });
    }
}

/// Starts a request's plugin run and runs `rewrite`. The request headers move into
/// the plugin context (`headers` is left empty); take them back with
/// [`PluginState::swap_headers`] for routing. `Err` is a plugin's response.
///
/// Headers change places by swaps all along the plugin path: each assignment would
/// drop the empty map it replaces, and that drop is not free.
pub fn rewrite(
    set: &PluginSet,
    ctx: &Ctx<'_>,
    facts: RequestFacts<'_>,
    headers: &mut RequestHeaders,
) -> (Pooled, Result<(), Response<ProxyBody>>) {
    let target = facts.uri.path_and_query().map_or("/", |p| p.as_str());
    let now = crate::h1::date::wall(crate::clock::this_poll());
    let mut state = Pooled::take(set, facts.method, target, now);
    let pctx = &mut state.ctx;
    pctx.scheme = if facts.https { "https" } else { "http" };
    pctx.host.push_str(facts.host);
    pctx.port = facts.port;
    pctx.version = facts.version;
    std::mem::swap(&mut pctx.headers, headers);
    pctx.client_ip = Some(facts.client_ip);
    pctx.server_addr = Some(facts.server_addr);
    pctx.request_id.push_str(ctx.request_id.as_str());
    state.request_bytes = facts.content_length.unwrap_or(0);
    let decision = {
        let PluginState { run, ctx: pctx, .. } = &mut *state;
        run.rewrite(pctx)
    };
    let result = match decision {
        Decision::Continue => Ok(()),
        Decision::Respond(r) => Err(state.plugin_response(ctx, *r)),
    };
    (state, result)
}

impl PluginState {
    /// Trades the context's headers for `headers`: after `rewrite`, the request
    /// headers come back for routing (and `headers` was empty); after the upstream
    /// call they go back to the context for the response phases.
    pub fn swap_headers(&mut self, headers: &mut RequestHeaders) {
        std::mem::swap(&mut self.ctx.headers, headers);
    }

    /// A plugin's own response, with Kong's response headers.
    fn plugin_response(&mut self, ctx: &Ctx<'_>, r: KongResponse) -> Response<ProxyBody> {
        self.short_circuit = true;
        let mut resp = Response::new(ProxyBody::full(r.body));
        *resp.status_mut() = r.status;
        *resp.headers_mut() = r.headers;
        ctx.finish_own(resp)
    }

    /// Selects the matched route's chain for `access` and hands the request headers
    /// back to the plugin context (`headers` is left empty). Returns whether a plugin
    /// needs the request body first ([`PluginState::read_request_body`]); most runs do
    /// not, and then [`PluginState::access`] is all there is: no future to build.
    pub fn select(
        &mut self,
        set: &PluginSet,
        route: &RouteFacts<'_>,
        headers: &mut RequestHeaders,
    ) -> bool {
        let pctx = &mut self.ctx;
        std::mem::swap(&mut pctx.headers, headers);
        pctx.route_id = Some(route.route_id);
        pctx.service_id = route.service_id;
        if let Some(c) = route.captures {
            pctx.uri_captures = captures_table(c);
        }
        self.run
            .select(set.chain_for(Some(route.route_id), route.service_id));
        self.run.needs_request_body(pctx)
    }

    /// Reads the request body for the plugins that asked for it. `Err` is the
    /// response to send (the body could not be read, or is too large).
    pub async fn read_request_body(
        &mut self,
        ctx: &Ctx<'_>,
        body: &mut Option<RequestBody<'_>>,
        body_limit: Option<u64>,
    ) -> Result<(), Response<ProxyBody>> {
        let Some(stream) = body.take() else {
            return Ok(());
        };
        let cap = self.run.request_body_cap(&self.ctx);
        match read_body(stream, cap, body_limit).await {
            Ok(b) => {
                self.request_bytes = b.len() as u64;
                self.ctx.body = Some(b);
                Ok(())
            }
            Err(status) => {
                let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "Payload too large"
                } else {
                    "Bad request"
                };
                Err(ctx.error(status, message, ErrorSource::Nginx))
            }
        }
    }

    /// `access` on the chain [`PluginState::select`] chose. When it lets the request
    /// through, the request headers as plugins left them come back into `headers`
    /// (empty since `select`). `Err` is a plugin's response.
    #[allow(
        clippy::result_large_err,
        reason = "the Err is the response to send, moved once; a box would cost an allocation per early answer"
    )]
    pub fn access(
        &mut self,
        ctx: &Ctx<'_>,
        route: &RouteFacts<'_>,
        headers: &mut RequestHeaders,
    ) -> Result<Admitted, Response<ProxyBody>> {
        let pctx = &mut self.ctx;
        if let Decision::Respond(r) = self.run.access(pctx) {
            return Err(self.plugin_response(ctx, *r));
        }
        let pctx = &mut self.ctx;
        let rewritten_target =
            if pctx.upstream_path.is_some() || pctx.query.as_deref() != route.query {
                let path = pctx
                    .upstream_path
                    .clone()
                    .unwrap_or_else(|| route.upstream_path.to_string());
                Some(match &pctx.query {
                    Some(q) if !q.is_empty() => format!("{path}?{q}"),
                    _ => path,
                })
            } else {
                None
            };
        std::mem::swap(&mut pctx.headers, headers);
        Ok(Admitted {
            method: pctx.method.clone(),
            body: pctx.body.take(),
            rewritten_target,
            consumer_headers: pctx.consumer_headers.take(),
        })
    }

    /// Whether any plugin of the run has a response-side phase. A run without one
    /// (key-auth, acl, …) leaves the response as it is: [`PluginState::finish`] need
    /// not run (nor its future be built).
    pub fn has_response_phases(&self) -> bool {
        self.run.has_response_phases()
    }

    /// The response phases on the response about to go to the client: `response`
    /// (upstream responses, when a plugin implements it), `header_filter`, and a body
    /// that runs `body_filter` per chunk and `log` once it has been sent.
    pub async fn finish(
        mut self,
        ctx: &Ctx<'_>,
        mut resp: Response<ProxyBody>,
    ) -> Response<ProxyBody> {
        if !self.has_response_phases() {
            return resp;
        }
        // Plugins see and change the whole header set.
        crate::respond::merge_relayed(&mut resp);
        let source = if self.short_circuit {
            ResponseSource::Plugin
        } else {
            match resp.body() {
                ProxyBody::Upstream { .. } => ResponseSource::Upstream,
                _ => ResponseSource::Proxy,
            }
        };
        let (parts, body) = resp.into_parts();
        let mut head = ResponseHead {
            status: parts.status,
            headers: parts.headers,
            source,
        };
        let mut body = body;
        if source == ResponseSource::Upstream && self.run.wants_buffered_response() {
            body = match buffer_response(body).await {
                Ok(mut whole) => {
                    self.run.response(&mut self.ctx, &mut head, &mut whole);
                    head.headers
                        .insert(CONTENT_LENGTH, HeaderValue::from(whole.len()));
                    ProxyBody::full(whole)
                }
                Err(_) => {
                    return ctx.error(
                        StatusCode::BAD_GATEWAY,
                        "An invalid response was received from the upstream server",
                        ErrorSource::Nginx,
                    );
                }
            };
        }
        self.run.header_filter(&mut self.ctx, &mut head);
        let filter = self.run.has_body_filter();
        let log = self.run.has_log();
        let mut out = Response::new(ProxyBody::empty());
        *out.status_mut() = head.status;
        *out.version_mut() = parts.version;
        *out.extensions_mut() = parts.extensions;
        if !filter && !log {
            *out.headers_mut() = head.headers;
            *out.body_mut() = body;
            return out;
        }
        // `body_filter` sees the head as sent; the client gets the same headers.
        let headers = if filter {
            head.headers.clone()
        } else {
            std::mem::take(&mut head.headers)
        };
        *out.headers_mut() = headers;
        let tail = Tail {
            state: self,
            head,
            filter,
            done: false,
            sent: 0,
            start: ctx.start,
            upstream: ctx.upstream_latency(),
        };
        *out.body_mut() = ProxyBody::Filtered {
            inner: Box::pin(body),
            tail: Box::new(tail),
        };
        out
    }
}

/// Kong's `uri_captures` table: numbered groups by index (`"0"` is the whole match)
/// and named groups by name.
fn captures_table(c: &gantry_router::Captures) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(c.len());
    for (i, v) in c.numbered.iter().enumerate() {
        if let Some(v) = v {
            out.push((i.to_string(), v.clone()));
        }
    }
    out.extend(c.named.iter().cloned());
    out
}

/// Reads at most `cap` bytes of the body (`None` = all), failing past `limit`.
async fn read_body(
    body: RequestBody<'_>,
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

/// The whole upstream response body (the `response` phase needs it).
async fn buffer_response(body: ProxyBody) -> Result<Bytes, BoxError> {
    let mut body = body;
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Some(d) = frame?.data_ref() {
            buf.extend_from_slice(d);
        }
    }
    Ok(buf.freeze())
}

/// The response side of a plugin run carried by the response body: `body_filter` on
/// each chunk, `log` when the body is dropped (sent, or the client went away).
pub struct Tail {
    state: PluginState,
    head: ResponseHead,
    filter: bool,
    /// `body_filter` has seen `eof`.
    done: bool,
    sent: u64,
    start: Instant,
    upstream: Option<Duration>,
}

impl Tail {
    fn filter(&mut self, chunk: &mut Bytes, eof: bool) {
        let st = &mut self.state;
        st.run.body_filter(&mut st.ctx, &self.head, chunk, eof);
        self.done = eof;
    }

    /// One polled frame of the inner body, filtered. `Poll::Ready(None)` only after
    /// the filters saw `eof`.
    pub fn poll(
        &mut self,
        inner: Pin<&mut ProxyBody>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut inner = inner;
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            let frame = ready!(inner.as_mut().poll_frame(cx));
            let mut data = match frame {
                Some(Ok(f)) => match f.into_data() {
                    Ok(d) => d,
                    // Trailers pass through.
                    Err(f) => return Poll::Ready(Some(Ok(f))),
                },
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None if self.filter => {
                    let mut last = Bytes::new();
                    self.filter(&mut last, true);
                    if last.is_empty() {
                        return Poll::Ready(None);
                    }
                    last
                }
                None => {
                    self.done = true;
                    return Poll::Ready(None);
                }
            };
            if self.filter && !self.done {
                let eof = inner.is_end_stream();
                self.filter(&mut data, eof);
            }
            if data.is_empty() {
                continue;
            }
            self.sent += data.len() as u64;
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
    }

    /// Whether the client has everything.
    pub fn is_end_stream(&self, inner: &ProxyBody) -> bool {
        if self.filter {
            self.done
        } else {
            inner.is_end_stream()
        }
    }

    /// Size as the client will see it.
    pub fn size_hint(&self, inner: &ProxyBody) -> SizeHint {
        if self.filter {
            SizeHint::default()
        } else {
            inner.size_hint()
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        if !self.state.run.has_log() {
            return;
        }
        let info = LogInfo {
            status: self.head.status,
            response_bytes: self.sent,
            request_bytes: self.state.request_bytes,
            total: self.start.elapsed(),
            upstream: self.upstream,
        };
        self.state.run.log(&self.state.ctx, &info);
    }
}
