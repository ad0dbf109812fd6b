//! Live reconfiguration: the store is the source of truth. The entities the proxy
//! compiles (routing, balancing, TLS, plugins, consumers and credentials) are mirrored
//! in memory; each committed change re-reads only the rows it
//! touched, and the snapshot is rebuilt off the hot path (on a blocking thread) and
//! swapped in atomically. Bursts of changes are coalesced into one rebuild; in-flight
//! requests finish on the snapshot they started with. A lagging subscriber, or a
//! `replace_all`, reloads everything.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use gantry_balancer::{Dns, DnsOptions, NetProber, Prober};
use gantry_core::{
    Acl, BasicAuthCredential, Certificate, Consumer, HmacAuthCredential, JwtSecret,
    KeyAuthCredential, Plugin, Route, Service, Sni, Target, Upstream,
};
use gantry_proxy::snapshot::{BuildContext, CERT_KINDS, CONSUMER_KINDS};
use gantry_proxy::{ConfigEntities, Snapshot};
use gantry_store::{Change, Store};

use crate::build_thread::BuildThread;
use serde_json::Value;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use uuid::Uuid;

/// The entities the proxy compiles, by id: a mirror of the store kept current by change
/// events.
#[derive(Debug, Default, Clone)]
pub struct Mirror {
    services: BTreeMap<Uuid, Service>,
    routes: BTreeMap<Uuid, Arc<Route>>,
    upstreams: BTreeMap<Uuid, Upstream>,
    targets: BTreeMap<Uuid, Target>,
    certificates: BTreeMap<Uuid, Certificate>,
    snis: BTreeMap<Uuid, Sni>,
    plugins: BTreeMap<Uuid, Plugin>,
    consumers: BTreeMap<Uuid, Consumer>,
    keyauth_credentials: BTreeMap<Uuid, KeyAuthCredential>,
    basicauth_credentials: BTreeMap<Uuid, BasicAuthCredential>,
    jwt_secrets: BTreeMap<Uuid, JwtSecret>,
    hmacauth_credentials: BTreeMap<Uuid, HmacAuthCredential>,
    acls: BTreeMap<Uuid, Acl>,
}

/// Calls `$m!(field)` for every mirrored entity kind (the field is the schema name).
macro_rules! for_each_kind {
    ($m:ident) => {
        $m!(services);
        $m!(routes);
        $m!(upstreams);
        $m!(targets);
        $m!(certificates);
        $m!(snis);
        $m!(plugins);
        $m!(consumers);
        $m!(keyauth_credentials);
        $m!(basicauth_credentials);
        $m!(jwt_secrets);
        $m!(hmacauth_credentials);
        $m!(acls);
    };
}

impl Mirror {
    /// Whether the proxy compiles entities of this kind.
    fn mirrors(entity: &str) -> bool {
        matches!(
            entity,
            "services"
                | "routes"
                | "upstreams"
                | "targets"
                | "certificates"
                | "snis"
                | "plugins"
                | "consumers"
                | "keyauth_credentials"
                | "basicauth_credentials"
                | "jwt_secrets"
                | "hmacauth_credentials"
                | "acls"
        )
    }

    /// Puts (or, with `None`, removes) one row. A row that does not fit its type is
    /// reported and left out.
    pub fn apply(&mut self, entity: &str, id: Uuid, value: Option<Value>) -> Result<(), String> {
        macro_rules! put {
            ($f:ident) => {
                if entity == stringify!($f) {
                    match value {
                        None => {
                            self.$f.remove(&id);
                        }
                        Some(v) => {
                            let typed = serde_json::from_value(v)
                                .map_err(|e| format!("{entity} {id}: {e}"))?;
                            self.$f.insert(id, typed);
                        }
                    }
                    return Ok(());
                }
            };
        }
        for_each_kind!(put);
        Ok(())
    }

