//! The HTTP/1.x side facing clients: one task per connection reads a request head,
//! runs the proxy pipeline on it with the body streamed straight from the connection,
//! writes the response (head and first body bytes in one `writev` when they are
//! ready together), and loops for the next request. Malformed or oversized heads get
//! nginx's status with Kong's error body, then the connection closes. A connection that
//! opens with the HTTP/2 preface is handed to hyper's HTTP/2 server.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Response, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

use crate::body::{BoxError, ProxyBody, RequestBody};
use crate::error_page::ErrorSource;
use crate::h1::chunked::{self, ChunkedDecoder, Decoded};
use crate::h1::head::{self, Framing, HeadError, Persist};
use crate::h1::io::{IdleTimer, READ_BUF, Rewind, poll_read_some, read_some, write_two};
use crate::h1::raw::HeaderLines;
use crate::handler::{ConnInfo, Downstream, Worker};
use crate::respond::Ctx;

/// A client stream the codec can read and write (plain TCP or TLS).
pub trait ClientStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ClientStream for T {}

/// Client connection limits (nginx's defaults, which Kong keeps).
#[derive(Debug, Clone, Copy)]
pub struct ClientConnOptions {
    /// A started request head must be complete within this (`client_header_timeout`).
    pub header: Duration,
    /// An idle keep-alive connection is closed after this (`keepalive_timeout`).
    pub keepalive: Duration,
    /// Between two reads of a request body (`client_body_timeout`).
    pub body: Duration,
    /// Between two writes of a response (`send_timeout`).
    pub send: Duration,
    /// Requests served on one connection before it is closed
    /// (`nginx_http_keepalive_requests`); 0 = unlimited.
    pub keepalive_requests: u64,
}

impl Default for ClientConnOptions {
    fn default() -> Self {
        Self {
            header: Duration::from_secs(60),
            keepalive: Duration::from_secs(60),
            body: Duration::from_secs(60),
            send: Duration::from_secs(60),
            keepalive_requests: 10_000,
        }
    }
}

/// An unread request body up to this size is read and dropped after the response so
/// the connection can stay open; a larger one closes it.
const DRAIN_LIMIT: u64 = 64 * 1024;
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The worker's "stop serving" signal as its connections see it: a flag read between
/// requests, and a notification that wakes connections waiting idle. Each connection
/// registers once, so waiting for the next request costs one atomic load, not a
/// waiter-list insertion per wait.
#[derive(Default)]
pub struct Stop {
    flag: AtomicBool,
    notify: Notify,
}

impl Stop {
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
}

/// How a connection ended.
pub enum Served<S> {
    Closed,
    /// The client speaks HTTP/2 (prior knowledge): serve it with hyper.
    Http2(Rewind<S>),
}

