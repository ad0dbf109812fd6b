//! Form bodies (`application/x-www-form-urlencoded`, `multipart/form-data`) to
//! JSON, as Kong's `kong/api/arguments.lua` decodes them: dotted keys nest
//! (`config.minute=5`), `a[]=x` appends, `a[2]=x` indexes, `a[k]=x` nests,
//! repeated keys make arrays; values are typed from the schema (`"5"` → 5 for a
//! number, `"true"` → true, a scalar for an array field → one-element array) and
//! an empty string becomes `null`.

use gantry_core::schema::{Field, FieldType, Schema};
use serde_json::{Map, Number, Value};

/// A decoded but untyped form value.
#[derive(Debug, Clone)]
enum Node {
    /// One or more raw values given for the same key.
    Leaf(Vec<String>),
    /// Named children, in first-seen order.
    Map(Vec<(String, Node)>),
    /// Array items with their explicit index (`None` for `[]` pushes).
    List(Vec<(Option<usize>, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
    Push,
}

/// Splits `config.limits[2].name` into segments.
fn segments(key: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (head, mut rest) = match part.find('[') {
            Some(i) => (part.get(..i).unwrap_or(""), part.get(i..).unwrap_or("")),
            None => (part, ""),
        };
        if !head.is_empty() || rest.is_empty() {
            out.push(Seg::Key(head.to_string()));
        }
        while let Some(stripped) = rest.strip_prefix('[') {
            let Some(end) = stripped.find(']') else {
                // unbalanced bracket: keep the remainder as a plain key
                out.push(Seg::Key(rest.to_string()));
                break;
            };
            let inner = stripped.get(..end).unwrap_or("");
            out.push(if inner.is_empty() {
                Seg::Push
            } else if let Ok(i) = inner.parse::<usize>() {
                Seg::Index(i)
            } else {
                Seg::Key(inner.to_string())
            });
            rest = stripped.get(end + 1..).unwrap_or("");
        }
    }
    out
}

fn insert(node: &mut Node, segs: &[Seg], value: String) {
    let Some((first, rest)) = segs.split_first() else {
        match node {
            Node::Leaf(v) => v.push(value),
            Node::List(items) => items.push((None, Node::Leaf(vec![value]))),
            Node::Map(_) => {}
        }
        return;
    };
    match first {
        Seg::Key(k) => {
            if !matches!(node, Node::Map(_)) {
                *node = Node::Map(Vec::new());
            }
            if let Node::Map(children) = node {
                let child = match children.iter().position(|(n, _)| n == k) {
                    Some(i) => children.get_mut(i).map(|(_, c)| c),
                    None => {
                        children.push((k.clone(), empty_for(rest)));
                        children.last_mut().map(|(_, c)| c)
                    }
                };
                if let Some(child) = child {
                    insert(child, rest, value);
                }
            }
        }
        Seg::Index(_) | Seg::Push => {
            if !matches!(node, Node::List(_)) {
                let previous = std::mem::replace(node, Node::List(Vec::new()));
                if let (Node::Leaf(vals), Node::List(items)) = (previous, &mut *node) {
                    items.extend(vals.into_iter().map(|v| (None, Node::Leaf(vec![v]))));
                }
            }
            if let Node::List(items) = node {
                let idx = match first {
                    Seg::Index(i) => Some(*i),
                    _ => None,
                };
                let existing = idx.and_then(|i| items.iter().position(|(j, _)| *j == Some(i)));
                match existing {
                    Some(pos) if !rest.is_empty() => {
                        if let Some((_, child)) = items.get_mut(pos) {
                            insert(child, rest, value);
                        }
                    }
                    _ => {
                        let mut child = empty_for(rest);
                        insert(&mut child, rest, value);
                        items.push((idx, child));
                    }
                }
            }
        }
    }
}

fn empty_for(rest: &[Seg]) -> Node {
    match rest.first() {
        None => Node::Leaf(Vec::new()),
        Some(Seg::Key(_)) => Node::Map(Vec::new()),
        Some(_) => Node::List(Vec::new()),
    }
}

/// Decodes form pairs into a JSON object typed by `schema` (and the subschema
/// selected by the body itself, or by `existing` for a PATCH).
pub fn decode(
    pairs: Vec<(String, String)>,
    schema: &Schema,
    existing: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    let mut root = Node::Map(Vec::new());
    for (k, v) in pairs {
        let segs = segments(&k);
        if segs.is_empty() {
            continue;
        }
        insert(&mut root, &segs, v);
    }
    let Node::Map(children) = root else {
        return Map::new();
    };
    // choose the subschema from the raw values (`name` for plugins, `protocols` for routes)
    let mut probe = existing.cloned().unwrap_or_default();
    for (k, n) in &children {
        if Some(k.as_str()) == schema.subschema_key {
            probe.insert(k.clone(), untyped(n));
        }
    }
    let sub = schema.subschema_for(&probe);
    let mut out = Map::new();
    for (k, n) in children {
        let field = schema.resolve_field(&k, sub);
        out.insert(k, typed(&n, field));
    }
    out
}

fn untyped(n: &Node) -> Value {
    match n {
        Node::Leaf(v) if v.len() == 1 => {
            v.first().map_or(Value::Null, |s| Value::String(s.clone()))
        }
        Node::Leaf(v) => Value::Array(v.iter().map(|s| Value::String(s.clone())).collect()),
        Node::Map(c) => Value::Object(c.iter().map(|(k, v)| (k.clone(), untyped(v))).collect()),
        Node::List(items) => Value::Array(items.iter().map(|(_, v)| untyped(v)).collect()),
    }
}

fn is_list(field: Option<&Field>) -> bool {
    field.is_some_and(|f| matches!(f.typ, FieldType::Array | FieldType::Set))
}

fn typed(n: &Node, field: Option<&Field>) -> Value {
    let elements = field.and_then(|f| f.elements.as_deref());
    match n {
        Node::Leaf(vals) if vals.len() == 1 && !is_list(field) => {
            vals.first().map_or(Value::Null, |s| scalar(s, field))
        }
        Node::Leaf(vals) => {
            if is_list(field) && vals.len() == 1 && vals.first().is_some_and(String::is_empty) {
                return Value::Null;
            }
            let el = if is_list(field) { elements } else { None };
            Value::Array(vals.iter().map(|s| scalar(s, el)).collect())
        }
        Node::List(items) => {
            let mut items: Vec<&(Option<usize>, Node)> = items.iter().collect();
            // explicit indices first in order, then pushes in order
            items.sort_by_key(|(i, _)| i.map_or(usize::MAX, |i| i));
            let el = if is_list(field) { elements } else { None };
            Value::Array(items.into_iter().map(|(_, v)| typed(v, el)).collect())
        }
        Node::Map(children) => {
            // `paths[1]=..` parsed as keys when all are numeric indices
            if is_list(field) {
                let mut idx: Vec<(usize, &Node)> = Vec::new();
                for (k, v) in children {
                    match k.parse::<usize>() {
                        Ok(i) => idx.push((i, v)),
                        Err(_) => return Value::Object(Map::new()),
                    }
                }
                idx.sort_by_key(|(i, _)| *i);
                return Value::Array(idx.into_iter().map(|(_, v)| typed(v, elements)).collect());
            }
            let mut out = Map::new();
            for (k, v) in children {
                let child = field.and_then(|f| match f.typ {
                    FieldType::Record => f.record.as_deref().and_then(|r| r.field(k)),
                    FieldType::Map => f.values.as_deref(),
                    _ => None,
                });
                out.insert(k.clone(), typed(v, child));
            }
            Value::Object(out)
        }
    }
}

/// Types one raw value for a field (Kong's `arguments.infer_value`).
pub fn scalar(s: &str, field: Option<&Field>) -> Value {
    if s.is_empty() {
        return Value::Null;
    }
    let Some(f) = field else {
        return Value::String(s.to_string());
    };
    match f.typ {
        FieldType::Integer | FieldType::Number => {
            number(s).unwrap_or_else(|| Value::String(s.to_string()))
        }
        FieldType::Boolean => match s {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(s.to_string()),
        },
        FieldType::Array | FieldType::Set => Value::Array(vec![scalar(s, f.elements.as_deref())]),
        _ => Value::String(s.to_string()),
    }
}

fn number(s: &str) -> Option<Value> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(Value::from(i));
    }
    let f = s.parse::<f64>().ok().filter(|f| f.is_finite())?;
    Number::from_f64(f).map(Value::Number)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn schema(name: &str) -> &'static Schema {
        gantry_core::schemas::bundled().get(name).unwrap()
    }

    #[test]
    fn service_fields_are_typed() {
        let m = decode(
            pairs(&[
                ("name", "s"),
                ("port", "8080"),
                ("enabled", "false"),
                ("path", ""),
                ("tags[]", "a"),
                ("tags[]", "b"),
            ]),
            schema("services"),
            None,
        );
        assert_eq!(
            Value::Object(m),
            json!({"name":"s","port":8080,"enabled":false,"path":null,"tags":["a","b"]})
        );
    }

    #[test]
    fn arrays_from_scalars_indices_and_repeats() {
        let m = decode(
            pairs(&[
                ("paths", "/a"),
                ("hosts[2]", "b.com"),
                ("hosts[1]", "a.com"),
                ("methods", "GET"),
                ("methods", "POST"),
                ("service.name", "s"),
            ]),
            schema("routes"),
            None,
        );
        assert_eq!(
            Value::Object(m),
            json!({"paths":["/a"],"hosts":["a.com","b.com"],"methods":["GET","POST"],"service":{"name":"s"}})
        );
    }

    #[test]
    fn nested_records_are_typed() {
        let m = decode(
            pairs(&[
                ("healthchecks.active.timeout", "5"),
                ("healthchecks.active.healthy.http_statuses[]", "200"),
            ]),
            schema("upstreams"),
            None,
        );
        assert_eq!(
            Value::Object(m),
            json!({"healthchecks":{"active":{"timeout":5,"healthy":{"http_statuses":[200]}}}})
        );
    }

    #[test]
    fn plugin_config_is_nested() {
        let m = decode(
            pairs(&[("name", "key-auth"), ("config.key_names", "k")]),
            schema("plugins"),
            None,
        );
        assert_eq!(
            Value::Object(m),
            json!({"name":"key-auth","config":{"key_names":"k"}})
        );
    }
}
