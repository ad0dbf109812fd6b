#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use http::{HeaderValue, Method};
use serde_json::{Value, json};

use super::kong_pair;
use crate::chain::PluginSet;
use crate::ctx::RequestCtx;
use crate::ctx::UpstreamHost;
use crate::plugins::testkit::*;
use crate::respond::Decision;

const NAME: &str = "request-transformer";

fn set(config: Value) -> PluginSet {
    let mut f = Fixture::default();
    f.global(NAME, config);
    f.build()
}

/// Runs access and expects the request to go on.
fn go(config: Value, mut ctx: RequestCtx) -> RequestCtx {
    let d = run_access(&set(config), &mut ctx);
    assert!(d.is_continue(), "unexpected short-circuit");
    ctx
}

fn needs_body(config: Value, ctx: &RequestCtx) -> bool {
    let s = set(config);
    let mut run = s.begin();
    run.select(s.chain_for(None, None));
    run.needs_request_body(ctx)
}

fn with_body(mut ctx: RequestCtx, content_type: &str, body: &[u8]) -> RequestCtx {
    ctx.headers
        .insert("content-type", HeaderValue::from_str(content_type).unwrap());
    ctx.headers
        .insert("content-length", HeaderValue::from(body.len()));
    ctx.body = Some(Bytes::copy_from_slice(body));
    ctx
}

fn all(ctx: &RequestCtx, name: &str) -> Vec<String> {
    ctx.headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn body(ctx: &RequestCtx) -> &str {
    std::str::from_utf8(ctx.body.as_deref().unwrap()).unwrap()
}

fn content_length(ctx: &RequestCtx) -> usize {
    header(&ctx.headers, "content-length")
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn schema_fills_kong_defaults() {
    let c = filled(NAME, json!({}));
    let empty = json!({ "body": [], "headers": [], "querystring": [] });
    assert_eq!(c["http_method"], Value::Null);
    for op in ["remove", "rename", "add", "append"] {
        assert_eq!(c[op], empty, "{op}");
    }
    assert_eq!(c["replace"]["body"], json!([]));
    assert_eq!(c["replace"]["uri"], Value::Null);
    let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "http_method",
            "remove",
            "rename",
            "replace",
            "add",
            "append"
        ]
    );
    // typedefs.protocols: stream protocols may be listed
    validate(json!({ "name": NAME, "protocols": ["tcp", "http"] })).unwrap();
    // entries without colons are fine in remove lists
    let c = filled(
        NAME,
        json!({ "remove": { "headers": ["just_a_key"], "body": ["just_a_key"], "querystring": ["just_a_key"] } }),
    );
    assert_eq!(c["remove"]["headers"], json!(["just_a_key"]));
}

