#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{Value, json};

use super::{json_value, lua_tonumber};
use crate::chain::PluginSet;
use crate::ctx::{ResponseHead, ResponseSource};
use crate::plugins::testkit::*;

const NAME: &str = "response-transformer";

fn set(config: Value) -> PluginSet {
    let mut f = Fixture::default();
    f.global(NAME, config);
    f.build()
}

fn head(headers: &[(&str, &str)]) -> ResponseHead {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    ResponseHead {
        status: StatusCode::OK,
        headers: h,
        source: ResponseSource::Upstream,
    }
}

/// Runs access, header_filter, then body_filter once per chunk and once more
/// with `eof`; returns the head and what each body_filter call emitted.
fn respond(config: Value, mut head: ResponseHead, chunks: &[&[u8]]) -> (ResponseHead, Vec<Bytes>) {
    let s = set(config);
    let mut ctx = req(Method::GET, "/");
    let mut run = s.begin();
    run.select(s.chain_for(None, None));
    assert!(run.access(&mut ctx).is_continue());
    run.header_filter(&mut ctx, &mut head);
    assert!(run.has_body_filter());
    let mut out = Vec::new();
    for c in chunks {
        let mut b = Bytes::copy_from_slice(c);
        run.body_filter(&mut ctx, &head, &mut b, false);
        out.push(b);
    }
    let mut last = Bytes::new();
    run.body_filter(&mut ctx, &head, &mut last, true);
    out.push(last);
    (head, out)
}

fn joined(out: &[Bytes]) -> String {
    String::from_utf8(out.iter().flat_map(|b| b.to_vec()).collect()).unwrap()
}

