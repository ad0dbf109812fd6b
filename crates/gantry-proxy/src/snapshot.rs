//! The immutable configuration the hot path reads: the compiled router, each route's
//! service, each service's way to its upstream (a fixed host, or an upstream's
//! balancer), and the TLS certificates. Built off the hot path from validated entities
//! and swapped in atomically; balancers carry their targets' health over from the
//! snapshot they replace.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use gantry_balancer::{Background, Dns, DnsOptions, Prober, UpstreamBalancer};
use gantry_core::{
    Acl, BasicAuthCredential, Certificate, Consumer, HmacAuthCredential, JwtSecret,
    KeyAuthCredential, Plugin, Protocol, Route, Service, Sni, Target, Upstream,
};
use gantry_plugins::{Credentials, PluginConfig, PluginSet};
use gantry_router::Router;
use http::HeaderValue;
use uuid::Uuid;

use crate::pool::{PeerAddr, PoolKey, TlsPeer};
use crate::tls::CertStore;

/// A service's own host as the upstream (no upstream entity of that name).
#[derive(Debug)]
pub struct DirectPeer {
    pub key: PoolKey,
    /// `host[:port]` for the upstream `Host` header, built once.
    pub host_header: HeaderValue,
}

/// Where a service sends its traffic.
#[derive(Debug)]
pub enum Destination {
    /// `service.host` is a hostname or IP: one peer.
    Direct(DirectPeer),
    /// `service.host` names an upstream entity: its balancer picks a target.
    Balanced(Arc<UpstreamBalancer>),
}

/// A service, ready for proxying.
#[derive(Debug)]
pub struct ServiceRuntime {
    pub service: Service,
    pub destination: Destination,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    /// Upstream TLS (https/grpcs services).
    pub tls: bool,
    /// `tls_verify`.
    pub verify: bool,
    /// 80 or 443: the port left out of `Host`.
    pub default_port: u16,
}

/// A route with its service resolved.
#[derive(Debug)]
pub struct RouteRuntime {
    /// Shared with the configuration it was built from (and the next snapshot).
    pub route: Arc<Route>,
    pub service: Option<Arc<ServiceRuntime>>,
}

/// Everything the proxy needs to serve requests under one configuration.
#[derive(Debug)]
pub struct Snapshot {
    pub router: Router,
    /// Same order as the routes given to the router.
    pub routes: Vec<RouteRuntime>,
    pub services: HashMap<Uuid, Arc<ServiceRuntime>>,
    /// Balancers by upstream id (health endpoints, next snapshot's state).
    pub balancers: HashMap<Uuid, Arc<UpstreamBalancer>>,
    /// Certificates by SNI for TLS listeners (shared with the next snapshot when
    /// certificates did not change).
    pub certs: Arc<CertStore>,
    /// Plugin chains and the consumer index; `None` when no plugin is configured, so
    /// plugin-free configurations pay nothing per request.
    /// Shared with the next snapshot when nothing plugins read changed.
    pub plugins: Option<Arc<PluginSet>>,
    /// Health checks and DNS refreshes of the balancers; stop when the snapshot goes.
    background: Mutex<Vec<Background>>,
}

/// Entities a snapshot is built from (from kong.yml, or the store).
#[derive(Debug, Default, Clone)]
pub struct ConfigEntities {
    pub services: Vec<Service>,
    /// Shared, not copied, into the snapshot: a rebuild with 100k routes would
    /// otherwise copy every one of them.
    pub routes: Vec<Arc<Route>>,
    pub upstreams: Vec<Upstream>,
    pub targets: Vec<Target>,
    pub certificates: Vec<Certificate>,
    pub snis: Vec<Sni>,
    pub plugins: Vec<Plugin>,
    pub consumers: Vec<Consumer>,
    pub keyauth_credentials: Vec<KeyAuthCredential>,
    pub basicauth_credentials: Vec<BasicAuthCredential>,
    pub jwt_secrets: Vec<JwtSecret>,
    pub hmacauth_credentials: Vec<HmacAuthCredential>,
    pub acls: Vec<Acl>,
}

/// Why a configuration could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("route {route} references service {service}, which does not exist")]
    MissingService { route: Uuid, service: Uuid },
    #[error("router: {0}")]
    Router(String),
    #[error("{0}")]
    Certificate(String),
    #[error("{0}")]
    Plugins(String),
}

/// What a build may reuse: the DNS client and the snapshot being replaced.
#[derive(Clone, Copy)]
pub struct BuildContext<'a> {
    pub dns: &'a Dns,
    pub previous: Option<&'a Snapshot>,
    /// Refuse certificates that do not load (a file being checked) instead of leaving
    /// them out with an error log (a store that already accepted them).
    pub strict: bool,
    /// The entity kinds (schema names) that changed since `previous`; `None` =
    /// unknown. Parts of `previous` built only from unchanged kinds are reused, and
    /// the entities of those kinds need not be given.
    pub changed: Option<&'a HashSet<String>>,
}

