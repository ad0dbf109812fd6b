//! Renders a [`Schema`] as Kong's `/schemas/{entity}` JSON.

use serde_json::{Map, Value, json};

use super::{EntityCheck, Field, FieldPatch, FieldType, Schema, Validator};

pub(super) fn schema_json(schema: &Schema) -> Value {
    let mut out = Map::new();
    out.insert("fields".into(), fields_json(&schema.fields));
    if !schema.entity_checks.is_empty() {
        out.insert(
            "entity_checks".into(),
            Value::Array(schema.entity_checks.iter().map(check_json).collect()),
        );
    }
    if let Some(k) = schema.endpoint_key {
        out.insert("endpoint_key".into(), json!(k));
    }
    if !schema.primary_key.is_empty() {
        out.insert("primary_key".into(), json!(schema.primary_key));
    }
    if !schema.cache_key.is_empty() {
        out.insert("cache_key".into(), json!(schema.cache_key));
    }
    if let Some(k) = schema.subschema_key {
        out.insert("subschema_key".into(), json!(k));
    }
    if schema.ttl {
        out.insert("ttl".into(), json!(true));
    }
    if schema.workspaceable {
        out.insert("workspaceable".into(), json!(true));
    }
    if !schema.shorthand_fields.is_empty() {
        let list: Vec<Value> = schema
            .shorthand_fields
            .iter()
            .map(|(n, s)| json!({ *n: field_json(&s.field) }))
            .collect();
        out.insert("shorthand_fields".into(), Value::Array(list));
    }
    Value::Object(out)
}

fn fields_json(fields: &[(&'static str, Field)]) -> Value {
    Value::Array(
        fields
            .iter()
            .map(|(n, f)| json!({ *n: field_json(f) }))
            .collect(),
    )
}

fn validators_json(out: &mut Map<String, Value>, validators: &[Validator]) {
    for v in validators {
        let (k, val) = match v {
            Validator::Eq(x) => ("eq", x.clone()),
            Validator::Ne(x) => ("ne", x.clone()),
            Validator::NotOneOf(x) => ("not_one_of", json!(x)),
            Validator::OneOf(x) => ("one_of", json!(x)),
            Validator::Gt(x) => ("gt", json!(x)),
            Validator::Timestamp => ("timestamp", json!(true)),
            Validator::Uuid => ("uuid", json!(true)),
            Validator::Between(a, b) => ("between", json!([num(*a), num(*b)])),
            Validator::LenEq(n) => ("len_eq", json!(n)),
            Validator::LenMin(n) => ("len_min", json!(n)),
            Validator::LenMax(n) => ("len_max", json!(n)),
            Validator::StartsWith(p) => ("starts_with", json!(p)),
            Validator::NotMatch(p) => ("not_match", json!(p.lua)),
            Validator::Match(p) => ("match", json!(p.lua)),
            Validator::MatchNone(list) => (
                "match_none",
                Value::Array(
                    list.iter()
                        .map(|(p, e)| json!({"pattern": p.lua, "err": e}))
                        .collect(),
                ),
            ),
            Validator::MatchAll(list) => (
                "match_all",
                Value::Array(
                    list.iter()
                        .map(|(p, e)| json!({"pattern": p.lua, "err": e}))
                        .collect(),
                ),
            ),
            Validator::MatchAny { patterns, err } => (
                "match_any",
                json!({"patterns": patterns.iter().map(|p| p.lua).collect::<Vec<_>>(), "err": err}),
            ),
            Validator::Contains(x) => ("contains", x.clone()),
            Validator::Custom(_) => continue,
            Validator::MutuallyExclusiveSubsets(s) => ("mutually_exclusive_subsets", json!(s)),
        };
        out.insert(k.into(), val);
    }
}

fn num(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9e15 {
        json!(f as i64)
    } else {
        json!(f)
    }
}

fn field_json(f: &Field) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), json!(f.typ.as_str()));
    if f.required {
        out.insert("required".into(), json!(true));
    }
    if let Some(d) = &f.default {
        out.insert("default".into(), d.clone());
    }
    for (flag, name) in [
        (f.auto, "auto"),
        (f.unique, "unique"),
        (f.unique_across_ws, "unique_across_ws"),
        (f.referenceable, "referenceable"),
        (f.encrypted, "encrypted"),
        (f.abstract_, "abstract"),
    ] {
        if flag {
            out.insert(name.into(), json!(true));
        }
    }
    if f.eq_null {
        out.insert("eq".into(), Value::Null);
    }
    if f.ne_null {
        out.insert("ne".into(), Value::Null);
    }
    if let Some(e) = f.err {
        out.insert("err".into(), json!(e));
    }
    validators_json(&mut out, &f.validators);
    if let Some(e) = &f.elements {
        out.insert("elements".into(), field_json(e));
    }
    if let Some(k) = &f.keys {
        out.insert("keys".into(), field_json(k));
    }
    if let Some(v) = &f.values {
        out.insert("values".into(), field_json(v));
    }
    if let Some(r) = &f.record {
        out.insert("fields".into(), fields_json(&r.fields));
        if !r.entity_checks.is_empty() {
            out.insert(
                "entity_checks".into(),
                Value::Array(r.entity_checks.iter().map(check_json).collect()),
            );
        }
    }
    if f.typ == FieldType::Object {
        out.insert("fields".into(), json!([]));
    }
    if let Some(r) = f.reference {
        out.insert("reference".into(), json!(r));
    }
    if let Some(d) = f.on_delete {
        out.insert("on_delete".into(), json!(d));
    }
    if let Some(d) = f.description {
        out.insert("description".into(), json!(d));
    }
    Value::Object(out)
}

