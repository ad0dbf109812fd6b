//! Shared helpers: upstream and target entities, a static resolver, tiny HTTP servers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use gantry_balancer::{
    Dns, DnsAnswer, DnsError, DnsOptions, HashContext, QueryFuture, RecordKind, Resolve,
    UpstreamBalancer,
};
use gantry_core::{Algorithm, ForeignKey, HashOn, Target, Upstream};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use uuid::Uuid;

pub fn upstream(algorithm: Algorithm) -> Upstream {
    Upstream {
        id: Uuid::nil(),
        created_at: 0,
        updated_at: 0,
        name: "backend".into(),
        algorithm,
        hash_on: HashOn::None,
        hash_fallback: HashOn::None,
        hash_on_header: None,
        hash_fallback_header: None,
        hash_on_cookie: None,
        hash_on_cookie_path: "/".into(),
        hash_on_query_arg: None,
        hash_fallback_query_arg: None,
        hash_on_uri_capture: None,
        hash_fallback_uri_capture: None,
        slots: 10_000,
        healthchecks: Value::Null,
        host_header: None,
        client_certificate: None,
        use_srv_name: false,
        tags: None,
    }
}

pub fn target(t: &str, weight: u32) -> Target {
    Target {
        id: Uuid::new_v4(),
        created_at: 0.0,
        updated_at: 0.0,
        upstream: ForeignKey::new(Uuid::nil()),
        target: t.into(),
        weight,
        tags: None,
    }
}

pub fn targets(list: &[(&str, u32)]) -> Vec<Target> {
    list.iter().map(|(t, w)| target(t, *w)).collect()
}

/// DNS with no hosts file and a resolver that knows nothing.
pub fn no_dns() -> Dns {
    let opts = DnsOptions {
        hosts_file: None,
        ..DnsOptions::default()
    };
    Dns::with_resolver(opts, Arc::new(StaticResolve::default()))
}

pub fn balancer(u: &Upstream, t: &[Target]) -> UpstreamBalancer {
    UpstreamBalancer::new(u, t, &no_dns(), None)
}

/// Picks once with `ctx` and returns the address (dropping the pick).
pub fn pick_addr(b: &UpstreamBalancer, ctx: &HashContext<'_>) -> Option<SocketAddr> {
    b.pick(ctx).ok().map(|(p, _)| p.addr())
}

/// Counts picks per address over `n` requests.
pub fn distribution(b: &UpstreamBalancer, n: usize) -> HashMap<SocketAddr, usize> {
    let mut out = HashMap::new();
    for _ in 0..n {
        if let Some(a) = pick_addr(b, &HashContext::default()) {
            *out.entry(a).or_default() += 1;
        }
    }
    out
}

pub fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A resolver answering from a table that tests change at will; counts queries.
#[derive(Debug, Default)]
pub struct StaticResolve {
    pub table: Mutex<HashMap<(String, RecordKind), Result<DnsAnswer, DnsError>>>,
    pub queries: AtomicUsize,
}

impl StaticResolve {
    pub fn set(&self, name: &str, kind: RecordKind, answer: Result<DnsAnswer, DnsError>) {
        self.table
            .lock()
            .unwrap()
            .insert((name.to_owned(), kind), answer);
    }
}

impl Resolve for StaticResolve {
    fn query<'a>(&'a self, name: &'a str, kind: RecordKind) -> QueryFuture<'a> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let answer = self
            .table
            .lock()
            .unwrap()
            .get(&(name.to_owned(), kind))
            .cloned()
            .unwrap_or(Err(DnsError::NotFound));
        Box::pin(async move { answer })
    }
}

/// An HTTP/1 server answering every request with the status in `status` (0 = close
/// the connection without answering). Returns its address.
pub async fn status_server(status: Arc<AtomicU16>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let status = Arc::clone(&status);
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let code = status.load(Ordering::Relaxed);
                if code == 0 {
                    return;
                }
                let resp = format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n");
                let _ = s.write_all(resp.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}
