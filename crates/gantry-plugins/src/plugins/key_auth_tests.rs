#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, UNIX_EPOCH};

use http::Method;
use serde_json::json;

use crate::plugins::testkit::*;
use crate::respond::Decision;

fn setup(config: serde_json::Value) -> (Fixture, uuid::Uuid, uuid::Uuid) {
    let mut f = Fixture::default();
    let bob = f.consumer("bob");
    let cred = f.key(bob, "secret-key");
    f.global("key-auth", config);
    (f, bob, cred)
}

#[test]
fn accepts_key_from_header_and_sets_consumer_headers() {
    let (f, bob, cred) = setup(json!({}));
    let set = f.build();
    let mut ctx = with_header(req(Method::GET, "/"), "apikey", "secret-key");
    ctx.headers.insert(
        "x-anonymous-consumer",
        http::HeaderValue::from_static("true"),
    );
    ctx.headers.insert(
        "x-consumer-custom-id",
        http::HeaderValue::from_static("spoofed"),
    );
    assert!(run_access(&set, &mut ctx).is_continue());
    assert_eq!(
        header(&ctx.headers, "x-consumer-id"),
        Some(bob.to_string().as_str())
    );
    assert_eq!(header(&ctx.headers, "x-consumer-username"), Some("bob"));
    assert_eq!(header(&ctx.headers, "x-consumer-custom-id"), None);
    assert_eq!(
        header(&ctx.headers, "x-credential-identifier"),
        Some(cred.to_string().as_str())
    );
    assert_eq!(header(&ctx.headers, "x-anonymous-consumer"), None);
    assert_eq!(ctx.consumer.as_ref().unwrap().id, bob);
    // the key stays unless hide_credentials
    assert_eq!(header(&ctx.headers, "apikey"), Some("secret-key"));
}

#[test]
fn accepts_key_from_query_and_hides_it() {
    let (f, _, _) = setup(json!({ "hide_credentials": true }));
    let set = f.build();
    let mut ctx = req(Method::GET, "/?a=1&apikey=secret-key&b=2");
    assert!(run_access(&set, &mut ctx).is_continue());
    assert_eq!(ctx.query.as_deref(), Some("a=1&b=2"));
}

