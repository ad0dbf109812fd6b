//! Accept/reject tests for the services and routes schemas, asserting Kong's
//! exact messages.
#![allow(clippy::unwrap_used, clippy::panic)]

use serde_json::{Value, json};

use super::bundled;

pub(super) fn ok(entity: &str, v: Value) -> Value {
    match bundled().validate(entity, &v) {
        Ok(v) => v,
        Err(e) => panic!("{entity} {v} rejected: {}", e.message),
    }
}

pub(super) fn fields(entity: &str, v: Value) -> Value {
    match bundled().validate(entity, &v) {
        Ok(out) => panic!("{entity} {v} accepted: {out}"),
        Err(e) => serde_json::to_value(e.fields).unwrap(),
    }
}

pub(super) fn message(entity: &str, v: Value) -> String {
    bundled()
        .validate(entity, &v)
        .map(|_| String::new())
        .unwrap_or_else(|e| e.message)
}

#[test]
fn service_url_shorthand_fills_kong_fields() {
    let s = ok(
        "services",
        json!({"name": "s1", "url": "http://httpbin.org/anything"}),
    );
    for (k, v) in [
        ("protocol", json!("http")),
        ("host", json!("httpbin.org")),
        ("port", json!(80)),
        ("path", json!("/anything")),
        ("retries", json!(5)),
        ("connect_timeout", json!(60000)),
        ("tags", Value::Null),
        ("tls_verify_depth", Value::Null),
        ("enabled", json!(true)),
    ] {
        assert_eq!(s[k], v, "{k}");
    }
    assert!(s.get("url").is_none());
    let keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 18);
    assert_eq!(
        ok("services", json!({"url": "https://example.com"}))["port"],
        json!(443)
    );
    // LuaSocket reads "example.com" as the scheme of "example.com:443", as Kong does
    assert_eq!(
        message("services", json!({"url": "example.com:443"})),
        "3 schema violations (host: required field missing; path: should start with: /; \
         protocol: expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp)"
    );
}

#[test]
fn service_url_must_be_a_string() {
    assert_eq!(
        fields("services", json!({"url": 1})),
        json!({"url": "expected a string"})
    );
}

#[test]
fn service_host_rules() {
    assert_eq!(
        fields("services", json!({})),
        json!({"host": "required field missing"})
    );
    assert_eq!(
        fields("services", json!({"host": "example.com:80"})),
        json!({"host": "must not have a port"})
    );
    assert_eq!(
        fields("services", json!({"host": "ex ample"})),
        json!({"host": "invalid value: ex ample"})
    );
    ok("services", json!({"host": "10.0.0.1"}));
    ok("services", json!({"host": "::1"}));
}

#[test]
fn service_port_and_types() {
    assert_eq!(
        message("services", json!({"host": "a", "port": 70000})),
        "schema violation (port: value should be between 0 and 65535)"
    );
    assert_eq!(
        fields("services", json!({"host": "a", "port": "80"})),
        json!({"port": "expected an integer"})
    );
    assert_eq!(
        fields("services", json!({"host": "a", "port": 80.5})),
        json!({"port": "expected an integer"})
    );
    assert_eq!(
        ok("services", json!({"host": "a", "port": 8080.0}))["port"],
        json!(8080)
    );
    assert_eq!(
        fields("services", json!({"host": "a", "retries": 40000})),
        json!({"retries": "value should be between 0 and 32767"})
    );
    assert_eq!(
        fields("services", json!({"host": "a", "read_timeout": 0})),
        json!({"read_timeout": "value should be between 1 and 2147483646"})
    );
    assert_eq!(
        fields("services", json!({"host": "a", "enabled": "yes"})),
        json!({"enabled": "expected a boolean"})
    );
}

#[test]
fn service_unknown_field_and_protocol() {
    assert_eq!(
        fields("services", json!({"host": "a", "foo": 1})),
        json!({"foo": "unknown field"})
    );
    assert_eq!(
        fields("services", json!({"host": "a", "protocol": "ftp"})),
        json!({"protocol": "expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp"})
    );
}

#[test]
fn service_path_rules() {
    assert_eq!(
        fields("services", json!({"host": "a", "path": "x"})),
        json!({"path": "should start with: /"})
    );
    assert_eq!(
        fields("services", json!({"host": "a", "path": "/a//b"})),
        json!({"path": "must not have empty segments"})
    );
    assert_eq!(
        fields("services", json!({"host": "a", "path": "/a b"})),
        json!({"path": "invalid path: '/a b' (characters outside of the reserved list of RFC 3986 found)"})
    );
    assert_eq!(
        fields("services", json!({"host": "a", "path": "/a%zz"})),
        json!({"path": "invalid url-encoded value: '%zz'"})
    );
    ok("services", json!({"host": "a", "path": "/a%20b/c:d@e"}));
}

