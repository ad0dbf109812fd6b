//! TLS termination with certificates chosen per SNI from the configuration, routes
//! matching on `snis` and https-only protocols, and https upstreams.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use bytes::Bytes;
use gantry_core::{Certificate, ForeignKey, Protocol, Sni};
use gantry_proxy::tls::UpstreamTls;
use gantry_proxy::{ConfigEntities, ProxyOptions};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use support::*;
use uuid::Uuid;

fn self_signed(name: &str) -> Certificate {
    let c = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    Certificate {
        id: Uuid::new_v4(),
        created_at: 0,
        updated_at: 0,
        cert: c.cert.pem(),
        key: c.signing_key.serialize_pem(),
        cert_alt: None,
        key_alt: None,
        tags: None,
    }
}

fn sni(name: &str, cert: &Certificate) -> Sni {
    Sni {
        id: Uuid::new_v4(),
        created_at: 0,
        updated_at: 0,
        name: name.to_string(),
        certificate: ForeignKey::new(cert.id),
        tags: None,
    }
}

/// Sends a GET over TLS with `server_name`; returns the served leaf certificate (DER)
/// and the response.
async fn tls_get(addr: std::net::SocketAddr, server_name: &str, path: &str) -> (Vec<u8>, Got) {
    let tls = UpstreamTls::new().unwrap();
    let connector = tokio_rustls::TlsConnector::from(tls.no_verify.clone());
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let stream = connector
        .connect(ServerName::try_from(server_name.to_string()).unwrap(), tcp)
        .await
        .unwrap();
    let leaf = stream.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::get(path)
        .header("host", server_name)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        leaf,
        Got {
            status: parts.status,
            headers: parts.headers,
            body,
        },
    )
}

fn der(pem: &str) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_is_chosen_by_sni_and_https_routes_match() {
    let o = origin().await;
    let exact = self_signed("api.example.com");
    let wild = self_signed("*.example.com");
    let s = service("svc", "127.0.0.1", o.addr.port(), None);
    let mut r = route(&s, &["/"]);
    r.protocols = vec![Protocol::Https];
    r.snis = Some(vec![
        "api.example.com".to_string(),
        "x.example.com".to_string(),
    ]);
    let cfg = ConfigEntities {
        services: vec![s],
        routes: vec![r.into()],
        snis: vec![sni("api.example.com", &exact), sni("*.example.com", &wild)],
        certificates: vec![exact.clone(), wild.clone()],
        ..Default::default()
    };
    let p = Proxy::start_tls(&cfg, ProxyOptions::default());

    let (leaf, got) = tls_get(p.addr, "api.example.com", "/hello").await;
    assert_eq!(leaf, der(&exact.cert), "exact SNI must win");
    assert_eq!(got.status, StatusCode::OK);
    let echo = got.json();
    assert_eq!(echo["uri"], "/hello");
    assert_eq!(echo["headers"]["x-forwarded-proto"], "https");

    let (leaf, got) = tls_get(p.addr, "x.example.com", "/").await;
    assert_eq!(leaf, der(&wild.cert), "wildcard SNI certificate expected");
    assert_eq!(got.status, StatusCode::OK);

    // Unknown name: the node's default (self-signed) certificate, and no route
    // matches because the route's snis do not include it.
    let (leaf, got) = tls_get(p.addr, "other.test", "/").await;
    assert_ne!(leaf, der(&exact.cert));
    assert_ne!(leaf, der(&wild.cert));
    assert_eq!(got.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstream_is_reached_over_tls() {
    // A TLS origin: the proxy itself on a TLS listener in front of the echo origin.
    let o = origin().await;
    let inner = Proxy::start_tls(
        &ConfigEntities {
            services: vec![service("origin", "127.0.0.1", o.addr.port(), None)],
            routes: vec![],
            ..Default::default()
        },
        ProxyOptions::default(),
    );
    let mut inner_cfg = ConfigEntities::default();
    let s = service("origin", "127.0.0.1", o.addr.port(), None);
    inner_cfg.routes = vec![route(&s, &["/"]).into()];
    inner_cfg.services = vec![s];
    inner.reconfigure(&inner_cfg);

    let mut outer_svc = service("tls-upstream", "127.0.0.1", inner.addr.port(), None);
    outer_svc.protocol = Protocol::Https;
    let r = route(&outer_svc, &["/"]);
    let outer = Proxy::start(
        &ConfigEntities {
            services: vec![outer_svc],
            routes: vec![r.into()],
            ..Default::default()
        },
        ProxyOptions::default(),
    );
    let got = get_ok(outer.addr, "/through-tls").await;
    assert_eq!(
        got.status,
        StatusCode::OK,
        "{:?}",
        String::from_utf8_lossy(&got.body)
    );
    let echo = got.json();
    assert_eq!(echo["uri"], "/through-tls");
    // Two proxies on the way: two Via entries.
    assert_eq!(
        echo["headers"]["via"]
            .as_str()
            .unwrap()
            .matches("gantry/")
            .count(),
        2
    );

    // With tls_verify on, the self-signed certificate is refused: 502.
    let mut verifying = service("tls-verify", "127.0.0.1", inner.addr.port(), None);
    verifying.protocol = Protocol::Https;
    verifying.tls_verify = Some(true);
    let r = route(&verifying, &["/"]);
    outer.reconfigure(&ConfigEntities {
        services: vec![verifying],
        routes: vec![r.into()],
        ..Default::default()
    });
    let got = get_ok(outer.addr, "/x").await;
    assert_eq!(got.status, StatusCode::BAD_GATEWAY);
    let _ = Arc::clone(&outer.snapshot);
}

#[test]
fn a_bad_certificate_is_refused_strictly_and_skipped_leniently() {
    let good = self_signed("good.example");
    let mut bad = self_signed("bad.example");
    bad.key = self_signed("other").key; // key of another certificate
    let cfg = ConfigEntities {
        snis: vec![sni("good.example", &good), sni("bad.example", &bad)],
        certificates: vec![good, bad],
        ..Default::default()
    };
    assert!(gantry_proxy::Snapshot::build(&cfg).is_err());
    let lenient = gantry_proxy::Snapshot::build_with(
        &cfg,
        gantry_proxy::snapshot::BuildContext {
            dns: gantry_proxy::snapshot::default_dns(),
            previous: None,
            strict: false,
            changed: None,
        },
    );
    assert!(
        lenient.is_ok(),
        "one bad certificate must not block the rest"
    );
}
