//! Weighted round-robin over an upstream's targets (full balancing algorithms and
//! health checks are a separate component). The visiting order is precomputed with
//! nginx's smooth weighted round-robin, so picking is one atomic increment.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::pool::PoolKey;

/// One balanced peer with the `Host` value sent to it.
#[derive(Debug, Clone)]
pub struct Peer {
    pub key: PoolKey,
    /// `host[:port]` for the upstream `Host` header (port omitted when default),
    /// built once so each request only clones it.
    pub host_header: http::HeaderValue,
}

/// Longest precomputed schedule; weights are scaled down beyond it.
const MAX_SCHEDULE: usize = 4096;

/// Round-robin balancer for one upstream.
#[derive(Debug)]
pub struct RoundRobin {
    peers: Vec<Peer>,
    schedule: Vec<u32>,
    cursor: AtomicUsize,
}

impl RoundRobin {
    /// `targets` pairs each peer with its weight; weight 0 never gets traffic.
    pub fn new(targets: Vec<(Peer, u32)>) -> Self {
        let live: Vec<(Peer, u32)> = targets.into_iter().filter(|(_, w)| *w > 0).collect();
        let weights = scale(live.iter().map(|(_, w)| u64::from(*w)).collect());
        let peers: Vec<Peer> = live.into_iter().map(|(p, _)| p).collect();
        Self {
            schedule: smooth_schedule(&weights),
            peers,
            cursor: AtomicUsize::new(0),
        }
    }

    /// Whether any target can receive traffic.
    pub fn is_empty(&self) -> bool {
        self.schedule.is_empty()
    }

    /// Next peer in the schedule, or `None` when no target has weight.
    pub fn pick(&self) -> Option<&Peer> {
        if self.schedule.is_empty() {
            return None;
        }
        let n = self.cursor.fetch_add(1, Ordering::Relaxed) % self.schedule.len();
        let idx = *self.schedule.get(n)? as usize;
        self.peers.get(idx)
    }

    pub fn peers(&self) -> &[Peer] {
        &self.peers
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Divides weights by their gcd, then scales them so their sum fits the schedule.
fn scale(weights: Vec<u64>) -> Vec<u64> {
    let g = weights.iter().copied().fold(0, gcd).max(1);
    let mut w: Vec<u64> = weights.iter().map(|x| x / g).collect();
    let sum: u64 = w.iter().sum();
    if sum as usize > MAX_SCHEDULE {
        let factor = sum as f64 / MAX_SCHEDULE as f64;
        w = w
            .iter()
            .map(|x| ((*x as f64 / factor).round() as u64).max(1))
            .collect();
    }
    w
}

/// nginx's smooth weighted round-robin, unrolled into one full cycle.
fn smooth_schedule(weights: &[u64]) -> Vec<u32> {
    let total: i64 = weights.iter().map(|w| *w as i64).sum();
    let mut current = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best: Option<usize> = None;
        for (i, w) in weights.iter().enumerate() {
            if let Some(c) = current.get_mut(i) {
                *c += *w as i64;
            }
            let better = match best {
                None => true,
                Some(b) => current.get(i) > current.get(b),
            };
            if better {
                best = Some(i);
            }
        }
        if let Some(b) = best {
            if let Some(c) = current.get_mut(b) {
                *c -= total;
            }
            out.push(b as u32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn peer(name: &str) -> Peer {
        Peer {
            key: PoolKey {
                host: Arc::from(name),
                port: 80,
                tls: false,
                verify: false,
            },
            host_header: http::HeaderValue::from_str(name)
                .unwrap_or(http::HeaderValue::from_static("")),
        }
    }

    #[test]
    fn weights_are_respected_and_smooth() {
        let rr = RoundRobin::new(vec![(peer("a"), 5), (peer("b"), 1), (peer("c"), 1)]);
        let picks: Vec<String> = (0..7)
            .filter_map(|_| rr.pick().map(|p| p.key.host.to_string()))
            .collect();
        assert_eq!(picks, ["a", "a", "b", "a", "c", "a", "a"]);
    }

    #[test]
    fn zero_weight_never_picked_and_empty_is_none() {
        let rr = RoundRobin::new(vec![(peer("a"), 0), (peer("b"), 100)]);
        for _ in 0..10 {
            assert_eq!(rr.pick().map(|p| &*p.key.host), Some("b"));
        }
        let rr = RoundRobin::new(vec![(peer("a"), 0)]);
        assert!(rr.pick().is_none());
        assert!(rr.is_empty());
    }

    #[test]
    fn huge_weights_are_scaled() {
        let rr = RoundRobin::new(vec![(peer("a"), 65535), (peer("b"), 65534)]);
        assert!(rr.schedule.len() <= MAX_SCHEDULE + 2);
        let a = (0..1000)
            .filter(|_| rr.pick().is_some_and(|p| &*p.key.host == "a"))
            .count();
        assert!((450..=550).contains(&a), "{a}");
    }
}