/// Entity kinds the consumer index is built from.
pub const CONSUMER_KINDS: [&str; 6] = [
    "consumers",
    "keyauth_credentials",
    "basicauth_credentials",
    "jwt_secrets",
    "hmacauth_credentials",
    "acls",
];

/// Entity kinds the certificate store is built from.
pub const CERT_KINDS: [&str; 2] = ["certificates", "snis"];

impl BuildContext<'_> {
    /// The previous snapshot, when none of `kinds` changed since it was built.
    pub fn unchanged_since(&self, kinds: &[&str]) -> Option<&Snapshot> {
        let changed = self.changed?;
        let previous = self.previous?;
        kinds
            .iter()
            .all(|k| !changed.contains(*k))
            .then_some(previous)
    }
}

/// A process-wide DNS client for builds that are not given one (tests, file checks).
pub fn default_dns() -> &'static Dns {
    static DNS: OnceLock<Dns> = OnceLock::new();
    DNS.get_or_init(|| {
        Dns::new(DnsOptions::default()).unwrap_or_else(|e| {
            tracing::warn!("system DNS configuration unusable ({e}); using 127.0.0.1:53");
            let ns = [std::net::SocketAddr::from(([127, 0, 0, 1], 53))];
            match gantry_balancer::HickoryResolve::new(&ns, Duration::from_secs(5)) {
                Ok(r) => Dns::with_resolver(DnsOptions::default(), Arc::new(r)),
                Err(_) => Dns::with_resolver(DnsOptions::default(), Arc::new(NoResolver)),
            }
        })
    })
}

/// A resolver that knows nothing (only the hosts file answers).
#[derive(Debug)]
struct NoResolver;

impl gantry_balancer::Resolve for NoResolver {
    fn query<'a>(
        &'a self,
        _name: &'a str,
        _kind: gantry_balancer::RecordKind,
    ) -> gantry_balancer::QueryFuture<'a> {
        Box::pin(async { Err(gantry_balancer::DnsError::NotFound) })
    }
}

impl Snapshot {
    /// Compiles entities with the default DNS client and no previous state.
    pub fn build(cfg: &ConfigEntities) -> Result<Snapshot, SnapshotError> {
        Snapshot::build_with(
            cfg,
            BuildContext {
                dns: default_dns(),
                previous: None,
                strict: true,
                changed: None,
            },
        )
    }

    /// Compiles entities into a snapshot. Routes of disabled services are left out of
    /// the router, as Kong does; balancers keep the health of targets that persist.
    pub fn build_with(
        cfg: &ConfigEntities,
        ctx: BuildContext<'_>,
    ) -> Result<Snapshot, SnapshotError> {
        let mut targets_by_upstream: HashMap<Uuid, Vec<Target>> = HashMap::new();
        for t in &cfg.targets {
            targets_by_upstream
                .entry(t.upstream.id)
                .or_default()
                .push(t.clone());
        }
        let mut balancers = HashMap::with_capacity(cfg.upstreams.len());
        let mut by_name: HashMap<&str, Arc<UpstreamBalancer>> = HashMap::new();
        for u in &cfg.upstreams {
            let previous = ctx
                .previous
                .and_then(|p| p.balancers.get(&u.id))
                .map(Arc::as_ref);
            let targets = targets_by_upstream
                .get(&u.id)
                .map_or(&[][..], Vec::as_slice);
            let b = Arc::new(UpstreamBalancer::new(u, targets, ctx.dns, previous));
            by_name.insert(u.name.as_str(), Arc::clone(&b));
            balancers.insert(u.id, b);
        }

        let mut services = HashMap::with_capacity(cfg.services.len());
        for s in &cfg.services {
            let tls = matches!(s.protocol, Protocol::Https | Protocol::Grpcs);
            let verify = s.tls_verify == Some(true);
            let destination = match by_name.get(s.host.as_str()) {
                Some(b) => Destination::Balanced(Arc::clone(b)),
                None => Destination::Direct(direct_peer(&s.host, s.port, s.protocol, verify)),
            };
            services.insert(
                s.id,
                Arc::new(ServiceRuntime {
                    service: s.clone(),
                    destination,
                    connect_timeout: Duration::from_millis(u64::from(s.connect_timeout)),
                    read_timeout: Duration::from_millis(u64::from(s.read_timeout)),
                    write_timeout: Duration::from_millis(u64::from(s.write_timeout)),
                    tls,
                    verify,
                    default_port: if tls { 443 } else { 80 },
                }),
            );
        }

        let mut routes = Vec::with_capacity(cfg.routes.len());
        for r in &cfg.routes {
            let service = match r.service {
                Some(fk) => match services.get(&fk.id) {
                    Some(s) => Some(Arc::clone(s)),
                    None => {
                        return Err(SnapshotError::MissingService {
                            route: r.id,
                            service: fk.id,
                        });
                    }
                },
                None => None,
            };
            if service.as_ref().is_some_and(|s| !s.service.enabled) {
                continue;
            }
            routes.push(RouteRuntime {
                route: Arc::clone(r),
                service,
            });
        }
        let router = Router::from_routes(routes.iter().map(|r| &*r.route))
            .map_err(|e| SnapshotError::Router(e.to_string()))?;
        let certs = match ctx.unchanged_since(&CERT_KINDS) {
            Some(previous) => Arc::clone(&previous.certs),
            None if ctx.strict => Arc::new(
                CertStore::build(&cfg.certificates, &cfg.snis)
                    .map_err(SnapshotError::Certificate)?,
            ),
            None => {
                let (store, errors) = CertStore::build_lenient(&cfg.certificates, &cfg.snis);
                for e in errors {
                    tracing::error!("TLS: {e}; left out of the running configuration");
                }
                Arc::new(store)
            }
        };
        let plugins = build_plugins(cfg, &ctx)?;
        Ok(Snapshot {
            router,
            routes,
            services,
            balancers,
            certs,
            plugins,
            background: Mutex::new(Vec::new()),
        })
    }