#[test]
fn service_protocol_conditionals() {
    assert_eq!(
        message(
            "services",
            json!({"host": "a", "protocol": "tcp", "path": "/x"})
        ),
        "2 schema violations (failed conditional validation given value of field 'protocol'; path: value must be null)"
    );
    assert_eq!(
        fields("services", json!({"host": "a", "tls_verify": true})),
        json!({"@entity": ["failed conditional validation given value of field 'protocol'"],
               "tls_verify": "value must be null"})
    );
    ok(
        "services",
        json!({"host": "a", "protocol": "https", "tls_verify": true, "tls_verify_depth": 3}),
    );
    assert_eq!(
        fields(
            "services",
            json!({"host": "a", "protocol": "https", "ca_certificates": ["x"]})
        ),
        json!({"ca_certificates": ["expected a valid UUID"]})
    );
}

#[test]
fn service_name_and_tags() {
    assert_eq!(
        fields("services", json!({"host": "a", "name": "a b"})),
        json!({"name": "invalid value 'a b': the only accepted ascii characters are alphanumerics or ., -, _, and ~"})
    );
    ok("services", json!({"host": "a", "name": "café-1.0_~"}));
    assert_eq!(
        fields("services", json!({"host": "a", "tags": ["ok", "a,b"]})),
        json!({"tags": [null, "invalid tag 'a,b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"]})
    );
    assert_eq!(
        ok("services", json!({"host": "a", "tags": ["x", "y", "x"]}))["tags"],
        json!(["x", "y"])
    );
    assert_eq!(
        fields("services", json!({"host": "a", "name": ""})),
        json!({"name": "length must be at least 1"})
    );
}

#[test]
fn route_defaults_match_kong() {
    let r = ok("routes", json!({"paths": ["/x"]}));
    let expected = json!({"name": null, "protocols": ["http", "https"], "methods": null, "hosts": null,
        "paths": ["/x"], "headers": null, "snis": null, "sources": null, "destinations": null,
        "https_redirect_status_code": 426, "regex_priority": 0, "strip_path": true, "path_handling": "v0",
        "preserve_host": false, "request_buffering": true, "response_buffering": true, "tags": null,
        "service": null});
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(&r[k], v, "{k}");
    }
    assert_eq!(r.as_object().unwrap().len(), 21);
}

#[test]
fn route_needs_a_matching_field() {
    assert_eq!(
        message("routes", json!({"protocols": ["https"]})),
        "schema violation (must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https')"
    );
    assert_eq!(
        fields("routes", json!({"protocols": ["http"]})),
        json!({"@entity": ["must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"]})
    );
    ok(
        "routes",
        json!({"protocols": ["https"], "snis": ["example.com"]}),
    );
}

#[test]
fn route_paths() {
    assert_eq!(
        fields("routes", json!({"paths": ["/a/../b"]})),
        json!({"paths": ["non-normalized path, consider use '/b' instead"]})
    );
    assert_eq!(
        fields("routes", json!({"paths": ["/ok", "x"]})),
        json!({"paths": [null, "should start with: / (fixed path) or ~/ (regex path)"]})
    );
    assert_eq!(
        fields("routes", json!({"paths": ["/a//b"]})),
        json!({"paths": ["must not have empty segments"]})
    );
    let f = fields("routes", json!({"paths": ["~/users/(\\d+"]}));
    let m = f["paths"][0].as_str().unwrap();
    assert!(
        m.starts_with("invalid regex: '/users/(\\d+' (PCRE returned: "),
        "{m}"
    );
    ok(
        "routes",
        json!({"paths": ["~/users/(?<id>\\d+)$", "/v1%2Fx"]}),
    );
    assert_eq!(
        fields("routes", json!({"paths": ["/a%zz"]})),
        json!({"paths": ["invalid url-encoded value: '%zz'"]})
    );
}

#[test]
fn route_methods_hosts_headers() {
    assert_eq!(
        fields("routes", json!({"methods": ["get"]})),
        json!({"methods": ["invalid value: get"]})
    );
    assert_eq!(
        fields("routes", json!({"hosts": ["*.a.*"]})),
        json!({"hosts": ["invalid wildcard: must have at most one wildcard"]})
    );
    assert_eq!(
        fields("routes", json!({"hosts": ["a.*b.c"]})),
        json!({"hosts": ["invalid wildcard: must be placed at leftmost or rightmost label"]})
    );
    assert_eq!(
        fields("routes", json!({"hosts": ["a b"]})),
        json!({"hosts": ["invalid hostname: a b"]})
    );
    ok(
        "routes",
        json!({"hosts": ["*.example.com", "example.*", "example.com:8080"]}),
    );
    assert_eq!(
        fields("routes", json!({"headers": {"Host": ["a"]}})),
        json!({"headers": "cannot contain 'host' header, which must be specified in the 'hosts' attribute"})
    );
    assert_eq!(
        fields("routes", json!({"headers": {"x-a b": ["a"]}})),
        json!({"headers": "bad header name 'x-a b', allowed characters are A-Z, a-z, 0-9, '_', and '-'"})
    );
    ok("routes", json!({"headers": {"x-version": ["1", "2"]}}));
}

