//! Distribution, stickiness, retries and host rules per algorithm.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use gantry_balancer::{HashContext, NoPeer, Outcome, UpstreamBalancer, continuum_index};
use gantry_core::{Algorithm, HashOn};
use http::{HeaderMap, HeaderValue};

#[test]
fn round_robin_follows_weights_exactly() {
    let b = balancer(
        &upstream(Algorithm::RoundRobin),
        &targets(&[
            ("127.0.0.1:1", 300),
            ("127.0.0.1:2", 100),
            ("127.0.0.1:3", 0),
        ]),
    );
    let d = distribution(&b, 4000);
    assert_eq!(d.get(&sa("127.0.0.1:1")), Some(&3000));
    assert_eq!(d.get(&sa("127.0.0.1:2")), Some(&1000));
    assert_eq!(d.get(&sa("127.0.0.1:3")), None);
}

#[test]
fn no_peer_when_nothing_can_take_traffic() {
    let u = upstream(Algorithm::RoundRobin);
    let ctx = HashContext::default();
    assert_eq!(balancer(&u, &[]).pick(&ctx).err(), Some(NoPeer));
    let zero = balancer(&u, &targets(&[("127.0.0.1:1", 0)]));
    assert_eq!(zero.pick(&ctx).err(), Some(NoPeer));
    let b = balancer(&u, &targets(&[("127.0.0.1:1", 10), ("127.0.0.1:2", 10)]));
    b.set_target_health("127.0.0.1:1", false).unwrap();
    assert_eq!(distribution(&b, 10).get(&sa("127.0.0.1:2")), Some(&10));
    b.set_target_health("127.0.0.1:2", false).unwrap();
    assert_eq!(b.pick(&ctx).err(), Some(NoPeer));
    assert_eq!(
        NoPeer.to_string(),
        "failure to get a peer from the ring-balancer"
    );
    b.set_target_health("127.0.0.1:1", true).unwrap();
    assert_eq!(pick_addr(&b, &ctx), Some(sa("127.0.0.1:1")));
}

#[test]
fn retries_move_to_untried_targets_then_reuse() {
    for algo in [
        Algorithm::RoundRobin,
        Algorithm::ConsistentHashing,
        Algorithm::LeastConnections,
        Algorithm::Latency,
    ] {
        let b = balancer(
            &upstream(algo),
            &targets(&[
                ("127.0.0.1:1", 10),
                ("127.0.0.1:2", 10),
                ("127.0.0.1:3", 10),
            ]),
        );
        let mut tries = b.start(&HashContext::default());
        let mut seen = Vec::new();
        for _ in 0..3 {
            let p = b.next(&mut tries).unwrap();
            p.report(Outcome::TcpFailure);
            seen.push(p.addr());
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 3, "{algo:?} tried {seen:?}");
        // Everything tried: a fourth try still gets a peer (Kong starts over).
        assert!(b.next(&mut tries).is_ok(), "{algo:?}");
        assert_eq!(tries.count(), 4);
    }
}

fn hashing(header: &str) -> UpstreamBalancer {
    let mut u = upstream(Algorithm::ConsistentHashing);
    u.hash_on = HashOn::Header;
    u.hash_on_header = Some(header.into());
    balancer(
        &u,
        &targets(&[
            ("127.0.0.1:1", 100),
            ("127.0.0.1:2", 100),
            ("127.0.0.1:3", 100),
            ("127.0.0.1:4", 100),
        ]),
    )
}

fn by_key(b: &UpstreamBalancer, key: &str) -> SocketAddr {
    let mut h = HeaderMap::new();
    h.insert("x-user", HeaderValue::from_str(key).unwrap());
    let ctx = HashContext {
        headers: Some(&h),
        ..Default::default()
    };
    pick_addr(b, &ctx).unwrap()
}

