//! The `certificates`, `snis` and `ca_certificates` schemas.

use serde_json::{Map, Value};

use crate::schema::typedefs as t;
use crate::schema::{CustomCheck, EntityCheck, Field, Schema};

/// A pair check of Kong's certificates schema: the certificate in `cert` must be for
/// the key in `key` (skipped for vault references and for values the field checks
/// already refuse).
fn pair_matches(entity: &Map<String, Value>, cert: &str, key: &str) -> bool {
    let text = |f: &str| entity.get(f).and_then(Value::as_str);
    let (Some(c), Some(k)) = (text(cert), text(key)) else {
        return true;
    };
    if t::is_reference(c) || t::is_reference(k) {
        return true;
    }
    crate::x509::matches_key(c, k) != Some(false)
}

fn check_cert_key(entity: &Map<String, Value>) -> Result<(), String> {
    if pair_matches(entity, "cert", "key") {
        Ok(())
    } else {
        Err("certificate does not match key".into())
    }
}

fn check_cert_key_alt(entity: &Map<String, Value>) -> Result<(), String> {
    if pair_matches(entity, "cert_alt", "key_alt") {
        Ok(())
    } else {
        Err("alternative certificate does not match key".into())
    }
}

/// The `certificates` schema: PEM that parses as X.509 certificates and keys, each
/// certificate matching its key, as Kong checks with OpenSSL.
pub fn certificate_schema() -> Schema {
    Schema {
        name: "certificates",
        primary_key: vec!["id"],
        workspaceable: true,
        fields: vec![
            ("id", t::uuid()),
            ("created_at", t::auto_timestamp_s()),
            ("updated_at", t::auto_timestamp_s()),
            ("cert", t::certificate().required()),
            ("key", t::key().required()),
            ("cert_alt", t::certificate()),
            ("key_alt", t::key()),
            ("tags", t::tags()),
        ],
        entity_checks: vec![
            EntityCheck::MutuallyRequired(vec!["cert_alt", "key_alt"]),
            EntityCheck::Custom(CustomCheck {
                field_sources: vec!["cert", "key"],
                run_with_missing_fields: false,
                check: check_cert_key,
            }),
            EntityCheck::Custom(CustomCheck {
                field_sources: vec!["cert_alt", "key_alt"],
                run_with_missing_fields: false,
                check: check_cert_key_alt,
            }),
        ],
        ..Schema::default()
    }
}

/// The `snis` schema.
pub fn sni_schema() -> Schema {
    let mut name = t::wildcard_host().required().unique();
    name.unique_across_ws = true;
    Schema {
        name: "snis",
        primary_key: vec!["id"],
        endpoint_key: Some("name"),
        workspaceable: true,
        fields: vec![
            ("id", t::uuid()),
            ("name", name),
            ("created_at", t::auto_timestamp_s()),
            ("updated_at", t::auto_timestamp_s()),
            ("tags", t::tags()),
            ("certificate", t::foreign("certificates").required()),
        ],
        ..Schema::default()
    }
}

fn single_ca(entity: &Map<String, Value>) -> Result<(), String> {
    let cert = entity
        .get("cert")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if cert.matches("-----BEGIN CERTIFICATE-----").count() > 1 {
        return Err("please submit only one certificate at a time".into());
    }
    Ok(())
}

/// The `ca_certificates` schema (expiry and CA-constraint checks need X.509
/// parsing and are not done here).
pub fn ca_certificate_schema() -> Schema {
    Schema {
        name: "ca_certificates",
        primary_key: vec!["id"],
        fields: vec![
            ("id", t::uuid()),
            ("created_at", t::auto_timestamp_s()),
            ("updated_at", t::auto_timestamp_s()),
            ("cert", t::certificate().required()),
            ("cert_digest", Field::string().unique()),
            ("tags", t::tags()),
        ],
        entity_checks: vec![EntityCheck::Custom(CustomCheck {
            field_sources: vec!["cert"],
            run_with_missing_fields: false,
            check: single_ca,
        })],
        ..Schema::default()
    }
}