#[test]
fn schema_errors_match_kong() {
    let e = config_errors(NAME, json!({ "http_method": "get" }));
    assert_eq!(e["http_method"], "invalid value: get");
    let e = config_errors(NAME, json!({ "http_method": "HELLO!" }));
    assert_eq!(e["http_method"], "invalid value: HELLO!");
    for op in ["add", "replace", "append"] {
        let e = config_errors(NAME, json!({ op: { "headers": ["just_a_key"] } }));
        assert_eq!(
            e[op]["headers"],
            json!(["invalid value: just_a_key"]),
            "{op}"
        );
        let e = config_errors(NAME, json!({ op: { "querystring": ["uri_param2:"] } }));
        assert_eq!(
            e[op]["querystring"][0], "key 'uri_param2' has no value",
            "{op}"
        );
        let e = config_errors(NAME, json!({ op: { "body": ["k"] } }));
        assert_eq!(e[op]["body"][0], "key 'k' has no value", "{op}");
        let e = config_errors(
            NAME,
            json!({ op: { "headers": ["X-Test:invalid\rvalue"] } }),
        );
        assert_eq!(
            e[op]["headers"][0],
            "'invalid\rvalue' is not a valid header"
        );
        filled(
            NAME,
            json!({ op: { "headers": ["X-Test:a value with spaces; and punctuation!"] } }),
        );
    }
    let e = config_errors(
        NAME,
        json!({ "rename": { "headers": ["X-Test:not a header name"] } }),
    );
    assert_eq!(
        e["rename"]["headers"][0],
        "'not a header name' is not a valid header"
    );
    let e = config_errors(NAME, json!({ "rename": { "headers": ["X-Test:"] } }));
    assert_eq!(e["rename"]["headers"][0], "'' is not a valid header");
    let e = config_errors(NAME, json!({ "rename": { "body": ["a"] } }));
    assert_eq!(e["rename"]["body"][0], "key 'a' has no value");
    let e = config_errors(NAME, json!({ "remove": { "headers": ["bad header"] } }));
    assert_eq!(
        e["remove"]["headers"][0],
        "'bad header' is not a valid header"
    );
    let e = config_errors(NAME, json!({ "remove": { "headers": [":x"] } }));
    assert_eq!(e["remove"]["headers"][0], "'nil' is not a valid header");
    let e = config_errors(NAME, json!({ "add": { "body": [":x"] } }));
    assert_eq!(e["add"]["body"][0], "invalid value: :x");
    // null arrays are rejected (required = true)
    let e = config_errors(
        NAME,
        json!({ "add": { "body": null, "headers": null, "querystring": null } }),
    );
    assert_eq!(
        e["add"],
        json!({ "body": "required field missing", "headers": "required field missing", "querystring": "required field missing" })
    );
    let e = config_errors(NAME, json!({ "remove": { "body": [""] } }));
    assert!(e["remove"]["body"][0].is_string());
}

#[test]
fn schema_checks_templates() {
    filled(
        NAME,
        json!({ "add": { "querystring": ["p1:$(uri_captures.user1)", "p2:value"] } }),
    );
    let e = config_errors(
        NAME,
        json!({ "add": { "querystring": ["p:$(uri_captures user2)"] } }),
    );
    let msg = e["add"]["querystring"][0].as_str().unwrap();
    assert!(
        msg.starts_with("value '$(uri_captures user2)' is not in supported format, error:"),
        "{msg}"
    );
    let e = config_errors(
        NAME,
        json!({ "add": { "headers": ["x:$(string.rep('a', 9))"] } }),
    );
    assert!(
        e["add"]["headers"][0]
            .as_str()
            .unwrap()
            .contains("not in supported format")
    );
    let e = config_errors(
        NAME,
        json!({ "replace": { "uri": "/$(headers.a .. 'x')" } }),
    );
    assert!(
        e["replace"]["uri"]
            .as_str()
            .unwrap()
            .contains("not in supported format")
    );
    filled(
        NAME,
        json!({ "replace": { "uri": "/u/$(uri_captures.id or 'none')" } }),
    );
}

#[test]
fn header_operations() {
    let mut ctx = req(Method::GET, "/");
    for (k, v) in [
        ("x-remove", "r"),
        ("x-old", "o"),
        ("x-replace", "before"),
        ("x-append", "one"),
    ] {
        ctx = with_header_owned(ctx, k, v);
    }
    let ctx = go(
        json!({
            "remove": { "headers": ["X-Remove", "x-not-there"] },
            "rename": { "headers": ["x-old:X-New", "x-missing:x-other"] },
            "replace": { "headers": ["x-replace:after", "x-absent:nope"] },
            "add": { "headers": ["x-add:added", "x-replace:not-added"] },
            "append": { "headers": ["x-append:two", "X-Fresh:one"] },
        }),
        ctx,
    );
    assert!(ctx.headers.get("x-remove").is_none());
    assert!(ctx.headers.get("x-old").is_none());
    assert_eq!(header(&ctx.headers, "x-new"), Some("o"));
    assert!(ctx.headers.get("x-other").is_none());
    assert_eq!(all(&ctx, "x-replace"), ["after"]);
    assert!(ctx.headers.get("x-absent").is_none());
    assert_eq!(header(&ctx.headers, "x-add"), Some("added"));
    assert_eq!(all(&ctx, "x-append"), ["one", "two"]);
    assert_eq!(all(&ctx, "x-fresh"), ["one"]);
}

