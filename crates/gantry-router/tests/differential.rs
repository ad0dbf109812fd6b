//! Differential tests: random route sets and requests, checked against Kong's own
//! `atc-router` fed with the expressions and priorities Kong's `transform.lua` generates
//! (see `oracle/mod.rs`). The chosen route, the matched path and the captures must agree.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;
mod oracle;

use std::collections::BTreeMap;

use common::{Req, route};
use gantry_core::{Protocol, Route};
use gantry_router::{Router, normalize_path, strip_query};
use http::{HeaderName, HeaderValue};
use oracle::{Oracle, OracleMatch, OracleRequest};
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

const HOSTS: &[&str] = &[
    "a.com",
    "b.com",
    "*.a.com",
    "a.*",
    "x.a.com",
    "a.com:8000",
    "*.a.com:8443",
    "a.b.a.com",
    "b.*:8000",
    "*.com",
];
const PATHS: &[&str] = &[
    "/",
    "/a",
    "/a/b",
    "/ab",
    "/b",
    "/a/b/c",
    "/a/",
    r"~/a/\d+",
    r"~/a/(?<x>[a-z]+)",
    r"~/(a|b)/(\w+)?",
    "~/b",
    "~/ab?",
    r"~/(?<first>[a-z])(?<rest>[a-z]*)$",
    "~/zz|/b",
    "~/(?i)A/B",
    r"~/a/\d",
];
const HEADER_NAMES: &[&str] = &["x-a", "X-B", "x_c"];
const HEADER_VALUES: &[&str] = &["v1", "V2", r"~*^v\d$", "~*(x)y", "~*z"];
const SNIS: &[&str] = &["a.com", "*.a.com", "b.com.", "a.*"];
const REGEX_PRIORITIES: &[i64] = &[-1, 0, 0, 1, 2, 1000];

const REQ_HOSTS: &[&str] = &[
    "a.com",
    "b.com",
    "x.a.com",
    "a.org",
    "a.b.a.com",
    "a.com:8000",
    "a.com:8443",
    "x.a.com:8443",
    "A.com",
    "b.org:8000",
    "b.com:abc",
];
const REQ_PATHS: &[&str] = &[
    "/",
    "/a",
    "/a/",
    "/a/b",
    "/a/b/c",
    "/ab",
    "/abc",
    "/a/123",
    "/a/xyz",
    "/b/q",
    "/a/%62",
    "/a//b",
    "/x/../a/b",
    "/bb",
    "/b/",
    "/a/b?x=1",
    "/A/b",
];
const REQ_HEADERS: &[(&str, &str)] = &[
    ("x-a", "v1"),
    ("x-a", "V2"),
    ("x-b", "v3"),
    ("x-b", "xy"),
    ("x-c", "v1"),
    ("x-a", "zxy"),
    ("x-c", "Xy"),
];

fn opt_list(
    vocab: &'static [&'static str],
    max: usize,
) -> impl Strategy<Value = Option<Vec<String>>> {
    prop::option::of(prop::collection::vec(select(vocab), 1..=max))
        .prop_map(|o| o.map(|v| v.into_iter().map(str::to_string).collect()))
}

fn arb_route() -> impl Strategy<Value = Route> {
    (
        any::<u128>(),
        opt_list(&["GET", "POST"], 2),
        opt_list(HOSTS, 3),
        opt_list(PATHS, 3),
        prop::option::of(prop::collection::btree_map(
            select(HEADER_NAMES).prop_map(str::to_string),
            prop::collection::vec(select(HEADER_VALUES).prop_map(str::to_string), 1..=2),
            1..=2,
        )),
        prop::option::weighted(
            0.2,
            prop::collection::vec(select(SNIS).prop_map(str::to_string), 1..=2),
        ),
        select(REGEX_PRIORITIES),
    )
        .prop_map(|(id, methods, hosts, paths, headers, snis, rp)| {
            let mut r = route(id);
            r.methods = methods;
            r.hosts = hosts;
            r.paths = paths;
            r.headers = headers;
            r.snis = snis;
            r.regex_priority = rp;
            if r.methods.is_none()
                && r.hosts.is_none()
                && r.paths.is_none()
                && r.headers.is_none()
                && r.snis.is_none()
            {
                r.paths = Some(vec!["/".into()]);
            }
            r
        })
}

