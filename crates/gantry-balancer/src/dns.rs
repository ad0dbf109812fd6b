//! Resolving target host names as Kong does (kong-reference §5.6, §7.5): the hosts
//! file first, then record types in `dns_order` (`LAST` = the type that answered last
//! time), SRV answers giving ports and weights (top priority only, weight 0 → 1),
//! record TTLs or `dns_valid_ttl`, stale answers kept up to `dns_stale_ttl` while the
//! server fails, NXDOMAIN retried after `dns_not_found_ttl`, errors after
//! `dns_error_ttl`. Queries go through [`Resolve`]: hickory-resolver in production,
//! anything else in tests.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::topology::{Resolved, TargetSpec};

/// DNS record types a target can be resolved with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Srv,
    A,
    Aaaa,
    /// Kong's CNAME step: an address lookup that follows CNAME chains.
    Cname,
}

/// One entry of `dns_order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsOrder {
    /// The type that succeeded last time for this name.
    Last,
    Kind(RecordKind),
}

/// Kong's `dns_*` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsOptions {
    /// `dns_resolver`: name servers; empty = the system's (`/etc/resolv.conf`).
    pub nameservers: Vec<SocketAddr>,
    /// `dns_hostsfile`; `None` = no hosts file.
    pub hosts_file: Option<PathBuf>,
    /// `dns_order`.
    pub order: Vec<DnsOrder>,
    /// `dns_valid_ttl`: replaces record TTLs when set.
    pub valid_ttl: Option<Duration>,
    /// `dns_stale_ttl`: how long an expired answer is still used while refreshing fails.
    pub stale_ttl: Duration,
    /// `dns_not_found_ttl`: retry interval after NXDOMAIN or an empty answer.
    pub not_found_ttl: Duration,
    /// `dns_error_ttl`: retry interval after other failures.
    pub error_ttl: Duration,
    /// Time limit of one query.
    pub timeout: Duration,
}

impl Default for DnsOptions {
    fn default() -> Self {
        DnsOptions {
            nameservers: Vec::new(),
            hosts_file: Some(PathBuf::from("/etc/hosts")),
            order: DnsOptions::parse_order("LAST,SRV,A,CNAME"),
            valid_ttl: None,
            stale_ttl: Duration::from_secs(3600),
            not_found_ttl: Duration::from_secs(30),
            error_ttl: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
        }
    }
}

impl DnsOptions {
    /// Reads Kong's `dns_*` settings through `get` (a kong.conf lookup returning the
    /// raw value): `dns_resolver` (`NONE` or `ip[:port]` list, port 53 by default),
    /// `dns_hostsfile`, `dns_order`, `dns_valid_ttl` (`NONE` or seconds),
    /// `dns_stale_ttl`, `dns_not_found_ttl`, `dns_error_ttl`. Missing or unparsable
    /// values keep Kong's defaults.
    pub fn from_settings<'a>(get: impl Fn(&str) -> Option<&'a str>) -> DnsOptions {
        let mut o = DnsOptions::default();
        let secs = |k: &str| {
            get(k)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
                .map(Duration::from_secs_f64)
        };
        if let Some(list) = get("dns_resolver").filter(|v| !v.trim().eq_ignore_ascii_case("none")) {
            o.nameservers = list
                .split(',')
                .filter_map(|s| {
                    let s = s.trim();
                    s.parse::<SocketAddr>()
                        .ok()
                        .or_else(|| s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
                })
                .collect();
        }
        if let Some(h) = get("dns_hostsfile") {
            o.hosts_file = Some(PathBuf::from(h.trim()));
        }
        if let Some(order) = get("dns_order") {
            let parsed = DnsOptions::parse_order(order);
            if !parsed.is_empty() {
                o.order = parsed;
            }
        }
        o.valid_ttl = secs("dns_valid_ttl");
        o.stale_ttl = secs("dns_stale_ttl").unwrap_or(o.stale_ttl);
        o.not_found_ttl = secs("dns_not_found_ttl").unwrap_or(o.not_found_ttl);
        o.error_ttl = secs("dns_error_ttl").unwrap_or(o.error_ttl);
        o
    }

    /// Parses `dns_order` (`LAST,SRV,A,CNAME`; `AAAA` accepted); unknown words are
    /// skipped.
    pub fn parse_order(s: &str) -> Vec<DnsOrder> {
        s.split(',')
            .filter_map(|w| match w.trim().to_ascii_uppercase().as_str() {
                "LAST" => Some(DnsOrder::Last),
                "SRV" => Some(DnsOrder::Kind(RecordKind::Srv)),
                "A" => Some(DnsOrder::Kind(RecordKind::A)),
                "AAAA" => Some(DnsOrder::Kind(RecordKind::Aaaa)),
                "CNAME" => Some(DnsOrder::Kind(RecordKind::Cname)),
                _ => None,
            })
            .collect()
    }
}

