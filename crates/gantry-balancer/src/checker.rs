//! Active health checks (lua-resty-healthcheck's runner) and the background tasks of a
//! balancer. Healthy targets are probed every `active.healthy.interval`, unhealthy ones
//! every `active.unhealthy.interval` (the first round one interval after start), at
//! most `active.concurrency` probes at a time; results move the same shared state the
//! balancer reads, so a target that answers again always comes back.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{MissedTickBehavior, timeout};

use crate::balancer::UpstreamBalancer;
use crate::config::{ActiveConfig, ProbeType};
use crate::health::{AddressState, Report};

/// An address to probe.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    pub addr: SocketAddr,
    /// The target's host name (or IP), for SNI.
    pub hostname: Arc<str>,
    /// `Host` header of HTTP probes: `upstream.host_header`, else the host name.
    pub host_header: Arc<str>,
}

/// What a probe saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    /// An HTTP status; 0 for a response that could not be parsed.
    Status(u16),
    /// A TCP probe connected.
    Connected,
    TcpFailure,
    Timeout,
}

/// Future of one probe.
pub type ProbeFuture<'a> = Pin<Box<dyn Future<Output = ProbeResult> + Send + 'a>>;

/// Runs one probe. [`NetProber`] talks to the network; tests may script results.
pub trait Prober: Send + Sync + fmt::Debug {
    fn probe<'a>(&'a self, target: &'a ProbeTarget, cfg: &'a ActiveConfig) -> ProbeFuture<'a>;
}

/// Probes over TCP, HTTP/1.0 or HTTPS as Kong does: `GET <http_path> HTTP/1.0` with
/// the configured headers and `Host`, reading only the status line. Each step is bounded
/// by `active.timeout`.
#[derive(Clone, Default)]
pub struct NetProber {
    tls: Option<(Arc<ClientConfig>, Arc<ClientConfig>)>,
}

impl fmt::Debug for NetProber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetProber")
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl NetProber {
    /// HTTPS probes use `verify` when `https_verify_certificate` is on, else
    /// `no_verify` (pass the proxy's upstream TLS configurations). Without this, HTTPS
    /// probes fail as TCP failures.
    pub fn with_tls(verify: Arc<ClientConfig>, no_verify: Arc<ClientConfig>) -> NetProber {
        NetProber {
            tls: Some((verify, no_verify)),
        }
    }

    async fn run(&self, target: &ProbeTarget, cfg: &ActiveConfig) -> ProbeResult {
        let stream = match timeout(cfg.timeout, TcpStream::connect(target.addr)).await {
            Err(_) => return ProbeResult::Timeout,
            Ok(Err(_)) => return ProbeResult::TcpFailure,
            Ok(Ok(s)) => s,
        };
        match cfg.probe {
            ProbeType::Tcp | ProbeType::Grpc | ProbeType::Grpcs => ProbeResult::Connected,
            ProbeType::Http => http_status(stream, target, cfg).await,
            ProbeType::Https => {
                let Some((verify, no_verify)) = &self.tls else {
                    tracing::error!(address = %target.addr, "https health check without TLS configuration");
                    return ProbeResult::TcpFailure;
                };
                let config = if cfg.https_verify_certificate {
                    verify
                } else {
                    no_verify
                };
                let sni = cfg.https_sni.as_deref().unwrap_or(&target.hostname);
                let sni = sni.trim_start_matches('[').trim_end_matches(']');
                let Ok(name) = ServerName::try_from(sni.to_owned()) else {
                    return ProbeResult::TcpFailure;
                };
                let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
                match timeout(cfg.timeout, connector.connect(name, stream)).await {
                    Err(_) => ProbeResult::Timeout,
                    Ok(Err(e)) => {
                        tracing::error!(address = %target.addr, error = %e, "failed SSL handshake");
                        ProbeResult::TcpFailure
                    }
                    Ok(Ok(tls)) => http_status(tls, target, cfg).await,
                }
            }
        }
    }
}

