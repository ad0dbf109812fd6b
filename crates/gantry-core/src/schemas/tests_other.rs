//! Accept/reject tests for upstreams, targets, consumers, plugins, TLS
//! entities and credentials, plus schema rendering and a no-panic property.
#![allow(clippy::unwrap_used, clippy::panic)]

use proptest::prelude::*;
use serde_json::{Value, json};

use super::bundled;
use super::tests_http::{fields, message, ok};

const UP: &str = "a4fbd24e-6a52-4937-bd78-2536713072d2";

#[test]
fn upstream_defaults_and_healthchecks() {
    let u = ok("upstreams", json!({"name": "u1"}));
    assert_eq!(u["algorithm"], json!("round-robin"));
    assert_eq!(u["hash_on"], json!("none"));
    assert_eq!(u["slots"], json!(10000));
    assert_eq!(u["hash_on_cookie_path"], json!("/"));
    let hc = &u["healthchecks"];
    assert_eq!(hc["threshold"], json!(0));
    assert_eq!(hc["active"]["type"], json!("http"));
    assert_eq!(hc["active"]["https_sni"], Value::Null);
    assert_eq!(
        hc["active"]["unhealthy"]["http_statuses"],
        json!([429, 404, 500, 501, 502, 503, 504, 505])
    );
    assert_eq!(
        hc["passive"]["unhealthy"]["http_statuses"],
        json!([429, 500, 503])
    );
    assert_eq!(
        hc["passive"]["healthy"]["http_statuses"]
            .as_array()
            .unwrap()
            .len(),
        19
    );
    // partial records get the remaining defaults
    let u = ok(
        "upstreams",
        json!({"name": "u1", "healthchecks": {"active": {"timeout": 5}}}),
    );
    assert_eq!(u["healthchecks"]["active"]["timeout"], json!(5));
    assert_eq!(u["healthchecks"]["active"]["concurrency"], json!(10));
    assert_eq!(u["healthchecks"]["passive"]["type"], json!("http"));
}

#[test]
fn upstream_healthcheck_errors_nest() {
    assert_eq!(
        fields(
            "upstreams",
            json!({"name": "u1", "healthchecks": {"active": {"timeout": 70000}}})
        ),
        json!({"healthchecks": {"active": {"timeout": "value should be between 0 and 65535"}}})
    );
    assert_eq!(
        message(
            "upstreams",
            json!({"name": "u1", "healthchecks": {"active": {"timeout": 70000}}})
        ),
        "schema violation (healthchecks.active: {\n  timeout = \"value should be between 0 and 65535\"\n})"
    );
    assert_eq!(
        fields(
            "upstreams",
            json!({"name": "u1", "healthchecks": {"passive": {"unhealthy": {"timeouts": 256}}}})
        ),
        json!({"healthchecks": {"passive": {"unhealthy": {"timeouts": "value should be between 0 and 255"}}}})
    );
    assert_eq!(
        fields(
            "upstreams",
            json!({"name": "u1", "healthchecks": {"active": {"healthy": {"http_statuses": [99]}}}})
        ),
        json!({"healthchecks": {"active": {"healthy": {"http_statuses": ["value should be between 100 and 999"]}}}})
    );
}

#[test]
fn upstream_name_rules() {
    assert_eq!(
        fields("upstreams", json!({"name": "a b"})),
        json!({"name": "Invalid name ('a b'); must be a valid hostname"})
    );
    assert_eq!(
        fields("upstreams", json!({"name": "10.0.0.1"})),
        json!({"name": "Invalid name ('10.0.0.1'); no ip addresses allowed"})
    );
    assert_eq!(
        fields("upstreams", json!({"name": "up:80"})),
        json!({"name": "Invalid name ('up:80'); no port allowed"})
    );
    assert_eq!(
        fields("upstreams", json!({})),
        json!({"name": "required field missing"})
    );
    assert_eq!(
        fields("upstreams", json!({"name": "u", "slots": 5})),
        json!({"slots": "value should be between 10 and 65536"})
    );
}

