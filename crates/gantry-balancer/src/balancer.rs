//! [`UpstreamBalancer`]: one upstream's balancer. Picks read an immutable topology
//! through `ArcSwap` (no locks, no allocation), skip unavailable and already-tried
//! addresses, and apply the upstream's algorithm: weighted round-robin, Kong's
//! consistent-hashing ring, least-connections, or latency (peak EWMA, power of two
//! choices). Health state, connection counts and DNS answers carry over when the
//! balancer is rebuilt for a new configuration.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use gantry_core::{Algorithm, Target, Upstream};
use tokio::time::Instant;

use crate::config::HealthConfig;
use crate::dns::{Dns, TargetDns};
use crate::hash::{HashContext, HashRule};
use crate::pick::{DECAY_NS, NoPeer, Pick, Shared, Tried, Tries};
use crate::topology::{EMPTY, Resolved, Shape, TargetSpec, Topology, continuum_points};

/// The balancer of one upstream entity. Build one per upstream when the configuration
/// changes ([`UpstreamBalancer::new`], passing the previous one to keep health), keep it
/// in an `Arc`, and call [`UpstreamBalancer::start`] / [`UpstreamBalancer::next`] per
/// request.
#[derive(Debug)]
pub struct UpstreamBalancer {
    pub(crate) name: Arc<str>,
    pub(crate) id: uuid::Uuid,
    algorithm: Algorithm,
    hash: HashRule,
    pub(crate) shared: Arc<Shared>,
    shape: Shape,
    pub(crate) specs: Vec<TargetSpec>,
    pub(crate) topology: ArcSwap<Topology>,
    cursor: AtomicUsize,
    pub(crate) dns: Dns,
    /// DNS state per spec (`None` for IP targets).
    pub(crate) dns_state: Mutex<Vec<Option<TargetDns>>>,
    pending: AtomicBool,
    pub(crate) resolve_lock: tokio::sync::Mutex<()>,
}

/// Kong keeps the last entry per target string.
fn specs_of(targets: &[Target]) -> Vec<TargetSpec> {
    let mut latest: HashMap<&str, &Target> = HashMap::new();
    for t in targets {
        latest.insert(t.target.as_str(), t);
    }
    let mut list: Vec<&Target> = latest.into_values().collect();
    list.sort_by(|a, b| a.target.cmp(&b.target));
    list.into_iter()
        .filter_map(|t| {
            let spec = TargetSpec::parse(&t.target, t.weight);
            if spec.is_none() {
                tracing::warn!(target = %t.target, "ignoring unparsable target");
            }
            spec
        })
        .collect()
}

impl UpstreamBalancer {
    /// Builds the balancer for `upstream` and its `targets`. Pass the balancer this one
    /// replaces as `previous`: addresses that persist keep their health, in-flight
    /// counts, EWMA and DNS answers, so a config reload never resets a target to
    /// healthy or makes a host name unresolved. IP targets are usable at once; host
    /// names are resolved by [`UpstreamBalancer::resolve`] (or the background
    /// [`crate::Background`] task) unless `previous` already knew them.
    pub fn new(
        upstream: &Upstream,
        targets: &[Target],
        dns: &Dns,
        previous: Option<&UpstreamBalancer>,
    ) -> UpstreamBalancer {
        let health = HealthConfig::from_json(&upstream.healthchecks);
        let epoch = previous.map_or_else(Instant::now, |p| p.shared.epoch);
        let shared = Arc::new(Shared {
            upstream: Arc::from(upstream.name.as_str()),
            health,
            epoch,
        });
        let shape = Shape {
            host_header: upstream.host_header.as_deref().map(Arc::from),
            use_srv_name: upstream.use_srv_name,
            points: if upstream.algorithm == Algorithm::ConsistentHashing {
                continuum_points(upstream.slots)
            } else {
                0
            },
            wheel: upstream.algorithm == Algorithm::RoundRobin,
        };
        let specs = specs_of(targets);
        let old_dns: HashMap<Arc<str>, TargetDns> = previous
            .map(|p| {
                let st = p.dns_state.lock().unwrap_or_else(PoisonError::into_inner);
                p.specs
                    .iter()
                    .zip(st.iter())
                    .filter_map(|(s, d)| Some((Arc::clone(&s.target), d.clone()?)))
                    .collect()
            })
            .unwrap_or_default();
        let mut pending = false;
        let dns_state: Vec<Option<TargetDns>> = specs
            .iter()
            .map(|s| {
                if s.ip.is_some() {
                    return None;
                }
                let mut d = old_dns.get(&s.target).cloned().unwrap_or_default();
                for e in &mut d.entries {
                    if e.srv_name.is_none() {
                        e.weight = s.weight;
                    }
                }
                pending |= d.refresh_at.is_none();
                Some(d)
            })
            .collect();
        let balancer = UpstreamBalancer {
            name: Arc::clone(&shared.upstream),
            id: upstream.id,
            algorithm: upstream.algorithm,
            hash: HashRule::from_upstream(upstream),
            shared,
            shape,
            specs,
            topology: ArcSwap::from_pointee(Topology::default()),
            cursor: AtomicUsize::new(0),
            dns: dns.clone(),
            dns_state: Mutex::new(dns_state),
            pending: AtomicBool::new(pending),
            resolve_lock: tokio::sync::Mutex::new(()),
        };
        let prev_topology = previous.map(|p| p.topology.load_full());
        balancer.rebuild(prev_topology.as_deref());
        balancer
    }

