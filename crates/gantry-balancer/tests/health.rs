//! Passive circuit breaking, active checks (scripted under paused time, and against
//! real in-process HTTP/TCP servers), manual overrides, and health across reloads.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use gantry_balancer::{
    ActiveConfig, HashContext, Health, HealthChecker, NetProber, NoPeer, Outcome, ProbeFuture,
    ProbeResult, ProbeTarget, Prober, UpstreamBalancer,
};
use gantry_core::Algorithm;
use serde_json::json;

fn with_checks(checks: serde_json::Value) -> gantry_core::Upstream {
    let mut u = upstream(Algorithm::RoundRobin);
    u.healthchecks = checks;
    u
}

fn health_of(b: &UpstreamBalancer, target: &str) -> Health {
    b.health()
        .targets
        .iter()
        .find(|t| t.target == target)
        .map(|t| t.health)
        .unwrap()
}

fn ok(ms: u64) -> Outcome {
    Outcome::Response {
        status: 200,
        latency: Duration::from_millis(ms),
    }
}

#[test]
fn passive_checks_break_the_circuit() {
    let u = with_checks(json!({
        "passive": {"unhealthy": {"http_failures": 2, "tcp_failures": 1, "timeouts": 1}}
    }));
    let b = balancer(&u, &targets(&[("127.0.0.1:1", 10), ("127.0.0.1:2", 10)]));
    let ctx = HashContext::default();
    assert_eq!(b.health().health, Health::Healthy);
    let mut failures = 0;
    while failures < 2 {
        let (p, _) = b.pick(&ctx).unwrap();
        if p.addr() == sa("127.0.0.1:1") {
            p.report(Outcome::Response {
                status: 500,
                latency: Duration::from_millis(1),
            });
            failures += 1;
        } else {
            p.report(ok(1));
        }
    }
    assert_eq!(health_of(&b, "127.0.0.1:1"), Health::Unhealthy);
    assert_eq!(distribution(&b, 20).get(&sa("127.0.0.1:2")), Some(&20));
    // A 504 counts as a timeout: one is enough for :2.
    let (p, _) = b.pick(&ctx).unwrap();
    p.report(Outcome::Response {
        status: 504,
        latency: Duration::from_secs(60),
    });
    assert_eq!(b.pick(&ctx).err(), Some(NoPeer));
    assert_eq!(b.health().health, Health::Unhealthy);
    // The Admin API override brings it back at once.
    b.set_target_health("127.0.0.1:2", true).unwrap();
    assert_eq!(pick_addr(&b, &ctx), Some(sa("127.0.0.1:2")));
}

#[test]
fn statuses_outside_both_lists_and_disabled_counters_change_nothing() {
    let u = with_checks(json!({"passive": {"unhealthy": {"tcp_failures": 1}}}));
    let b = balancer(&u, &targets(&[("127.0.0.1:1", 10)]));
    let (p, _) = b.pick(&HashContext::default()).unwrap();
    for status in [500, 503, 429, 404, 302] {
        p.report(Outcome::Response {
            status,
            latency: Duration::from_millis(1),
        });
    }
    p.report(Outcome::Timeout);
    assert_eq!(health_of(&b, "127.0.0.1:1"), Health::Healthy);
    p.report(Outcome::TcpFailure);
    assert_eq!(health_of(&b, "127.0.0.1:1"), Health::Unhealthy);
}

#[test]
fn health_view_and_threshold() {
    let off = balancer(
        &upstream(Algorithm::RoundRobin),
        &targets(&[("127.0.0.1:1", 10)]),
    );
    let h = off.health();
    assert_eq!(h.health, Health::HealthchecksOff);
    assert_eq!(h.targets[0].health, Health::HealthchecksOff);
    assert_eq!(
        h.targets[0].addresses[0].health.as_str(),
        "HEALTHCHECKS_OFF"
    );

    let u = with_checks(json!({"threshold": 50, "passive": {"unhealthy": {"tcp_failures": 1}}}));
    let b = balancer(
        &u,
        &targets(&[
            ("127.0.0.1:1", 30),
            ("127.0.0.1:2", 30),
            ("127.0.0.1:3", 40),
        ]),
    );
    b.set_target_health("127.0.0.1:3", false).unwrap();
    // 60% healthy > 50%: still serving.
    assert!(b.pick(&HashContext::default()).is_ok());
    b.set_target_health("127.0.0.1:1", false).unwrap();
    // 30% <= 50%: the whole upstream is unhealthy.
    assert_eq!(b.health().health, Health::Unhealthy);
    assert_eq!(b.pick(&HashContext::default()).err(), Some(NoPeer));
    assert!(b.set_target_health("127.0.0.1:9", true).is_err());
}

