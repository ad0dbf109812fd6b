//! Every error path with Kong's exact bodies, and "bad input changes nothing".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{start, start_with};
use gantry_admin::AdminSettings;
use serde_json::json;

#[tokio::test]
async fn schema_violation_bodies() {
    let a = start().await;
    let r = a.post("/services", json!({"name":"s"})).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"code":2,"name":"schema violation","message":"schema violation (host: required field missing)","fields":{"host":"required field missing"}})
    );
    let r = a.post("/routes", json!({"protocols":["https"]})).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"code":2,"name":"schema violation","message":"schema violation (must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https')","fields":{"@entity":["must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'"]}})
    );
    let r = a
        .post("/services", json!({"host":"a.com","port":70000,"nope":1}))
        .await;
    assert_eq!(
        r.json(),
        json!({"code":2,"name":"schema violation","message":"2 schema violations (nope: unknown field; port: value should be between 0 and 65535)","fields":{"nope":"unknown field","port":"value should be between 0 and 65535"}})
    );
    let r = a.post("/plugins", json!({"name":"nope"})).await;
    assert_eq!(
        r.json()["fields"],
        json!({"name":"plugin 'nope' not enabled; add it to the 'plugins' configuration property"})
    );
    let r = a.post("/consumers", json!({})).await;
    assert_eq!(
        r.json()["fields"],
        json!({"@entity":["at least one of these fields must be non-empty: 'custom_id', 'username'"]})
    );
}

#[tokio::test]
async fn unique_violation_409() {
    let a = start().await;
    a.create("/services", json!({"name":"s1","host":"a.com"}))
        .await;
    let r = a
        .post("/services", json!({"name":"s1","host":"b.com"}))
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.json(),
        json!({"code":5,"name":"unique constraint violation","message":"UNIQUE violation detected on '{name=\"s1\"}'","fields":{"name":"s1"}})
    );
    // one plugin per name and scope
    a.create("/plugins", json!({"name":"cors"})).await;
    assert_eq!(a.post("/plugins", json!({"name":"cors"})).await.status, 409);
}

#[tokio::test]
async fn generic_errors() {
    let a = start().await;
    let r = a.get("/nope").await;
    assert_eq!((r.status, r.json()), (404, json!({"message":"Not found"})));
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let r = a.get("/services/nope").await;
    assert_eq!((r.status, r.json()), (404, json!({"message":"Not found"})));
    let r = a.raw("DELETE", "/services", &[], b"").await;
    assert_eq!(
        (r.status, r.json()),
        (405, json!({"message":"Method not allowed"}))
    );
    let r = a
        .raw(
            "POST",
            "/services/x",
            &[("Content-Type", "application/json")],
            b"{}",
        )
        .await;
    assert_eq!(r.status, 405);
    let r = a
        .raw(
            "POST",
            "/services",
            &[("Content-Type", "application/json")],
            b"{\"host\":",
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (400, json!({"message":"Cannot parse JSON body"}))
    );
    let r = a
        .raw(
            "POST",
            "/services",
            &[("Content-Type", "text/plain")],
            b"host=a",
        )
        .await;
    assert_eq!(r.status, 415);
    let r = a.raw("POST", "/services", &[], b"host=a").await;
    assert_eq!(r.status, 415);
    let r = a
        .raw(
            "POST",
            "/services",
            &[
                ("Content-Type", "application/json"),
                ("Content-Type", "application/json"),
            ],
            b"{}",
        )
        .await;
    assert_eq!(r.status, 400);
    // a POST with no body and no content type is an empty object
    let r = a.raw("POST", "/consumers", &[], b"").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], 2);
}

#[tokio::test]
async fn pagination_and_tag_errors() {
    let a = start().await;
    let r = a.get("/services?size=abc").await;
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({"code":9,"name":"invalid size","message":"size must be a number"})
        )
    );
    let r = a.get("/services?size=1001").await;
    assert_eq!(
        r.json(),
        json!({"code":9,"name":"invalid size","message":"size must be an integer between 1 and 1000"})
    );
    let r = a.get("/services?offset=%%%").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], 7);
    let r = a.get("/services?tags=a,b/c").await;
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({"code":11,"name":"invalid options","message":"invalid option (tags: invalid filter syntax)","options":{"tags":"invalid filter syntax"}})
        )
    );
    let r = a.get("/services?tags=a,b,c,d,e,f").await;
    assert_eq!(
        r.json()["message"],
        "invalid option (tags: cannot query more than 5 tags)"
    );
}