#[test]
fn route_protocol_rules() {
    assert_eq!(
        fields(
            "routes",
            json!({"protocols": ["http"], "paths": ["/"], "snis": ["a.com"]})
        ),
        json!({"@entity": ["'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'"],
               "snis": "length must be 0"})
    );
    assert_eq!(
        fields(
            "routes",
            json!({"protocols": ["http", "tcp"], "paths": ["/"]})
        ),
        json!({"protocols": "these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp')"})
    );
    assert_eq!(
        fields("routes", json!({"protocols": ["foo"]})),
        json!({"protocols": "unknown type: foo"})
    );
    assert_eq!(
        fields("routes", json!({"protocols": []})),
        json!({"protocols": "unknown type: nil"})
    );
    assert_eq!(
        fields(
            "routes",
            json!({"paths": ["/"], "https_redirect_status_code": 300})
        ),
        json!({"https_redirect_status_code": "expected one of: 426, 301, 302, 307, 308"})
    );
    assert_eq!(
        fields(
            "routes",
            json!({"paths": ["/"], "sources": [{"ip": "10.0.0.1"}]})
        ),
        json!({"sources": "cannot set 'sources' when 'protocols' is 'http' or 'https'"})
    );
}

#[test]
fn route_stream_and_grpc_subschemas() {
    assert_eq!(
        fields("routes", json!({"protocols": ["tcp"]})),
        json!({"@entity": ["must set one of 'sources', 'destinations', 'snis' when 'protocols' is 'tcp', 'tls' or 'udp'"]})
    );
    assert_eq!(
        fields(
            "routes",
            json!({"protocols": ["tcp"], "sources": [{"ip": "10.0.0.0/8"}], "paths": ["/"]})
        ),
        json!({"paths": "cannot set 'paths' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'"})
    );
    assert_eq!(
        fields("routes", json!({"protocols": ["tcp"], "sources": [{}]})),
        json!({"sources": [{"@entity": ["at least one of these fields must be non-empty: 'ip', 'port'"]}]})
    );
    assert_eq!(
        fields(
            "routes",
            json!({"protocols": ["tcp"], "sources": [{"ip": "10.0.0.0/40"}]})
        ),
        json!({"sources": [{"ip": "invalid ip or cidr range: '10.0.0.0/40'"}]})
    );
    assert_eq!(
        fields("routes", json!({"protocols": ["tls_passthrough"]})),
        json!({"@entity": ["must set snis when 'protocols' is 'tls_passthrough'"]})
    );
    let g = ok("routes", json!({"protocols": ["grpc"], "paths": ["/svc"]}));
    assert_eq!(g["strip_path"], json!(false));
    assert_eq!(
        fields(
            "routes",
            json!({"protocols": ["grpc"], "paths": ["/svc"], "strip_path": true})
        ),
        json!({"strip_path": "cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'"})
    );
    assert_eq!(
        fields("routes", json!({"protocols": ["grpcs"]})),
        json!({"@entity": ["must set one of 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'grpcs'"]})
    );
}

#[test]
fn route_snis_and_service_fk() {
    assert_eq!(
        fields(
            "routes",
            json!({"protocols": ["https"], "snis": ["a.*.com"]})
        ),
        json!({"snis": ["wildcard must be leftmost or rightmost character"]})
    );
    assert_eq!(
        fields(
            "routes",
            json!({"protocols": ["https"], "snis": ["10.0.0.1"]})
        ),
        json!({"snis": ["must not be an IP"]})
    );
    assert_eq!(
        fields("routes", json!({"paths": ["/"], "service": {"id": "nope"}})),
        json!({"service": {"id": "expected a valid UUID"}})
    );
    assert_eq!(
        fields("routes", json!({"paths": ["/"], "service": "svc"})),
        json!({"service": {"id": "missing primary key"}})
    );
    let r = ok(
        "routes",
        json!({"paths": ["/"], "service": {"id": "a4fbd24e-6a52-4937-bd78-2536713072d2"}}),
    );
    assert_eq!(
        r["service"]["id"],
        json!("a4fbd24e-6a52-4937-bd78-2536713072d2")
    );
}
