//! Host-name targets: resolution, TTL refreshes with paused time, stale answers,
//! NXDOMAIN, SRV, `dns_order`, hosts entries, and hickory against an in-process DNS
//! server on 127.0.0.1.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::*;
use gantry_balancer::{
    Background, Dns, DnsAnswer, DnsError, DnsOptions, DnsRecord, HashContext, Health, NetProber,
    NoPeer, RecordKind, UpstreamBalancer,
};
use gantry_core::Algorithm;

fn ips(list: &[&str], ttl: u32) -> Result<DnsAnswer, DnsError> {
    Ok(DnsAnswer {
        records: list
            .iter()
            .map(|s| DnsRecord::Ip(s.parse().unwrap()))
            .collect(),
        ttl,
    })
}

fn dns_with(resolver: &Arc<StaticResolve>, opts: DnsOptions) -> Dns {
    Dns::with_resolver(
        DnsOptions {
            hosts_file: None,
            ..opts
        },
        resolver.clone(),
    )
}

fn addrs(b: &UpstreamBalancer) -> Vec<SocketAddr> {
    let mut v: Vec<SocketAddr> = distribution(b, 20).into_keys().collect();
    v.sort();
    v
}

fn target_health(b: &UpstreamBalancer, t: &str) -> gantry_balancer::TargetHealth {
    b.health()
        .targets
        .into_iter()
        .find(|x| x.target == t)
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn names_resolve_and_follow_ttl_changes() {
    let r = Arc::new(StaticResolve::default());
    r.set("api.test", RecordKind::A, ips(&["10.0.0.1", "10.0.0.2"], 5));
    let dns = dns_with(&r, DnsOptions::default());
    let u = upstream(Algorithm::RoundRobin);
    let b = Arc::new(UpstreamBalancer::new(
        &u,
        &targets(&[("api.test:8080", 10)]),
        &dns,
        None,
    ));
    assert!(b.needs_resolve());
    assert_eq!(b.pick(&HashContext::default()).err(), Some(NoPeer));
    assert_eq!(target_health(&b, "api.test:8080").health, Health::DnsError);
    b.resolve().await;
    assert!(!b.needs_resolve());
    assert_eq!(addrs(&b), vec![sa("10.0.0.1:8080"), sa("10.0.0.2:8080")]);
    let (p, _) = b.pick(&HashContext::default()).unwrap();
    assert_eq!(p.host_header(80), "api.test:8080");
    assert_eq!(p.host(), "api.test");
    drop(p);
    let h = target_health(&b, "api.test:8080");
    assert_eq!((h.health, h.addresses.len()), (Health::HealthchecksOff, 2));

    // Health of a surviving address carries over DNS changes.
    b.set_address_health("api.test:8080", sa("10.0.0.1:8080"), false)
        .unwrap();
    let _bg = Background::start(&b, Arc::new(NetProber::default()));
    r.set("api.test", RecordKind::A, ips(&["10.0.0.1", "10.0.0.3"], 5));
    tokio::time::sleep(Duration::from_millis(4900)).await;
    assert_eq!(
        addrs(&b),
        vec![sa("10.0.0.2:8080")],
        "not refreshed before the TTL"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(addrs(&b), vec![sa("10.0.0.3:8080")]);
    b.set_address_health("api.test:8080", sa("10.0.0.1:8080"), true)
        .unwrap();
    assert_eq!(addrs(&b), vec![sa("10.0.0.1:8080"), sa("10.0.0.3:8080")]);
}

#[tokio::test(start_paused = true)]
async fn stale_answers_bridge_dns_outages_then_expire() {
    let r = Arc::new(StaticResolve::default());
    r.set("api.test", RecordKind::A, ips(&["10.0.0.1"], 2));
    let opts = DnsOptions {
        stale_ttl: Duration::from_secs(10),
        ..DnsOptions::default()
    };
    let b = Arc::new(UpstreamBalancer::new(
        &upstream(Algorithm::RoundRobin),
        &targets(&[("api.test:80", 10)]),
        &dns_with(&r, opts),
        None,
    ));
    b.resolve().await;
    let _bg = Background::start(&b, Arc::new(NetProber::default()));
    r.set(
        "api.test",
        RecordKind::A,
        Err(DnsError::Failed("timeout".into())),
    );
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        addrs(&b),
        vec![sa("10.0.0.1:80")],
        "stale answer still served"
    );
    assert!(target_health(&b, "api.test:80").dns_error.is_some());
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(addrs(&b).is_empty());
    assert_eq!(target_health(&b, "api.test:80").health, Health::DnsError);
    // Errors are retried after dns_error_ttl (1 s): recovery is quick.
    r.set("api.test", RecordKind::A, ips(&["10.0.0.9"], 2));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(addrs(&b), vec![sa("10.0.0.9:80")]);
}

#[tokio::test(start_paused = true)]
async fn nxdomain_is_dns_error_and_retried_after_not_found_ttl() {
    let r = Arc::new(StaticResolve::default());
    let opts = DnsOptions {
        not_found_ttl: Duration::from_secs(30),
        ..DnsOptions::default()
    };
    let b = Arc::new(UpstreamBalancer::new(
        &upstream(Algorithm::RoundRobin),
        &targets(&[("gone.test:80", 10), ("127.0.0.1:9", 10)]),
        &dns_with(&r, opts),
        None,
    ));
    b.resolve().await;
    let h = target_health(&b, "gone.test:80");
    assert_eq!(h.health, Health::DnsError);
    assert_eq!(
        h.dns_error.as_deref(),
        Some("dns server error: 3 name error")
    );
    assert_eq!(addrs(&b), vec![sa("127.0.0.1:9")]);
    let _bg = Background::start(&b, Arc::new(NetProber::default()));
    let queries = r.queries.load(Ordering::Relaxed);
    r.set("gone.test", RecordKind::A, ips(&["10.0.0.5"], 60));
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert_eq!(r.queries.load(Ordering::Relaxed), queries);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(addrs(&b), vec![sa("10.0.0.5:80"), sa("127.0.0.1:9")]);
}

#[tokio::test]
async fn srv_records_give_ports_weights_and_names() {
    let r = Arc::new(StaticResolve::default());
    let srv = |priority, weight, port, target: &str| DnsRecord::Srv {
        priority,
        weight,
        port,
        target: target.into(),
    };
    r.set(
        "svc.test",
        RecordKind::Srv,
        Ok(DnsAnswer {
            records: vec![
                srv(1, 30, 9001, "a.test"),
                srv(1, 0, 0, "b.test"),
                srv(5, 100, 9003, "c.test"),
            ],
            ttl: 30,
        }),
    );
    r.set("a.test", RecordKind::A, ips(&["10.0.1.1"], 30));
    r.set("b.test", RecordKind::A, ips(&["10.0.1.2"], 30));
    r.set("c.test", RecordKind::A, ips(&["10.0.1.3"], 30));
    r.set("svc.test", RecordKind::A, ips(&["10.9.9.9"], 30));
    let dns = dns_with(&r, DnsOptions::default());
    let mut u = upstream(Algorithm::RoundRobin);
    let b = UpstreamBalancer::new(&u, &targets(&[("svc.test:8000", 100)]), &dns, None);
    b.resolve().await;
    let d = distribution(&b, 310);
    // Weight 30 vs SRV weight 0 → 1; the lower-priority record is ignored; port 0
    // means the target's port.
    assert_eq!(d.get(&sa("10.0.1.1:9001")), Some(&300));
    assert_eq!(d.get(&sa("10.0.1.2:8000")), Some(&10));
    assert_eq!(d.len(), 2);
    let (p, _) = b.pick(&HashContext::default()).unwrap();
    assert_eq!(p.host(), "svc.test");
    u.use_srv_name = true;
    let named = UpstreamBalancer::new(&u, &targets(&[("svc.test:8000", 100)]), &dns, Some(&b));
    assert!(!named.needs_resolve(), "DNS answers carried over");
    let (p, _) = named.pick(&HashContext::default()).unwrap();
    assert!(["a.test", "b.test"].contains(&p.host()), "{}", p.host());

    // dns_order without SRV uses the A record.
    let a_only = dns_with(
        &r,
        DnsOptions {
            order: DnsOptions::parse_order("A,CNAME"),
            ..DnsOptions::default()
        },
    );
    let b = UpstreamBalancer::new(&u, &targets(&[("svc.test:8000", 100)]), &a_only, None);
    b.resolve().await;
    assert_eq!(addrs(&b), vec![sa("10.9.9.9:8000")]);
}

#[tokio::test]
async fn last_successful_type_is_asked_first() {
    let r = Arc::new(StaticResolve::default());
    r.set("api.test", RecordKind::A, ips(&["10.0.0.1"], 1));
    let dns = dns_with(&r, DnsOptions::default());
    let u = upstream(Algorithm::RoundRobin);
    let b = UpstreamBalancer::new(&u, &targets(&[("api.test:80", 10)]), &dns, None);
    b.resolve().await;
    // LAST unknown: SRV (miss) then A.
    assert_eq!(r.queries.load(Ordering::Relaxed), 2);
    let b2 = UpstreamBalancer::new(&u, &targets(&[("api.test:81", 10)]), &dns, None);
    b2.resolve().await;
    assert_eq!(r.queries.load(Ordering::Relaxed), 3, "A asked first");
}

#[tokio::test]
async fn hosts_entries_need_no_query() {
    let r = Arc::new(StaticResolve::default());
    let dns = dns_with(&r, DnsOptions::default()).with_hosts("10.1.1.1 myhost.local\n");
    let b = UpstreamBalancer::new(
        &upstream(Algorithm::RoundRobin),
        &targets(&[("myhost.local:80", 10)]),
        &dns,
        None,
    );
    b.resolve().await;
    assert_eq!(addrs(&b), vec![sa("10.1.1.1:80")]);
    assert_eq!(r.queries.load(Ordering::Relaxed), 0);
}

/// A minimal DNS server: A queries for `svc.test` get the IPv4 in `ip` with TTL 1,
/// other names NXDOMAIN, other types an empty answer.
async fn dns_server(ip: Arc<AtomicU32>) -> SocketAddr {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let q = &buf[..n];
            if n < 12 {
                continue;
            }
            // Question: labels, then type and class.
            let mut i = 12;
            let mut labels = Vec::new();
            while i < n && q[i] != 0 {
                let len = q[i] as usize;
                labels.push(String::from_utf8_lossy(&q[i + 1..i + 1 + len]).to_lowercase());
                i += 1 + len;
            }
            let qtype = u16::from_be_bytes([q[i + 1], q[i + 2]]);
            let question = &q[12..i + 5];
            let known = labels.join(".") == "svc.test";
            let answer = known && qtype == 1;
            let mut out = Vec::new();
            out.extend_from_slice(&q[0..2]);
            out.extend_from_slice(&[0x81, if known { 0x80 } else { 0x83 }]);
            out.extend_from_slice(&[0, 1, 0, u8::from(answer), 0, 0, 0, 0]);
            out.extend_from_slice(question);
            if answer {
                out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4]);
                out.extend_from_slice(&ip.load(Ordering::Relaxed).to_be_bytes());
            }
            let _ = sock.send_to(&out, peer).await;
        }
    });
    addr
}

