//! The immutable configuration the hot path reads: the compiled router, each route's
//! service, and each service's way to its upstream (a fixed host or a balancer). Built
//! off the hot path from validated entities and swapped in atomically.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gantry_core::{Certificate, Protocol, Route, Service, Sni, Target, Upstream};
use gantry_router::Router;
use uuid::Uuid;

use crate::balancer::{Peer, RoundRobin};
use crate::pool::PoolKey;
use crate::tls::CertStore;

/// Where a service sends its traffic.
#[derive(Debug)]
pub enum Destination {
    /// `service.host` is a hostname or IP: one peer.
    Direct(Peer),
    /// `service.host` names an upstream entity: its balancer picks a target.
    Balanced {
        balancer: RoundRobin,
        /// `upstream.host_header`, overriding the target's host.
        host_header: Option<http::HeaderValue>,
        upstream_name: Arc<str>,
    },
}

/// A service, ready for proxying.
#[derive(Debug)]
pub struct ServiceRuntime {
    pub service: Service,
    pub destination: Destination,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
}

/// A route with its service resolved.
#[derive(Debug)]
pub struct RouteRuntime {
    pub route: Route,
    pub service: Option<Arc<ServiceRuntime>>,
}

/// Everything the proxy needs to serve requests under one configuration.
#[derive(Debug)]
pub struct Snapshot {
    pub router: Router,
    /// Same order as the routes given to the router.
    pub routes: Vec<RouteRuntime>,
    pub services: HashMap<Uuid, Arc<ServiceRuntime>>,
    /// Certificates by SNI for TLS listeners.
    pub certs: CertStore,
}

/// Entities a snapshot is built from (from kong.yml, or the store).
#[derive(Debug, Default, Clone)]
pub struct ConfigEntities {
    pub services: Vec<Service>,
    pub routes: Vec<Route>,
    pub upstreams: Vec<Upstream>,
    pub targets: Vec<Target>,
    pub certificates: Vec<Certificate>,
    pub snis: Vec<Sni>,
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
}

impl Snapshot {
    /// Compiles entities into a snapshot. Routes of disabled services are left out of
    /// the router, as Kong does.
    pub fn build(cfg: &ConfigEntities) -> Result<Snapshot, SnapshotError> {
        let upstreams: HashMap<&str, &Upstream> =
            cfg.upstreams.iter().map(|u| (u.name.as_str(), u)).collect();
        let mut targets_by_upstream: HashMap<Uuid, Vec<&Target>> = HashMap::new();
        for t in &cfg.targets {
            targets_by_upstream
                .entry(t.upstream.id)
                .or_default()
                .push(t);
        }

        let mut services = HashMap::with_capacity(cfg.services.len());
        for s in &cfg.services {
            let destination = match upstreams.get(s.host.as_str()) {
                Some(u) => balanced(s, u, targets_by_upstream.get(&u.id).map_or(&[][..], |v| v)),
                None => Destination::Direct(peer(
                    &s.host,
                    s.port,
                    s.protocol,
                    s.tls_verify == Some(true),
                )),
            };
            services.insert(
                s.id,
                Arc::new(ServiceRuntime {
                    service: s.clone(),
                    destination,
                    connect_timeout: Duration::from_millis(u64::from(s.connect_timeout)),
                    read_timeout: Duration::from_millis(u64::from(s.read_timeout)),
                    write_timeout: Duration::from_millis(u64::from(s.write_timeout)),
                }),
            );
        }

        let mut routes = Vec::with_capacity(cfg.routes.len());
        let mut router_input = Vec::with_capacity(cfg.routes.len());
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
            router_input.push(r.clone());
            routes.push(RouteRuntime {
                route: r.clone(),
                service,
            });
        }
        let router =
            Router::new(&router_input).map_err(|e| SnapshotError::Router(e.to_string()))?;
        let certs =
            CertStore::build(&cfg.certificates, &cfg.snis).map_err(SnapshotError::Certificate)?;
        Ok(Snapshot {
            router,
            routes,
            services,
            certs,
        })
    }
}

fn default_port(port: u16, protocol: Protocol) -> bool {
    matches!(
        (port, protocol),
        (80, Protocol::Http | Protocol::Grpc) | (443, Protocol::Https | Protocol::Grpcs)
    )
}

/// Kong's upstream `Host`: the host, plus `:port` unless it is the scheme's default.
fn host_header(host: &str, port: u16, protocol: Protocol) -> http::HeaderValue {
    let value = if default_port(port, protocol) {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    http::HeaderValue::from_str(&value).unwrap_or(http::HeaderValue::from_static(""))
}

fn peer(host: &str, port: u16, protocol: Protocol, verify: bool) -> Peer {
    let tls = matches!(protocol, Protocol::Https | Protocol::Grpcs);
    Peer {
        key: PoolKey {
            host: Arc::from(host),
            port,
            tls,
            verify: tls && verify,
        },
        host_header: host_header(host, port, protocol),
    }
}

/// Splits a normalized target (`host:port`, `[v6]:port`) into host and port.
fn split_target(target: &str) -> Option<(&str, u16)> {
    let (host, port) = target.rsplit_once(':')?;
    let port = port.parse().ok()?;
    Some((host, port))
}

fn balanced(s: &Service, u: &Upstream, targets: &[&Target]) -> Destination {
    // Kong keeps the last entry per target string (later ones override earlier ones).
    let mut latest: HashMap<&str, &Target> = HashMap::new();
    for t in targets {
        latest.insert(t.target.as_str(), t);
    }
    let mut list: Vec<&&Target> = latest.values().collect();
    list.sort_by(|a, b| a.target.cmp(&b.target));
    let peers = list
        .into_iter()
        .filter_map(|t| {
            let (host, port) = split_target(&t.target)?;
            Some((
                peer(host, port, s.protocol, s.tls_verify == Some(true)),
                t.weight,
            ))
        })
        .collect();
    Destination::Balanced {
        balancer: RoundRobin::new(peers),
        host_header: u
            .host_header
            .as_deref()
            .and_then(|h| http::HeaderValue::from_str(h).ok()),
        upstream_name: Arc::from(u.name.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_split_handles_ipv6() {
        assert_eq!(split_target("[::1]:8000"), Some(("[::1]", 8000)));
        assert_eq!(split_target("a.b:80"), Some(("a.b", 80)));
        assert_eq!(split_target("nope"), None);
    }

    #[test]
    fn host_header_omits_default_ports() {
        assert_eq!(host_header("a", 80, Protocol::Http), "a");
        assert_eq!(host_header("a", 443, Protocol::Https), "a");
        assert_eq!(host_header("a", 443, Protocol::Http), "a:443");
        assert_eq!(host_header("a", 8080, Protocol::Http), "a:8080");
    }
}
