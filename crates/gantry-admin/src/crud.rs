//! Entity writes shared by every endpoint: validation through the schema,
//! foreign-key resolution, write-time transformations, PUT (full replace, URL
//! key wins), PATCH (schema-aware deep merge), DELETE, and DB-less refusal.

use gantry_core::KongError;
use gantry_core::schema::{FieldType, Schema, ValidateOptions};
use gantry_store::Write;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::certs;
use crate::error::{ApiError, ApiResult};
use crate::resolve::{self, Key, fk_id, id_of};
use crate::state::AdminState;

/// A parent the written entity must point to (`/services/{s}/routes`).
#[derive(Debug, Clone, Copy)]
pub struct Parent {
    /// Foreign-key field of the child (`service`).
    pub field: &'static str,
    /// Parent id.
    pub id: Uuid,
}

fn schema_of<'a>(state: &'a AdminState, entity: &str) -> ApiResult<&'a Schema> {
    state
        .schemas
        .get(entity)
        .ok_or_else(|| ApiError::unexpected(format!("no schema for {entity}")))
}

fn set_parent(body: &mut Map<String, Value>, parent: Option<Parent>) {
    if let Some(p) = parent {
        body.insert(p.field.to_string(), json!({ "id": p.id.to_string() }));
    }
}

/// Kong's basic-auth `crypto.hash(consumer_id, password)`: SHA-1 hex of
/// `password .. consumer_id`.
pub fn hash_password(consumer_id: &str, password: &str) -> String {
    let mut h = sha1_smol::Sha1::new();
    h.update(password.as_bytes());
    h.update(consumer_id.as_bytes());
    h.digest().to_string()
}

/// Takes the `ttl` option out of a body for entities that support it
/// (Kong: integer 0..=100000000, else code 11).
fn take_ttl(schema: &Schema, body: &mut Map<String, Value>) -> ApiResult<Option<Value>> {
    if !schema.ttl {
        return Ok(None);
    }
    let Some(ttl) = body.remove("ttl") else {
        return Ok(None);
    };
    if ttl.is_null() {
        return Ok(None);
    }
    let ok = ttl
        .as_f64()
        .is_some_and(|t| t.fract() == 0.0 && (0.0..=100_000_000.0).contains(&t));
    if !ok {
        let msg = "must be an integer between 0 and 100000000";
        return Err(ApiError::dao(
            11,
            format!("invalid option (ttl: {msg})"),
            Some(json!({ "ttl": msg })),
        ));
    }
    Ok(Some(ttl))
}

/// Validates an input object into a complete entity, applying Kong's
/// write-time transformations. `hash` says whether a given `password` is
/// plain text (always on insert/upsert, only when present on PATCH).
async fn prepare(
    state: &AdminState,
    entity: &str,
    mut input: Map<String, Value>,
    hash: bool,
) -> ApiResult<Value> {
    let schema = schema_of(state, entity)?;
    let ttl = take_ttl(schema, &mut input)?;
    resolve::resolve_foreign(state, entity, &mut input).await?;
    let mut out = schema
        .validate(&Value::Object(input), &ValidateOptions::default())
        .map_err(KongError::schema_violation)?;
    if let Value::Object(m) = &mut out {
        if entity == "basicauth_credentials" && hash {
            let cid = m
                .get("consumer")
                .and_then(|c| c.get("id"))
                .and_then(Value::as_str)
                .map(str::to_string);
            if let (Some(cid), Some(Value::String(pw))) = (cid, m.get("password")) {
                let hashed = hash_password(&cid, pw);
                m.insert("password".into(), Value::String(hashed));
            }
        }
        if let Some(t) = ttl {
            m.insert("ttl".into(), t);
        }
    }
    Ok(out)
}

fn refuse_dbless(state: &AdminState, verb: &str, entity: &str) -> ApiResult<()> {
    if state.dbless() {
        return Err(ApiError::dbless(verb, entity));
    }
    Ok(())
}

/// Applies a write plus, for certificates given `snis`, the SNI writes, in one
/// transaction; returns the written entity (certificates with their SNI names).
async fn commit(state: &AdminState, w: Write, snis: Option<Vec<String>>) -> ApiResult<Value> {
    let is_cert = w.entity() == "certificates";
    let cert_id = match &w {
        Write::Insert { value, .. } | Write::Upsert { value, .. } | Write::Update { value, .. } => {
            id_of(value)
        }
        Write::Delete { id, .. } => Some(*id),
    };
    let mut writes = vec![w];
    if let (Some(names), Some(id)) = (snis, cert_id) {
        writes.extend(certs::sni_writes(state, id, &names).await?);
    }
    let out = state.store.apply(writes).await?;
    let value = match out.into_iter().next() {
        Some(v) if !v.is_null() => v,
        _ => return Err(ApiError::unexpected("store returned no entity")),
    };
    if is_cert {
        return certs::with_names(state, value).await;
    }
    Ok(value)
}

