//! Lists and node endpoints: pagination walks, tag filters, `/tags`, `/`,
//! `/status`, `/endpoints`, `/schemas`, `/plugins/enabled`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use common::start;
use serde_json::{Value, json};

#[tokio::test]
async fn pagination_walk_visits_everything_once() {
    let a = start().await;
    for i in 0..25 {
        a.create(
            "/services",
            json!({"name": format!("s{i:02}"), "host": "a.com", "tags": ["all"]}),
        )
        .await;
    }
    let mut seen = BTreeSet::new();
    let mut next = Some("/services?size=10".to_string());
    let mut pages = 0;
    while let Some(url) = next {
        let r = a.get(&url).await;
        assert_eq!(r.status, 200, "{url}: {}", r.text());
        let v = r.json();
        let data = v["data"].as_array().unwrap();
        for s in data {
            assert!(
                seen.insert(s["name"].as_str().unwrap().to_string()),
                "duplicate"
            );
        }
        pages += 1;
        next = v["next"].as_str().map(str::to_string);
        match &next {
            Some(n) => {
                assert_eq!(data.len(), 10);
                assert!(n.starts_with("/services?offset="), "{n}");
                assert!(n.ends_with("&size=10"), "{n}");
                assert!(v["offset"].as_str().is_some());
            }
            None => assert!(v.get("offset").is_none()),
        }
    }
    assert_eq!((seen.len(), pages), (25, 3));
    // tags are carried into next links
    let v = a.get("/services?size=20&tags=all").await.json();
    assert!(v["next"].as_str().unwrap().contains("&tags=all&size=20"));
}

#[tokio::test]
async fn nested_pagination_next_link() {
    let a = start().await;
    a.create("/services", json!({"name":"s","host":"a.com"}))
        .await;
    for i in 0..3 {
        a.create("/services/s/routes", json!({"paths":[format!("/{i}")]}))
            .await;
    }
    let v = a.get("/services/s/routes?size=2").await.json();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    let next = v["next"].as_str().unwrap();
    assert!(next.starts_with("/services/s/routes?offset="), "{next}");
    let v2 = a.get(next).await.json();
    assert_eq!(v2["data"].as_array().unwrap().len(), 1);
    assert_eq!(v2["next"], Value::Null);
}

fn names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

#[tokio::test]
async fn tag_filters() {
    let a = start().await;
    a.create(
        "/services",
        json!({"name":"ab","host":"a.com","tags":["a","b"]}),
    )
    .await;
    a.create("/services", json!({"name":"a","host":"a.com","tags":["a"]}))
        .await;
    a.create("/services", json!({"name":"c","host":"a.com","tags":["c"]}))
        .await;
    a.create("/services", json!({"name":"none","host":"a.com"}))
        .await;
    assert_eq!(names(&a.get("/services?tags=a").await.json()), ["a", "ab"]);
    assert_eq!(names(&a.get("/services?tags=a,b").await.json()), ["ab"]);
    assert_eq!(
        names(&a.get("/services?tags=b/c").await.json()),
        ["ab", "c"]
    );
    assert_eq!(
        names(&a.get("/services?tags=zzz").await.json()),
        Vec::<String>::new()
    );

    let v = a.get("/tags").await.json();
    assert_eq!(v["data"].as_array().unwrap().len(), 4);
    let row = &v["data"][0];
    assert!(
        row["tag"].is_string() && row["entity_name"] == "services" && row["entity_id"].is_string()
    );
    let v = a.get("/tags/a").await.json();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["tag"] == "a")
    );
}

#[tokio::test]
async fn consumers_custom_id_lookup() {
    let a = start().await;
    a.create("/consumers", json!({"username":"u","custom_id":"cid"}))
        .await;
    a.create("/consumers", json!({"username":"v"})).await;
    let v = a.get("/consumers?custom_id=cid").await.json();
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"][0]["username"], "u");
    assert_eq!(v["next"], Value::Null);
    assert_eq!(
        a.get("/consumers?custom_id=zz").await.json()["data"],
        json!([])
    );
}

#[tokio::test]
async fn root_status_endpoints() {
    let a = start().await;
    a.create("/plugins", json!({"name":"cors"})).await;
    let v = a.get("/").await.json();
    assert_eq!(v["tagline"], "Welcome to kong");
    assert_eq!(v["edition"], "community");
    assert!(v["version"].is_string() && v["node_id"].is_string() && v["hostname"].is_string());
    assert_eq!(
        v["plugins"]["available_on_server"]["key-auth"]["priority"],
        1250
    );
    assert_eq!(v["plugins"]["enabled_in_cluster"], json!(["cors"]));
    assert!(v["configuration"].is_object());

    let v = a.get("/status").await.json();
    assert!(v["server"]["total_requests"].as_u64().unwrap() >= 2);
    assert_eq!(v["database"], json!({"reachable": true}));
    assert!(v.get("configuration_hash").is_none());

    let v = a.get("/endpoints").await.json();
    let list: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    for p in [
        "/",
        "/services",
        "/services/{services}/routes/{routes}",
        "/consumers/{consumers}/key-auth",
        "/schemas/{name}",
        "/tags/{tags}",
    ] {
        assert!(list.contains(&p), "{p}");
    }
    let mut sorted = list.clone();
    sorted.sort_unstable();
    assert_eq!(list, sorted);

    let v = a.get("/plugins/enabled").await.json();
    assert!(
        v["enabled_plugins"]
            .as_array()
            .unwrap()
            .contains(&json!("key-auth"))
    );
}

#[tokio::test]
async fn schemas_endpoints() {
    let a = start().await;
    let v = a.get("/schemas/services").await.json();
    assert!(
        v["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f.get("host").is_some())
    );
    let r = a.get("/schemas/nope").await;
    assert_eq!(
        (r.status, r.json()),
        (404, json!({"message":"No entity named 'nope'"}))
    );
    let r = a.get("/schemas/plugins/key-auth").await;
    assert_eq!(r.status, 200);
    assert!(r.json()["fields"].is_array());
    let r = a.get("/schemas/plugins/nope").await;
    assert_eq!(
        (r.status, r.json()),
        (404, json!({"message":"No plugin named 'nope'"}))
    );
    assert_eq!(a.get("/plugins/schema/key-auth").await.status, 200);

    let r = a
        .post("/schemas/services/validate", json!({"host":"a.com"}))
        .await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"message":"schema validation successful"}))
    );
    let r = a
        .post("/schemas/services/validate", json!({"port":1}))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["fields"], json!({"host":"required field missing"}));
    let r = a
        .post("/schemas/plugins/validate", json!({"name":"cors"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = a
        .post("/schemas/plugins/validate", json!({"name":"nope"}))
        .await;
    assert_eq!(r.status, 400);
    // validation writes nothing
    assert!(a.dump().await.values().all(Vec::is_empty));
}
