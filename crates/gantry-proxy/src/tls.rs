//! TLS on both sides. Downstream: certificates chosen per SNI from the snapshot's
//! `certificates`/`snis` in Kong's order (exact name, `*.rest`, `prefix.*`, the `*` SNI,
//! then the node default), RSA and ECDSA pairs side by side, TLS 1.2 and 1.3 only.
//! Upstream: a rustls client that verifies only when the service sets `tls_verify`.

use std::collections::HashMap;
use std::sync::Arc;

use gantry_core::{Certificate, Sni};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::handler::SharedSnapshot;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A certificate entity, loaded: one key pair, or an RSA and an ECDSA pair.
type Pairs = Arc<Vec<Arc<CertifiedKey>>>;

/// Parses a PEM certificate chain and private key into a signing pair.
pub fn certified_key(cert_pem: &str, key_pem: &str) -> Result<CertifiedKey, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("invalid certificate: {e}"))?;
    if chain.is_empty() {
        return Err("invalid certificate: no PEM certificate found".to_string());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| format!("invalid key: {e}"))?;
    CertifiedKey::from_der(chain, key, &provider())
        .map_err(|e| format!("certificate does not match key: {e}"))
}

/// Certificates by SNI, compiled from the entities.
#[derive(Debug, Default)]
pub struct CertStore {
    exact: HashMap<String, Pairs>,
    /// `*.example.com`, keyed by `example.com`.
    leading_wildcard: HashMap<String, Pairs>,
    /// `example.*`, keyed by `example`.
    trailing_wildcard: HashMap<String, Pairs>,
    /// The SNI entity named `*`.
    catch_all: Option<Pairs>,
}

impl CertStore {
    /// Loads every certificate referenced by an SNI. A certificate that does not parse
    /// is an error naming it (validation should have caught it earlier).
    pub fn build(certs: &[Certificate], snis: &[Sni]) -> Result<CertStore, String> {
        let (store, errors) = CertStore::build_lenient(certs, snis);
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(store),
        }
    }

    /// Like [`CertStore::build`], but a certificate that does not load (and the SNIs
    /// pointing at it) is left out and reported, so one bad row in a store cannot stop
    /// every later change from applying.
    pub fn build_lenient(certs: &[Certificate], snis: &[Sni]) -> (CertStore, Vec<String>) {
        let mut errors = Vec::new();
        let mut loaded: HashMap<uuid::Uuid, Pairs> = HashMap::new();
        for c in certs {
            let main =
                certified_key(&c.cert, &c.key).map_err(|e| format!("certificate {}: {e}", c.id));
            let alt = match (&c.cert_alt, &c.key_alt) {
                (Some(cert), Some(key)) => Some(
                    certified_key(cert, key)
                        .map_err(|e| format!("certificate {} (alt): {e}", c.id)),
                ),
                _ => None,
            };
            match (main, alt) {
                (Ok(m), None) => {
                    loaded.insert(c.id, Arc::new(vec![Arc::new(m)]));
                }
                (Ok(m), Some(Ok(a))) => {
                    loaded.insert(c.id, Arc::new(vec![Arc::new(m), Arc::new(a)]));
                }
                (Err(e), _) | (_, Some(Err(e))) => errors.push(e),
            }
        }
        let mut store = CertStore::default();
        for s in snis {
            let Some(pairs) = loaded.get(&s.certificate.id) else {
                errors.push(format!("sni {} references a missing certificate", s.name));
                continue;
            };
            let name = s.name.to_ascii_lowercase();
            let pairs = Arc::clone(pairs);
            if name == "*" {
                store.catch_all = Some(pairs);
            } else if let Some(rest) = name.strip_prefix("*.") {
                store.leading_wildcard.insert(rest.to_string(), pairs);
            } else if let Some(prefix) = name.strip_suffix(".*") {
                store.trailing_wildcard.insert(prefix.to_string(), pairs);
            } else {
                store.exact.insert(name, pairs);
            }
        }
        (store, errors)
    }

    /// Kong's lookup order for a client's server name.
    fn lookup(&self, sni: Option<&str>) -> Option<&Pairs> {
        if let Some(name) = sni {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if let Some(p) = self.exact.get(&name) {
                return Some(p);
            }
            if let Some((_, rest)) = name.split_once('.')
                && let Some(p) = self.leading_wildcard.get(rest)
            {
                return Some(p);
            }
            if let Some((prefix, _)) = name.rsplit_once('.')
                && let Some(p) = self.trailing_wildcard.get(prefix)
            {
                return Some(p);
            }
        }
        self.catch_all.as_ref()
    }
}

/// Picks the certificate for each handshake from the live snapshot.
#[derive(Debug)]
pub struct SniResolver {
    snapshot: SharedSnapshot,
    default: Pairs,
}

impl SniResolver {
    pub fn new(snapshot: SharedSnapshot, default: Vec<Arc<CertifiedKey>>) -> Self {
        Self {
            snapshot,
            default: Arc::new(default),
        }
    }
}

