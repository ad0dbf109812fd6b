//! Test support: an in-process origin that echoes what it received, entity builders,
//! a proxy started on 127.0.0.1:0, and a small HTTP/1.1 client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use gantry_core::{ForeignKey, Protocol, Route, Service, Target, Upstream};
use gantry_proxy::{ConfigEntities, ListenSpec, ProxyOptions, ProxyServer, Snapshot};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use uuid::Uuid;

/// An origin server that answers with a JSON echo of the request it received.
pub struct Origin {
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    pub requests: Arc<AtomicUsize>,
}

/// An origin that answers every request with `status` (and counts requests).
pub async fn fixed_status_origin(status: u16) -> Origin {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let (c, r) = (connections.clone(), requests.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            c.fetch_add(1, Ordering::SeqCst);
            let r = r.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |_req: Request<Incoming>| {
                    let r = r.clone();
                    async move {
                        r.fetch_add(1, Ordering::SeqCst);
                        let mut resp = Response::new(Full::new(Bytes::from_static(b"fixed")));
                        *resp.status_mut() = StatusCode::from_u16(status).unwrap();
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Origin {
        addr,
        connections,
        requests,
    }
}

/// An upstream validated by Kong's schema from `fields` (defaults filled in, e.g. the
/// whole `healthchecks` record).
pub fn upstream_from(fields: serde_json::Value) -> Upstream {
    let v = gantry_core::schemas::bundled()
        .validate("upstreams", &fields)
        .unwrap_or_else(|e| panic!("invalid upstream: {e:?}"));
    serde_json::from_value(v).unwrap()
}

/// Starts an echo origin. `/delay/<ms>` waits before answering; `/status/<code>`
/// answers with that status; `/big/<n>` streams n bytes.
pub async fn origin() -> Origin {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(AtomicUsize::new(0));
    let (c, r) = (connections.clone(), requests.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            c.fetch_add(1, Ordering::SeqCst);
            let r = r.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let r = r.clone();
                    async move {
                        r.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Infallible>(echo(req, addr).await)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Origin {
        addr,
        connections,
        requests,
    }
}

async fn echo(req: Request<Incoming>, me: SocketAddr) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    if let Some(ms) = path.strip_prefix("/delay/") {
        let ms: u64 = ms.parse().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(n) = path.strip_prefix("/big/") {
        let n: usize = n.parse().unwrap_or(0);
        return Response::new(Full::new(Bytes::from(vec![b'x'; n])));
    }
    let status = path
        .strip_prefix("/status/")
        .and_then(|s| s.parse().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut headers = BTreeMap::new();
    let mut repeated = Vec::new();
    for (k, v) in req.headers() {
        let prev = headers.insert(k.as_str().to_string(), v.to_str().unwrap_or("").to_string());
        if prev.is_some() {
            repeated.push(k.as_str().to_string());
        }
    }
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let json = serde_json::json!({
        "origin": me.to_string(),
        "method": method,
        "uri": uri,
        "headers": headers,
        // Names that came more than once (`headers` keeps the last).
        "repeated": repeated,
        "body_len": body.len(),
    });
    let mut resp = Response::new(Full::new(Bytes::from(json.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert("x-origin", me.to_string().parse().unwrap());
    if path.contains("/json") {
        resp.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
    }
    resp.headers_mut()
        .insert("connection", "keep-alive, x-hop".parse().unwrap());
    resp.headers_mut()
        .insert("x-hop", "secret".parse().unwrap());
    resp
}

pub fn service(name: &str, host: &str, port: u16, path: Option<&str>) -> Service {
    Service {
        id: Uuid::new_v4(),
        created_at: 0,
        updated_at: 0,
        name: Some(name.to_string()),
        retries: 5,
        protocol: Protocol::Http,
        host: host.to_string(),
        port,
        path: path.map(str::to_string),
        connect_timeout: 60_000,
        write_timeout: 60_000,
        read_timeout: 60_000,
        tags: None,
        client_certificate: None,
        tls_verify: None,
        tls_verify_depth: None,
        ca_certificates: None,
        enabled: true,
    }
}

pub fn route(service: &Service, paths: &[&str]) -> Route {
    Route {
        id: Uuid::new_v4(),
        paths: Some(paths.iter().map(|p| p.to_string()).collect()),
        service: Some(ForeignKey::new(service.id)),
        ..Route::default()
    }
}

pub fn upstream(name: &str) -> Upstream {
    Upstream {
        id: Uuid::new_v4(),
        created_at: 0,
        updated_at: 0,
        name: name.to_string(),
        algorithm: Default::default(),
        hash_on: Default::default(),
        hash_fallback: Default::default(),
        hash_on_header: None,
        hash_fallback_header: None,
        hash_on_cookie: None,
        hash_on_cookie_path: "/".to_string(),
        hash_on_query_arg: None,
        hash_fallback_query_arg: None,
        hash_on_uri_capture: None,
        hash_fallback_uri_capture: None,
        slots: 10_000,
        healthchecks: serde_json::Value::Null,
        host_header: None,
        client_certificate: None,
        use_srv_name: false,
        tags: None,
    }
}

pub fn target(up: &Upstream, target: &str, weight: u32) -> Target {
    Target {
        id: Uuid::new_v4(),
        created_at: 0.0,
        updated_at: 0.0,
        upstream: ForeignKey::new(up.id),
        target: target.to_string(),
        weight,
        tags: None,
    }
}

/// A running proxy plus the handle to swap its configuration.
pub struct Proxy {
    pub addr: SocketAddr,
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    pub server: Option<ProxyServer>,
}

impl Proxy {
    pub fn start(cfg: &ConfigEntities, opts: ProxyOptions) -> Proxy {
        Self::start_workers(cfg, opts, 1)
    }

    pub fn start_workers(cfg: &ConfigEntities, opts: ProxyOptions, workers: usize) -> Proxy {
        Self::start_with(cfg, opts, workers, false)
    }

    /// A proxy whose listener terminates TLS (ALPN h2 + http/1.1).
    pub fn start_tls(cfg: &ConfigEntities, opts: ProxyOptions) -> Proxy {
        Self::start_with(cfg, opts, 1, true)
    }

    fn start_with(cfg: &ConfigEntities, opts: ProxyOptions, workers: usize, tls: bool) -> Proxy {
        let snap = Snapshot::build(cfg).expect("snapshot");
        Self::start_snapshot(snap, opts, workers, tls)
    }

    /// A proxy serving a snapshot built by the test.
    pub fn start_snapshot(snap: Snapshot, opts: ProxyOptions, workers: usize, tls: bool) -> Proxy {
        let shared = Arc::new(ArcSwap::from_pointee(snap));
        let server = ProxyServer::start(
            &[ListenSpec {
                addr: "127.0.0.1:0".parse().unwrap(),
                backlog: 128,
                tls,
                http2: true,
            }],
            workers,
            shared.clone(),
            opts,
        )
        .expect("proxy start");
        Proxy {
            addr: server.local_addrs()[0],
            snapshot: shared,
            server: Some(server),
        }
    }

    pub fn reconfigure(&self, cfg: &ConfigEntities) {
        self.snapshot
            .store(Arc::new(Snapshot::build(cfg).expect("snapshot")));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown(Duration::from_millis(100));
        }
    }
}

/// A response read whole.
pub struct Got {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Got {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends one HTTP/1.1 request on a new connection.
pub async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> Got {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Got {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub fn get(path: &str) -> http::request::Builder {
    Request::get(path).header("host", "example.test")
}

pub async fn get_ok(addr: SocketAddr, path: &str) -> Got {
    send(addr, get(path).body(Full::new(Bytes::new())).unwrap()).await
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
