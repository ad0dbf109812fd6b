//! Translates kong.conf settings into the proxy's options and listen addresses.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use gantry_config::{ErrorDefaultType, ListenHost, Listener, RealIpHeader, Settings};
use gantry_proxy::error_page::ErrorFormat;
use gantry_proxy::h1::server::ClientConnOptions;
use gantry_proxy::headers::HeaderOptions;
use gantry_proxy::pool::KeepaliveOptions;
use gantry_proxy::{ListenSpec, ProxyOptions};
use http::HeaderName;

/// Proxy behaviour from settings.
pub fn proxy_options(s: &Settings) -> ProxyOptions {
    let h = &s.headers;
    let headers = HeaderOptions {
        server: h.server,
        via: h.via,
        proxy_latency: h.proxy_latency,
        upstream_latency: h.upstream_latency,
        response_latency: h.response_latency,
        request_id: h.request_id,
        upstream_status: h.upstream_status,
        upstream_request_id: s.headers_upstream.request_id,
    };
    let real_ip_header = match &s.real_ip_header {
        RealIpHeader::Header(name) => HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
            .unwrap_or(HeaderName::from_static("x-real-ip")),
        // proxy_protocol listeners are not supported yet; fall back to Kong's default.
        _ => HeaderName::from_static("x-real-ip"),
    };
    ProxyOptions {
        headers,
        client_max_body_size: s.client_max_body_size,
        keepalive: KeepaliveOptions {
            pool_size: usize::try_from(s.upstream_keepalive.pool_size).unwrap_or(usize::MAX),
            max_requests: u32::try_from(s.upstream_keepalive.max_requests).unwrap_or(u32::MAX),
            idle_timeout: s.upstream_keepalive.idle_timeout,
        },
        trusted_ips: s.trusted_ips.nets.clone(),
        real_ip_header,
        real_ip_recursive: s.real_ip_recursive,
        error_default_type: match s.error_default_type {
            ErrorDefaultType::Json => ErrorFormat::Json,
            ErrorDefaultType::Xml => ErrorFormat::Xml,
            ErrorDefaultType::Html => ErrorFormat::Html,
            ErrorDefaultType::Plain => ErrorFormat::Plain,
        },
        default_certificate: None,
        client: ClientConnOptions {
            keepalive_requests: s.keepalive_requests,
            ..ClientConnOptions::default()
        },
    }
}

/// Resolves a listener entry to socket addresses (`*` = all IPv4 interfaces).
pub fn resolve(l: &Listener) -> anyhow::Result<Vec<SocketAddr>> {
    if let Some(a) = l.socket_addr() {
        return Ok(vec![a]);
    }
    match &l.host {
        ListenHost::Wildcard => Ok(vec![SocketAddr::from(([0, 0, 0, 0], l.port))]),
        _ => Ok((l.address().as_str()).to_socket_addrs()?.collect()),
    }
}

/// The proxy listeners (TLS ones flagged).
pub fn proxy_listens(s: &Settings) -> anyhow::Result<Vec<ListenSpec>> {
    let mut specs = Vec::new();
    for l in &s.proxy_listen {
        for addr in resolve(l)? {
            specs.push(ListenSpec {
                addr,
                backlog: l.backlog.unwrap_or(16_384),
                tls: l.ssl,
                http2: l.http2,
            });
        }
    }
    Ok(specs)
}

/// `ssl_cert` / `ssl_cert_key` pairs: PEM text, or paths to PEM files (as Kong).
pub fn default_certificate(
    s: &Settings,
) -> anyhow::Result<Option<Vec<std::sync::Arc<rustls::sign::CertifiedKey>>>> {
    if s.ssl.certs.is_empty() {
        return Ok(None);
    }
    if s.ssl.certs.len() != s.ssl.keys.len() {
        anyhow::bail!("ssl_cert and ssl_cert_key must list the same number of entries");
    }
    let mut pairs = Vec::new();
    for (cert, key) in s.ssl.certs.iter().zip(&s.ssl.keys) {
        pairs.push((pem_or_file(cert)?, pem_or_file(key.expose())?));
    }
    let keys = gantry_proxy::tls::default_certificate(&pairs).map_err(anyhow::Error::msg)?;
    Ok(Some(keys))
}

/// The Admin API's TLS config: `admin_ssl_cert` / `admin_ssl_cert_key` pairs, else a
/// self-signed certificate generated at start (as Kong does). ALPN h2 when the
/// listener has `http2`.
pub fn admin_tls(s: &Settings, http2: bool) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let certs = &s.admin_ssl;
    if certs.certs.len() != certs.keys.len() {
        anyhow::bail!("admin_ssl_cert and admin_ssl_cert_key must list the same number of entries");
    }
    let mut pairs = Vec::new();
    for (cert, key) in certs.certs.iter().zip(&certs.keys) {
        pairs.push((pem_or_file(cert)?, pem_or_file(key.expose())?));
    }
    let keys = gantry_proxy::tls::default_certificate(&pairs).map_err(anyhow::Error::msg)?;
    let resolver = Arc::new(gantry_proxy::tls::FixedResolver::new(keys));
    gantry_proxy::tls::server_config(resolver, http2).map_err(anyhow::Error::msg)
}

fn pem_or_file(v: &str) -> anyhow::Result<String> {
    if v.trim_start().starts_with("-----BEGIN") {
        return Ok(v.to_string());
    }
    std::fs::read_to_string(v).map_err(|e| anyhow::anyhow!("cannot read {v}: {e}"))
}
