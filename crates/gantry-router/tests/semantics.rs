//! Per-field matching semantics and priority rules (kong-reference §4.2–§4.5).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{Req, RouteExt, req, route};
use gantry_core::{Protocol, Route};
use gantry_router::{Router, fragment_priority};

fn winner(routes: &[Route], r: &Req) -> Option<u128> {
    let router = Router::new(routes).unwrap();
    router.find(&r.view()).map(|m| m.route_id.as_u128())
}

// ---- methods -----------------------------------------------------------------------

#[test]
fn methods_are_exact_and_case_sensitive() {
    let routes = [route(1).methods(&["GET", "POST"])];
    assert_eq!(winner(&routes, &req(None, "/").method("POST")), Some(1));
    assert_eq!(winner(&routes, &req(None, "/").method("PUT")), None);
    assert_eq!(winner(&routes, &req(None, "/").method("get")), None);
}

// ---- hosts ---------------------------------------------------------------------------

#[test]
fn plain_hosts_are_exact_and_case_sensitive() {
    let routes = [route(1).hosts(&["example.com", "other.org"])];
    assert_eq!(winner(&routes, &req(Some("example.com"), "/")), Some(1));
    assert_eq!(winner(&routes, &req(Some("other.org"), "/x")), Some(1));
    assert_eq!(winner(&routes, &req(Some("Example.COM"), "/")), None);
    assert_eq!(winner(&routes, &req(Some("a.example.com"), "/")), None);
    assert_eq!(winner(&routes, &req(None, "/")), None);
}

#[test]
fn host_without_port_matches_any_port() {
    let routes = [route(1).hosts(&["example.com"])];
    assert_eq!(
        winner(&routes, &req(Some("example.com:8000"), "/")),
        Some(1)
    );
    assert_eq!(winner(&routes, &req(Some("example.com:80"), "/")), Some(1));
}

#[test]
fn leading_wildcard_matches_one_or_more_labels() {
    let routes = [route(1).hosts(&["*.example.com"])];
    assert_eq!(winner(&routes, &req(Some("a.example.com"), "/")), Some(1));
    assert_eq!(winner(&routes, &req(Some("a.b.example.com"), "/")), Some(1));
    assert_eq!(winner(&routes, &req(Some("example.com"), "/")), None);
    assert_eq!(winner(&routes, &req(Some("aexample.com"), "/")), None);
}

#[test]
fn trailing_wildcard_matches_any_tld() {
    let routes = [route(1).hosts(&["example.*"])];
    assert_eq!(winner(&routes, &req(Some("example.org"), "/")), Some(1));
    assert_eq!(winner(&routes, &req(Some("example.co.uk"), "/")), Some(1));
    assert_eq!(winner(&routes, &req(Some("www.example.org"), "/")), None);
}

#[test]
fn host_with_port_requires_that_port() {
    let routes = [route(1).hosts(&["example.com:8443"])];
    assert_eq!(
        winner(&routes, &req(Some("example.com:8443"), "/")),
        Some(1)
    );
    assert_eq!(winner(&routes, &req(Some("example.com:8000"), "/")), None);
    // no port in Host: the listener port is used
    assert_eq!(
        winner(&routes, &req(Some("example.com"), "/").port(8443)),
        Some(1)
    );
    assert_eq!(
        winner(&routes, &req(Some("example.com"), "/").port(8000)),
        None
    );
    let wild = [route(2).hosts(&["*.example.com:9000"])];
    assert_eq!(
        winner(&wild, &req(Some("a.example.com:9000"), "/")),
        Some(2)
    );
    assert_eq!(winner(&wild, &req(Some("a.example.com:9001"), "/")), None);
}

// ---- paths ---------------------------------------------------------------------------

#[test]
fn prefix_paths_are_byte_prefixes() {
    let routes = [route(1).paths(&["/foo"])];
    assert_eq!(winner(&routes, &req(None, "/foo")), Some(1));
    assert_eq!(winner(&routes, &req(None, "/foobar")), Some(1));
    assert_eq!(winner(&routes, &req(None, "/foo/bar?x=1")), Some(1));
    assert_eq!(winner(&routes, &req(None, "/fo")), None);
    assert_eq!(winner(&routes, &req(None, "/Foo")), None);
}

#[test]
fn regex_paths_are_anchored_at_start_only() {
    let routes = [route(1).paths(&[r"~/v\d+/users"])];
    assert_eq!(winner(&routes, &req(None, "/v1/users")), Some(1));
    assert_eq!(winner(&routes, &req(None, "/v12/users/42")), Some(1));
    assert_eq!(winner(&routes, &req(None, "/api/v1/users")), None);
}

