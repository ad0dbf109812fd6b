//! Sending a request upstream with Kong's retries: pick a peer (the service's host, or
//! the upstream's balancer), take a pooled connection or connect, and on a connection
//! failure move on to the next pick, up to `service.retries` more tries. Outcomes feed
//! the balancer's passive health checks and latency figures.

use std::borrow::Cow;
use std::sync::Arc;

use gantry_balancer::{Outcome, Pick, Tries};
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode, Version};

use crate::body::{ProxyBody, UpstreamBody};
use crate::error_page::{self, ErrorSource};
use crate::h1;
use crate::h1::client::{Checkin, ResponseBody};
use crate::handler::Worker;
use crate::headers::UpstreamHeaders;
use crate::pool::{PeerAddr, PoolKey, TlsPeer};
use crate::respond::Ctx;
use crate::snapshot::{Destination, ServiceRuntime};
use crate::upstream::{self, Timeouts, UpstreamError};

/// One chosen peer: where to connect, the `Host` to send, and the balancer's handle.
struct Attempt<'a> {
    key: Cow<'a, PoolKey>,
    host: HeaderValue,
    pick: Option<Pick>,
}

/// The peer for the next try, or the response to give when there is none.
#[allow(
    clippy::result_large_err,
    reason = "the Err is the response to send, moved once; a box would cost an allocation per early answer"
)]
fn next_peer<'a>(
    ctx: &Ctx<'_>,
    service: &'a ServiceRuntime,
    tries: Option<&mut Tries>,
    preserved_host: Option<&HeaderValue>,
) -> Result<Attempt<'a>, Response<ProxyBody>> {
    match (&service.destination, tries) {
        (Destination::Direct(peer), _) => Ok(Attempt {
            key: Cow::Borrowed(&peer.key),
            host: preserved_host.unwrap_or(&peer.host_header).clone(),
            pick: None,
        }),
        (Destination::Balanced(b), Some(tries)) => match b.next(tries) {
            Ok(pick) => {
                let key = PoolKey {
                    addr: PeerAddr::Ip(pick.addr()),
                    tls: service.tls.then(|| TlsPeer {
                        sni: Arc::from(pick.host()),
                        verify: service.verify,
                    }),
                };
                let host = match preserved_host {
                    Some(h) => h.clone(),
                    None => HeaderValue::from_str(pick.host_header(service.default_port))
                        .unwrap_or(HeaderValue::from_static("")),
                };
                Ok(Attempt {
                    key: Cow::Owned(key),
                    host,
                    pick: Some(pick),
                })
            }
            Err(no_peer) => Err(ctx.error(
                StatusCode::SERVICE_UNAVAILABLE,
                &no_peer.to_string(),
                ErrorSource::Helper,
            )),
        },
        (Destination::Balanced(_), None) => Err(ctx.error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An unexpected error occurred",
            ErrorSource::Helper,
        )),
    }
}

/// How a failure counts for the balancer's passive health checks (the client's own
/// body failing is not the upstream's fault).
fn report_failure(pick: Option<&Pick>, e: &UpstreamError) {
    let outcome = match e {
        UpstreamError::BodyTooLarge | UpstreamError::ClientBody(_) => return,
        UpstreamError::ConnectTimeout
        | UpstreamError::ResponseTimeout
        | UpstreamError::WriteTimeout => Outcome::Timeout,
        _ => Outcome::TcpFailure,
    };
    if let Some(p) = pick {
        p.report(outcome);
    }
}

/// The request as it goes upstream; each try adds `Host` and Kong's headers when it
/// writes the head.
pub struct Outgoing<'r> {
    pub method: &'r Method,
    pub target: h1::head::Target<'r>,
    pub headers: &'r gantry_plugins::RequestHeaders,
    pub kong: &'r UpstreamHeaders<'r>,
    pub preserved_host: Option<&'r HeaderValue>,
    pub client_version: Version,
}

/// The request-head buffer, reused across requests on a worker thread. A request
/// holds its buffer until its response head arrives (a retry rewrites it), so the
/// thread keeps a few: one per request in flight, up to [`HEAD_BUFS_KEPT`].
struct HeadBuf(Vec<u8>);

/// Spare head buffers a worker thread keeps (requests in flight at once, roughly).
const HEAD_BUFS_KEPT: usize = 256;

