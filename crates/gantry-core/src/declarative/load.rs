//! Walks a declarative document: nesting, ids, per-entity validation,
//! references and uniqueness, collecting every error with its path.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::ids;
use super::{DeclarativeError, PathError};
use crate::error::{ENTITY_KEY, ErrKey, ErrorTree};
use crate::schema::{ForeignMode, ValidateOptions};
use crate::schemas::{ENTITY_NAMES, Relation, Schemas};

/// Accepted `_format_version` values.
pub const FORMAT_VERSIONS: [&str; 3] = ["1.1", "2.1", "3.0"];

/// One entity entry found in the document.
#[derive(Debug)]
pub(super) struct Entry {
    pub entity: &'static str,
    pub err_path: Vec<ErrKey>,
    pub parent: Option<usize>,
    pub parent_field: Option<&'static str>,
    /// The entry as written, children arrays removed and `id` added when it was
    /// not given (`id_given`). Not also kept as written: only an error report needs
    /// that ([`Entry::original`]), and a copy of every entry was a sixth of a large
    /// file's peak memory while loading.
    pub input: Map<String, Value>,
    pub id_given: bool,
    pub id: String,
    /// The id was given or derived deterministically before children were
    /// walked (children may then use it in their own cache keys).
    pub id_known: bool,
    pub output: Option<Map<String, Value>>,
}

impl Entry {
    /// The entry as written (children arrays removed), for flattened errors.
    fn original(&self) -> Map<String, Value> {
        let mut entity = self.input.clone();
        if !self.id_given {
            // `id` was inserted last, so removing it leaves the written order.
            entity.remove("id");
        }
        entity
    }

    /// The `id` the document gave this entry.
    fn given_id(&self) -> Option<&str> {
        self.input.get("id").filter(|_| self.id_given)?.as_str()
    }
}

/// Entities and metadata of a document that passed every check.
#[derive(Debug)]
pub(super) struct Loaded {
    pub format_version: String,
    pub transform: bool,
    pub entries: Vec<Entry>,
}

struct Loader<'a> {
    schemas: &'a Schemas,
    relations: Vec<Relation>,
    entries: Vec<Entry>,
    /// Kong registers nested children before their parent.
    reg_order: Vec<usize>,
    errors: ErrorTree,
    /// Errors that belong to no single entry (top-level keys, references).
    doc_errors: ErrorTree,
    /// Errors of each entry, keyed by entry index.
    entry_errors: Vec<(usize, ErrorTree)>,
    flat: Vec<PathError>,
    now: f64,
}

/// `services[1].routes[2].paths[1]` from a key path.
pub(super) fn render_path(keys: &[ErrKey]) -> String {
    let mut out = String::new();
    for k in keys {
        match k {
            ErrKey::Index(i) => out.push_str(&format!("[{i}]")),
            ErrKey::Field(f) if f == ENTITY_KEY => {}
            ErrKey::Field(f) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(f);
            }
        }
    }
    out
}

fn insert_at(root: &mut ErrorTree, path: &[ErrKey], value: ErrorTree) {
    let Some((first, rest)) = path.split_first() else {
        root.merge(value);
        return;
    };
    let mut child = root.get(first).cloned().unwrap_or_default();
    insert_at(&mut child, rest, value);
    root.set(first.clone(), child);
}

