//! HTTP/1.x message heads: parsing a request (from a client) or a response (from an
//! upstream) out of a read buffer into `http` types, deciding the body's framing and
//! whether the connection stays open, and writing heads back out. Header values are
//! slices of the frozen read buffer (no copy per header), as hyper does.

use std::mem::MaybeUninit;

use bytes::BytesMut;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

use super::raw::{Known, RawHeaders, Relayed, Span, classify, eq_folded};
use crate::headers::{LineSink, UpstreamHeaders};
use gantry_plugins::{ConsumerHeaders, RawLine, RawLines, RequestHeaders};

/// Most header lines one message may carry (hyper's default is 100).
pub const MAX_HEADERS: usize = 128;
/// Largest request or response head, request line included (nginx's
/// `large_client_header_buffers 4 8k`).
pub const MAX_HEAD_BYTES: usize = 32 * 1024;
/// Longest request line; a longer one is `414 URI too long` (nginx's 8k buffer).
pub const MAX_REQUEST_LINE: usize = 8 * 1024;

/// How a message body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body at all.
    Empty,
    /// Exactly this many bytes (`Content-Length`).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the peer closes (responses without a length only).
    Close,
}

/// Why a head could not be parsed. Each maps to the status nginx (and so Kong) answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("malformed message head: {0}")]
    Invalid(&'static str),
    /// The request line alone is over [`MAX_REQUEST_LINE`].
    #[error("request line too long")]
    UriTooLong,
    /// The head is over [`MAX_HEAD_BYTES`] or has too many header lines.
    #[error("message head too large")]
    TooLarge,
    /// A request `Transfer-Encoding` other than exactly `chunked` (nginx's 501).
    #[error("unknown Transfer-Encoding")]
    UnknownTransferEncoding,
}

impl HeadError {
    /// The status a client gets for a request head with this error. nginx's 494
    /// ("Request header or cookie too large") reaches clients as 400.
    pub fn status(self) -> StatusCode {
        match self {
            HeadError::UriTooLong => StatusCode::URI_TOO_LONG,
            HeadError::Invalid(_) | HeadError::TooLarge => StatusCode::BAD_REQUEST,
            HeadError::UnknownTransferEncoding => StatusCode::NOT_IMPLEMENTED,
        }
    }
}

/// A parsed request head.
#[derive(Debug)]
pub struct RequestHead {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    /// The client's lines; a `HeaderMap` is built only if something asks for one.
    pub headers: RequestHeaders,
    pub framing: Framing,
    /// The client wants the connection kept open after this exchange.
    pub keep_alive: bool,
    /// `Expect: 100-continue`: the client waits for `100 Continue` before the body.
    pub expect_continue: bool,
}

/// A parsed response head. Its header lines stay raw: relaying copies them.
#[derive(Debug)]
pub struct ResponseHead {
    pub status: StatusCode,
    pub version: Version,
    pub headers: RawHeaders,
    pub framing: Framing,
    /// The connection may carry another request after this response's body.
    pub keep_alive: bool,
}

const _: () = assert!(MAX_HEAD_BYTES < u16::MAX as usize);

fn span_of(base: *const u8, part: &[u8]) -> (u16, u16) {
    let start = (part.as_ptr() as usize).wrapping_sub(base as usize);
    let start = u16::try_from(start).unwrap_or(u16::MAX);
    let len = u16::try_from(part.len()).unwrap_or(0);
    (start, start.saturating_add(len))
}

fn range((a, b): (u16, u16)) -> std::ops::Range<usize> {
    usize::from(a)..usize::from(b)
}

fn map_parse_error(e: httparse::Error) -> HeadError {
    match e {
        httparse::Error::TooManyHeaders => HeadError::TooLarge,
        httparse::Error::Version => HeadError::Invalid("unsupported HTTP version"),
        httparse::Error::Token => HeadError::Invalid("invalid token"),
        httparse::Error::HeaderName => HeadError::Invalid("invalid header name"),
        httparse::Error::HeaderValue => HeadError::Invalid("invalid header value"),
        httparse::Error::NewLine => HeadError::Invalid("invalid line ending"),
        httparse::Error::Status => HeadError::Invalid("invalid status"),
    }
}

