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

use std::hint::black_box;

use divan::{AllocProfiler, Bencher};
use gantry_core::Route;
use gantry_router::Router;

mod common;
use common::{base, mixed_route, v};

#[global_allocator]
static ALLOC: AllocProfiler<gantry_alloc::Allocator> =
    AllocProfiler::new(gantry_alloc::Allocator {});

fn main() {
    divan::main();
}

/// A bulk-import route: one prefix path, no hosts.
fn prefix_route(i: usize) -> Route {
    let mut r = base(i);
    r.paths = v(&[format!("/bulk/{i}/")]);
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
