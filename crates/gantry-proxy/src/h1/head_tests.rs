#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use http::header::HeaderName;
use proptest::prelude::*;

fn kong(h: &RequestHeaders) -> crate::headers::UpstreamHeaders<'static> {
    static IP: HeaderValue = HeaderValue::from_static("10.0.0.7");
    static PORT: HeaderValue = HeaderValue::from_static("8000");
    static ID: std::sync::LazyLock<crate::request_id::RequestId> =
        std::sync::LazyLock::new(crate::request_id::RequestId::generate);
    let facts = Box::leak(Box::new(crate::headers::ForwardedFacts {
        client_ip: &IP,
        trusted: false,
        scheme: crate::headers::scheme_value(false),
        host: None,
        listener_port: &PORT,
        path: "/x",
        prefix: None,
        version: Version::HTTP_11,
        request_id: &ID,
    }));
    let scan = crate::downstream::HeaderScan::of(h);
    crate::headers::UpstreamHeaders::new(h, &scan, facts, &crate::headers::HeaderOptions::off())
}

fn req(raw: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    let mut buf = BytesMut::from(raw);
    parse_request(&mut buf)
}

fn resp(raw: &[u8], method: Method) -> Result<Option<ResponseHead>, HeadError> {
    let mut buf = BytesMut::from(raw);
    parse_response(&mut buf, &method)
}

#[test]
fn parses_a_request_and_leaves_the_rest() {
    let mut buf = BytesMut::from(
        &b"POST /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\nX-Many: 1\r\nx-many: 2\r\n\r\nabcGET"[..],
    );
    let h = parse_request(&mut buf).unwrap().unwrap();
    assert_eq!(h.method, Method::POST);
    assert_eq!(h.uri.path(), "/a/b");
    assert_eq!(h.uri.query(), Some("x=1"));
    assert_eq!(h.version, Version::HTTP_11);
    assert_eq!(h.framing, Framing::Length(3));
    assert!(h.keep_alive);
    assert_eq!(h.headers.get_all("x-many").iter().count(), 2);
    assert_eq!(&buf[..], b"abcGET");
}