    /// Reads every mirrored entity from the store.
    pub async fn load(store: &dyn Store) -> anyhow::Result<Mirror> {
        let dump = store
            .dump()
            .await
            .map_err(|e| anyhow::anyhow!("cannot read the configuration: {e}"))?;
        let mut mirror = Mirror::default();
        for (entity, rows) in dump {
            if !Mirror::mirrors(&entity) {
                continue;
            }
            for v in rows {
                let id = v
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok());
                let Some(id) = id else { continue };
                if let Err(e) = mirror.apply(&entity, id, Some(v)) {
                    tracing::error!("skipping an entity that does not load: {e}");
                }
            }
        }
        Ok(mirror)
    }

    /// The entities as the snapshot builder takes them.
    pub fn entities(&self) -> ConfigEntities {
        self.entities_except(&[])
    }

    /// The entities, leaving out the kinds listed (the builder reuses what it made
    /// of them last time): a route change need not copy 10k consumers.
    pub fn entities_except(&self, skip: &[&str]) -> ConfigEntities {
        let mut out = ConfigEntities::default();
        macro_rules! copy {
            ($f:ident) => {
                if !skip.contains(&stringify!($f)) {
                    out.$f = self.$f.values().cloned().collect();
                }
            };
        }
        for_each_kind!(copy);
        out
    }
}

/// The entities the proxy compiles, from a typed declarative configuration.
pub fn entities(cfg: &gantry_core::declarative::DeclarativeConfig) -> ConfigEntities {
    ConfigEntities {
        services: cfg.services.clone(),
        routes: cfg.routes.iter().cloned().map(Arc::new).collect(),
        upstreams: cfg.upstreams.clone(),
        targets: cfg.targets.clone(),
        certificates: cfg.certificates.clone(),
        snis: cfg.snis.clone(),
        plugins: cfg.plugins.clone(),
        consumers: cfg.consumers.clone(),
        keyauth_credentials: cfg.keyauth_credentials.clone(),
        basicauth_credentials: cfg.basicauth_credentials.clone(),
        jwt_secrets: cfg.jwt_secrets.clone(),
        hmacauth_credentials: cfg.hmacauth_credentials.clone(),
        acls: cfg.acls.clone(),
    }
}

/// What snapshot builds share: the DNS client and the prober for active health checks.
#[derive(Clone)]
pub struct Builder {
    pub dns: Dns,
    pub prober: Arc<dyn Prober>,
    /// Where snapshots are built and freed.
    pub thread: BuildThread,
}

impl Builder {
    /// DNS from the `dns_*` settings; health probes with the proxy's TLS settings.
    pub fn new(settings: &gantry_config::Settings) -> anyhow::Result<Builder> {
        let opts = DnsOptions::from_settings(|k| settings.get(k));
        let dns = Dns::new(opts).map_err(|e| anyhow::anyhow!("DNS client: {e}"))?;
        let tls = gantry_proxy::tls::UpstreamTls::new().map_err(anyhow::Error::msg)?;
        let prober: Arc<dyn Prober> = Arc::new(NetProber::with_tls(tls.verify, tls.no_verify));
        let thread = BuildThread::start().map_err(|e| anyhow::anyhow!("builder thread: {e}"))?;
        Ok(Builder {
            dns,
            prober,
            thread,
        })
    }

    /// Compiles a snapshot on the builder thread, carrying balancer state over from
    /// `previous`, and starts its health checks.
    /// `changed`: the entity kinds changed since `previous` (`None` = unknown), so
    /// the parts built from the others are reused.
    pub async fn compile(
        &self,
        entities: ConfigEntities,
        previous: Option<Arc<Snapshot>>,
        changed: Option<HashSet<String>>,
    ) -> anyhow::Result<Arc<Snapshot>> {
        let dns = self.dns.clone();
        let snapshot = self
            .thread
            .run(move || {
                let ctx = BuildContext {
                    dns: &dns,
                    previous: previous.as_deref(),
                    strict: false,
                    changed: changed.as_ref(),
                };
                Snapshot::build_with(&entities, ctx).map_err(anyhow::Error::from)
            })
            .await
            .map_err(|e| anyhow::anyhow!("snapshot builder failed: {e}"))??;
        snapshot.start_background(Arc::clone(&self.prober));
        Ok(Arc::new(snapshot))
    }
}