/// Too much buffered without a complete head: tell a long request line (414) from a
/// long head (400).
fn oversized(buf: &[u8]) -> HeadError {
    let line_end = buf.iter().position(|&b| b == b'\n');
    match line_end {
        Some(i) if i <= MAX_REQUEST_LINE => HeadError::TooLarge,
        _ => HeadError::UriTooLong,
    }
}

/// Parses a request head from the front of `buf`. `Ok(None)`: not complete yet (read
/// more). On success the head's bytes are removed from `buf`.
pub fn parse_request(buf: &mut BytesMut) -> Result<Option<RequestHead>, HeadError> {
    let mut facts = RequestFacts::default();
    let (len, method, target, version, lines) = {
        let mut raw = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut []);
        let status = req
            .parse_with_uninit_headers(buf, &mut raw)
            .map_err(map_parse_error)?;
        let len = match status {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => {
                if buf.len() > MAX_HEAD_BYTES {
                    return Err(oversized(buf));
                }
                return Ok(None);
            }
        };
        if len > MAX_HEAD_BYTES {
            return Err(oversized(buf));
        }
        let base = buf.as_ptr();
        // One pass over the lines: each is classified once, noted for the codec's own
        // facts, and kept as a span of the head (the plugins' `RawLines`).
        let mut lines = Vec::with_capacity(req.headers.len());
        for h in req.headers.iter() {
            if let Some(known) = classify(h.name.as_bytes()) {
                facts.note(known, h.value);
            }
            lines.push(RawLine {
                name: span_of(base, h.name.as_bytes()),
                value: span_of(base, h.value),
            });
        }
        let method = req.method.ok_or(HeadError::Invalid("missing method"))?;
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| HeadError::Invalid("invalid method"))?;
        let path = req.path.unwrap_or("");
        if path.len() > MAX_REQUEST_LINE {
            return Err(HeadError::UriTooLong);
        }
        let target = span_of(base, path.as_bytes());
        let version = if req.version == Some(0) {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        };
        (len, method, target, version, lines)
    };
    let head = buf.split_to(len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(range(target)))
        .map_err(|_| HeadError::Invalid("invalid request target"))?;
    // nginx's order: duplicate lines of its single-valued headers, a missing `Host`
    // (even with an absolute target), then the framing.
    match facts.hosts {
        0 if version == Version::HTTP_11 => return Err(HeadError::Invalid("missing Host header")),
        0 | 1 => {}
        _ => return Err(HeadError::Invalid("duplicate Host header")),
    }
    let framing = request_framing(&facts, version)?;
    let headers = RequestHeaders::from(RawLines::new(head, lines));
    let keep_alive = if version == Version::HTTP_10 {
        facts.keep_alive_token
    } else {
        !facts.close_token
    };
    let expect_continue = version == Version::HTTP_11 && facts.expect_continue;
    Ok(Some(RequestHead {
        method,
        uri,
        version,
        headers,
        framing,
        keep_alive,
        expect_continue,
    }))
}

