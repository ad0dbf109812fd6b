//! Kong's `upstream.healthchecks` record (kong-reference §5.7), read from the validated
//! JSON the core crate keeps, with Kong's defaults for anything missing.

use std::time::Duration;

use serde_json::Value;

/// A set of HTTP statuses (100..=999) as a bitmap, so membership is one lookup.
#[derive(Clone, PartialEq, Eq)]
pub struct StatusSet([u64; 16]);

impl StatusSet {
    /// A set with the given statuses; values outside 0..1024 are ignored.
    pub fn from_codes(codes: impl IntoIterator<Item = u16>) -> Self {
        let mut bits = [0u64; 16];
        for c in codes {
            if let Some(word) = bits.get_mut(usize::from(c / 64)) {
                *word |= 1u64 << (c % 64);
            }
        }
        StatusSet(bits)
    }

    /// Whether `code` is in the set.
    pub fn contains(&self, code: u16) -> bool {
        self.0
            .get(usize::from(code / 64))
            .is_some_and(|w| w & (1u64 << (code % 64)) != 0)
    }
}

impl std::fmt::Debug for StatusSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries((0..1024u16).filter(|c| self.contains(*c)))
            .finish()
    }
}

/// How active probes talk to targets (`healthchecks.active.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeType {
    Tcp,
    Http,
    Https,
    /// gRPC health checks are accepted by the schema; probed as plain TCP here.
    Grpc,
    Grpcs,
}

/// Thresholds that move a target towards healthy or unhealthy. 0 disables a counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counters {
    /// Statuses counted as successes.
    pub healthy_statuses: StatusSet,
    /// Successes needed to become healthy.
    pub successes: u8,
    /// Statuses counted as HTTP failures.
    pub unhealthy_statuses: StatusSet,
    pub http_failures: u8,
    pub tcp_failures: u8,
    pub timeouts: u8,
}

/// `healthchecks.active`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveConfig {
    pub probe: ProbeType,
    pub timeout: Duration,
    pub concurrency: usize,
    pub http_path: String,
    pub https_sni: Option<String>,
    pub https_verify_certificate: bool,
    /// Extra request headers as `(name, value)` pairs, in configuration order.
    pub headers: Vec<(String, String)>,
    /// How often healthy targets are probed; zero = never.
    pub healthy_interval: Duration,
    /// How often unhealthy targets are probed; zero = never.
    pub unhealthy_interval: Duration,
    pub counters: Counters,
}

/// The whole `healthchecks` record.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthConfig {
    /// Percentage of healthy weight at or below which the upstream is unhealthy.
    pub threshold: f64,
    pub active: ActiveConfig,
    pub passive: Counters,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig::from_json(&Value::Null)
    }
}

fn num(v: &Value, path: &[&str]) -> Option<f64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_f64()
}

fn counter(v: &Value, path: &[&str], default: u8) -> u8 {
    num(v, path).map_or(default, |n| n.clamp(0.0, 255.0) as u8)
}

fn seconds(v: &Value, path: &[&str]) -> Duration {
    let s = num(v, path).unwrap_or(0.0);
    if s.is_finite() && s > 0.0 {
        Duration::from_secs_f64(s.min(65_535.0))
    } else {
        Duration::ZERO
    }
}

fn statuses(v: &Value, path: &[&str], default: &[u16]) -> StatusSet {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(next) => cur = next,
            None => return StatusSet::from_codes(default.iter().copied()),
        }
    }
    match cur.as_array() {
        Some(list) => StatusSet::from_codes(
            list.iter()
                .filter_map(Value::as_u64)
                .filter_map(|c| u16::try_from(c).ok()),
        ),
        None => StatusSet::from_codes(default.iter().copied()),
    }
}

fn string(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().map(str::to_owned)
}

const ACTIVE_HEALTHY: &[u16] = &[200, 302];
const ACTIVE_UNHEALTHY: &[u16] = &[429, 404, 500, 501, 502, 503, 504, 505];
const PASSIVE_HEALTHY: &[u16] = &[
    200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308,
];
const PASSIVE_UNHEALTHY: &[u16] = &[429, 500, 503];