    /// The upstream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The upstream's id.
    pub fn id(&self) -> uuid::Uuid {
        self.id
    }

    /// `upstream.host_header`, if set.
    pub(crate) fn shape_host_header(&self) -> Option<Arc<str>> {
        self.shape.host_header.clone()
    }

    /// The health check configuration in force.
    pub fn health_config(&self) -> &HealthConfig {
        &self.shared.health
    }

    /// Recomputes the topology from specs and DNS state, keeping address state.
    pub(crate) fn rebuild(&self, previous: Option<&Topology>) {
        let current;
        let previous = match previous {
            Some(p) => Some(p),
            None => {
                current = self.topology.load_full();
                Some(&*current)
            }
        };
        let resolved: Vec<Vec<Resolved>> = {
            let st = self
                .dns_state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.specs
                .iter()
                .zip(st.iter())
                .map(|(spec, d)| match (spec.ip, d) {
                    (Some(ip), _) => vec![Resolved {
                        addr: std::net::SocketAddr::new(ip, spec.port),
                        weight: spec.weight,
                        ring_ip: Arc::clone(&spec.name),
                        srv_name: None,
                    }],
                    (None, Some(d)) => d.entries.clone(),
                    (None, None) => Vec::new(),
                })
                .collect()
        };
        let t = Topology::build(
            &self.specs,
            &resolved,
            &self.shape,
            previous,
            self.shared.now_ns(),
        );
        self.topology.store(Arc::new(t));
    }

