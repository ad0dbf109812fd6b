//! End-to-end proxy behaviour against in-process origins: routing, Kong's headers and
//! error bodies, retries, keep-alive reuse, limits, streaming, h2c and graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use gantry_core::Protocol;
use gantry_proxy::{ConfigEntities, ProxyOptions};
use http::{Request, StatusCode};
use http_body_util::Full;
use support::*;

fn one_route(host: &str, port: u16, svc_path: Option<&str>, paths: &[&str]) -> ConfigEntities {
    let s = service("svc", host, port, svc_path);
    let r = route(&s, paths);
    ConfigEntities {
        services: vec![s],
        routes: vec![r.into()],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_with_kong_path_and_headers() {
    let o = origin().await;
    let cfg = one_route("127.0.0.1", o.addr.port(), Some("/base"), &["/api"]);
    let p = Proxy::start(&cfg, ProxyOptions::default());
    let req = get("/api/users?x=1&y")
        .header("connection", "keep-alive, x-drop")
        .header("x-drop", "1")
        .header("x-forwarded-for", "9.9.9.9")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let got = send(p.addr, req).await;
    assert_eq!(got.status, StatusCode::OK);
    let echo = got.json();
    assert_eq!(echo["uri"], "/base/users?x=1&y");
    let h = &echo["headers"];
    assert_eq!(h["host"], format!("127.0.0.1:{}", o.addr.port()));
    assert_eq!(h["x-forwarded-for"], "9.9.9.9, 127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], "example.test");
    assert_eq!(h["x-forwarded-port"], p.addr.port().to_string());
    assert_eq!(h["x-forwarded-path"], "/api/users");
    assert_eq!(h["x-forwarded-prefix"], "/api");
    assert_eq!(h["x-real-ip"], "127.0.0.1");
    assert!(h["via"].as_str().unwrap().starts_with("1.1 gantry/"));
    assert_eq!(h["x-kong-request-id"].as_str().unwrap().len(), 32);
    assert!(
        h.get("x-drop").is_none(),
        "hop-by-hop header listed in Connection was forwarded"
    );
    // Response side.
    assert!(got.header("via").unwrap().starts_with("1.1 gantry/"));
    assert!(got.header("x-kong-upstream-latency").is_some());
    assert!(got.header("x-kong-proxy-latency").is_some());
    assert_eq!(
        got.header("x-kong-request-id"),
        h["x-kong-request-id"].as_str()
    );
    assert!(got.header("server").unwrap().starts_with("gantry/"));
    assert!(
        got.header("x-hop").is_none(),
        "upstream hop-by-hop header reached the client"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_gives_kong_404() {
    let o = origin().await;
    let cfg = one_route("127.0.0.1", o.addr.port(), None, &["/api"]);
    let p = Proxy::start(&cfg, ProxyOptions::default());
    let got = get_ok(p.addr, "/nope").await;
    assert_eq!(got.status, StatusCode::NOT_FOUND);
    assert_eq!(
        got.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let body = got.json();
    assert_eq!(body["message"], "no Route matched with those values");
    assert_eq!(body["request_id"].as_str(), got.header("x-kong-request-id"));
    assert!(got.header("x-kong-response-latency").is_some());
    // Plain text when asked for.
    let req = get("/nope")
        .header("accept", "text/plain")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let got = send(p.addr, req).await;
    assert!(
        String::from_utf8_lossy(&got.body)
            .starts_with("no Route matched with those values\nrequest_id: ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serviceless_route_gives_503() {
    let o = origin().await;
    let mut cfg = one_route("127.0.0.1", o.addr.port(), None, &["/api"]);
    std::sync::Arc::make_mut(&mut cfg.routes[0]).service = None;
    let p = Proxy::start(&cfg, ProxyOptions::default());
    let got = get_ok(p.addr, "/api").await;
    assert_eq!(got.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        &got.body[..],
        br#"{"message":"no Service found with those values"}"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_service_routes_are_not_matched() {
    let o = origin().await;
    let mut cfg = one_route("127.0.0.1", o.addr.port(), None, &["/api"]);
    cfg.services[0].enabled = false;
    let p = Proxy::start(&cfg, ProxyOptions::default());
    assert_eq!(get_ok(p.addr, "/api").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_upstream_is_502_after_retries() {
    let port = closed_port();
    let cfg = one_route("127.0.0.1", port, None, &["/"]);
    let p = Proxy::start(&cfg, ProxyOptions::default());
    let req = get("/x")
        .header("accept", "application/json")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let got = send(p.addr, req).await;
    assert_eq!(got.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        got.json()["message"],
        "An invalid response was received from the upstream server"
    );
    // Without Accept, nginx-level errors fall back to error_default_type (text/plain).
    let got = get_ok(p.addr, "/x").await;
    assert_eq!(
        got.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_upstream_is_504() {
    let o = origin().await;
    let mut cfg = one_route("127.0.0.1", o.addr.port(), None, &["/"]);
    cfg.services[0].read_timeout = 100;
    let p = Proxy::start(&cfg, ProxyOptions::default());
    let got = get_ok(p.addr, "/delay/1000").await;
    assert_eq!(got.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(String::from_utf8_lossy(&got.body).starts_with("The upstream server is timing out"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balances_round_robin_and_retries_past_dead_target() {
    let a = origin().await;
    let b = origin().await;
    let dead = closed_port();
    let up = upstream("backend.internal");
    let targets = vec![
        target(&up, &format!("127.0.0.1:{}", a.addr.port()), 100),
        target(&up, &format!("127.0.0.1:{}", b.addr.port()), 100),
        target(&up, &format!("127.0.0.1:{dead}"), 100),
    ];
    let s = service("svc", "backend.internal", 80, None);
    let r = route(&s, &["/"]);
    let cfg = ConfigEntities {
        services: vec![s],
        routes: vec![r.into()],
        upstreams: vec![up],
        targets,
        ..Default::default()
    };
    let p = Proxy::start(&cfg, ProxyOptions::default());
    for _ in 0..30 {
        let got = get_ok(p.addr, "/").await;
        assert_eq!(
            got.status,
            StatusCode::OK,
            "a request failed although live targets exist"
        );
    }
    let (na, nb) = (
        a.requests.load(Ordering::SeqCst),
        b.requests.load(Ordering::SeqCst),
    );
    assert_eq!(na + nb, 30);
    assert!(na >= 10 && nb >= 10, "uneven: {na} vs {nb}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_without_targets_is_503() {
    let up = upstream("empty.internal");
    let s = service("svc", "empty.internal", 80, None);
    let r = route(&s, &["/"]);
    let cfg = ConfigEntities {
        services: vec![s],
        routes: vec![r.into()],
        upstreams: vec![up],
        ..Default::default()
    };
    let p = Proxy::start(&cfg, ProxyOptions::default());
    let got = get_ok(p.addr, "/").await;
    assert_eq!(got.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        got.json()["message"],
        "failure to get a peer from the ring-balancer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_connections_are_kept_alive() {
    let o = origin().await;
    let cfg = one_route("127.0.0.1", o.addr.port(), None, &["/"]);
    let p = Proxy::start(&cfg, ProxyOptions::default());
    for _ in 0..20 {
        assert_eq!(get_ok(p.addr, "/").await.status, StatusCode::OK);
    }
    assert_eq!(
        o.connections.load(Ordering::SeqCst),
        1,
        "upstream keep-alive not reused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_pool_size_zero_disables_reuse() {
    let o = origin().await;
    let cfg = one_route("127.0.0.1", o.addr.port(), None, &["/"]);
    let mut opts = ProxyOptions::default();
    opts.keepalive.pool_size = 0;
    let p = Proxy::start(&cfg, opts);
    for _ in 0..5 {
        assert_eq!(get_ok(p.addr, "/").await.status, StatusCode::OK);
    }
    assert_eq!(o.connections.load(Ordering::SeqCst), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_over_client_max_body_size_is_413() {
    let o = origin().await;
    let cfg = one_route("127.0.0.1", o.addr.port(), None, &["/"]);
    let opts = ProxyOptions {
        client_max_body_size: Some(1024),
        ..ProxyOptions::default()
    };
    let p = Proxy::start(&cfg, opts);
    let req = Request::post("/")
        .header("host", "x")
        .header("accept", "application/json")
        .body(Full::new(Bytes::from(vec![b'a'; 2048])))
        .unwrap();
    let got = send(p.addr, req).await;
    assert_eq!(got.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(got.json()["message"], "Payload too large");
    let req = Request::post("/")
        .header("host", "x")
        .body(Full::new(Bytes::from(vec![b'a'; 1000])))
        .unwrap();
    let got = send(p.addr, req).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json()["body_len"], 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_stream_both_ways() {
    let o = origin().await;
    let cfg = one_route("127.0.0.1", o.addr.port(), None, &["/"]);
    let p = Proxy::start(&cfg, ProxyOptions::default());
    let got = get_ok(p.addr, "/big/5000000").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body.len(), 5_000_000);
    let req = Request::post("/")
        .header("host", "x")
        .body(Full::new(Bytes::from(vec![7u8; 3_000_000])))
        .unwrap();
    let got = send(p.addr, req).await;
    assert_eq!(got.json()["body_len"], 3_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_only_route_over_http_gets_426_or_redirect() {
    let o = origin().await;
    let mut cfg = one_route("127.0.0.1", o.addr.port(), None, &["/secure"]);
    std::sync::Arc::make_mut(&mut cfg.routes[0]).protocols = vec![Protocol::Https];
    let p = Proxy::start(&cfg, ProxyOptions::default());
    let got = get_ok(p.addr, "/secure").await;
    assert_eq!(got.status, StatusCode::UPGRADE_REQUIRED);
    assert_eq!(got.json()["message"], "Please use HTTPS protocol");
    assert_eq!(got.header("upgrade"), Some("TLS/1.2, HTTP/1.1"));
    std::sync::Arc::make_mut(&mut cfg.routes[0]).https_redirect_status_code = 301;
    p.reconfigure(&cfg);
    let got = get_ok(p.addr, "/secure?a=1").await;
    assert_eq!(got.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        got.header("location"),
        Some("https://example.test/secure?a=1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_only_route_still_serves_and_grpc_routes_check_requests() {
    let o = origin().await;
    // The router ignores protocols (as Kong's): an http-only route is served to all.
    let mut cfg = one_route("127.0.0.1", o.addr.port(), None, &["/plain"]);
    std::sync::Arc::make_mut(&mut cfg.routes[0]).protocols = vec![Protocol::Http];
    let mut g = route(&cfg.services[0], &["/grpc"]);
    g.protocols = vec![Protocol::Grpc, Protocol::Grpcs];
    g.strip_path = false;
    cfg.routes.push(g.into());
    let p = Proxy::start(&cfg, ProxyOptions::default());
    assert_eq!(get_ok(p.addr, "/plain").await.status, StatusCode::OK);
    let got = get_ok(p.addr, "/grpc").await;
    assert_eq!(got.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(got.json()["message"], "Non-gRPC request matched gRPC route");
    let req = get("/grpc")
        .header("content-type", "application/grpc")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let got = send(p.addr, req).await;
    assert_eq!(got.status, StatusCode::UPGRADE_REQUIRED);
    assert_eq!(got.json()["message"], "Please use HTTP2 protocol");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preserve_host_and_headers_off() {
    let o = origin().await;
    let mut cfg = one_route("127.0.0.1", o.addr.port(), None, &["/"]);
    std::sync::Arc::make_mut(&mut cfg.routes[0]).preserve_host = true;
    let opts = ProxyOptions {
        headers: gantry_proxy::headers::HeaderOptions::off(),
        ..ProxyOptions::default()
    };
    let p = Proxy::start(&cfg, opts);
    let got = get_ok(p.addr, "/").await;
    assert_eq!(got.json()["headers"]["host"], "example.test");
    assert!(got.json()["headers"].get("via").is_none());
    assert!(got.header("via").is_none());
    assert!(got.header("x-kong-request-id").is_none());
    assert!(got.header("x-kong-proxy-latency").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconfiguration_applies_without_restart() {
    let a = origin().await;
    let b = origin().await;
    let p = Proxy::start(
        &one_route("127.0.0.1", a.addr.port(), None, &["/"]),
        ProxyOptions::default(),
    );
    assert_eq!(
        get_ok(p.addr, "/").await.json()["origin"],
        a.addr.to_string()
    );
    p.reconfigure(&one_route("127.0.0.1", b.addr.port(), None, &["/"]));
    assert_eq!(
        get_ok(p.addr, "/").await.json()["origin"],
        b.addr.to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_is_served() {
    let o = origin().await;
    let p = Proxy::start(
        &one_route("127.0.0.1", o.addr.port(), None, &["/"]),
        ProxyOptions::default(),
    );
    let stream = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let req = Request::get(format!("http://example.test:{}/h2", p.addr.port()))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["via"]
            .to_str()
            .unwrap()
            .starts_with("2 gantry/")
    );
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let echo: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echo["uri"], "/h2");
    assert!(
        echo["headers"]["via"]
            .as_str()
            .unwrap()
            .starts_with("2 gantry/")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish() {
    let o = origin().await;
    let mut p = Proxy::start(
        &one_route("127.0.0.1", o.addr.port(), None, &["/"]),
        ProxyOptions::default(),
    );
    let addr = p.addr;
    let inflight = tokio::spawn(async move { get_ok(addr, "/delay/300").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let server = p.server.take().unwrap();
    let stopper = std::thread::spawn(move || server.shutdown(Duration::from_secs(5)));
    let got = inflight.await.unwrap();
    assert_eq!(
        got.status,
        StatusCode::OK,
        "in-flight request was cut off by shutdown"
    );
    stopper.join().unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_idle_keepalive_connections_at_once() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let o = origin().await;
    let mut p = Proxy::start(
        &one_route("127.0.0.1", o.addr.port(), None, &["/"]),
        ProxyOptions::default(),
    );
    let mut idle = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    idle.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 8192];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let server = p.server.take().unwrap();
    let started = std::time::Instant::now();
    let stopper = std::thread::spawn(move || server.shutdown(Duration::from_secs(5)));
    // The idle connection is closed by the server, not left to its keep-alive timeout.
    let n = tokio::time::timeout(Duration::from_secs(3), idle.read(&mut buf))
        .await
        .expect("idle connection left open after shutdown")
        .unwrap_or(0);
    assert_eq!(n, 0);
    stopper.join().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shutdown waited for an idle connection: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_workers_share_the_port() {
    let o = origin().await;
    let p = Proxy::start_workers(
        &one_route("127.0.0.1", o.addr.port(), None, &["/"]),
        ProxyOptions::default(),
        3,
    );
    for _ in 0..12 {
        assert_eq!(get_ok(p.addr, "/").await.status, StatusCode::OK);
    }
}

/// Raw bytes in, the status line out.
async fn raw_exchange(addr: std::net::SocketAddr, bytes: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(&bytes).await;
    let mut out = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut out))
        .await
        .unwrap_or(Ok(0))
        .unwrap_or(0);
    String::from_utf8_lossy(&out[..n]).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_requests_are_rejected_and_serving_continues() {
    let o = origin().await;
    let p = Proxy::start(
        &one_route("127.0.0.1", o.addr.port(), None, &["/"]),
        ProxyOptions::default(),
    );
    let resp = raw_exchange(p.addr, b"GARBAGE\r\n\r\n".to_vec()).await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    let mut many = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..500 {
        many.extend_from_slice(format!("x-h{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    // nginx's 494 "Request header or cookie too large" reaches Kong's clients as 400.
    let resp = raw_exchange(p.addr, many).await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("Bad request\nrequest_id: "), "{resp}");
    assert!(resp.contains("connection: close"), "{resp}");
    let mut huge = b"GET / HTTP/1.1\r\nHost: x\r\nx-big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 1_000_000));
    huge.extend_from_slice(b"\r\n\r\n");
    let resp = raw_exchange(p.addr, huge).await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "u".repeat(9000));
    let resp = raw_exchange(p.addr, long_uri.into_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 414"), "{resp}");
    assert!(resp.contains("URI too long"), "{resp}");
    // The error body follows the client's Accept.
    let resp = raw_exchange(
        p.addr,
        b"GET / HTTP/1.1\r\nAccept: application/json\r\nBad Header\r\n\r\n".to_vec(),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("\"message\":\"Bad request\""), "{resp}");
    let resp = raw_exchange(
        p.addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"
            .to_vec(),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    // Still serving.
    assert_eq!(get_ok(p.addr, "/").await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_transfer_encoding_is_openrestys_501_page() {
    let o = origin().await;
    let p = Proxy::start(
        &one_route("127.0.0.1", o.addr.port(), None, &["/"]),
        ProxyOptions::default(),
    );
    // `gzip, chunked` would be chunked by RFC 9112, but nginx (so Kong) takes only
    // exactly `chunked`; the origin never sees the request.
    let resp = raw_exchange(
        p.addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n".to_vec(),
    )
    .await;
    assert!(
        resp.starts_with("HTTP/1.1 501 Not Implemented\r\n"),
        "{resp}"
    );
    assert!(resp.contains("content-type: text/html\r\n"), "{resp}");
    assert!(resp.contains("connection: close\r\n"), "{resp}");
    assert!(
        resp.ends_with(
            "<center><h1>501 Not Implemented</h1></center>\r\n<hr><center>openresty</center>\r\n</body>\r\n</html>\r\n"
        ),
        "{resp}"
    );
    // Duplicate framing lines are 400, as in nginx, even when they agree.
    let resp = raw_exchange(
        p.addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi".to_vec(),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert_eq!(get_ok(p.addr, "/").await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_body_over_limit_is_413() {
    let o = origin().await;
    let opts = ProxyOptions {
        client_max_body_size: Some(100),
        ..ProxyOptions::default()
    };
    let p = Proxy::start(&one_route("127.0.0.1", o.addr.port(), None, &["/"]), opts);
    let mut req = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    req.extend_from_slice(b"c8\r\n");
    req.extend(std::iter::repeat_n(b'a', 200));
    req.extend_from_slice(b"\r\n0\r\n\r\n");
    let resp = raw_exchange(p.addr, req).await;
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
}

/// An origin speaking raw HTTP/1.1: answers "ok" with keep-alive implied, then either
/// closes the connection shortly after each response (`close_after_answer`), or
/// answers only the first request of a connection and closes on the second one
/// without a word (a keep-alive race the proxy must hide for idempotent requests).
async fn flaky_origin(close_after_answer: bool) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let counted = conns.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut served = 0;
                loop {
                    let mut chunk = [0u8; 1024];
                    let n = match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        if !close_after_answer && served == 1 {
                            return; // drop the connection with the request unanswered
                        }
                        served += 1;
                        if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                            .await
                            .is_err()
                        {
                            return;
                        }
                        if close_after_answer {
                            tokio::time::sleep(Duration::from_millis(30)).await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, conns)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_the_upstream_closed_is_not_used() {
    let (addr, conns) = flaky_origin(true).await;
    let p = Proxy::start(
        &one_route("127.0.0.1", addr.port(), None, &["/"]),
        ProxyOptions::default(),
    );
    for _ in 0..3 {
        // POST: had the closed connection been used, the request could not be
        // replayed and the client would get a 502.
        let req = Request::post("/")
            .header("host", "example.test")
            .body(Full::new(Bytes::from_static(b"payload")))
            .unwrap();
        assert_eq!(send(p.addr, req).await.status, StatusCode::OK);
        // The origin closes its side of the pooled connection meanwhile.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert_eq!(
        conns.load(Ordering::SeqCst),
        3,
        "each request needed a fresh connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keepalive_race_is_retried_on_a_fresh_connection() {
    let (addr, conns) = flaky_origin(false).await;
    let p = Proxy::start(
        &one_route("127.0.0.1", addr.port(), None, &["/"]),
        ProxyOptions::default(),
    );
    for _ in 0..3 {
        // The second request on each pooled connection is dropped unanswered: the
        // client still gets the answer, from a fresh connection.
        assert_eq!(get_ok(p.addr, "/").await.status, StatusCode::OK);
    }
    assert!(conns.load(Ordering::SeqCst) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_or_idle_clients_are_cut_off_by_the_client_timeouts() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let o = origin().await;
    let mut opts = ProxyOptions::default();
    opts.client.header = Duration::from_millis(200);
    opts.client.keepalive = Duration::from_millis(200);
    opts.client.body = Duration::from_millis(200);
    let p = Proxy::start(&one_route("127.0.0.1", o.addr.port(), None, &["/"]), opts);
    let read_until_closed = |mut s: tokio::net::TcpStream| async move {
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await
        .is_ok();
        (closed, String::from_utf8_lossy(&got).to_string())
    };
    // A head that never completes (slowloris).
    let mut s = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").await.unwrap();
    let (closed, _) = read_until_closed(s).await;
    assert!(closed, "a partial head kept the connection open");
    // An idle keep-alive connection after one answer.
    let mut s = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let (closed, text) = read_until_closed(s).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        closed,
        "an idle keep-alive connection was kept past its timeout"
    );
    // A body that stops arriving: the upstream exchange fails, the client is cut off.
    let mut s = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly-part")
        .await
        .unwrap();
    let (closed, _) = read_until_closed(s).await;
    assert!(closed, "a stalled request body kept the connection open");
    // And the proxy still serves.
    assert_eq!(get_ok(p.addr, "/").await.status, StatusCode::OK);
}

/// The latency headers come from per-poll clock readings (`clock::PollClock`): a
/// reading kept across the wait for the upstream would report 0 here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_headers_follow_the_upstreams_delay() {
    let o = origin().await;
    let cfg = one_route("127.0.0.1", o.addr.port(), None, &["/"]);
    let p = Proxy::start(&cfg, ProxyOptions::default());
    // Twice: the second request reuses the connection and its poll's reading.
    for _ in 0..2 {
        let got = get_ok(p.addr, "/delay/250").await;
        assert_eq!(got.status, StatusCode::OK);
        let upstream: u64 = got
            .header("x-kong-upstream-latency")
            .unwrap()
            .parse()
            .unwrap();
        let proxy: u64 = got.header("x-kong-proxy-latency").unwrap().parse().unwrap();
        assert!(
            (250..5000).contains(&upstream),
            "upstream latency {upstream} ms"
        );
        assert!(
            proxy < 250,
            "proxy latency {proxy} ms counted the upstream's time"
        );
    }
}
