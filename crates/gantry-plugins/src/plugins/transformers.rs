//! What request-transformer and response-transformer share: Kong gives both
//! the same `name:value` entry syntax, the same schema shapes and header
//! validators, and the same Lua-table semantics on JSON bodies, so those live
//! here once; each plugin keeps its own operations.

use gantry_core::schema::{CustomValidator, Field, Pattern, Schema, Validator};
use serde_json::{Value, json};

/// Kong's `pair:match("^([^:]+):*(.-)$")`: the name up to the first colon and
/// the rest after all following colons; `None` when the entry starts with `:`
/// (or is empty).
pub(crate) fn kong_pair(entry: &str) -> Option<(&str, &str)> {
    let i = entry.find(':').unwrap_or(entry.len());
    if i == 0 {
        return None;
    }
    Some((&entry[..i], entry[i..].trim_start_matches(':')))
}

/// A schema value as the string the validators look at (`""` when it is not one).
pub(crate) fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// `kong.tools.http.validate_header_name`.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `kong.tools.http.validate_header_value`: no control characters other
/// than horizontal tab.
fn is_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

fn name_and_colon(s: &str) -> bool {
    s.find(':').is_some_and(|i| i > 0)
}

/// `match = "^[^:]+:.*$"` (`invalid value: x`).
pub(crate) fn colon_match() -> Validator {
    Validator::Match(Pattern {
        lua: "^[^:]+:.*$",
        test: name_and_colon,
    })
}

fn not_a_header(what: Option<&str>) -> String {
    format!("'{}' is not a valid header", what.unwrap_or("nil"))
}

/// `validate_headers(pair)`: the name must be a header name.
pub(crate) fn validate_header_entry(v: &Value) -> Result<(), String> {
    let name = kong_pair(str_of(v)).map(|(n, _)| n);
    if name.is_some_and(is_header_name) {
        Ok(())
    } else {
        Err(not_a_header(name))
    }
}

/// `validate_headers(pair, value_validator)`: the name is a header name and
/// the value passes `value_ok`.
fn validate_header_pair(v: &Value, value_ok: fn(&str) -> bool) -> Result<(), String> {
    validate_header_entry(v)?;
    let value = kong_pair(str_of(v)).map_or("", |(_, v)| v);
    if !value_ok(value) {
        return Err(not_a_header(Some(value)));
    }
    Ok(())
}

/// `validate_colon_header_values` (add, replace, append headers).
pub(crate) fn validate_colon_header_values(v: &Value) -> Result<(), String> {
    validate_header_pair(v, is_header_value)
}

/// `validate_colon_headers` (rename headers): both sides are header names.
pub(crate) fn validate_colon_headers(v: &Value) -> Result<(), String> {
    validate_header_pair(v, is_header_name)
}

/// An array field defaulting to `[]`.
pub(crate) fn array_of(el: Field) -> Field {
    Field::array(el).required().default(json!([]))
}

/// An array of `name:value` entries (`colon_match`) checked by `check`.
pub(crate) fn colon_entries(check: CustomValidator) -> Field {
    array_of(Field::string().v(colon_match()).custom(check))
}

/// A nested record. Kong expands a missing record to its fields' defaults;
/// the schema engine does that for records with a default, hence `{}`.
pub(crate) fn record(fields: Vec<(&'static str, Field)>) -> Field {
    Field::record(Schema::record(fields)).default(json!({}))
}

/// Lua truthiness of a JSON table slot (`nil` and `false` are false; a JSON
/// `null` is `cjson.null`, which is true).
pub(crate) fn json_truthy(v: Option<&Value>) -> bool {
    !matches!(v, None | Some(Value::Bool(false)))
}

/// Kong's `append_value` on a decoded JSON body: a string becomes
/// `[old, new]`, an array gets `new` pushed, an empty object becomes `[new]`
/// and a non-empty one gains the key `"1"` (Lua's `table.insert` on a hash
/// table, as cjson encodes it); anything else is replaced by `[new]`.
pub(crate) fn json_append(current: Option<Value>, new: Value) -> Value {
    match current {
        Some(Value::String(s)) => Value::Array(vec![Value::String(s), new]),
        Some(Value::Array(mut a)) => {
            a.push(new);
            Value::Array(a)
        }
        Some(Value::Object(m)) if m.is_empty() => Value::Array(vec![new]),
        Some(Value::Object(mut m)) => {
            m.insert("1".into(), new);
            Value::Object(m)
        }
        _ => Value::Array(vec![new]),
    }
}