/// `POST`: inserts a new entity (201 by the caller).
pub async fn create(
    state: &AdminState,
    entity: &str,
    mut body: Map<String, Value>,
    parent: Option<Parent>,
) -> ApiResult<Value> {
    set_parent(&mut body, parent);
    let snis = certs::take_snis(entity, &mut body)?;
    let value = prepare(state, entity, body, true).await?;
    refuse_dbless(state, "create", entity)?;
    let w = Write::Insert {
        entity: entity.to_string(),
        value,
    };
    commit(state, w, snis).await
}

/// `PUT`: creates or fully replaces the entity the URL names; the URL key wins
/// over the body, an existing entity keeps its id and `created_at`.
pub async fn upsert(
    state: &AdminState,
    entity: &str,
    key: &Key,
    raw_key: &str,
    existing: Option<&Value>,
    mut body: Map<String, Value>,
    parent: Option<Parent>,
) -> ApiResult<Value> {
    set_parent(&mut body, parent);
    match key {
        Key::Id(id) => {
            body.insert("id".into(), Value::String(id.to_string()));
        }
        Key::Endpoint(f, v) => {
            body.insert((*f).to_string(), v.clone());
            match existing.and_then(id_of) {
                Some(id) => body.insert("id".into(), Value::String(id.to_string())),
                None => body.remove("id"),
            };
        }
        Key::Invalid => {
            body.insert("id".into(), Value::String(raw_key.to_string()));
        }
    }
    if let Some(created) = existing.and_then(|e| e.get("created_at")) {
        body.insert("created_at".into(), created.clone());
    }
    // PUT replaces the SNI list too (absent = none)
    let snis =
        certs::take_snis(entity, &mut body)?.or_else(|| (entity == "certificates").then(Vec::new));
    let value = prepare(state, entity, body, true).await?;
    refuse_dbless(state, "create or update", entity)?;
    let w = Write::Upsert {
        entity: entity.to_string(),
        value,
    };
    commit(state, w, snis).await
}

/// `PATCH`: merges the body into the existing entity (records field by field,
/// everything else replaced) and validates the result.
pub async fn update(
    state: &AdminState,
    entity: &str,
    existing: &Value,
    body: Map<String, Value>,
) -> ApiResult<Value> {
    let schema = schema_of(state, entity)?;
    let hash = body.contains_key("password");
    let mut patch = body;
    let snis = certs::take_snis(entity, &mut patch)?;
    // foreign keys by endpoint key must be resolved before merging
    resolve::resolve_foreign(state, entity, &mut patch).await?;
    let ttl = take_ttl(schema, &mut patch)?;
    let mut merged = merge(schema, existing, &patch);
    if let (Value::Object(m), Some(t)) = (&mut merged, ttl) {
        m.insert("ttl".into(), t);
    }
    let Value::Object(merged) = merged else {
        return Err(ApiError::unexpected("stored entity is not an object"));
    };
    let value = prepare(state, entity, merged, hash).await?;
    refuse_dbless(state, "update", entity)?;
    let w = Write::Update {
        entity: entity.to_string(),
        value,
    };
    commit(state, w, snis).await
}

/// `DELETE` of an entity that exists (missing ones are the caller's business).
pub async fn delete(state: &AdminState, entity: &str, existing: &Value) -> ApiResult<()> {
    let Some(id) = id_of(existing) else {
        return Err(ApiError::unexpected("stored entity without id"));
    };
    refuse_dbless(state, "remove", entity)?;
    if entity == "ca_certificates" {
        refuse_if_ca_referenced(state, id).await?;
    }
    state
        .store
        .apply(vec![Write::Delete {
            entity: entity.to_string(),
            id,
        }])
        .await?;
    Ok(())
}

