//! DB-less mode: `/config` (YAML, JSON, `config` field, check_hash, errors)
//! and read-only entity endpoints.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{start, start_with};
use gantry_admin::AdminSettings;
use serde_json::json;

const YAML: &str = r#"_format_version: "3.0"
services:
  - name: svc
    url: http://example.com
    routes:
      - name: r1
        paths: ["/a"]
consumers:
  - username: alice
    keyauth_credentials:
      - key: k1
"#;

async fn dbless() -> common::Admin {
    start_with(AdminSettings {
        dbless: true,
        ..AdminSettings::default()
    })
    .await
}

#[tokio::test]
async fn post_config_yaml_then_read() {
    let a = dbless().await;
    let r = a
        .raw(
            "POST",
            "/config",
            &[("Content-Type", "text/yaml")],
            YAML.as_bytes(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert_eq!(v["services"].as_object().unwrap().len(), 1);
    let svc = a.get("/services/svc").await.json();
    assert_eq!(svc["host"], "example.com");
    assert_eq!(
        a.get("/services/svc/routes").await.json()["data"][0]["name"],
        "r1"
    );
    assert_eq!(
        a.get("/key-auths/k1/consumer").await.json()["username"],
        "alice"
    );
    // status shows the hash
    let st = a.get("/status").await.json();
    let hash = st["configuration_hash"].as_str().unwrap();
    assert_eq!(hash.len(), 32);
    assert_ne!(hash, "00000000000000000000000000000000");
    assert!(st.get("database").is_none());
    // GET /config exports YAML
    let v = a.get("/config").await.json();
    let text = v["config"].as_str().unwrap();
    assert!(text.contains("_format_version"), "{text}");
    assert!(text.contains("svc"), "{text}");
}

#[tokio::test]
async fn check_hash_gives_304_when_unchanged() {
    let a = dbless().await;
    let ct = [("Content-Type", "application/yaml")];
    assert_eq!(
        a.raw("POST", "/config?check_hash=1", &ct, YAML.as_bytes())
            .await
            .status,
        201
    );
    let r = a
        .raw("POST", "/config?check_hash=1", &ct, YAML.as_bytes())
        .await;
    assert_eq!(r.status, 304);
    // without check_hash it loads again
    assert_eq!(
        a.raw("POST", "/config", &ct, YAML.as_bytes()).await.status,
        201
    );
    // JSON document, and the `config` field form
    let doc = json!({"_format_version":"3.0","services":[{"name":"j","host":"j.com"}]});
    let r = a.post("/config", doc).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(a.get("/services/svc").await.status, 404);
    assert_eq!(a.get("/services/j").await.status, 200);
    let r = a.post("/config", json!({"config": YAML})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(a.get("/services/svc").await.status, 200);
    let form = format!("config={}", form_escape(YAML));
    let r = a.post_form("/config", &form).await;
    assert_eq!(r.status, 201, "{}", r.text());
}

fn form_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn invalid_config_is_code_14_and_changes_nothing() {
    let a = dbless().await;
    let ct = [("Content-Type", "text/yaml")];
    assert_eq!(
        a.raw("POST", "/config", &ct, YAML.as_bytes()).await.status,
        201
    );
    let before = a.dump().await;
    let bad = "_format_version: \"3.0\"\nservices:\n  - name: x\n";
    let r = a.raw("POST", "/config", &ct, bad.as_bytes()).await;
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["code"], 14);
    assert_eq!(v["name"], "invalid declarative configuration");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("declarative config is invalid: "),
        "{v}"
    );
    assert!(v["fields"].is_object() || v["fields"].is_array());
    let r = a
        .raw("POST", "/config?flatten_errors=1", &ct, bad.as_bytes())
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["flattened_errors"].is_array());
    let r = a.raw("POST", "/config", &ct, b"services: [: bad").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], 14);
    let r = a.raw("POST", "/config", &ct, b"  ").await;
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({"message":"expected a declarative configuration"})
        )
    );
    assert_eq!(a.dump().await, before);
}

#[tokio::test]
async fn entity_writes_are_refused() {
    let a = dbless().await;
    let r = a
        .post("/services", json!({"name":"s","host":"a.com"}))
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(
        r.json(),
        json!({"code":12,"name":"operation unsupported","message":"cannot create 'services' entities when not using a database"})
    );
    assert_eq!(
        a.raw(
            "POST",
            "/config",
            &[("Content-Type", "text/yaml")],
            YAML.as_bytes()
        )
        .await
        .status,
        201
    );
    let r = a.put("/services/svc", json!({"host":"b.com"})).await;
    assert_eq!(
        r.json()["message"],
        "cannot create or update 'services' entities when not using a database"
    );
    let r = a.patch("/services/svc", json!({"port":1})).await;
    assert_eq!(
        r.json()["message"],
        "cannot update 'services' entities when not using a database"
    );
    let r = a.delete("/services/svc").await;
    assert_eq!(r.status, 405);
    assert_eq!(
        r.json()["message"],
        "cannot remove 'services' entities when not using a database"
    );
    let r = a.post("/consumers/alice/key-auth", json!({})).await;
    assert_eq!(
        r.json()["message"],
        "cannot create 'keyauth_credentials' entities when not using a database"
    );
    assert_eq!(a.get("/services/svc").await.json()["host"], "example.com");
}

#[tokio::test]
async fn config_needs_dbless() {
    let a = start().await;
    let msg = json!({"message":"this endpoint is only available when Kong is configured to not use a database"});
    let r = a.get("/config").await;
    assert_eq!((r.status, r.json()), (400, msg.clone()));
    let r = a
        .raw(
            "POST",
            "/config",
            &[("Content-Type", "text/yaml")],
            YAML.as_bytes(),
        )
        .await;
    assert_eq!((r.status, r.json()), (400, msg));
}
