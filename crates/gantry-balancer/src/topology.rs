//! The immutable picture of an upstream that picks read: targets, their resolved
//! addresses (each with its shared [`AddressState`]), the round-robin schedule and the
//! consistent-hashing continuum built exactly as Kong builds it. A new topology is
//! built on every config or DNS change and swapped in; address state carries over.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::health::AddressState;
use crate::xxhash::continuum_index;

/// Kong's `SERVER_POINTS`: ring entries per target when all weights are equal.
const SERVER_POINTS: f64 = 160.0;
/// Kong's continuum size bounds; `slots` outside them means 1000.
const MIN_CONTINUUM: u32 = 1000;
/// Longest precomputed round-robin schedule; weights are scaled down beyond it.
const MAX_SCHEDULE: usize = 4096;
/// An empty continuum slot.
pub(crate) const EMPTY: u32 = u32::MAX;

/// One configured target (`host:port`, weight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetSpec {
    /// The target string as configured (`host:port`).
    pub target: Arc<str>,
    /// Host part, brackets kept for IPv6.
    pub name: Arc<str>,
    pub port: u16,
    pub weight: u32,
    /// Set when the host is an IP literal (no DNS).
    pub ip: Option<IpAddr>,
}

impl TargetSpec {
    /// Splits a normalized target (`host:port`, `[v6]:port`; port 8000 when absent).
    pub fn parse(target: &str, weight: u32) -> Option<TargetSpec> {
        let (name, port) = match target.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && (!h.contains(':') || h.ends_with(']')) => {
                (h, p.parse().ok()?)
            }
            _ => (target, 8000),
        };
        if name.is_empty() {
            return None;
        }
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        Some(TargetSpec {
            target: Arc::from(target),
            name: Arc::from(name),
            port,
            weight,
            ip: bare.parse().ok(),
        })
    }
}

/// One address a target resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub addr: SocketAddr,
    pub weight: u32,
    /// The address as Kong writes it in ring keys (an IP, or an SRV target name).
    pub ring_ip: Arc<str>,
    /// The SRV target name this came from, if any.
    pub srv_name: Option<Arc<str>>,
}

/// A resolved address ready for picking.
#[derive(Debug)]
pub(crate) struct Address {
    pub addr: SocketAddr,
    pub weight: u32,
    /// Index into `Topology::targets`.
    pub target: usize,
    pub state: Arc<AddressState>,
    /// Host for the `Host` header and SNI, without port.
    pub host: Arc<str>,
    /// `host:port`.
    pub host_port: Arc<str>,
}

/// A target and the range of its addresses.
#[derive(Debug)]
pub(crate) struct TargetView {
    pub spec: TargetSpec,
    pub first: usize,
    pub count: usize,
}

/// Everything a pick needs, immutable.
#[derive(Debug, Default)]
pub(crate) struct Topology {
    pub targets: Vec<TargetView>,
    pub addresses: Vec<Address>,
    pub total_weight: u64,
    /// Round-robin schedule of address indices.
    pub wheel: Vec<u32>,
    /// Consistent-hashing continuum (`points` slots of address indices or [`EMPTY`]).
    pub ring: Vec<u32>,
}

/// Options that shape how a topology is built.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub host_header: Option<Arc<str>>,
    pub use_srv_name: bool,
    /// Continuum size, or 0 when no ring is needed.
    pub points: u32,
    pub wheel: bool,
}

/// Kong's continuum size for `slots`.
pub(crate) fn continuum_points(slots: u32) -> u32 {
    if slots >= MIN_CONTINUUM {
        slots
    } else {
        MIN_CONTINUUM
    }
}

