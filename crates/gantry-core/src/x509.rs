//! What Kong checks with OpenSSL when a certificate entity is validated: that the PEM
//! holds parseable X.509 certificates and a parseable key, and that each certificate
//! matches its key (`kong/db/schema/entities/certificates.lua`). Done with rustls and
//! webpki, the same code that later serves them, so anything accepted here loads.
//! Also the jwt credential's `rsa_public_key` check (`pkey.new` in
//! `kong/plugins/jwt/daos.lua`).

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

/// Whether a PEM key loads as a public key of a kind Kong's jwt plugin verifies
/// with (RSA of 1024–8192 bits, EC P-256/384/521, Ed25519), or as a private key.
pub(crate) fn public_key_parses(pem: &str) -> bool {
    use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
    use rustls_pki_types::SubjectPublicKeyInfoDer;

    if pem.contains("PRIVATE KEY-----") {
        return key_parses(pem);
    }
    let der: Vec<u8> = if pem.contains("-----BEGIN RSA PUBLIC KEY-----") {
        // PKCS#1 RSAPublicKey, which rustls' PEM reader does not know
        use base64::Engine;
        let body = crate::schema::typedefs::pem_blocks(pem, |l| l == "RSA PUBLIC KEY")
            .and_then(|b| b.into_iter().next());
        match body.and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok()) {
            Some(der) => der,
            None => return false,
        }
    } else {
        match SubjectPublicKeyInfoDer::from_pem_slice(pem.as_bytes()) {
            Ok(spki) => spki.as_ref().to_vec(),
            Err(_) => return false,
        }
    };
    let kinds: [&'static dyn VerificationAlgorithm; 5] = [
        &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        &signature::ECDSA_P256_SHA256_FIXED,
        &signature::ECDSA_P384_SHA384_FIXED,
        &signature::ECDSA_P521_SHA512_FIXED,
        &signature::ED25519,
    ];
    kinds
        .iter()
        .any(|alg| ParsedPublicKey::new(*alg, &der).is_ok())
}
