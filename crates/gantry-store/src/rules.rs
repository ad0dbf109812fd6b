//! The one place that decides what a write must check and what a delete cascades to.
//!
//! [`Rules`] is derived from `gantry-core`'s schemas; [`apply_write`] runs one
//! [`Write`] against a backend's open transaction through the [`Tx`] trait. Both
//! backends (memory and SQLite) call it, so their semantics cannot drift apart.

use std::collections::HashMap;

use gantry_core::schema::{FieldType, Schema};
use gantry_core::schemas::Schemas;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{StoreError, StoreResult, Write};

/// What a delete of a parent does to the children that reference it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDelete {
    /// The children are deleted too (`on_delete = "cascade"`).
    Cascade,
    /// The delete is refused while children exist (Kong's default for a foreign key).
    Restrict,
}

/// Relations Kong cascades outside the schema's `on_delete`: the certificates DAO
/// deletes a certificate's snis itself (`kong/db/dao/certificates.lua`), although
/// `snis.certificate` has no `on_delete`. Every other foreign key without
/// `on_delete = "cascade"` restricts, as Kong's PostgreSQL foreign keys do (e.g.
/// `routes.service`, `services.client_certificate`, `upstreams.client_certificate`).
const EXTRA_CASCADES: &[(&str, &str)] = &[("snis", "certificate")];

/// A set of fields whose values must be unique among an entity's rows.
#[derive(Debug, Clone)]
pub struct UniqueKey {
    /// Index name: the field for a single unique field, `a,b,c` for a cache key.
    pub name: String,
    /// The fields, in schema order.
    pub fields: Vec<&'static str>,
}

/// A foreign-key field of an entity.
#[derive(Debug, Clone, Copy)]
pub struct Foreign {
    /// The field (`service`).
    pub field: &'static str,
    /// The referenced entity (`services`).
    pub parent: &'static str,
}

/// A child relation seen from the parent.
#[derive(Debug, Clone, Copy)]
pub struct Child {
    /// The child entity (`routes`).
    pub entity: &'static str,
    /// Its foreign-key field (`service`).
    pub field: &'static str,
    /// What deleting the parent does.
    pub on_delete: OnDelete,
}

/// Rules of one entity.
#[derive(Debug, Clone, Default)]
pub struct EntityRules {
    /// Unique fields and unique cache keys.
    pub uniques: Vec<UniqueKey>,
    /// Foreign keys that must reference an existing parent.
    pub foreigns: Vec<Foreign>,
    /// Relations in which this entity is the parent.
    pub children: Vec<Child>,
}

/// Store rules of every entity, derived from the schemas.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    by_entity: HashMap<&'static str, EntityRules>,
    order: Vec<&'static str>,
}

static NO_RULES: std::sync::LazyLock<EntityRules> = std::sync::LazyLock::new(EntityRules::default);

impl Rules {
    /// Derives the rules from `schemas`: `unique` fields, cache keys of more than
    /// one field (or of a field not already unique), foreign fields, and their
    /// `on_delete` (plus [`EXTRA_CASCADES`]).
    pub fn from_schemas(schemas: &Schemas) -> Self {
        let mut by_entity: HashMap<&'static str, EntityRules> = HashMap::new();
        let mut order = Vec::new();
        for schema in schemas.all() {
            order.push(schema.name);
            let rules = by_entity.entry(schema.name).or_default();
            rules.uniques = unique_keys(schema);
            for (name, field) in &schema.fields {
                if field.typ != FieldType::Foreign {
                    continue;
                }
                let Some(parent) = field.reference else {
                    continue;
                };
                rules.foreigns.push(Foreign {
                    field: name,
                    parent,
                });
            }
        }
        for rel in schemas.relations() {
            let cascade = schemas
                .get(rel.child)
                .and_then(|s| s.field(rel.field))
                .and_then(|f| f.on_delete)
                == Some("cascade")
                || EXTRA_CASCADES.contains(&(rel.child, rel.field));
            by_entity
                .entry(rel.parent)
                .or_default()
                .children
                .push(Child {
                    entity: rel.child,
                    field: rel.field,
                    on_delete: if cascade {
                        OnDelete::Cascade
                    } else {
                        OnDelete::Restrict
                    },
                });
        }
        Self { by_entity, order }
    }

