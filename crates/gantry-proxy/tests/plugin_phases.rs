//! The proxy drives every plugin phase in Kong's order: `rewrite` before routing (its
//! header changes are routed on), `access` after, and on every response — upstream,
//! plugin or proxy (404) — `response` (buffered), `header_filter`, `body_filter` per
//! chunk, and `log` once the response has been sent. Probed with test plugins
//! registered next to the bundled ones.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use gantry_core::schema::Schema;
use gantry_core::{ForeignKey, Plugin as PluginEntity, Protocol};
use gantry_plugins::{
    ConfigureEnv, Credentials, Decision, LogInfo, Phases, Plugin, PluginConfig, PluginHandler,
    PluginSet, RequestCtx, ResponseHead, ResponseSource,
};
use gantry_proxy::{ConfigEntities, ProxyOptions, Snapshot};
use http::{HeaderValue, StatusCode};
use http_body_util::Full;
use serde_json::Value;
use support::*;
use uuid::Uuid;

/// What the probe's `log` phase saw: (path, status, response bytes, upstream reached).
type Logged = Arc<Mutex<Vec<(String, u16, u64, bool)>>>;

fn logged() -> &'static Logged {
    static LOG: std::sync::OnceLock<Logged> = std::sync::OnceLock::new();
    LOG.get_or_init(Logged::default)
}

/// Global probe: rewrite sets `x-route: b` when asked; header_filter stamps the
/// status and source and drops `Content-Length`; body_filter upper-cases the body
/// (holding everything back until `eof`); log records the request.
struct Probe;
struct ProbeHandler;

impl Plugin for Probe {
    fn name(&self) -> &'static str {
        "phase-probe"
    }
    fn priority(&self) -> i32 {
        10
    }
    fn schema(&self) -> Schema {
        Schema::record(vec![])
    }
    fn configure(&self, _: &Value, _: &ConfigureEnv) -> Result<Box<dyn PluginHandler>, String> {
        Ok(Box::new(ProbeHandler))
    }
}

#[derive(Default, Clone)]
struct Held(Vec<u8>);

impl PluginHandler for ProbeHandler {
    fn phases(&self) -> Phases {
        Phases {
            rewrite: true,
            access: false,
            response: false,
            header_filter: true,
            body_filter: true,
            log: true,
        }
    }
    fn rewrite(&self, ctx: &mut RequestCtx) -> Decision {
        if ctx.headers.contains_key("x-go-b") {
            ctx.headers.insert("x-route", HeaderValue::from_static("b"));
        }
        if ctx.headers.contains_key("x-stop") {
            return ctx.reject(StatusCode::FORBIDDEN, "stopped in rewrite");
        }
        Decision::Continue
    }
    fn header_filter(&self, _ctx: &mut RequestCtx, head: &mut ResponseHead) {
        head.headers
            .insert("x-probe-status", HeaderValue::from(head.status.as_u16()));
        let source = match head.source {
            ResponseSource::Upstream => "upstream",
            ResponseSource::Plugin => "plugin",
            ResponseSource::Proxy => "proxy",
        };
        head.headers
            .insert("x-probe-source", HeaderValue::from_static(source));
        head.headers.remove(http::header::CONTENT_LENGTH);
    }
    fn body_filter(&self, ctx: &mut RequestCtx, _: &ResponseHead, chunk: &mut Bytes, eof: bool) {
        let held = ctx.scratch.get_or_insert_default::<Held>();
        held.0.extend_from_slice(chunk);
        *chunk = if eof {
            Bytes::from(std::mem::take(&mut held.0).to_ascii_uppercase())
        } else {
            Bytes::new()
        };
    }
    fn log(&self, ctx: &RequestCtx, info: &LogInfo) {
        logged().lock().unwrap().push((
            ctx.path.clone(),
            info.status.as_u16(),
            info.response_bytes,
            info.upstream.is_some(),
        ));
    }
}

/// Route-scoped: the `response` phase replaces a buffered upstream body.
struct Buffered;
struct BufferedHandler;

impl Plugin for Buffered {
    fn name(&self) -> &'static str {
        "buffered-probe"
    }
    fn priority(&self) -> i32 {
        20
    }
    fn schema(&self) -> Schema {
        Schema::record(vec![])
    }
    fn configure(&self, _: &Value, _: &ConfigureEnv) -> Result<Box<dyn PluginHandler>, String> {
        Ok(Box::new(BufferedHandler))
    }
}

impl PluginHandler for BufferedHandler {
    fn phases(&self) -> Phases {
        Phases {
            response: true,
            ..Phases::default()
        }
    }
    fn response(&self, _ctx: &mut RequestCtx, head: &mut ResponseHead, body: &mut Bytes) {
        head.status = StatusCode::ACCEPTED;
        *body = Bytes::from(format!("whole body was {} bytes", body.len()));
    }
}

static REGISTRY: &[&dyn Plugin] = &[&Probe, &Buffered];

