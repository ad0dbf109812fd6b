//! Form-urlencoded and multipart bodies, typed from the schema.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::start;
use serde_json::{Value, json};

#[tokio::test]
async fn form_bodies_are_typed() {
    let a = start().await;
    let r = a.post_form("/services", "name=s1&url=http%3A%2F%2Fexample.com%3A8080%2Fp&retries=2&enabled=false&tags%5B%5D=a&tags%5B%5D=b").await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert_eq!(v["port"], 8080);
    assert_eq!(v["retries"], 2);
    assert_eq!(v["enabled"], false);
    assert_eq!(v["path"], "/p");
    assert_eq!(v["tags"], json!(["a", "b"]));

    let r = a
        .post_form(
            "/routes",
            "paths[]=/a&paths[]=/b&methods=GET&service.name=s1&strip_path=false",
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert_eq!(v["paths"], json!(["/a", "/b"]));
    assert_eq!(v["methods"], json!(["GET"]));
    assert_eq!(v["strip_path"], false);
    assert!(v["service"]["id"].is_string());

    // indexed arrays and headers map
    let r = a
        .post_form(
            "/routes",
            "hosts[2]=b.com&hosts[1]=a.com&headers.x-v=1&headers.x-v=2",
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert_eq!(v["hosts"], json!(["a.com", "b.com"]));
    assert_eq!(v["headers"], json!({"x-v": ["1", "2"]}));
}

#[tokio::test]
async fn form_empty_string_is_null_and_patch_works() {
    let a = start().await;
    a.create(
        "/services",
        json!({"name":"s","host":"a.com","path":"/x","tags":["t"]}),
    )
    .await;
    let r = a
        .raw(
            "PATCH",
            "/services/s",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"path=&port=81",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["path"], Value::Null);
    assert_eq!(v["port"], 81);
    assert_eq!(v["tags"], json!(["t"]));
    // typed mismatch is a schema violation, not a panic
    let r = a.post_form("/services", "host=a.com&port=abc").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["fields"], json!({"port":"expected an integer"}));
}

#[tokio::test]
async fn form_plugin_config_and_upstream_records() {
    let a = start().await;
    let r = a
        .post_form(
            "/plugins",
            "name=rate-limiting&config.minute=5&config.policy=local",
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert_eq!(v["name"], "rate-limiting");
    assert!(v["config"].is_object());
    let r = a
        .post_form(
            "/upstreams",
            "name=u&healthchecks.active.timeout=3&slots=100",
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert_eq!(v["healthchecks"]["active"]["timeout"], 3);
    assert_eq!(v["slots"], 100);
}

#[tokio::test]
async fn multipart_bodies() {
    let a = start().await;
    let boundary = "XyZ123";
    let body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nmp\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"host\"\r\n\r\nexample.com\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"port\"\r\n\r\n8443\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"tags[]\"\r\n\r\nx\r\n--{b}--\r\n",
        b = boundary
    );
    let ct = format!("multipart/form-data; boundary={boundary}");
    let r = a
        .raw(
            "POST",
            "/services",
            &[("Content-Type", &ct)],
            body.as_bytes(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert_eq!(v["name"], "mp");
    assert_eq!(v["port"], 8443);
    assert_eq!(v["tags"], json!(["x"]));
    // a broken multipart body is a 400, never a 500
    let r = a
        .raw(
            "POST",
            "/services",
            &[("Content-Type", "multipart/form-data")],
            b"garbage",
        )
        .await;
    assert_eq!(r.status, 400);
}