thread_local! {
    static HEAD_BUFS: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl HeadBuf {
    fn take() -> Self {
        let spare = HEAD_BUFS.with(|b| b.borrow_mut().pop());
        HeadBuf(spare.unwrap_or_else(|| Vec::with_capacity(512)))
    }
}

impl Drop for HeadBuf {
    fn drop(&mut self) {
        let mut v = std::mem::take(&mut self.0);
        // Keep small buffers only: one huge head must not pin its memory.
        if v.capacity() <= 16 * 1024 {
            v.clear();
            HEAD_BUFS.with(|b| {
                let mut b = b.borrow_mut();
                if b.len() < HEAD_BUFS_KEPT {
                    b.push(v);
                }
            });
        }
    }
}

impl std::ops::Deref for HeadBuf {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl std::ops::DerefMut for HeadBuf {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// Sends `req` to the service, retrying on the next peer when a connection fails
/// before the request left, or — for bodyless idempotent requests to a balanced
/// upstream (nginx's `proxy_next_upstream error timeout` replays) — at any point
/// before the response head arrived. The request is serialized anew per try (the
/// `Host` may differ per target), never consumed, so a replay copies nothing.
pub async fn send(
    worker: &Worker,
    ctx: &Ctx<'_>,
    service: &ServiceRuntime,
    out: &Outgoing<'_>,
    body: &mut UpstreamBody<'_>,
    mut tries: Option<&mut Tries>,
) -> Response<ProxyBody> {
    let attempts = u32::from(service.service.retries) + 1;
    let parts = out;
    let kong_headers = out.kong;
    let client_version = out.client_version;
    let balanced = matches!(service.destination, Destination::Balanced(_));
    let replayable = balanced && attempts > 1 && idempotent(parts.method) && body.is_empty();
    let framing = body.framing_for(parts.method);
    let target = out.target;
    let timeouts = Timeouts {
        connect: service.connect_timeout,
        write: service.write_timeout,
        read: service.read_timeout,
    };
    let mut head = HeadBuf::take();
    let mut last_err: Option<UpstreamError> = None;
    for _ in 0..attempts {
        let attempt = match next_peer(ctx, service, tries.as_deref_mut(), out.preserved_host) {
            Ok(a) => a,
            Err(resp) => return resp,
        };
        head.clear();
        h1::head::write_request_head(
            &mut head,
            parts.method,
            target,
            parts.headers,
            kong_headers,
            &attempt.host,
            framing,
        );
        let sent_at = crate::clock::this_poll();
        let proxy_latency = sent_at.duration_since(ctx.start).as_millis();
        // Connect (or reuse) first: connection failures move on to the next peer with
        // the body intact.
        let conn = match upstream::acquire(
            &worker.pool,
            &attempt.key,
            service.connect_timeout,
            &worker.upstream_tls,
        )
        .await
        {
            Ok(c) => c,
            Err(e) => {
                report_failure(attempt.pick.as_ref(), &e);
                if !e.is_retryable() {
                    return upstream_failure(ctx, &e);
                }
                tracing::debug!(peer = %attempt.key.addr, error = %e, "upstream attempt failed");
                last_err = Some(e);
                continue;
            }
        };
        let sent = upstream::send(
            &worker.pool,
            &attempt.key,
            conn,
            parts.method,
            &head,
            body,
            timeouts,
            &worker.upstream_tls,
        )
        .await;
        match sent {
            Ok((response, conn)) => {
                let upstream_latency = crate::clock::this_poll().duration_since(sent_at);
                ctx.set_upstream_latency(upstream_latency);
                if let Some(p) = &attempt.pick {
                    p.report(Outcome::Response {
                        status: response.status.as_u16(),
                        latency: upstream_latency,
                    });
                }
                let checkin = Checkin {
                    pool: worker.pool.clone(),
                    key: attempt.key.into_owned(),
                };
                let body = ResponseBody::boxed(
                    conn,
                    &response,
                    Some(checkin),
                    attempt.pick,
                    service.read_timeout,
                );
                let mut resp = ctx.relay(
                    response,
                    body,
                    proxy_latency,
                    upstream_latency.as_millis(),
                    client_version,
                );
                if let Some(cookie) = tries.as_deref().and_then(Tries::set_cookie)
                    && let Ok(v) = HeaderValue::from_str(cookie)
                {
                    resp.headers_mut().append(header::SET_COOKIE, v);
                }
                return resp;
            }
            Err((e, unsent)) => {
                report_failure(attempt.pick.as_ref(), &e);
                tracing::debug!(peer = %attempt.key.addr, error = %e, "upstream request failed");
                let retry = if unsent {
                    e.is_retryable()
                } else {
                    replayable && e.replay_allowed()
                };
                if !retry {
                    return upstream_failure(ctx, &e);
                }
                last_err = Some(e);
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
    let (message, source) = match e {
        UpstreamError::Resolve(_) => ("name resolution failed".to_string(), ErrorSource::Helper),
        _ => (error_page::default_message(status), ErrorSource::Nginx),
    };
    ctx.error(status, &message, source)
}
