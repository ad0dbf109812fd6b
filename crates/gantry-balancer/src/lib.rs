//! Kong-compatible upstream balancing for Gantry (kong-reference §1.3, §1.4, §5.4–5.7,
//! §7.5): per-upstream balancers with Kong's algorithms (weighted round-robin,
//! consistent-hashing on Kong's xxhash32 ring, least-connections, latency), target
//! host names resolved through DNS with Kong's TTL rules, passive health checks fed by
//! proxied responses, active health checks probing targets in the background, and the
//! health view and overrides the Admin API exposes.
//!
//! Lifecycle, for the proxy:
//!
//! ```text
//! startup:        let dns = Dns::new(DnsOptions { .. from kong.conf dns_* .. })?;
//! config change:  let b = Arc::new(UpstreamBalancer::new(&upstream, &targets, &dns, old.as_deref()));
//!                 let bg = Background::start(&b, Arc::new(NetProber::with_tls(verify, no_verify)));
//!                 (drop the old balancer's Background after swapping the snapshot)
//! per request:    if b.needs_resolve() { b.resolve().await }        // one atomic load
//!                 let mut tries = b.start(&HashContext { consumer, client_ip, headers, .. });
//!                 loop {
//!                     let pick = b.next(&mut tries)?;              // Err(NoPeer) → 503
//!                     connect to pick.addr(), Host = pick.host_header(80 or 443), SNI = pick.host()
//!                     on connect error/timeout: pick.report(TcpFailure | Timeout); retry if allowed
//!                     on response head: pick.report(Response { status, latency }); break
//!                 }
//!                 add tries.set_cookie() as Set-Cookie to the client response
//!                 keep `pick` until the response body ends (least-connections count)
//! admin API:      b.health(), b.set_target_health(t, bool), b.set_address_health(t, addr, bool)
//! ```

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
