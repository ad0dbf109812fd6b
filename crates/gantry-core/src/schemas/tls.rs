//! The `certificates`, `snis` and `ca_certificates` schemas.

use serde_json::{Map, Value};

use crate::schema::typedefs as t;
use crate::schema::{CustomCheck, EntityCheck, Field, Schema};

/// The `certificates` schema (PEM presence is checked; key/cert matching
/// needs X.509 parsing and is left to the TLS layer).
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
        entity_checks: vec![EntityCheck::MutuallyRequired(vec!["cert_alt", "key_alt"])],
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
