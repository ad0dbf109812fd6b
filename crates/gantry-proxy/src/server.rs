//! Proxy listeners and workers. Like nginx, each worker is one OS thread running its own
//! single-threaded tokio runtime with its own `SO_REUSEPORT` socket per listener and its
//! own upstream pool: no cross-thread wake-ups or lock contention on the hot path.
//! Shutdown stops accepting at once and lets in-flight requests finish.

use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
use tokio::net::TcpListener;
use tokio::sync::watch;

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
        let graceful = Arc::new(GracefulShutdown::new());
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
                Arc::clone(&graceful),
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
        let graceful = Arc::try_unwrap(graceful).unwrap_or_else(|_| GracefulShutdown::new());
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(DEFAULT_GRACE) => {
                tracing::warn!("shutdown grace period over; closing remaining connections");
            }
        }
    });
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    worker: Arc<Worker>,
    graceful: Arc<GracefulShutdown>,
    mut shutdown: watch::Receiver<bool>,
) {
    let local = match listener.local_addr() {
        Ok(a) => a,
        Err(_) => return,
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(60))
        .keep_alive(true);
    let builder = Arc::new(builder);
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
        let w = Arc::clone(&worker);
        let builder = Arc::clone(&builder);
        let graceful = Arc::clone(&graceful);
        match &tls {
            None => {
                let info = Arc::new(ConnInfo::new(peer, local, false, None, &w.opts));
                serve(&builder, &graceful, TokioIo::new(stream), w, info);
            }
            Some(cfg) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(cfg));
                // The handshake runs in the connection's own task: a slow client never
                // holds up the accept loop.
                tokio::spawn(async move {
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
                    let sni = tls_stream.get_ref().1.server_name().map(Arc::from);
                    let info = Arc::new(ConnInfo::new(peer, local, true, sni, &w.opts));
                    serve(&builder, &graceful, TokioIo::new(tls_stream), w, info);
                });
            }
        }
    }
}

/// How long a client gets to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

fn serve<I>(
    builder: &auto::Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    io: I,
    worker: Arc<Worker>,
    info: Arc<ConnInfo>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| handler::handle(Arc::clone(&worker), Arc::clone(&info), req));
    let conn = builder.serve_connection_with_upgrades(io, svc).into_owned();
    let fut = graceful.watch(conn);
    tokio::spawn(async move {
        if let Err(e) = fut.await {
            tracing::debug!(error = %e, "client connection error");
        }
    });
}