/// Serves HTTP/1.x requests on `io` until the client or the server ends the connection.
pub async fn serve<S: ClientStream>(
    mut io: S,
    worker: &Worker,
    info: &ConnInfo,
    stop: &Stop,
    detect_h2: bool,
) -> Served<S> {
    // Register this task with the stop signal once: a trigger then wakes it wherever
    // it waits (a task's waker stays the same), and idle waits just check the flag.
    let mut stopped = pin!(stop.notify.notified());
    stopped.as_mut().enable();
    let _ = poll_fn(|cx| Poll::Ready(stopped.as_mut().poll(cx))).await;
    let timeouts = worker.opts.client;
    let mut served: u64 = 0;
    let mut rbuf = BytesMut::with_capacity(READ_BUF);
    let mut wbuf: Vec<u8> = Vec::with_capacity(1024);
    let mut timer = IdleTimer::new();
    let mut first = detect_h2;
    loop {
        // The request head.
        let head = loop {
            if !rbuf.is_empty() {
                if first {
                    let n = rbuf.len().min(HTTP2_PREFACE.len());
                    if rbuf.get(..n) == HTTP2_PREFACE.get(..n) {
                        if n == HTTP2_PREFACE.len() {
                            return Served::Http2(Rewind::new(rbuf.freeze(), io));
                        }
                    } else {
                        first = false;
                    }
                }
                if !first {
                    match head::parse_request(&mut rbuf) {
                        Ok(Some(h)) => break h,
                        Ok(None) => {}
                        Err(e) => {
                            reject(&mut io, worker, &rbuf, e, timeouts.send).await;
                            return Served::Closed;
                        }
                    }
                }
            }
            let idle = rbuf.is_empty();
            if idle && stop.is_set() {
                return Served::Closed;
            }
            let timeout = if idle {
                timeouts.keepalive
            } else {
                timeouts.header
            };
            let read = tokio::select! {
                biased;
                r = timer.run(timeout, read_some(&mut io, &mut rbuf)) => r,
                () = poll_fn(|_| if stop.is_set() { Poll::Ready(()) } else { Poll::Pending }), if idle => {
                    return Served::Closed;
                }
            };
            match read {
                Ok(Ok(n)) if n > 0 => {}
                // Closed, reset, or too slow: nothing to answer.
                _ => return Served::Closed,
            }
        };
        first = false;

        let method = head.method.clone();
        let version = head.version;
        let keep_alive = head.keep_alive;
        let mut state = BodyState::new(head.framing, head.expect_continue);
        let resp = {
            let body = if state.is_done() {
                RequestBody::Empty
            } else {
                RequestBody::H1(ClientBody {
                    io: &mut io,
                    rbuf: &mut rbuf,
                    state: &mut state,
                    timer: &mut timer,
                    timeout: timeouts.body,
                })
            };
            let req = Downstream {
                method: head.method,
                uri: head.uri,
                version,
                headers: head.headers,
                body,
            };
            crate::handler::serve(worker, info, req).await
        };

        // Whatever of the request body the pipeline did not read is read now (up to a
        // limit) so the next request starts at the right byte.
        served += 1;
        let mut reusable = keep_alive
            && !stop.is_set()
            && (timeouts.keepalive_requests == 0 || served < timeouts.keepalive_requests);
        if reusable && !state.is_done() {
            reusable = state.drainable() && {
                let mut body = ClientBody {
                    io: &mut io,
                    rbuf: &mut rbuf,
                    state: &mut state,
                    timer: &mut timer,
                    timeout: timeouts.body,
                };
                drain(&mut body).await
            };
        }
        let persist = match (reusable, version) {
            (false, _) => Persist::Close,
            (true, Version::HTTP_10) => Persist::KeepAlive { announce: true },
            (true, _) => Persist::KeepAlive { announce: false },
        };
        let kept = write_response(
            &mut io,
            &mut wbuf,
            &mut timer,
            &method,
            version,
            resp,
            persist,
            timeouts.send,
        )
        .await;
        if !kept {
            if state.is_done() {
                let _ = io.shutdown().await;
            } else {
                linger(&mut io).await;
            }
            return Served::Closed;
        }
    }
}

/// Answers a request head that could not be parsed with nginx's status and Kong's error
/// body, then the caller closes the connection.
async fn reject<S: ClientStream>(
    io: &mut S,
    worker: &Worker,
    rbuf: &BytesMut,
    e: HeadError,
    send_timeout: Duration,
) {
    tracing::debug!(error = %e, "rejected request head");
    // The body format follows the request's Accept when the head got that far.
    let accept = find_header(rbuf, b"accept");
    let mut hint = HeaderMap::new();
    if let Some(v) = accept.and_then(|v| http::HeaderValue::from_bytes(v).ok()) {
        hint.insert(http::header::ACCEPT, v);
    }
    let ctx = Ctx::new(std::time::Instant::now(), &hint, &worker.opts);
    let status = e.status();
    let resp = if crate::error_page::has_kong_template(status) {
        let message = crate::error_page::default_message(status);
        ctx.error(status, &message, ErrorSource::Nginx)
    } else {
        // A 501 for an unknown Transfer-Encoding: no Kong phase runs, so neither
        // Kong's template nor its headers.
        let (content_type, body) = crate::error_page::openresty_page(status);
        let mut resp = Response::new(ProxyBody::full(body));
        *resp.status_mut() = status;
        resp.headers_mut()
            .insert(http::header::CONTENT_TYPE, content_type);
        resp
    };
    let mut wbuf = Vec::with_capacity(512);
    let mut timer = IdleTimer::new();
    let _ = write_response(
        io,
        &mut wbuf,
        &mut timer,
        &Method::GET,
        Version::HTTP_11,
        resp,
        Persist::Close,
        send_timeout,
    )
    .await;
    linger(io).await;
}

/// How long and how much a closing connection keeps reading what the client still
/// sends (nginx's lingering close): closing a socket with unread input sends a reset,
/// which can destroy the response before the client reads it.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 4 * 1024 * 1024;

/// Ends our side of the connection, then reads and drops the client's remaining input
/// for a bounded time so the last response is not lost to a reset.
async fn linger<S: ClientStream>(io: &mut S) {
    if io.shutdown().await.is_err() {
        return;
    }
    let mut buf = BytesMut::with_capacity(READ_BUF);
    let mut seen = 0;
    let deadline = tokio::time::Instant::now() + LINGER_TIME;
    while seen < LINGER_BYTES {
        buf.clear();
        match tokio::time::timeout_at(deadline, read_some(io, &mut buf)).await {
            Ok(Ok(n)) if n > 0 => seen += n,
            _ => return,
        }
    }
}