impl Prober for NetProber {
    fn probe<'a>(&'a self, target: &'a ProbeTarget, cfg: &'a ActiveConfig) -> ProbeFuture<'a> {
        Box::pin(self.run(target, cfg))
    }
}

/// Sends the probe request and parses `HTTP/x.y NNN` from the status line.
async fn http_status<S>(mut s: S, target: &ProbeTarget, cfg: &ActiveConfig) -> ProbeResult
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut req = format!("GET {} HTTP/1.0\r\n", cfg.http_path);
    for (k, v) in &cfg.headers {
        req.push_str(k);
        req.push_str(": ");
        req.push_str(v);
        req.push_str("\r\n");
    }
    req.push_str("Host: ");
    req.push_str(&target.host_header);
    req.push_str("\r\n\r\n");
    match timeout(cfg.timeout, s.write_all(req.as_bytes())).await {
        Err(_) => return ProbeResult::Timeout,
        Ok(Err(_)) => return ProbeResult::TcpFailure,
        Ok(Ok(())) => {}
    }
    let mut buf = Vec::with_capacity(128);
    let mut chunk = [0u8; 256];
    loop {
        match timeout(cfg.timeout, s.read(&mut chunk)).await {
            Err(_) => return ProbeResult::Timeout,
            Ok(Err(_)) => return ProbeResult::TcpFailure,
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => {
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                if buf.contains(&b'\n') || buf.len() > 1024 {
                    break;
                }
            }
        }
    }
    if buf.is_empty() {
        return ProbeResult::TcpFailure;
    }
    let _ = s.shutdown().await;
    ProbeResult::Status(parse_status(&buf).unwrap_or(0))
}

fn parse_status(buf: &[u8]) -> Option<u16> {
    let line = buf.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    let version = parts.next()?;
    let rest = version.strip_prefix("HTTP/")?;
    let (major, minor) = rest.split_once('.')?;
    if major.is_empty()
        || minor.is_empty()
        || !major
            .bytes()
            .chain(minor.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    parts.next()?.parse().ok()
}

/// Which targets a round probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Healthy,
    Unhealthy,
}

/// Runs the active health checks of one balancer until stopped or dropped.
#[derive(Debug)]
pub struct HealthChecker {
    tasks: Vec<JoinHandle<()>>,
}

impl HealthChecker {
    /// Starts probing with [`NetProber::default`] (no HTTPS). See
    /// [`HealthChecker::start_with`].
    pub fn start(balancer: &Arc<UpstreamBalancer>) -> HealthChecker {
        HealthChecker::start_with(balancer, Arc::new(NetProber::default()))
    }

    /// Starts the tasks for the configured intervals (none when both are 0). Call from
    /// a tokio runtime, after building a balancer; stop the previous balancer's checker
    /// when replacing it. The tasks hold the balancer weakly and end with it.
    pub fn start_with(balancer: &Arc<UpstreamBalancer>, prober: Arc<dyn Prober>) -> HealthChecker {
        let active = &balancer.shared.health.active;
        let mut tasks = Vec::new();
        for (mode, every) in [
            (Mode::Healthy, active.healthy_interval),
            (Mode::Unhealthy, active.unhealthy_interval),
        ] {
            if every.is_zero() {
                continue;
            }
            let weak = Arc::downgrade(balancer);
            let prober = Arc::clone(&prober);
            if let Some(task) = spawn(check_loop(weak, prober, mode, every)) {
                tasks.push(task);
            }
        }
        HealthChecker { tasks }
    }

    /// Stops probing (also done on drop).
    pub fn stop(self) {}
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Spawns on the current runtime; outside one, logs instead of panicking.
fn spawn<F>(fut: F) -> Option<JoinHandle<()>>
where
    F: Future<Output = ()> + Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(h) => Some(h.spawn(fut)),
        Err(_) => {
            tracing::error!("balancer background task started outside a tokio runtime");
            None
        }
    }
}

