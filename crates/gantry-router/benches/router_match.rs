//! Router lookup cost at 10, 1k and 10k routes of a realistic mix (host+path, path-only
//! prefixes, wildcard hosts, regex paths, header routes), per request kind, next to
//! Kong's own `atc-router` scanning the same routes.
//!
//! Run: `cargo bench -p gantry-router --bench router_match`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;
#[path = "../tests/oracle/mod.rs"]
mod oracle;

use std::hint::black_box;

use common::mixed_route;
use divan::Bencher;
use gantry_core::{Protocol, Route};
use gantry_router::{RequestView, Router, normalize_path, strip_query};
use http::{HeaderMap, HeaderValue};

fn main() {
    divan::main();
}

const SIZES: [usize; 3] = [10, 1_000, 10_000];

fn routes(n: usize) -> Vec<Route> {
    (0..n).map(mixed_route).collect()
}

/// An owned request.
struct Req {
    host: String,
    path: String,
    headers: HeaderMap,
}

impl Req {
    fn view(&self) -> RequestView<'_, '_> {
        RequestView {
            scheme: Protocol::Http,
            method: "GET",
            host: Some(&self.host),
            listener_port: 8000,
            path: self.path.as_bytes(),
            headers: &self.headers,
            sni: None,
            client_addr: None,
            local_addr: None,
        }
    }
}

/// Request kinds, each aimed at a route in the middle of the set.
#[derive(Debug, Clone, Copy)]
enum Kind {
    HostPath,
    PathOnly,
    Wildcard,
    Regex,
    Header,
    Miss,
}

const KINDS: [Kind; 6] = [
    Kind::HostPath,
    Kind::PathOnly,
    Kind::Wildcard,
    Kind::Regex,
    Kind::Header,
    Kind::Miss,
];

fn request(kind: Kind, n: usize) -> Req {
    let mid = n / 2 / 20 * 20;
    let mut headers = HeaderMap::new();
    headers.insert("user-agent", HeaderValue::from_static("bench/1.0"));
    headers.insert("accept", HeaderValue::from_static("*/*"));
    let (host, path) = match kind {
        Kind::HostPath => (
            format!("svc{}.example.com", mid + 1),
            format!("/api/v2/svc{}/items?x=1", mid + 1),
        ),
        Kind::PathOnly => (
            "unknown.example.org".into(),
            format!("/p{}/resource/42", mid + 4),
        ),
        Kind::Wildcard => (format!("eu.t{}.example.com", mid + 6), "/anything".into()),
        Kind::Regex => (
            "unknown.example.org".into(),
            format!("/users/1234/r{}", mid + 7),
        ),
        Kind::Header => {
            headers.insert(
                "x-tenant",
                HeaderValue::from_str(&format!("T{}", mid + 8)).unwrap(),
            );
            (format!("svc{}.example.com", mid + 8), "/whatever".into())
        }
        Kind::Miss => ("nothing.example.net".into(), "/no/such/route".into()),
    };
    Req {
        host,
        path,
        headers,
    }
}

#[divan::bench(args = SIZES, sample_count = 40)]
fn find(bencher: Bencher<'_, '_>, n: usize) {
    let router = Router::new(&routes(n)).unwrap();
    let reqs: Vec<Req> = KINDS.iter().map(|k| request(*k, n)).collect();
    for (k, r) in KINDS.iter().zip(&reqs) {
        let hit = router.find(&r.view());
        assert_eq!(hit.is_some(), !matches!(k, Kind::Miss), "{k:?} at {n}");
    }
    bencher
        .counter(divan::counter::ItemsCount::new(reqs.len()))
        .bench_local(|| {
            for r in &reqs {
                black_box(router.find(black_box(&r.view())));
            }
        });
}

macro_rules! kind_bench {
    ($name:ident, $kind:expr) => {
        #[divan::bench(args = SIZES, sample_count = 40)]
        fn $name(bencher: Bencher<'_, '_>, n: usize) {
            let router = Router::new(&routes(n)).unwrap();
            let r = request($kind, n);
            bencher.bench_local(|| black_box(router.find(black_box(&r.view()))));
        }
    };
}

kind_bench!(find_host_path, Kind::HostPath);
kind_bench!(find_path_only, Kind::PathOnly);
kind_bench!(find_wildcard_host, Kind::Wildcard);
kind_bench!(find_regex, Kind::Regex);
kind_bench!(find_header, Kind::Header);
kind_bench!(find_miss, Kind::Miss);

/// Kong's engine on the same routes and requests (linear scan, no cache), for scale.
#[divan::bench(args = SIZES, sample_count = 10)]
fn atc_router_scan(bencher: Bencher<'_, '_>, n: usize) {
    let routes = routes(n);
    let schema = oracle::schema();
    let atc = oracle::Oracle::new(&schema, &routes);
    let reqs: Vec<Req> = KINDS.iter().map(|k| request(*k, n)).collect();
    let normalized: Vec<String> = reqs
        .iter()
        .map(|r| {
            String::from_utf8(normalize_path(strip_query(r.path.as_bytes())).into_owned()).unwrap()
        })
        .collect();
    let headers: Vec<Vec<(String, String)>> = reqs
        .iter()
        .map(|r| {
            r.headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
                .collect()
        })
        .collect();
    bencher
        .counter(divan::counter::ItemsCount::new(reqs.len()))
        .bench_local(|| {
            for ((r, p), h) in reqs.iter().zip(&normalized).zip(&headers) {
                black_box(atc.find(
                    &schema,
                    &oracle::OracleRequest {
                        scheme: "http",
                        method: "GET",
                        host_header: Some(&r.host),
                        listener_port: 8000,
                        normalized_path: p,
                        sni: None,
                        headers: h,
                    },
                ));
            }
        });
}

#[divan::bench(args = [1_000, 10_000], sample_count = 5, sample_size = 1)]
fn build(bencher: Bencher<'_, '_>, n: usize) {
    let routes = routes(n);
    bencher.bench_local(|| black_box(Router::new(black_box(&routes)).unwrap()));
}
