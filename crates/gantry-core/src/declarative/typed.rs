//! Turns validated declarative entries into typed entities, applying
//! `_transform` write-time transformations.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::load::{Loaded, render_path};
use super::{DeclarativeConfig, DeclarativeError, PathError};
use crate::error::{ErrKey, ErrorTree};

/// Kong's basic-auth `crypto.hash(consumer_id, password)`: SHA-1 hex of
/// `password .. consumer_id`.
pub fn hash_basic_auth_password(consumer_id: &str, password: &str) -> String {
    let mut h = sha1_smol::Sha1::new();
    h.update(password.as_bytes());
    h.update(consumer_id.as_bytes());
    h.digest().to_string()
}

fn transform(entity: &str, out: &mut Map<String, Value>) {
    if entity == "basicauth_credentials" {
        let consumer = out
            .get("consumer")
            .and_then(|c| c.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string);
        if let (Some(cid), Some(Value::String(pw))) = (consumer, out.get("password")) {
            let hashed = hash_basic_auth_password(&cid, pw);
            out.insert("password".into(), Value::String(hashed));
        }
    }
}

fn push<T: DeserializeOwned>(
    list: &mut Vec<T>,
    out: Map<String, Value>,
    path: &[ErrKey],
    errors: &mut Vec<(Vec<ErrKey>, String)>,
) {
    match serde_json::from_value::<T>(Value::Object(out)) {
        Ok(v) => list.push(v),
        Err(e) => errors.push((path.to_vec(), format!("internal error: {e}"))),
    }
}

/// Builds the typed configuration.
pub(super) fn build(loaded: Loaded) -> Result<DeclarativeConfig, DeclarativeError> {
    let mut cfg = DeclarativeConfig {
        format_version: loaded.format_version,
        transform: loaded.transform,
        ..DeclarativeConfig::default()
    };
    let mut errors = Vec::new();
    for e in loaded.entries {
        let Some(mut out) = e.output else { continue };
        if cfg.transform {
            transform(e.entity, &mut out);
        }
        let p = &e.err_path;
        let errs = &mut errors;
        match e.entity {
            "services" => push(&mut cfg.services, out, p, errs),
            "routes" => push(&mut cfg.routes, out, p, errs),
            "upstreams" => push(&mut cfg.upstreams, out, p, errs),
            "targets" => push(&mut cfg.targets, out, p, errs),
            "consumers" => push(&mut cfg.consumers, out, p, errs),
            "plugins" => push(&mut cfg.plugins, out, p, errs),
            "certificates" => push(&mut cfg.certificates, out, p, errs),
            "snis" => push(&mut cfg.snis, out, p, errs),
            "ca_certificates" => push(&mut cfg.ca_certificates, out, p, errs),
            "keyauth_credentials" => push(&mut cfg.keyauth_credentials, out, p, errs),
            "basicauth_credentials" => push(&mut cfg.basicauth_credentials, out, p, errs),
            "jwt_secrets" => push(&mut cfg.jwt_secrets, out, p, errs),
            "hmacauth_credentials" => push(&mut cfg.hmacauth_credentials, out, p, errs),
            "acls" => push(&mut cfg.acls, out, p, errs),
            "oauth2_credentials" => push(&mut cfg.oauth2_credentials, out, p, errs),
            _ => {}
        }
    }
    if errors.is_empty() {
        return Ok(cfg);
    }
    let mut tree = ErrorTree::new();
    let mut flat = Vec::new();
    for (path, msg) in errors {
        flat.push(PathError {
            path: render_path(&path),
            message: msg.clone(),
        });
        let mut node = ErrorTree::new();
        node.push_entity(msg);
        let mut wrapped = node;
        for k in path.into_iter().rev() {
            let mut parent = ErrorTree::new();
            parent.set(k, wrapped);
            wrapped = parent;
        }
        tree.merge(wrapped);
    }
    Err(DeclarativeError::invalid(tree, flat))
}

#[cfg(test)]
mod tests {
    use super::hash_basic_auth_password;

    #[test]
    fn basic_auth_hash_is_sha1_of_password_then_consumer_id() {
        // sha1("secret" .. "c1")
        assert_eq!(
            hash_basic_auth_password("c1", "secret"),
            sha1_smol::Sha1::from("secretc1").digest().to_string()
        );
    }
}