#[test]
fn health_survives_config_reloads() {
    let u = with_checks(json!({"passive": {"unhealthy": {"tcp_failures": 1}}}));
    let b1 = balancer(&u, &targets(&[("127.0.0.1:1", 10), ("127.0.0.1:2", 10)]));
    let (p, _) = b1.pick(&HashContext::default()).unwrap();
    let down = p.addr();
    p.report(Outcome::TcpFailure);
    drop(p);
    let held = b1.pick(&HashContext::default()).unwrap().0;
    // New config: weights change, a target is added, the algorithm changes.
    let mut u2 = u.clone();
    u2.algorithm = Algorithm::LeastConnections;
    let b2 = UpstreamBalancer::new(
        &u2,
        &targets(&[
            ("127.0.0.1:1", 20),
            ("127.0.0.1:2", 20),
            ("127.0.0.1:3", 20),
        ]),
        &no_dns(),
        Some(&b1),
    );
    assert_eq!(health_of(&b2, &down.to_string()), Health::Unhealthy);
    let counts: u32 = b2
        .health()
        .targets
        .iter()
        .flat_map(|t| t.addresses.clone())
        .map(|a| a.in_flight)
        .sum();
    assert_eq!(counts, 1, "in-flight count carried over");
    drop(held);
    assert!(!distribution(&b2, 30).contains_key(&down));
}

/// A prober whose answers the test sets per address; counts probes.
#[derive(Debug, Default)]
struct Scripted {
    answers: Mutex<HashMap<SocketAddr, ProbeResult>>,
    probes: Mutex<Vec<(SocketAddr, tokio::time::Instant)>>,
}

impl Scripted {
    fn set(&self, a: &str, r: ProbeResult) {
        self.answers.lock().unwrap().insert(sa(a), r);
    }
    fn count(&self, a: &str) -> usize {
        self.probes
            .lock()
            .unwrap()
            .iter()
            .filter(|(x, _)| *x == sa(a))
            .count()
    }
}

impl Prober for Scripted {
    fn probe<'a>(&'a self, t: &'a ProbeTarget, _cfg: &'a ActiveConfig) -> ProbeFuture<'a> {
        self.probes
            .lock()
            .unwrap()
            .push((t.addr, tokio::time::Instant::now()));
        let r = self
            .answers
            .lock()
            .unwrap()
            .get(&t.addr)
            .copied()
            .unwrap_or(ProbeResult::Status(200));
        Box::pin(async move { r })
    }
}

fn active_upstream() -> gantry_core::Upstream {
    with_checks(json!({
        "active": {
            "healthy": {"interval": 5, "successes": 2},
            "unhealthy": {"interval": 2, "http_failures": 2, "timeouts": 1, "tcp_failures": 1}
        }
    }))
}

