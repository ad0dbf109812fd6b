//! Proxy listeners and workers. Like nginx, each worker is one OS thread running its own
//! single-threaded tokio runtime with its own `SO_REUSEPORT` socket per listener and its
//! own upstream pool: no cross-thread wake-ups or lock contention on the hot path.
//! Shutdown stops accepting at once and lets in-flight requests finish.

use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use crate::h1;
use crate::h1::io::Rewind;
use crate::h1::server::{Served, Stop};
use crate::handler::{self, ConnInfo, ProxyOptions, SharedSnapshot, Worker};
use crate::pool::Pool;
use crate::tls::{self, SniResolver, UpstreamTls};

/// One address to accept proxy traffic on.
#[derive(Debug, Clone)]
pub struct ListenSpec {
    pub addr: SocketAddr,
    pub backlog: u32,
    /// Terminate TLS on this listener (kong.conf `ssl` flag).
    pub tls: bool,
    /// Offer HTTP/2 through ALPN on a TLS listener (`http2` flag). Cleartext listeners
    /// always accept h2c with prior knowledge.
    pub http2: bool,
}

/// TLS server settings per listener, built once at start.
type TlsConfigs = Vec<Option<Arc<rustls::ServerConfig>>>;

/// A running proxy.
pub struct ProxyServer {
    local_addrs: Vec<SocketAddr>,
    shutdown: watch::Sender<bool>,
    threads: Vec<JoinHandle<()>>,
}

impl ProxyServer {
    /// Binds every listener (once per worker, with `SO_REUSEPORT`) and starts `workers`
    /// threads. Binding errors are returned before any thread starts.
    pub fn start(
        listens: &[ListenSpec],
        workers: usize,
        snapshot: SharedSnapshot,
        opts: ProxyOptions,
    ) -> io::Result<ProxyServer> {
        let workers = workers.max(1);
        let upstream_tls = UpstreamTls::new().map_err(io::Error::other)?;
        let tls_configs = tls_configs(listens, &snapshot, &opts)?;
        let mut per_worker: Vec<Vec<StdListener>> = (0..workers).map(|_| Vec::new()).collect();
        let mut local_addrs = Vec::new();
        for spec in listens {
            // The first bind fixes the port (which may have been 0); the others share it.
            let first = bind(spec.addr, spec.backlog, workers > 1)?;
            let addr = first.local_addr()?;
            local_addrs.push(addr);
            let mut sockets = vec![first];
            for _ in 1..workers {
                sockets.push(bind(addr, spec.backlog, true)?);
            }
            for (slot, s) in per_worker.iter_mut().zip(sockets) {
                slot.push(s);
            }
        }

        let (tx, rx) = watch::channel(false);
        let opts = Arc::new(opts);
        let mut threads = Vec::with_capacity(workers);
        for (i, listeners) in per_worker.into_iter().enumerate() {
            let worker = Worker {
                snapshot: Arc::clone(&snapshot),
                pool: Pool::new(opts.keepalive),
                opts: Arc::clone(&opts),
                upstream_tls: upstream_tls.clone(),
            };
            let listeners = listeners
                .into_iter()
                .zip(tls_configs.iter().cloned())
                .collect();
            let rx = rx.clone();
            let t = std::thread::Builder::new()
                .name(format!("gantry-worker-{i}"))
                .spawn(move || run_worker(listeners, worker, rx))?;
            threads.push(t);
        }
        Ok(ProxyServer {
            local_addrs,
            shutdown: tx,
            threads,
        })
    }

