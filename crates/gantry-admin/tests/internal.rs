//! A store that fails: the Admin API answers Kong's 500 body, never details.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use gantry_admin::AdminState;
use gantry_store::{Change, Dump, ListQuery, Page, Store, StoreError, StoreResult, Write};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

struct Broken;

fn fail<T>() -> StoreResult<T> {
    Err(StoreError::Database(
        "disk on fire at /var/lib/secret".into(),
    ))
}

#[async_trait::async_trait]
impl Store for Broken {
    async fn get(&self, _: &str, _: Uuid) -> StoreResult<Option<Value>> {
        fail()
    }
    async fn find_unique(&self, _: &str, _: &str, _: &Value) -> StoreResult<Option<Value>> {
        fail()
    }
    async fn find_by_cache_key(
        &self,
        _: &str,
        _: &Map<String, Value>,
    ) -> StoreResult<Option<Value>> {
        fail()
    }
    async fn list(&self, _: &str, _: &ListQuery) -> StoreResult<Page> {
        fail()
    }
    async fn apply(&self, _: Vec<Write>) -> StoreResult<Vec<Value>> {
        fail()
    }
    async fn list_tags(&self, _: Option<&str>, _: &ListQuery) -> StoreResult<Page> {
        fail()
    }
    async fn dump(&self) -> StoreResult<Dump> {
        fail()
    }
    async fn replace_all(&self, _: Dump) -> StoreResult<()> {
        fail()
    }
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Change> {
        tokio::sync::broadcast::channel(1).1
    }
    fn version(&self) -> u64 {
        0
    }
}

async fn request(addr: std::net::SocketAddr, head: &str, body: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{head}\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    (status, body)
}

#[tokio::test]
async fn store_failures_are_500_without_details() {
    let state = AdminState::new(Arc::new(Broken), gantry_core::schemas::bundled());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(gantry_admin::serve(listener, state, std::future::pending()));
    for (head, body) in [
        ("GET /services HTTP/1.1", ""),
        ("GET /services/s HTTP/1.1", ""),
        ("POST /services HTTP/1.1", r#"{"host":"a.com"}"#),
        ("GET /tags HTTP/1.1", ""),
        ("GET / HTTP/1.1", ""),
    ] {
        let (status, text) = request(addr, head, body).await;
        assert_eq!(status, 500, "{head}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v,
            json!({"message":"An unexpected error occurred"}),
            "{head}"
        );
    }
}
