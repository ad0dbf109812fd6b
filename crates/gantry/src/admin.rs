//! Starts the Admin API on `admin_listen`: the store, Kong's schemas, node identity,
//! `admin_api_token`, the body limit and the redacted configuration shown at `GET /`.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use gantry_admin::health::HealthSource;
use gantry_admin::{AdminSettings, AdminState, NodeInfo};
use gantry_balancer::UpstreamBalancer;
use gantry_config::{Database, Settings};
use gantry_proxy::Snapshot;
use gantry_store::Store;
use serde_json::{Map, Value};

use crate::options;

/// Kong version the Admin API reports: clients such as decK pick their behaviour by it.
pub const KONG_COMPAT_VERSION: &str = "3.9.1";

/// The running balancers, read from the live snapshot.
struct LiveHealth(Arc<ArcSwap<Snapshot>>);

impl HealthSource for LiveHealth {
    fn balancer(&self, upstream_id: uuid::Uuid) -> Option<Arc<UpstreamBalancer>> {
        self.0.load().balancers.get(&upstream_id).cloned()
    }
}

/// The Admin API state for this node.
pub fn state(
    settings: &Settings,
    store: Arc<dyn Store>,
    live: Arc<ArcSwap<Snapshot>>,
) -> AdminState {
    let mut configuration = Map::new();
    for (key, raw) in settings.raw.iter() {
        let value = if gantry_config::keys::is_sensitive(key) {
            Value::String(gantry_config::REDACTED.to_string())
        } else {
            Value::String(raw.value.clone())
        };
        configuration.insert(key.to_string(), value);
    }
    let admin = AdminSettings {
        dbless: settings.database == Database::Off,
        token: settings
            .admin_api_token
            .as_ref()
            .map(|t| t.expose().to_string()),
        body_limit: settings
            .admin_client_max_body_size
            .and_then(|b| usize::try_from(b).ok())
            .unwrap_or(usize::MAX),
        gui_origin: settings.get("admin_gui_origin").map(str::to_string),
        configuration,
    };
    let node = NodeInfo {
        version: KONG_COMPAT_VERSION.to_string(),
        node_id: uuid::Uuid::new_v4(),
        hostname: hostname(),
    };
    AdminState::new(store, crate::declarative::schemas())
        .with_node(node)
        .with_settings(admin)
        .with_health(Arc::new(LiveHealth(live)))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

/// Binds every plain-HTTP `admin_listen` entry and serves the Admin API on each (in the
/// current runtime). TLS admin listeners are reported and skipped.
pub async fn start(settings: &Settings, state: AdminState) -> anyhow::Result<Vec<SocketAddr>> {
    let mut bound = Vec::new();
    let mut tls = None;
    for l in &settings.admin_listen {
        if l.ssl && tls.is_none() {
            tls = Some(options::admin_tls(settings, l.http2)?);
        }
        for addr in options::resolve(l)? {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot bind admin_listen {addr}: {e}"))?;
            let local = listener.local_addr()?;
            if !local.ip().is_loopback() && settings.admin_api_token.is_none() {
                tracing::warn!(
                    "the Admin API listens on {local}, which is not loopback, without admin_api_token"
                );
            }
            let st = state.clone();
            let tls_config = if l.ssl { tls.clone() } else { None };
            let scheme = if l.ssl { "https" } else { "http" };
            tokio::spawn(async move {
                let served = match tls_config {
                    Some(c) => {
                        gantry_admin::serve_tls(listener, c, st, std::future::pending()).await
                    }
                    None => gantry_admin::serve(listener, st, std::future::pending()).await,
                };
                if let Err(e) = served {
                    tracing::error!("admin API on {local} stopped: {e}");
                }
            });
            tracing::info!("admin API listening on {scheme}://{local}");
            bound.push(local);
        }
    }
    Ok(bound)
}