fn all(h: &HeaderMap, name: &str) -> Vec<String> {
    h.get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

const JSON: (&str, &str) = ("content-type", "application/json");

#[test]
fn schema_fills_kong_defaults() {
    let c = filled(NAME, json!({}));
    assert_eq!(c["remove"], json!({ "json": [], "headers": [] }));
    assert_eq!(c["rename"], json!({ "json": [], "headers": [] }));
    for op in ["replace", "add", "append"] {
        assert_eq!(
            c[op],
            json!({ "json": [], "json_types": [], "headers": [] }),
            "{op}"
        );
    }
    let e = validate(json!({ "name": NAME, "protocols": ["tcp"] })).unwrap_err();
    assert!(!e["fields"]["protocols"].is_null());
}

#[test]
fn schema_errors_match_kong() {
    let e = config_errors(NAME, json!({ "add": { "json": ["just_a_key"] } }));
    assert_eq!(e["add"]["json"], json!(["invalid value: just_a_key"]));
    let e = config_errors(NAME, json!({ "replace": { "headers": ["x"] } }));
    assert_eq!(e["replace"]["headers"][0], "invalid value: x");
    let e = config_errors(NAME, json!({ "append": { "json_types": ["int"] } }));
    assert_eq!(
        e["append"]["json_types"][0],
        "expected one of: boolean, number, string"
    );
    let e = config_errors(NAME, json!({ "rename": { "headers": ["a:b c"] } }));
    assert_eq!(e["rename"]["headers"][0], "'b c' is not a valid header");
    let e = config_errors(NAME, json!({ "add": { "headers": ["bad name:v"] } }));
    assert_eq!(e["add"]["headers"][0], "'bad name' is not a valid header");
    let e = config_errors(NAME, json!({ "add": { "headers": ["x:a\u{1}b"] } }));
    assert_eq!(e["add"]["headers"][0], "'a\u{1}b' is not a valid header");
    let e = config_errors(NAME, json!({ "remove": { "json": null } }));
    assert_eq!(e["remove"]["json"], "required field missing");
    filled(
        NAME,
        json!({
            "remove": { "json": ["a"], "headers": ["anything goes here"] },
            "rename": { "json": ["a:b"], "headers": ["x-a:x-b"] },
            "add": { "json": ["a:", "b:1"], "json_types": ["string", "number"], "headers": ["x:a value; with spaces!"] },
        }),
    );
}

#[test]
fn header_operations() {
    let (h, _) = respond(
        json!({
            "remove": { "headers": ["x-remove", "X_Underscored"] },
            "rename": { "headers": ["x-old:x-new", "x-missing:x-other"] },
            "replace": { "headers": ["x-replace:after", "x-absent:nope"] },
            "add": { "headers": ["x-add:added", "x-replace:not-added"] },
            "append": { "headers": ["x-append:two", "x-fresh:one"] },
        }),
        head(&[
            ("x-remove", "r"),
            ("x-underscored", "u"),
            ("x-old", "o1"),
            ("x-old", "o2"),
            ("x-replace", "b1"),
            ("x-replace", "b2"),
            ("x-append", "one"),
        ]),
        &[],
    );
    assert!(h.headers.get("x-remove").is_none());
    assert!(h.headers.get("x-underscored").is_none());
    assert!(h.headers.get("x-old").is_none());
    assert_eq!(all(&h.headers, "x-new"), ["o1", "o2"]);
    assert!(h.headers.get("x-other").is_none());
    assert_eq!(all(&h.headers, "x-replace"), ["after"]);
    assert!(h.headers.get("x-absent").is_none());
    assert_eq!(all(&h.headers, "x-add"), ["added"]);
    assert_eq!(all(&h.headers, "x-append"), ["one", "two"]);
    assert_eq!(all(&h.headers, "x-fresh"), ["one"]);
}

#[test]
fn header_presence_is_tested_on_the_original_headers() {
    let (h, _) = respond(
        json!({
            "remove": { "headers": ["x-a"] },
            "rename": { "headers": ["x-b:x-c", "x-d:x-d"] },
            "add": { "headers": ["x-a:again", "x-c:added"] },
            "replace": { "headers": ["x-c:replaced"] },
        }),
        head(&[("x-a", "1"), ("x-b", "2"), ("x-d", "4")]),
        &[],
    );
    // x-a was present when header_filter began: add does not bring it back
    assert!(h.headers.get("x-a").is_none());
    // x-c was absent: add overwrites the renamed value, replace does nothing
    assert_eq!(all(&h.headers, "x-c"), ["added"]);
    // renaming a header to itself removes it (set, then clear)
    assert!(h.headers.get("x-d").is_none());
}

#[test]
fn content_length_is_removed_only_for_json_transforms() {
    let cl = ("content-length", "10");
    let (h, _) = respond(
        json!({ "add": { "json": ["a:1"] } }),
        head(&[JSON, cl]),
        &[],
    );
    assert!(h.headers.get("content-length").is_none());
    let (h, _) = respond(
        json!({ "add": { "headers": ["a:1"] } }),
        head(&[JSON, cl]),
        &[],
    );
    assert_eq!(header(&h.headers, "content-length"), Some("10"));
    let (h, _) = respond(
        json!({ "add": { "json": ["a:1"] } }),
        head(&[("content-type", "text/html"), cl]),
        &[],
    );
    assert_eq!(header(&h.headers, "content-length"), Some("10"));
    // rename.json alone is not a body transform in Kong
    let (h, _) = respond(
        json!({ "rename": { "json": ["a:b"] } }),
        head(&[JSON, cl]),
        &[],
    );
    assert_eq!(header(&h.headers, "content-length"), Some("10"));
}

#[test]
fn json_body_buffered_across_chunks_with_types() {
    let (_, out) = respond(
        json!({
            "add": {
                "json": ["n:42", "t:true", "s:str", "bad:abc", "f:no", "x:1.50", "h:0x10"],
                "json_types": ["number", "boolean", "string", "number", "boolean", "number", "number"],
            },
        }),
        head(&[JSON]),
        &[b"{\"a\":", b"1,", b"\"b\":\"x\"}"],
    );
    assert_eq!(out.len(), 4);
    assert!(
        out[..3].iter().all(Bytes::is_empty),
        "chunks are held back until eof"
    );
    assert_eq!(
        joined(&out),
        r#"{"a":1,"b":"x","n":42,"t":true,"s":"str","f":false,"x":1.5,"h":16}"#
    );
}

#[test]
fn json_body_operations() {
    let (_, out) = respond(
        json!({
            "remove": { "json": ["gone", "absent"] },
            "rename": { "json": ["old:new", "self:self"] },
            "replace": { "json": ["rep:R", "f:F", "nul:N", "missing:M", "num:7"], "json_types": ["string", "string", "string", "string", "number"] },
            "add": { "json": ["f:added", "keep:no", "fresh:1"], "json_types": ["string", "string", "boolean"] },
            "append": { "json": ["s:y", "arr:2", "n2:3", "new:also"], "json_types": ["string", "number"] },
        }),
        head(&[("content-type", "application/vnd.api+json; charset=utf-8")]),
        &[br#"{"gone":1,"old":"o","self":1,"rep":"r","f":false,"nul":null,"num":1,"keep":"k","s":"x","arr":[1],"n2":5}"#],
    );
    assert_eq!(
        joined(&out),
        r#"{"rep":"R","f":"added","nul":"N","num":7,"keep":"k","s":["x","y"],"arr":[1,2],"n2":["3"],"new":["o","also"],"fresh":false}"#
    );
}

#[test]
fn values_go_through_kongs_json_value() {
    let (_, out) = respond(
        json!({ "add": { "json": ["q:say \"hi\"", "p:a/b", "bs:a\\b", "e:", "e2:", "tab:a\tb"], "json_types": ["string", "string", "string", "string", "number"] } }),
        head(&[JSON]),
        &[b"{}"],
    );
    let v: Value = serde_json::from_str(&joined(&out)).unwrap();
    assert_eq!(v["q"], "say \"hi\"");
    assert_eq!(v["p"], "a/b");
    // cjson escapes are kept in the value (double escaping), as in Kong
    assert_eq!(v["bs"], "a\\\\b");
    assert_eq!(v["tab"], "a\\tb");
    // an empty value is cjson's "null"; as a number it is dropped
    assert_eq!(v["e"], "null");
    assert!(v.get("e2").is_none());
    assert_eq!(json_value(Some("1e3"), Some("number")), Some(json!(1000)));
    assert_eq!(json_value(Some("inf"), Some("number")), None);
    assert_eq!(
        json_value(Some("TRUE"), Some("boolean")),
        Some(json!(false))
    );
    assert_eq!(lua_tonumber(" -0x1F "), Some(-31.0));
    assert_eq!(lua_tonumber("1_0"), None);
    assert_eq!(lua_tonumber(""), None);
}

#[test]
fn rename_json_needs_another_json_operation() {
    let body: &[u8] = br#"{"a":1}"#;
    let (_, out) = respond(
        json!({ "rename": { "json": ["a:b"] } }),
        head(&[JSON]),
        &[body],
    );
    assert_eq!(out[0], body, "not buffered");
    assert_eq!(joined(&out), r#"{"a":1}"#);
    let (_, out) = respond(
        json!({ "rename": { "json": ["a:b"] }, "remove": { "json": ["zzz"] } }),
        head(&[JSON]),
        &[body],
    );
    assert_eq!(joined(&out), r#"{"b":1}"#);
}

#[test]
fn non_json_and_bad_json_pass_through() {
    let cfg = json!({ "add": { "json": ["a:1"] } });
    // not JSON: every chunk goes out as it came
    let (_, out) = respond(
        cfg.clone(),
        head(&[("content-type", "text/json")]),
        &[b"{", b"}"],
    );
    assert_eq!(
        out,
        [
            Bytes::from_static(b"{"),
            Bytes::from_static(b"}"),
            Bytes::new()
        ]
    );
    let (_, out) = respond(cfg.clone(), head(&[]), &[b"{}"]);
    assert_eq!(joined(&out), "{}");
    // JSON type but not a JSON object: buffered, then sent unchanged
    for body in [&b"{\"a\":"[..], b"[1,2]", b"\"s\"", b"", b"\xff\xfe{}"] {
        let (_, out) = respond(cfg.clone(), head(&[JSON]), &[body, b" "]);
        assert!(out[0].is_empty());
        let mut expected = body.to_vec();
        expected.push(b' ');
        assert_eq!(
            out.iter().flat_map(|b| b.to_vec()).collect::<Vec<u8>>(),
            expected
        );
    }
}

#[test]
fn json_type_detection() {
    let cfg = json!({ "add": { "json": ["a:1"] } });
    for ct in [
        "application/json",
        "Application/JSON; charset=utf-8",
        "application/problem+json",
        "text/plain, application/json",
    ] {
        let (_, out) = respond(cfg.clone(), head(&[("content-type", ct)]), &[b"{}"]);
        assert_eq!(joined(&out), r#"{"a":"1"}"#, "{ct}");
    }
    for ct in [
        "text/json",
        "application/jsonp",
        "application/+json",
        "json",
    ] {
        let (_, out) = respond(cfg.clone(), head(&[("content-type", ct)]), &[b"{}"]);
        assert_eq!(joined(&out), "{}", "{ct}");
    }
}

#[test]
fn big_bodies_in_many_chunks() {
    let mut chunks: Vec<Vec<u8>> = vec![b"{\"items\":[".to_vec()];
    for i in 0..20_000 {
        let sep = if i == 0 { "" } else { "," };
        chunks.push(format!("{sep}{{\"id\":{i},\"name\":\"item-{i}\"}}").into_bytes());
    }
    chunks.push(b"],\"secret\":\"x\"}".to_vec());
    let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
    let (_, out) = respond(
        json!({ "remove": { "json": ["secret"] }, "add": { "json": ["count:20000"], "json_types": ["number"] } }),
        head(&[JSON]),
        &refs,
    );
    assert!(out[..out.len() - 1].iter().all(Bytes::is_empty));
    let v: Value = serde_json::from_slice(out.last().unwrap()).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 20_000);
    assert_eq!(v["count"], 20_000);
    assert!(v.get("secret").is_none());
}