fn choose(pairs: &Pairs, hello: &ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
    let schemes = hello.signature_schemes();
    pairs
        .iter()
        .find(|ck| ck.key.choose_scheme(schemes).is_some())
        .or_else(|| pairs.first())
        .cloned()
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let snap = self.snapshot.load();
        match snap.certs.lookup(hello.server_name()) {
            Some(pairs) => choose(pairs, &hello),
            None => choose(&self.default, &hello),
        }
    }
}

/// Always the same certificate(s) (RSA or ECDSA by what the client supports): the
/// Admin API and Status API TLS listeners (`admin_ssl_cert`).
#[derive(Debug)]
pub struct FixedResolver {
    pairs: Pairs,
}

impl FixedResolver {
    pub fn new(pairs: Vec<Arc<CertifiedKey>>) -> Self {
        FixedResolver {
            pairs: Arc::new(pairs),
        }
    }
}

impl ResolvesServerCert for FixedResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        choose(&self.pairs, &hello)
    }
}

/// A server config for a TLS listener; ALPN offers h2 only when the listener has
/// the `http2` flag. TLS 1.2 and 1.3 only.
pub fn server_config(
    resolver: Arc<dyn ResolvesServerCert>,
    http2: bool,
) -> Result<Arc<ServerConfig>, String> {
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    cfg.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(cfg))
}

/// The node's default certificate: `ssl_cert`/`ssl_cert_key` when configured, else a
/// self-signed one generated at start (as Kong does), for `localhost`.
pub fn default_certificate(pairs: &[(String, String)]) -> Result<Vec<Arc<CertifiedKey>>, String> {
    if !pairs.is_empty() {
        return pairs
            .iter()
            .map(|(c, k)| certified_key(c, k).map(Arc::new))
            .collect();
    }
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .map_err(|e| format!("cannot generate the default certificate: {e}"))?;
    let ck = certified_key(&cert.cert.pem(), &cert.signing_key.serialize_pem())?;
    Ok(vec![Arc::new(ck)])
}

/// rustls client configs for upstream TLS: verifying (system roots) and not.
#[derive(Debug, Clone)]
pub struct UpstreamTls {
    pub verify: Arc<ClientConfig>,
    pub no_verify: Arc<ClientConfig>,
}

impl UpstreamTls {
    pub fn new() -> Result<UpstreamTls, String> {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for c in native.certs {
            let _ = roots.add(c);
        }
        let verify = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let no_verify = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
            .with_no_client_auth();
        Ok(UpstreamTls {
            verify: Arc::new(verify),
            no_verify: Arc::new(no_verify),
        })
    }
}

/// Kong's default for upstream TLS (`tls_verify` unset): the handshake's signatures are
/// still checked, but the certificate chain is not.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic, clippy::unwrap_used)]
    use super::*;

    fn self_signed(name: &str) -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec![name.to_string()])
            .unwrap_or_else(|e| panic!("{e}"));
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    fn cert(pem: (String, String)) -> Certificate {
        Certificate {
            id: uuid::Uuid::new_v4(),
            created_at: 0,
            updated_at: 0,
            cert: pem.0,
            key: pem.1,
            cert_alt: None,
            key_alt: None,
            tags: None,
        }
    }

    fn sni(name: &str, c: &Certificate) -> Sni {
        Sni {
            id: uuid::Uuid::new_v4(),
            created_at: 0,
            updated_at: 0,
            name: name.to_string(),
            certificate: gantry_core::ForeignKey::new(c.id),
            tags: None,
        }
    }

    #[test]
    fn lookup_follows_kongs_order() {
        let (a, b, c, d) = (
            cert(self_signed("a")),
            cert(self_signed("b")),
            cert(self_signed("c")),
            cert(self_signed("d")),
        );
        let snis = vec![
            sni("api.example.com", &a),
            sni("*.example.com", &b),
            sni("shop.*", &c),
            sni("*", &d),
        ];
        let store = CertStore::build(&[a.clone(), b.clone(), c.clone(), d.clone()], &snis)
            .unwrap_or_else(|e| panic!("{e}"));
        let id = |p: Option<&Pairs>| p.map(Arc::as_ptr);
        assert_eq!(
            id(store.lookup(Some("api.example.com"))),
            id(store.exact.get("api.example.com"))
        );
        assert_eq!(
            id(store.lookup(Some("API.example.com."))),
            id(store.exact.get("api.example.com"))
        );
        assert_eq!(
            id(store.lookup(Some("x.example.com"))),
            id(store.leading_wildcard.get("example.com"))
        );
        assert_eq!(
            id(store.lookup(Some("shop.io"))),
            id(store.trailing_wildcard.get("shop"))
        );
        assert_eq!(
            id(store.lookup(Some("other.net"))),
            id(store.catch_all.as_ref())
        );
        assert_eq!(id(store.lookup(None)), id(store.catch_all.as_ref()));
    }

    #[test]
    fn mismatched_key_is_rejected() {
        let (c1, _) = self_signed("a");
        let (_, k2) = self_signed("b");
        assert!(certified_key(&c1, &k2).is_err());
        assert!(certified_key("junk", "junk").is_err());
    }
}