fn with_header_owned(ctx: RequestCtx, name: &str, value: &str) -> RequestCtx {
    let mut ctx = ctx;
    ctx.headers.append(
        http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
        HeaderValue::from_str(value).unwrap(),
    );
    ctx
}

#[test]
fn header_operations_work_on_one_table_in_order() {
    let ctx = with_header_owned(req(Method::GET, "/"), "x-a", "1");
    let ctx = with_header_owned(ctx, "x-b", "2");
    let ctx = go(
        json!({
            // removed, then absent for add: added back with the new value
            "remove": { "headers": ["x-a"] },
            // renamed onto x-c, then x-c is present for add: not overwritten
            "rename": { "headers": ["x-b:x-c"] },
            "add": { "headers": ["x-a:new", "x-c:ignored"] },
            // replace sees the renamed header
            "replace": { "headers": ["x-c:replaced"] },
        }),
        ctx,
    );
    assert_eq!(all(&ctx, "x-a"), ["new"]);
    assert!(ctx.headers.get("x-b").is_none());
    assert_eq!(all(&ctx, "x-c"), ["replaced"]);
}

#[test]
fn host_can_be_replaced_but_not_added_or_removed() {
    let ctx = with_header_owned(req(Method::GET, "/"), "host", "client.example");
    let ctx = go(
        json!({ "remove": { "headers": ["host"] }, "add": { "headers": ["host:added.example"] } }),
        ctx,
    );
    assert_eq!(header(&ctx.headers, "host"), Some("client.example"));
    assert!(ctx.scratch.get::<UpstreamHost>().is_none());

    // replace works even without a Host header in the request
    let ctx = go(
        json!({ "replace": { "headers": ["Host:upstream.example"] } }),
        req(Method::GET, "/"),
    );
    assert_eq!(header(&ctx.headers, "host"), Some("upstream.example"));
    assert_eq!(
        ctx.scratch.get::<UpstreamHost>(),
        Some(&UpstreamHost(HeaderValue::from_static("upstream.example")))
    );

    // a header renamed to host becomes the upstream host
    let ctx = with_header_owned(req(Method::GET, "/"), "x-target", "t.example");
    let ctx = go(json!({ "rename": { "headers": ["x-target:host"] } }), ctx);
    assert_eq!(header(&ctx.headers, "host"), Some("t.example"));
    assert!(ctx.headers.get("x-target").is_none());
    assert!(ctx.scratch.get::<UpstreamHost>().is_some());
}

#[test]
fn header_templates() {
    let mut ctx = req(Method::GET, "/?user=bob&flag&m=1&m=2");
    ctx = with_header_owned(ctx, "x-y", "dash");
    ctx = with_header_owned(ctx, "x-multi", "a");
    ctx = with_header_owned(ctx, "x-multi", "b");
    ctx.uri_captures = vec![("id".into(), "42".into())];
    let ctx = go(
        json!({ "add": { "headers": [
            "x-1:$(headers[\"x-y\"])",
            "x-2:$(headers.x_y)-$(query_params.user)",
            "x-3:id=$(uri_captures.id)",
            "x-4:$(headers.nope or 'default')",
            "x-5:$(query_params.flag)",
            "x-6:$(headers.x_multi)",
            "x-7:$(query_params.m[2])",
            "x-8:[$(headers.nope)]",
            "x-9:$(headers.nope)",
        ] } }),
        ctx,
    );
    // an empty rendered value adds nothing (nginx's set_header)
    assert!(ctx.headers.get("x-9").is_none());
    assert_eq!(header(&ctx.headers, "x-1"), Some("dash"));
    assert_eq!(header(&ctx.headers, "x-2"), Some("dash-bob"));
    assert_eq!(header(&ctx.headers, "x-3"), Some("id=42"));
    assert_eq!(header(&ctx.headers, "x-4"), Some("default"));
    assert_eq!(header(&ctx.headers, "x-5"), Some("true"));
    assert_eq!(header(&ctx.headers, "x-6"), Some("a, b"));
    assert_eq!(header(&ctx.headers, "x-7"), Some("2"));
    assert_eq!(header(&ctx.headers, "x-8"), Some("[]"));
}

