#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use http::{Method, StatusCode};
use serde_json::json;

use crate::chain::PluginSet;
use crate::ctx::{RequestCtx, ResponseHead, ResponseSource};
use crate::plugins::testkit::*;
use crate::respond::Decision;

fn set(config: serde_json::Value) -> PluginSet {
    let mut f = Fixture::default();
    f.global("cors", config);
    f.build()
}

fn preflight(origin: &str) -> RequestCtx {
    let ctx = with_header(req(Method::OPTIONS, "/"), "origin", origin);
    with_header(ctx, "access-control-request-method", "GET")
}

/// Runs access then header_filter on an upstream 200; returns the response headers.
fn simple(set: &PluginSet, origin: Option<&str>) -> http::HeaderMap {
    let mut ctx = req(Method::GET, "/");
    if let Some(o) = origin {
        ctx = with_header(ctx, "origin", o);
    }
    let mut run = set.begin();
    run.select(set.chain_for(None, None));
    assert!(run.access(&mut ctx).is_continue());
    let mut head = ResponseHead {
        status: StatusCode::OK,
        headers: Default::default(),
        source: ResponseSource::Upstream,
    };
    run.header_filter(&mut ctx, &mut head);
    head.headers
}

#[test]
fn preflight_defaults() {
    let s = set(json!({}));
    let mut ctx = with_header(
        preflight("http://a.com"),
        "access-control-request-headers",
        "x-a,x-b",
    );
    let r = responded(run_access(&s, &mut ctx));
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
    assert_eq!(header(&r.headers, "access-control-allow-origin"), Some("*"));
    assert_eq!(
        header(&r.headers, "access-control-allow-headers"),
        Some("x-a,x-b")
    );
    assert_eq!(
        header(&r.headers, "access-control-allow-methods"),
        Some("GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT")
    );
    assert_eq!(header(&r.headers, "access-control-max-age"), None);
    assert_eq!(header(&r.headers, "vary"), None);
}

#[test]
fn preflight_configured() {
    let s = set(json!({
        "origins": ["http://a.com"], "headers": ["x-a", "x-b"], "methods": ["GET", "POST"],
        "max_age": 3600, "credentials": true, "private_network": true
    }));
    let mut ctx = with_header(
        preflight("http://b.com"),
        "access-control-request-private-network",
        "true",
    );
    let r = responded(run_access(&s, &mut ctx));
    assert_eq!(
        header(&r.headers, "access-control-allow-origin"),
        Some("http://a.com")
    );
    assert_eq!(header(&r.headers, "vary"), Some("Origin"));
    assert_eq!(
        header(&r.headers, "access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(
        header(&r.headers, "access-control-allow-headers"),
        Some("x-a,x-b")
    );
    assert_eq!(
        header(&r.headers, "access-control-allow-methods"),
        Some("GET,POST")
    );
    assert_eq!(header(&r.headers, "access-control-max-age"), Some("3600"));
    assert_eq!(
        header(&r.headers, "access-control-allow-private-network"),
        Some("true")
    );
}

#[test]
fn preflight_continue_and_non_preflight_options() {
    let s = set(json!({ "preflight_continue": true }));
    let mut ctx = preflight("http://a.com");
    assert!(run_access(&s, &mut ctx).is_continue());
    // OPTIONS without Access-Control-Request-Method is not a preflight
    let s = set(json!({}));
    let mut ctx = with_header(req(Method::OPTIONS, "/"), "origin", "http://a.com");
    assert!(matches!(run_access(&s, &mut ctx), Decision::Continue));
}

#[test]
fn origin_list_matching() {
    let s = set(
        json!({ "origins": ["http://a.com", "https://b.com:443", "(.*)\\.example\\.org", "http://c\\.com:\\d+"] }),
    );
    let h = simple(&s, Some("http://a.com:80"));
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some("http://a.com")
    );
    assert_eq!(header(&h, "vary"), Some("Origin"));
    let h = simple(&s, Some("https://b.com"));
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some("https://b.com")
    );
    // regex without ':' matches the host only
    let h = simple(&s, Some("https://api.example.org"));
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some("https://api.example.org")
    );
    let h = simple(&s, Some("https://api.example.org.evil.com"));
    assert_eq!(header(&h, "access-control-allow-origin"), None);
    // regex with ':' matches the whole origin
    let h = simple(&s, Some("http://c.com:8080"));
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some("http://c.com:8080")
    );
    let h = simple(&s, Some("http://evil.com"));
    assert_eq!(header(&h, "access-control-allow-origin"), None);
    assert_eq!(header(&h, "vary"), Some("Origin"));
}

#[test]
fn simple_requests_credentials_exposed_and_absent_origin() {
    let s = set(json!({ "credentials": true, "exposed_headers": ["x-e1", "x-e2"] }));
    let h = simple(&s, Some("http://a.com"));
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some("http://a.com")
    );
    assert_eq!(header(&h, "access-control-allow-credentials"), Some("true"));
    assert_eq!(
        header(&h, "access-control-expose-headers"),
        Some("x-e1,x-e2")
    );
    assert_eq!(header(&h, "vary"), Some("Origin"));
    let h = simple(&s, None);
    assert_eq!(header(&h, "access-control-allow-origin"), Some("*"));
    let s = set(json!({ "allow_origin_absent": false }));
    assert!(simple(&s, None).is_empty());
}

#[test]
fn config_validation() {
    let e = config_errors("cors", json!({ "origins": ["(bad"] }));
    assert_eq!(e["origins"], json!(["'(bad' is not a valid regex"]));
    let e = config_errors("cors", json!({ "methods": ["FETCH"] }));
    assert_eq!(
        e["methods"],
        json!(["expected one of: GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS, TRACE, CONNECT"])
    );
    let c = filled("cors", json!({}));
    assert_eq!(
        c["methods"],
        json!([
            "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"
        ])
    );
    assert_eq!(c["allow_origin_absent"], true);
    assert_eq!(c["origins"], serde_json::Value::Null);
}
