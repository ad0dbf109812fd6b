//! Talking to an upstream peer: resolving, connecting within `connect_timeout`, the
//! HTTP/1.1 handshake, and sending one request on a pooled or fresh connection. Errors
//! say whether retrying on another target is safe.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use std::sync::Arc;

use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;

use crate::body::UpstreamBody;
use crate::pool::{PeerAddr, Pool, PoolKey, PooledConn};
use crate::tls::UpstreamTls;

/// Why an attempt to reach the upstream failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("name resolution failed for {0}")]
    Resolve(String),
    #[error("connect failed: {0}")]
    Connect(io::Error),
    #[error("connect timed out")]
    ConnectTimeout,
    #[error("handshake failed: {0}")]
    Handshake(hyper::Error),
    #[error("upstream TLS is not available: {0}")]
    Tls(String),
    /// The request was (maybe partly) sent; not safe to retry.
    #[error("upstream request failed: {0}")]
    Send(hyper::Error),
    #[error("timed out waiting for the upstream response")]
    ResponseTimeout,
    #[error("request body larger than client_max_body_size")]
    BodyTooLarge,
}

impl UpstreamError {
    /// Kong retries on connection errors and timeouts before anything was sent.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            UpstreamError::Connect(_)
                | UpstreamError::ConnectTimeout
                | UpstreamError::Handshake(_)
                | UpstreamError::Resolve(_)
        )
    }

    /// The status Kong answers with when this is the final failure.
    pub fn status(&self) -> http::StatusCode {
        match self {
            UpstreamError::ConnectTimeout | UpstreamError::ResponseTimeout => {
                http::StatusCode::GATEWAY_TIMEOUT
            }
            UpstreamError::Resolve(_) => http::StatusCode::SERVICE_UNAVAILABLE,
            UpstreamError::BodyTooLarge => http::StatusCode::PAYLOAD_TOO_LARGE,
            _ => http::StatusCode::BAD_GATEWAY,
        }
    }
}

/// Opens a new HTTP/1.1 connection to `key` (over TLS for https services).
pub async fn connect(
    key: &PoolKey,
    connect_timeout: Duration,
    tls: &UpstreamTls,
) -> Result<PooledConn, UpstreamError> {
    let fut = async {
        let addrs = match &key.addr {
            PeerAddr::Ip(a) => vec![*a],
            PeerAddr::Name(host, port) => resolve(host, *port).await?,
        };
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(UpstreamError::Connect(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "no address")
        })))
    };
    let stream = tokio::time::timeout(connect_timeout, fut)
        .await
        .map_err(|_| UpstreamError::ConnectTimeout)??;
    let _ = stream.set_nodelay(true);
    let sender = match &key.tls {
        Some(peer) => {
            let config = if peer.verify {
                &tls.verify
            } else {
                &tls.no_verify
            };
            let bare = peer.sni.trim_start_matches('[').trim_end_matches(']');
            let name = ServerName::try_from(bare.to_string())
                .map_err(|e| UpstreamError::Tls(format!("invalid server name {bare}: {e}")))?;
            let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
            let stream = tokio::time::timeout(connect_timeout, connector.connect(name, stream))
                .await
                .map_err(|_| UpstreamError::ConnectTimeout)?
                .map_err(|e| UpstreamError::Tls(e.to_string()))?;
            handshake(stream).await?
        }
        None => handshake(stream).await?,
    };
    Ok(PooledConn {
        sender,
        served: 0,
        reused: false,
    })
}

async fn handshake<T>(io: T) -> Result<SendRequest<UpstreamBody>, UpstreamError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http1::Builder::new()
        .handshake(TokioIo::new(io))
        .await
        .map_err(UpstreamError::Handshake)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection closed with error");
        }
    });
    Ok(sender)
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, UpstreamError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => {
            let v: Vec<SocketAddr> = addrs.collect();
            if v.is_empty() {
                Err(UpstreamError::Resolve(host.to_string()))
            } else {
                Ok(v)
            }
        }
        Err(_) => Err(UpstreamError::Resolve(host.to_string())),
    }
}

/// The outcome of sending on one connection.
pub struct Sent {
    pub response: Response<Incoming>,
    pub conn: PooledConn,
}

/// Takes an idle pooled connection to `key`, or opens a new one. Failing here leaves
/// the request untouched, so the caller may try another target.
pub async fn acquire(
    pool: &Pool,
    key: &PoolKey,
    connect_timeout: Duration,
    tls: &UpstreamTls,
) -> Result<PooledConn, UpstreamError> {
    match pool.checkout(key) {
        Some(c) => Ok(c),
        // Boxed: connecting (DNS, TCP, TLS handshake) is the cold path, and its large
        // future would otherwise be carried — and moved — by every request's future.
        None => Box::pin(connect(key, connect_timeout, tls)).await,
    }
}

/// A failed send: the error, and the request when it never left (so the caller may
/// try it on another peer).
pub type SendFailure = (UpstreamError, Option<Request<UpstreamBody>>);

/// Sends `req` on `conn`. A pooled connection the upstream closed while idle (a stale
/// keep-alive) is detected before the request leaves, and the request goes out on
/// another or a fresh connection instead: never counted as a retry, never failing the
/// client. When no connection can carry it, the unsent request is handed back.
pub async fn send(
    pool: &Pool,
    key: &PoolKey,
    mut conn: PooledConn,
    mut req: Request<UpstreamBody>,
    connect_timeout: Duration,
    response_timeout: Duration,
    tls: &UpstreamTls,
) -> Result<Sent, SendFailure> {
    loop {
        if conn.sender.ready().await.is_err() {
            if !conn.reused {
                let e = UpstreamError::Connect(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "upstream closed the connection",
                ));
                return Err((e, Some(req)));
            }
            conn = match acquire(pool, key, connect_timeout, tls).await {
                Ok(c) => c,
                Err(e) => return Err((e, Some(req))),
            };
            continue;
        }
        conn.served += 1;
        let fut = conn.sender.try_send_request(req);
        let res = match tokio::time::timeout(response_timeout, fut).await {
            Ok(r) => r,
            Err(_) => return Err((UpstreamError::ResponseTimeout, None)),
        };
        match res {
            Ok(response) => return Ok(Sent { response, conn }),
            Err(mut e) => {
                if e.error()
                    .source_chain_contains::<crate::body::BodyTooLarge>()
                {
                    return Err((UpstreamError::BodyTooLarge, None));
                }
                match e.take_message() {
                    // Nothing was written on a reused connection: it went stale.
                    Some(back) if conn.reused => {
                        req = back;
                        conn = match acquire(pool, key, connect_timeout, tls).await {
                            Ok(c) => c,
                            Err(err) => return Err((err, Some(req))),
                        };
                    }
                    Some(back) => {
                        let err = UpstreamError::Connect(io::Error::new(
                            io::ErrorKind::ConnectionAborted,
                            e.into_error().to_string(),
                        ));
                        return Err((err, Some(back)));
                    }
                    None => return Err((UpstreamError::Send(e.into_error()), None)),
                }
            }
        }
    }
}

/// Walks an error's `source()` chain looking for a `T`.
trait SourceChain {
    fn source_chain_contains<T: std::error::Error + 'static>(&self) -> bool;
}

impl SourceChain for hyper::Error {
    fn source_chain_contains<T: std::error::Error + 'static>(&self) -> bool {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(self);
        while let Some(e) = cur {
            if e.is::<T>() {
                return true;
            }
            cur = e.source();
        }
        false
    }
}