    /// Rules for Kong's bundled schemas.
    pub fn bundled() -> &'static Rules {
        static RULES: std::sync::LazyLock<Rules> =
            std::sync::LazyLock::new(|| Rules::from_schemas(gantry_core::schemas::bundled()));
        &RULES
    }

    /// Rules of `entity` (none for an entity without a schema).
    pub fn entity(&self, entity: &str) -> &EntityRules {
        self.by_entity.get(entity).unwrap_or(&NO_RULES)
    }

    /// Position of `entity` in parents-before-children order (unknown entities last).
    pub fn rank(&self, entity: &str) -> usize {
        self.order
            .iter()
            .position(|e| *e == entity)
            .unwrap_or(self.order.len())
    }

    /// The unique key whose fields are exactly the keys of `given`, and the canonical
    /// value to look up (`None` when the value is null, which never matches). Used by
    /// `find_unique` (one field) and `find_by_cache_key` (a composite key).
    pub fn lookup_key(
        &self,
        entity: &str,
        given: &Map<String, Value>,
    ) -> StoreResult<Option<(String, String)>> {
        let key = self.entity(entity).uniques.iter().find(|k| {
            k.fields.len() == given.len() && k.fields.iter().all(|f| given.contains_key(*f))
        });
        let Some(key) = key else {
            let mut names: Vec<&String> = given.keys().collect();
            names.sort();
            return Err(StoreError::Invalid(format!(
                "{names:?} is not a unique key of '{entity}'"
            )));
        };
        Ok(canonical_key(key, given)?.map(|canon| (key.name.clone(), canon)))
    }

    /// The index entries of a stored value: unique keys, foreign references, tags.
    pub fn index(&self, entity: &str, value: &Value) -> StoreResult<Index> {
        let obj = as_object(value)?;
        let rules = self.entity(entity);
        let mut index = Index::default();
        for key in &rules.uniques {
            if let Some(canon) = canonical_key(key, obj)? {
                index.uniques.push((key.name.clone(), canon));
            }
        }
        for fk in &rules.foreigns {
            if let Some(parent) = foreign_id(obj.get(fk.field))? {
                index
                    .refs
                    .push((fk.field.to_string(), fk.parent.to_string(), parent));
            }
        }
        if let Some(Value::Array(tags)) = obj.get("tags") {
            for tag in tags.iter().filter_map(Value::as_str) {
                if !index.tags.iter().any(|t| t == tag) {
                    index.tags.push(tag.to_string());
                }
            }
        }
        Ok(index)
    }
}

fn unique_keys(schema: &Schema) -> Vec<UniqueKey> {
    let mut keys: Vec<UniqueKey> = schema
        .fields
        .iter()
        .filter(|(name, f)| f.unique && !schema.primary_key.contains(name))
        .map(|(name, _)| UniqueKey {
            name: (*name).to_string(),
            fields: vec![name],
        })
        .collect();
    let ck = &schema.cache_key;
    let already = ck.len() == 1 && keys.iter().any(|k| k.fields == *ck);
    if !ck.is_empty() && !already {
        keys.push(UniqueKey {
            name: ck.join(","),
            fields: ck.clone(),
        });
    }
    keys
}

/// Index entries of one stored entity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index {
    /// (unique key name, canonical value).
    pub uniques: Vec<(String, String)>,
    /// (foreign field, parent entity, parent id).
    pub refs: Vec<(String, String, Uuid)>,
    /// Tags, without duplicates.
    pub tags: Vec<String>,
}

fn as_object(value: &Value) -> StoreResult<&Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| StoreError::Invalid("an entity must be a JSON object".into()))
}

/// The `id` of a stored value.
pub fn id_of(value: &Value) -> StoreResult<Uuid> {
    as_object(value)?
        .get("id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| StoreError::Invalid("an entity needs a UUID 'id'".into()))
}

/// The parent id of a foreign-key value: `{"id": "<uuid>"}`, a bare uuid string, or
/// null/absent.
pub fn foreign_id(value: Option<&Value>) -> StoreResult<Option<Uuid>> {
    let id = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(m)) => m.get("id"),
        Some(v) => Some(v),
    };
    id.and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .map(Some)
        .ok_or_else(|| StoreError::Invalid("a foreign key must be {\"id\": \"<uuid>\"}".into()))
}