impl Topology {
    /// Builds from targets and their resolved addresses (`resolved[i]` belongs to
    /// `specs[i]`), reusing the state of addresses `previous` already had.
    pub fn build(
        specs: &[TargetSpec],
        resolved: &[Vec<Resolved>],
        shape: &Shape,
        previous: Option<&Topology>,
        now_ns: u64,
    ) -> Topology {
        let mut order: Vec<usize> = (0..specs.len()).collect();
        order.sort_by(|a, b| {
            let (sa, sb) = (specs.get(*a), specs.get(*b));
            sa.map(|s| (&s.name, s.port))
                .cmp(&sb.map(|s| (&s.name, s.port)))
        });
        let old: HashMap<(&str, SocketAddr), &Arc<AddressState>> = previous
            .map(|p| {
                p.addresses
                    .iter()
                    .filter_map(|a| {
                        let t = p.targets.get(a.target)?;
                        Some(((&*t.spec.target, a.addr), &a.state))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let slow_start = previous.map_or(0.0, slow_start_ewma);

        let mut targets = Vec::with_capacity(specs.len());
        let mut addresses = Vec::new();
        let mut ring_keys: Vec<Arc<str>> = Vec::new();
        for i in order {
            let Some(spec) = specs.get(i) else { continue };
            let mut list: Vec<&Resolved> = resolved
                .get(i)
                .map(|v| v.iter().collect())
                .unwrap_or_default();
            list.sort_by_key(|r| ring_sort_key(r));
            list.dedup_by(|a, b| a.addr == b.addr);
            let first = addresses.len();
            for r in &list {
                let state = match old.get(&(&*spec.target, r.addr)) {
                    Some(s) => Arc::clone(s),
                    None => {
                        let s = AddressState::default();
                        s.seed_ewma(slow_start, now_ns);
                        Arc::new(s)
                    }
                };
                let host: Arc<str> = match (&shape.host_header, &r.srv_name) {
                    (Some(h), _) => Arc::clone(h),
                    (None, Some(srv)) if shape.use_srv_name => Arc::clone(srv),
                    (None, _) => Arc::clone(&spec.name),
                };
                let host_port = Arc::from(format!("{host}:{}", r.addr.port()));
                addresses.push(Address {
                    addr: r.addr,
                    weight: r.weight,
                    target: targets.len(),
                    state,
                    host,
                    host_port,
                });
                ring_keys.push(Arc::clone(&r.ring_ip));
            }
            targets.push(TargetView {
                spec: spec.clone(),
                first,
                count: addresses.len() - first,
            });
        }
        let total_weight = addresses.iter().map(|a| u64::from(a.weight)).sum();
        let wheel = if shape.wheel {
            smooth_schedule(&addresses)
        } else {
            Vec::new()
        };
        let ring = if shape.points > 0 {
            continuum(
                &addresses,
                &ring_keys,
                targets.len(),
                total_weight,
                shape.points,
            )
        } else {
            Vec::new()
        };
        Topology {
            targets,
            addresses,
            total_weight,
            wheel,
            ring,
        }
    }

    /// Weight of available addresses.
    pub fn available_weight(&self) -> u64 {
        self.addresses
            .iter()
            .filter(|a| a.state.is_available())
            .map(|a| u64::from(a.weight))
            .sum()
    }
}

fn ring_sort_key(r: &Resolved) -> String {
    format!("{}:{}", r.ring_ip, r.addr.port())
}

/// Kong's slow-start EWMA: the mean over available addresses.
fn slow_start_ewma(t: &Topology) -> f64 {
    let live: Vec<f64> = t
        .addresses
        .iter()
        .filter(|a| a.state.is_available())
        .map(|a| a.state.ewma_raw())
        .collect();
    if live.is_empty() {
        0.0
    } else {
        live.iter().sum::<f64>() / live.len() as f64
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// nginx's smooth weighted round-robin unrolled into one cycle (weights divided by
/// their gcd and scaled to fit), so picking is one atomic increment.
fn smooth_schedule(addresses: &[Address]) -> Vec<u32> {
    let live: Vec<(u32, u64)> = addresses
        .iter()
        .enumerate()
        .filter(|(_, a)| a.weight > 0)
        .map(|(i, a)| (i as u32, u64::from(a.weight)))
        .collect();
    if live.is_empty() {
        return Vec::new();
    }
    let g = live.iter().map(|(_, w)| *w).fold(0, gcd).max(1);
    let mut weights: Vec<u64> = live.iter().map(|(_, w)| w / g).collect();
    let cap = MAX_SCHEDULE.max(live.len()) as u64;
    let sum: u64 = weights.iter().sum();
    if sum > cap {
        let factor = sum as f64 / cap as f64;
        for w in &mut weights {
            *w = ((*w as f64 / factor).round() as u64).max(1);
        }
    }
    let total: i64 = weights.iter().map(|w| *w as i64).sum();
    let mut current = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0usize;
        let mut best_val = i64::MIN;
        for (i, (c, w)) in current.iter_mut().zip(&weights).enumerate() {
            *c += *w as i64;
            if *c > best_val {
                best_val = *c;
                best = i;
            }
        }
        if let Some(c) = current.get_mut(best) {
            *c -= total;
        }
        if let Some((idx, _)) = live.get(best) {
            out.push(*idx);
        }
    }
    out
}

/// Kong's `afterHostUpdate` for consistent hashing: each address gets
/// `floor(weight / total * targets * 160)` points (at least 1 when weighted) at
/// `xxhash32("<ip>::<port> <i>") % points`, collisions pushing the count forward.
fn continuum(
    addresses: &[Address],
    ring_keys: &[Arc<str>],
    targets: usize,
    total_weight: u64,
    points: u32,
) -> Vec<u32> {
    let mut ring = vec![EMPTY; points as usize];
    if total_weight == 0 {
        return ring;
    }
    for (idx, (a, ip)) in addresses.iter().zip(ring_keys).enumerate() {
        let share = f64::from(a.weight) / total_weight as f64;
        let mut entries = (share * targets as f64 * SERVER_POINTS).floor() as u64;
        if a.weight > 0 && entries == 0 {
            entries = 1;
        }
        let mut i: u64 = 1;
        while i <= entries {
            let key = format!("{ip}::{} {i}", a.addr.port());
            let slot = continuum_index(key.as_bytes(), points) as usize - 1;
            match ring.get_mut(slot) {
                Some(s) if *s == EMPTY => *s = idx as u32,
                _ => entries += 1,
            }
            i += 1;
            if i > u64::from(points) {
                tracing::error!(
                    "consistent hashing balancer requires more entries to add the number \
                     of hosts requested, please increase the wheel size"
                );
                return ring;
            }
        }
    }
    ring
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    pub(crate) fn ip_specs(list: &[(&str, u32)]) -> (Vec<TargetSpec>, Vec<Vec<Resolved>>) {
        let specs: Vec<TargetSpec> = list
            .iter()
            .map(|(t, w)| TargetSpec::parse(t, *w).unwrap())
            .collect();
        let resolved = specs
            .iter()
            .map(|s| {
                vec![Resolved {
                    addr: SocketAddr::new(s.ip.unwrap(), s.port),
                    weight: s.weight,
                    ring_ip: Arc::clone(&s.name),
                    srv_name: None,
                }]
            })
            .collect();
        (specs, resolved)
    }

    fn shape(points: u32) -> Shape {
        Shape {
            host_header: None,
            use_srv_name: false,
            points,
            wheel: true,
        }
    }

    #[test]
    fn parse_targets() {
        let t = TargetSpec::parse("[::1]:8080", 5).unwrap();
        assert_eq!((&*t.name, t.port), ("[::1]", 8080));
        assert!(t.ip.is_some());
        let t = TargetSpec::parse("example.com", 5).unwrap();
        assert_eq!((&*t.name, t.port, t.ip), ("example.com", 8000, None));
        assert!(TargetSpec::parse("", 1).is_none());
    }

    #[test]
    fn ring_points_follow_kong() {
        let (specs, res) = ip_specs(&[("10.0.0.1:80", 100), ("10.0.0.2:80", 100)]);
        let t = Topology::build(&specs, &res, &shape(10_000), None, 0);
        let filled = t.ring.iter().filter(|s| **s != EMPTY).count();
        // Two equal targets: 160 points each (collisions add points, never remove).
        assert_eq!(filled, 320);
        // First point of the first address lands where Kong puts "10.0.0.1::80 1".
        let slot = continuum_index(b"10.0.0.1::80 1", 10_000) as usize - 1;
        assert_eq!(t.ring[slot], 0);
        assert_eq!(continuum_points(10), 1000);
    }

    #[test]
    fn weights_shape_points_and_schedule() {
        let (specs, res) = ip_specs(&[
            ("10.0.0.1:80", 300),
            ("10.0.0.2:80", 100),
            ("10.0.0.3:80", 0),
        ]);
        let t = Topology::build(&specs, &res, &shape(10_000), None, 0);
        let count = |i: u32| t.ring.iter().filter(|s| **s == i).count();
        // 300/400 * 3 * 160 = 360, 100/400 * 3 * 160 = 120, weight 0 gets none.
        assert_eq!((count(0), count(1), count(2)), (360, 120, 0));
        assert_eq!(t.wheel, vec![0, 0, 1, 0]);
    }
}
