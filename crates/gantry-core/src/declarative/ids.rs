//! Kong's deterministic declarative ids (declarative_config.lua
//! `get_key_for_uuid_gen` / `build_cache_key` / `generate_uuid`).

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::schema::Schema;

/// Root namespace of Kong's declarative UUIDv5 ids.
pub const NAMESPACE: Uuid = Uuid::from_u128(0xfd02801f_0957_4a15_a55a_c8d9606f30b5);

/// `uuid5(uuid5(NAMESPACE, entity), key)`.
pub fn generate(entity: &str, key: &str) -> Uuid {
    let ns = Uuid::new_v5(&NAMESPACE, entity.as_bytes());
    Uuid::new_v5(&ns, key.as_bytes())
}

/// Workspace part of cache keys: entries carry no `ws_id` at this stage.
const WS: &str = "*";

/// `build_cache_key`: `"<entity>:*:<part>:<part>..."`, or `None` when a part
/// is auto-generated or a required part is missing (→ random id).
fn cache_key(
    schema: &Schema,
    item: &Map<String, Value>,
    parent_id: Option<&str>,
    child_key: Option<&str>,
) -> Option<String> {
    let mut parts = vec![schema.name.to_string(), WS.to_string()];
    for k in &schema.cache_key {
        let field = schema.field(k)?;
        if field.auto {
            return None;
        }
        match item.get(*k) {
            Some(Value::String(s)) => parts.push(s.clone()),
            Some(_) => {}
            None if child_key == Some(*k) => parts.push(parent_id?.to_string()),
            None if field.required => return None,
            None => parts.push(String::new()),
        }
    }
    Some(parts.join(":"))
}

/// The key Kong hashes into an id for an entry without `id`, or `None` when
/// Kong gives it a random id. `parent_id` is the parent's id when it was known
/// at generation time (given or itself deterministic).
pub fn key_for(
    schema: &Schema,
    item: &Map<String, Value>,
    parent_id: Option<&str>,
    child_key: Option<&str>,
) -> Option<String> {
    if !schema.cache_key.is_empty() {
        return cache_key(schema, item, parent_id, child_key);
    }
    let ek = schema.endpoint_key?;
    let Some(Value::String(value)) = item.get(ek) else {
        return None;
    };
    let field = schema.field(ek)?;
    let mut key = value.clone();
    if !field.unique {
        for (fname, f) in &schema.fields {
            if f.reference.is_some() && f.on_delete == Some("cascade") {
                match (parent_id, item.get(*fname)) {
                    (Some(p), _) if child_key == Some(*fname) => key = format!("{key}:{p}"),
                    (_, Some(Value::String(s))) => key = format!("{key}:{s}"),
                    _ => return None,
                }
            }
        }
        if !field.unique_across_ws {
            key = format!("{key}:{WS}");
        }
    }
    Some(key)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn uuid5_matches_lua_resty_jit_uuid() {
        // documented example of resty.jit-uuid's factory_v5
        let ns = Uuid::parse_str("e6ebd542-06ae-11e6-8e82-bba81706b27d").unwrap();
        assert_eq!(
            Uuid::new_v5(&ns, b"hello").to_string(),
            "4850816f-1658-5890-8bfd-1ed14251f1f0"
        );
    }

    #[test]
    fn namespace_chain() {
        let ns = Uuid::new_v5(&NAMESPACE, b"services");
        assert_eq!(generate("services", "s1"), Uuid::new_v5(&ns, b"s1"));
    }
}