#[test]
fn accepts_key_from_body_and_hides_it() {
    let (f, _, _) = setup(json!({ "key_in_body": true, "hide_credentials": true }));
    let set = f.build();
    let mut ctx = with_header(
        req(Method::POST, "/"),
        "content-type",
        "application/x-www-form-urlencoded",
    );
    ctx.body = Some(bytes::Bytes::from_static(b"apikey=secret-key&x=1"));
    let run = set.begin();
    assert!(run.needs_request_body(&ctx));
    assert!(run_access(&set, &mut ctx).is_continue());
    assert_eq!(ctx.body.as_deref(), Some(&b"x=1"[..]));
    assert_eq!(header(&ctx.headers, "content-length"), Some("3"));

    let mut ctx = with_header(req(Method::POST, "/"), "content-type", "application/json");
    ctx.body = Some(bytes::Bytes::from_static(
        br#"{"apikey":"secret-key","y":2}"#,
    ));
    assert!(run_access(&set, &mut ctx).is_continue());
    assert_eq!(ctx.body.as_deref(), Some(&br#"{"y":2}"#[..]));
}

#[test]
fn multipart_bodies_are_read_and_only_the_key_part_is_hidden() {
    let (f, bob, _) = setup(json!({ "key_in_body": true, "hide_credentials": true }));
    let set = f.build();
    let mut ctx = with_body(
        Method::POST,
        "/",
        "multipart/form-data; boundary=XyZ",
        b"--XyZ\r\nContent-Disposition: form-data; name=\"apikey\"\r\n\r\nsecret-key\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhi\r\n--XyZ--\r\n",
    );
    assert!(run_access(&set, &mut ctx).is_continue());
    assert_eq!(ctx.consumer.as_ref().unwrap().id, bob);
    let rest: &[u8] = b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhi\r\n--XyZ--\r\n";
    assert_eq!(ctx.body.as_deref(), Some(rest));
    assert_eq!(
        header(&ctx.headers, "content-length"),
        Some(rest.len().to_string().as_str())
    );
}

#[test]
fn body_fields_follow_get_body() {
    let mut f = Fixture::default();
    let bob = f.consumer("bob");
    f.key(bob, "secret-key");
    f.global(
        "key-auth",
        json!({ "key_in_body": true, "key_names": ["apikey", "k2"] }),
    );
    let set = f.build();
    let post = |ct: &str, body: &'static [u8]| with_body(Method::POST, "/", ct, body);
    // a bare `apikey` is Lua `true`: skipped, the next name is looked at
    let form = "application/x-www-form-urlencoded";
    let mut ctx = post(form, b"apikey&k2=secret-key");
    assert!(run_access(&set, &mut ctx).is_continue());
    // `+json` types other than application/json… are not decoded by get_body
    let mut ctx = post("application/vnd.api+json", br#"{"apikey":"secret-key"}"#);
    assert_error(
        run_access(&set, &mut ctx),
        401,
        "No API key found in request",
    );
    let mut ctx = post("application/json-patch+json", br#"{"apikey":"secret-key"}"#);
    assert!(run_access(&set, &mut ctx).is_continue());
}

#[test]
fn underscores_in_key_names_find_dashed_headers() {
    let (f, bob, _) = setup(json!({ "key_names": ["api_key"], "hide_credentials": true }));
    let set = f.build();
    let mut ctx = with_header(req(Method::GET, "/"), "api-key", "secret-key");
    assert!(run_access(&set, &mut ctx).is_continue());
    assert_eq!(ctx.consumer.as_ref().unwrap().id, bob);
    assert_eq!(header(&ctx.headers, "api-key"), None);
    // the query argument keeps its exact name
    let mut ctx = req(Method::GET, "/?api_key=secret-key&x=1");
    assert!(run_access(&set, &mut ctx).is_continue());
    assert_eq!(ctx.query.as_deref(), Some("x=1"));
}

#[test]
fn rejects_missing_empty_duplicate_and_invalid_keys() {
    let (f, _, _) = setup(json!({}));
    let set = f.build();
    let r = assert_error(
        run_access(&set, &mut req(Method::GET, "/")),
        401,
        "No API key found in request",
    );
    assert_eq!(header(&r.headers, "www-authenticate"), Some("Key"));
    assert_eq!(
        header(&r.headers, "content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_error(
        run_access(&set, &mut req(Method::GET, "/?apikey=")),
        401,
        "No API key found in request",
    );
    // `?apikey` without a value is not a string: no key
    assert_error(
        run_access(&set, &mut req(Method::GET, "/?apikey")),
        401,
        "No API key found in request",
    );
    assert_error(
        run_access(&set, &mut req(Method::GET, "/?apikey=a&apikey=b")),
        401,
        "Duplicate API key found",
    );
    let mut ctx = with_header(
        with_header(req(Method::GET, "/"), "apikey", "a"),
        "apikey",
        "b",
    );
    assert_error(run_access(&set, &mut ctx), 401, "Duplicate API key found");
    let r = assert_error(
        run_access(&set, &mut req(Method::GET, "/?apikey=nope")),
        401,
        "Unauthorized",
    );
    assert_eq!(header(&r.headers, "www-authenticate"), Some("Key"));
}

#[test]
fn realm_and_key_sources_switches() {
    let (f, _, _) =
        setup(json!({ "realm": "kong", "key_in_query": false, "key_names": ["x-key", "apikey"] }));
    let set = f.build();
    let r = assert_error(
        run_access(&set, &mut req(Method::GET, "/?apikey=secret-key")),
        401,
        "No API key found in request",
    );
    assert_eq!(
        header(&r.headers, "www-authenticate"),
        Some("Key realm=\"kong\"")
    );
    let mut ctx = with_header(req(Method::GET, "/"), "X-Key", "secret-key");
    assert!(run_access(&set, &mut ctx).is_continue());
}

#[test]
fn expired_key_is_unauthorized() {
    let mut f = Fixture::default();
    let bob = f.consumer("bob");
    f.key(bob, "k");
    f.keyauth[0].created_at = 1000;
    f.keyauth[0].ttl = Some(10.0);
    f.global("key-auth", json!({}));
    let set = f.build();
    let mut ctx = req(Method::GET, "/?apikey=k");
    ctx.now = UNIX_EPOCH + Duration::from_secs(1005);
    assert!(run_access(&set, &mut ctx).is_continue());
    let mut ctx = req(Method::GET, "/?apikey=k");
    ctx.now = UNIX_EPOCH + Duration::from_secs(1011);
    assert_error(run_access(&set, &mut ctx), 401, "Unauthorized");
}

#[test]
fn preflight_and_anonymous() {
    let mut f = Fixture::default();
    let anon = f.consumer("anon");
    f.global(
        "key-auth",
        json!({ "run_on_preflight": false, "anonymous": "anon" }),
    );
    let set = f.build();
    let mut ctx = req(Method::OPTIONS, "/");
    assert!(run_access(&set, &mut ctx).is_continue());
    assert!(ctx.consumer.is_none());
    let mut ctx = req(Method::GET, "/?apikey=wrong");
    assert!(run_access(&set, &mut ctx).is_continue());
    assert_eq!(ctx.consumer.as_ref().unwrap().id, anon);
    assert!(ctx.credential.is_none());
    assert_eq!(header(&ctx.headers, "x-anonymous-consumer"), Some("true"));
    assert_eq!(header(&ctx.headers, "x-consumer-username"), Some("anon"));

    // anonymous by id works too; a missing one is a 500
    let mut f = Fixture::default();
    let anon = f.consumer("anon");
    f.global("key-auth", json!({ "anonymous": anon.to_string() }));
    let mut ctx = req(Method::GET, "/");
    assert!(run_access(&f.build(), &mut ctx).is_continue());
    let mut f = Fixture::default();
    f.global("key-auth", json!({ "anonymous": "ghost" }));
    let d = run_access(&f.build(), &mut req(Method::GET, "/"));
    assert_error(
        d,
        500,
        "anonymous consumer ghost is configured but doesn't exist",
    );
}

#[test]
fn config_validation() {
    let c = filled("key-auth", json!({}));
    assert_eq!(
        c,
        json!({
            "key_names": ["apikey"], "hide_credentials": false, "anonymous": null,
            "key_in_header": true, "key_in_query": true, "key_in_body": false,
            "run_on_preflight": true, "realm": null
        })
    );
    let e = config_errors("key-auth", json!({ "key_names": ["bad name"] }));
    assert_eq!(
        e["key_names"][0],
        "bad header name 'bad name', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
    );
    let e = config_errors("key-auth", json!({ "hide_credentials": "yes" }));
    assert_eq!(e["hide_credentials"], "expected a boolean");
    let e = validate(json!({ "name": "key-auth", "consumer": { "id": uuid::Uuid::new_v4() } }))
        .unwrap_err();
    assert_eq!(e["fields"]["consumer"], "value must be null");
    let e = config_errors("key-auth", json!({ "nope": 1 }));
    assert_eq!(e["nope"], "unknown field");
}

#[test]
fn decision_is_continue_without_plugins() {
    let set = Fixture::default().build();
    assert!(matches!(
        run_access(&set, &mut req(Method::GET, "/")),
        Decision::Continue
    ));
}

#[test]
fn reports_header_changes_only_when_it_hides_the_key() {
    for (hide, changes) in [(false, false), (true, true)] {
        let (f, _, _) = setup(json!({ "hide_credentials": hide }));
        let set = f.build();
        let mut ctx = with_header(req(Method::GET, "/"), "apikey", "secret-key");
        let mut run = set.begin();
        run.select(set.chain_for(ctx.route_id, ctx.service_id));
        assert!(run.access(&mut ctx).is_continue());
        assert_eq!(run.may_have_changed_headers(), changes, "hide {hide}");
        assert_eq!(ctx.headers.contains_key("apikey"), !hide);
    }
}

#[test]
fn keys_compare_as_raw_bytes() {
    let (f, _, _) = setup(json!({}));
    let set = f.build();
    // Not UTF-8: no lossy copy of it may match a stored key.
    let mut ctx = req(Method::GET, "/");
    ctx.headers.insert(
        "apikey",
        http::HeaderValue::from_bytes(b"secret-key\xff").unwrap(),
    );
    let r = responded(run_access(&set, &mut ctx));
    assert_eq!(r.status, http::StatusCode::UNAUTHORIZED);
    let mut ctx = with_header(req(Method::GET, "/"), "apikey", "secret-ke");
    assert_eq!(
        responded(run_access(&set, &mut ctx)).status,
        http::StatusCode::UNAUTHORIZED
    );
}

#[test]
fn one_or_several_header_values_in_short_and_long_header_lists() {
    let (f, _, _) = setup(json!({}));
    let set = f.build();
    for filler in [0, 30] {
        let build = |keys: &[&'static str]| {
            let mut ctx = req(Method::GET, "/");
            for i in 0..filler {
                ctx.headers.append(
                    http::HeaderName::from_bytes(format!("x-filler-{i}").as_bytes()).unwrap(),
                    http::HeaderValue::from_static("v"),
                );
            }
            for k in keys {
                ctx.headers
                    .append(*k, http::HeaderValue::from_static("secret-key"));
            }
            ctx
        };
        let mut ctx = build(&["apikey"]);
        assert!(run_access(&set, &mut ctx).is_continue(), "filler {filler}");
        let mut ctx = build(&["apikey", "apikey"]);
        let r = responded(run_access(&set, &mut ctx));
        assert_eq!(r.status, http::StatusCode::UNAUTHORIZED);
        assert!(
            String::from_utf8_lossy(&r.body).contains("Duplicate API key found"),
            "filler {filler}"
        );
    }
}