#[test]
fn upstream_hash_shorthands() {
    let u = ok(
        "upstreams",
        json!({"name": "u", "algorithm": "round-robin", "hash_on": "ip"}),
    );
    assert_eq!(
        (u["algorithm"].clone(), u["hash_on"].clone()),
        (json!("consistent-hashing"), json!("ip"))
    );
    let u = ok(
        "upstreams",
        json!({"name": "u", "algorithm": "least-connections", "hash_on": "ip"}),
    );
    assert_eq!(
        (u["algorithm"].clone(), u["hash_on"].clone()),
        (json!("least-connections"), json!("none"))
    );
    let u = ok("upstreams", json!({"name": "u", "algorithm": "latency"}));
    assert_eq!(u["hash_on"], json!("none"));
    let u = ok(
        "upstreams",
        json!({"name": "u", "algorithm": "consistent-hashing", "hash_on": "none"}),
    );
    assert_eq!(u["algorithm"], json!("round-robin"));
    assert_eq!(
        fields("upstreams", json!({"name": "u", "algorithm": 1})),
        json!({"algorithm": "expected a string"})
    );
    assert_eq!(
        fields("upstreams", json!({"name": "u", "algorithm": "fastest"})),
        json!({"algorithm": "expected one of: consistent-hashing, least-connections, round-robin, latency"})
    );
}

#[test]
fn upstream_hash_conditionals() {
    assert_eq!(
        fields("upstreams", json!({"name": "u", "hash_on": "header"})),
        json!({"@entity": ["failed conditional validation given value of field 'hash_on'"],
               "hash_on_header": "required field missing"})
    );
    ok(
        "upstreams",
        json!({"name": "u", "hash_on": "header", "hash_on_header": "x-user"}),
    );
    assert_eq!(
        fields("upstreams", json!({"name": "u", "hash_fallback": "ip"})),
        json!({"@entity": ["failed conditional validation given value of field 'hash_on'"],
               "hash_fallback": "expected one of: none"})
    );
    assert_eq!(
        fields(
            "upstreams",
            json!({"name": "u", "hash_on": "ip", "hash_fallback": "ip"})
        ),
        json!({"@entity": ["failed conditional validation given value of field 'hash_on'"],
               "hash_fallback": "expected one of: none, consumer, header, cookie, path, query_arg, uri_capture"})
    );
    assert_eq!(
        fields(
            "upstreams",
            json!({"name": "u", "hash_on": "header", "hash_on_header": "a",
                                     "hash_fallback": "header", "hash_fallback_header": "a"})
        ),
        json!({"@entity": ["values of these fields must be distinct: 'hash_on_header', 'hash_fallback_header'"]})
    );
    assert_eq!(
        fields(
            "upstreams",
            json!({"name": "u", "hash_on": "cookie", "hash_on_cookie": "a b"})
        ),
        json!({"@entity": ["failed conditional validation given value of field 'hash_on'"], "hash_on_cookie": "contains one or more invalid characters. ASCII control characters (0-31;127), space, tab and the characters ()<>@,;:\\\"/?={}[] are not allowed."})
    );
    assert_eq!(
        fields("upstreams", json!({"name": "u", "host_header": "a b"})),
        json!({"host_header": "invalid hostname: a b"})
    );
}

#[test]
fn target_rules() {
    let t = ok(
        "targets",
        json!({"target": "10.0.0.1", "upstream": {"id": UP}}),
    );
    assert_eq!(t["target"], json!("10.0.0.1:8000"));
    assert_eq!(t["weight"], json!(100));
    assert!(t["created_at"].is_f64());
    let t = ok(
        "targets",
        json!({"target": "[::1]:81", "upstream": {"id": UP}}),
    );
    assert_eq!(
        t["target"],
        json!("[0000:0000:0000:0000:0000:0000:0000:0001]:81")
    );
    assert_eq!(
        fields("targets", json!({"target": "a b", "upstream": {"id": UP}})),
        json!({"target": "Invalid target ('a b'); not a valid hostname or ip address"})
    );
    assert_eq!(
        fields(
            "targets",
            json!({"target": "a", "upstream": {"id": UP}, "weight": 70000})
        ),
        json!({"weight": "value should be between 0 and 65535"})
    );
    assert_eq!(
        fields("targets", json!({"target": "a"})),
        json!({"upstream": "required field missing"})
    );
}

#[test]
fn consumer_rules() {
    assert_eq!(
        message("consumers", json!({})),
        "schema violation (at least one of these fields must be non-empty: 'custom_id', 'username')"
    );
    ok("consumers", json!({"username": "alice"}));
    ok("consumers", json!({"custom_id": "42"}));
}