/// Parses a response head from the front of `buf` (see [`parse_request`]). `method`
/// is the request's: a response to `HEAD` has no body whatever its headers say.
pub fn parse_response(
    buf: &mut BytesMut,
    method: &Method,
) -> Result<Option<ResponseHead>, HeadError> {
    let (len, code, version, spans) = {
        let mut raw = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut []);
        let status = httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut resp, buf, &mut raw)
            .map_err(map_parse_error)?;
        let len = match status {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial if buf.len() > MAX_HEAD_BYTES => {
                return Err(HeadError::TooLarge);
            }
            httparse::Status::Partial => return Ok(None),
        };
        if len > MAX_HEAD_BYTES {
            return Err(HeadError::TooLarge);
        }
        let base = buf.as_ptr();
        // Kept with the response (relaying copies the lines from it): built in place.
        let spans: Vec<Span> = resp
            .headers
            .iter()
            .map(|h| Span {
                name: span_of(base, h.name.as_bytes()),
                value: span_of(base, h.value),
                known: classify(h.name.as_bytes()),
            })
            .collect();
        let version = if resp.version == Some(0) {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        };
        (len, resp.code.unwrap_or(0), version, spans)
    };
    let head = buf.split_to(len).freeze();
    let status = StatusCode::from_u16(code).map_err(|_| HeadError::Invalid("invalid status"))?;
    let facts = RequestFacts::of(&head, &spans);
    let framing = response_framing(&facts, status, method)?;
    let keep_alive = framing != Framing::Close
        && if version == Version::HTTP_10 {
            facts.keep_alive_token
        } else {
            !facts.close_token
        };
    let headers = RawHeaders::new(head, spans);
    Ok(Some(ResponseHead {
        status,
        version,
        headers,
        framing,
        keep_alive,
    }))
}

/// What the codec needs from a message's header lines (framing, persistence, a
/// request's `Host` count and `Expect`), found in one pass.
struct RequestFacts {
    /// `Transfer-Encoding` values, and whether the last coding is `chunked` (how a
    /// response is framed).
    te: Option<bool>,
    /// How many `Transfer-Encoding` lines, and whether the last is exactly `chunked`
    /// (all a request may say, as in nginx).
    te_lines: usize,
    te_exactly_chunked: bool,
    /// How many `Content-Length` lines, whether one was a list (`3, 3`), and the value
    /// they agree on.
    length_lines: usize,
    length_list: bool,
    content_length: Result<Option<u64>, HeadError>,
    hosts: usize,
    close_token: bool,
    keep_alive_token: bool,
    expect_continue: bool,
}

impl Default for RequestFacts {
    fn default() -> Self {
        RequestFacts {
            te: None,
            te_lines: 0,
            te_exactly_chunked: false,
            length_lines: 0,
            length_list: false,
            content_length: Ok(None),
            hosts: 0,
            close_token: false,
            keep_alive_token: false,
            expect_continue: false,
        }
    }
}

impl RequestFacts {
    fn of(head: &[u8], spans: &[Span]) -> Self {
        let mut f = RequestFacts::default();
        for s in spans {
            if let Some(known) = s.known {
                f.note(known, head.get(range(s.value)).unwrap_or(&[]));
            }
        }
        f
    }