/// The value of the first header line named `name` in a raw, possibly partial head.
fn find_header<'a>(raw: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    raw.split(|&b| b == b'\n').skip(1).find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let (n, v) = line.split_at(colon);
        n.eq_ignore_ascii_case(name)
            .then(|| v.get(1..).unwrap_or(&[]).trim_ascii())
    })
}

/// Reads and drops the rest of a request body. Whether the connection can go on.
async fn drain(body: &mut ClientBody<'_>) -> bool {
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
        if frame.is_err() {
            return false;
        }
    }
    body.state.is_done()
}

/// Writes `resp` to the client. Whether the connection can carry another request.
#[allow(clippy::too_many_arguments)]
async fn write_response<S: ClientStream>(
    io: &mut S,
    wbuf: &mut Vec<u8>,
    timer: &mut IdleTimer,
    method: &Method,
    version: Version,
    resp: Response<ProxyBody>,
    persist: Persist,
    send_timeout: Duration,
) -> bool {
    let (parts, mut body) = resp.into_parts();
    let status = parts.status;
    let mut headers = parts.headers;
    let relayed = body.take_relayed();
    wbuf.clear();

    if head::bodyless_response(method, status) {
        let no_length = status.is_informational() || status == StatusCode::NO_CONTENT;
        let has_length = headers.contains_key(http::header::CONTENT_LENGTH)
            || relayed
                .as_ref()
                .is_some_and(|r| r.raw.has("content-length"));
        if no_length {
            headers.remove(http::header::CONTENT_LENGTH);
        } else if !has_length && let Some(n) = body.size_hint().exact().filter(|n| *n > 0) {
            headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(n));
        }
        head::write_response_head(
            wbuf,
            status,
            &headers,
            relayed.as_ref(),
            Framing::Empty,
            persist,
            !no_length,
        );
        let ok = send(io, timer, send_timeout, wbuf, &[]).await;
        // Run the body to its end (plugins log when it ends) without sending it.
        while let Some(Ok(_)) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {}
        return ok && persist != Persist::Close;
    }

    let (framing, persist) = match body.size_hint().exact() {
        Some(n) => (Framing::Length(n), persist),
        None if version == Version::HTTP_10 => (Framing::Close, Persist::Close),
        None => (Framing::Chunked, persist),
    };
    head::write_response_head(
        wbuf,
        status,
        &headers,
        relayed.as_ref(),
        framing,
        persist,
        false,
    );
    let mut sent: u64 = 0;
    let mut complete = true;
    loop {
        // Poll without waiting when the head is still unsent, so head and first bytes
        // leave together; otherwise wait for the next piece.
        let frame = if wbuf.is_empty() {
            poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        } else {
            match poll_fn(|cx| Poll::Ready(Pin::new(&mut body).poll_frame(cx))).await {
                Poll::Ready(f) => f,
                Poll::Pending => {
                    if !send(io, timer, send_timeout, wbuf, &[]).await {
                        return false;
                    }
                    continue;
                }
            }
        };
        let data = match frame {
            None => break,
            Some(Ok(f)) => match f.into_data() {
                Ok(d) if !d.is_empty() => d,
                _ => continue,
            },
            Some(Err(e)) => {
                tracing::debug!(error = %e, "response body failed");
                complete = false;
                break;
            }
        };
        let data = match framing {
            Framing::Length(n) => {
                let room = n.saturating_sub(sent);
                if room == 0 {
                    complete = false;
                    break;
                }
                let take = usize::try_from(room).unwrap_or(usize::MAX).min(data.len());
                data.slice(..take)
            }
            Framing::Chunked => {
                let (h, n) = chunked::chunk_header(data.len());
                wbuf.extend_from_slice(h.get(..n).unwrap_or(&[]));
                data
            }
            Framing::Close | Framing::Empty => data,
        };
        sent += data.len() as u64;
        if !send(io, timer, send_timeout, wbuf, &data).await {
            return false;
        }
        if framing == Framing::Chunked {
            wbuf.extend_from_slice(chunked::CHUNK_END);
        }
    }
    if let Framing::Length(n) = framing {
        complete &= sent == n;
    }
    if complete && framing == Framing::Chunked {
        wbuf.extend_from_slice(chunked::LAST_CHUNK);
    }
    if !send(io, timer, send_timeout, wbuf, &[]).await {
        return false;
    }
    complete && persist != Persist::Close && framing != Framing::Close
}