#[test]
fn plugin_rules() {
    let p = ok("plugins", json!({"name": "key-auth"}));
    assert_eq!(p["protocols"], json!(["grpc", "grpcs", "http", "https"]));
    assert_eq!(
        (p["enabled"].clone(), p["config"].clone()),
        (json!(true), json!({}))
    );
    assert_eq!(
        fields("plugins", json!({"name": "foo"})),
        json!({"name": "plugin 'foo' not enabled; add it to the 'plugins' configuration property"})
    );
    assert_eq!(
        fields("plugins", json!({})),
        json!({"name": "required field missing"})
    );
    assert_eq!(
        fields(
            "plugins",
            json!({"name": "key-auth", "consumer": {"id": UP}})
        ),
        json!({"consumer": "value must be null"})
    );
    ok(
        "plugins",
        json!({"name": "rate-limiting", "consumer": {"id": UP}, "config": {"minute": 5}}),
    );
    assert_eq!(
        fields("plugins", json!({"name": "key-auth", "protocols": ["tcp"]})),
        json!({"protocols": ["expected one of: grpc, grpcs, http, https"]})
    );
    ok("plugins", json!({"name": "http-log", "protocols": ["tcp"]}));
    assert_eq!(
        ok("plugins", json!({"name": "ip-restriction"}))["protocols"],
        json!(["http", "https", "tcp", "tls", "grpc", "grpcs"])
    );
    assert_eq!(
        fields("plugins", json!({"name": "cors", "config": [1]})),
        json!({"config": "expected a record"})
    );
    assert_eq!(
        fields("plugins", json!({"name": "acme", "service": {"id": UP}})),
        json!({"service": "value must be null"})
    );
}

/// A real self-signed P-256 pair (CN=example.test), and a second one.
const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIBhTCCASugAwIBAgIUCUrljYi2my5vMnonSKsHJEmKx9MwCgYIKoZIzj0EAwIw\nFzEVMBMGA1UEAwwMZXhhbXBsZS50ZXN0MCAXDTI2MTEyMjA2NTY1NFoYDzIxMjYx\nMDI5MDY1NjU0WjAXMRUwEwYDVQQDDAxleGFtcGxlLnRlc3QwWTATBgcqhkjOPQIB\nBggqhkjOPQMBBwNCAAQjx8E38CnDUYbtGQbLvVD2Qtsl0vmNFFDgWMCmQqgTuWnA\nzLm2XVkx1HvI88n2dI9xtWIhc44Q4MjfIN2/OQ/Zo1MwUTAdBgNVHQ4EFgQUNGp4\nqS5YLgg3ju5mY0V+UTF1Yk8wHwYDVR0jBBgwFoAUNGp4qS5YLgg3ju5mY0V+UTF1\nYk8wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEA7mXkU87ib+d2\nu9NLNek0jTEjWxVc88I/usR4kEE2SpgCIHotJokEfMW6tTcX5gzF/ivQPcI+cQ4L\nRWmm2WbddI+x\n-----END CERTIFICATE-----\n";
const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgPINIHvJaE2l/TWdO\n4ohw36l9Vc0Ig23dqmfm7Mt6AOmhRANCAAQjx8E38CnDUYbtGQbLvVD2Qtsl0vmN\nFFDgWMCmQqgTuWnAzLm2XVkx1HvI88n2dI9xtWIhc44Q4MjfIN2/OQ/Z\n-----END PRIVATE KEY-----\n";
const CERT2: &str = "-----BEGIN CERTIFICATE-----\nMIIBgDCCASegAwIBAgIURERT7ySXNhmxRrRFu0nSOp3rpN4wCgYIKoZIzj0EAwIw\nFTETMBEGA1UEAwwKb3RoZXIudGVzdDAgFw0yNjExMjIwNjU2NTRaGA8yMTI2MTAy\nOTA2NTY1NFowFTETMBEGA1UEAwwKb3RoZXIudGVzdDBZMBMGByqGSM49AgEGCCqG\nSM49AwEHA0IABEuvBY+gC6k+zV7PRCZkcEAWeiN6LhOmXK5pFpMayo5EANCjxjw4\ntRuFdZ9VvGS7obrYT8WIwbNQB+qGdE2inUqjUzBRMB0GA1UdDgQWBBRPWCOoYFHE\nar4xwZNlDqDu/4RxSzAfBgNVHSMEGDAWgBRPWCOoYFHEar4xwZNlDqDu/4RxSzAP\nBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIFdr+gcZRruOgRcxR4Xg\nnSCT5IU/oYomdjncPHONcvE3AiAwWyzDZzpqZVRHJBWmjtjvqdX4cS6oCq1NBom3\nMCPZ4A==\n-----END CERTIFICATE-----\n";
const KEY2: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgzuec6EJZdcF9jz0Z\n7MDXQ+PZ9d/Tz2WyrNdWwuGIPC6hRANCAARLrwWPoAupPs1ez0QmZHBAFnojei4T\nplyuaRaTGsqORADQo8Y8OLUbhXWfVbxku6G62E/FiMGzUAfqhnRNop1K\n-----END PRIVATE KEY-----\n";

