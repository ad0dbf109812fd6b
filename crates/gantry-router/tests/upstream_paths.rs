//! kong-reference Appendix B: the upstream-path table of Kong's
//! `spec/fixtures/router_path_handling_tests.lua` (`path_handling = v0`), run through the
//! router end to end, plus the regex-route variants.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{RouteExt, req, route};
use gantry_router::{Router, upstream_path_v0};

/// (service path, route path (None = host-only route), strip_path (None = both),
/// request path, expected upstream path)
type Row = (
    &'static str,
    Option<&'static str>,
    Option<bool>,
    &'static str,
    &'static str,
);

const TABLE: &[Row] = &[
    ("/", Some("/"), None, "/route/req", "/route/req"),
    ("/", Some("/route"), Some(false), "/routereq", "/routereq"),
    ("/", Some("/route"), Some(true), "/route", "/"),
    ("/", Some("/route"), Some(true), "/route/", "/"),
    ("/", Some("/route"), Some(true), "/routereq", "/req"),
    ("/", Some("/route/"), Some(true), "/route/req", "/req"),
    ("/srv", Some("/rou"), Some(false), "/roureq", "/srv/roureq"),
    ("/srv", Some("/rou"), Some(true), "/roureq", "/srv/req"),
    ("/srv/", Some("/rou"), Some(true), "/rou", "/srv"),
    ("/service", Some("/"), None, "/", "/service"),
    ("/service", Some("/"), None, "/route", "/service/route"),
    ("/service", Some("/"), None, "/route/", "/service/route/"),
    (
        "/service",
        Some("/route"),
        Some(false),
        "/route",
        "/service/route",
    ),
    ("/service", Some("/route"), Some(true), "/route", "/service"),
    (
        "/service",
        Some("/route"),
        Some(true),
        "/route/",
        "/service/",
    ),
    (
        "/service",
        Some("/route"),
        Some(true),
        "/routereq",
        "/service/req",
    ),
    (
        "/service",
        Some("/route/"),
        Some(true),
        "/route/",
        "/service/",
    ),
    (
        "/service",
        Some("/route/"),
        Some(true),
        "/route/req",
        "/service/req",
    ),
    ("/service/", Some("/"), None, "/", "/service/"),
    ("/service/", Some("/"), None, "/route", "/service/route"),
    (
        "/service/",
        Some("/route"),
        Some(true),
        "/route",
        "/service",
    ),
    (
        "/service/",
        Some("/route"),
        Some(true),
        "/route/",
        "/service/",
    ),
    (
        "/service/",
        Some("/route"),
        Some(true),
        "/routereq",
        "/service/req",
    ),
    (
        "/service/",
        Some("/route/"),
        Some(true),
        "/route/req",
        "/service/req",
    ),
    ("/service", None, None, "/route", "/service/route"),
    ("/service/", None, None, "/", "/service/"),
    (
        "/service",
        Some("/route"),
        Some(true),
        "/route./req",
        "/service/req",
    ),
    (
        "/service",
        Some("/route"),
        Some(true),
        "/route%2E/req",
        "/service/req",
    ),
    (
        "/service",
        Some("/route"),
        Some(true),
        "/route../req",
        "/service/req",
    ),
    (
        "/service",
        Some("/route"),
        Some(true),
        "/route%2e%2E/req",
        "/service/req",
    ),
    (
        "/service",
        Some("/route"),
        Some(false),
        "/route%2E/req",
        "/service/route./req",
    ),
    (
        "/service",
        Some("/route"),
        Some(false),
        "/route../req",
        "/service/route../req",
    ),
];

/// Turns a prefix route path into Kong's regex variant `~/[0]?route...`.
fn regex_variant(path: &str) -> String {
    format!("~/[0]?{}", regex_escape(path.trim_start_matches('/')))
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

fn run(regex: bool) {
    for &(svc, route_path, strip, request, expected) in TABLE {
        let strips: &[bool] = match strip {
            Some(true) => &[true],
            Some(false) => &[false],
            None => &[true, false],
        };
        for &strip in strips {
            let r = match route_path {
                Some(p) if regex => route(1).paths(&[&regex_variant(p)]),
                Some(p) => route(1).paths(&[p]),
                None => route(1).hosts(&["example.com"]),
            }
            .strip(strip);
            let router = Router::new(&[r]).unwrap();
            // The request outlives the match: its path is borrowed, not copied.
            let sent = req(Some("example.com"), request);
            let m = router
                .find(&sent.view())
                .unwrap_or_else(|| panic!("no match: {svc} {route_path:?} {request}"));
            let got = m.upstream_path(Some(svc));
            assert_eq!(
                got, expected,
                "service {svc}, route {route_path:?} (regex {regex}), strip {strip}, request {request}"
            );
        }
    }
}

#[test]
fn appendix_b_prefix_routes() {
    run(false);
}

#[test]
fn appendix_b_regex_routes() {
    run(true);
}

#[test]
fn serviceless_routes_use_root() {
    let p = upstream_path_v0(None, true, Some(b"/route"), b"/route/req");
    assert_eq!(p, b"/req");
}

#[test]
fn upstream_path_is_escaped() {
    let router = Router::new(&[route(1).paths(&["/a"]).strip(false)]).unwrap();
    let sent = req(None, "/a/%20%2f%22");
    let m = router.find(&sent.view()).unwrap();
    assert_eq!(m.upstream_path(Some("/s")), "/s/a/%20%2F%22");
    // non-UTF-8 bytes survive when no route looks at the path
    let router = Router::new(&[route(1).hosts(&["h"]).strip(false)]).unwrap();
    let sent = req(Some("h"), "/a/%FF");
    let m = router.find(&sent.view()).unwrap();
    assert_eq!(m.upstream_path(Some("/s")), "/s/a/%FF");
}