/// Writes `wbuf` then `data` (and clears `wbuf`). Whether it worked in time.
async fn send<S: ClientStream>(
    io: &mut S,
    timer: &mut IdleTimer,
    timeout: Duration,
    wbuf: &mut Vec<u8>,
    data: &[u8],
) -> bool {
    if wbuf.is_empty() && data.is_empty() {
        return true;
    }
    let ok = matches!(
        timer.run(timeout, write_two(io, wbuf, data)).await,
        Ok(Ok(()))
    );
    wbuf.clear();
    ok
}

/// Where the request body stands.
pub struct BodyState {
    decoder: Decoder,
    /// `100 Continue` still owed to the client (bytes of it written so far).
    continue_sent: Option<usize>,
    failed: bool,
}

enum Decoder {
    Length(u64),
    Chunked(ChunkedDecoder),
    Done,
}

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

impl BodyState {
    fn new(framing: Framing, expect_continue: bool) -> Self {
        let decoder = match framing {
            Framing::Length(n) if n > 0 => Decoder::Length(n),
            Framing::Chunked => Decoder::Chunked(ChunkedDecoder::new()),
            _ => Decoder::Done,
        };
        let done = matches!(decoder, Decoder::Done);
        Self {
            decoder,
            continue_sent: (expect_continue && !done).then_some(0),
            failed: false,
        }
    }

    fn is_done(&self) -> bool {
        matches!(self.decoder, Decoder::Done)
    }

    /// Whether the unread rest may be drained to keep the connection: the client has
    /// been told to send it (no `100 Continue` owed) and it is small.
    fn drainable(&self) -> bool {
        !self.failed
            && self.continue_sent.is_none()
            && match &self.decoder {
                Decoder::Length(n) => *n <= DRAIN_LIMIT,
                Decoder::Chunked(_) => false,
                Decoder::Done => true,
            }
    }
}

/// A request body read from the client connection as the pipeline asks for it.
pub struct ClientBody<'c> {
    io: &'c mut dyn ClientStream,
    rbuf: &'c mut BytesMut,
    state: &'c mut BodyState,
    timer: &'c mut IdleTimer,
    timeout: Duration,
}

/// The client's body was cut short, malformed, or too slow.
#[derive(Debug, thiserror::Error)]
#[error("client request body: {0}")]
pub struct ClientBodyError(pub &'static str);

impl ClientBody<'_> {
    fn fail(&mut self, why: &'static str) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.state.failed = true;
        self.state.decoder = Decoder::Done;
        Poll::Ready(Some(Err(Box::new(ClientBodyError(why)))))
    }
}

impl Body for ClientBody<'_> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.state.failed {
            return Poll::Ready(None);
        }
        // The client waits for our go-ahead before sending the body.
        while let Some(done) = this.state.continue_sent {
            let rest = CONTINUE.get(done..).unwrap_or(&[]);
            if rest.is_empty() {
                this.state.continue_sent = None;
                break;
            }
            match Pin::new(&mut *this.io).poll_write(cx, rest) {
                Poll::Ready(Ok(n)) if n > 0 => this.state.continue_sent = Some(done + n),
                Poll::Ready(_) => return this.fail("connection closed"),
                Poll::Pending => return Poll::Pending,
            }
        }
        loop {
            let data = match &mut this.state.decoder {
                Decoder::Done => return Poll::Ready(None),
                Decoder::Length(left) if !this.rbuf.is_empty() => {
                    let take = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(this.rbuf.len());
                    *left -= take as u64;
                    if *left == 0 {
                        this.state.decoder = Decoder::Done;
                    }
                    Some(this.rbuf.split_to(take).freeze())
                }
                Decoder::Length(_) => None,
                Decoder::Chunked(d) => match d.decode(this.rbuf) {
                    Ok(Decoded::Data(b)) => Some(b),
                    Ok(Decoded::Done) => {
                        this.state.decoder = Decoder::Done;
                        return Poll::Ready(None);
                    }
                    Ok(Decoded::NeedMore) => None,
                    Err(e) => {
                        tracing::debug!(error = %e, "bad chunked request body");
                        return this.fail("invalid chunked encoding");
                    }
                },
            };
            if let Some(data) = data {
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            match poll_read_some(&mut *this.io, cx, this.rbuf) {
                Poll::Ready(Ok(0)) => return this.fail("connection closed"),
                Poll::Ready(Ok(_)) => this.timer.disarm(),
                Poll::Ready(Err(_)) => return this.fail("connection error"),
                Poll::Pending => {
                    if this.timer.poll_expired(cx, this.timeout) {
                        this.timer.disarm();
                        return this.fail("timed out");
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state.decoder {
            Decoder::Done => SizeHint::with_exact(0),
            Decoder::Length(n) => SizeHint::with_exact(*n),
            Decoder::Chunked(_) => SizeHint::new(),
        }
    }
}