#[test]
fn consistent_hashing_is_sticky_and_balanced() {
    let b = hashing("x-user");
    let mut counts: HashMap<SocketAddr, usize> = HashMap::new();
    for i in 0..8000 {
        let key = format!("user-{i}");
        let first = by_key(&b, &key);
        assert_eq!(by_key(&b, &key), first);
        *counts.entry(first).or_default() += 1;
    }
    assert_eq!(counts.len(), 4);
    for (a, n) in counts {
        assert!((1400..=2600).contains(&n), "{a}: {n}");
    }
}

#[test]
fn adding_a_target_moves_few_keys_and_only_to_it() {
    let b = hashing("x-user");
    let mut u = upstream(Algorithm::ConsistentHashing);
    u.hash_on = HashOn::Header;
    u.hash_on_header = Some("x-user".into());
    let bigger = UpstreamBalancer::new(
        &u,
        &targets(&[
            ("127.0.0.1:1", 100),
            ("127.0.0.1:2", 100),
            ("127.0.0.1:3", 100),
            ("127.0.0.1:4", 100),
            ("127.0.0.1:5", 100),
        ]),
        &no_dns(),
        Some(&b),
    );
    let n = 5000;
    let mut moved = 0;
    for i in 0..n {
        let key = format!("k{i}");
        let (before, after) = (by_key(&b, &key), by_key(&bigger, &key));
        if before != after {
            moved += 1;
            assert_eq!(after, sa("127.0.0.1:5"), "{key} moved between old targets");
        }
    }
    // Ideal is 1/5 of the keys.
    assert!(moved > n / 10 && moved < n * 3 / 10, "moved {moved} of {n}");
}

/// Kong's consistent_hashing.lua transcribed literally (1-based continuum as a map,
/// entries bumped on collision, counter-clockwise walk), to cross-check placement.
fn kong_reference_pick(
    addrs: &[(&str, u16, u32)],
    targets: usize,
    points: u32,
    key: &str,
) -> usize {
    let total: u32 = addrs.iter().map(|a| a.2).sum();
    let mut continuum: HashMap<u32, usize> = HashMap::new();
    for (idx, (ip, port, weight)) in addrs.iter().enumerate() {
        let prop = f64::from(*weight) / f64::from(total);
        let mut entries = (prop * targets as f64 * 160.0).floor() as u32;
        if *weight > 0 && entries == 0 {
            entries = 1;
        }
        let mut i = 1;
        while i <= entries {
            // tostring(ip) .. ":" .. (":" .. port) .. " " .. i
            let name = format!("{ip}::{port} {i}");
            let index = continuum_index(name.as_bytes(), points);
            if let std::collections::hash_map::Entry::Vacant(e) = continuum.entry(index) {
                e.insert(idx);
            } else {
                entries += 1;
            }
            i += 1;
        }
    }
    let mut index = continuum_index(key.as_bytes(), points);
    for _ in 0..points {
        if let Some(a) = continuum.get(&index) {
            return *a;
        }
        index -= 1;
        if index == 0 {
            index = points;
        }
    }
    usize::MAX
}

#[test]
fn ring_placement_matches_kong_algorithm() {
    let addrs = [
        ("10.0.0.1", 80u16, 100u32),
        ("10.0.0.2", 80, 50),
        ("10.0.0.3", 8000, 25),
    ];
    let mut u = upstream(Algorithm::ConsistentHashing);
    u.hash_on = HashOn::Ip;
    u.slots = 1000;
    let b = balancer(
        &u,
        &targets(&[
            ("10.0.0.1:80", 100),
            ("10.0.0.2:80", 50),
            ("10.0.0.3:8000", 25),
        ]),
    );
    for i in 0..500u32 {
        let ip = std::net::IpAddr::from([192, 168, (i / 250) as u8, (i % 250) as u8]);
        let ctx = HashContext {
            client_ip: Some(ip),
            ..Default::default()
        };
        let want = kong_reference_pick(&addrs, 3, 1000, &ip.to_string());
        let (ip_s, port, _) = addrs[want];
        let want: SocketAddr = format!("{ip_s}:{port}").parse().unwrap();
        assert_eq!(pick_addr(&b, &ctx), Some(want), "client {ip}");
    }
}

