//! Per-address state shared by every balancer built for an upstream: the health state
//! machine of lua-resty-healthcheck (healthy, mostly healthy, mostly unhealthy,
//! unhealthy, with success/failure counters) packed into one atomic word, the
//! in-flight count for least-connections and the EWMA for the latency algorithm.
//! Nothing here takes a lock.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::config::Counters;

/// Internal health, as lua-resty-healthcheck keeps it. The two "mostly" states count
/// as their outer state for balancing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InternalHealth {
    Healthy,
    MostlyHealthy,
    MostlyUnhealthy,
    Unhealthy,
}

impl InternalHealth {
    fn from_bits(b: u64) -> Self {
        match b & 0xff {
            0 => InternalHealth::Healthy,
            1 => InternalHealth::MostlyHealthy,
            2 => InternalHealth::MostlyUnhealthy,
            _ => InternalHealth::Unhealthy,
        }
    }

    fn bits(self) -> u64 {
        match self {
            InternalHealth::Healthy => 0,
            InternalHealth::MostlyHealthy => 1,
            InternalHealth::MostlyUnhealthy => 2,
            InternalHealth::Unhealthy => 3,
        }
    }

    /// Whether the balancer may send traffic to the address.
    pub fn is_available(self) -> bool {
        matches!(
            self,
            InternalHealth::Healthy | InternalHealth::MostlyHealthy
        )
    }
}

/// Which counter a report moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    Success,
    Http,
    Tcp,
    Timeout,
}

impl Counter {
    fn shift(self) -> u32 {
        match self {
            Counter::Success => 8,
            Counter::Http => 16,
            Counter::Tcp => 24,
            Counter::Timeout => 32,
        }
    }
}

const SUCCESS_MASK: u64 = 0xff << 8;
const FAILURE_MASK: u64 = (0xff << 16) | (0xff << 24) | (0xff << 32);

/// What one observation says about an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    Status(u16),
    /// Connection refused/reset, TLS failure, or an unparsable response.
    TcpFailure,
    Timeout,
    /// Active TCP probe connected.
    Success,
}

/// Shared mutable state of one resolved address.
#[derive(Debug, Default)]
pub struct AddressState {
    /// state (8 bits) | success | http | tcp | timeout counters (8 bits each).
    health: AtomicU64,
    in_flight: AtomicU32,
    /// EWMA of response time in milliseconds, as `f64` bits.
    ewma: AtomicU64,
    /// When `ewma` was last touched, in nanoseconds since the balancer's epoch.
    ewma_at: AtomicU64,
}

impl AddressState {
    /// Current internal health.
    pub fn health(&self) -> InternalHealth {
        InternalHealth::from_bits(self.health.load(Ordering::Acquire))
    }

    /// Whether traffic may go to this address.
    pub fn is_available(&self) -> bool {
        self.health().is_available()
    }

    /// Forces a state and clears the counters (Admin API `/healthy`, `/unhealthy`).
    pub fn set(&self, healthy: bool) {
        let s = if healthy {
            InternalHealth::Healthy
        } else {
            InternalHealth::Unhealthy
        };
        self.health.store(s.bits(), Ordering::Release);
    }

    /// Applies one report under `limits`; returns the new state when it changed.
    pub(crate) fn report(&self, limits: &Counters, report: Report) -> Option<InternalHealth> {
        let (healthy, limit, ctr) = match report {
            Report::Success => (true, limits.successes, Counter::Success),
            Report::Status(code) if limits.healthy_statuses.contains(code) => {
                (true, limits.successes, Counter::Success)
            }
            Report::Status(code) if limits.unhealthy_statuses.contains(code) || code == 0 => {
                (false, limits.http_failures, Counter::Http)
            }
            Report::Status(_) => return None,
            Report::TcpFailure => (false, limits.tcp_failures, Counter::Tcp),
            Report::Timeout => (false, limits.timeouts, Counter::Timeout),
        };
        self.count(healthy, limit, ctr)
    }

