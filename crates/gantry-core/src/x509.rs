//! What Kong checks with OpenSSL when a certificate entity is validated: that the PEM
//! holds parseable X.509 certificates and a parseable key, and that each certificate
//! matches its key (`kong/db/schema/entities/certificates.lua`). Done with rustls and
//! webpki, the same code that later serves them, so anything accepted here loads.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The DER certificates of a PEM chain, when there is at least one and each parses
/// as X.509.
pub(crate) fn certificate_chain(pem: &str) -> Option<Vec<CertificateDer<'static>>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .ok()?;
    let all_parse = chain
        .iter()
        .all(|der| webpki::EndEntityCert::try_from(der).is_ok());
    (!chain.is_empty() && all_parse).then_some(chain)
}

/// Whether a PEM private key (PKCS#8, PKCS#1 or SEC1) loads; public keys only need
/// to be well-formed PEM (checked by the caller).
pub(crate) fn key_parses(pem: &str) -> bool {
    if !pem.contains("PRIVATE KEY-----") {
        return true;
    }
    match PrivateKeyDer::from_pem_slice(pem.as_bytes()) {
        Ok(key) => provider().key_provider.load_private_key(key).is_ok(),
        Err(_) => false,
    }
}

/// Whether the first certificate of `cert_pem` is for the key in `key_pem`. `None`
/// when either does not parse (the field checks report that).
pub(crate) fn matches_key(cert_pem: &str, key_pem: &str) -> Option<bool> {
    let chain = certificate_chain(cert_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).ok()?;
    let signing = provider().key_provider.load_private_key(key).ok()?;
    Some(CertifiedKey::new(chain, signing).keys_match().is_ok())
}
