//! Test harness: an Admin API on 127.0.0.1:0 over a MemoryStore, and a small
//! raw HTTP/1.1 client (so tests control every header byte).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use gantry_admin::{AdminSettings, AdminState};
use gantry_store::{MemoryStore, Store};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running Admin API.
pub struct Admin {
    pub addr: SocketAddr,
    pub store: Arc<dyn Store>,
    pub state: AdminState,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn start() -> Admin {
    start_with(AdminSettings::default()).await
}

pub async fn start_with(settings: AdminSettings) -> Admin {
    let store: Arc<dyn Store> = if settings.dbless {
        Arc::new(MemoryStore::read_only())
    } else {
        Arc::new(MemoryStore::new())
    };
    let state =
        AdminState::new(store.clone(), gantry_core::schemas::bundled()).with_settings(settings);
    serve(store, state).await
}

/// Serves a prepared state on 127.0.0.1:0.
pub async fn serve(store: Arc<dyn Store>, state: AdminState) -> Admin {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let st = state.clone();
    tokio::spawn(async move {
        let _ = gantry_admin::serve(listener, st, async move {
            let _ = rx.await;
        })
        .await;
    });
    Admin {
        addr,
        store,
        state,
        _stop: tx,
    }
}

/// A response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = body.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..pos]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&body[pos + 2..pos + 2 + size]);
        body = &body[pos + 2 + size + 2..];
    }
    out
}

impl Admin {
    /// Sends a raw request; `headers` are written as given.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let mut s = TcpStream::connect(self.addr).await.unwrap();
        let mut req =
            format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        s.write_all(body).await.unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        let end = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("no header end");
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let mut body = buf[end + 4..].to_vec();
        if headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
        {
            body = dechunk(&body);
        }
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.raw("GET", path, &[], b"").await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.raw("DELETE", path, &[], b"").await
    }

    pub async fn send_json(&self, method: &str, path: &str, body: &Value) -> Resp {
        let b = serde_json::to_vec(body).unwrap();
        self.raw(method, path, &[("Content-Type", "application/json")], &b)
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send_json("POST", path, &body).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send_json("PUT", path, &body).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send_json("PATCH", path, &body).await
    }

    pub async fn post_form(&self, path: &str, form: &str) -> Resp {
        self.raw(
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        )
        .await
    }

    /// Creates and returns an entity, asserting 201.
    pub async fn create(&self, path: &str, body: Value) -> Value {
        let r = self.post(path, body).await;
        assert_eq!(r.status, 201, "POST {path}: {}", r.text());
        r.json()
    }

    /// Everything in the store (for "nothing changed" checks).
    pub async fn dump(&self) -> gantry_store::Dump {
        self.store.dump().await.unwrap()
    }
}

/// Replaces volatile fields (ids, timestamps, generated keys) so bodies compare.
pub fn scrub(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let x = match (k.as_str(), x) {
                        (
                            "id" | "created_at" | "updated_at",
                            Value::String(_) | Value::Number(_),
                        ) => Value::String(format!("<{k}>")),
                        _ => scrub(x),
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(scrub).collect()),
        other => other.clone(),
    }
}