fn plugin(name: &str, route: Option<Uuid>) -> PluginEntity {
    PluginEntity {
        id: Uuid::new_v4(),
        created_at: 0,
        updated_at: 0,
        name: name.into(),
        instance_name: None,
        route: route.map(ForeignKey::new),
        service: None,
        consumer: None,
        config: serde_json::json!({}),
        protocols: vec![Protocol::Http, Protocol::Https],
        enabled: true,
        tags: None,
    }
}

fn start(origin: std::net::SocketAddr) -> Proxy {
    let svc = service("s", "127.0.0.1", origin.port(), None);
    let svc_b = service("sb", "127.0.0.1", origin.port(), Some("/via-b"));
    let a = route(&svc, &["/a"]);
    let mut b = route(&svc_b, &["/a"]);
    b.headers = Some([("x-route".to_string(), vec!["b".to_string()])].into());
    let buffered = route(&svc, &["/buffered"]);
    let cfg = ConfigEntities {
        services: vec![svc, svc_b],
        routes: vec![a.into(), b.into(), buffered.clone().into()],
        ..ConfigEntities::default()
    };
    let mut snap = Snapshot::build(&cfg).unwrap();
    let plugins = [
        plugin("phase-probe", None),
        plugin("buffered-probe", Some(buffered.id)),
    ];
    let routes: Vec<(Uuid, Option<Uuid>)> = cfg
        .routes
        .iter()
        .map(|r| (r.id, r.service.map(|s| s.id)))
        .collect();
    let set = PluginSet::build_with(
        PluginConfig {
            plugins: &plugins,
            routes: &routes,
            consumers: &[],
            credentials: Credentials::default(),
        },
        REGISTRY,
    )
    .unwrap();
    snap.plugins = Some(Arc::new(set));
    Proxy::start_snapshot(snap, ProxyOptions::default(), 1, false)
}

async fn log_entry(path: &str) -> (String, u16, u64, bool) {
    // `log` runs once the body has been sent; give the server a moment to drop it.
    for _ in 0..200 {
        if let Some(e) = logged().lock().unwrap().iter().find(|e| e.0 == path) {
            return e.clone();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no log entry for {path}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrite_runs_before_routing() {
    let o = origin().await;
    let p = start(o.addr);
    let plain = get_ok(p.addr, "/a/one").await;
    let req = get("/a/two")
        .header("x-go-b", "1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let rerouted = send(p.addr, req).await;
    // The header set in rewrite made the router pick route b (service path /via-b).
    let plain: Value = serde_json::from_slice(&plain.body.to_ascii_lowercase()).unwrap();
    let rerouted: Value = serde_json::from_slice(&rerouted.body.to_ascii_lowercase()).unwrap();
    assert_eq!(plain["uri"], "/one");
    assert_eq!(rerouted["uri"], "/via-b/two");
    assert_eq!(rerouted["headers"]["x-route"], "b");

    let req = get("/a/three")
        .header("x-stop", "1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let stopped = send(p.addr, req).await;
    assert_eq!(stopped.status, StatusCode::FORBIDDEN);
    assert_eq!(stopped.header("x-probe-source"), Some("plugin"));
    assert_eq!(o.requests.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_phases_on_upstream_bodies_then_log() {
    let o = origin().await;
    let p = start(o.addr);
    let got = get_ok(p.addr, "/a/echo-me").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.header("x-probe-status"), Some("200"));
    assert_eq!(got.header("x-probe-source"), Some("upstream"));
    let text = String::from_utf8(got.body.to_vec()).unwrap();
    // The whole echo, upper-cased by body_filter.
    assert!(text.contains("\"URI\":\"/ECHO-ME\""), "{text}");
    assert_eq!(text, text.to_ascii_uppercase());

    let (_, status, bytes, upstream) = log_entry("/a/echo-me").await;
    assert_eq!(status, 200);
    assert_eq!(bytes, got.body.len() as u64);
    assert!(upstream, "log sees the upstream latency");

    // A large streamed body goes through body_filter chunk by chunk.
    let big = get_ok(p.addr, "/a/big/300000").await;
    assert_eq!(big.body.len(), 300_000);
    assert!(big.body.iter().all(|b| *b == b'X'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_plugins_see_the_router_404() {
    let o = origin().await;
    let p = start(o.addr);
    let got = get_ok(p.addr, "/nowhere").await;
    assert_eq!(got.status, StatusCode::NOT_FOUND);
    assert_eq!(got.header("x-probe-status"), Some("404"));
    assert_eq!(got.header("x-probe-source"), Some("proxy"));
    assert!(
        String::from_utf8_lossy(&got.body).contains("NO ROUTE MATCHED"),
        "{:?}",
        got.body
    );
    let (_, status, _, upstream) = log_entry("/nowhere").await;
    assert_eq!(status, 404);
    assert!(!upstream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_phase_gets_the_whole_upstream_body() {
    let o = origin().await;
    let p = start(o.addr);
    let got = get_ok(p.addr, "/buffered/big/5000").await;
    assert_eq!(got.status, StatusCode::ACCEPTED);
    // `response` ran before the global body_filter upper-cased it.
    assert_eq!(&got.body[..], b"WHOLE BODY WAS 5000 BYTES");
    assert_eq!(got.header("x-probe-status"), Some("202"));
}