fn arb_request() -> impl Strategy<Value = Req> {
    (
        any::<bool>(),
        select(&["GET", "POST", "PUT"][..]),
        prop::option::weighted(0.9, select(REQ_HOSTS)),
        select(&[8000u16, 8443][..]),
        select(REQ_PATHS),
        subsequence(REQ_HEADERS, 0..=4),
        prop::option::of(select(&["a.com", "x.a.com", "b.com", "a.org"][..])),
    )
        .prop_map(|(https, method, host, port, path, headers, sni)| {
            let mut r = common::req(host, path).method(method).port(port);
            if https {
                r.scheme = Protocol::Https;
                r.sni = sni.map(str::to_string);
            }
            for (n, v) in headers {
                r.headers
                    .append(HeaderName::from_static(n), HeaderValue::from_static(v));
            }
            r
        })
}

fn ours(router: &Router, r: &Req) -> Option<OracleMatch> {
    router.find(&r.view()).map(|m| OracleMatch {
        route_id: m.route_id,
        matched_path: m.matched_path().map(str::to_owned),
        captures: m.captures.map(|c| {
            let mut map = BTreeMap::new();
            for (i, v) in c.numbered.iter().enumerate() {
                if let Some(v) = v {
                    map.insert(i.to_string(), v.clone());
                }
            }
            for (n, v) in c.named {
                map.insert(n, v);
            }
            map
        }),
    })
}

fn kong(oracle: &Oracle<'_>, schema: &atc_router::schema::Schema, r: &Req) -> Option<OracleMatch> {
    let normalized = normalize_path(strip_query(&r.path));
    let headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap().to_string()))
        .collect();
    let host = r.host.as_deref();
    oracle.find(
        schema,
        &OracleRequest {
            scheme: if r.scheme == Protocol::Https {
                "https"
            } else {
                "http"
            },
            method: &r.method,
            host_header: host,
            listener_port: i64::from(r.listener_port),
            normalized_path: std::str::from_utf8(&normalized).unwrap(),
            sni: r.sni.as_deref(),
            headers: &headers,
        },
    )
}

fn check(routes: &[Route], requests: &[Req]) -> Result<(), TestCaseError> {
    let router = Router::new(routes).unwrap();
    let schema = oracle::schema();
    let oracle = Oracle::new(&schema, routes);
    for r in requests {
        let expected = kong(&oracle, &schema, r);
        let got = ours(&router, r);
        prop_assert_eq!(got, expected, "request {:?}\nroutes {:#?}", r, routes);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn small_route_sets_match_atc(
        routes in prop::collection::vec(arb_route(), 1..8),
        requests in prop::collection::vec(arb_request(), 1..12),
    ) {
        check(&routes, &requests)?;
    }
}

proptest! {
    // Larger sets exercise the index buckets and the RegexSet pre-filter.
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn large_route_sets_match_atc(
        routes in prop::collection::vec(arb_route(), 40..120),
        requests in prop::collection::vec(arb_request(), 50..100),
    ) {
        check(&routes, &requests)?;
    }
}

#[test]
fn header_regex_captures_overlay_path_captures_like_atc() {
    let mut r = route(1);
    r.paths = Some(vec![r"~/a/(\d+)".into()]);
    r.headers = Some(BTreeMap::from([(
        "x-a".to_string(),
        vec!["~*(x)y".to_string()],
    )]));
    let routes = [r];
    let req = common::req(None, "/a/12").header("x-a", "XY");
    check(&routes, &[req]).unwrap();
    let router = Router::new(&routes).unwrap();
    let sent = common::req(None, "/a/12").header("x-a", "XY");
    let m = router.find(&sent.view()).unwrap();
    let c = m.captures.clone().unwrap();
    assert_eq!(c.get(0), Some("xy"));
    assert_eq!(c.get(1), Some("x"));
    assert_eq!(m.matched_path(), Some("/a/12"));
}