impl Loader<'_> {
    /// Records an error: merged into the Kong-shaped tree at `tree_path`, and
    /// listed (one line per leaf) under the human path `where_`.
    fn error(
        &mut self,
        tree_path: &[ErrKey],
        where_: &[ErrKey],
        err: ErrorTree,
        entry: Option<usize>,
    ) {
        match entry {
            Some(i) => match self.entry_errors.iter_mut().find(|(j, _)| *j == i) {
                Some((_, t)) => t.merge(err.clone()),
                None => self.entry_errors.push((i, err.clone())),
            },
            None => insert_at(&mut self.doc_errors, tree_path, err.clone()),
        }
        for (sub, msg) in err.leaves() {
            let mut full = where_.to_vec();
            full.extend(sub);
            self.flat.push(PathError {
                path: render_path(&full),
                message: msg,
            });
        }
        insert_at(&mut self.errors, tree_path, err);
    }

    fn error_msg(&mut self, path: &[ErrKey], msg: impl Into<String>, entry: Option<usize>) {
        self.error(path, path, ErrorTree::msg(msg), entry);
    }

    fn walk_array(
        &mut self,
        entity: &'static str,
        value: &Value,
        path: Vec<ErrKey>,
        parent: Option<(usize, &'static str)>,
    ) {
        let Some(items) = value.as_array() else {
            // an empty JSON object reads as an empty Lua table, i.e. an empty array
            if value.as_object().is_some_and(Map::is_empty) {
                return;
            }
            self.error_msg(&path, "expected an array", None);
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let mut p = path.clone();
            p.push(ErrKey::Index(i + 1));
            self.walk_item(entity, item, p, parent);
        }
    }

    fn walk_item(
        &mut self,
        entity: &'static str,
        item: &Value,
        path: Vec<ErrKey>,
        parent: Option<(usize, &'static str)>,
    ) {
        let Some(obj) = item.as_object() else {
            self.error_msg(&path, "expected a record", None);
            return;
        };
        let Some(schema) = self.schemas.get(entity) else {
            return;
        };
        let mut input = obj.clone();
        let mut local = ErrorTree::new();
        if let Some(c) = input.remove("_comment")
            && !c.is_string()
        {
            local.set(
                ErrKey::field("_comment"),
                ErrorTree::msg("expected a string"),
            );
        }
        if let Some(c) = input.remove("_ignore")
            && !c.is_array()
        {
            local.set(
                ErrKey::field("_ignore"),
                ErrorTree::msg("expected an array"),
            );
        }
        let mut children = Vec::new();
        for rel in self.relations.iter().filter(|r| r.parent == entity) {
            if schema.field(rel.child).is_none()
                && let Some(v) = input.remove(rel.child)
            {
                children.push((*rel, v));
            }
        }

        // id: given, deterministic, or random
        let parent_id = parent
            .and_then(|(p, _)| self.entries.get(p))
            .filter(|e| e.id_known)
            .map(|e| e.id.clone());
        let given = input.get("id").and_then(Value::as_str).map(str::to_string);
        let (id, known) = match given {
            Some(id) => (id, true),
            None => {
                match ids::key_for(schema, &input, parent_id.as_deref(), parent.map(|(_, f)| f)) {
                    Some(key) => (ids::generate(schema.name, &key).to_string(), true),
                    None => (uuid::Uuid::new_v4().to_string(), false),
                }
            }
        };
        let id_given = input.contains_key("id");
        if !id_given {
            input.insert("id".into(), Value::String(id.clone()));
        }
        let idx = self.entries.len();
        self.entries.push(Entry {
            entity,
            err_path: path.clone(),
            parent: parent.map(|(p, _)| p),
            parent_field: parent.map(|(_, f)| f),
            input,
            id_given,
            id,
            id_known: known,
            output: None,
        });
        if !local.is_empty() {
            self.error(&path, &path, local, Some(idx));
        }
        for name in ENTITY_NAMES {
            for (rel, v) in children.iter().filter(|(r, _)| r.child == name) {
                let mut p = path.clone();
                p.push(ErrKey::field(rel.child));
                self.walk_array(rel.child, v, p, Some((idx, rel.field)));
            }
        }
        self.reg_order.push(idx);
    }
}

/// Validates a whole document; returns the validated entries or every error.
pub(super) fn load(doc: &Value, schemas: &Schemas) -> Result<Loaded, DeclarativeError> {
    let mut l = Loader {
        schemas,
        relations: schemas.relations(),
        entries: Vec::new(),
        reg_order: Vec::new(),
        errors: ErrorTree::new(),
        doc_errors: ErrorTree::new(),
        entry_errors: Vec::new(),
        flat: Vec::new(),
        now: crate::entity::now_millis_f64(),
    };
    let Some(top) = doc.as_object() else {
        return Err(DeclarativeError::invalid_document(
            "expected an object as declaration",
        ));
    };
    let mut format_version = String::new();
    let mut transform = true;
    for (k, v) in top {
        let path = [ErrKey::field(k.as_str())];
        match k.as_str() {
            "_format_version" => match v.as_str() {
                Some(s) if FORMAT_VERSIONS.contains(&s) => format_version = s.to_string(),
                Some(_) => l.error_msg(
                    &path,
                    format!("expected one of: {}", FORMAT_VERSIONS.join(", ")),
                    None,
                ),
                None if v.is_null() => l.error_msg(&path, "required field missing", None),
                None => l.error_msg(&path, "expected a string", None),
            },
            "_transform" => match v {
                Value::Bool(b) => transform = *b,
                Value::Null => {}
                _ => l.error_msg(&path, "expected a boolean", None),
            },
            "_comment" if !v.is_string() && !v.is_null() => {
                l.error_msg(&path, "expected a string", None)
            }
            "_ignore" if !v.is_array() && !v.is_null() => {
                l.error_msg(&path, "expected an array", None)
            }
            "_comment" | "_ignore" => {}
            name if ENTITY_NAMES.contains(&name) => {}
            _ => l.error_msg(&path, "unknown field", None),
        }
    }
    if !top.contains_key("_format_version") {
        l.error_msg(
            &[ErrKey::field("_format_version")],
            "required field missing",
            None,
        );
    }
    for name in ENTITY_NAMES {
        if let Some(v) = top.get(name).filter(|v| !v.is_null()) {
            l.walk_array(name, v, vec![ErrKey::field(name)], None);
        }
    }
    l.validate_entries();
    l.check_uniqueness_and_references();
    if !l.errors.is_empty() {
        // list errors in document order of their top-level key
        let order: Vec<&String> = top.keys().collect();
        l.flat.sort_by_key(|e| {
            let head = e.path.split(['[', '.']).next().unwrap_or_default();
            order
                .iter()
                .position(|k| k.as_str() == head)
                .unwrap_or(usize::MAX)
        });
        let flattened = l.flattened();
        return Err(DeclarativeError::Invalid {
            fields: l.errors,
            errors: l.flat,
            flattened,
            unflattened: l.doc_errors,
        });
    }
    Ok(Loaded {
        format_version,
        transform,
        entries: l.entries,
    })
}

impl Loader<'_> {
    fn validate_entries(&mut self) {
        let now = self.now;
        for i in 0..self.entries.len() {
            let Some(e) = self.entries.get(i) else {
                continue;
            };
            let Some(schema) = self.schemas.get(e.entity) else {
                continue;
            };
            let opts = ValidateOptions {
                foreign: if e.parent.is_some() {
                    ForeignMode::Nested
                } else {
                    ForeignMode::Reference
                },
                generate_auto: true,
                now: Some(now),
                keep_updated_at: true,
            };
            let parent_link = e
                .parent
                .and_then(|p| self.entries.get(p))
                .map(|p| json!({ "id": p.id }));
            let result = schema.validate(&Value::Object(e.input.clone()), &opts);
            let path = e.err_path.clone();
            let field = e.parent_field;
            match result {
                Ok(Value::Object(mut out)) => {
                    if let (Some(f), Some(link)) = (field, parent_link) {
                        out.insert(f.to_string(), link);
                    }
                    if let Some(e) = self.entries.get_mut(i) {
                        e.output = Some(out);
                    }
                }
                Ok(_) => {}
                Err(t) => self.error(&path, &path, t, Some(i)),
            }
        }
    }

    fn check_uniqueness_and_references(&mut self) {
        let schemas = self.schemas;
        let mut by_key: HashMap<(&'static str, String), usize> = HashMap::new();
        let mut by_id: HashMap<(&'static str, String), usize> = HashMap::new();
        let order = self.reg_order.clone();
        for &i in &order {
            let Some(e) = self.entries.get(i) else {
                continue;
            };
            let Some(schema) = schemas.get(e.entity) else {
                continue;
            };
            let (entity, path, id) = (e.entity, e.err_path.clone(), e.id.clone());
            let mut failed = false;
            if let Some(ek) = schema.endpoint_key
                && schema.field(ek).is_some_and(|f| f.unique)
                && let Some(Value::String(key)) = e.input.get(ek)
            {
                match by_key.entry((entity, key.clone())) {
                    std::collections::hash_map::Entry::Occupied(_) => {
                        let msg = format!(
                            "uniqueness violation: '{entity}' entity with {ek} set to '{key}' already declared"
                        );
                        self.error_msg(&path, msg, Some(i));
                        failed = true;
                    }
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(i);
                    }
                }
            }
            if !failed {
                if by_id.contains_key(&(entity, id.clone())) {
                    let msg = format!(
                        "uniqueness violation: '{entity}' entity with primary key set to '{id}' already declared"
                    );
                    self.error_msg(&path, msg, Some(i));
                } else {
                    by_id.insert((entity, id), i);
                }
            }
        }
        // references of top-level entries
        for i in 0..self.entries.len() {
            let Some(e) = self.entries.get(i) else {
                continue;
            };
            if e.parent.is_some() {
                continue;
            }
            let Some(schema) = schemas.get(e.entity) else {
                continue;
            };
            let at = schema
                .endpoint_key
                .filter(|ek| schema.field(ek).is_some_and(|f| f.unique))
                .and_then(|ek| e.input.get(ek))
                .and_then(Value::as_str)
                .unwrap_or(&e.id)
                .to_string();
            let mut resolved = Vec::new();
            let mut failures = Vec::new();
            for (fname, f) in &schema.fields {
                let Some(reference) = f.reference else {
                    continue;
                };
                let Some(v) = e.input.get(*fname).filter(|v| !v.is_null()) else {
                    continue;
                };
                let key = match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_string),
                    _ => None,
                };
                let found = key.and_then(|k| {
                    by_key
                        .get(&(reference, k.clone()))
                        .or_else(|| by_id.get(&(reference, k)))
                        .copied()
                });
                match found.and_then(|j| self.entries.get(j)) {
                    Some(target) => resolved.push((*fname, target.id.clone())),
                    None => {
                        let shown = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                        failures.push(format!(
                            "invalid reference '{fname}: {shown}' (no such entry in '{reference}')"
                        ));
                    }
                }
            }
            let (entity, path) = (e.entity, e.err_path.clone());
            if let Some(Some(out)) = self.entries.get_mut(i).map(|e| e.output.as_mut()) {
                for (f, id) in resolved {
                    out.insert(f.to_string(), json!({ "id": id }));
                }
            }
            for msg in failures {
                let tree_path = [ErrKey::field(entity), ErrKey::field(at.as_str())];
                self.error(&tree_path, &path, ErrorTree::List(vec![msg]), None);
            }
        }
        self.check_unique_fields();
    }

    /// Kong's flatten-time check of `unique` fields other than the endpoint key.
    fn check_unique_fields(&mut self) {
        let schemas = self.schemas;
        let mut seen: HashMap<(&'static str, &'static str, String), usize> = HashMap::new();
        let mut found = Vec::new();
        for &i in &self.reg_order {
            let Some(e) = self.entries.get(i) else {
                continue;
            };
            let (Some(schema), Some(out)) = (schemas.get(e.entity), e.output.as_ref()) else {
                continue;
            };
            for (fname, f) in &schema.fields {
                if !f.unique || schema.endpoint_key == Some(*fname) || f.reference.is_some() {
                    continue;
                }
                let Some(v) = out.get(*fname).filter(|v| !v.is_null()) else {
                    continue;
                };
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                let k = (e.entity, *fname, text.clone());
                if let std::collections::hash_map::Entry::Vacant(v) = seen.entry(k) {
                    v.insert(i);
                } else {
                    let at = schema
                        .endpoint_key
                        .and_then(|ek| out.get(ek))
                        .and_then(Value::as_str)
                        .unwrap_or(&e.id)
                        .to_string();
                    let msg = format!(
                        "uniqueness violation: '{}' entity with {fname} set to '{text}' already declared",
                        e.entity
                    );
                    found.push((e.entity, at, e.err_path.clone(), msg));
                }
            }
        }
        for (entity, at, path, msg) in found {
            self.error(
                &[ErrKey::field(entity), ErrKey::field(at.as_str())],
                &path,
                ErrorTree::msg(msg),
                None,
            );
        }
    }
}