impl Mirror {
    /// Entity kinds the next build will not read (see `Snapshot::build_with`):
    /// consumers and credentials when no plugin is enabled (nothing reads them) or
    /// when none changed and `previous` has their index; certificates when none
    /// changed.
    fn unread_kinds(
        &self,
        changed: Option<&HashSet<String>>,
        previous: &Snapshot,
    ) -> Vec<&'static str> {
        let mut skip = Vec::new();
        if !self.plugins.values().any(|p| p.enabled) {
            skip.extend(CONSUMER_KINDS);
        }
        let Some(changed) = changed else {
            return skip;
        };
        let untouched = |kinds: &[&str]| kinds.iter().all(|k| !changed.contains(*k));
        if untouched(&CERT_KINDS) {
            skip.extend(CERT_KINDS);
        }
        if !skip.contains(&"consumers") && untouched(&CONSUMER_KINDS) && previous.plugins.is_some()
        {
            skip.extend(CONSUMER_KINDS);
        }
        skip
    }
}

/// Hands the calling thread's freed pages back to the OS (a rebuild frees a whole
/// configuration's worth of temporaries, and the thread may then idle for long).
fn release_freed_memory(after: &'static str) {
    let started = Instant::now();
    gantry_alloc::release_freed_memory();
    tracing::debug!(
        after,
        micros = started.elapsed().as_micros() as u64,
        "memory released"
    );
}

