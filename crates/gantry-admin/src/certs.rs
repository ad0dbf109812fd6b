//! The certificates' transient `snis` field (Kong's `*_with_name_list` DAO
//! methods): on write it creates, keeps or deletes SNI entities in the same
//! transaction; on read the certificate shows its SNI names.

use gantry_core::KongError;
use gantry_core::error::{ErrKey, ErrorTree};
use gantry_core::schema::ValidateOptions;
use gantry_store::Write;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::error::ApiResult;
use crate::resolve::{children, id_of};
use crate::state::AdminState;

fn violation(msg: &str) -> KongError {
    let mut t = ErrorTree::new();
    t.set(ErrKey::field("snis"), ErrorTree::msg(msg));
    KongError::schema_violation(t)
}

/// Removes `snis` from a certificates body: `Some(names)` when given (an
/// explicit `null` clears them), `None` when absent or for other entities.
pub fn take_snis(entity: &str, body: &mut Map<String, Value>) -> ApiResult<Option<Vec<String>>> {
    if entity != "certificates" {
        return Ok(None);
    }
    match body.remove("snis") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(Vec::new())),
        Some(Value::Array(items)) => {
            let mut names = Vec::with_capacity(items.len());
            for i in items {
                match i {
                    Value::String(s) if !names.contains(&s) => names.push(s),
                    Value::String(_) => {}
                    _ => return Err(violation("expected a string").into()),
                }
            }
            Ok(Some(names))
        }
        Some(Value::String(s)) => Ok(Some(vec![s])),
        Some(_) => Err(violation("expected an array").into()),
    }
}

/// Writes making the certificate's SNIs exactly `names`.
pub async fn sni_writes(state: &AdminState, cert: Uuid, names: &[String]) -> ApiResult<Vec<Write>> {
    let current = children(state, "snis", "certificate", cert).await?;
    let mut writes = Vec::new();
    for s in &current {
        let name = s.get("name").and_then(Value::as_str).unwrap_or_default();
        if !names.iter().any(|n| n == name)
            && let Some(id) = id_of(s)
        {
            writes.push(Write::Delete {
                entity: "snis".into(),
                id,
            });
        }
    }
    let mut errors = ErrorTree::new();
    for (i, n) in names.iter().enumerate() {
        let exists = current
            .iter()
            .any(|s| s.get("name").and_then(Value::as_str) == Some(n.as_str()));
        if exists {
            continue;
        }
        let input = json!({ "name": n, "certificate": { "id": cert.to_string() } });
        let Some(schema) = state.schemas.get("snis") else {
            continue;
        };
        match schema.validate(&input, &ValidateOptions::default()) {
            Ok(value) => writes.push(Write::Insert {
                entity: "snis".into(),
                value,
            }),
            Err(e) => {
                let msg = e
                    .field("name")
                    .and_then(ErrorTree::as_message)
                    .unwrap_or("invalid value")
                    .to_string();
                let mut node = match errors.field("snis") {
                    Some(t) => t.clone(),
                    None => ErrorTree::new(),
                };
                node.set(ErrKey::Index(i + 1), ErrorTree::msg(msg));
                errors.set(ErrKey::field("snis"), node);
            }
        }
    }
    if !errors.is_empty() {
        return Err(KongError::schema_violation(errors).into());
    }
    Ok(writes)
}

/// Adds `snis` (sorted names) to a certificate for output.
pub async fn with_names(state: &AdminState, mut cert: Value) -> ApiResult<Value> {
    let Some(id) = id_of(&cert) else {
        return Ok(cert);
    };
    let mut names: Vec<String> = children(state, "snis", "certificate", id)
        .await?
        .iter()
        .filter_map(|s| s.get("name").and_then(Value::as_str).map(str::to_string))
        .collect();
    names.sort();
    if let Value::Object(m) = &mut cert {
        m.insert("snis".into(), json!(names));
    }
    Ok(cert)
}