#[test]
fn certificate_rules() {
    ok("certificates", json!({"cert": CERT, "key": KEY}));
    assert_eq!(
        fields("certificates", json!({"cert": CERT})),
        json!({"key": "required field missing"})
    );
    assert_eq!(
        fields("certificates", json!({"cert": "nope", "key": KEY})),
        json!({"cert": "invalid certificate: x509.new: could not parse PEM certificate"})
    );
    assert_eq!(
        fields(
            "certificates",
            json!({"cert": CERT, "key": KEY, "cert_alt": CERT})
        ),
        json!({"@entity": ["all or none of these fields must be set: 'cert_alt', 'key_alt'"]})
    );
    ok(
        "certificates",
        json!({"cert": "{vault://env/cert}", "key": "{vault://env/key}"}),
    );
    // Kong parses the PEM with OpenSSL: base64 that is not X.509 / not a key is refused,
    // and each certificate must be for its key.
    let garbage_cert =
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n";
    assert_eq!(
        fields("certificates", json!({"cert": garbage_cert, "key": KEY})),
        json!({"cert": "invalid certificate: x509.new: could not parse PEM certificate"})
    );
    let garbage_key =
        "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n";
    assert_eq!(
        fields("certificates", json!({"cert": CERT, "key": garbage_key})),
        json!({"key": "invalid key: pkey.new: could not parse PEM key"})
    );
    assert_eq!(
        fields("certificates", json!({"cert": CERT, "key": KEY2})),
        json!({"@entity": ["certificate does not match key"]})
    );
    assert_eq!(
        fields(
            "certificates",
            json!({"cert": CERT, "key": KEY, "cert_alt": CERT2, "key_alt": KEY})
        ),
        json!({"@entity": ["alternative certificate does not match key"]})
    );
    let two = format!("{CERT}{CERT}");
    assert_eq!(
        fields("ca_certificates", json!({"cert": two})),
        json!({"@entity": ["please submit only one certificate at a time"]})
    );
    ok("ca_certificates", json!({"cert": CERT}));
}

#[test]
fn sni_rules() {
    let c = json!({"id": UP});
    ok("snis", json!({"name": "*.example.com", "certificate": c}));
    ok("snis", json!({"name": "example.*", "certificate": c}));
    ok("snis", json!({"name": "*", "certificate": c}));
    assert_eq!(
        fields("snis", json!({"name": "a.*.com", "certificate": c})),
        json!({"name": "wildcard must be leftmost or rightmost character"})
    );
    assert_eq!(
        fields("snis", json!({"name": "*.a.*", "certificate": c})),
        json!({"name": "only one wildcard must be specified"})
    );
    assert_eq!(
        fields("snis", json!({"name": "10.0.0.1", "certificate": c})),
        json!({"name": "must not be an IP"})
    );
    assert_eq!(
        fields("snis", json!({"name": "a.com:443", "certificate": c})),
        json!({"name": "must not have a port"})
    );
    assert_eq!(
        fields("snis", json!({"name": "a.com"})),
        json!({"certificate": "required field missing"})
    );
}