#[tokio::test(start_paused = true)]
async fn active_checks_mark_down_and_bring_back() {
    let b = Arc::new(balancer(
        &active_upstream(),
        &targets(&[("127.0.0.1:1", 10), ("127.0.0.1:2", 10)]),
    ));
    let prober = Arc::new(Scripted::default());
    let checker = HealthChecker::start_with(&b, prober.clone());
    prober.set("127.0.0.1:1", ProbeResult::Status(500));
    // First round only after one interval.
    tokio::time::sleep(Duration::from_millis(4900)).await;
    assert_eq!(prober.count("127.0.0.1:1"), 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(prober.count("127.0.0.1:1"), 1);
    assert_eq!(
        health_of(&b, "127.0.0.1:1"),
        Health::Healthy,
        "mostly healthy"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(health_of(&b, "127.0.0.1:1"), Health::Unhealthy);
    assert_eq!(distribution(&b, 10).get(&sa("127.0.0.1:2")), Some(&10));
    // Unhealthy targets are probed every 2 s, healthy ones every 5 s.
    let before = prober.count("127.0.0.1:1");
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(prober.count("127.0.0.1:1") - before, 5);
    // Recovery: two successes.
    prober.set("127.0.0.1:1", ProbeResult::Status(200));
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(health_of(&b, "127.0.0.1:1"), Health::Healthy);
    assert!(distribution(&b, 10).contains_key(&sa("127.0.0.1:1")));
    drop(checker);
    let n = prober.count("127.0.0.1:1");
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        prober.count("127.0.0.1:1"),
        n,
        "stopped checker probes no more"
    );
}

#[tokio::test(start_paused = true)]
async fn unhealthy_target_recovers_across_a_reload() {
    // Kong's stuck-UNHEALTHY bug: a target marked down before a config change must
    // still be probed and come back afterwards.
    let u = active_upstream();
    let ts = targets(&[("127.0.0.1:1", 10), ("127.0.0.1:2", 10)]);
    let b1 = Arc::new(balancer(&u, &ts));
    let prober = Arc::new(Scripted::default());
    prober.set("127.0.0.1:1", ProbeResult::Timeout);
    let c1 = HealthChecker::start_with(&b1, prober.clone());
    tokio::time::sleep(Duration::from_millis(5100)).await;
    assert_eq!(health_of(&b1, "127.0.0.1:1"), Health::Unhealthy);
    // Reload: new balancer from the old one, new checker; the old one stops.
    let b2 = Arc::new(UpstreamBalancer::new(&u, &ts, &no_dns(), Some(&b1)));
    drop(c1);
    drop(b1);
    let _c2 = HealthChecker::start_with(&b2, prober.clone());
    assert_eq!(health_of(&b2, "127.0.0.1:1"), Health::Unhealthy);
    prober.set("127.0.0.1:1", ProbeResult::Status(200));
    tokio::time::sleep(Duration::from_millis(4100)).await;
    assert_eq!(health_of(&b2, "127.0.0.1:1"), Health::Healthy);
}

#[tokio::test(start_paused = true)]
async fn passive_down_active_up() {
    let u = with_checks(json!({
        "active": {"unhealthy": {"interval": 1}, "healthy": {"successes": 1}},
        "passive": {"unhealthy": {"http_failures": 1}}
    }));
    let b = Arc::new(balancer(&u, &targets(&[("127.0.0.1:1", 10)])));
    let prober = Arc::new(Scripted::default());
    let _c = HealthChecker::start_with(&b, prober.clone());
    let (p, _) = b.pick(&HashContext::default()).unwrap();
    p.report(Outcome::Response {
        status: 503,
        latency: Duration::from_millis(1),
    });
    assert_eq!(b.pick(&HashContext::default()).err(), Some(NoPeer));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(b.pick(&HashContext::default()).is_ok());
}

async fn wait_for(b: &UpstreamBalancer, target: &str, want: Health) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while health_of(b, target) != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{target} never became {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn http_probes_against_real_servers() {
    let status = Arc::new(AtomicU16::new(200));
    let addr = status_server(Arc::clone(&status)).await;
    let good = status_server(Arc::new(AtomicU16::new(200))).await;
    let mut u = with_checks(json!({
        "active": {
            "timeout": 0.5,
            "http_path": "/status",
            "headers": {"x-probe": ["1"]},
            "healthy": {"interval": 0.05, "successes": 1},
            "unhealthy": {"interval": 0.05, "http_failures": 2, "tcp_failures": 1, "timeouts": 1}
        }
    }));
    u.host_header = Some("svc.internal".into());
    let t_bad = addr.to_string();
    let b = Arc::new(balancer(
        &u,
        &targets(&[(&t_bad, 10), (&good.to_string(), 10)]),
    ));
    let _c = HealthChecker::start_with(&b, Arc::new(NetProber::default()));
    status.store(500, Ordering::Relaxed);
    wait_for(&b, &t_bad, Health::Unhealthy).await;
    assert!(!distribution(&b, 10).contains_key(&addr));
    status.store(200, Ordering::Relaxed);
    wait_for(&b, &t_bad, Health::Healthy).await;
    // A server that closes without answering is a TCP failure.
    status.store(0, Ordering::Relaxed);
    wait_for(&b, &t_bad, Health::Unhealthy).await;
    status.store(302, Ordering::Relaxed);
    wait_for(&b, &t_bad, Health::Healthy).await;
    assert_eq!(health_of(&b, &good.to_string()), Health::Healthy);
}

#[tokio::test]
async fn tcp_probes_follow_the_listener() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let u = with_checks(json!({
        "active": {
            "type": "tcp",
            "timeout": 0.5,
            "healthy": {"interval": 0.05, "successes": 1},
            "unhealthy": {"interval": 0.05, "tcp_failures": 1}
        }
    }));
    let b = Arc::new(balancer(&u, &targets(&[(&addr.to_string(), 10)])));
    let _c = HealthChecker::start_with(&b, Arc::new(NetProber::default()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(health_of(&b, &addr.to_string()), Health::Healthy);
    drop(listener);
    wait_for(&b, &addr.to_string(), Health::Unhealthy).await;
    let _again = tokio::net::TcpListener::bind(addr).await.unwrap();
    wait_for(&b, &addr.to_string(), Health::Healthy).await;
}

#[tokio::test]
async fn probe_request_carries_path_headers_and_host() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(String::new()));
    let seen2 = Arc::clone(&seen);
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 2048];
        let n = s.read(&mut buf).await.unwrap();
        *seen2.lock().unwrap() = String::from_utf8_lossy(&buf[..n]).into_owned();
        s.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
    });
    let prober = NetProber::default();
    let cfg = gantry_balancer::HealthConfig::from_json(&json!({
        "active": {"http_path": "/hc", "headers": {"x-a": ["1", "2"]}}
    }));
    let t = ProbeTarget {
        addr,
        hostname: "example.test".into(),
        host_header: "example.test".into(),
    };
    assert_eq!(
        prober.probe(&t, &cfg.active).await,
        ProbeResult::Status(200)
    );
    let req = seen.lock().unwrap().clone();
    assert_eq!(
        req,
        "GET /hc HTTP/1.0\r\nx-a: 1\r\nx-a: 2\r\nHost: example.test\r\n\r\n"
    );
}