async fn check_loop(
    weak: Weak<UpstreamBalancer>,
    prober: Arc<dyn Prober>,
    mode: Mode,
    every: Duration,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(b) = weak.upgrade() else { return };
        run_round(&b, &prober, mode).await;
    }
}

/// Probes every address currently in `mode`'s state, `concurrency` at a time.
async fn run_round(b: &Arc<UpstreamBalancer>, prober: &Arc<dyn Prober>, mode: Mode) {
    let list: Vec<(ProbeTarget, Arc<AddressState>, Arc<str>)> = {
        let topo = b.topology.load();
        topo.addresses
            .iter()
            .filter(|a| a.weight > 0 && (a.state.is_available() == (mode == Mode::Healthy)))
            .filter_map(|a| {
                let t = topo.targets.get(a.target)?;
                let host_header = b
                    .shape_host_header()
                    .unwrap_or_else(|| Arc::clone(&t.spec.name));
                Some((
                    ProbeTarget {
                        addr: a.addr,
                        hostname: Arc::clone(&t.spec.name),
                        host_header,
                    },
                    Arc::clone(&a.state),
                    Arc::clone(&t.spec.target),
                ))
            })
            .collect()
    };
    if list.is_empty() {
        return;
    }
    let shared = Arc::clone(&b.shared);
    let limit = shared.health.active.concurrency.max(1);
    let mut set = JoinSet::new();
    for (target, state, name) in list {
        while set.len() >= limit {
            let _ = set.join_next().await;
        }
        let prober = Arc::clone(prober);
        let shared = Arc::clone(&shared);
        set.spawn(async move {
            let cfg = &shared.health.active;
            let result = prober.probe(&target, cfg).await;
            let report = match result {
                ProbeResult::Status(s) => Report::Status(s),
                ProbeResult::Connected => Report::Success,
                ProbeResult::TcpFailure => Report::TcpFailure,
                ProbeResult::Timeout => Report::Timeout,
            };
            if let Some(to) = state.report(&cfg.counters, report) {
                tracing::warn!(
                    upstream = %shared.upstream,
                    target = %name,
                    address = %target.addr,
                    state = ?to,
                    "[healthchecks] active check changed health"
                );
            }
        });
    }
    while set.join_next().await.is_some() {}
}

/// Everything a balancer runs in the background: DNS refreshes of host-name targets
/// and active health checks. Start one per balancer from a tokio runtime; dropping it
/// (or dropping the balancer) stops the tasks.
#[derive(Debug)]
pub struct Background {
    checker: HealthChecker,
    dns: Option<JoinHandle<()>>,
}

impl Background {
    /// Starts DNS refreshing and active checks with `prober`.
    pub fn start(balancer: &Arc<UpstreamBalancer>, prober: Arc<dyn Prober>) -> Background {
        let checker = HealthChecker::start_with(balancer, prober);
        let dns = balancer
            .next_dns_refresh()
            .is_some()
            .then(|| spawn(dns_loop(Arc::downgrade(balancer))))
            .flatten();
        Background { checker, dns }
    }

    /// Stops all tasks (also done on drop).
    pub fn stop(self) {}

    /// The active checker part.
    pub fn checker(&self) -> &HealthChecker {
        &self.checker
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(t) = &self.dns {
            t.abort();
        }
    }
}

async fn dns_loop(weak: Weak<UpstreamBalancer>) {
    loop {
        let at = match weak.upgrade() {
            Some(b) => match b.next_dns_refresh() {
                Some(at) => at,
                None => return,
            },
            None => return,
        };
        tokio::time::sleep_until(at).await;
        let Some(b) = weak.upgrade() else { return };
        b.resolve().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status(b"HTTP/1.0 503\r\n"), Some(503));
        assert_eq!(parse_status(b"HTTP/2 200\r\n"), None);
        assert_eq!(parse_status(b"garbage\r\n"), None);
    }
}
