//! Serializes a [`DeclarativeConfig`] back to a flat `kong.yml` structure.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::DeclarativeConfig;

/// Foreign-key fields of each entity (exported as plain ids).
fn is_foreign(field: &str) -> bool {
    matches!(
        field,
        "service" | "route" | "consumer" | "upstream" | "certificate" | "client_certificate"
    )
}

fn entity_value<T: Serialize>(e: &T) -> Option<Value> {
    let Value::Object(m) = serde_json::to_value(e).ok()? else {
        return None;
    };
    let mut out = Map::new();
    for (k, v) in m {
        match v {
            Value::Null => {}
            Value::Object(fk) if is_foreign(&k) => {
                if let Some(id) = fk.get("id") {
                    out.insert(k, id.clone());
                }
            }
            v => {
                out.insert(k, v);
            }
        }
    }
    Some(Value::Object(out))
}

fn section<T: Serialize>(doc: &mut Map<String, Value>, name: &str, items: &[T]) {
    if items.is_empty() {
        return;
    }
    let list: Vec<Value> = items.iter().filter_map(entity_value).collect();
    doc.insert(name.to_string(), Value::Array(list));
}

pub(super) fn to_value(cfg: &DeclarativeConfig) -> Value {
    let mut doc = Map::new();
    doc.insert("_format_version".into(), json!("3.0"));
    doc.insert("_transform".into(), json!(false));
    section(&mut doc, "certificates", &cfg.certificates);
    section(&mut doc, "snis", &cfg.snis);
    section(&mut doc, "ca_certificates", &cfg.ca_certificates);
    section(&mut doc, "services", &cfg.services);
    section(&mut doc, "routes", &cfg.routes);
    section(&mut doc, "upstreams", &cfg.upstreams);
    section(&mut doc, "targets", &cfg.targets);
    section(&mut doc, "consumers", &cfg.consumers);
    section(&mut doc, "plugins", &cfg.plugins);
    section(&mut doc, "keyauth_credentials", &cfg.keyauth_credentials);
    section(
        &mut doc,
        "basicauth_credentials",
        &cfg.basicauth_credentials,
    );
    section(&mut doc, "jwt_secrets", &cfg.jwt_secrets);
    section(&mut doc, "hmacauth_credentials", &cfg.hmacauth_credentials);
    section(&mut doc, "acls", &cfg.acls);
    section(&mut doc, "oauth2_credentials", &cfg.oauth2_credentials);
    Value::Object(doc)
}