#[test]
fn invalid_header_values_from_templates_are_skipped() {
    let ctx = with_header_owned(req(Method::GET, "/?v=a%0D%0Ab&ok=fine"), "x-keep", "old");
    let ctx = go(
        json!({
            "add": { "headers": ["x-bad:$(query_params.v)", "x-good:$(query_params.ok)"] },
            "replace": { "headers": ["x-keep:$(query_params.v)", "x-empty:$(query_params.none)"] },
        }),
        with_header_owned(ctx, "x-empty", "was-set"),
    );
    // replaced by an empty value: deleted
    assert!(ctx.headers.get("x-empty").is_none());
    assert!(ctx.headers.get("x-bad").is_none());
    assert_eq!(header(&ctx.headers, "x-good"), Some("fine"));
    assert_eq!(header(&ctx.headers, "x-keep"), Some("old"));
}

#[test]
fn querystring_operations() {
    let ctx = go(
        json!({
            "remove": { "querystring": ["a", "absent"] },
            "rename": { "querystring": ["b:bb", "missing:x"] },
            "replace": { "querystring": ["c:cc", "nope:x"] },
            "add": { "querystring": ["d:no", "e:5 6"] },
            "append": { "querystring": ["flag:v", "z:1", "n:new"] },
        }),
        req(Method::GET, "/p?z=0&a=1&b=2&c=3&d=4&flag"),
    );
    assert_eq!(
        ctx.query.as_deref(),
        Some("bb=2&c=cc&d=4&e=5%206&flag=v&n=new&z=0&z=1")
    );
}

#[test]
fn querystring_is_reencoded_sorted_whenever_configured() {
    let ctx = go(
        json!({ "remove": { "querystring": ["absent"] } }),
        req(Method::GET, "/p?b=%20x+y&a=1&a&c=%2F"),
    );
    assert_eq!(ctx.query.as_deref(), Some("a=1&a&b=%20x%20y&c=%2F"));
    // nothing configured for the query: untouched
    let ctx = go(
        json!({ "add": { "headers": ["x:1"] } }),
        req(Method::GET, "/p?b=%20x+y&a=1"),
    );
    assert_eq!(ctx.query.as_deref(), Some("b=%20x+y&a=1"));
    // everything removed: an empty query
    let ctx = go(
        json!({ "remove": { "querystring": ["a"] } }),
        req(Method::GET, "/p?a=1"),
    );
    assert_eq!(ctx.query.as_deref(), Some(""));
}

#[test]
fn json_body_operations() {
    let raw = br#"{"remove":1,"old":"o","rep":"r","keep":true,"f":false,"s":"x","arr":[1],"num":5,"obj":{"k":1}}"#;
    let ctx = go(
        json!({
            "remove": { "body": ["remove", "absent"] },
            "rename": { "body": ["old:new", "missing:x"] },
            "replace": { "body": ["rep:R", "missing:M", "f:F"] },
            "add": { "body": ["keep:no", "f:added", "added:A"] },
            "append": { "body": ["s:y", "arr:2", "num:6", "fresh:z", "obj:v"] },
        }),
        with_body(
            req(Method::POST, "/"),
            "application/json; charset=utf-8",
            raw,
        ),
    );
    let expected = r#"{"rep":"R","keep":true,"f":"added","s":["x","y"],"arr":[1,"2"],"num":["6"],"obj":{"k":1,"1":"v"},"new":"o","added":"A","fresh":["z"]}"#;
    assert_eq!(body(&ctx), expected);
    assert_eq!(content_length(&ctx), expected.len());
}

