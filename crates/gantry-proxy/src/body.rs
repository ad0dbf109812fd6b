//! Body types on both sides of the proxy. Bodies stream frame by frame: nothing is
//! buffered whole unless a plugin asks for it.
//!
//! - [`RequestBody`]: the client's request body, read from an HTTP/1.x connection by
//!   Gantry's own codec (borrowing that connection while the request is in flight) or
//!   from hyper's HTTP/2 server.
//! - [`UpstreamBody`]: what goes to the upstream — nothing, a buffered body, or the
//!   client's stream with the `client_max_body_size` cap.
//! - [`ProxyBody`]: the response to the client — Gantry's own, the upstream's, or
//!   either run through plugins' `body_filter`.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Method;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::h1::client::BodyBox;
use crate::h1::head::Framing;
use crate::h1::server::ClientBody;

/// Errors while streaming a body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The client's request body exceeded `client_max_body_size`.
#[derive(Debug, thiserror::Error)]
#[error("request body larger than client_max_body_size")]
pub struct BodyTooLarge;

/// The client's request body, as it arrives.
pub enum RequestBody<'c> {
    Empty,
    /// From an HTTP/1.x connection (Gantry's codec).
    H1(ClientBody<'c>),
    /// From hyper's HTTP/2 server.
    H2(Incoming),
}

impl Body for RequestBody<'_> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            RequestBody::Empty => Poll::Ready(None),
            RequestBody::H1(b) => Pin::new(b).poll_frame(cx),
            RequestBody::H2(b) => Pin::new(b)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(|e| Box::new(e) as BoxError))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::H1(b) => b.is_end_stream(),
            RequestBody::H2(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Empty => SizeHint::with_exact(0),
            RequestBody::H1(b) => b.size_hint(),
            RequestBody::H2(b) => b.size_hint(),
        }
    }
}

/// The body sent to the upstream.
pub enum UpstreamBody<'c> {
    Empty,
    /// A body read whole first (a plugin needed it).
    Full(Bytes),
    /// The client's body, streamed, with an optional size cap.
    Stream {
        inner: RequestBody<'c>,
        limit: Option<u64>,
        seen: u64,
        /// Some of it has been read (so it cannot be sent again).
        started: bool,
    },
}

impl<'c> UpstreamBody<'c> {
    pub fn stream(inner: RequestBody<'c>, limit: Option<u64>) -> Self {
        UpstreamBody::Stream {
            inner,
            limit,
            seen: 0,
            started: false,
        }
    }

    /// Whether nothing has been consumed: the whole request can go out again.
    pub fn is_pristine(&self) -> bool {
        match self {
            UpstreamBody::Empty | UpstreamBody::Full(_) => true,
            UpstreamBody::Stream { started, .. } => !started,
        }
    }

    /// Whether there is no body at all.
    pub fn is_empty(&self) -> bool {
        match self {
            UpstreamBody::Empty => true,
            UpstreamBody::Full(b) => b.is_empty(),
            UpstreamBody::Stream { inner, .. } => inner.is_end_stream(),
        }
    }

    /// How the body is framed on the upstream connection. Bodyless `POST`, `PUT` and
    /// `PATCH` say `Content-Length: 0`, as nginx sends them.
    pub fn framing_for(&self, method: &Method) -> Framing {
        let empty = || {
            if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
                Framing::Length(0)
            } else {
                Framing::Empty
            }
        };
        match self {
            UpstreamBody::Empty => empty(),
            UpstreamBody::Full(b) if b.is_empty() => empty(),
            UpstreamBody::Full(b) => Framing::Length(b.len() as u64),
            UpstreamBody::Stream { inner, .. } => match inner.size_hint().exact() {
                Some(0) => empty(),
                Some(n) => Framing::Length(n),
                None => Framing::Chunked,
            },
        }
    }

    /// The next piece of a streamed body (`None` at its end, or for other kinds).
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes, BoxError>> {
        let UpstreamBody::Stream {
            inner,
            limit,
            seen,
            started,
        } = self
        else {
            return None;
        };
        loop {
            *started = true;
            let frame = match inner.frame().await? {
                Ok(f) => f,
                Err(e) => return Some(Err(e)),
            };
            if let Ok(data) = frame.into_data() {
                *seen += data.len() as u64;
                if limit.is_some_and(|l| *seen > l) {
                    return Some(Err(Box::new(BodyTooLarge)));
                }
                return Some(Ok(data));
            }
            // Trailers are not forwarded over HTTP/1.1.
        }
    }
}

pin_project_lite::pin_project! {
    /// The body of a response to the client: relayed from the upstream, or produced by
    /// Gantry itself.
    #[project = ProxyBodyProj]
    pub enum ProxyBody {
        Full { data: Option<Bytes> },
        // Boxed: a response moves through several futures on its way out, and the
        // upstream body (connection, decoder, relayed header lines) is most of its size.
        Upstream { inner: BodyBox },
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

    /// The upstream header lines this response still carries outside its `HeaderMap`
    /// (a relayed upstream response, not yet merged).
    pub fn take_relayed(&mut self) -> Option<crate::h1::raw::Relayed> {
        match self {
            ProxyBody::Upstream { inner } => inner.take_relayed(),
            _ => None,
        }
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
            ProxyBodyProj::Upstream { inner } => Pin::new(&mut **inner).poll_frame(cx),
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