/// Kong refuses to delete a CA certificate that a service (`ca_certificates`) or a
/// plugin (`config.ca_certificates`) still lists: those are arrays of ids, not
/// foreign keys, so the store's rules do not see them (`kong/db/dao/ca_certificates.lua`).
async fn refuse_if_ca_referenced(state: &AdminState, id: Uuid) -> ApiResult<()> {
    let wanted = Value::String(id.to_string());
    for (entity, path) in [
        ("services", &["ca_certificates"][..]),
        ("plugins", &["config", "ca_certificates"][..]),
    ] {
        let mut query = gantry_store::ListQuery {
            size: 1000,
            ..Default::default()
        };
        loop {
            let page = state.store.list(entity, &query).await?;
            for item in &page.items {
                let list = path.iter().try_fold(item, |v, k| v.get(*k));
                let listed = list
                    .and_then(Value::as_array)
                    .is_some_and(|ids| ids.contains(&wanted));
                if listed {
                    let by = item.get("id").and_then(Value::as_str).unwrap_or("");
                    return Err(ApiError::dao(
                        19,
                        format!("ca certificate {id} is still referenced by {entity} (id = {by})"),
                        None,
                    ));
                }
            }
            match page.offset {
                Some(next) => query.offset = Some(next),
                // The last page of this entity: on to the next one.
                None => break,
            }
        }
    }
    Ok(())
}

/// `PUT /{child}/{c}/{fk}`: upserts the parent a child points to; when the
/// child points nowhere, creates the parent and links the child to it, in one
/// transaction.
pub async fn put_parent(
    state: &AdminState,
    child_entity: &str,
    field: &str,
    parent_entity: &str,
    child: &Value,
    mut body: Map<String, Value>,
) -> ApiResult<Value> {
    if let Some(pid) = fk_id(child, field) {
        let existing = state.store.get(parent_entity, pid).await?;
        return upsert(
            state,
            parent_entity,
            &Key::Id(pid),
            "",
            existing.as_ref(),
            body,
            None,
        )
        .await;
    }
    let pid = Uuid::new_v4();
    body.insert("id".into(), Value::String(pid.to_string()));
    let parent = prepare(state, parent_entity, body, true).await?;
    let Value::Object(mut linked) = child.clone() else {
        return Err(ApiError::unexpected("stored entity is not an object"));
    };
    linked.insert(field.to_string(), json!({ "id": pid.to_string() }));
    let linked = prepare(state, child_entity, linked, false).await?;
    refuse_dbless(state, "create or update", parent_entity)?;
    let mut out = state
        .store
        .apply(vec![
            Write::Upsert {
                entity: parent_entity.to_string(),
                value: parent,
            },
            Write::Update {
                entity: child_entity.to_string(),
                value: linked,
            },
        ])
        .await?;
    out.truncate(1);
    out.pop()
        .ok_or_else(|| ApiError::unexpected("store returned no entity"))
}

/// Schema-aware PATCH merge: records (and free-form objects such as a generic
/// plugin `config`) merge recursively; arrays, sets, maps and scalars are
/// replaced. The subschema (plugin `name`, route `protocols`) is chosen from
/// the merged keys.
pub fn merge(schema: &Schema, existing: &Value, patch: &Map<String, Value>) -> Value {
    let mut out = match existing {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let mut probe = out.clone();
    if let Some(k) = schema.subschema_key
        && let Some(v) = patch.get(k)
    {
        probe.insert(k.to_string(), v.clone());
    }
    let sub = schema.subschema_for(&probe);
    for (k, v) in patch {
        let field = schema.resolve_field(k, sub);
        let merged = match (field, out.get(k)) {
            (Some(f), Some(old @ Value::Object(_))) if v.is_object() => match (f.typ, &f.record) {
                (FieldType::Record, Some(rec)) => rec.merge_update(old, v),
                (FieldType::Record | FieldType::Object, _) => deep_merge(old, v),
                _ => v.clone(),
            },
            _ => v.clone(),
        };
        out.insert(k.clone(), merged);
    }
    Value::Object(out)
}

fn deep_merge(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut out = o.clone();
            for (k, v) in n {
                let merged = match out.get(k) {
                    Some(prev) if prev.is_object() && v.is_object() => deep_merge(prev, v),
                    _ => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (_, n) => n.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn plugin_config_deep_merges() {
        let s = gantry_core::schemas::bundled().get("plugins").unwrap();
        let existing = json!({"name":"rate-limiting","config":{"minute":5,"policy":"local","nested":{"a":1,"b":2}},"tags":["x"]});
        let patch = json!({"config":{"hour":100,"nested":{"b":3}},"tags":["y"]});
        let Value::Object(p) = patch else {
            unreachable!()
        };
        assert_eq!(
            merge(s, &existing, &p),
            json!({"name":"rate-limiting","config":{"minute":5,"policy":"local","nested":{"a":1,"b":3},"hour":100},"tags":["y"]})
        );
    }

    #[test]
    fn basic_auth_hash_matches_kong() {
        // sha1("secret" .. "id")
        assert_eq!(hash_password("id", "secret").len(), 40);
    }
}