    /// Takes in one line of class `known`. Inlined into both loops over the lines (a
    /// call per line cost ~20 instructions; most lines are of no class it reads).
    #[inline(always)]
    fn note(&mut self, known: Known, value: &[u8]) {
        if !matches!(
            known,
            Known::Host
                | Known::ContentLength
                | Known::TransferEncoding
                | Known::Connection
                | Known::Expect
        ) {
            return;
        }
        let f = self;
        let tokens = || value.split(|&b| b == b',').map(<[u8]>::trim_ascii);
        if known == Known::Host {
            f.hosts += 1;
        } else if known == Known::ContentLength {
            f.length_lines += 1;
            f.length_list |= value.contains(&b',');
            f.content_length = match (
                f.content_length,
                parse_content_length(std::iter::once(value)),
            ) {
                (Ok(None), next) => next,
                (Ok(Some(a)), Ok(Some(b))) if a == b => Ok(Some(a)),
                (Ok(Some(_)), Ok(_)) => Err(HeadError::Invalid("conflicting Content-Length")),
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
        } else if known == Known::TransferEncoding {
            f.te_lines += 1;
            // The usual value is exactly `chunked`: no token split for it.
            f.te_exactly_chunked =
                eq_folded(value, b"chunked") || value.trim_ascii().eq_ignore_ascii_case(b"chunked");
            if f.te_exactly_chunked {
                f.te = Some(true);
            } else if let Some(last) = tokens().rfind(|t| !t.is_empty()) {
                f.te = Some(last.eq_ignore_ascii_case(b"chunked"));
            }
        } else if known == Known::Connection {
            // Values are trimmed: the usual single token needs no split.
            if eq_folded(value, b"keep-alive") {
                f.keep_alive_token = true;
            } else if eq_folded(value, b"close") {
                f.close_token = true;
            } else {
                for t in tokens() {
                    f.close_token |= t.eq_ignore_ascii_case(b"close");
                    f.keep_alive_token |= t.eq_ignore_ascii_case(b"keep-alive");
                }
            }
        } else if known == Known::Expect {
            f.expect_continue = eq_folded(value, b"100-continue");
        }
    }
}

fn parse_content_length<'v>(
    values: impl Iterator<Item = &'v [u8]>,
) -> Result<Option<u64>, HeadError> {
    let mut found: Option<u64> = None;
    for v in values {
        for part in v.split(|&b| b == b',') {
            let part = part.trim_ascii();
            if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
                return Err(HeadError::Invalid("invalid Content-Length"));
            }
            // At most 19 digits (checked above): fits a u64 without overflow.
            let n = part.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            if found.is_some_and(|f| f != n) {
                return Err(HeadError::Invalid("conflicting Content-Length"));
            }
            found = Some(n);
        }
    }
    Ok(found)
}

fn request_framing(facts: &RequestFacts, version: Version) -> Result<Framing, HeadError> {
    // nginx (1.21+) word for word: one `Content-Length` line of one number; then
    // `Transfer-Encoding` only on HTTP/1.1, only exactly `chunked` (anything else,
    // `gzip, chunked` included, is 501), and never with a length too — both framings at
    // once is how requests get smuggled.
    if facts.length_lines > 1 || facts.length_list {
        return Err(HeadError::Invalid("duplicate Content-Length"));
    }
    if facts.te_lines > 1 {
        return Err(HeadError::Invalid("duplicate Transfer-Encoding"));
    }
    let length = facts.content_length?;
    if facts.te_lines == 0 {
        return Ok(match length {
            Some(0) | None => Framing::Empty,
            Some(n) => Framing::Length(n),
        });
    }
    if version != Version::HTTP_11 {
        return Err(HeadError::Invalid(
            "Transfer-Encoding in an HTTP/1.0 request",
        ));
    }
    if !facts.te_exactly_chunked {
        return Err(HeadError::UnknownTransferEncoding);
    }
    if facts.length_lines > 0 {
        return Err(HeadError::Invalid(
            "both Transfer-Encoding and Content-Length",
        ));
    }
    Ok(Framing::Chunked)
}

fn response_framing(
    facts: &RequestFacts,
    status: StatusCode,
    method: &Method,
) -> Result<Framing, HeadError> {
    if *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(Framing::Empty);
    }
    match facts.te {
        Some(true) => Ok(Framing::Chunked),
        Some(false) => Ok(Framing::Close),
        None => Ok(match facts.content_length? {
            Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        }),
    }
}

