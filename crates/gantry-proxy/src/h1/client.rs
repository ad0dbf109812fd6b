//! The HTTP/1.1 upstream client. It runs inside the request's own task — no connection
//! task, no channel, no wake-up between them (hyper's client design costs two of each
//! per request) — writing the request head and body, reading the response head, and
//! handing the connection to [`ResponseBody`], which streams the body and returns the
//! connection to the keep-alive pool once the body has been read to its end.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::Method;
use http_body::{Body, Frame, SizeHint};
use tokio::io::AsyncWriteExt;
use tokio_util::io::poll_read_buf;

use crate::body::{BoxError, UpstreamBody};
use crate::h1::chunked::{self, ChunkedDecoder, Decoded};
use crate::h1::head::{self, Framing, ResponseHead};
use crate::h1::io::{IdleTimer, READ_BUF, UpstreamIo, poll_read_some, read_some, write_two};
use crate::h1::raw::Relayed;
use crate::pool::{Pool, PoolKey};
use crate::upstream::UpstreamError;

/// One HTTP/1.1 connection to an upstream peer.
pub struct UpstreamConn {
    io: UpstreamIo,
    rbuf: BytesMut,
    wbuf: Vec<u8>,
    timer: IdleTimer,
    /// Requests already sent on this connection.
    pub served: u32,
    /// Whether it came from the pool (a failure on it may be a stale keep-alive).
    pub reused: bool,
}

/// A failed exchange.
#[derive(Debug)]
pub enum SendError {
    /// Failed before the upstream could have acted on the request: it may go out again
    /// on another connection, head and body as they were.
    Unsent(UpstreamError),
    /// Failed after (part of) the request went out.
    Sent(UpstreamError),
}

fn io_error(e: &std::io::Error) -> UpstreamError {
    UpstreamError::Connect(std::io::Error::new(e.kind(), e.to_string()))
}

fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

impl UpstreamConn {
    /// A fresh connection, boxed: it moves between the pool, the request and the
    /// response body many times over its life, and a pointer moves cheaply.
    pub fn new(io: UpstreamIo) -> Box<Self> {
        Box::new(Self {
            io,
            rbuf: BytesMut::with_capacity(READ_BUF),
            wbuf: Vec::with_capacity(1024),
            timer: IdleTimer::new(),
            served: 0,
            reused: false,
        })
    }