#[tokio::test]
async fn bad_input_changes_nothing() {
    let a = start().await;
    a.create("/services", json!({"name":"s","host":"a.com"}))
        .await;
    a.create("/consumers", json!({"username":"c"})).await;
    let before = a.dump().await;
    let attempts: Vec<(&str, &str, serde_json::Value)> = vec![
        ("POST", "/services", json!({"name":"s","host":"b.com"})),
        ("POST", "/services", json!({"host":"a.com","port":"x"})),
        ("PUT", "/services/s", json!({"port":-1})),
        ("PATCH", "/services/s", json!({"protocol":"ftp"})),
        ("PATCH", "/services/s", json!({"path":"no-slash"})),
        ("POST", "/services/s/routes", json!({"protocols":["https"]})),
        (
            "POST",
            "/routes",
            json!({"paths":["/"],"service":{"name":"ghost"}}),
        ),
        ("POST", "/consumers/c/key-auth", json!({"ttl":-5})),
        ("POST", "/consumers/c/basic-auth", json!({"password":"x"})),
        (
            "POST",
            "/plugins",
            json!({"name":"key-auth","consumer":{"username":"c"}}),
        ),
        ("PUT", "/routes/r/service", json!({"host":"a.com"})),
    ];
    for (m, p, b) in attempts {
        let r = a.send_json(m, p, &b).await;
        assert!(
            r.status >= 400,
            "{m} {p} unexpectedly {}: {}",
            r.status,
            r.text()
        );
        assert!(r.json().get("message").is_some());
    }
    for (m, p, body) in [
        ("POST", "/services", &b"{"[..]),
        ("PATCH", "/services/s", &b"[1,2]"[..]),
    ] {
        let r = a
            .raw(m, p, &[("Content-Type", "application/json")], body)
            .await;
        assert_eq!(r.status, 400);
    }
    assert_eq!(a.dump().await, before);
}

#[tokio::test]
async fn admin_token_is_required_when_set() {
    let a = start_with(AdminSettings {
        token: Some("s3cret".into()),
        ..AdminSettings::default()
    })
    .await;
    let r = a.get("/services").await;
    assert_eq!(
        (r.status, r.json()),
        (401, json!({"message":"Unauthorized"}))
    );
    let r = a
        .raw("GET", "/services", &[("Kong-Admin-Token", "wrong")], b"")
        .await;
    assert_eq!(r.status, 401);
    let r = a
        .raw("GET", "/", &[("Kong-Admin-Token", "s3cret")], b"")
        .await;
    assert_eq!(r.status, 200);
    let r = a
        .raw("GET", "/services", &[("kong-admin-token", "s3cret")], b"")
        .await;
    assert_eq!(r.status, 200);
    let r = a
        .raw(
            "POST",
            "/services",
            &[("Content-Type", "application/json")],
            b"{\"host\":\"a.com\"}",
        )
        .await;
    assert_eq!(r.status, 401);
    assert!(a.dump().await.values().all(Vec::is_empty));
}

#[tokio::test]
async fn body_size_limit() {
    let a = start_with(AdminSettings {
        body_limit: 1024,
        ..AdminSettings::default()
    })
    .await;
    let big = format!(
        "{{\"name\":\"s\",\"host\":\"a.com\",\"tags\":[\"{}\"]}}",
        "x".repeat(2000)
    );
    let r = a
        .raw(
            "POST",
            "/services",
            &[("Content-Type", "application/json")],
            big.as_bytes(),
        )
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json(), json!({"message":"Payload too large"}));
    let r = a
        .post("/services", json!({"name":"s","host":"a.com"}))
        .await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn cors_options_head_trailing_slash_and_headers() {
    let a = start().await;
    let r = a
        .raw(
            "OPTIONS",
            "/services",
            &[("Origin", "http://gui.local")],
            b"",
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS, POST"));
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET, HEAD, OPTIONS, POST")
    );
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://gui.local")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    let r = a.raw("OPTIONS", "/services/x", &[], b"").await;
    assert_eq!(
        r.header("allow"),
        Some("DELETE, GET, HEAD, OPTIONS, PATCH, PUT")
    );
    let r = a.get("/services/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r.header("x-kong-admin-latency").is_some());
    assert!(r.header("server").is_some_and(|s| s.starts_with("kong/")));
    let r = a.raw("HEAD", "/services", &[], b"").await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    a.create("/services", json!({"name":"s","host":"a.com"}))
        .await;
    assert_eq!(a.get("/services/s/").await.json()["name"], "s");
}