/// Whether a response with this status to this method carries no body on the wire.
pub fn bodyless_response(method: &Method, status: StatusCode) -> bool {
    *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

/// Writes every header except the framing and connection ones, which the caller
/// writes itself (`Content-Length` stays when `keep_length`: a bodyless response
/// reports the length of the body it would have had).
fn write_headers(out: &mut Vec<u8>, headers: &HeaderMap, keep_length: bool) {
    for (name, value) in headers {
        if (name == header::CONTENT_LENGTH && !keep_length)
            || name == header::TRANSFER_ENCODING
            || name == header::CONNECTION
        {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

fn write_framing(out: &mut Vec<u8>, framing: Framing) {
    match framing {
        Framing::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::Empty | Framing::Close => {}
    }
}

/// The origin-form target of a request line: the path, and the query after its `?`
/// (`Some("")` for a lone `?`). Two pieces, so neither is copied to join them.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub path: &'a str,
    pub query: Option<&'a str>,
}

/// Writes an HTTP/1.1 request head for the upstream: `headers` are the client's (after
/// plugins), `kong` Kong's rules for them (hop-by-hop removal, `X-Forwarded-*`, `Via`,
/// request id), then `Host`.
pub fn write_request_head(
    out: &mut Vec<u8>,
    method: &Method,
    target: Target<'_>,
    headers: &RequestHeaders,
    kong: &UpstreamHeaders<'_>,
    host: &HeaderValue,
    framing: Framing,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.path.as_bytes());
    if let Some(q) = target.query {
        out.push(b'?');
        out.extend_from_slice(q.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    kong.for_each(headers, H1Lines(out));
    write_framing(out, framing);
    out.extend_from_slice(b"\r\n");
}

/// Upstream request lines written as HTTP/1.1.
struct H1Lines<'o>(&'o mut Vec<u8>);

impl LineSink for H1Lines<'_> {
    fn line(&mut self, name: &[u8], value: &[u8]) {
        self.0.extend_from_slice(name);
        self.0.extend_from_slice(b": ");
        self.0.extend_from_slice(value);
        self.0.extend_from_slice(b"\r\n");
    }

    fn consumer(&mut self, c: &ConsumerHeaders) {
        c.write_wire(self.0);
    }

    // Inlined at each of Kong's lines: `start` then has a known length (its copy is a
    // few stores, not a `memcpy` call), and the call itself cost ~20 instructions a line.
    #[inline(always)]
    fn ours(&mut self, start: &'static [u8], value: &[u8]) {
        self.0.extend_from_slice(start);
        self.0.extend_from_slice(value);
        self.0.extend_from_slice(b"\r\n");
    }
}

/// What the client connection does after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persist {
    /// Keep it open; `announce` = say so (`Connection: keep-alive`, for HTTP/1.0).
    KeepAlive { announce: bool },
    /// Close it after this response (`Connection: close`).
    Close,
}

/// Writes an HTTP/1.1 response head for the client. `Content-Length` and
/// `Transfer-Encoding` come from `framing` (or, with `keep_length`, `Content-Length`
/// from `headers`), `Connection` from `persist`; a `Date` is added when the headers
/// have none.
/// `relayed` are the upstream's lines still to copy (those that pass its filter).
#[allow(clippy::too_many_arguments)]
pub fn write_response_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    relayed: Option<&Relayed>,
    framing: Framing,
    persist: Persist,
    keep_length: bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut has_date = headers.contains_key(header::DATE);
    if let Some(r) = relayed {
        has_date |= r.raw.has_known(Known::Date);
        for (known, name, wire) in r.raw.wire_lines() {
            let pass = if known == Some(Known::ContentLength) {
                keep_length
            } else {
                r.passes(known, name, headers)
            };
            if pass {
                // The line as the upstream sent it, in one copy.
                if wire.ends_with(b"\r\n") {
                    out.extend_from_slice(wire);
                } else {
                    out.extend_from_slice(wire.strip_suffix(b"\n").unwrap_or(wire));
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
        r.kong.for_each(|start, value| {
            out.extend_from_slice(start);
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        });
    }
    write_headers(out, headers, keep_length);
    if !has_date {
        out.extend_from_slice(b"date: ");
        crate::h1::date::append(out);
        out.extend_from_slice(b"\r\n");
    }
    write_framing(out, framing);
    match persist {
        Persist::Close => out.extend_from_slice(b"connection: close\r\n"),
        Persist::KeepAlive { announce: true } => {
            out.extend_from_slice(b"connection: keep-alive\r\n");
        }
        Persist::KeepAlive { announce: false } => {}
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
#[path = "head_tests.rs"]
mod tests;