#[test]
fn partial_heads_ask_for_more() {
    assert!(req(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap().is_none());
    assert!(req(b"GET /").unwrap().is_none());
}

#[test]
fn keep_alive_follows_version_and_connection() {
    let h = req(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
    assert!(!h.keep_alive);
    let h = req(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(h.keep_alive);
    let h = req(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(!h.keep_alive);
}

#[test]
fn framing_rules_refuse_smuggling_shapes() {
    let h = req(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(h.framing, Framing::Chunked);
    for bad in [
        &b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
        b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
    ] {
        assert!(
            matches!(req(bad), Err(HeadError::Invalid(_))),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    // Like nginx, a request has one Content-Length line of one number, even when the
    // copies agree, and one Transfer-Encoding line.
    for dup in [
        &b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET http://a/ HTTP/1.1\r\n\r\n",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    ] {
        assert_eq!(
            req(dup).unwrap_err().status(),
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(dup)
        );
    }
}

#[test]
fn request_transfer_encoding_is_exactly_chunked_or_501() {
    for te in ["chunked", "CHUNKED", "Chunked ", " chunked"] {
        let raw = format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {te}\r\n\r\n");
        let h = req(raw.as_bytes()).unwrap().unwrap();
        assert_eq!(h.framing, Framing::Chunked, "{te:?}");
    }
    // nginx answers 501 to any other coding, a list ending in chunked included (also
    // with a Content-Length: the coding is checked first).
    for te in [
        "gzip",
        "gzip, chunked",
        "chunked, chunked",
        "chunked,",
        "identity",
        "",
    ] {
        for extra in ["", "Content-Length: 3\r\n"] {
            let raw =
                format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {te}\r\n{extra}\r\n");
            let e = req(raw.as_bytes()).unwrap_err();
            assert_eq!(e, HeadError::UnknownTransferEncoding, "{te:?} {extra:?}");
            assert_eq!(e.status(), StatusCode::NOT_IMPLEMENTED);
        }
    }
}

#[test]
fn responses_keep_their_lenient_framing() {
    // An upstream's duplicate (agreeing) lengths are still read as the one length.
    let h = resp(
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n",
        Method::GET,
    );
    assert_eq!(h.unwrap().unwrap().framing, Framing::Length(4));
}

#[test]
fn oversized_heads_are_414_or_400() {
    let long_uri = format!(
        "GET /{} HTTP/1.1\r\nHost: a\r\n\r\n",
        "a".repeat(MAX_REQUEST_LINE + 1)
    );
    assert_eq!(
        req(long_uri.as_bytes()).unwrap_err().status(),
        StatusCode::URI_TOO_LONG
    );
    let long_uri_partial = format!("GET /{}", "a".repeat(MAX_HEAD_BYTES + 1));
    assert_eq!(
        req(long_uri_partial.as_bytes()).unwrap_err(),
        HeadError::UriTooLong
    );
    let big = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n",
        "b".repeat(MAX_HEAD_BYTES)
    );
    assert_eq!(
        req(big.as_bytes()).unwrap_err().status(),
        StatusCode::BAD_REQUEST
    );
    let mut many = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
    for i in 0..MAX_HEADERS + 1 {
        many.push_str(&format!("X-{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(req(many.as_bytes()).unwrap_err(), HeadError::TooLarge);
}

#[test]
fn expect_continue_and_absolute_form() {
    let h = req(
        b"PUT http://example.com/x HTTP/1.1\r\nHost: example.com\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    )
    .unwrap()
    .unwrap();
    assert!(h.expect_continue);
    assert_eq!(h.uri.host(), Some("example.com"));
}

#[test]
fn response_framing() {
    let h = resp(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        Method::GET,
    )
    .unwrap()
    .unwrap();
    assert_eq!(h.framing, Framing::Length(2));
    assert!(h.keep_alive);
    let h = resp(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
        Method::HEAD,
    )
    .unwrap()
    .unwrap();
    assert_eq!(h.framing, Framing::Empty);
    let h = resp(
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 20\r\n\r\n",
        Method::GET,
    )
    .unwrap()
    .unwrap();
    assert_eq!(h.framing, Framing::Empty);
    let h = resp(b"HTTP/1.1 200 OK\r\n\r\n", Method::GET)
        .unwrap()
        .unwrap();
    assert_eq!(h.framing, Framing::Close);
    assert!(!h.keep_alive);
    let h = resp(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        Method::GET,
    )
    .unwrap()
    .unwrap();
    assert_eq!(h.framing, Framing::Chunked);
    let h = resp(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", Method::GET)
        .unwrap()
        .unwrap();
    assert!(!h.keep_alive);
    assert!(resp(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", Method::GET).is_err());
    assert!(resp(b"HTTP/1.1 999999 OK\r\n\r\n", Method::GET).is_err());
}

#[test]
fn writes_heads_with_framing_from_the_body() {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("up"));
    h.insert("content-length", HeaderValue::from_static("999"));
    h.insert("connection", HeaderValue::from_static("close"));
    let mut out = Vec::new();
    h.insert("x-app", HeaderValue::from_static("kept"));
    let mut h = RequestHeaders::from(h);
    let up = HeaderValue::from_static("up");
    write_request_head(
        &mut out,
        &Method::POST,
        Target {
            path: "/x",
            query: Some("y"),
        },
        &h,
        &kong(&h),
        &up,
        Framing::Length(12),
    );
    let s = String::from_utf8(out).unwrap();
    assert!(
        s.starts_with("POST /x?y HTTP/1.1\r\nhost: up\r\nx-app: kept\r\n"),
        "{s}"
    );
    assert!(s.contains("x-forwarded-for: 10.0.0.7\r\n"), "{s}");
    assert!(s.ends_with("content-length: 12\r\n\r\n"), "{s}");
    assert!(!s.contains("999") && !s.contains("close"), "{s}");
    let mut out = Vec::new();
    h.insert(
        "date",
        HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
    );
    write_response_head(
        &mut out,
        StatusCode::NOT_FOUND,
        &h,
        None,
        Framing::Chunked,
        Persist::Close,
        false,
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HTTP/1.1 404 Not Found\r\nhost: up\r\nx-app: kept\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    let mut out = Vec::new();
    write_response_head(
        &mut out,
        StatusCode::OK,
        &h,
        None,
        Framing::Empty,
        Persist::KeepAlive { announce: true },
        true,
    );
    let s = String::from_utf8(out).unwrap();
    assert!(s.contains("content-length: 999\r\n"), "{s}");
    assert!(s.ends_with("connection: keep-alive\r\n\r\n"), "{s}");
}

#[test]
fn relays_upstream_lines_verbatim_minus_hop_by_hop() {
    let raw = b"HTTP/1.1 200 OK\r\nServer: Origin\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\nContent-Length: 2\r\nX-Kong-Proxy-Latency: 99\r\nX-Keep: a\r\n\r\nok";
    let head = resp(raw, Method::GET).unwrap().unwrap();
    let kong = crate::h1::raw::KongHeaders {
        proxy_latency: Some(1),
        ..Default::default()
    };
    let relayed = crate::h1::raw::Relayed::new(head.headers, kong);
    let own = HeaderMap::new();
    let mut out = Vec::new();
    write_response_head(
        &mut out,
        StatusCode::OK,
        &own,
        Some(&relayed),
        Framing::Length(2),
        Persist::KeepAlive { announce: false },
        false,
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HTTP/1.1 200 OK\r\nServer: Origin\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nX-Keep: a\r\nx-kong-proxy-latency: 1\r\ncontent-length: 2\r\n\r\n"
    );
}

proptest! {
    #[test]
    fn request_parser_never_panics(input in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut buf = BytesMut::from(&input[..]);
        let _ = parse_request(&mut buf);
    }

    #[test]
    fn response_parser_never_panics(input in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut buf = BytesMut::from(&input[..]);
        let _ = parse_response(&mut buf, &Method::GET);
    }

    #[test]
    fn header_values_survive_a_round_trip(values in proptest::collection::vec("[ -~]{0,40}", 1..20)) {
        let mut h = HeaderMap::new();
        for (i, v) in values.iter().enumerate() {
            h.insert(HeaderName::from_bytes(format!("x-h{i}").as_bytes()).unwrap(), HeaderValue::from_str(v.trim()).unwrap());
        }
        let mut out = Vec::new();
        let host = HeaderValue::from_static("x");
        let sent = RequestHeaders::from(h.clone());
        write_request_head(&mut out, &Method::GET, Target { path: "/", query: None }, &sent, &kong(&sent), &host, Framing::Empty);
        let back = req(&out).unwrap().unwrap();
        for (name, v) in &h {
            prop_assert_eq!(back.headers.get(name), Some(v));
        }
    }
}

#[test]
fn relayed_lines_ending_in_a_bare_lf_go_out_with_crlf() {
    let head = resp(
        b"HTTP/1.1 200 OK\nX-A: 1\nContent-Length: 0\n\n",
        Method::GET,
    )
    .unwrap()
    .unwrap();
    let relayed = crate::h1::raw::Relayed::new(head.headers, Default::default());
    let mut out = Vec::new();
    write_response_head(
        &mut out,
        StatusCode::OK,
        &HeaderMap::new(),
        Some(&relayed),
        Framing::Length(0),
        Persist::KeepAlive { announce: false },
        false,
    );
    let s = String::from_utf8(out).unwrap();
    assert!(s.contains("\r\nX-A: 1\r\n"), "{s:?}");
    assert!(!s.contains("1\n") || s.contains("1\r\n"), "{s:?}");
    assert_eq!(
        s.matches("content-length").count() + s.matches("Content-Length").count(),
        1,
        "{s:?}"
    );
}

/// The HTTP/1.1 writer's shortcuts (Kong's lines with their name and `": "` as one
/// piece) write exactly the lines `for_each` gives as pairs, in order.
#[test]
fn request_head_lines_equal_the_upstream_header_pairs() {
    static IP: HeaderValue = HeaderValue::from_static("10.0.0.7");
    static PORT: HeaderValue = HeaderValue::from_static("8000");
    static ID: std::sync::LazyLock<crate::request_id::RequestId> =
        std::sync::LazyLock::new(crate::request_id::RequestId::generate);
    let mut h = HeaderMap::new();
    h.insert("x-a", HeaderValue::from_static("1"));
    h.insert("te", HeaderValue::from_static("trailers"));
    h.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
    let h = RequestHeaders::from(h);
    let facts = crate::headers::ForwardedFacts {
        client_ip: &IP,
        trusted: true,
        scheme: crate::headers::scheme_value(true),
        host: Some(b"example.com"),
        listener_port: &PORT,
        path: "/a/b",
        prefix: Some("/a"),
        version: Version::HTTP_11,
        request_id: &ID,
    };
    let scan = crate::downstream::HeaderScan::of(&h);
    let opts = crate::headers::HeaderOptions::default();
    let kong = crate::headers::UpstreamHeaders::new(&h, &scan, &facts, &opts);
    let mut pairs = Vec::new();
    kong.for_each(&h, |n: &[u8], v: &[u8]| {
        pairs.extend_from_slice(n);
        pairs.extend_from_slice(b": ");
        pairs.extend_from_slice(v);
        pairs.extend_from_slice(b"\r\n");
    });
    assert!(
        pairs.windows(10).any(|w| w == b"x-real-ip:"),
        "{}",
        String::from_utf8_lossy(&pairs)
    );
    let host = HeaderValue::from_static("example.com");
    let mut out = Vec::new();
    write_request_head(
        &mut out,
        &Method::GET,
        Target {
            path: "/",
            query: None,
        },
        &h,
        &kong,
        &host,
        Framing::Empty,
    );
    let expected = [
        &b"GET / HTTP/1.1\r\nhost: example.com\r\n"[..],
        &pairs,
        b"\r\n",
    ]
    .concat();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        String::from_utf8(expected).unwrap()
    );
}

/// Request lines are kept unchecked until a map is built (`raw_lines`), so every name
/// and value httparse accepts must be one `HeaderName` and `HeaderValue` accept: checked
/// byte by byte (both check each byte on its own, so single bytes cover every input).
#[test]
fn httparse_lines_are_header_names_and_values() {
    let mut names = 0;
    let mut values = 0;
    for b in 0..=255u8 {
        let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\nx".to_vec();
        raw.push(b);
        raw.extend_from_slice(b"y: v\r\n\r\n");
        let name = [b'x', b, b'y'];
        // (`:` ends the name early: "x" with the value "y: v".)
        let parsed = req(&raw).ok().flatten();
        let mut seen = false;
        if let Some(head) = &parsed {
            head.headers.for_each_line(|l| seen |= l.name == name);
        }
        if let Some(head) = parsed.filter(|_| seen) {
            names += 1;
            assert!(HeaderName::from_bytes(&name).is_ok(), "name byte {b:#04x}");
            assert!(
                head.headers
                    .contains_key(HeaderName::from_bytes(&name).unwrap())
            );
        }
        let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\nx-v: a".to_vec();
        raw.push(b);
        raw.extend_from_slice(b"b\r\n\r\n");
        if let Ok(Some(head)) = req(&raw) {
            values += 1;
            assert!(
                HeaderValue::from_bytes(&[b'a', b, b'b']).is_ok(),
                "value byte {b:#04x}"
            );
            assert_eq!(head.headers.get("x-v").unwrap().as_bytes(), [b'a', b, b'b']);
        }
    }
    // tchar (77 of them) in names; tab, visible ASCII, space and obs-text in values.
    assert_eq!(names, 77);
    assert!(values >= 200, "{values}");
}

/// A parsed request keeps its lines raw: the proxy's passes over them and the map a
/// plugin asks for agree.
#[test]
fn raw_request_lines_and_their_map_agree() {
    let h = req(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\nAccept: */*\r\n\r\n")
        .unwrap()
        .unwrap()
        .headers;
    assert!(h.is_raw());
    let mut lines: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    h.for_each_line(|l| lines.push((l.name.to_vec(), l.value.to_vec())));
    assert_eq!(lines[1], (b"X-A".to_vec(), b"1".to_vec()));
    assert_eq!(h.len(), 4);
    let a: Vec<_> = h.get_all("x-a").iter().collect();
    assert_eq!(a, ["1", "2"]);
    assert_eq!(h.get("accept").unwrap(), "*/*");
    assert!(h.is_raw(), "reading the map leaves the lines in place");
}