#[test]
fn credential_rules() {
    let c = json!({"id": UP});
    let k = ok("keyauth_credentials", json!({"consumer": c}));
    assert_eq!(k["key"].as_str().unwrap().len(), 32);
    assert!(
        k["key"]
            .as_str()
            .unwrap()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
    );
    assert_eq!(
        fields(
            "basicauth_credentials",
            json!({"consumer": c, "username": "u"})
        ),
        json!({"password": "required field missing"})
    );
    assert_eq!(
        fields("acls", json!({"consumer": c})),
        json!({"group": "required field missing"})
    );
    assert_eq!(
        fields("jwt_secrets", json!({"consumer": c, "algorithm": "RS256"})),
        json!({"@entity": ["failed conditional validation given value of field 'algorithm'"],
               "rsa_public_key": "required field missing"})
    );
    let j = ok("jwt_secrets", json!({"consumer": c}));
    assert_eq!(j["algorithm"], json!("HS256"));
    // Kong's validate_ssl_key: the key must load
    for garbage in [
        "garbage",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    ] {
        assert_eq!(
            fields(
                "jwt_secrets",
                json!({"consumer": c, "algorithm": "RS256", "rsa_public_key": garbage})
            ),
            json!({"@entity": ["failed conditional validation given value of field 'algorithm'"],
                   "rsa_public_key": "invalid key"})
        );
    }
    for (alg, pem) in [
        (
            "ES256",
            "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEw6sNRNaFs/mfGf3IwYShyBJpofUi\nKRVgUsvW56VNxCzXpWF/P7Byme9MhTBqdm7GGBM0ZXMUkVCQ1BvBJ1Pg4g==\n-----END PUBLIC KEY-----\n",
        ),
        (
            "EdDSA",
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAOJ8vzyQDMChnQsVEq4GWOavGkfIXrvBr0p0+gAIbR3E=\n-----END PUBLIC KEY-----\n",
        ),
        (
            "RS256",
            "-----BEGIN RSA PUBLIC KEY-----\nMIGJAoGBANhc3qj19b3b53G97HEaa2niI0eY9C0x3ZzBQ9R+B5NuvTntzjBQrHdV\nMC6bL/6qTPs+bwblJhkDihqJLc7q4ub3QA9qrmTyXvMK7qQPNxxtfiw+p4/IHWn/\nMIo+R829au6txuUIaJD1m3hkLmJRST3QnZQpRpYPdwWAxlt1Kn0DAgMBAAE=\n-----END RSA PUBLIC KEY-----\n",
        ),
    ] {
        ok(
            "jwt_secrets",
            json!({"consumer": c, "algorithm": alg, "rsa_public_key": pem}),
        );
    }
    // HS secrets need no key, and a key given anyway is not checked
    ok(
        "jwt_secrets",
        json!({"consumer": c, "algorithm": "HS256", "rsa_public_key": "garbage"}),
    );
    assert_eq!(
        fields(
            "oauth2_credentials",
            json!({"consumer": c, "name": "app", "redirect_uris": ["/cb"]})
        ),
        json!({"redirect_uris": ["missing host in url"]})
    );
    assert_eq!(
        fields("hmacauth_credentials", json!({"username": "h"})),
        json!({"consumer": "required field missing"})
    );
}

#[test]
fn schemas_render_like_kong() {
    let s = bundled().get("services").unwrap().to_json();
    let fields = s["fields"].as_array().unwrap();
    assert_eq!(
        fields[0],
        json!({"id": {"type": "string", "auto": true, "uuid": true}})
    );
    assert_eq!(
        fields[4],
        json!({"retries": {"type": "integer", "default": 5, "between": [0, 32767]}})
    );
    assert_eq!(
        s["entity_checks"][0],
        json!({"conditional": {"if_field": "protocol",
            "if_match": {"one_of": ["tcp", "tls", "udp", "grpc", "grpcs"]},
            "then_field": "path", "then_match": {"eq": null}}})
    );
    let r = bundled().get("routes").unwrap().to_json();
    assert_eq!(r["subschema_key"], json!("protocols"));
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-z/~*.:%0-9 ]{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("http"),
            Just("https"),
            Just("tcp"),
            Just("grpc"),
            Just("key-auth"),
            Just("/a")
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        let keys = prop_oneof![
            Just("name"),
            Just("host"),
            Just("paths"),
            Just("protocols"),
            Just("config"),
            Just("healthchecks"),
            Just("active"),
            Just("url"),
            Just("service"),
            Just("id"),
            Just("headers"),
            Just("sources"),
            Just("hash_on"),
            Just("algorithm"),
            Just("target"),
            Just("snis"),
            Just("x"),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys, inner), 0..6).prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn validate_never_panics(v in arb_json()) {
        for s in bundled().all() {
            let _ = bundled().validate(s.name, &v);
        }
    }
}
