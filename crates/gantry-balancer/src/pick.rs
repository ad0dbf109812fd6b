//! What one pick hands the proxy: the peer address, Kong's `Host` value, and a handle
//! that reports the outcome (passive health checks, latency EWMA) and counts the
//! request as in flight until it is dropped (least-connections). Also the per-request
//! [`Tries`] cursor that remembers the hash and the addresses already tried.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::HealthConfig;
use crate::health::{AddressState, Report};

/// Kong's EWMA decay time (10 s).
pub(crate) const DECAY_NS: f64 = 10e9;

/// State every pick of one balancer shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub upstream: Arc<str>,
    pub health: HealthConfig,
    /// Zero point of EWMA timestamps.
    pub epoch: Instant,
}

impl Shared {
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// No target can take the request: Kong answers 503 `failure to get a peer from the
/// ring-balancer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("failure to get a peer from the ring-balancer")]
pub struct NoPeer;

/// How an attempt on a picked peer ended, for passive health checks and the latency
/// algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The upstream answered with `status` after `latency` (connect + time to the
    /// response head). A 504 counts as a timeout, as in Kong.
    Response { status: u16, latency: Duration },
    /// Connect, read or write timed out.
    Timeout,
    /// Connection refused or reset, TLS failure, or an invalid response.
    TcpFailure,
}

/// Addresses already tried in this request: a few inline, more spill to the heap.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tried {
    inline: [Option<SocketAddr>; 4],
    more: Vec<SocketAddr>,
}

impl Tried {
    pub fn contains(&self, a: SocketAddr) -> bool {
        self.inline.contains(&Some(a)) || self.more.contains(&a)
    }

    pub fn push(&mut self, a: SocketAddr) {
        if self.contains(a) {
            return;
        }
        match self.inline.iter_mut().find(|s| s.is_none()) {
            Some(slot) => *slot = Some(a),
            None => self.more.push(a),
        }
    }
}

/// Target selection state of one request, across retries. Create it with
/// [`crate::UpstreamBalancer::start`], then call [`crate::UpstreamBalancer::next`] for
/// the first try and for every retry.
#[derive(Debug, Clone)]
pub struct Tries {
    /// Continuum index of the hash value (1-based), for consistent hashing.
    pub(crate) hash_index: u32,
    pub(crate) set_cookie: Option<String>,
    pub(crate) tried: Tried,
    pub(crate) count: u32,
}

impl Tries {
    /// The `Set-Cookie` value to add to the client response when consistent hashing
    /// on a cookie invented one (Kong: `<name>=<uuid>; Path=<path>; Same-Site=Lax;
    /// HttpOnly`). `None` otherwise.
    pub fn set_cookie(&self) -> Option<&str> {
        self.set_cookie.as_deref()
    }

    /// How many peers were handed out so far.
    pub fn count(&self) -> u32 {
        self.count
    }
}

/// One picked peer. Keep it alive until the response is finished (it counts as in
/// flight for least-connections until dropped) and [`Pick::report`] how it went.
#[derive(Debug)]
pub struct Pick {
    pub(crate) addr: SocketAddr,
    pub(crate) host: Arc<str>,
    pub(crate) host_port: Arc<str>,
    pub(crate) target: Arc<str>,
    pub(crate) state: Arc<AddressState>,
    pub(crate) shared: Arc<Shared>,
}

impl Pick {
    /// The peer to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Host name for SNI and the `Host` header, without port: `upstream.host_header`,
    /// else the target's host name (or the SRV name with `use_srv_name`), else the IP.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Kong's upstream `Host` value: [`Pick::host`] plus `:port` unless the port is
    /// `default_port` (80 for http/grpc, 443 for https/grpcs). Ignore it when the
    /// route has `preserve_host`.
    pub fn host_header(&self, default_port: u16) -> &str {
        if self.addr.port() == default_port {
            &self.host
        } else {
            &self.host_port
        }
    }

    /// The target (`host:port`) this address belongs to.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Reports how the attempt went: feeds passive health checks (a target crossing
    /// the configured failure counts stops getting traffic) and the latency EWMA.
    /// Call once per attempt; for the final response, when its head arrives.
    pub fn report(&self, outcome: Outcome) {
        let passive = &self.shared.health.passive;
        let (report, rtt) = match outcome {
            Outcome::Response {
                status: 504,
                latency,
            } => (Report::Timeout, latency),
            Outcome::Response { status, latency } => (Report::Status(status), latency),
            Outcome::Timeout => (Report::Timeout, Duration::ZERO),
            Outcome::TcpFailure => (Report::TcpFailure, Duration::ZERO),
        };
        if let Some(to) = self.state.report(passive, report) {
            tracing::warn!(
                upstream = %self.shared.upstream,
                target = %self.target,
                address = %self.addr,
                state = ?to,
                "[healthchecks] passive check changed health"
            );
        }
        let rtt_ms = rtt.as_secs_f64() * 1000.0;
        if rtt_ms > 0.0 {
            self.state
                .ewma(self.shared.now_ns(), rtt_ms, DECAY_NS, true);
        }
    }
}

impl Drop for Pick {
    fn drop(&mut self) {
        self.state.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tried_spills_past_inline() {
        let mut t = Tried::default();
        for p in 1..=6u16 {
            t.push(SocketAddr::from(([127, 0, 0, 1], p)));
        }
        for p in 1..=6u16 {
            assert!(t.contains(SocketAddr::from(([127, 0, 0, 1], p))));
        }
        assert!(!t.contains(SocketAddr::from(([127, 0, 0, 1], 7))));
        assert_eq!(t.more.len(), 2);
    }
}