/// One record of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsRecord {
    Ip(IpAddr),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
}

/// A successful answer: records and the smallest TTL among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsAnswer {
    pub records: Vec<DnsRecord>,
    pub ttl: u32,
}

/// Why a query gave no records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// NXDOMAIN or an empty answer.
    #[error("dns server error: 3 name error")]
    NotFound,
    #[error("dns client error: {0}")]
    Failed(String),
}

/// Future of one query.
pub type QueryFuture<'a> = Pin<Box<dyn Future<Output = Result<DnsAnswer, DnsError>> + Send + 'a>>;

/// Answers one DNS question. Implemented with hickory-resolver by [`Dns::new`];
/// implement it to plug in another source (tests, service discovery).
pub trait Resolve: Send + Sync + fmt::Debug {
    /// Looks up `name` for `kind`. Empty answers should be `Err(DnsError::NotFound)`.
    fn query<'a>(&'a self, name: &'a str, kind: RecordKind) -> QueryFuture<'a>;
}

/// The hickory-resolver backed [`Resolve`].
pub struct HickoryResolve(hickory_resolver::TokioResolver);

impl fmt::Debug for HickoryResolve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HickoryResolve")
    }
}

impl HickoryResolve {
    /// A resolver for `nameservers` (UDP, TCP fallback), or the system configuration
    /// when empty. Caching is left to the balancer, which honours Kong's TTL rules.
    pub fn new(nameservers: &[SocketAddr], timeout: Duration) -> Result<Self, DnsError> {
        use hickory_resolver::config::{
            ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig,
        };
        use hickory_resolver::net::runtime::TokioRuntimeProvider;
        let provider = TokioRuntimeProvider::default();
        let mut builder = if nameservers.is_empty() {
            hickory_resolver::TokioResolver::builder(provider)
                .map_err(|e| DnsError::Failed(format!("reading system DNS config: {e}")))?
        } else {
            let servers = nameservers
                .iter()
                .map(|s| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = s.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = s.port();
                    NameServerConfig::new(s.ip(), true, vec![udp, tcp])
                })
                .collect();
            hickory_resolver::TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                provider,
            )
        };
        let opts = builder.options_mut();
        opts.timeout = timeout;
        opts.attempts = 1;
        opts.cache_size = 0;
        opts.use_hosts_file = ResolveHosts::Never;
        builder
            .build()
            .map(HickoryResolve)
            .map_err(|e| DnsError::Failed(e.to_string()))
    }
}

impl Resolve for HickoryResolve {
    fn query<'a>(&'a self, name: &'a str, kind: RecordKind) -> QueryFuture<'a> {
        use hickory_resolver::proto::rr::{RData, RecordType};
        Box::pin(async move {
            let rtype = match kind {
                RecordKind::Srv => RecordType::SRV,
                RecordKind::A | RecordKind::Cname => RecordType::A,
                RecordKind::Aaaa => RecordType::AAAA,
            };
            let lookup = self.0.lookup(name, rtype).await.map_err(|e| {
                if e.is_nx_domain() || e.is_no_records_found() {
                    DnsError::NotFound
                } else {
                    DnsError::Failed(e.to_string())
                }
            })?;
            let mut ttl = u32::MAX;
            let mut records = Vec::new();
            for r in lookup.answers() {
                let rec = match &r.data {
                    RData::A(a) => DnsRecord::Ip(IpAddr::V4(a.0)),
                    RData::AAAA(a) => DnsRecord::Ip(IpAddr::V6(a.0)),
                    RData::SRV(s) => DnsRecord::Srv {
                        priority: s.priority,
                        weight: s.weight,
                        port: s.port,
                        target: s.target.to_utf8().trim_end_matches('.').to_owned(),
                    },
                    _ => continue,
                };
                ttl = ttl.min(r.ttl);
                records.push(rec);
            }
            if records.is_empty() {
                return Err(DnsError::NotFound);
            }
            Ok(DnsAnswer { records, ttl })
        })
    }
}

