//! The field-error tree Kong's schema engine produces, and its JSON rendering.

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// Key of a node in an [`ErrorTree`]: a 1-based array index or a field name.
///
/// Indices order before names, so array errors come first when mixed (Lua
/// cannot even compare the two; this is the only stable choice).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrKey {
    /// 1-based position in an array or set, as Kong reports it.
    Index(usize),
    /// A field name, an entity name, or `@entity`.
    Field(String),
}

impl ErrKey {
    /// Shorthand for a field-name key.
    pub fn field(name: impl Into<String>) -> Self {
        ErrKey::Field(name.into())
    }
}

impl std::fmt::Display for ErrKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErrKey::Index(i) => write!(f, "{i}"),
            ErrKey::Field(s) => f.write_str(s),
        }
    }
}

/// The `@entity` key under which entity-level (cross-field) errors live.
pub const ENTITY_KEY: &str = "@entity";

/// A tree of validation errors shaped like Kong's Lua error tables.
///
/// * `Message` — one error for one field (`"required field missing"`).
/// * `List` — several messages (Kong's `@entity` array, or reference errors).
/// * `Node` — errors of the children of a record, array, set or map.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorTree {
    /// A single message.
    Message(String),
    /// A list of messages (entity-level errors).
    List(Vec<String>),
    /// Children errors by field name or 1-based index.
    Node(BTreeMap<ErrKey, ErrorTree>),
}

impl Default for ErrorTree {
    fn default() -> Self {
        ErrorTree::Node(BTreeMap::new())
    }
}

impl ErrorTree {
    /// An empty node.
    pub fn new() -> Self {
        Self::default()
    }

    /// A single message.
    pub fn msg(m: impl Into<String>) -> Self {
        ErrorTree::Message(m.into())
    }

    /// True when this is a node without children.
    pub fn is_empty(&self) -> bool {
        match self {
            ErrorTree::Node(m) => m.is_empty(),
            ErrorTree::List(l) => l.is_empty(),
            ErrorTree::Message(_) => false,
        }
    }

    /// Children of a node (empty for messages and lists).
    pub fn children(&self) -> Option<&BTreeMap<ErrKey, ErrorTree>> {
        match self {
            ErrorTree::Node(m) => Some(m),
            _ => None,
        }
    }

    /// Looks a child up by key.
    pub fn get(&self, key: &ErrKey) -> Option<&ErrorTree> {
        self.children().and_then(|m| m.get(key))
    }

    /// Looks a child up by field name.
    pub fn field(&self, name: &str) -> Option<&ErrorTree> {
        self.get(&ErrKey::field(name))
    }

    /// The message if this is a `Message`.
    pub fn as_message(&self) -> Option<&str> {
        match self {
            ErrorTree::Message(m) => Some(m),
            _ => None,
        }
    }

    /// Sets (replaces) a child; turns a message/list into a node first, keeping
    /// the old text as an entity error.
    pub fn set(&mut self, key: ErrKey, value: ErrorTree) {
        self.as_node_mut().insert(key, value);
    }

    /// Appends an entity-level error under `@entity`.
    pub fn push_entity(&mut self, message: impl Into<String>) {
        let node = self.as_node_mut();
        let entry = node
            .entry(ErrKey::field(ENTITY_KEY))
            .or_insert_with(|| ErrorTree::List(Vec::new()));
        match entry {
            ErrorTree::List(l) => l.push(message.into()),
            other => {
                let mut l = other.messages();
                l.push(message.into());
                *other = ErrorTree::List(l);
            }
        }
    }

    /// Entity-level errors (`@entity`) of this node.
    pub fn entity_errors(&self) -> Vec<String> {
        self.field(ENTITY_KEY)
            .map(ErrorTree::messages)
            .unwrap_or_default()
    }

    /// Every message directly held (a message, or the items of a list).
    pub fn messages(&self) -> Vec<String> {
        match self {
            ErrorTree::Message(m) => vec![m.clone()],
            ErrorTree::List(l) => l.clone(),
            ErrorTree::Node(_) => Vec::new(),
        }
    }

    /// Merges `other` into `self`: nodes merge key by key; colliding leaves
    /// become a list holding both (or an `@entity` entry of the node).
    pub fn merge(&mut self, other: ErrorTree) {
        match (&mut *self, other) {
            (_, o) if o.is_empty() => {}
            (s, o) if s.is_empty() => *s = o,
            (ErrorTree::Node(a), ErrorTree::Node(b)) => {
                for (k, v) in b {
                    match a.get_mut(&k) {
                        Some(existing) => existing.merge(v),
                        None => {
                            a.insert(k, v);
                        }
                    }
                }
            }
            (ErrorTree::Node(_), leaf) => {
                for m in leaf.messages() {
                    self.push_entity(m);
                }
            }
            (leaf, ErrorTree::Node(mut b)) => {
                let mut tree = ErrorTree::Node(std::mem::take(&mut b));
                for m in leaf.messages() {
                    tree.push_entity(m);
                }
                *self = tree;
            }
            (leaf, o) => {
                let mut l = leaf.messages();
                l.extend(o.messages());
                *self = ErrorTree::List(l);
            }
        }
    }

