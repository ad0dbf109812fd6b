//! The same Admin API over the embedded SQLite store (the default backend).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use gantry_admin::AdminState;
use gantry_store::{SqliteStore, Store};
use serde_json::{Value, json};

async fn start_sqlite(dir: &std::path::Path) -> common::Admin {
    let path = dir.join("gantry.db");
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(path))
        .await
        .unwrap()
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let state = AdminState::new(store.clone(), gantry_core::schemas::bundled());
    common::serve(store, state).await
}

#[tokio::test]
async fn crud_paging_and_errors_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("gantry-admin-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = start_sqlite(&dir).await;
    a.create(
        "/services",
        json!({"name":"s","url":"http://a.com/p","tags":["t"]}),
    )
    .await;
    let r = a
        .create("/services/s/routes", json!({"name":"r","paths":["/x"]}))
        .await;
    a.create("/routes/r/plugins", json!({"name":"cors"})).await;
    a.create("/consumers", json!({"username":"c"})).await;
    a.create("/consumers/c/key-auth", json!({"key":"k"})).await;
    for i in 0..5 {
        a.create("/upstreams", json!({"name": format!("u{i}")}))
            .await;
    }
    let page = a.get("/upstreams?size=2").await.json();
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert!(page["next"].is_string());
    assert_eq!(
        a.get("/services?tags=t").await.json()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        a.get("/routes/r/plugins").await.json()["data"][0]["name"],
        "cors"
    );
    assert_eq!(
        a.patch("/services/s", json!({"port":81})).await.json()["port"],
        81
    );
    let before = a.dump().await;
    assert_eq!(
        a.post("/services", json!({"name":"s","host":"b.com"}))
            .await
            .status,
        409
    );
    assert_eq!(a.delete("/services/s").await.status, 400);
    assert_eq!(
        a.post("/routes", json!({"paths":["/"],"service":{"name":"ghost"}}))
            .await
            .status,
        400
    );
    assert_eq!(a.dump().await, before);
    assert_eq!(
        a.delete(&format!("/routes/{}", r["id"].as_str().unwrap()))
            .await
            .status,
        204
    );
    assert_eq!(a.delete("/services/s").await.status, 204);
    assert_eq!(
        a.get("/key-auths/k/consumer").await.json()["username"],
        Value::String("c".into())
    );
    drop(a);
    let _ = std::fs::remove_dir_all(&dir);
}
