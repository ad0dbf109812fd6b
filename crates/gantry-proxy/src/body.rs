//! Body types on both sides of the proxy. Bodies stream frame by frame: nothing is
//! buffered whole. The upstream response body hands its connection back to the pool
//! once it has been read to the end, and enforces the service `read_timeout` between
//! two reads.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use crate::pool::{Pool, PoolKey, PooledConn};

/// Errors while streaming a body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The client's request body exceeded `client_max_body_size`.
#[derive(Debug, thiserror::Error)]
#[error("request body larger than client_max_body_size")]
pub struct BodyTooLarge;

/// The upstream did not send anything within `read_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("upstream read timed out")]
pub struct ReadTimeout;

pin_project_lite::pin_project! {
    /// The body sent to the upstream: the client's streamed body (with an optional size
    /// cap), or nothing.
    #[project = UpstreamBodyProj]
    pub enum UpstreamBody {
        Empty,
        /// A body read whole first (a plugin needed it).
        Full { data: Option<Bytes> },
        Stream { #[pin] inner: Incoming, limit: Option<u64>, seen: u64 },
    }
}

impl UpstreamBody {
    pub fn stream(inner: Incoming, limit: Option<u64>) -> Self {
        UpstreamBody::Stream {
            inner,
            limit,
            seen: 0,
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project() {
            UpstreamBodyProj::Empty => Poll::Ready(None),
            UpstreamBodyProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            UpstreamBodyProj::Stream { inner, limit, seen } => {
                let frame = ready!(inner.poll_frame(cx));
                match frame {
                    Some(Ok(f)) => {
                        if let Some(d) = f.data_ref() {
                            *seen += d.len() as u64;
                            if limit.is_some_and(|l| *seen > l) {
                                return Poll::Ready(Some(Err(Box::new(BodyTooLarge))));
                            }
                        }
                        Poll::Ready(Some(Ok(f)))
                    }
                    Some(Err(e)) => Poll::Ready(Some(Err(Box::new(e)))),
                    None => Poll::Ready(None),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            UpstreamBody::Empty => true,
            UpstreamBody::Full { data } => data.is_none(),
            UpstreamBody::Stream { inner, .. } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            UpstreamBody::Empty => SizeHint::with_exact(0),
            UpstreamBody::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            UpstreamBody::Stream { inner, .. } => inner.size_hint(),
        }
    }
}

/// Where a finished upstream connection goes back to.
pub struct Checkin {
    pub pool: Pool,
    pub key: PoolKey,
    pub conn: PooledConn,
}

pin_project_lite::pin_project! {
    /// The upstream's response body as relayed to the client.
    pub struct UpstreamResponseBody {
        #[pin]
        inner: Incoming,
        checkin: Option<Checkin>,
        // Held until the body ends: the balancer counts in-flight requests by it.
        pick: Option<gantry_balancer::Pick>,
        read_timeout: Duration,
        // Created on the first wait only: most small responses never need it.
        timer: Option<Pin<Box<Sleep>>>,
        armed: bool,
    }
}

impl UpstreamResponseBody {
    pub fn new(
        inner: Incoming,
        checkin: Option<Checkin>,
        pick: Option<gantry_balancer::Pick>,
        read_timeout: Duration,
    ) -> Self {
        Self {
            inner,
            checkin,
            pick,
            read_timeout,
            timer: None,
            armed: false,
        }
    }
}

impl Body for UpstreamResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => {
                *this.armed = false;
                if this.inner.is_end_stream() {
                    give_back(this.checkin);
                }
                Poll::Ready(Some(Ok(f)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.checkin.take();
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Ready(None) => {
                give_back(this.checkin);
                Poll::Ready(None)
            }
            Poll::Pending => {
                // Arm the read timer only when we actually have to wait: small
                // responses usually arrive whole and never touch the timer wheel.
                if !*this.armed {
                    *this.armed = true;
                    let deadline = Instant::now() + *this.read_timeout;
                    match this.timer.as_mut() {
                        Some(t) => t.as_mut().reset(deadline),
                        None => *this.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
                    }
                }
                if this
                    .timer
                    .as_mut()
                    .is_some_and(|t| t.as_mut().poll(cx).is_ready())
                {
                    this.checkin.take();
                    return Poll::Ready(Some(Err(Box::new(ReadTimeout))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn give_back(checkin: &mut Option<Checkin>) {
    if let Some(c) = checkin.take() {
        c.pool.checkin(c.key, c.conn);
    }
}

pin_project_lite::pin_project! {
    /// The body of a response to the client: relayed from the upstream, or produced by
    /// Gantry itself.
    #[project = ProxyBodyProj]
    pub enum ProxyBody {
        Full { data: Option<Bytes> },
        Upstream { #[pin] inner: UpstreamResponseBody },
        /// Another body run through plugins' `body_filter` and `log`.
        Filtered { inner: Pin<Box<ProxyBody>>, tail: Box<crate::plugin_phase::Tail> },
    }
}

impl ProxyBody {
    pub fn full(data: impl Into<Bytes>) -> Self {
        let data: Bytes = data.into();
        ProxyBody::Full {
            data: (!data.is_empty()).then_some(data),
        }
    }

    pub fn empty() -> Self {
        ProxyBody::Full { data: None }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project() {
            ProxyBodyProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            ProxyBodyProj::Upstream { inner } => inner.poll_frame(cx),
            ProxyBodyProj::Filtered { inner, tail } => tail.poll(inner.as_mut(), cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Full { data } => data.is_none(),
            ProxyBody::Upstream { inner } => inner.is_end_stream(),
            ProxyBody::Filtered { inner, tail } => tail.is_end_stream(inner),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            ProxyBody::Upstream { inner } => inner.size_hint(),
            ProxyBody::Filtered { inner, tail } => tail.size_hint(inner),
        }
    }
}
