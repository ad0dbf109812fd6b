//! Live reconfiguration: the store is the source of truth; every committed change
//! rebuilds the proxy's snapshot off the hot path (on a blocking thread) and swaps it in
//! atomically. Bursts of changes are coalesced into one rebuild; in-flight requests
//! finish on the snapshot they started with.

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use gantry_balancer::{Dns, DnsOptions, NetProber, Prober};
use gantry_core::declarative::DeclarativeConfig;
use gantry_proxy::snapshot::BuildContext;
use gantry_proxy::{ConfigEntities, Snapshot};
use gantry_store::Store;
use tokio::sync::broadcast::error::RecvError;

/// What snapshot builds share: the DNS client and the prober for active health checks.
#[derive(Clone)]
pub struct Builder {
    pub dns: Dns,
    pub prober: Arc<dyn Prober>,
}

impl Builder {
    /// DNS from the `dns_*` settings; health probes with the proxy's TLS settings.
    pub fn new(settings: &gantry_config::Settings) -> anyhow::Result<Builder> {
        let opts = DnsOptions::from_settings(|k| settings.get(k));
        let dns = Dns::new(opts).map_err(|e| anyhow::anyhow!("DNS client: {e}"))?;
        let tls = gantry_proxy::tls::UpstreamTls::new().map_err(anyhow::Error::msg)?;
        let prober: Arc<dyn Prober> = Arc::new(NetProber::with_tls(tls.verify, tls.no_verify));
        Ok(Builder { dns, prober })
    }

    /// Builds a snapshot from everything in the store, carrying balancer state over
    /// from `previous`, and starts its health checks.
    pub async fn build(
        &self,
        store: &dyn Store,
        previous: Option<Arc<Snapshot>>,
    ) -> anyhow::Result<Arc<Snapshot>> {
        let dump = store
            .dump()
            .await
            .map_err(|e| anyhow::anyhow!("cannot read the configuration: {e}"))?;
        let dns = self.dns.clone();
        let snapshot = tokio::task::spawn_blocking(move || {
            let (cfg, errors) = DeclarativeConfig::from_entity_map(&dump);
            for e in errors {
                tracing::error!("skipping an entity that does not load: {e}");
            }
            let ctx = BuildContext {
                dns: &dns,
                previous: previous.as_deref(),
            };
            Snapshot::build_with(&entities(&cfg), ctx).map_err(anyhow::Error::from)
        })
        .await
        .map_err(|e| anyhow::anyhow!("snapshot builder failed: {e}"))??;
        snapshot.start_background(Arc::clone(&self.prober));
        Ok(Arc::new(snapshot))
    }
}

/// The entities the proxy compiles, from a typed configuration.
pub fn entities(cfg: &DeclarativeConfig) -> ConfigEntities {
    ConfigEntities {
        services: cfg.services.clone(),
        routes: cfg.routes.clone(),
        upstreams: cfg.upstreams.clone(),
        targets: cfg.targets.clone(),
        certificates: cfg.certificates.clone(),
        snis: cfg.snis.clone(),
    }
}

/// Follows the store's changes until the store goes away, swapping in a new snapshot
/// after each (coalesced) change. A snapshot that fails to build is logged and the
/// running one kept.
pub async fn follow(store: Arc<dyn Store>, shared: Arc<ArcSwap<Snapshot>>, builder: Builder) {
    let mut changes = store.subscribe();
    let mut built_version = store.version();
    loop {
        match changes.recv().await {
            Ok(change) if change.version <= built_version => continue,
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
        // Coalesce whatever else already arrived.
        while let Ok(c) = changes.try_recv() {
            tracing::trace!(version = c.version, "coalesced change");
        }
        let version = store.version();
        let started = Instant::now();
        match builder
            .build(store.as_ref(), Some(shared.load_full()))
            .await
        {
            Ok(snapshot) => {
                shared.store(snapshot);
                built_version = version;
                tracing::debug!(
                    version,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "configuration applied"
                );
            }
            Err(e) => {
                tracing::error!("configuration change not applied, keeping the running one: {e:#}")
            }
        }
    }
}
