//! Live reconfiguration: the store is the source of truth; every committed change
//! rebuilds the proxy's snapshot off the hot path (on a blocking thread) and swaps it in
//! atomically. Bursts of changes are coalesced into one rebuild; in-flight requests
//! finish on the snapshot they started with.

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use gantry_core::declarative::DeclarativeConfig;
use gantry_proxy::{ConfigEntities, Snapshot};
use gantry_store::Store;
use tokio::sync::broadcast::error::RecvError;

/// Builds a snapshot from everything in the store.
pub async fn build_from_store(store: &dyn Store) -> anyhow::Result<Snapshot> {
    let dump = store
        .dump()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the configuration: {e}"))?;
    tokio::task::spawn_blocking(move || {
        let (cfg, errors) = DeclarativeConfig::from_entity_map(&dump);
        for e in errors {
            tracing::error!("skipping an entity that does not load: {e}");
        }
        Snapshot::build(&entities(&cfg)).map_err(anyhow::Error::from)
    })
    .await
    .map_err(|e| anyhow::anyhow!("snapshot builder failed: {e}"))?
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
pub async fn follow(store: Arc<dyn Store>, shared: Arc<ArcSwap<Snapshot>>) {
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
        match build_from_store(store.as_ref()).await {
            Ok(snapshot) => {
                shared.store(Arc::new(snapshot));
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
