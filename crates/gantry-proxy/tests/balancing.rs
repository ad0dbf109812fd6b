//! Upstream balancing through the proxy: consistent hashing keeps a client on one
//! target, passive health checks take a failing target out, and manual health
//! overrides are honoured.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use gantry_proxy::{ConfigEntities, ProxyOptions};
use http::StatusCode;
use http_body_util::Full;
use serde_json::json;
use support::*;

fn cfg_for(up: gantry_core::Upstream, targets: Vec<gantry_core::Target>) -> ConfigEntities {
    let s = service("svc", &up.name, 80, None);
    let r = route(&s, &["/"]);
    ConfigEntities {
        services: vec![s],
        routes: vec![r.into()],
        upstreams: vec![up],
        targets,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hashing_on_a_header_is_sticky() {
    let origins = [origin().await, origin().await, origin().await];
    let up =
        upstream_from(json!({"name": "hashed", "hash_on": "header", "hash_on_header": "x-user"}));
    let targets = origins
        .iter()
        .map(|o| target(&up, &o.addr.to_string(), 100))
        .collect();
    let p = Proxy::start(&cfg_for(up, targets), ProxyOptions::default());
    let mut seen_overall = HashSet::new();
    for user in [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
    ] {
        let mut seen = HashSet::new();
        for _ in 0..5 {
            let req = get("/")
                .header("x-user", user)
                .body(Full::new(Bytes::new()))
                .unwrap();
            let got = send(p.addr, req).await;
            assert_eq!(got.status, StatusCode::OK);
            seen.insert(got.json()["origin"].as_str().unwrap().to_string());
        }
        assert_eq!(seen.len(), 1, "{user} moved between targets: {seen:?}");
        seen_overall.extend(seen);
    }
    assert!(seen_overall.len() >= 2, "all users landed on one target");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_checks_take_a_failing_target_out() {
    let good = origin().await;
    let bad = fixed_status_origin(500).await;
    let up = upstream_from(json!({
        "name": "guarded",
        "healthchecks": {"passive": {"unhealthy": {"http_failures": 2, "http_statuses": [500]}}}
    }));
    let targets = vec![
        target(&up, &good.addr.to_string(), 100),
        target(&up, &bad.addr.to_string(), 100),
    ];
    let p = Proxy::start(&cfg_for(up, targets), ProxyOptions::default());
    let mut failures = 0;
    for _ in 0..40 {
        if get_ok(p.addr, "/").await.status != StatusCode::OK {
            failures += 1;
        }
    }
    // Two 500s trip the circuit; everything after goes to the good target.
    assert_eq!(failures, 2, "the failing target kept receiving traffic");
    assert_eq!(bad.requests.load(Ordering::SeqCst), 2);
    assert_eq!(good.requests.load(Ordering::SeqCst), 38);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_hashing_sets_the_cookie_kong_sets() {
    let a = origin().await;
    let up = upstream_from(
        json!({"name": "cookied", "hash_on": "cookie", "hash_on_cookie": "sticky", "hash_on_cookie_path": "/app"}),
    );
    let targets = vec![target(&up, &a.addr.to_string(), 100)];
    let p = Proxy::start(&cfg_for(up, targets), ProxyOptions::default());
    let got = get_ok(p.addr, "/").await;
    assert_eq!(got.status, StatusCode::OK);
    let cookie = got.header("set-cookie").expect("no Set-Cookie");
    assert!(cookie.starts_with("sticky="), "{cookie}");
    assert!(cookie.contains("Path=/app"), "{cookie}");
    // A client that sends the cookie gets no new one.
    let req = get("/")
        .header("cookie", "sticky=abc")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert!(send(p.addr, req).await.header("set-cookie").is_none());
}

/// A target that reads each request and closes the connection without answering.
async fn dropping_origin() -> std::net::SocketAddr {
    use tokio::io::AsyncReadExt;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                drop(s);
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_requests_are_retried_after_a_mid_flight_failure() {
    let good = origin().await;
    let bad = dropping_origin().await;
    let up = upstream_from(json!({"name": "flaky"}));
    let targets = vec![
        target(&up, &good.addr.to_string(), 100),
        target(&up, &bad.to_string(), 100),
    ];
    let p = Proxy::start(&cfg_for(up, targets), ProxyOptions::default());
    for _ in 0..10 {
        let got = get_ok(p.addr, "/").await;
        assert_eq!(
            got.status,
            StatusCode::OK,
            "a GET was not retried on the good target"
        );
    }
    // A POST with a body was sent to the failing target: not replayed, as nginx.
    let mut failed_posts = 0;
    for _ in 0..10 {
        let req = http::Request::post("/")
            .header("host", "x")
            .body(Full::new(Bytes::from_static(b"payload")))
            .unwrap();
        if send(p.addr, req).await.status == StatusCode::BAD_GATEWAY {
            failed_posts += 1;
        }
    }
    assert!(
        failed_posts > 0,
        "POSTs must not be replayed after being sent"
    );
}