#[test]
fn regex_captures_numbered_and_named() {
    let router = Router::new(&[route(1).paths(&[r"~/users/(?<id>\d+)/(\w+)"])]).unwrap();
    let sent = req(None, "/users/42/posts/7");
    let m = router.find(&sent.view()).unwrap();
    assert_eq!(m.matched_path(), Some("/users/42/posts"));
    let c = m.captures.unwrap();
    assert_eq!(c.get(0), Some("/users/42/posts"));
    assert_eq!(c.get(1), Some("42"));
    assert_eq!(c.get(2), Some("posts"));
    assert_eq!(c.name("id"), Some("42"));
}

#[test]
fn no_captures_for_prefix_or_groupless_regex() {
    let router = Router::new(&[route(1).paths(&[r"~/a\d"]), route(2).paths(&["/b"])]).unwrap();
    let sent = req(None, "/a1");
    let m = router.find(&sent.view()).unwrap();
    assert_eq!(m.matched_path(), Some("/a1"));
    assert!(m.captures.is_none());
    let sent = req(None, "/bcd");
    let m = router.find(&sent.view()).unwrap();
    assert_eq!(m.matched_path(), Some("/b"));
    assert!(m.captures.is_none());
}

#[test]
fn matching_uses_the_normalized_path() {
    let routes = [route(1).paths(&["/a/b"]), route(2).paths(&["/c"])];
    // %2f stays encoded, so it is not a path separator
    assert_eq!(winner(&routes, &req(None, "/a%2fb")), None);
    // unreserved triplets decode, dot segments resolve, slashes merge
    assert_eq!(winner(&routes, &req(None, "/%61/b")), Some(1));
    assert_eq!(winner(&routes, &req(None, "/x/%2E%2E/a/b")), Some(1));
    assert_eq!(winner(&routes, &req(None, "//a//b")), Some(1));
    assert_eq!(winner(&routes, &req(None, "/a/b/../../c")), Some(2));
    let router = Router::new(&routes).unwrap();
    let sent = req(None, "/a//b/./x?q=1");
    let m = router.find(&sent.view()).unwrap();
    assert_eq!(m.normalized_path(), b"/a/b/x");
}

#[test]
fn non_utf8_path_matches_nothing_when_paths_are_routed() {
    let routes = [route(1).paths(&["/"]), route(2).hosts(&["h"])];
    assert_eq!(winner(&routes, &req(Some("h"), "/%FF")), None);
    // with no path-based route, the path is irrelevant
    let routes = [route(2).hosts(&["h"])];
    assert_eq!(winner(&routes, &req(Some("h"), "/%FF")), Some(2));
}

// ---- headers -------------------------------------------------------------------------

#[test]
fn headers_names_and_values_are_case_insensitive() {
    let routes = [route(1).header("X-Version", &["V1", "v2"])];
    assert_eq!(
        winner(&routes, &req(None, "/").header("x-version", "v1")),
        Some(1)
    );
    assert_eq!(
        winner(&routes, &req(None, "/").header("X-VERSION", "V2")),
        Some(1)
    );
    assert_eq!(
        winner(&routes, &req(None, "/").header("x-version", "v3")),
        None
    );
    assert_eq!(winner(&routes, &req(None, "/")), None);
}

#[test]
fn any_occurrence_of_a_header_may_match() {
    let routes = [route(1).header("x-a", &["b"])];
    let r = req(None, "/").header("x-a", "z").header("x-a", "B");
    assert_eq!(winner(&routes, &r), Some(1));
    // a comma-joined single value is one value
    assert_eq!(winner(&routes, &req(None, "/").header("x-a", "z, b")), None);
}

#[test]
fn all_header_names_are_required() {
    let routes = [route(1).header("x-a", &["1"]).header("x-b", &["2"])];
    assert_eq!(winner(&routes, &req(None, "/").header("x-a", "1")), None);
    let r = req(None, "/").header("x-a", "1").header("x-b", "2");
    assert_eq!(winner(&routes, &r), Some(1));
}

#[test]
fn header_regex_values_are_lowercased_and_unanchored() {
    let routes = [route(1).header("x-id", &[r"~*^ID-\d+$"])];
    assert_eq!(
        winner(&routes, &req(None, "/").header("x-id", "id-42")),
        Some(1)
    );
    assert_eq!(
        winner(&routes, &req(None, "/").header("x-id", "ID-42")),
        Some(1)
    );
    assert_eq!(
        winner(&routes, &req(None, "/").header("x-id", "id-x")),
        None
    );
    let unanchored = [route(2).header("x-id", &["~*bc"])];
    assert_eq!(
        winner(&unanchored, &req(None, "/").header("x-id", "ABCD")),
        Some(2)
    );
}

#[test]
fn underscore_in_route_header_name_reads_as_dash() {
    let routes = [route(1).header("x_api_key", &["k"])];
    assert_eq!(
        winner(&routes, &req(None, "/").header("x-api-key", "k")),
        Some(1)
    );
}