    /// Whether an idle connection is unusable: the upstream closed it, reset it, or
    /// sent bytes nobody asked for. Costs no syscall when the socket has shown no
    /// activity since its last response was read.
    pub fn is_closed(&mut self) -> bool {
        if !self.rbuf.is_empty() {
            return true;
        }
        match &mut self.io {
            // `try_read` answers from tokio's cached readiness (no syscall, no waker
            // registered) unless the socket showed activity.
            UpstreamIo::Tcp(s) => {
                let mut probe = [0u8; 1];
                !matches!(s.get_ref().try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            }
            UpstreamIo::Tls(_) => {
                let mut cx = Context::from_waker(Waker::noop());
                poll_read_buf(Pin::new(&mut self.io), &mut cx, &mut self.rbuf).is_ready()
            }
        }
    }

    /// Writes the request (`head` is the serialized request head, framing included)
    /// and reads the response head. 1xx interim responses are skipped.
    pub async fn send(
        &mut self,
        method: &Method,
        head: &[u8],
        body: &mut UpstreamBody<'_>,
        write_timeout: Duration,
        read_timeout: Duration,
    ) -> Result<ResponseHead, SendError> {
        self.served += 1;
        let reused = self.reused;
        // Writing to a connection the upstream closed: nothing reached it.
        let unsent = |e: &std::io::Error| SendError::Unsent(io_error(e));
        let written = match body {
            UpstreamBody::Empty => self.timer.run(write_timeout, self.io.write_all(head)).await,
            UpstreamBody::Full(data) => {
                self.timer
                    .run(write_timeout, write_two(&mut self.io, head, data))
                    .await
            }
            UpstreamBody::Stream { .. } => {
                self.timer.run(write_timeout, self.io.write_all(head)).await
            }
        };
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(unsent(&e)),
            Err(_) => return Err(SendError::Sent(UpstreamError::WriteTimeout)),
        }
        if let UpstreamBody::Stream { .. } = body {
            self.stream_body(body, write_timeout).await?;
        }
        match self.timer.run(write_timeout, self.io.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(SendError::Sent(io_error(&e))),
            Err(_) => return Err(SendError::Sent(UpstreamError::WriteTimeout)),
        }
        // A reused connection that ends or resets before any response byte most likely
        // raced the upstream's keep-alive timeout: replayable requests go out again.
        let replayable = reused && body.is_pristine() && idempotent(method);
        let mut got_bytes = !self.rbuf.is_empty();
        loop {
            if !self.rbuf.is_empty() {
                match head::parse_response(&mut self.rbuf, method) {
                    Ok(Some(h)) if h.status.is_informational() && h.status.as_u16() != 101 => {
                        continue;
                    }
                    Ok(Some(h)) => return Ok(h),
                    Ok(None) => {}
                    Err(e) => {
                        return Err(SendError::Sent(UpstreamError::BadResponse(e.to_string())));
                    }
                }
            }
            let read = self
                .timer
                .run(read_timeout, read_some(&mut self.io, &mut self.rbuf))
                .await;
            match read {
                Ok(Ok(0)) | Ok(Err(_)) if !got_bytes && replayable => {
                    return Err(SendError::Unsent(UpstreamError::Connect(
                        std::io::Error::new(
                            std::io::ErrorKind::ConnectionAborted,
                            "upstream closed the connection",
                        ),
                    )));
                }
                Ok(Ok(0)) => {
                    return Err(SendError::Sent(UpstreamError::BadResponse(
                        "upstream prematurely closed connection".into(),
                    )));
                }
                Ok(Ok(_)) => got_bytes = true,
                Ok(Err(e)) => return Err(SendError::Sent(io_error(&e))),
                Err(_) => return Err(SendError::Sent(UpstreamError::ResponseTimeout)),
            }
        }
    }

    /// Streams the client's body upstream, chunked unless its length is known.
    async fn stream_body(
        &mut self,
        body: &mut UpstreamBody<'_>,
        write_timeout: Duration,
    ) -> Result<(), SendError> {
        let chunked = body.framing_for(&Method::POST) == Framing::Chunked;
        while let Some(next) = body.next_chunk().await {
            let data = next.map_err(|e| {
                if e.is::<crate::body::BodyTooLarge>() {
                    SendError::Sent(UpstreamError::BodyTooLarge)
                } else {
                    SendError::Sent(UpstreamError::ClientBody(e.to_string()))
                }
            })?;
            if data.is_empty() {
                continue;
            }
            let written = if chunked {
                self.wbuf.clear();
                let (h, n) = chunked::chunk_header(data.len());
                self.wbuf.extend_from_slice(h.get(..n).unwrap_or(&[]));
                self.wbuf.extend_from_slice(&data);
                self.wbuf.extend_from_slice(chunked::CHUNK_END);
                self.timer
                    .run(write_timeout, self.io.write_all(&self.wbuf))
                    .await
            } else {
                self.timer
                    .run(write_timeout, self.io.write_all(&data))
                    .await
            };
            match written {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(SendError::Sent(io_error(&e))),
                Err(_) => return Err(SendError::Sent(UpstreamError::WriteTimeout)),
            }
        }
        if chunked {
            match self
                .timer
                .run(write_timeout, self.io.write_all(chunked::LAST_CHUNK))
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(SendError::Sent(io_error(&e))),
                Err(_) => return Err(SendError::Sent(UpstreamError::WriteTimeout)),
            }
        }
        Ok(())
    }
}