/// The DNS client shared by all balancers: settings, hosts file, resolver, and the
/// record type that answered last per name. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Dns(Arc<DnsInner>);

#[derive(Debug)]
struct DnsInner {
    options: DnsOptions,
    resolver: Arc<dyn Resolve>,
    hosts: HashMap<String, Vec<IpAddr>>,
    last: Mutex<HashMap<String, RecordKind>>,
}

/// Reads an `/etc/hosts`-style file: `ip name [aliases…]`, `#` comments.
pub fn parse_hosts(text: &str) -> HashMap<String, Vec<IpAddr>> {
    let mut map: HashMap<String, Vec<IpAddr>> = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) else {
            continue;
        };
        for name in words {
            let list = map.entry(name.to_ascii_lowercase()).or_default();
            if !list.contains(&ip) {
                list.push(ip);
            }
        }
    }
    map
}

fn read_hosts(path: Option<&Path>) -> HashMap<String, Vec<IpAddr>> {
    path.and_then(|p| std::fs::read_to_string(p).ok())
        .map(|t| parse_hosts(&t))
        .unwrap_or_default()
}

/// TTL given to hosts-file answers (they never change while running).
const HOSTS_TTL: u32 = 3600;

impl Dns {
    /// The production client: hickory-resolver with `options` (system resolvers when
    /// `nameservers` is empty) and the hosts file. Call once at startup.
    pub fn new(options: DnsOptions) -> Result<Dns, DnsError> {
        let resolver = HickoryResolve::new(&options.nameservers, options.timeout)?;
        Ok(Dns::with_resolver(options, Arc::new(resolver)))
    }

    /// A client over any [`Resolve`]; the hosts file in `options` is still read.
    pub fn with_resolver(options: DnsOptions, resolver: Arc<dyn Resolve>) -> Dns {
        let hosts = read_hosts(options.hosts_file.as_deref());
        Dns(Arc::new(DnsInner {
            options,
            resolver,
            hosts,
            last: Mutex::new(HashMap::new()),
        }))
    }

    /// Adds hosts-file entries (`ip name` lines), as if they were in the hosts file.
    pub fn with_hosts(self, text: &str) -> Dns {
        let mut hosts = self.0.hosts.clone();
        for (k, v) in parse_hosts(text) {
            hosts.insert(k, v);
        }
        Dns(Arc::new(DnsInner {
            options: self.0.options.clone(),
            resolver: Arc::clone(&self.0.resolver),
            hosts,
            last: Mutex::new(HashMap::new()),
        }))
    }

    /// The settings in force.
    pub fn options(&self) -> &DnsOptions {
        &self.0.options
    }

    fn hosts(&self, name: &str) -> Option<&Vec<IpAddr>> {
        self.0.hosts.get(&name.to_ascii_lowercase())
    }

    fn order(&self, name: &str) -> Vec<RecordKind> {
        let last = self
            .0
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .copied();
        let mut out = Vec::with_capacity(4);
        for o in &self.0.options.order {
            let k = match o {
                DnsOrder::Last => last,
                DnsOrder::Kind(k) => Some(*k),
            };
            if let Some(k) = k
                && !out.contains(&k)
            {
                out.push(k);
            }
        }
        out
    }

    /// Addresses of a plain name (hosts, then A, then AAAA), for SRV targets.
    async fn addresses(&self, name: &str) -> Result<(Vec<IpAddr>, u32), DnsError> {
        if let Ok(ip) = name.parse::<IpAddr>() {
            return Ok((vec![ip], u32::MAX));
        }
        if let Some(ips) = self.hosts(name) {
            return Ok((ips.clone(), HOSTS_TTL));
        }
        let mut last_err = DnsError::NotFound;
        for kind in [RecordKind::A, RecordKind::Aaaa] {
            match self.0.resolver.query(name, kind).await {
                Ok(a) => {
                    let ips: Vec<IpAddr> = a
                        .records
                        .iter()
                        .filter_map(|r| match r {
                            DnsRecord::Ip(ip) => Some(*ip),
                            DnsRecord::Srv { .. } => None,
                        })
                        .collect();
                    if !ips.is_empty() {
                        return Ok((ips, a.ttl));
                    }
                }
                Err(e @ DnsError::Failed(_)) => last_err = e,
                Err(DnsError::NotFound) => {}
            }
        }
        Err(last_err)
    }