/// Drops a replaced snapshot off the proxy's threads: requests still running on it
/// hold references, and whichever releases the last one would pay for freeing every
/// route, matcher and balancer of it. Waits for them, then frees it on the builder
/// thread.
fn retire(old: Arc<Snapshot>, thread: BuildThread) {
    tokio::spawn(async move {
        let mut old = old;
        // Most requests end within milliseconds; a long stream may hold the snapshot
        // for hours, so the wait backs off to once a second.
        let mut wait = std::time::Duration::from_millis(20);
        loop {
            match Arc::try_unwrap(old) {
                Ok(snapshot) => {
                    thread.spawn(move || drop(snapshot));
                    return;
                }
                Err(still_shared) => old = still_shared,
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(std::time::Duration::from_secs(1));
        }
    });
}

/// What the pending change events ask for.
enum Pending {
    Rows(HashSet<(String, Uuid)>),
    Everything,
}

/// Waits for the next change, then drains everything else already queued.
async fn next_changes(changes: &mut Receiver<Change>, built: u64) -> Option<Pending> {
    let mut rows = HashSet::new();
    let add = |c: Change, rows: &mut HashSet<(String, Uuid)>| -> bool {
        if c.version <= built {
            return false;
        }
        if c.full {
            return true;
        }
        rows.extend(c.touched);
        false
    };
    let mut everything = match changes.recv().await {
        Ok(c) => add(c, &mut rows),
        Err(RecvError::Lagged(_)) => true,
        Err(RecvError::Closed) => return None,
    };
    loop {
        match changes.try_recv() {
            Ok(c) => everything |= add(c, &mut rows),
            Err(TryRecvError::Lagged(_)) => everything = true,
            Err(TryRecvError::Empty) => break,
            Err(TryRecvError::Closed) => return None,
        }
    }
    Some(if everything {
        Pending::Everything
    } else {
        Pending::Rows(rows)
    })
}

/// Follows the store's changes until the store goes away. `changes` must have been
/// subscribed before `mirror` was loaded (at `version`), so nothing is missed. A
/// snapshot that fails to build is logged and the running one kept.
pub async fn follow(
    store: Arc<dyn Store>,
    mut changes: Receiver<Change>,
    mut mirror: Mirror,
    mut built: u64,
    shared: Arc<ArcSwap<Snapshot>>,
    builder: Builder,
) {
    loop {
        let Some(pending) = next_changes(&mut changes, built).await else {
            return;
        };
        let version = store.version();
        let started = Instant::now();
        let full = matches!(pending, Pending::Everything);
        let changed: Option<HashSet<String>> = match &pending {
            Pending::Everything => None,
            Pending::Rows(rows) => Some(rows.iter().map(|(e, _)| e.clone()).collect()),
        };
        match pending {
            Pending::Everything => match Mirror::load(store.as_ref()).await {
                Ok(m) => mirror = m,
                Err(e) => {
                    tracing::error!("configuration change not applied: {e:#}");
                    continue;
                }
            },
            Pending::Rows(rows) if rows.iter().all(|(e, _)| !Mirror::mirrors(e)) => {
                built = version;
                continue;
            }
            Pending::Rows(rows) => {
                for (entity, id) in rows {
                    if !Mirror::mirrors(&entity) {
                        continue;
                    }
                    match store.get(&entity, id).await {
                        Ok(row) => {
                            if let Err(e) = mirror.apply(&entity, id, row) {
                                tracing::error!("skipping an entity that does not load: {e}");
                            }
                        }
                        Err(e) => tracing::error!("cannot read {entity} {id}: {e}"),
                    }
                }
            }
        }
        let read = started.elapsed();
        let previous = shared.load_full();
        let entities = mirror.entities_except(&mirror.unread_kinds(changed.as_ref(), &previous));
        match builder.compile(entities, Some(previous), changed).await {
            Ok(snapshot) => {
                retire(shared.swap(snapshot), builder.thread.clone());
                if full {
                    release_freed_memory("reload");
                }
                built = version;
                tracing::debug!(
                    version,
                    read_ms = read.as_millis() as u64,
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn key_auth() -> Plugin {
        Plugin {
            id: Uuid::new_v4(),
            created_at: 0,
            updated_at: 0,
            name: "key-auth".into(),
            instance_name: None,
            route: None,
            service: None,
            consumer: None,
            config: serde_json::json!({"key_names": ["apikey"], "hide_credentials": false,
                "anonymous": null, "key_in_header": true, "key_in_query": true,
                "key_in_body": false, "run_on_preflight": true, "realm": null}),
            protocols: vec![gantry_core::Protocol::Http],
            enabled: true,
            tags: None,
        }
    }

    /// Consumers are copied into a build exactly when it will read them.
    #[test]
    fn consumers_are_left_out_only_when_unread() {
        let routes: HashSet<String> = ["routes".to_string()].into();
        let consumers: HashSet<String> = ["keyauth_credentials".to_string()].into();
        let plain = Snapshot::build(&ConfigEntities::default()).unwrap();
        let mut mirror = Mirror::default();
        // No plugin: nothing reads consumers, whatever changed.
        assert!(mirror.unread_kinds(None, &plain).contains(&"consumers"));
        let p = key_auth();
        mirror.plugins.insert(p.id, p.clone());
        let with_plugins = Snapshot::build(&ConfigEntities {
            plugins: vec![p],
            ..ConfigEntities::default()
        })
        .unwrap();
        // A plugin, but the previous snapshot has no index to reuse: copy them.
        assert!(
            !mirror
                .unread_kinds(Some(&routes), &plain)
                .contains(&"consumers")
        );
        // Its index can be reused after a route change, not after a credential change
        // or an unknown one.
        let skip = mirror.unread_kinds(Some(&routes), &with_plugins);
        assert!(skip.contains(&"consumers") && skip.contains(&"acls"));
        assert!(skip.contains(&"certificates"));
        assert!(
            !mirror
                .unread_kinds(Some(&consumers), &with_plugins)
                .contains(&"consumers")
        );
        assert!(mirror.unread_kinds(None, &with_plugins).is_empty());
    }

    /// A replaced snapshot is freed by the control side once the last request using it
    /// lets go, not by that request's thread.
    #[tokio::test]
    async fn retired_snapshots_are_freed_after_their_last_request() {
        let snapshot = Arc::new(Snapshot::build(&ConfigEntities::default()).unwrap());
        let watch = Arc::downgrade(&snapshot);
        let in_flight = Arc::clone(&snapshot);
        retire(snapshot, BuildThread::start().unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
        assert!(watch.upgrade().is_some(), "freed while a request held it");
        drop(in_flight);
        // The request's drop was not the last one: the retiring task still holds it.
        assert!(watch.upgrade().is_some());
        for _ in 0..100 {
            if watch.upgrade().is_none() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("retired snapshot never freed");
    }
}
