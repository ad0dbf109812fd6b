#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use http::Method;
use serde_json::{Value, json};

use super::{Params, parse_params};
use crate::ctx::RequestCtx;
use crate::plugins::testkit::*;
use crate::respond::Decision;

const NOW: u64 = 1_700_000_000;
const SECRET: &str = "hmac-secret";

fn http_date(secs: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

fn sign(alg: &str, secret: &[u8], data: &[u8]) -> String {
    let a = match alg {
        "hmac-sha1" => aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        "hmac-sha256" => aws_lc_rs::hmac::HMAC_SHA256,
        "hmac-sha384" => aws_lc_rs::hmac::HMAC_SHA384,
        _ => aws_lc_rs::hmac::HMAC_SHA512,
    };
    let tag = aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(a, secret), data);
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

struct Setup {
    f: Fixture,
    bob: uuid::Uuid,
}

fn setup(config: Value) -> Setup {
    let mut f = Fixture::default();
    let bob = f.consumer("bob");
    f.hmac(bob, "bob", SECRET);
    f.global("hmac-auth", config);
    Setup { f, bob }
}

fn run(s: &Setup, mut ctx: RequestCtx) -> (Decision, RequestCtx) {
    ctx.now = UNIX_EPOCH + Duration::from_secs(NOW);
    let set = s.f.build();
    let d = run_access(&set, &mut ctx);
    (d, ctx)
}

/// A GET /path?q=1 request signed over `date` and `request-line`.
fn signed(alg: &str, header: &'static str) -> RequestCtx {
    let date = http_date(NOW);
    let data = format!("date: {date}\nGET /path?q=1 HTTP/1.1");
    let sig = sign(alg, SECRET.as_bytes(), data.as_bytes());
    let ctx = with_header(req(Method::GET, "/path?q=1"), "date", &date);
    with_header(
        ctx,
        header,
        &format!(
            "hmac username=\"bob\", algorithm=\"{alg}\", headers=\"date request-line\", signature=\"{sig}\""
        ),
    )
}

#[test]
fn accepts_every_algorithm_and_sets_consumer_headers() {
    let s = setup(json!({}));
    for alg in ["hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"] {
        for h in ["authorization", "proxy-authorization"] {
            let (d, ctx) = run(&s, signed(alg, h));
            assert!(d.is_continue(), "{alg} {h}");
            assert_eq!(
                header(&ctx.headers, "x-consumer-id"),
                Some(s.bob.to_string().as_str())
            );
            assert_eq!(header(&ctx.headers, "x-credential-identifier"), Some("bob"));
            assert_eq!(header(&ctx.headers, "x-anonymous-consumer"), None);
            assert!(ctx.headers.contains_key(h));
        }
    }
}

#[test]
fn hide_credentials_and_algorithm_list() {
    let s = setup(json!({ "hide_credentials": true, "algorithms": ["hmac-sha256"] }));
    let (d, ctx) = run(&s, signed("hmac-sha256", "authorization"));
    assert!(d.is_continue());
    assert!(!ctx.headers.contains_key("authorization"));
    let r = assert_error(
        run(&s, signed("hmac-sha1", "authorization")).0,
        401,
        "HMAC signature cannot be verified",
    );
    assert_eq!(header(&r.headers, "www-authenticate"), Some("hmac"));
}

#[test]
fn request_target_x_date_and_missing_headers() {
    let s = setup(json!({}));
    let date = http_date(NOW - 299);
    let data = format!("x-date: {date}\n@request-target: post /p\nx-missing:");
    let sig = sign("hmac-sha256", SECRET.as_bytes(), data.as_bytes());
    let ctx = with_header(req(Method::POST, "/p"), "x-date", &date);
    let ctx = with_header(
        ctx,
        "authorization",
        &format!(
            "hmac username=\"bob\", algorithm=\"hmac-sha256\", headers=\"x-date @request-target x-missing\", signature=\"{sig}\""
        ),
    );
    assert!(run(&s, ctx).0.is_continue());
}

#[test]
fn dates_parse_as_nginx_reads_them() {
    let s = setup(json!({}));
    // Python's email.utils.formatdate(), other zones, no zone, a wrong weekday
    for date in [
        "Tue, 14 Nov 2023 22:13:20 -0000",
        "Tue, 14 Nov 2023 22:13:20 +0000",
        "Tue, 14 Nov 2023 22:13:20 UTC",
        "Tue, 14 Nov 2023 22:13:20",
        "Mon, 14 Nov 2023 22:13:20 GMT",
        "Tuesday, 14-Nov-23 22:13:20 GMT",
        "Tue Nov 14 22:13:20 2023",
    ] {
        let data = format!("date: {date}");
        let sig = sign("hmac-sha256", SECRET.as_bytes(), data.as_bytes());
        let ctx = with_header(req(Method::GET, "/"), "date", date);
        let ctx = with_header(
            ctx,
            "authorization",
            &format!(
                "hmac username=\"bob\", algorithm=\"hmac-sha256\", headers=\"date\", signature=\"{sig}\""
            ),
        );
        assert!(run(&s, ctx).0.is_continue(), "{date}");
    }
}

#[test]
fn signature_over_the_decoded_path_is_accepted_without_a_query_too() {
    let s = setup(json!({}));
    let date = http_date(NOW);
    let signed_over = |line: &str, target: &str| {
        let data = format!("date: {date}\n{line}");
        let sig = sign("hmac-sha256", SECRET.as_bytes(), data.as_bytes());
        let ctx = with_header(req(Method::GET, target), "date", &date);
        with_header(
            ctx,
            "authorization",
            &format!(
                "hmac username=\"bob\", algorithm=\"hmac-sha256\", headers=\"date request-line\", signature=\"{sig}\""
            ),
        )
    };
    // ngx.var.uri: decoded, dots resolved, slashes merged, no query
    assert!(
        run(&s, signed_over("GET /a b/c HTTP/1.1", "/a%20b//x/../c"))
            .0
            .is_continue()
    );
    assert!(
        run(&s, signed_over("GET /a b/c HTTP/1.1", "/a%20b/c?q=1"))
            .0
            .is_continue()
    );
    assert!(
        run(&s, signed_over("GET /a%20b/c HTTP/1.1", "/a%20b/c"))
            .0
            .is_continue()
    );
    assert_error(
        run(&s, signed_over("GET /a b/d HTTP/1.1", "/a%20b/c")).0,
        401,
        "HMAC signature does not match",
    );
}

#[test]
fn rejections() {
    let s = setup(json!({ "realm": "kong" }));
    let r = assert_error(run(&s, req(Method::GET, "/")).0, 401, "Unauthorized");
    assert_eq!(
        header(&r.headers, "www-authenticate"),
        Some("hmac realm=\"kong\"")
    );
    let date_msg = "HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication";
    // no date / stale date / unparsable date
    let mut ctx = signed("hmac-sha256", "authorization");
    ctx.headers.remove("date");
    assert_error(run(&s, ctx).0, 401, date_msg);
    let mut ctx = signed("hmac-sha256", "authorization");
    ctx.headers
        .insert("date", http_date(NOW - 301).parse().unwrap());
    assert_error(run(&s, ctx).0, 401, date_msg);
    let mut ctx = signed("hmac-sha256", "authorization");
    ctx.headers.insert("date", "yesterday".parse().unwrap());
    assert_error(run(&s, ctx).0, 401, date_msg);
    // malformed header, unknown user
    let ctx = with_header(
        with_header(req(Method::GET, "/"), "date", &http_date(NOW)),
        "authorization",
        "hmac garbage",
    );
    assert_error(run(&s, ctx).0, 401, "HMAC signature cannot be verified");
    let mut ctx = signed("hmac-sha256", "authorization");
    let v = header(&ctx.headers, "authorization")
        .unwrap()
        .replace("\"bob\"", "\"eve\"");
    ctx.headers.insert("authorization", v.parse().unwrap());
    assert_error(run(&s, ctx).0, 401, "HMAC signature cannot be verified");
    // wrong signature, signature not base64 (ngx ignores what follows `=`)
    let tamper = |f: &dyn Fn(&str) -> String| {
        let mut ctx = signed("hmac-sha256", "authorization");
        let v = header(&ctx.headers, "authorization").unwrap();
        let (head, sig) = v.split_once("signature=\"").unwrap();
        let sig = sig.trim_end_matches('"');
        let v = format!("{head}signature=\"{}\"", f(sig));
        ctx.headers.insert("authorization", v.parse().unwrap());
        ctx
    };
    let flipped = |s: &str| {
        let first = if s.starts_with('A') { "B" } else { "A" };
        format!("{first}{}", &s[1..])
    };
    assert_error(
        run(&s, tamper(&flipped)).0,
        401,
        "HMAC signature does not match",
    );
    let junk = |s: &str| format!("!{s}");
    assert_error(
        run(&s, tamper(&junk)).0,
        401,
        "HMAC signature does not match",
    );
    let trailing = |s: &str| format!("{s}!!");
    assert!(run(&s, tamper(&trailing)).0.is_continue());
    let mut ctx = signed("hmac-sha256", "authorization");
    ctx.method = Method::DELETE;
    assert_error(run(&s, ctx).0, 401, "HMAC signature does not match");
}

#[test]
fn enforce_headers() {
    let s = setup(json!({ "enforce_headers": ["date", "x-custom"] }));
    assert_error(
        run(&s, signed("hmac-sha256", "authorization")).0,
        401,
        "HMAC signature cannot be verified",
    );
    let s = setup(json!({ "enforce_headers": ["date", "request-line"] }));
    assert!(
        run(&s, signed("hmac-sha256", "authorization"))
            .0
            .is_continue()
    );
}

#[test]
fn validate_request_body() {
    let s = setup(json!({ "validate_request_body": true }));
    let set = s.f.build();
    assert!(set.begin().needs_request_body(&req(Method::POST, "/")));
    // no body, no digest: ok
    assert!(
        run(&s, signed("hmac-sha256", "authorization"))
            .0
            .is_continue()
    );
    // body without digest
    let mut ctx = signed("hmac-sha256", "authorization");
    ctx.body = Some(bytes::Bytes::from_static(b"hello"));
    assert_error(run(&s, ctx).0, 401, "HMAC signature does not match");
    // right and wrong digests
    let digest = format!(
        "SHA-256={}",
        base64::engine::general_purpose::STANDARD.encode(crate::util::sha256(b"hello"))
    );
    let mut ctx = with_header(signed("hmac-sha256", "authorization"), "digest", &digest);
    ctx.body = Some(bytes::Bytes::from_static(b"hello"));
    assert!(run(&s, ctx).0.is_continue());
    let mut ctx = with_header(signed("hmac-sha256", "authorization"), "digest", &digest);
    ctx.body = Some(bytes::Bytes::from_static(b"hellO"));
    assert_error(run(&s, ctx).0, 401, "HMAC signature does not match");
}

#[test]
fn anonymous() {
    let s = setup(json!({ "anonymous": "bob" }));
    let (d, ctx) = run(&s, req(Method::GET, "/"));
    assert!(d.is_continue());
    assert_eq!(header(&ctx.headers, "x-anonymous-consumer"), Some("true"));
}

#[test]
fn parses_kong_header_format() {
    assert_eq!(
        parse_params(b"hmac username=\"u\", algorithm=\"hmac-sha1\", headers=\"date  x\", signature=\"c2ln\""),
        Some(Params {
            username: "u".into(),
            algorithm: "hmac-sha1".into(),
            headers: vec!["date".into(), "".into(), "x".into()],
            signature: "c2ln".into(),
        })
    );
    assert_eq!(parse_params(b"Hmac username=\"u\""), None);
    assert_eq!(parse_params(&[0xff; 4096]), None);
}

#[test]
fn schema_defaults() {
    assert_eq!(
        filled("hmac-auth", json!({})),
        json!({
            "hide_credentials": false, "clock_skew": 300, "anonymous": null,
            "validate_request_body": false, "enforce_headers": [],
            "algorithms": ["hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"],
            "realm": null
        })
    );
    let e = config_errors("hmac-auth", json!({ "clock_skew": 0 }));
    assert!(e["clock_skew"].is_string());
    let e = config_errors("hmac-auth", json!({ "algorithms": ["hmac-md5"] }));
    assert!(e["algorithms"].is_array() || e["algorithms"].is_object());
}