#[tokio::test]
async fn hickory_resolves_against_a_local_server() {
    let ip = Arc::new(AtomicU32::new(u32::from(Ipv4Addr::new(10, 0, 0, 1))));
    let server = dns_server(Arc::clone(&ip)).await;
    let dns = Dns::new(DnsOptions {
        nameservers: vec![server],
        hosts_file: None,
        order: DnsOptions::parse_order("LAST,A,CNAME"),
        ..DnsOptions::default()
    })
    .unwrap();
    let u = upstream(Algorithm::RoundRobin);
    let b = Arc::new(UpstreamBalancer::new(
        &u,
        &targets(&[("svc.test:8080", 10), ("missing.test:80", 10)]),
        &dns,
        None,
    ));
    b.resolve().await;
    assert_eq!(addrs(&b), vec![sa("10.0.0.1:8080")]);
    assert_eq!(
        target_health(&b, "missing.test:80").health,
        Health::DnsError
    );
    ip.store(u32::from(Ipv4Addr::new(10, 0, 0, 2)), Ordering::Relaxed);
    let _bg = Background::start(&b, Arc::new(NetProber::default()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while addrs(&b) != vec![sa("10.0.0.2:8080")] {
        assert!(
            tokio::time::Instant::now() < deadline,
            "DNS change not picked up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