    /// Starts the balancers' active health checks and DNS refreshes on the current
    /// tokio runtime; they stop when this snapshot is dropped. Call once, after the
    /// swap (or before: a snapshot that never serves only probes for a moment).
    pub fn start_background(&self, prober: Arc<dyn Prober>) {
        let mut bg = self
            .background
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !bg.is_empty() {
            return;
        }
        for b in self.balancers.values() {
            bg.push(Background::start(b, Arc::clone(&prober)));
        }
    }

    /// The balancer of an upstream, by id or name.
    pub fn balancer(&self, id_or_name: &str) -> Option<&Arc<UpstreamBalancer>> {
        match Uuid::parse_str(id_or_name) {
            Ok(id) => self.balancers.get(&id),
            Err(_) => self.balancers.values().find(|b| b.name() == id_or_name),
        }
    }
}

/// The plugin set: the previous one when nothing it reads changed; otherwise rebuilt,
/// reusing the previous consumer index when consumers and credentials did not change.
fn build_plugins(
    cfg: &ConfigEntities,
    ctx: &BuildContext<'_>,
) -> Result<Option<Arc<PluginSet>>, SnapshotError> {
    if !cfg.plugins.iter().any(|p| p.enabled) {
        return Ok(None);
    }
    let mut kinds = vec!["plugins", "routes"];
    kinds.extend(CONSUMER_KINDS);
    if let Some(previous) = ctx.unchanged_since(&kinds)
        && let Some(set) = &previous.plugins
    {
        return Ok(Some(Arc::clone(set)));
    }
    let index = ctx
        .unchanged_since(&CONSUMER_KINDS)
        .and_then(|p| p.plugins.as_ref())
        .map(|set| Arc::clone(set.index()));
    let route_ids: Vec<(Uuid, Option<Uuid>)> = cfg
        .routes
        .iter()
        .map(|r| (r.id, r.service.map(|s| s.id)))
        .collect();
    let config = PluginConfig {
        plugins: &cfg.plugins,
        routes: &route_ids,
        consumers: &cfg.consumers,
        credentials: Credentials {
            keyauth: &cfg.keyauth_credentials,
            basicauth: &cfg.basicauth_credentials,
            jwt: &cfg.jwt_secrets,
            hmacauth: &cfg.hmacauth_credentials,
            acls: &cfg.acls,
        },
    };
    let set = PluginSet::build_reusing(config, gantry_plugins::plugins::ALL, index)
        .map_err(|e| SnapshotError::Plugins(e.to_string()))?;
    Ok(Some(Arc::new(set)))
}

fn default_port(port: u16, protocol: Protocol) -> bool {
    matches!(
        (port, protocol),
        (80, Protocol::Http | Protocol::Grpc) | (443, Protocol::Https | Protocol::Grpcs)
    )
}

/// Kong's upstream `Host`: the host, plus `:port` unless it is the scheme's default.
fn host_header(host: &str, port: u16, protocol: Protocol) -> HeaderValue {
    let value = if default_port(port, protocol) {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static(""))
}

fn direct_peer(host: &str, port: u16, protocol: Protocol, verify: bool) -> DirectPeer {
    let tls = matches!(protocol, Protocol::Https | Protocol::Grpcs);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addr = match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => PeerAddr::Ip(std::net::SocketAddr::new(ip, port)),
        Err(_) => PeerAddr::Name(Arc::from(host), port),
    };
    DirectPeer {
        key: PoolKey {
            addr,
            tls: tls.then(|| TlsPeer {
                sni: Arc::from(host),
                verify,
            }),
        },
        host_header: host_header(host, port, protocol),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_omits_default_ports() {
        assert_eq!(host_header("a", 80, Protocol::Http), "a");
        assert_eq!(host_header("a", 443, Protocol::Https), "a");
        assert_eq!(host_header("a", 443, Protocol::Http), "a:443");
        assert_eq!(host_header("a", 8080, Protocol::Http), "a:8080");
    }
}
