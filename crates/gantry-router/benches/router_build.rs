//! Router construction cost (`Router::new`, run on every Admin API write): prefix-only
//! sets of 1k/10k/100k routes as in a bulk import (`paths: ["/bulk/<i>/"]`, no hosts),
//! and the mixed set of `router_match` (hosts, wildcards, regex paths, headers).
//!
//! Allocations go through the node's allocator (mimalloc), wrapped in divan's
//! allocation profiler, which counts them per build. `drop_prefix` frees a built router
//! inside the measured region: its dealloc bytes are the heap the router holds.
//!
//! Run: `cargo bench -p gantry-router --bench router_build`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::BTreeMap;
use std::hint::black_box;

use divan::{AllocProfiler, Bencher};
use gantry_core::{PathHandling, Protocol, Route};
use gantry_router::Router;
use uuid::Uuid;

#[global_allocator]
static ALLOC: AllocProfiler<gantry_alloc::Allocator> =
    AllocProfiler::new(gantry_alloc::Allocator {});

fn main() {
    divan::main();
}

fn base(i: usize) -> Route {
    Route {
        id: Uuid::from_u128(0x9e37_79b9_7f4a_7c15_u128.wrapping_mul(i as u128 + 1)),
        created_at: 0,
        updated_at: 0,
        name: None,
        protocols: vec![Protocol::Http, Protocol::Https],
        methods: None,
        hosts: None,
        paths: None,
        headers: None,
        snis: None,
        sources: None,
        destinations: None,
        https_redirect_status_code: 426,
        regex_priority: 0,
        strip_path: true,
        path_handling: PathHandling::V0,
        preserve_host: false,
        request_buffering: true,
        response_buffering: true,
        tags: None,
        service: None,
    }
}

fn v(items: &[String]) -> Option<Vec<String>> {
    Some(items.to_vec())
}

/// A bulk-import route: one prefix path, no hosts.
fn prefix_route(i: usize) -> Route {
    let mut r = base(i);
    r.paths = v(&[format!("/bulk/{i}/")]);
    r
}

/// The `router_match` mix: 40% host+path, 20% path-only prefix, 10% wildcard host + path,
/// 10% regex path (half with a host), 10% host + header, 10% host + method + path.
fn mixed_route(i: usize) -> Route {
    let mut r = base(i);
    match i % 10 {
        0..=3 => {
            r.hosts = v(&[format!("svc{i}.example.com")]);
            r.paths = v(&[format!("/api/v1/svc{i}"), format!("/api/v2/svc{i}")]);
        }
        4 | 5 => r.paths = v(&[format!("/p{i}/resource")]),
        6 => {
            r.hosts = v(&[format!("*.t{i}.example.com")]);
            r.paths = v(&["/".to_string()]);
        }
        7 => {
            if i % 20 == 17 {
                r.hosts = v(&[format!("svc{i}.example.com")]);
            }
            r.paths = v(&[format!(r"~/users/(?<id>\d+)/r{i}$")]);
            r.regex_priority = (i % 3) as i64;
        }
        8 => {
            r.hosts = v(&[format!("svc{i}.example.com")]);
            r.headers = Some(BTreeMap::from([(
                "x-tenant".to_string(),
                vec![format!("t{i}")],
            )]));
        }
        _ => {
            r.hosts = v(&[format!("svc{i}.example.com")]);
            r.methods = v(&["GET".to_string(), "POST".to_string()]);
            r.paths = v(&[format!("/orders/{i}")]);
        }
    }
    r
}

#[divan::bench(args = [1_000, 10_000, 100_000], sample_count = 10, sample_size = 1)]
fn build_prefix(bencher: Bencher<'_, '_>, n: usize) {
    let routes: Vec<Route> = (0..n).map(prefix_route).collect();
    bencher.bench_local(|| black_box(Router::new(black_box(&routes)).unwrap()));
}

#[divan::bench(args = [1_000, 10_000], sample_count = 5, sample_size = 1)]
fn build_mixed(bencher: Bencher<'_, '_>, n: usize) {
    let routes: Vec<Route> = (0..n).map(mixed_route).collect();
    bencher.bench_local(|| black_box(Router::new(black_box(&routes)).unwrap()));
}

/// Frees a router of prefix routes: the dealloc bytes reported are its heap footprint.
#[divan::bench(args = [100_000], sample_count = 3, sample_size = 1)]
fn drop_prefix(bencher: Bencher<'_, '_>, n: usize) {
    let routes: Vec<Route> = (0..n).map(prefix_route).collect();
    bencher
        .with_inputs(|| Router::new(&routes).unwrap())
        .bench_local_values(drop);
}