    /// lua-resty-healthcheck's `incr_counter`, as one compare-and-swap loop.
    fn count(&self, healthy: bool, limit: u8, ctr: Counter) -> Option<InternalHealth> {
        if limit == 0 {
            return None;
        }
        let mut cur = self.health.load(Ordering::Acquire);
        loop {
            let state = InternalHealth::from_bits(cur);
            if (healthy && state == InternalHealth::Healthy)
                || (!healthy && state == InternalHealth::Unhealthy)
            {
                return None;
            }
            let shift = ctr.shift();
            let value = (((cur >> shift) & 0xff) + 1).min(255);
            let mut counters = (cur & !0xff & !(0xff << shift)) | (value << shift);
            counters &= if healthy { SUCCESS_MASK } else { FAILURE_MASK };
            let next_state = if value >= u64::from(limit) {
                if healthy {
                    InternalHealth::Healthy
                } else {
                    InternalHealth::Unhealthy
                }
            } else if state == InternalHealth::Healthy && counters & FAILURE_MASK != 0 {
                InternalHealth::MostlyHealthy
            } else if state == InternalHealth::Unhealthy && counters & SUCCESS_MASK != 0 {
                InternalHealth::MostlyUnhealthy
            } else {
                state
            };
            let next = counters | next_state.bits();
            match self
                .health
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return (next_state != state).then_some(next_state),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Requests currently in flight to this address.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub(crate) fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn end(&self) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// EWMA decayed to `now_ns` (Kong's `decay_ewma` with rtt 0 when not updating).
    pub(crate) fn ewma(&self, now_ns: u64, rtt_ms: f64, decay_ns: f64, update: bool) -> f64 {
        let old = f64::from_bits(self.ewma.load(Ordering::Relaxed));
        let at = self.ewma_at.load(Ordering::Relaxed);
        let value = if at == 0 {
            // Never sampled: the first sample is the value (Kong's last-touched time
            // of 0 has the same effect).
            if update { rtt_ms } else { old }
        } else {
            let dt = now_ns.saturating_sub(at) as f64;
            let w = (-dt / decay_ns).exp();
            old * w + rtt_ms * (1.0 - w)
        };
        if update {
            self.ewma.store(value.to_bits(), Ordering::Relaxed);
            self.ewma_at.store(now_ns.max(1), Ordering::Relaxed);
        }
        value
    }

    /// Seeds the EWMA of a new address with the mean of the others (Kong's slow
    /// start), so it is not flooded for having no history. No-op without data.
    pub(crate) fn seed_ewma(&self, value_ms: f64, now_ns: u64) {
        if value_ms > 0.0 {
            self.ewma.store(value_ms.to_bits(), Ordering::Relaxed);
            self.ewma_at.store(now_ns.max(1), Ordering::Relaxed);
        }
    }

    /// The raw EWMA last stored, in milliseconds.
    pub(crate) fn ewma_raw(&self) -> f64 {
        f64::from_bits(self.ewma.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StatusSet;

    fn limits(successes: u8, http: u8, tcp: u8, timeouts: u8) -> Counters {
        Counters {
            healthy_statuses: StatusSet::from_codes([200]),
            successes,
            unhealthy_statuses: StatusSet::from_codes([500]),
            http_failures: http,
            tcp_failures: tcp,
            timeouts,
        }
    }

    #[test]
    fn failures_then_successes() {
        let s = AddressState::default();
        let l = limits(2, 3, 1, 2);
        assert_eq!(
            s.report(&l, Report::Status(500)),
            Some(InternalHealth::MostlyHealthy)
        );
        assert!(s.is_available());
        assert_eq!(s.report(&l, Report::Status(500)), None);
        assert_eq!(
            s.report(&l, Report::Status(500)),
            Some(InternalHealth::Unhealthy)
        );
        assert!(!s.is_available());
        // More failures while unhealthy change nothing.
        assert_eq!(s.report(&l, Report::Timeout), None);
        assert_eq!(
            s.report(&l, Report::Status(200)),
            Some(InternalHealth::MostlyUnhealthy)
        );
        assert!(!s.is_available());
        assert_eq!(
            s.report(&l, Report::Status(200)),
            Some(InternalHealth::Healthy)
        );
        assert!(s.is_available());
    }

    #[test]
    fn a_success_resets_failure_counts() {
        let s = AddressState::default();
        let l = limits(5, 2, 2, 2);
        s.report(&l, Report::Status(500));
        s.report(&l, Report::Status(200));
        // The failure count restarted: one more failure is not enough.
        s.report(&l, Report::Status(500));
        assert!(s.is_available());
        assert_eq!(
            s.report(&l, Report::Status(500)),
            Some(InternalHealth::Unhealthy)
        );
    }

    #[test]
    fn zero_limits_and_unknown_statuses_are_ignored() {
        let s = AddressState::default();
        let l = limits(0, 0, 1, 0);
        for _ in 0..10 {
            s.report(&l, Report::Status(500));
            s.report(&l, Report::Status(404));
            s.report(&l, Report::Timeout);
        }
        assert_eq!(s.health(), InternalHealth::Healthy);
        assert_eq!(
            s.report(&l, Report::TcpFailure),
            Some(InternalHealth::Unhealthy)
        );
        // successes == 0: only a manual or active change can bring it back.
        assert_eq!(s.report(&l, Report::Status(200)), None);
        s.set(true);
        assert_eq!(s.health(), InternalHealth::Healthy);
    }

    #[test]
    fn in_flight_never_underflows() {
        let s = AddressState::default();
        s.end();
        assert_eq!(s.in_flight(), 0);
        s.begin();
        s.begin();
        s.end();
        assert_eq!(s.in_flight(), 1);
    }
}