#[test]
fn json_body_edge_cases() {
    // an empty body: add/append create one, remove/rename/replace do nothing
    let cfg = json!({ "remove": { "body": ["a"] }, "add": { "body": ["a:1"] }, "append": { "body": ["l:x"] } });
    let ctx = go(
        cfg.clone(),
        with_body(req(Method::POST, "/"), "application/json", b""),
    );
    assert_eq!(body(&ctx), r#"{"a":"1","l":["x"]}"#);
    assert_eq!(content_length(&ctx), 19);
    let ctx = go(
        json!({ "remove": { "body": ["a"] } }),
        with_body(req(Method::POST, "/"), "application/json", b""),
    );
    assert_eq!(body(&ctx), "");
    // invalid JSON, arrays and scalars are left alone
    for raw in [&b"{bad"[..], b"[1,2]", b"\"str\"", b"12", b"\xff\xfe"] {
        let ctx = go(
            cfg.clone(),
            with_body(req(Method::POST, "/"), "application/json", raw),
        );
        assert_eq!(ctx.body.as_deref(), Some(raw));
        assert_eq!(content_length(&ctx), raw.len());
    }
    // an empty object with append becomes an array under Lua's rules
    let ctx = go(
        json!({ "append": { "body": ["o:v"] } }),
        with_body(req(Method::POST, "/"), "application/json", br#"{"o":{}}"#),
    );
    assert_eq!(body(&ctx), r#"{"o":["v"]}"#);
    // JSON is recognised by substring, as Kong does
    let ctx = go(
        json!({ "add": { "body": ["a:1"] } }),
        with_body(req(Method::POST, "/"), "application/json-seq", b"{}"),
    );
    assert_eq!(body(&ctx), r#"{"a":"1"}"#);
    // other types are not touched
    let ctx = go(
        json!({ "add": { "body": ["a:1"] } }),
        with_body(req(Method::POST, "/"), "text/plain", b"{}"),
    );
    assert_eq!(body(&ctx), "{}");
}

#[test]
fn form_body_operations() {
    let ctx = go(
        json!({
            "remove": { "body": ["a"] },
            "rename": { "body": ["old:new"] },
            "replace": { "body": ["rep:R", "missing:x"] },
            "add": { "body": ["keep:no", "added:A b"] },
            "append": { "body": ["s:y", "flag:v", "fresh:z"] },
        }),
        with_body(
            req(Method::POST, "/"),
            "application/x-www-form-urlencoded",
            b"a=1&old=o&rep=r&keep=k&s=x&flag",
        ),
    );
    let expected = "rep=R&keep=k&s=x&s=y&flag=v&new=o&added=A%20b&fresh=z";
    assert_eq!(body(&ctx), expected);
    assert_eq!(content_length(&ctx), expected.len());
    // empty body: only add/append apply
    let ctx = go(
        json!({ "remove": { "body": ["a"] }, "add": { "body": ["a:1"] } }),
        with_body(
            req(Method::POST, "/"),
            "application/x-www-form-urlencoded",
            b"",
        ),
    );
    assert_eq!(body(&ctx), "a=1");
}

#[test]
fn multipart_body_operations() {
    let raw = b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--B\r\nContent-Disposition: form-data; name=\"old\"; filename=\"f.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n\x00\xffbin\r\n--B\r\nContent-Disposition: form-data; name=\"rep\"\r\n\r\nr\r\n--B\r\nContent-Disposition: form-data; name=\"keep\"\r\n\r\nk\r\n--B--\r\n";
    let ctx = go(
        json!({
            "remove": { "body": ["a"] },
            "rename": { "body": ["old:new"] },
            "replace": { "body": ["rep:R"] },
            "add": { "body": ["keep:no", "added:A"] },
            "append": { "body": ["keep:ignored"] },
        }),
        with_body(
            req(Method::POST, "/"),
            "multipart/form-data; boundary=B",
            raw,
        ),
    );
    let expected: &[u8] = b"--B\r\nContent-Disposition: form-data; name=\"keep\"\r\n\r\nk\r\n--B\r\nContent-Disposition: form-data; name=\"new\"\r\n\r\n\x00\xffbin\r\n--B\r\nContent-Disposition: form-data; name=\"rep\"\r\n\r\nR\r\n--B\r\nContent-Disposition: form-data; name=\"added\"\r\n\r\nA\r\n--B--\r\n";
    assert_eq!(ctx.body.as_deref(), Some(expected));
    assert_eq!(content_length(&ctx), expected.len());
    // without a boundary the body is left alone
    let ctx = go(
        json!({ "add": { "body": ["added:A"] } }),
        with_body(req(Method::POST, "/"), "multipart/form-data", b"x"),
    );
    assert_eq!(body(&ctx), "x");
}

#[test]
fn method_change_moves_form_fields_to_query() {
    let ctx = go(
        json!({ "http_method": "GET" }),
        with_body(
            req(Method::POST, "/p?a=0&z=9"),
            "application/x-www-form-urlencoded",
            b"a=1&b=two%20words&flag",
        ),
    );
    assert_eq!(ctx.method, Method::GET);
    assert_eq!(ctx.query.as_deref(), Some("a=0&a=1&b=two%20words&flag&z=9"));
    assert_eq!(body(&ctx), "a=1&b=two%20words&flag");
    // other methods, or other bodies: only the method changes
    let ctx = go(
        json!({ "http_method": "PUT" }),
        with_body(
            req(Method::POST, "/p?a=0"),
            "application/x-www-form-urlencoded",
            b"a=1",
        ),
    );
    assert_eq!(
        (ctx.method.as_str(), ctx.query.as_deref()),
        ("PUT", Some("a=0"))
    );
    let ctx = go(
        json!({ "http_method": "HEAD" }),
        with_body(
            req(Method::POST, "/p?a=0"),
            "application/json",
            br#"{"a":1}"#,
        ),
    );
    assert_eq!(
        (ctx.method.as_str(), ctx.query.as_deref()),
        ("HEAD", Some("a=0"))
    );
    let ctx = go(json!({ "http_method": "DELETE" }), req(Method::GET, "/"));
    assert_eq!(ctx.method, Method::DELETE);
}

#[test]
fn request_body_is_needed_only_when_used() {
    let json_req = with_body(req(Method::POST, "/"), "application/json", b"{}");
    let text_req = with_body(req(Method::POST, "/"), "text/plain", b"x");
    let form_req = with_body(
        req(Method::POST, "/"),
        "application/x-www-form-urlencoded",
        b"a=1",
    );
    let body_op = json!({ "add": { "body": ["a:1"] } });
    assert!(needs_body(body_op.clone(), &json_req));
    assert!(needs_body(body_op.clone(), &form_req));
    assert!(!needs_body(body_op, &text_req));
    assert!(!needs_body(
        json!({ "add": { "headers": ["a:1"], "querystring": ["q:1"] } }),
        &json_req
    ));
    // a header operation may turn the body into JSON before the body operations
    assert!(needs_body(
        json!({ "replace": { "headers": ["Content-Type:application/json"] }, "add": { "body": ["a:1"] } }),
        &text_req
    ));
    assert!(needs_body(
        json!({ "rename": { "headers": ["x-ct:content-type"] }, "add": { "body": ["a:1"] } }),
        &text_req
    ));
    assert!(needs_body(json!({ "http_method": "GET" }), &form_req));
    assert!(!needs_body(json!({ "http_method": "GET" }), &json_req));
    assert!(!needs_body(json!({ "http_method": "POST" }), &form_req));
}

#[test]
fn replace_uri_with_template() {
    let mut ctx = req(Method::GET, "/users/42?x=1");
    ctx.uri_captures = vec![("id".into(), "42".into())];
    let ctx = go(
        json!({ "replace": { "uri": "/v2/user/$(uri_captures.id)/a b/é" } }),
        ctx,
    );
    assert_eq!(
        ctx.upstream_path.as_deref(),
        Some("/v2/user/42/a%20b/%C3%A9")
    );
    assert_eq!(ctx.query.as_deref(), Some("x=1"));
    // a rendered path that does not start with '/' is Kong's set_path error
    let mut ctx = req(Method::GET, "/");
    let d = run_access(
        &set(json!({ "replace": { "uri": "$(headers.missing)" } })),
        &mut ctx,
    );
    assert_error(d, 500, "An unexpected error occurred");
}

#[test]
fn order_of_operations() {
    // headers run before the body: a replaced Content-Type decides the body type
    let ctx = go(
        json!({
            "replace": { "headers": ["content-type:application/json"] },
            "add": { "body": ["b:2"] },
        }),
        with_body(req(Method::POST, "/"), "text/plain", br#"{"a":1}"#),
    );
    assert_eq!(body(&ctx), r#"{"a":1,"b":"2"}"#);

    // the body runs before the query string: a query template loading the
    // headers after the body changed sees the new Content-Length
    let ctx = go(
        json!({
            "add": { "body": ["a:1"], "querystring": ["cl:$(headers.content_length)"] },
        }),
        with_body(req(Method::POST, "/"), "application/json", b"{}"),
    );
    assert_eq!(body(&ctx), r#"{"a":"1"}"#);
    assert_eq!(ctx.query.as_deref(), Some("cl=9"));

    // templates read the query as loaded at first use, before the query operations
    let ctx = go(
        json!({
            "add": { "body": ["q:$(query_params.q)"] },
            "replace": { "querystring": ["q:new"] },
        }),
        with_body(req(Method::POST, "/?q=old"), "application/json", b"{}"),
    );
    assert_eq!(body(&ctx), r#"{"q":"old"}"#);
    assert_eq!(ctx.query.as_deref(), Some("q=new"));

    // the method change runs before headers: templates see the moved fields
    let ctx = go(
        json!({ "http_method": "GET", "add": { "headers": ["x-a:$(query_params.a)"] } }),
        with_body(
            req(Method::POST, "/"),
            "application/x-www-form-urlencoded",
            b"a=from-body",
        ),
    );
    assert_eq!(header(&ctx.headers, "x-a"), Some("from-body"));

    // templates read the environment loaded at first use (Kong's lazy table):
    // here replace.uri loads query_params before the method change, so the
    // query-string operations start from that earlier query
    let ctx = go(
        json!({
            "http_method": "GET",
            "replace": { "uri": "/p$(query_params.none)" },
            "add": { "querystring": ["x:1"] },
        }),
        with_body(
            req(Method::POST, "/"),
            "application/x-www-form-urlencoded",
            b"b=2",
        ),
    );
    assert_eq!(ctx.query.as_deref(), Some("x=1"));

    // header templates see the headers as they were before the header operations
    let ctx = with_header_owned(req(Method::GET, "/"), "x-a", "orig");
    let ctx = go(
        json!({
            "replace": { "headers": ["x-a:changed"] },
            "add": { "headers": ["x-copy:$(headers.x_a)"] },
        }),
        ctx,
    );
    assert_eq!(header(&ctx.headers, "x-a"), Some("changed"));
    assert_eq!(header(&ctx.headers, "x-copy"), Some("orig"));
}

#[test]
fn rename_targets_and_values_can_be_templates() {
    let ctx = go(
        json!({
            "rename": { "querystring": ["a:$(headers.x_to)"] },
            "append": { "querystring": ["b:$(headers.x_to)!"] },
        }),
        with_header_owned(req(Method::GET, "/?a=1"), "x-to", "target"),
    );
    assert_eq!(ctx.query.as_deref(), Some("b=target!&target=1"));
}

#[test]
fn big_and_hostile_bodies_never_panic() {
    // 4 MiB JSON object
    let mut raw = String::from("{\"items\":[");
    for i in 0..200_000 {
        if i > 0 {
            raw.push(',');
        }
        raw.push_str("\"0123456789ab\"");
    }
    raw.push_str("]}");
    assert!(raw.len() > 3_000_000);
    let ctx = go(
        json!({ "add": { "body": ["added:yes"] } }),
        with_body(req(Method::POST, "/"), "application/json", raw.as_bytes()),
    );
    assert!(body(&ctx).ends_with(r#","added":"yes"}"#));
    assert_eq!(content_length(&ctx), raw.len() + r#","added":"yes""#.len());

    // deep nesting beyond the JSON parser's limit: left alone
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep = format!("{{\"d\":{deep}}}");
    let ctx = go(
        json!({ "add": { "body": ["x:1"] } }),
        with_body(req(Method::POST, "/"), "application/json", deep.as_bytes()),
    );
    assert_eq!(ctx.body.as_deref(), Some(deep.as_bytes()));

    // binary form bodies and garbage multipart
    let cfg = json!({ "rename": { "body": ["a:b"] }, "add": { "body": ["c:d"] }, "remove": { "body": ["x"] } });
    let ctx = go(
        cfg.clone(),
        with_body(
            req(Method::POST, "/"),
            "application/x-www-form-urlencoded",
            b"a=%ff%00&&=&%zz=1&x",
        ),
    );
    assert_eq!(body(&ctx), "%25zz=1&b=%FF%00&c=d");
    for raw in [
        &b"--B"[..],
        b"--B\r\n\r\n",
        b"\xff--B--",
        b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n",
    ] {
        let mut ctx = with_body(
            req(Method::POST, "/"),
            "multipart/form-data; boundary=B",
            raw,
        );
        assert!(run_access(&set(cfg.clone()), &mut ctx).is_continue());
    }
}

#[test]
fn bad_json_never_breaks_other_operations() {
    let ctx = go(
        json!({ "add": { "body": ["a:1"], "headers": ["x-h:1"], "querystring": ["q:1"] } }),
        with_body(req(Method::POST, "/"), "application/json", b"{not json"),
    );
    assert_eq!(body(&ctx), "{not json");
    assert_eq!(header(&ctx.headers, "x-h"), Some("1"));
    assert_eq!(ctx.query.as_deref(), Some("q=1"));
}

#[test]
fn decisions_are_continue_without_config() {
    let mut ctx = req(Method::GET, "/a?b=1");
    let d = run_access(&set(json!({})), &mut ctx);
    assert!(matches!(d, Decision::Continue));
    assert_eq!(ctx.query.as_deref(), Some("b=1"));
    assert!(ctx.upstream_path.is_none());
}

#[test]
fn entries_split_like_kongs_pattern() {
    assert_eq!(kong_pair("a:b"), Some(("a", "b")));
    assert_eq!(kong_pair("a::b:c"), Some(("a", "b:c")));
    assert_eq!(kong_pair("a:"), Some(("a", "")));
    assert_eq!(kong_pair("a"), Some(("a", "")));
    assert_eq!(kong_pair(":a"), None);
    assert_eq!(kong_pair(""), None);
    // in use: extra colons are skipped, an empty header value does nothing
    let ctx = go(
        json!({ "add": { "headers": ["x-a::v:w", "x-empty:"], "querystring": ["q::1"] } }),
        req(Method::GET, "/"),
    );
    assert_eq!(header(&ctx.headers, "x-a"), Some("v:w"));
    assert!(ctx.headers.get("x-empty").is_none());
    assert_eq!(ctx.query.as_deref(), Some("q=1"));
}