#[test]
fn hashing_falls_back_and_unhealthy_keys_move_to_the_next_point() {
    let mut u = upstream(Algorithm::ConsistentHashing);
    u.hash_on = HashOn::Consumer;
    u.hash_fallback = HashOn::Ip;
    let b = balancer(
        &u,
        &targets(&[
            ("127.0.0.1:1", 100),
            ("127.0.0.1:2", 100),
            ("127.0.0.1:3", 100),
        ]),
    );
    let ip = "10.9.8.7".parse().unwrap();
    let by_ip = HashContext {
        client_ip: Some(ip),
        ..Default::default()
    };
    let first = pick_addr(&b, &by_ip).unwrap();
    b.set_address_health(&format!("{first}"), first, false)
        .unwrap();
    let second = pick_addr(&b, &by_ip).unwrap();
    assert_ne!(first, second);
    // Still sticky while the first is down, and back once it recovers.
    assert_eq!(pick_addr(&b, &by_ip), Some(second));
    b.set_address_health(&format!("{first}"), first, true)
        .unwrap();
    assert_eq!(pick_addr(&b, &by_ip), Some(first));
}

#[test]
fn cookie_hashing_invents_and_sets_the_cookie() {
    let mut u = upstream(Algorithm::ConsistentHashing);
    u.hash_on = HashOn::Cookie;
    u.hash_on_cookie = Some("sticky".into());
    u.hash_on_cookie_path = "/shop".into();
    let b = balancer(&u, &targets(&[("127.0.0.1:1", 100), ("127.0.0.1:2", 100)]));
    let (first, tries) = b.pick(&HashContext::default()).unwrap();
    let set = tries.set_cookie().unwrap().to_owned();
    let value = set
        .strip_prefix("sticky=")
        .and_then(|r| r.strip_suffix("; Path=/shop; Same-Site=Lax; HttpOnly"))
        .unwrap();
    // The client sends it back: same target, no new cookie.
    let mut h = HeaderMap::new();
    h.insert(
        "cookie",
        HeaderValue::from_str(&format!("sticky={value}")).unwrap(),
    );
    let ctx = HashContext {
        headers: Some(&h),
        ..Default::default()
    };
    for _ in 0..5 {
        let (p, tries) = b.pick(&ctx).unwrap();
        assert_eq!(p.addr(), first.addr());
        assert!(tries.set_cookie().is_none());
    }
}

#[test]
fn least_connections_follows_in_flight_and_weight() {
    let b = balancer(
        &upstream(Algorithm::LeastConnections),
        &targets(&[("127.0.0.1:1", 200), ("127.0.0.1:2", 100)]),
    );
    let ctx = HashContext::default();
    let mut held = Vec::new();
    for _ in 0..30 {
        held.push(b.pick(&ctx).unwrap().0);
    }
    let on = |a: &str| held.iter().filter(|p| p.addr() == sa(a)).count();
    assert_eq!((on("127.0.0.1:1"), on("127.0.0.1:2")), (20, 10));
    // Finishing requests on :1 makes it the least loaded.
    held.retain(|p| p.addr() != sa("127.0.0.1:1"));
    let next = b.pick(&ctx).unwrap().0;
    assert_eq!(next.addr(), sa("127.0.0.1:1"));
    let h = b.health();
    let in_flight: u32 = h
        .targets
        .iter()
        .flat_map(|t| &t.addresses)
        .map(|a| a.in_flight)
        .sum();
    assert_eq!(in_flight, 11);
}