    /// Resolves a host-name target into weighted addresses and the TTL to keep them.
    pub(crate) async fn resolve_target(
        &self,
        spec: &TargetSpec,
    ) -> Result<(Vec<Resolved>, u32), DnsError> {
        let name = spec.name.as_ref();
        if let Some(ips) = self.hosts(name) {
            return Ok((ip_entries(spec, ips), HOSTS_TTL));
        }
        let mut last_err = DnsError::NotFound;
        for kind in self.order(name) {
            let answer = match self.0.resolver.query(name, kind).await {
                Ok(a) => a,
                Err(e) => {
                    if let DnsError::Failed(_) = e {
                        last_err = e;
                    }
                    continue;
                }
            };
            let result = if kind == RecordKind::Srv {
                self.srv_entries(spec, &answer).await
            } else {
                let ips: Vec<IpAddr> = answer
                    .records
                    .iter()
                    .filter_map(|r| match r {
                        DnsRecord::Ip(ip) => Some(*ip),
                        DnsRecord::Srv { .. } => None,
                    })
                    .collect();
                Ok((ip_entries(spec, &ips), answer.ttl))
            };
            match result {
                Ok((entries, ttl)) if !entries.is_empty() => {
                    self.0
                        .last
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(name.to_owned(), kind);
                    return Ok((entries, ttl));
                }
                Ok(_) => {}
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    async fn srv_entries(
        &self,
        spec: &TargetSpec,
        answer: &DnsAnswer,
    ) -> Result<(Vec<Resolved>, u32), DnsError> {
        let top = answer
            .records
            .iter()
            .filter_map(|r| match r {
                DnsRecord::Srv { priority, .. } => Some(*priority),
                DnsRecord::Ip(_) => None,
            })
            .min();
        let mut ttl = answer.ttl;
        let mut out = Vec::new();
        let mut last_err = None;
        for r in &answer.records {
            let DnsRecord::Srv {
                priority,
                weight,
                port,
                target,
            } = r
            else {
                continue;
            };
            if Some(*priority) != top {
                continue;
            }
            let port = if *port == 0 { spec.port } else { *port };
            let weight = if *weight == 0 { 1 } else { u32::from(*weight) };
            match self.addresses(target).await {
                Ok((mut ips, t)) => {
                    ips.sort();
                    ttl = ttl.min(t);
                    // Kong keeps one address per SRV entry (the name is resolved per
                    // request there); the lowest IP is the stable choice.
                    if let Some(ip) = ips.first() {
                        let name: Arc<str> = Arc::from(target.as_str());
                        out.push(Resolved {
                            addr: SocketAddr::new(*ip, port),
                            weight,
                            ring_ip: Arc::clone(&name),
                            srv_name: Some(name),
                        });
                    }
                }
                Err(e) => last_err = Some(e),
            }
        }
        match (out.is_empty(), last_err) {
            (true, Some(e)) => Err(e),
            _ => Ok((out, ttl)),
        }
    }
}

fn ip_entries(spec: &TargetSpec, ips: &[IpAddr]) -> Vec<Resolved> {
    ips.iter()
        .map(|ip| Resolved {
            addr: SocketAddr::new(*ip, spec.port),
            weight: spec.weight,
            ring_ip: Arc::from(ip.to_string()),
            srv_name: None,
        })
        .collect()
}

/// What the balancer knows about one host-name target's DNS.
#[derive(Debug, Clone, Default)]
pub(crate) struct TargetDns {
    pub entries: Vec<Resolved>,
    /// When to query again; `None` = never resolved yet.
    pub refresh_at: Option<Instant>,
    /// Until when `entries` may be served although expired.
    pub stale_until: Option<Instant>,
    /// The last failure, cleared by a success.
    pub error: Option<DnsError>,
}

impl TargetDns {
    /// Applies a query result; returns whether the entries changed.
    pub fn apply(
        &mut self,
        result: Result<(Vec<Resolved>, u32), DnsError>,
        now: Instant,
        opts: &DnsOptions,
    ) -> bool {
        let before = self.entries.clone();
        match result {
            Ok((entries, ttl)) => {
                let ttl = opts
                    .valid_ttl
                    .unwrap_or_else(|| Duration::from_secs(u64::from(ttl)))
                    .clamp(Duration::from_secs(1), Duration::from_secs(86_400 * 365));
                self.entries = entries;
                self.refresh_at = Some(now + ttl);
                self.stale_until = Some(now + ttl + opts.stale_ttl);
                self.error = None;
            }
            Err(DnsError::NotFound) => {
                self.entries.clear();
                self.refresh_at = Some(now + opts.not_found_ttl.max(Duration::from_millis(100)));
                self.stale_until = None;
                self.error = Some(DnsError::NotFound);
            }
            Err(e) => {
                if self.stale_until.is_none_or(|t| now >= t) {
                    self.entries.clear();
                    self.stale_until = None;
                }
                self.refresh_at = Some(now + opts.error_ttl.max(Duration::from_millis(100)));
                self.error = Some(e);
            }
        }
        before != self.entries
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn hosts_file_parsing() {
        let h = parse_hosts("127.0.0.1 localhost a.test # c\n# x\n::1 a.test\nbad line\n");
        assert_eq!(h["a.test"].len(), 2);
        assert_eq!(h["localhost"], vec!["127.0.0.1".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn kong_settings() {
        let conf: HashMap<&str, &str> = [
            ("dns_resolver", "127.0.0.1:5353, 10.0.0.2"),
            ("dns_order", "A,SRV"),
            ("dns_valid_ttl", "NONE"),
            ("dns_stale_ttl", "60"),
            ("dns_error_ttl", "0.5"),
        ]
        .into_iter()
        .collect();
        let o = DnsOptions::from_settings(|k| conf.get(k).copied());
        assert_eq!(
            o.nameservers,
            vec![
                "127.0.0.1:5353".parse().unwrap(),
                "10.0.0.2:53".parse().unwrap()
            ]
        );
        assert_eq!(o.order.len(), 2);
        assert_eq!(o.valid_ttl, None);
        assert_eq!(o.stale_ttl, Duration::from_secs(60));
        assert_eq!(o.error_ttl, Duration::from_millis(500));
        assert_eq!(o.not_found_ttl, Duration::from_secs(30));
        let o = DnsOptions::from_settings(|k| (k == "dns_valid_ttl").then_some("10"));
        assert_eq!(o.valid_ttl, Some(Duration::from_secs(10)));
        assert!(o.nameservers.is_empty());
    }

    #[test]
    fn order_parsing() {
        assert_eq!(
            DnsOptions::parse_order("LAST, srv,A,CNAME,bogus"),
            vec![
                DnsOrder::Last,
                DnsOrder::Kind(RecordKind::Srv),
                DnsOrder::Kind(RecordKind::A),
                DnsOrder::Kind(RecordKind::Cname)
            ]
        );
    }

    fn entry(ip: &str) -> Resolved {
        Resolved {
            addr: SocketAddr::new(ip.parse().unwrap(), 80),
            weight: 1,
            ring_ip: Arc::from(ip),
            srv_name: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stale_answers_survive_errors_until_stale_ttl() {
        let opts = DnsOptions {
            stale_ttl: Duration::from_secs(10),
            ..DnsOptions::default()
        };
        let mut t = TargetDns::default();
        let now = Instant::now();
        assert!(t.apply(Ok((vec![entry("10.0.0.1")], 5)), now, &opts));
        assert_eq!(t.refresh_at, Some(now + Duration::from_secs(5)));
        // Server failure within stale window keeps the answer.
        let later = now + Duration::from_secs(8);
        assert!(!t.apply(Err(DnsError::Failed("timeout".into())), later, &opts));
        assert_eq!(t.entries.len(), 1);
        assert_eq!(t.refresh_at, Some(later + Duration::from_secs(1)));
        // Past expiry + stale_ttl the answer is dropped.
        let much_later = now + Duration::from_secs(16);
        assert!(t.apply(Err(DnsError::Failed("timeout".into())), much_later, &opts));
        assert!(t.entries.is_empty());
        // NXDOMAIN drops at once and waits not_found_ttl.
        t.apply(Ok((vec![entry("10.0.0.2")], 5)), much_later, &opts);
        assert!(t.apply(Err(DnsError::NotFound), much_later, &opts));
        assert_eq!(t.refresh_at, Some(much_later + Duration::from_secs(30)));
    }

    #[test]
    fn valid_ttl_overrides() {
        let opts = DnsOptions {
            valid_ttl: Some(Duration::from_secs(7)),
            ..DnsOptions::default()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let mut t = TargetDns::default();
            let now = Instant::now();
            t.apply(Ok((vec![entry("10.0.0.1")], 300)), now, &opts);
            assert_eq!(t.refresh_at, Some(now + Duration::from_secs(7)));
        });
    }
}