    fn as_node_mut(&mut self) -> &mut BTreeMap<ErrKey, ErrorTree> {
        if !matches!(self, ErrorTree::Node(_)) {
            let old = std::mem::take(self);
            let mut node = BTreeMap::new();
            let msgs = old.messages();
            if !msgs.is_empty() {
                node.insert(ErrKey::field(ENTITY_KEY), ErrorTree::List(msgs));
            }
            *self = ErrorTree::Node(node);
        }
        match self {
            ErrorTree::Node(m) => m,
            _ => unreachable!("converted to a node above"),
        }
    }

    /// Every leaf message with its path of keys, in sorted order.
    pub fn leaves(&self) -> Vec<(Vec<ErrKey>, String)> {
        let mut out = Vec::new();
        self.collect_leaves(&mut Vec::new(), &mut out);
        out
    }

    fn collect_leaves(&self, prefix: &mut Vec<ErrKey>, out: &mut Vec<(Vec<ErrKey>, String)>) {
        match self {
            ErrorTree::Message(m) => out.push((prefix.clone(), m.clone())),
            ErrorTree::List(l) => {
                for m in l {
                    out.push((prefix.clone(), m.clone()));
                }
            }
            ErrorTree::Node(map) => {
                // entity errors first, as Kong formats them
                if let Some(e) = map.get(&ErrKey::field(ENTITY_KEY)) {
                    e.collect_leaves(prefix, out);
                }
                for (k, v) in map {
                    if matches!(k, ErrKey::Field(f) if f == ENTITY_KEY) {
                        continue;
                    }
                    prefix.push(k.clone());
                    v.collect_leaves(prefix, out);
                    prefix.pop();
                }
            }
        }
    }
}

/// How cjson (with `encode_sparse_array(true)`) renders an integer-keyed table:
/// as an array padded with `null` unless it is "excessively sparse".
fn renders_as_array(map: &BTreeMap<ErrKey, ErrorTree>) -> Option<usize> {
    let mut max = 0usize;
    for k in map.keys() {
        match k {
            ErrKey::Index(i) if *i >= 1 => max = max.max(*i),
            _ => return None,
        }
    }
    let count = map.len();
    if max > 10 && max > count.saturating_mul(2) {
        None
    } else {
        Some(max)
    }
}

impl Serialize for ErrorTree {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ErrorTree::Message(m) => serializer.serialize_str(m),
            ErrorTree::List(l) => l.serialize(serializer),
            ErrorTree::Node(map) => {
                if map.is_empty() {
                    return serializer.serialize_map(Some(0))?.end();
                }
                if let Some(max) = renders_as_array(map) {
                    let mut seq = serializer.serialize_seq(Some(max))?;
                    for i in 1..=max {
                        seq.serialize_element(&map.get(&ErrKey::Index(i)))?;
                    }
                    return seq.end();
                }
                let mut m = serializer.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    m.serialize_entry(&k.to_string(), v)?;
                }
                m.end()
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn node(items: Vec<(ErrKey, ErrorTree)>) -> ErrorTree {
        ErrorTree::Node(items.into_iter().collect())
    }

    #[test]
    fn dense_index_nodes_render_as_arrays() {
        let t = node(vec![(ErrKey::Index(2), ErrorTree::msg("bad"))]);
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"[null,"bad"]"#);
    }

    #[test]
    fn sparse_index_nodes_render_as_objects() {
        let t = node(vec![(ErrKey::Index(20), ErrorTree::msg("bad"))]);
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"20":"bad"}"#);
    }

    #[test]
    fn push_entity_and_merge() {
        let mut t = ErrorTree::new();
        t.push_entity("a");
        t.merge(node(vec![(ErrKey::field("x"), ErrorTree::msg("m"))]));
        t.merge(ErrorTree::msg("b"));
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            serde_json::json!({"@entity": ["a", "b"], "x": "m"})
        );
    }

    #[test]
    fn leaves_list_entity_errors_first() {
        let mut t = node(vec![(ErrKey::field("a"), ErrorTree::msg("m"))]);
        t.push_entity("e");
        let l = t.leaves();
        assert_eq!(l[0].1, "e");
        assert_eq!(l[1], (vec![ErrKey::field("a")], "m".to_string()));
    }
}