    /// The bound addresses, in the order of the specs (ports resolved).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Stops accepting and waits up to `grace` for in-flight requests to finish.
    pub fn shutdown(self, grace: Duration) {
        let _ = self.shutdown.send(true);
        let deadline = std::time::Instant::now() + grace + Duration::from_secs(1);
        for t in self.threads {
            // Worker threads exit by themselves after `grace`; joining is bounded by it.
            while !t.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }

    /// A handle that can trigger shutdown from another thread or task.
    pub fn shutdown_signal(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

fn bind(addr: SocketAddr, backlog: u32, reuseport: bool) -> io::Result<StdListener> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM,
        Some(SockProtocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    if reuseport {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// How long in-flight requests get after a shutdown signal.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

fn tls_configs(
    listens: &[ListenSpec],
    snapshot: &SharedSnapshot,
    opts: &ProxyOptions,
) -> io::Result<TlsConfigs> {
    if !listens.iter().any(|l| l.tls) {
        return Ok(listens.iter().map(|_| None).collect());
    }
    let default = match &opts.default_certificate {
        Some(d) => d.clone(),
        None => tls::default_certificate(&[]).map_err(io::Error::other)?,
    };
    let resolver = Arc::new(SniResolver::new(Arc::clone(snapshot), default));
    listens
        .iter()
        .map(|l| {
            if l.tls {
                tls::server_config(resolver.clone(), l.http2)
                    .map(Some)
                    .map_err(io::Error::other)
            } else {
                Ok(None)
            }
        })
        .collect()
}

type WorkerListener = (StdListener, Option<Arc<rustls::ServerConfig>>);

fn run_worker(listeners: Vec<WorkerListener>, worker: Worker, shutdown: watch::Receiver<bool>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start worker runtime");
            return;
        }
    };
    rt.block_on(async move {
        let worker = Arc::new(worker);
        let conns = Conns::new();
        {
            let stop = Arc::clone(&conns.stop);
            let mut rx = shutdown.clone();
            tokio::spawn(async move {
                let _ = rx.wait_for(|stopping| *stopping).await;
                stop.trigger();
            });
        }
        let mut accepts = Vec::new();
        for (l, tls) in listeners {
            let listener = match TcpListener::from_std(l) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "cannot register listener");
                    continue;
                }
            };
            accepts.push(tokio::spawn(accept_loop(
                listener,
                tls,
                Arc::clone(&worker),
                conns.clone(),
                shutdown.clone(),
            )));
        }
        let sweeper = {
            let pool = worker.pool.clone();
            let every = (worker.opts.keepalive.idle_timeout / 2).max(Duration::from_secs(1));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    pool.sweep();
                }
            })
        };
        for a in accepts {
            let _ = a.await;
        }
        sweeper.abort();
        // HTTP/1 connections close once their in-flight request is answered; HTTP/2
        // ones get GOAWAY from hyper's graceful shutdown.
        let Conns {
            active, graceful, ..
        } = conns;
        let graceful = Arc::try_unwrap(graceful).unwrap_or_else(|_| GracefulShutdown::new());
        tokio::select! {
            _ = async { tokio::join!(graceful.shutdown(), active.idle()) } => {}
            () = tokio::time::sleep(DEFAULT_GRACE) => {
                tracing::warn!("shutdown grace period over; closing remaining connections");
            }
        }
    });
}

/// The worker's open client connections, for graceful shutdown.
#[derive(Clone)]
struct Conns {
    active: Arc<ActiveCount>,
    graceful: Arc<GracefulShutdown>,
    stop: Arc<Stop>,
}

impl Conns {
    fn new() -> Self {
        Self {
            active: Arc::new(ActiveCount::default()),
            graceful: Arc::new(GracefulShutdown::new()),
            stop: Arc::new(Stop::default()),
        }
    }
}

/// Counts live HTTP/1 connection tasks; [`ActiveCount::idle`] waits for none.
#[derive(Default)]
struct ActiveCount {
    count: AtomicUsize,
    zero: Notify,
}

/// Held by a connection task while it runs.
struct ActiveGuard(Arc<ActiveCount>);

impl ActiveCount {
    fn enter(self: &Arc<Self>) -> ActiveGuard {
        self.count.fetch_add(1, Ordering::Relaxed);
        ActiveGuard(Arc::clone(self))
    }

    async fn idle(&self) {
        loop {
            let notified = self.zero.notified();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.zero.notify_waiters();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    worker: Arc<Worker>,
    conns: Conns,
    mut shutdown: watch::Receiver<bool>,
) {
    let local = match listener.local_addr() {
        Ok(a) => a,
        Err(_) => return,
    };
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let stream = gantry_tcp::Tcp::from(stream);
        let w = Arc::clone(&worker);
        let conns = conns.clone();
        match &tls {
            // Each poll of a connection task shares one clock reading (see `clock`).
            None => {
                tokio::spawn(crate::clock::PollClock::new(async move {
                    let _active = conns.active.enter();
                    let info = Arc::new(ConnInfo::new(peer, local, false, None, &w.opts));
                    if let Served::Http2(io) =
                        h1::server::serve(stream, &w, &info, &conns.stop, true).await
                    {
                        serve_h2(&conns.graceful, io, w, info);
                    }
                }));
            }
            Some(cfg) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(cfg));
                // The handshake runs in the connection's own task: a slow client never
                // holds up the accept loop.
                tokio::spawn(crate::clock::PollClock::new(async move {
                    let _active = conns.active.enter();
                    let tls_stream = match tokio::time::timeout(
                        HANDSHAKE_TIMEOUT,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, %peer, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let (_, session) = tls_stream.get_ref();
                    let sni = session.server_name().map(Arc::from);
                    let h2 = session.alpn_protocol() == Some(b"h2");
                    let info = Arc::new(ConnInfo::new(peer, local, true, sni, &w.opts));
                    if h2 {
                        serve_h2(
                            &conns.graceful,
                            Rewind::new(Bytes::new(), tls_stream),
                            w,
                            info,
                        );
                    } else if let Served::Http2(io) =
                        h1::server::serve(tls_stream, &w, &info, &conns.stop, false).await
                    {
                        serve_h2(&conns.graceful, io, w, info);
                    }
                }));
            }
        }
    }
}

/// How long a client gets to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves an HTTP/2 connection with hyper (in a task of its own).
fn serve_h2<S>(graceful: &GracefulShutdown, io: Rewind<S>, worker: Arc<Worker>, info: Arc<ConnInfo>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| handler::handle(Arc::clone(&worker), Arc::clone(&info), req));
    let conn = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(io), svc);
    let fut = graceful.watch(conn);
    tokio::spawn(async move {
        if let Err(e) = fut.await {
            tracing::debug!(error = %e, "client connection error");
        }
    });
}