// ---- snis and protocols --------------------------------------------------------------

#[test]
fn snis_apply_only_to_https_requests() {
    let routes = [route(1)
        .snis(&["a.example.com"])
        .protocols(&[Protocol::Https])];
    assert_eq!(
        winner(&routes, &req(None, "/").https(Some("a.example.com"))),
        Some(1)
    );
    assert_eq!(
        winner(&routes, &req(None, "/").https(Some("b.example.com"))),
        None
    );
    assert_eq!(winner(&routes, &req(None, "/").https(None)), None);
    // plain http: the snis condition is skipped
    assert_eq!(winner(&routes, &req(None, "/")), Some(1));
}

#[test]
fn wildcard_snis() {
    let routes = [route(1)
        .snis(&["*.example.com"])
        .protocols(&[Protocol::Https])];
    assert_eq!(
        winner(&routes, &req(None, "/").https(Some("x.example.com"))),
        Some(1)
    );
    assert_eq!(
        winner(&routes, &req(None, "/").https(Some("example.com"))),
        None
    );
}

#[test]
fn protocols_do_not_filter_like_kong_compat() {
    // An https-only route still matches plain http (the proxy answers 426/redirect),
    // and Kong's traditional_compatible router does not reject https on http-only routes.
    let https_only = [route(1).paths(&["/"]).protocols(&[Protocol::Https])];
    assert_eq!(winner(&https_only, &req(None, "/")), Some(1));
    let http_only = [route(2).paths(&["/"]).protocols(&[Protocol::Http])];
    assert_eq!(winner(&http_only, &req(None, "/").https(None)), Some(2));
    // stream routes are not part of the HTTP router
    let mut stream = route(3).snis(&["a"]);
    stream.protocols = vec![Protocol::Tls];
    assert_eq!(winner(&[stream], &req(None, "/").https(Some("a"))), None);
}

// ---- priority --------------------------------------------------------------------------

#[test]
fn priority_bit_layout() {
    let r = route(1)
        .hosts(&["a.com"])
        .paths(&["/abc"])
        .header("x", &["1"]);
    let p = fragment_priority(&r, r.paths.as_ref().unwrap());
    assert_eq!(p >> 61, 3);
    assert_eq!((p >> 60) & 1, 1);
    assert_eq!((p >> 52) & 0xFF, 1);
    assert_eq!((p >> 51) & 1, 0);
    assert_eq!(p & 0x7FFFF, 4);
    let r = route(2)
        .hosts(&["*.a.com"])
        .paths(&["~/x"])
        .regex_priority(5);
    let p = fragment_priority(&r, r.paths.as_ref().unwrap());
    assert_eq!(p >> 61, 2);
    assert_eq!((p >> 60) & 1, 0);
    assert_eq!((p >> 51) & 1, 1);
    assert_eq!((p >> 19) & 0xFFFF_FFFF, 5);
    assert_eq!(p & 0x7FFFF, 0);
}

#[test]
fn host_and_path_beat_path_only() {
    let routes = [
        route(9).paths(&["/foo/bar/baz"]),
        route(1).hosts(&["h"]).paths(&["/"]),
    ];
    assert_eq!(winner(&routes, &req(Some("h"), "/foo/bar/baz")), Some(1));
}

#[test]
fn plain_host_beats_wildcard_host() {
    let routes = [route(9).hosts(&["*.h.com"]), route(1).hosts(&["a.h.com"])];
    assert_eq!(winner(&routes, &req(Some("a.h.com"), "/")), Some(1));
    let routes = [
        route(9).hosts(&["a.*"]),
        route(1).hosts(&["a.com", "b.com"]),
    ];
    assert_eq!(winner(&routes, &req(Some("a.com"), "/")), Some(1));
}

#[test]
fn more_headers_beat_longer_paths() {
    let routes = [
        route(9).paths(&["/very/long/path"]).header("x-a", &["1"]),
        route(1)
            .paths(&["/"])
            .header("x-a", &["1"])
            .header("x-b", &["2"]),
    ];
    let r = req(None, "/very/long/path")
        .header("x-a", "1")
        .header("x-b", "2");
    assert_eq!(winner(&routes, &r), Some(1));
}

#[test]
fn regex_beats_prefix_with_same_fields() {
    let routes = [
        route(9).paths(&["/users/123/long"]),
        route(1).paths(&[r"~/users/\d+"]),
    ];
    assert_eq!(winner(&routes, &req(None, "/users/123/long")), Some(1));
}

