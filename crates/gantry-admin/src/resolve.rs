//! Finding entities from URL segments (id, endpoint key, and the special cases:
//! targets by target string within an upstream, ACLs by group within a consumer,
//! certificates by SNI name) and resolving foreign keys given by endpoint key in
//! request bodies (`{"service": {"name": "s"}}`, code 13 when unresolved).

use gantry_core::schema::{FieldType, is_uuid};
use gantry_store::ListQuery;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::lua;
use crate::state::AdminState;

/// The lookup key a URL segment stands for.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    /// A primary key.
    Id(Uuid),
    /// An endpoint-key value (`name`, `username`, …).
    Endpoint(&'static str, Value),
    /// Not a UUID and the entity has no endpoint key.
    Invalid,
}

impl Key {
    /// `{id="…"}` / `{name="…"}` as Kong's not-found errors show it.
    pub fn as_map(&self, raw: &str) -> Map<String, Value> {
        let mut m = Map::new();
        match self {
            Key::Id(id) => m.insert("id".into(), Value::String(id.to_string())),
            Key::Endpoint(f, v) => m.insert((*f).to_string(), v.clone()),
            Key::Invalid => m.insert("id".into(), Value::String(raw.to_string())),
        };
        m
    }
}

/// Classifies a (decoded) URL segment for an entity.
pub fn key_for(state: &AdminState, entity: &str, segment: &str) -> Key {
    if is_uuid(segment)
        && let Ok(id) = Uuid::parse_str(segment)
    {
        return Key::Id(id);
    }
    let Some(schema) = state.schemas.get(entity) else {
        return Key::Invalid;
    };
    match schema.endpoint_key {
        Some(f) => {
            let field = schema.field(f);
            let v = crate::form::scalar(segment, field);
            Key::Endpoint(
                f,
                if v.is_null() {
                    Value::String(String::new())
                } else {
                    v
                },
            )
        }
        None => Key::Invalid,
    }
}

/// Reads one entity by URL segment (`None` when absent).
pub async fn find(state: &AdminState, entity: &str, segment: &str) -> ApiResult<Option<Value>> {
    if entity == "certificates" && !is_uuid(segment) {
        return find_certificate_by_sni(state, segment).await;
    }
    match key_for(state, entity, segment) {
        Key::Id(id) => Ok(state.store.get(entity, id).await?),
        Key::Endpoint(f, v) => Ok(state.store.find_unique(entity, f, &v).await?),
        Key::Invalid => Ok(None),
    }
}

async fn find_certificate_by_sni(state: &AdminState, name: &str) -> ApiResult<Option<Value>> {
    let sni = state
        .store
        .find_unique("snis", "name", &Value::String(name.to_string()))
        .await?;
    match sni.as_ref().and_then(|s| fk_id(s, "certificate")) {
        Some(id) => Ok(state.store.get("certificates", id).await?),
        None => Ok(None),
    }
}

/// The id held by a foreign-key field (`{"id": "..."}`), if any.
pub fn fk_id(entity: &Value, field: &str) -> Option<Uuid> {
    entity
        .get(field)
        .and_then(|f| f.get("id"))
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
}

/// The entity's own id.
pub fn id_of(entity: &Value) -> Option<Uuid> {
    entity
        .get("id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
}

/// Every child of a parent (all pages).
pub async fn children(
    state: &AdminState,
    entity: &str,
    field: &str,
    parent: Uuid,
) -> ApiResult<Vec<Value>> {
    let mut out = Vec::new();
    let mut offset = None;
    loop {
        let page = state
            .store
            .list(
                entity,
                &ListQuery {
                    size: 1000,
                    offset,
                    tags: None,
                    foreign: Some((field.to_string(), parent)),
                },
            )
            .await?;
        out.extend(page.items);
        match page.offset {
            Some(o) => offset = Some(o),
            None => return Ok(out),
        }
    }
}

/// Reads a child addressed under its parent; `None` when absent or when it
/// belongs to another parent. Targets are addressed by target string (with or
/// without the default port) and ACLs by group name as well as by id.
pub async fn find_child(
    state: &AdminState,
    entity: &str,
    field: &str,
    parent: Uuid,
    segment: &str,
) -> ApiResult<Option<Value>> {
    if !is_uuid(segment) && matches!(entity, "targets" | "acls") {
        let (key, values) = if entity == "targets" {
            let mut v = vec![segment.to_string()];
            if let Some(n) =
                gantry_core::schemas::normalize_target(segment).filter(|n| n != segment)
            {
                v.push(n);
            }
            ("target", v)
        } else {
            ("group", vec![segment.to_string()])
        };
        for v in values {
            let mut ck = Map::new();
            ck.insert(field.to_string(), json!({ "id": parent.to_string() }));
            ck.insert(key.to_string(), Value::String(v));
            if let Some(hit) = state.store.find_by_cache_key(entity, &ck).await? {
                return Ok(Some(hit));
            }
        }
        return Ok(None);
    }
    let found = find(state, entity, segment).await?;
    Ok(found.filter(|c| fk_id(c, field) == Some(parent)))
}

/// Replaces foreign keys given by an endpoint key or another unique field with
/// `{"id": ...}`; unresolvable ones give Kong's code 13.
pub async fn resolve_foreign(
    state: &AdminState,
    entity: &str,
    body: &mut Map<String, Value>,
) -> ApiResult<()> {
    let Some(schema) = state.schemas.get(entity) else {
        return Ok(());
    };
    let mut errors: Vec<(String, String, Value, &'static str)> = Vec::new();
    for (name, field) in &schema.fields {
        if field.typ != FieldType::Foreign {
            continue;
        }
        let Some(Value::Object(fk)) = body.get(*name) else {
            continue;
        };
        if fk.get("id").and_then(Value::as_str).is_some_and(is_uuid) {
            continue;
        }
        let Some(parent) = field.reference.and_then(|p| state.schemas.get(p)) else {
            continue;
        };
        let mut resolved = None;
        for (pname, pfield) in &parent.fields {
            if !(pfield.unique || parent.endpoint_key == Some(*pname)) || *pname == "id" {
                continue;
            }
            let Some(v) = fk
                .get(*pname)
                .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
            else {
                continue;
            };
            match state.store.find_unique(parent.name, pname, v).await? {
                Some(found) => {
                    resolved = id_of(&found);
                    break;
                }
                None => errors.push((
                    (*name).to_string(),
                    (*pname).to_string(),
                    v.clone(),
                    parent.name,
                )),
            }
        }
        if let Some(id) = resolved {
            errors.retain(|(f, ..)| f != name);
            body.insert((*name).to_string(), json!({ "id": id.to_string() }));
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    errors.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let mut fields = Map::new();
    let mut msgs = Vec::new();
    for (f, sub, v, parent) in errors {
        let mut key = Map::new();
        key.insert(sub.clone(), v);
        let msg = format!(
            "the foreign key cannot be resolved with '{}' for an existing '{parent}' entity",
            lua::pretty(&Value::Object(key))
        );
        msgs.push(format!("{f}.{sub}: {msg}"));
        let entry = fields.entry(f).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(sub, Value::String(msg));
        }
    }
    let message = if msgs.len() == 1 {
        format!("foreign key unresolved ({})", msgs.join(""))
    } else {
        format!(
            "{} foreign keys unresolved ({})",
            msgs.len(),
            msgs.join("; ")
        )
    };
    Err(ApiError::dao(13, message, Some(Value::Object(fields))))
}