fn singular(entity: &str) -> &str {
    entity.strip_suffix('s').unwrap_or(entity)
}

/// Kong's `categorize_errors`: `@entity` messages and dotted field paths.
fn categorize(tree: &ErrorTree, ns: &str, out: &mut Vec<Value>) {
    match tree {
        ErrorTree::Node(map) => {
            for (k, v) in map {
                if matches!(k, ErrKey::Field(f) if f == ENTITY_KEY) {
                    for m in v.messages() {
                        out.push(json!({"type": "entity", "message": m}));
                    }
                    continue;
                }
                let field = if ns.is_empty() {
                    k.to_string()
                } else {
                    format!("{ns}.{k}")
                };
                categorize(v, &field, out);
            }
        }
        leaf => {
            for m in leaf.messages() {
                out.push(json!({"type": "field", "field": ns, "message": m}));
            }
        }
    }
}

impl Loader<'_> {
    /// Kong's `flattened_errors`: one object per entity in error.
    fn flattened(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for (i, tree) in &self.entry_errors {
            let Some(e) = self.entries.get(*i) else {
                continue;
            };
            let mut entity = e.original();
            if let (Some(f), Some(p)) = (e.parent_field, e.parent.and_then(|p| self.entries.get(p)))
                && p.given_id().is_some_and(crate::schema::is_uuid)
            {
                entity
                    .entry(f.to_string())
                    .or_insert_with(|| json!({ "id": p.id }));
            }
            let mut errors = Vec::new();
            categorize(tree, "", &mut errors);
            let mut obj = Map::new();
            if let Some(Value::String(n)) = entity
                .get("name")
                .filter(|n| n.as_str().is_some_and(|s| !s.is_empty()))
            {
                obj.insert("entity_name".into(), json!(n));
            }
            if let Some(Value::String(id)) = entity
                .get("id")
                .filter(|v| v.as_str().is_some_and(crate::schema::is_uuid))
            {
                obj.insert("entity_id".into(), json!(id));
            }
            if let Some(Value::Array(tags)) = entity
                .get("tags")
                .filter(|t| t.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
            {
                obj.insert("entity_tags".into(), json!(tags));
            }
            obj.insert("entity_type".into(), json!(singular(e.entity)));
            obj.insert("entity".into(), Value::Object(entity));
            obj.insert("errors".into(), Value::Array(errors));
            out.push(Value::Object(obj));
        }
        out
    }
}