/// An HTTPS server with a self-signed certificate for `hc.test`, answering 200.
async fn tls_server() -> (SocketAddr, rustls_pki_types::CertificateDer<'static>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ck = rcgen::generate_simple_self_signed(vec!["hc.test".to_string()]).unwrap();
    let cert = ck.cert.der().clone();
    let key = rustls_pki_types::PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key.into())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(s).await else {
                    return;
                };
                let mut buf = [0u8; 1024];
                let _ = tls.read(&mut buf).await;
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, cert)
}

fn client(roots: &[rustls_pki_types::CertificateDer<'static>]) -> Arc<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for c in roots {
        store.add(c.clone()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(store)
            .with_no_client_auth(),
    )
}

#[tokio::test]
async fn https_probes_verify_when_asked() {
    let (addr, cert) = tls_server().await;
    let trusting = client(&[cert]);
    let empty = client(&[]);
    let t = ProbeTarget {
        addr,
        hostname: "127.0.0.1".into(),
        host_header: "127.0.0.1".into(),
    };
    let cfg = |verify: bool| {
        gantry_balancer::HealthConfig::from_json(&json!({
            "active": {"type": "https", "https_sni": "hc.test", "https_verify_certificate": verify}
        }))
        .active
    };
    // Verification on: the verifying config must trust the certificate.
    let ok = NetProber::with_tls(Arc::clone(&trusting), Arc::clone(&empty));
    assert_eq!(ok.probe(&t, &cfg(true)).await, ProbeResult::Status(200));
    let untrusted = NetProber::with_tls(Arc::clone(&empty), Arc::clone(&trusting));
    assert_eq!(
        untrusted.probe(&t, &cfg(true)).await,
        ProbeResult::TcpFailure
    );
    // Verification off: the other config is used.
    assert_eq!(
        untrusted.probe(&t, &cfg(false)).await,
        ProbeResult::Status(200)
    );
    // Without TLS configuration HTTPS probes fail.
    assert_eq!(
        NetProber::default().probe(&t, &cfg(false)).await,
        ProbeResult::TcpFailure
    );
}
