//! Upstream keep-alive pool: idle HTTP/1.1 connections per upstream peer, with Kong's
//! `upstream_keepalive_pool_size`, `_max_requests` and `_idle_timeout`. One pool per
//! worker thread, so the lock is never contended.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use crate::h1::client::UpstreamConn as PooledConn;

/// Keep-alive limits (kong.conf `upstream_keepalive_*`).
#[derive(Debug, Clone, Copy)]
pub struct KeepaliveOptions {
    /// Idle connections kept per peer; 0 disables keep-alive.
    pub pool_size: usize,
    /// Requests served on one connection before it is closed; 0 = unlimited.
    pub max_requests: u32,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
}

impl Default for KeepaliveOptions {
    fn default() -> Self {
        Self {
            pool_size: 512,
            max_requests: 10_000,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Where an upstream lives: a resolved address (balanced targets) or a name resolved
/// when a connection opens (a service's own host).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PeerAddr {
    Ip(std::net::SocketAddr),
    Name(Arc<str>, u16),
}

impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerAddr::Ip(a) => write!(f, "{a}"),
            PeerAddr::Name(h, p) => write!(f, "{h}:{p}"),
        }
    }
}

/// TLS towards the upstream: the server name sent (SNI) and whether the certificate is
/// verified (`service.tls_verify`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsPeer {
    pub sni: Arc<str>,
    pub verify: bool,
}

/// Identifies interchangeable upstream connections: same address and TLS parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    pub addr: PeerAddr,
    pub tls: Option<TlsPeer>,
}

struct Idle {
    conn: Box<PooledConn>,
    since: Instant,
}

/// Idle connections by peer.
#[derive(Clone)]
pub struct Pool {
    // foldhash: the key is hashed twice per request (checkout, checkin); SipHash
    // showed in profiles and needs no DoS resistance here (keys are our own peers).
    idle: Arc<Mutex<foldhash::HashMap<PoolKey, VecDeque<Idle>>>>,
    opts: KeepaliveOptions,
}

impl Pool {
    pub fn new(opts: KeepaliveOptions) -> Self {
        Self {
            idle: Arc::new(Mutex::new(foldhash::HashMap::default())),
            opts,
        }
    }

    /// Takes the most recently used live idle connection for `key`, dropping expired or
    /// closed ones on the way.
    pub fn checkout(&self, key: &PoolKey) -> Option<Box<PooledConn>> {
        if self.opts.pool_size == 0 {
            return None;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.get_mut(key)?;
        let now = crate::clock::recent();
        while let Some(mut c) = list.pop_back() {
            if now.duration_since(c.since) >= self.opts.idle_timeout {
                // Everything older is older still.
                list.clear();
                break;
            }
            if c.conn.is_closed() {
                continue;
            }
            c.conn.reused = true;
            return Some(c.conn);
        }
        None
    }

    /// Returns a connection after its response was fully read. Dropped (closing it)
    /// when the pool is full, keep-alive is off, or it reached `max_requests`.
    pub fn checkin(&self, key: PoolKey, conn: Box<PooledConn>) {
        if self.opts.pool_size == 0
            || (self.opts.max_requests > 0 && conn.served >= self.opts.max_requests)
        {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.entry(key).or_default();
        if list.len() >= self.opts.pool_size {
            list.pop_front();
        }
        list.push_back(Idle {
            conn,
            since: crate::clock::recent(),
        });
    }

    /// Drops idle connections past their idle timeout (called periodically).
    pub fn sweep(&self) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let timeout = self.opts.idle_timeout;
        idle.retain(|_, list| {
            list.retain_mut(|c| now.duration_since(c.since) < timeout && !c.conn.is_closed());
            !list.is_empty()
        });
    }

    /// Number of idle connections (for tests and status).
    pub fn idle_count(&self) -> usize {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.values().map(VecDeque::len).sum()
    }
}