/// Where a connection goes back to once its response has been read.
pub struct Checkin {
    pub pool: Pool,
    pub key: PoolKey,
}

enum Decoder {
    Length(u64),
    Chunked(ChunkedDecoder),
    Close,
    Done,
}

/// The upstream's response body, read from its connection as the client takes it.
pub struct ResponseBody {
    conn: Option<Box<UpstreamConn>>,
    decoder: Decoder,
    keep_alive: bool,
    checkin: Option<Checkin>,
    // Held until the body ends: the balancer counts in-flight requests by it.
    pick: Option<gantry_balancer::Pick>,
    read_timeout: Duration,
    size: SizeHint,
    /// The upstream's header lines not yet copied into the response (see
    /// [`crate::h1::raw`]).
    relayed: Option<Relayed>,
}

/// The upstream's body was cut short or malformed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UpstreamBodyError(pub String);

/// The upstream did not send anything within `read_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("upstream read timed out")]
pub struct ReadTimeout;

/// A boxed [`ResponseBody`] whose allocation each worker thread reuses: dropping one
/// keeps its (emptied) box for the next response. mimalloc's fast path serves only a
/// page's free list, and a block freed on the same thread waits on the page's local
/// list until the slow path collects it, so one box allocated and freed per request
/// took the slow path every time (~130 instructions with its free).
pub struct BodyBox(Option<Box<ResponseBody>>);

thread_local! {
    static SPARE_BODY: std::cell::Cell<Option<Box<ResponseBody>>> = const { std::cell::Cell::new(None) };
}

impl BodyBox {
    /// The spare box (holding a spent body), or a new one.
    fn take() -> Self {
        let spare = SPARE_BODY.try_with(std::cell::Cell::take).ok().flatten();
        BodyBox(Some(
            spare.unwrap_or_else(|| Box::new(ResponseBody::spent())),
        ))
    }
}

impl Drop for BodyBox {
    fn drop(&mut self) {
        if let Some(mut b) = self.0.take() {
            // Its connection, balancer pick and lines go now, as if the box were freed.
            *b = ResponseBody::spent();
            // A thread being torn down has no spare slot left: the box is just freed.
            let _ = SPARE_BODY.try_with(|spare| spare.set(Some(b)));
        }
    }
}

impl std::ops::Deref for BodyBox {
    type Target = ResponseBody;

    fn deref(&self) -> &ResponseBody {
        self.0
            .as_deref()
            .unwrap_or_else(|| unreachable!("emptied only by drop"))
    }
}

impl std::ops::DerefMut for BodyBox {
    fn deref_mut(&mut self) -> &mut ResponseBody {
        self.0
            .as_deref_mut()
            .unwrap_or_else(|| unreachable!("emptied only by drop"))
    }
}

impl std::fmt::Debug for BodyBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseBody {
    /// A body with nothing left: no connection, nothing to read.
    fn spent() -> Self {
        Self {
            conn: None,
            decoder: Decoder::Done,
            keep_alive: false,
            checkin: None,
            pick: None,
            read_timeout: Duration::ZERO,
            size: SizeHint::with_exact(0),
            relayed: None,
        }
    }