    /// True while some host-name target was never resolved: call
    /// [`UpstreamBalancer::resolve`] before picking (one atomic load).
    pub fn needs_resolve(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Resolves host-name targets that were never resolved or whose answer expired,
    /// then swaps in the new addresses. Concurrent callers wait for one resolution.
    /// Returns whether any address changed.
    pub async fn resolve(&self) -> bool {
        let _guard = self.resolve_lock.lock().await;
        let now = Instant::now();
        let due: Vec<usize> = {
            let st = self
                .dns_state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            st.iter()
                .enumerate()
                .filter(|(_, d)| {
                    d.as_ref()
                        .is_some_and(|d| d.refresh_at.is_none_or(|t| t <= now))
                })
                .map(|(i, _)| i)
                .collect()
        };
        let mut changed = false;
        for i in due {
            let Some(spec) = self.specs.get(i) else {
                continue;
            };
            let result = self.dns.resolve_target(spec).await;
            if let Err(e) = &result {
                tracing::warn!(upstream = %self.name, target = %spec.target, error = %e, "querying dns failed");
            }
            let mut st = self
                .dns_state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(Some(d)) = st.get_mut(i) {
                changed |= d.apply(result, Instant::now(), self.dns.options());
            }
        }
        self.pending.store(false, Ordering::Release);
        if changed {
            self.rebuild(None);
        }
        changed
    }

    /// When the next DNS refresh is due, or `None` without host-name targets.
    pub fn next_dns_refresh(&self) -> Option<Instant> {
        let st = self
            .dns_state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        st.iter()
            .flatten()
            .map(|d| d.refresh_at.unwrap_or_else(Instant::now))
            .min()
    }

    /// Starts target selection for one request: computes the hash value once
    /// (consistent-hashing; may invent the hashing cookie, see [`Tries::set_cookie`]).
    pub fn start(&self, ctx: &HashContext<'_>) -> Tries {
        let (hash_index, set_cookie) = if self.shape.points > 0 {
            self.hash.index(ctx, self.shape.points)
        } else {
            (0, None)
        };
        Tries {
            hash_index,
            set_cookie,
            tried: Tried::default(),
            count: 0,
        }
    }

    /// Picks the peer for the next try: the first call gives the first peer, each
    /// further call a retry that prefers addresses not tried yet (falling back to
    /// tried ones when nothing else is available, as Kong does). `Err(NoPeer)` means
    /// no address is available: answer 503 `failure to get a peer from the
    /// ring-balancer`.
    pub fn next(&self, tries: &mut Tries) -> Result<Pick, NoPeer> {
        let topo = self.topology.load();
        if topo.addresses.is_empty() || topo.total_weight == 0 {
            return Err(NoPeer);
        }
        let threshold = self.shared.health.threshold;
        if threshold > 0.0 {
            let avail = topo.available_weight() as f64;
            if avail / topo.total_weight as f64 * 100.0 <= threshold {
                return Err(NoPeer);
            }
        }
        let idx = self
            .choose(&topo, tries, true)
            .or_else(|| self.choose(&topo, tries, false))
            .ok_or(NoPeer)?;
        let a = topo.addresses.get(idx).ok_or(NoPeer)?;
        let target = topo
            .targets
            .get(a.target)
            .map_or_else(|| Arc::clone(&self.name), |t| Arc::clone(&t.spec.target));
        tries.tried.push(a.addr);
        tries.count += 1;
        a.state.begin();
        Ok(Pick {
            addr: a.addr,
            host: Arc::clone(&a.host),
            host_port: Arc::clone(&a.host_port),
            target,
            state: Arc::clone(&a.state),
            shared: Arc::clone(&self.shared),
        })
    }

    /// [`UpstreamBalancer::start`] and one [`UpstreamBalancer::next`], for callers
    /// that never retry.
    pub fn pick(&self, ctx: &HashContext<'_>) -> Result<(Pick, Tries), NoPeer> {
        let mut tries = self.start(ctx);
        let pick = self.next(&mut tries)?;
        Ok((pick, tries))
    }

    fn choose(&self, topo: &Topology, tries: &Tries, skip_tried: bool) -> Option<usize> {
        let ok = |i: usize| {
            topo.addresses.get(i).is_some_and(|a| {
                a.weight > 0
                    && a.state.is_available()
                    && !(skip_tried && tries.tried.contains(a.addr))
            })
        };
        match self.algorithm {
            Algorithm::RoundRobin => self.round_robin(topo, ok),
            Algorithm::ConsistentHashing => ring_walk(topo, tries.hash_index, ok),
            Algorithm::LeastConnections => self.least_connections(topo, ok),
            Algorithm::Latency => self.latency(topo, ok),
        }
    }

    fn round_robin(&self, topo: &Topology, ok: impl Fn(usize) -> bool) -> Option<usize> {
        let n = topo.wheel.len();
        if n == 0 {
            return None;
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        for k in 0..n {
            let idx = *topo.wheel.get((start.wrapping_add(k)) % n)? as usize;
            if ok(idx) {
                if k > 0 {
                    // Continue after the one found, like Kong's wheel pointer.
                    self.cursor.fetch_add(k, Ordering::Relaxed);
                }
                return Some(idx);
            }
        }
        None
    }

    /// Fewest in-flight requests relative to weight (`(n + 1) / weight`), ties spread
    /// by a rotating start.
    fn least_connections(&self, topo: &Topology, ok: impl Fn(usize) -> bool) -> Option<usize> {
        let n = topo.addresses.len();
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        let mut best: Option<(usize, u64, u64)> = None;
        for k in 0..n {
            let i = start.wrapping_add(k) % n;
            if !ok(i) {
                continue;
            }
            let Some(a) = topo.addresses.get(i) else {
                continue;
            };
            let load = u64::from(a.state.in_flight()) + 1;
            let w = u64::from(a.weight);
            let better = match best {
                None => true,
                Some((_, bl, bw)) => {
                    u128::from(load) * u128::from(bw) < u128::from(bl) * u128::from(w)
                }
            };
            if better {
                best = Some((i, load, w));
            }
        }
        best.map(|(i, _, _)| i)
    }

    /// Kong's latency algorithm: score = EWMA decayed to now / weight; the better of
    /// two random candidates (power of two choices).
    fn latency(&self, topo: &Topology, ok: impl Fn(usize) -> bool) -> Option<usize> {
        let n = topo.addresses.len();
        let count = (0..n).filter(|i| ok(*i)).count();
        let nth = |k: usize| (0..n).filter(|i| ok(*i)).nth(k);
        match count {
            0 => None,
            1 => nth(0),
            _ => {
                let r1 = rand::random_range(0..count);
                let mut r2 = rand::random_range(0..count - 1);
                if r2 >= r1 {
                    r2 += 1;
                }
                let now = self.shared.now_ns();
                let score = |i: usize| {
                    topo.addresses.get(i).map_or(f64::MAX, |a| {
                        a.state.ewma(now, 0.0, DECAY_NS, false) / f64::from(a.weight.max(1))
                    })
                };
                let (a, b) = (nth(r1)?, nth(r2)?);
                Some(if score(b) < score(a) { b } else { a })
            }
        }
    }
}

/// Walks Kong's continuum counter-clockwise from the hash index.
fn ring_walk(topo: &Topology, index: u32, ok: impl Fn(usize) -> bool) -> Option<usize> {
    let points = topo.ring.len();
    if points == 0 {
        return None;
    }
    let mut i = (index as usize).clamp(1, points);
    for _ in 0..points {
        let slot = *topo.ring.get(i - 1)?;
        if slot != EMPTY && ok(slot as usize) {
            return Some(slot as usize);
        }
        i -= 1;
        if i == 0 {
            i = points;
        }
    }
    None
}