fn patch_json(p: &FieldPatch) -> Value {
    let mut out = Map::new();
    if let Some(r) = p.required {
        out.insert("required".into(), json!(r));
    }
    if p.eq_null {
        out.insert("eq".into(), Value::Null);
    }
    validators_json(&mut out, &p.validators);
    if let Some(e) = &p.elements {
        out.insert("elements".into(), field_json(e));
    }
    Value::Object(out)
}

fn check_json(c: &EntityCheck) -> Value {
    match c {
        EntityCheck::AtLeastOneOf(f) => json!({"at_least_one_of": f}),
        EntityCheck::OnlyOneOf(f) => json!({"only_one_of": f}),
        EntityCheck::Distinct(f) => json!({"distinct": f}),
        EntityCheck::MutuallyRequired(f) => json!({"mutually_required": f}),
        EntityCheck::MutuallyExclusive(f) => json!({"mutually_exclusive": f}),
        EntityCheck::Conditional(c) => {
            let mut m = Map::new();
            m.insert("if_field".into(), json!(c.if_field));
            m.insert("if_match".into(), patch_json(&c.if_match));
            m.insert("then_field".into(), json!(c.then_field));
            m.insert("then_match".into(), patch_json(&c.then_match));
            if let Some(e) = c.then_err {
                m.insert("then_err".into(), json!(e));
            }
            json!({ "conditional": m })
        }
        EntityCheck::ConditionalAtLeastOneOf(c) => {
            let mut m = Map::new();
            m.insert("if_field".into(), json!(c.if_field));
            m.insert("if_match".into(), patch_json(&c.if_match));
            m.insert("then_at_least_one_of".into(), json!(c.then_at_least_one_of));
            if let Some(e) = c.then_err {
                m.insert("then_err".into(), json!(e));
            }
            if let Some(em) = &c.else_match {
                m.insert("else_match".into(), patch_json(em));
                m.insert(
                    "else_then_at_least_one_of".into(),
                    json!(c.else_then_at_least_one_of),
                );
                if let Some(e) = c.else_then_err {
                    m.insert("else_then_err".into(), json!(e));
                }
            }
            json!({ "conditional_at_least_one_of": m })
        }
        EntityCheck::Custom(c) => {
            json!({"custom_entity_check": {"field_sources": c.field_sources}})
        }
    }
}