    /// The body of a response whose head was just read, in its reused box.
    pub fn boxed(
        conn: Box<UpstreamConn>,
        head: &ResponseHead,
        checkin: Option<Checkin>,
        pick: Option<gantry_balancer::Pick>,
        read_timeout: Duration,
    ) -> BodyBox {
        let (decoder, size) = match head.framing {
            Framing::Empty => (Decoder::Done, SizeHint::with_exact(0)),
            Framing::Length(n) => (Decoder::Length(n), SizeHint::with_exact(n)),
            Framing::Chunked => (Decoder::Chunked(ChunkedDecoder::new()), SizeHint::new()),
            Framing::Close => (Decoder::Close, SizeHint::new()),
        };
        // Boxed from the start: it is what `ProxyBody::Upstream` holds, and moving it
        // by value into the response would copy it three times. Written field by field
        // into the (spent) box: building it first cost a copy of all of it. Every field
        // is named, so one added later cannot keep the spent value by mistake.
        let mut body = BodyBox::take();
        let Self {
            conn: conn_slot,
            decoder: decoder_slot,
            keep_alive,
            checkin: checkin_slot,
            pick: pick_slot,
            read_timeout: read_timeout_slot,
            size: size_slot,
            relayed,
        } = &mut *body;
        *conn_slot = Some(conn);
        *decoder_slot = decoder;
        *keep_alive = head.keep_alive;
        *checkin_slot = checkin;
        *pick_slot = pick;
        *read_timeout_slot = read_timeout;
        *size_slot = size;
        *relayed = None;
        if matches!(body.decoder, Decoder::Done) {
            body.finish();
        }
        body
    }

    /// Attaches the upstream's header lines that still belong to the response.
    pub fn set_relayed(&mut self, r: Relayed) {
        self.relayed = Some(r);
    }

    /// Takes the upstream's header lines (to write them, or merge them into a map).
    pub fn take_relayed(&mut self) -> Option<Relayed> {
        self.relayed.take()
    }

    /// The body has been read whole: the connection goes back to the pool if it can
    /// carry another request (nothing unread after the body, keep-alive allowed).
    fn finish(&mut self) {
        self.decoder = Decoder::Done;
        self.pick = None;
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if let Some(c) = self.checkin.take()
            && self.keep_alive
            && conn.rbuf.is_empty()
        {
            conn.reused = true;
            c.pool.checkin(c.key, conn);
        }
    }

    fn fail(&mut self, e: BoxError) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.conn = None;
        self.checkin = None;
        self.decoder = Decoder::Done;
        Poll::Ready(Some(Err(e)))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            // Body bytes already buffered.
            let data = match &mut this.decoder {
                Decoder::Done => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Decoder::Length(left) if !conn.rbuf.is_empty() => {
                    let take = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(conn.rbuf.len());
                    *left -= take as u64;
                    let done = *left == 0;
                    let data = conn.rbuf.split_to(take).freeze();
                    if done {
                        this.finish();
                    }
                    Some(data)
                }
                Decoder::Chunked(d) => match d.decode(&mut conn.rbuf) {
                    Ok(Decoded::Data(b)) => Some(b),
                    Ok(Decoded::Done) => {
                        this.finish();
                        return Poll::Ready(None);
                    }
                    Ok(Decoded::NeedMore) => None,
                    Err(e) => return this.fail(Box::new(UpstreamBodyError(e.to_string()))),
                },
                Decoder::Close if !conn.rbuf.is_empty() => Some(conn.rbuf.split().freeze()),
                Decoder::Length(_) | Decoder::Close => None,
            };
            if let Some(data) = data {
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            // Read more.
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match poll_read_some(&mut conn.io, cx, &mut conn.rbuf) {
                Poll::Ready(Ok(0)) => {
                    if matches!(this.decoder, Decoder::Close) {
                        // The upstream's close ends a body without a length.
                        this.keep_alive = false;
                        this.finish();
                        return Poll::Ready(None);
                    }
                    return this.fail(Box::new(UpstreamBodyError(
                        "upstream prematurely closed connection".into(),
                    )));
                }
                Poll::Ready(Ok(_)) => conn.timer.disarm(),
                Poll::Ready(Err(e)) => return this.fail(Box::new(e)),
                Poll::Pending => {
                    if conn.timer.poll_expired(cx, this.read_timeout) {
                        return this.fail(Box::new(ReadTimeout));
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.decoder, Decoder::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match self.decoder {
            Decoder::Done => SizeHint::with_exact(0),
            Decoder::Length(n) => SizeHint::with_exact(n),
            _ => self.size,
        }
    }
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("done", &matches!(self.decoder, Decoder::Done))
            .finish()
    }
}
