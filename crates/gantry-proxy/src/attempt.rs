//! Sending a request upstream with Kong's retries: pick a peer (the service's host, or
//! the upstream's balancer), take a pooled connection or connect, and on a connection
//! failure move on to the next pick, up to `service.retries` more tries. Outcomes feed
//! the balancer's passive health checks and latency figures.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use gantry_balancer::{Outcome, Pick, Tries};
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};

use crate::body::{Checkin, ProxyBody, UpstreamBody};
use crate::error_page::{self, ErrorSource};
use crate::handler::Worker;
use crate::pool::{PeerAddr, PoolKey, TlsPeer};
use crate::respond::Ctx;
use crate::snapshot::{Destination, ServiceRuntime};
use crate::upstream::{self, UpstreamError};

/// One chosen peer: where to connect, the `Host` to send, and the balancer's handle.
struct Attempt<'a> {
    key: Cow<'a, PoolKey>,
    host: HeaderValue,
    pick: Option<Pick>,
}

/// The peer for the next try, or the response to give when there is none.
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

/// How a failure counts for the balancer's passive health checks.
fn outcome_of(e: &UpstreamError) -> Outcome {
    match e {
        UpstreamError::ConnectTimeout | UpstreamError::ResponseTimeout => Outcome::Timeout,
        _ => Outcome::TcpFailure,
    }
}

/// What is needed to send a bodyless request again after it was written to a peer
/// that then failed (nginx's `proxy_next_upstream error timeout` for idempotent
/// methods): the request head.
struct Replay {
    method: Method,
    uri: http::Uri,
    headers: http::HeaderMap,
}

impl Replay {
    /// Only bodyless requests with idempotent methods to a balanced upstream (where
    /// another target can take them) are replayed, and only when a retry is allowed at
    /// all: keeping the head costs a header-map copy per request, which plain
    /// single-host services do not pay.
    fn of(req: &Request<UpstreamBody>, attempts: u32, balanced: bool) -> Option<Replay> {
        let idempotent = matches!(
            *req.method(),
            Method::GET
                | Method::HEAD
                | Method::OPTIONS
                | Method::PUT
                | Method::DELETE
                | Method::TRACE
        );
        (balanced && attempts > 1 && idempotent && http_body::Body::is_end_stream(req.body())).then(
            || Replay {
                method: req.method().clone(),
                uri: req.uri().clone(),
                headers: req.headers().clone(),
            },
        )
    }

    fn request(&self) -> Request<UpstreamBody> {
        let mut req = Request::new(UpstreamBody::Empty);
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }
}

/// Sends `req` to the service, retrying on the next peer when a connection fails
/// before the request left, or — for bodyless idempotent requests — at any point before
/// the response head arrived.
pub async fn send(
    worker: &Worker,
    ctx: &Ctx<'_>,
    service: &ServiceRuntime,
    req: Request<UpstreamBody>,
    preserved_host: Option<HeaderValue>,
    client_version: Version,
    mut tries: Option<Tries>,
) -> Response<ProxyBody> {
    let attempts = u32::from(service.service.retries) + 1;
    let has_body = !http_body::Body::is_end_stream(req.body());
    let response_timeout = if has_body {
        service.read_timeout + service.write_timeout
    } else {
        service.read_timeout
    };
    let balanced = matches!(service.destination, Destination::Balanced(_));
    let replay = Replay::of(&req, attempts, balanced);
    let mut pending = Some(req);
    let mut last_err: Option<UpstreamError> = None;
    for _ in 0..attempts {
        let Some(mut req) = pending
            .take()
            .or_else(|| replay.as_ref().map(Replay::request))
        else {
            break;
        };
        let attempt = match next_peer(ctx, service, tries.as_mut(), preserved_host.as_ref()) {
            Ok(a) => a,
            Err(resp) => return resp,
        };
        req.headers_mut().insert(header::HOST, attempt.host);
        let sent_at = Instant::now();
        let proxy_latency = sent_at.duration_since(ctx.start).as_millis();
        // Connect (or reuse) first: the request is only consumed once a connection is up,
        // so connection failures can move on to the next peer with the body intact.
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
                if let Some(p) = &attempt.pick {
                    p.report(outcome_of(&e));
                }
                if !e.is_retryable() {
                    return upstream_failure(ctx, &e);
                }
                tracing::debug!(peer = %attempt.key.addr, error = %e, "upstream attempt failed");
                pending = Some(req);
                last_err = Some(e);
                continue;
            }
        };
        match upstream::send(
            &worker.pool,
            &attempt.key,
            conn,
            req,
            service.connect_timeout,
            response_timeout,
            &worker.upstream_tls,
        )
        .await
        {
            Ok(sent) => {
                let upstream_latency = sent_at.elapsed();
                ctx.set_upstream_latency(upstream_latency);
                if let Some(p) = &attempt.pick {
                    p.report(Outcome::Response {
                        status: sent.response.status().as_u16(),
                        latency: upstream_latency,
                    });
                }
                let checkin = Checkin {
                    pool: worker.pool.clone(),
                    key: attempt.key.into_owned(),
                    conn: sent.conn,
                };
                let mut resp = ctx.relay(
                    sent.response,
                    checkin,
                    attempt.pick,
                    service.read_timeout,
                    proxy_latency,
                    upstream_latency.as_millis(),
                    client_version,
                );
                if let Some(cookie) = tries.as_ref().and_then(Tries::set_cookie) {
                    if let Ok(v) = HeaderValue::from_str(cookie) {
                        resp.headers_mut().append(header::SET_COOKIE, v);
                    }
                }
                return resp;
            }
            Err((e, unsent)) => {
                if let Some(p) = &attempt.pick {
                    p.report(outcome_of(&e));
                }
                tracing::debug!(peer = %attempt.key.addr, error = %e, "upstream request failed");
                let retry = match &e {
                    // Never sent: safe for every method.
                    _ if unsent.is_some() => e.is_retryable(),
                    // Sent, then the connection failed or timed out: nginx retries
                    // idempotent requests (replayable here when bodyless).
                    UpstreamError::Send(_) | UpstreamError::ResponseTimeout => replay.is_some(),
                    _ => false,
                };
                if !retry {
                    return upstream_failure(ctx, &e);
                }
                pending = unsent;
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