#[tokio::test(start_paused = true)]
async fn latency_prefers_the_fast_target() {
    let b = balancer(
        &upstream(Algorithm::Latency),
        &targets(&[("127.0.0.1:1", 100), ("127.0.0.1:2", 100)]),
    );
    let ctx = HashContext::default();
    for (addr, ms) in [("127.0.0.1:1", 200), ("127.0.0.1:2", 5)] {
        let mut tries = b.start(&ctx);
        loop {
            let p = b.next(&mut tries).unwrap();
            if p.addr() == sa(addr) {
                p.report(Outcome::Response {
                    status: 200,
                    latency: Duration::from_millis(ms),
                });
                break;
            }
        }
    }
    tokio::time::advance(Duration::from_millis(100)).await;
    let d = distribution(&b, 200);
    assert_eq!(d.get(&sa("127.0.0.1:2")), Some(&200));
    // A slow sample on the fast one shifts traffic back.
    let mut tries = b.start(&ctx);
    let p = b.next(&mut tries).unwrap();
    assert_eq!(p.addr(), sa("127.0.0.1:2"));
    tokio::time::advance(Duration::from_secs(30)).await;
    p.report(Outcome::Response {
        status: 200,
        latency: Duration::from_secs(5),
    });
    assert_eq!(pick_addr(&b, &ctx), Some(sa("127.0.0.1:1")));
}

#[test]
fn host_header_rules() {
    let b = balancer(
        &upstream(Algorithm::RoundRobin),
        &targets(&[("127.0.0.1:80", 1)]),
    );
    let (p, _) = b.pick(&HashContext::default()).unwrap();
    assert_eq!(p.host(), "127.0.0.1");
    assert_eq!(p.host_header(80), "127.0.0.1");
    assert_eq!(p.host_header(443), "127.0.0.1:80");
    assert_eq!(p.target(), "127.0.0.1:80");
    let mut u = upstream(Algorithm::RoundRobin);
    u.host_header = Some("api.internal".into());
    let b = balancer(&u, &targets(&[("127.0.0.1:8080", 1)]));
    let (p, _) = b.pick(&HashContext::default()).unwrap();
    assert_eq!(p.host_header(80), "api.internal:8080");
}

#[test]
fn duplicate_targets_keep_the_last_entry() {
    let b = balancer(
        &upstream(Algorithm::RoundRobin),
        &[
            target("127.0.0.1:1", 100),
            target("127.0.0.1:1", 0),
            target("127.0.0.1:2", 5),
        ],
    );
    assert_eq!(distribution(&b, 10).get(&sa("127.0.0.1:2")), Some(&10));
}

#[test]
fn concurrent_picks_reports_and_overrides_stay_consistent() {
    let mut u = upstream(Algorithm::LeastConnections);
    u.healthchecks = serde_json::json!({"passive": {"unhealthy": {"http_failures": 3}, "healthy": {"successes": 1}}});
    let b = std::sync::Arc::new(balancer(
        &u,
        &targets(&[
            ("127.0.0.1:1", 10),
            ("127.0.0.1:2", 10),
            ("127.0.0.1:3", 10),
        ]),
    ));
    let threads: Vec<_> = (0..4)
        .map(|n| {
            let b = std::sync::Arc::clone(&b);
            std::thread::spawn(move || {
                let mut served = 0;
                for i in 0..5000 {
                    if n == 0 && i % 100 == 0 {
                        let _ = b.set_target_health("127.0.0.1:1", i % 200 == 0);
                    }
                    let mut tries = b.start(&HashContext::default());
                    if let Ok(p) = b.next(&mut tries) {
                        let status = if i % 7 == 0 { 500 } else { 200 };
                        p.report(Outcome::Response {
                            status,
                            latency: Duration::from_millis(1),
                        });
                        served += 1;
                    }
                }
                served
            })
        })
        .collect();
    let served: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(served > 15_000, "{served}");
    let in_flight: u32 = b
        .health()
        .targets
        .iter()
        .flat_map(|t| &t.addresses)
        .map(|a| a.in_flight)
        .sum();
    assert_eq!(in_flight, 0);
}