#[test]
fn higher_regex_priority_wins() {
    let routes = [
        route(9).paths(&[r"~/a/.*"]).regex_priority(1),
        route(1).paths(&[r"~/a/b"]).regex_priority(2),
    ];
    assert_eq!(winner(&routes, &req(None, "/a/b")), Some(1));
    let routes = [
        route(9).paths(&[r"~/a/.*"]).regex_priority(3),
        route(1).paths(&[r"~/a/b"]).regex_priority(2),
    ];
    assert_eq!(winner(&routes, &req(None, "/a/b")), Some(9));
}

#[test]
fn regex_priority_is_ignored_for_prefix_paths() {
    let routes = [
        route(1).paths(&["/ab"]).regex_priority(100),
        route(2).paths(&["/abc"]),
    ];
    assert_eq!(winner(&routes, &req(None, "/abc")), Some(2));
}

#[test]
fn longer_prefix_wins() {
    let routes = [
        route(1).paths(&["/a"]),
        route(2).paths(&["/a/b"]),
        route(3).paths(&["/a/b/c"]),
    ];
    assert_eq!(winner(&routes, &req(None, "/a/b/c/d")), Some(3));
    assert_eq!(winner(&routes, &req(None, "/a/b")), Some(2));
    assert_eq!(winner(&routes, &req(None, "/a/x")), Some(1));
}

#[test]
fn ties_go_to_the_larger_uuid() {
    let routes = [
        route(5).paths(&["/a"]),
        route(7).paths(&["/b"]),
        route(6).paths(&["/a"]),
    ];
    assert_eq!(winner(&routes, &req(None, "/a")), Some(6));
    let routes = [route(6).hosts(&["h"]), route(5).hosts(&["h"])];
    assert_eq!(winner(&routes, &req(Some("h"), "/")), Some(6));
}

#[test]
fn mixed_paths_are_split_into_separate_priorities() {
    // Route 1 mixes a long prefix and a short one; route 2 has a middle-length prefix.
    // Unsplit, route 1 would win everything with its longest prefix; split, the short
    // prefix of route 1 loses to route 2.
    let routes = [
        route(1).paths(&["/a/b/c/d", "/a"]),
        route(2).paths(&["/a/b"]),
    ];
    assert_eq!(winner(&routes, &req(None, "/a/b/x")), Some(2));
    assert_eq!(winner(&routes, &req(None, "/a/b/c/d")), Some(1));
    assert_eq!(winner(&routes, &req(None, "/a/x")), Some(1));
    // regex fragments carry the regex bit, prefix fragments do not
    let routes = [
        route(1).paths(&["/x/y/z", r"~/q\d"]),
        route(2).paths(&[r"~/x"]),
    ];
    assert_eq!(winner(&routes, &req(None, "/x/y/z")), Some(2));
    assert_eq!(winner(&routes, &req(None, "/q1")), Some(1));
}

#[test]
fn split_fragments_report_the_original_route_and_its_matched_path() {
    let router =
        Router::new(&[route(1).paths(&["/short", r"~/re/(\d+)", "/longer-prefix"])]).unwrap();
    assert_eq!(router.matcher_count(), 3);
    let sent = req(None, "/re/5/x");
    let m = router.find(&sent.view()).unwrap();
    assert_eq!(m.route_id.as_u128(), 1);
    assert_eq!(m.matched_path(), Some("/re/5"));
    assert_eq!(m.captures.unwrap().get(1), Some("5"));
    let sent = req(None, "/longer-prefix/z");
    let m = router.find(&sent.view()).unwrap();
    assert_eq!(m.matched_path(), Some("/longer-prefix"));
}

#[test]
fn invalid_regex_is_an_error_not_a_panic() {
    let err = Router::new(&[route(1).paths(&["~/(unclosed"])]).unwrap_err();
    assert!(err.to_string().contains("invalid regex"), "{err}");
    let err = Router::new(&[route(1).header("x", &["~*("])]).unwrap_err();
    assert!(err.to_string().contains("invalid regex"), "{err}");
}

#[test]
fn route_index_refers_to_the_input_slice() {
    let routes = [route(1).paths(&["/a"]), route(2).paths(&["/b"])];
    let router = Router::new(&routes).unwrap();
    assert_eq!(router.find(&req(None, "/b").view()).unwrap().route_index, 1);
}

#[test]
fn top_level_alternation_leaves_later_branches_unanchored() {
    // Kong prepends `^` without grouping, as ATC sees `^/zz|/b`.
    let router = Router::new(&[route(1).paths(&["~/zz|/b"])]).unwrap();
    let sent = req(None, "/a/b/c");
    let m = router.find(&sent.view()).unwrap();
    assert_eq!(m.matched_path(), Some("/b"));
    // Kong strips by the length of the matched text.
    assert_eq!(m.upstream_path(Some("/s")), "/s/b/c");
}

#[test]
fn router_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Router>();
    assert_send_sync::<gantry_router::RouteMatch<'static>>();
}