impl HealthConfig {
    /// Reads `upstream.healthchecks`; missing or mistyped fields take Kong's defaults
    /// (everything off), so this never fails.
    pub fn from_json(v: &Value) -> HealthConfig {
        let probe = match string(v, &["active", "type"]).as_deref() {
            Some("tcp") => ProbeType::Tcp,
            Some("https") => ProbeType::Https,
            Some("grpc") => ProbeType::Grpc,
            Some("grpcs") => ProbeType::Grpcs,
            _ => ProbeType::Http,
        };
        let mut headers = Vec::new();
        if let Some(map) = v
            .get("active")
            .and_then(|a| a.get("headers"))
            .and_then(Value::as_object)
        {
            for (name, values) in map {
                match values {
                    Value::Array(list) => {
                        for item in list.iter().filter_map(Value::as_str) {
                            headers.push((name.clone(), item.to_owned()));
                        }
                    }
                    Value::String(s) => headers.push((name.clone(), s.clone())),
                    _ => {}
                }
            }
        }
        let timeout = match seconds(v, &["active", "timeout"]) {
            d if d.is_zero() && num(v, &["active", "timeout"]).is_none() => Duration::from_secs(1),
            d => d,
        };
        HealthConfig {
            threshold: num(v, &["threshold"]).unwrap_or(0.0).clamp(0.0, 100.0),
            active: ActiveConfig {
                probe,
                timeout,
                concurrency: num(v, &["active", "concurrency"])
                    .map_or(10, |c| c.clamp(1.0, 1024.0) as usize),
                http_path: string(v, &["active", "http_path"]).unwrap_or_else(|| "/".into()),
                https_sni: string(v, &["active", "https_sni"]),
                https_verify_certificate: v
                    .get("active")
                    .and_then(|a| a.get("https_verify_certificate"))
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
                headers,
                healthy_interval: seconds(v, &["active", "healthy", "interval"]),
                unhealthy_interval: seconds(v, &["active", "unhealthy", "interval"]),
                counters: Counters {
                    healthy_statuses: statuses(
                        v,
                        &["active", "healthy", "http_statuses"],
                        ACTIVE_HEALTHY,
                    ),
                    successes: counter(v, &["active", "healthy", "successes"], 0),
                    unhealthy_statuses: statuses(
                        v,
                        &["active", "unhealthy", "http_statuses"],
                        ACTIVE_UNHEALTHY,
                    ),
                    http_failures: counter(v, &["active", "unhealthy", "http_failures"], 0),
                    tcp_failures: counter(v, &["active", "unhealthy", "tcp_failures"], 0),
                    timeouts: counter(v, &["active", "unhealthy", "timeouts"], 0),
                },
            },
            passive: Counters {
                healthy_statuses: statuses(
                    v,
                    &["passive", "healthy", "http_statuses"],
                    PASSIVE_HEALTHY,
                ),
                successes: counter(v, &["passive", "healthy", "successes"], 0),
                unhealthy_statuses: statuses(
                    v,
                    &["passive", "unhealthy", "http_statuses"],
                    PASSIVE_UNHEALTHY,
                ),
                http_failures: counter(v, &["passive", "unhealthy", "http_failures"], 0),
                tcp_failures: counter(v, &["passive", "unhealthy", "tcp_failures"], 0),
                timeouts: counter(v, &["passive", "unhealthy", "timeouts"], 0),
            },
        }
    }

    /// Kong's `is_upstream_using_healthcheck`: any active interval or passive failure
    /// counter is set. When false, targets report `HEALTHCHECKS_OFF`.
    pub fn enabled(&self) -> bool {
        self.active_enabled()
            || self.passive.tcp_failures != 0
            || self.passive.timeouts != 0
            || self.passive.http_failures != 0
    }

    /// Whether the active checker has anything to do.
    pub fn active_enabled(&self) -> bool {
        !self.active.healthy_interval.is_zero() || !self.active.unhealthy_interval.is_zero()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_all_off() {
        let c = HealthConfig::default();
        assert!(!c.enabled());
        assert_eq!(c.active.timeout, Duration::from_secs(1));
        assert_eq!(c.active.concurrency, 10);
        assert_eq!(c.active.http_path, "/");
        assert!(c.active.counters.healthy_statuses.contains(302));
        assert!(c.active.counters.unhealthy_statuses.contains(404));
        assert!(c.passive.healthy_statuses.contains(226));
        assert!(!c.passive.healthy_statuses.contains(209));
        assert!(c.passive.unhealthy_statuses.contains(429));
        assert!(!c.passive.unhealthy_statuses.contains(502));
    }

    #[test]
    fn reads_kong_record() {
        let c = HealthConfig::from_json(&json!({
            "threshold": 25,
            "active": {
                "type": "https", "timeout": 2, "concurrency": 3, "http_path": "/status",
                "https_sni": "x.test", "https_verify_certificate": false,
                "headers": {"x-a": ["1", "2"]},
                "healthy": {"interval": 0.5, "http_statuses": [200], "successes": 2},
                "unhealthy": {"interval": 1, "http_statuses": [500], "tcp_failures": 1,
                              "timeouts": 2, "http_failures": 3}
            },
            "passive": {"unhealthy": {"http_failures": 4}}
        }));
        assert!(c.enabled() && c.active_enabled());
        assert_eq!(c.threshold, 25.0);
        assert_eq!(c.active.probe, ProbeType::Https);
        assert_eq!(c.active.healthy_interval, Duration::from_millis(500));
        assert_eq!(c.active.headers.len(), 2);
        assert_eq!(c.active.counters.timeouts, 2);
        assert!(!c.active.counters.unhealthy_statuses.contains(404));
        assert_eq!(c.passive.http_failures, 4);
        assert!(c.passive.unhealthy_statuses.contains(503));
    }
}