/// The canonical text of a unique key's values in `obj`, `None` when a single-field
/// key is null (nulls never conflict; composite cache keys include their nulls, as
/// Kong's `cache_key` column does).
pub fn canonical_key(key: &UniqueKey, obj: &Map<String, Value>) -> StoreResult<Option<String>> {
    let mut parts = Vec::with_capacity(key.fields.len());
    for field in &key.fields {
        let v = obj.get(*field).unwrap_or(&Value::Null);
        let part = match v {
            Value::Object(m) if m.contains_key("id") => match foreign_id(Some(v))? {
                Some(id) => Value::String(id.to_string()),
                None => Value::Null,
            },
            other => other.clone(),
        };
        parts.push(part);
    }
    if key.fields.len() == 1 {
        return Ok(match parts.pop() {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.to_string()),
        });
    }
    Ok(Some(Value::Array(parts).to_string()))
}

/// The conflicting key as Kong reports it (`fields` of a unique violation).
fn key_fields(key: &UniqueKey, obj: &Map<String, Value>) -> Map<String, Value> {
    key.fields
        .iter()
        .map(|f| {
            (
                (*f).to_string(),
                obj.get(*f).cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// A backend's open transaction, as the rule engine sees it. Every method works
/// inside the transaction (reads see its own earlier writes).
pub trait Tx {
    /// The stored value, if any.
    fn get(&mut self, entity: &str, id: Uuid) -> StoreResult<Option<Value>>;
    /// The id of the row holding `canon` under unique key `key`, if any.
    fn unique_owner(&mut self, entity: &str, key: &str, canon: &str) -> StoreResult<Option<Uuid>>;
    /// Ids of `child` rows whose `field` references `parent`.
    fn referencing(&mut self, child: &str, field: &str, parent: Uuid) -> StoreResult<Vec<Uuid>>;
    /// Creates or replaces a row and its index entries.
    fn put(&mut self, entity: &str, id: Uuid, value: &Value, index: &Index) -> StoreResult<()>;
    /// Removes a row and its index entries.
    fn remove(&mut self, entity: &str, id: Uuid) -> StoreResult<()>;
}

/// Nesting limit of cascading deletes (Kong's relations are two levels deep).
const MAX_CASCADE_DEPTH: usize = 8;

/// Runs one write inside `tx`: checks unique keys and foreign keys, cascades or
/// refuses deletes. Appends every (entity, id) written or deleted to `touched`.
/// Returns the stored value (`Null` for a delete).
pub fn apply_write<T: Tx + ?Sized>(
    rules: &Rules,
    tx: &mut T,
    write: &Write,
    touched: &mut Vec<(String, Uuid)>,
) -> StoreResult<Value> {
    match write {
        Write::Insert { entity, value } => {
            let id = id_of(value)?;
            if tx.get(entity, id)?.is_some() {
                return Err(StoreError::PrimaryKey {
                    entity: entity.clone(),
                    id,
                });
            }
            put_checked(rules, tx, entity, id, value, touched)
        }
        Write::Upsert { entity, value } => {
            let id = id_of(value)?;
            put_checked(rules, tx, entity, id, value, touched)
        }
        Write::Update { entity, value } => {
            let id = id_of(value)?;
            if tx.get(entity, id)?.is_none() {
                return Err(StoreError::NotFound {
                    entity: entity.clone(),
                    id,
                });
            }
            put_checked(rules, tx, entity, id, value, touched)
        }
        Write::Delete { entity, id } => {
            delete(rules, tx, entity, *id, touched, 0)?;
            Ok(Value::Null)
        }
    }
}

fn put_checked<T: Tx + ?Sized>(
    rules: &Rules,
    tx: &mut T,
    entity: &str,
    id: Uuid,
    value: &Value,
    touched: &mut Vec<(String, Uuid)>,
) -> StoreResult<Value> {
    let obj = as_object(value)?;
    let er = rules.entity(entity);
    let index = rules.index(entity, value)?;
    for (field, parent, parent_id) in &index.refs {
        if tx.get(parent, *parent_id)?.is_none() {
            return Err(StoreError::ForeignKey {
                entity: entity.to_string(),
                field: field.clone(),
                parent: parent.clone(),
                id: *parent_id,
            });
        }
    }
    for (key_name, canon) in &index.uniques {
        match tx.unique_owner(entity, key_name, canon)? {
            Some(owner) if owner != id => {
                let fields = er
                    .uniques
                    .iter()
                    .find(|k| &k.name == key_name)
                    .map(|k| key_fields(k, obj))
                    .unwrap_or_default();
                return Err(StoreError::Unique {
                    entity: entity.to_string(),
                    fields,
                });
            }
            _ => {}
        }
    }
    tx.put(entity, id, value, &index)?;
    touched.push((entity.to_string(), id));
    Ok(value.clone())
}

fn delete<T: Tx + ?Sized>(
    rules: &Rules,
    tx: &mut T,
    entity: &str,
    id: Uuid,
    touched: &mut Vec<(String, Uuid)>,
    depth: usize,
) -> StoreResult<()> {
    if depth > MAX_CASCADE_DEPTH {
        return Err(StoreError::Database(
            "cascading delete nested too deep".into(),
        ));
    }
    if tx.get(entity, id)?.is_none() {
        return Ok(());
    }
    let children = &rules.entity(entity).children;
    for child in children
        .iter()
        .filter(|c| c.on_delete == OnDelete::Restrict)
    {
        if !tx.referencing(child.entity, child.field, id)?.is_empty() {
            return Err(StoreError::Referenced {
                parent: entity.to_string(),
                child: child.entity.to_string(),
            });
        }
    }
    for child in children.iter().filter(|c| c.on_delete == OnDelete::Cascade) {
        for child_id in tx.referencing(child.entity, child.field, id)? {
            delete(rules, tx, child.entity, child_id, touched, depth + 1)?;
        }
    }
    tx.remove(entity, id)?;
    touched.push((entity.to_string(), id));
    Ok(())
}

/// Loads `dump` into an emptied transaction, parents before children, with every
/// check of an insert. Returns the number of rows written.
pub fn load_dump<T: Tx + ?Sized>(
    rules: &Rules,
    tx: &mut T,
    dump: &crate::Dump,
) -> StoreResult<usize> {
    let mut entities: Vec<&String> = dump.keys().collect();
    entities.sort_by_key(|e| (rules.rank(e), e.as_str()));
    let mut scratch = Vec::new();
    let mut n = 0;
    for entity in entities {
        for value in dump.get(entity).into_iter().flatten() {
            let write = Write::Insert {
                entity: entity.clone(),
                value: value.clone(),
            };
            apply_write(rules, tx, &write, &mut scratch)?;
            scratch.clear();
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn derived_rules_match_kong() {
        let r = Rules::bundled();
        let names: Vec<_> = r
            .entity("services")
            .uniques
            .iter()
            .map(|k| k.name.clone())
            .collect();
        assert_eq!(names, ["name"]);
        let plugins: Vec<_> = r
            .entity("plugins")
            .uniques
            .iter()
            .map(|k| k.name.clone())
            .collect();
        assert!(plugins.contains(&"name,route,service,consumer".to_string()));
        assert!(plugins.contains(&"instance_name".to_string()));
        let targets: Vec<_> = r
            .entity("targets")
            .uniques
            .iter()
            .map(|k| k.name.clone())
            .collect();
        assert_eq!(targets, ["upstream,target"]);
        let keyauth: Vec<_> = r
            .entity("keyauth_credentials")
            .uniques
            .iter()
            .map(|k| k.name.clone())
            .collect();
        assert_eq!(keyauth, ["key"]);
        let on = |parent: &str, child: &str| {
            r.entity(parent)
                .children
                .iter()
                .find(|c| c.entity == child)
                .map(|c| c.on_delete)
        };
        assert_eq!(on("services", "routes"), Some(OnDelete::Restrict));
        assert_eq!(on("services", "plugins"), Some(OnDelete::Cascade));
        assert_eq!(
            on("consumers", "keyauth_credentials"),
            Some(OnDelete::Cascade)
        );
        assert_eq!(on("upstreams", "targets"), Some(OnDelete::Cascade));
        assert_eq!(on("certificates", "snis"), Some(OnDelete::Cascade));
        assert_eq!(on("certificates", "services"), Some(OnDelete::Restrict));
        assert!(r.rank("services") < r.rank("routes"));
        assert!(r.rank("routes") < r.rank("plugins"));
    }
}
