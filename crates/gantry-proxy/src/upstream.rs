//! Talking to an upstream peer: resolving, connecting within `connect_timeout` (TLS
//! for https services), and sending one request on a pooled or fresh connection with
//! Gantry's HTTP/1.1 client. Errors say whether retrying on another target is safe.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use gantry_tcp::Tcp;
use http::Method;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;

use crate::body::UpstreamBody;
use crate::h1::client::{SendError, UpstreamConn};
use crate::h1::head::ResponseHead;
use crate::h1::io::UpstreamIo;
use crate::pool::{PeerAddr, Pool, PoolKey};
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
    #[error("upstream TLS failed: {0}")]
    Tls(String),
    #[error("invalid response from the upstream: {0}")]
    BadResponse(String),
    #[error("timed out sending the request to the upstream")]
    WriteTimeout,
    #[error("timed out waiting for the upstream response")]
    ResponseTimeout,
    #[error("request body larger than client_max_body_size")]
    BodyTooLarge,
    #[error("reading the client's request body failed: {0}")]
    ClientBody(String),
}

impl UpstreamError {
    /// Kong retries on connection errors and timeouts before anything was sent.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            UpstreamError::Connect(_) | UpstreamError::ConnectTimeout | UpstreamError::Resolve(_)
        )
    }

    /// Whether a request that was already sent may be replayed on another peer after
    /// this failure (nginx's `proxy_next_upstream error timeout invalid_header`, for
    /// idempotent bodyless requests).
    pub fn replay_allowed(&self) -> bool {
        matches!(
            self,
            UpstreamError::Connect(_)
                | UpstreamError::BadResponse(_)
                | UpstreamError::WriteTimeout
                | UpstreamError::ResponseTimeout
        )
    }

    /// The status Kong answers with when this is the final failure.
    pub fn status(&self) -> http::StatusCode {
        match self {
            UpstreamError::ConnectTimeout
            | UpstreamError::ResponseTimeout
            | UpstreamError::WriteTimeout => http::StatusCode::GATEWAY_TIMEOUT,
            UpstreamError::Resolve(_) => http::StatusCode::SERVICE_UNAVAILABLE,
            UpstreamError::BodyTooLarge => http::StatusCode::PAYLOAD_TOO_LARGE,
            UpstreamError::ClientBody(_) => http::StatusCode::BAD_REQUEST,
            _ => http::StatusCode::BAD_GATEWAY,
        }
    }
}

/// Opens a new connection to `key` (over TLS for https services).
pub async fn connect(
    key: &PoolKey,
    connect_timeout: Duration,
    tls: &UpstreamTls,
) -> Result<Box<UpstreamConn>, UpstreamError> {
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
    let io = match &key.tls {
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
            let stream =
                tokio::time::timeout(connect_timeout, connector.connect(name, Tcp::from(stream)))
                    .await
                    .map_err(|_| UpstreamError::ConnectTimeout)?
                    .map_err(|e| UpstreamError::Tls(e.to_string()))?;
            UpstreamIo::Tls(Box::new(stream))
        }
        None => UpstreamIo::Tcp(stream.into()),
    };
    Ok(UpstreamConn::new(io))
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

/// Takes an idle pooled connection to `key`, or opens a new one. Failing here leaves
/// the request untouched, so the caller may try another target.
pub async fn acquire(
    pool: &Pool,
    key: &PoolKey,
    connect_timeout: Duration,
    tls: &UpstreamTls,
) -> Result<Box<UpstreamConn>, UpstreamError> {
    match pool.checkout(key) {
        Some(c) => Ok(c),
        // Boxed: connecting (DNS, TCP, TLS handshake) is the cold path, and its large
        // future would otherwise be carried — and moved — by every request's future.
        None => Box::pin(connect(key, connect_timeout, tls)).await,
    }
}

/// Timeouts of one exchange (the service's).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub write: Duration,
    pub read: Duration,
}

/// A failed send: the error, and whether the request never reached the upstream (so
/// it may go to another peer as it is).
pub type SendFailure = (UpstreamError, bool);

/// Sends the request (`head` serialized, `body`) on `conn` and reads the response
/// head. A pooled connection the upstream closed while idle (a stale keep-alive) is
/// replaced by another or a fresh one and the request goes out again: never counted as
/// a retry, never failing the client.
#[allow(clippy::too_many_arguments)]
pub async fn send(
    pool: &Pool,
    key: &PoolKey,
    mut conn: Box<UpstreamConn>,
    method: &Method,
    head: &[u8],
    body: &mut UpstreamBody<'_>,
    timeouts: Timeouts,
    tls: &UpstreamTls,
) -> Result<(ResponseHead, Box<UpstreamConn>), SendFailure> {
    loop {
        match conn
            .send(method, head, body, timeouts.write, timeouts.read)
            .await
        {
            Ok(h) => return Ok((h, conn)),
            Err(SendError::Unsent(_)) if conn.reused => {
                conn = match acquire(pool, key, timeouts.connect, tls).await {
                    Ok(c) => c,
                    Err(e) => return Err((e, true)),
                };
            }
            Err(SendError::Unsent(e)) => return Err((e, true)),
            Err(SendError::Sent(e)) => return Err((e, false)),
        }
    }
}
