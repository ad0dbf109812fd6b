//! The health view and manual overrides behind the Admin API's
//! `/upstreams/{u}/health` and `/upstreams/{u}/targets/{t}/[{address}/]healthy|unhealthy`.

use std::net::SocketAddr;

use crate::balancer::UpstreamBalancer;
use crate::health::AddressState;
use crate::topology::TargetSpec;

/// Kong's health words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Healthy,
    Unhealthy,
    /// The target's host name does not resolve.
    DnsError,
    /// No active interval and no passive failure counter is configured.
    HealthchecksOff,
}

impl Health {
    /// `HEALTHY`, `UNHEALTHY`, `DNS_ERROR` or `HEALTHCHECKS_OFF`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "HEALTHY",
            Health::Unhealthy => "UNHEALTHY",
            Health::DnsError => "DNS_ERROR",
            Health::HealthchecksOff => "HEALTHCHECKS_OFF",
        }
    }
}

/// One resolved address of a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressHealth {
    pub addr: SocketAddr,
    pub weight: u32,
    pub health: Health,
    /// Requests in flight right now.
    pub in_flight: u32,
}

/// One target as `/upstreams/{u}/health` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetHealth {
    /// `host:port` as configured.
    pub target: String,
    pub weight: u32,
    pub health: Health,
    pub addresses: Vec<AddressHealth>,
    /// The last DNS failure for a host-name target.
    pub dns_error: Option<String>,
}

/// The whole upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamHealth {
    /// `HEALTHY` while the available weight is above `healthchecks.threshold` percent,
    /// `HEALTHCHECKS_OFF` when health checks are not configured.
    pub health: Health,
    pub targets: Vec<TargetHealth>,
}

/// The target named in a health override does not belong to this upstream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("target not found")]
pub struct UnknownTarget;

fn address_health(state: &AddressState, checks_on: bool) -> Health {
    match (state.is_available(), checks_on) {
        (true, false) => Health::HealthchecksOff,
        (true, true) => Health::Healthy,
        (false, _) => Health::Unhealthy,
    }
}

fn same_target(spec: &TargetSpec, wanted: &str) -> bool {
    if &*spec.target == wanted {
        return true;
    }
    TargetSpec::parse(wanted, 0).is_some_and(|w| w.name == spec.name && w.port == spec.port)
}

impl UpstreamBalancer {
    /// Health of every target and address, for the Admin API. Not for the hot path
    /// (it allocates).
    pub fn health(&self) -> UpstreamHealth {
        let on = self.shared.health.enabled();
        let topo = self.topology.load();
        let dns_errors: Vec<Option<String>> = {
            let st = self
                .dns_state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            st.iter()
                .map(|d| {
                    let d = d.as_ref()?;
                    match (&d.error, d.refresh_at) {
                        (Some(e), _) => Some(e.to_string()),
                        (None, None) => Some("not resolved yet".to_owned()),
                        (None, Some(_)) => None,
                    }
                })
                .collect()
        };
        let targets = topo
            .targets
            .iter()
            .map(|t| {
                let addresses: Vec<AddressHealth> = topo
                    .addresses
                    .iter()
                    .skip(t.first)
                    .take(t.count)
                    .map(|a| AddressHealth {
                        addr: a.addr,
                        weight: a.weight,
                        health: address_health(&a.state, on),
                        in_flight: a.state.in_flight(),
                    })
                    .collect();
                let dns_error = self
                    .specs
                    .iter()
                    .position(|s| s.target == t.spec.target)
                    .and_then(|i| dns_errors.get(i).cloned().flatten());
                let health = if addresses.is_empty() && t.spec.ip.is_none() {
                    Health::DnsError
                } else if addresses.iter().any(|a| a.health != Health::Unhealthy) {
                    if on {
                        Health::Healthy
                    } else {
                        Health::HealthchecksOff
                    }
                } else {
                    Health::Unhealthy
                };
                TargetHealth {
                    target: t.spec.target.to_string(),
                    weight: t.spec.weight,
                    health,
                    addresses,
                    dns_error,
                }
            })
            .collect();
        let health = if !on {
            Health::HealthchecksOff
        } else if topo.total_weight > 0
            && topo.available_weight() as f64 / topo.total_weight as f64 * 100.0
                > self.shared.health.threshold
        {
            Health::Healthy
        } else {
            Health::Unhealthy
        };
        UpstreamHealth { health, targets }
    }

    /// Forces every address of `target` (`host:port`, or `host` for port 8000) healthy
    /// or unhealthy and clears its counters (`POST …/targets/{t}/healthy|unhealthy`).
    /// The state holds until checks move it again and survives config reloads.
    /// Returns how many addresses changed hands.
    pub fn set_target_health(&self, target: &str, healthy: bool) -> Result<usize, UnknownTarget> {
        let topo = self.topology.load();
        let t = topo
            .targets
            .iter()
            .find(|t| same_target(&t.spec, target))
            .ok_or(UnknownTarget)?;
        let mut n = 0;
        for a in topo.addresses.iter().skip(t.first).take(t.count) {
            a.state.set(healthy);
            n += 1;
        }
        tracing::warn!(upstream = %self.name, target, healthy, "[healthchecks] health forced");
        Ok(n)
    }

    /// Forces one address of `target` (`POST …/targets/{t}/{address}/healthy|unhealthy`).
    pub fn set_address_health(
        &self,
        target: &str,
        addr: SocketAddr,
        healthy: bool,
    ) -> Result<(), UnknownTarget> {
        let topo = self.topology.load();
        let t = topo
            .targets
            .iter()
            .find(|t| same_target(&t.spec, target))
            .ok_or(UnknownTarget)?;
        let a = topo
            .addresses
            .iter()
            .skip(t.first)
            .take(t.count)
            .find(|a| a.addr == addr)
            .ok_or(UnknownTarget)?;
        a.state.set(healthy);
        tracing::warn!(upstream = %self.name, target, %addr, healthy, "[healthchecks] health forced");
        Ok(())
    }
}
