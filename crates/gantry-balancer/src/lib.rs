//! Kong-compatible upstream balancing for Gantry (kong-reference §1.3, §1.4, §5.4–5.7,
//! §7.5): per-upstream balancers with Kong's algorithms (weighted round-robin,
//! consistent-hashing on Kong's xxhash32 ring, least-connections, latency), target
//! host names resolved through DNS with Kong's TTL rules, passive health checks fed by
//! proxied responses, active health checks probing targets in the background, and the
//! health view and overrides the Admin API exposes.
//!
//! Per request: [`UpstreamBalancer::start`] once, [`UpstreamBalancer::next`] for the
//! first try and each retry, [`Pick::report`] on each outcome, and keep the [`Pick`]
//! alive until the response body is done.

#![forbid(unsafe_code)]

mod balancer;
mod checker;
mod config;
mod dns;
mod hash;
mod health;
mod pick;
mod status;
mod topology;
mod xxhash;

pub use balancer::UpstreamBalancer;
pub use checker::{
    Background, HealthChecker, NetProber, ProbeFuture, ProbeResult, ProbeTarget, Prober,
};
pub use config::{ActiveConfig, Counters, HealthConfig, ProbeType, StatusSet};
pub use dns::{
    Dns, DnsAnswer, DnsError, DnsOptions, DnsOrder, DnsRecord, HickoryResolve, QueryFuture,
    RecordKind, Resolve, parse_hosts,
};
pub use hash::{HashContext, UriCaptures};
pub use health::{AddressState, InternalHealth};
pub use pick::{NoPeer, Outcome, Pick, Tries};
pub use status::{AddressHealth, Health, TargetHealth, UnknownTarget, UpstreamHealth};
pub use xxhash::{continuum_index, lua_xxhash32};
