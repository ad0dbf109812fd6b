//! response-transformer (PRIORITY 800): rewrites response headers in
//! `header_filter` and a JSON response body in `body_filter`
//! (`kong/plugins/response-transformer/{schema,handler,header_transformer,
//! body_transformer}.lua` of Kong 3.9, kong-reference §6.15).
//!
//! Headers: remove, rename, replace (only when present), add (only when
//! absent), append, in that order. Presence is tested against the headers as
//! they were when `header_filter` started (Kong's `get_headers()` snapshot),
//! so `remove.headers: [x]` with `add.headers: ["x:v"]` leaves no `x`. When a
//! JSON operation is configured and the response is JSON
//! (`application/json` or `application/*+json`), `Content-Length` is removed.
//!
//! Body: only when `add`, `remove`, `replace` or `append` has `json` entries
//! (Kong's `is_body_transform_set`; `rename.json` alone does nothing) and the
//! response is JSON. Chunks are buffered (replaced by empty chunks) until the
//! last one, then the body is decoded and the operations run in the order
//! remove, rename, replace, add, append; a body that is not a JSON object is
//! sent unchanged. Values go through Kong's `json_value`: the string is
//! JSON-escaped as cjson would, its `\"` and `\/` un-escaped, then cast by the
//! aligned `json_types` entry (`number` via Lua's `tonumber`, `boolean` is
//! `value == "true"`, default `string`); an entry with an empty value is the
//! string `"null"`. `replace` needs the key present and not `false`; `add`
//! needs it absent or `false`.

use bytes::{Bytes, BytesMut};
use gantry_core::schema::typedefs as t;
use gantry_core::schema::{Field, Schema};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::transformers::{
    array_of, colon_entries, colon_match, json_append, json_truthy, kong_pair, record,
    validate_colon_header_values, validate_colon_headers,
};
use super::{ConsumerScope, subschema};
use crate::ctx::{RequestCtx, ResponseHead};
use crate::plugin::{ConfigureEnv, Phases, Plugin, PluginHandler};
use crate::util::kong_header_name;

/// The response-transformer plugin.
#[derive(Debug)]
pub struct ResponseTransformer;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Lists {
    json: Option<Vec<String>>,
    json_types: Option<Vec<String>>,
    headers: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct Config {
    remove: Option<Lists>,
    rename: Option<Lists>,
    replace: Option<Lists>,
    add: Option<Lists>,
    append: Option<Lists>,
}

const JSON_TYPES_DESCRIPTION: &str = "List of JSON type names. Specify the types of the JSON values returned when appending\nJSON properties. Each string element can be one of: boolean, number, or string.";

impl Plugin for ResponseTransformer {
    fn name(&self) -> &'static str {
        "response-transformer"
    }

    fn priority(&self) -> i32 {
        800
    }

    fn schema(&self) -> Schema {
        let strings = || array_of(Field::string());
        let colon_strings = || array_of(Field::string().v(colon_match()));
        let colon_header_values = || colon_entries(validate_colon_header_values);
        let colon_headers = || colon_entries(validate_colon_headers);
        let colon_record = || {
            record(vec![
                ("json", colon_strings()),
                (
                    "json_types",
                    array_of(Field::string().one_of(&["boolean", "number", "string"]))
                        .describe(JSON_TYPES_DESCRIPTION),
                ),
                ("headers", colon_header_values()),
            ])
        };
        subschema(
            ConsumerScope::Allowed,
            t::protocols_http(),
            vec![
                (
                    "remove",
                    record(vec![("json", strings()), ("headers", strings())]),
                ),
                (
                    "rename",
                    record(vec![
                        ("json", colon_strings()),
                        ("headers", colon_headers()),
                    ]),
                ),
                ("replace", colon_record()),
                ("add", colon_record()),
                ("append", colon_record()),
            ],
            vec![],
        )
    }

    fn configure(
        &self,
        config: &Value,
        _env: &ConfigureEnv,
    ) -> Result<Box<dyn PluginHandler>, String> {
        let c: Config = crate::util::parse_config(&self.schema(), config)?;
        let [remove, rename, replace, add, append] =
            [c.remove, c.rename, c.replace, c.add, c.append].map(Option::unwrap_or_default);
        let headers = |l: &Lists| pairs(l.headers.as_deref());
        let h = Handler {
            remove_headers: headers(&remove).into_iter().map(|(n, _)| n).collect(),
            rename_headers: headers(&rename),
            replace_headers: header_values(headers(&replace)),
            add_headers: header_values(headers(&add)),
            append_headers: header_values(headers(&append)),
            remove_json: pairs(remove.json.as_deref())
                .into_iter()
                .map(|(n, _)| n)
                .collect(),
            rename_json: pairs(rename.json.as_deref()),
            replace_json: json_values(&replace),
            add_json: json_values(&add),
            append_json: json_values(&append),
        };
        Ok(Box::new(h))
    }
}

/// `iter(config_array)`: names and values (`None` when empty); entries
/// without a name are skipped (a Lua error in Kong).
fn pairs(list: Option<&[String]>) -> Vec<(String, Option<String>)> {
    list.unwrap_or_default()
        .iter()
        .filter_map(|e| kong_pair(e))
        .map(|(n, v)| (n.to_string(), (!v.is_empty()).then(|| v.to_string())))
        .collect()
}

fn header_values(list: Vec<(String, Option<String>)>) -> Vec<(HeaderName, Option<HeaderValue>)> {
    list.into_iter()
        .filter_map(|(n, v)| {
            let name = kong_header_name(&n)?;
            Some((name, v.and_then(|v| HeaderValue::from_str(&v).ok())))
        })
        .collect()
}

fn json_values(l: &Lists) -> Vec<(String, Option<Value>)> {
    let types = l.json_types.as_deref().unwrap_or_default();
    pairs(l.json.as_deref())
        .into_iter()
        .enumerate()
        .map(|(i, (n, v))| {
            let ty = types.get(i).map(String::as_str);
            (n, json_value(v.as_deref(), ty))
        })
        .collect()
}

/// lua-cjson's string escaping (without the surrounding quotes).
fn cjson_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// Lua's `tonumber` on a string: surrounding whitespace allowed, decimal
/// (with exponent) or `0x` hexadecimal; not finite numbers are refused (cjson
/// cannot encode them).
fn lua_tonumber(s: &str) -> Option<f64> {
    let t = s.trim_matches([' ', '\t', '\n', '\r', '\u{b}', '\u{c}']);
    let (neg, digits) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        hex.bytes().fold(0f64, |acc, b| {
            acc * 16.0 + f64::from(char::from(b).to_digit(16).unwrap_or(0))
        })
    } else {
        if digits.is_empty()
            || !digits
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return None;
        }
        digits.parse::<f64>().ok()?
    };
    let v = if neg { -v } else { v };
    v.is_finite().then_some(v)
}

fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        Value::from(v as i64)
    } else {
        serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
    }
}

/// Kong's `json_value(value, json_type)`; `None` when the cast fails (the
/// operation is then skipped).
fn json_value(value: Option<&str>, json_type: Option<&str>) -> Option<Value> {
    let v = match value {
        // cjson.encode(nil) is "null"
        None => "null".to_string(),
        Some(v) => cjson_escape(v).replace("\\\"", "\""),
    }
    .replace("\\/", "/");
    match json_type {
        Some("number") => lua_tonumber(&v).map(number),
        Some("boolean") => Some(Value::Bool(v == "true")),
        _ => Some(Value::String(v)),
    }
}

/// `application/json` or `application/*+json` among the comma-separated
/// media types.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(CONTENT_TYPE) else {
        return false;
    };
    String::from_utf8_lossy(ct.as_bytes())
        .split(',')
        .any(|piece| {
            let media = piece.split(';').next().unwrap_or("").trim();
            let Some((ty, sub)) = media.split_once('/') else {
                return false;
            };
            ty.eq_ignore_ascii_case("application") && {
                let sub = sub.to_ascii_lowercase();
                sub == "json" || (sub.len() > 5 && sub.ends_with("+json"))
            }
        })
}

struct Handler {
    remove_headers: Vec<String>,
    rename_headers: Vec<(String, Option<String>)>,
    replace_headers: Vec<(HeaderName, Option<HeaderValue>)>,
    add_headers: Vec<(HeaderName, Option<HeaderValue>)>,
    append_headers: Vec<(HeaderName, Option<HeaderValue>)>,
    remove_json: Vec<String>,
    rename_json: Vec<(String, Option<String>)>,
    replace_json: Vec<(String, Option<Value>)>,
    add_json: Vec<(String, Option<Value>)>,
    append_json: Vec<(String, Option<Value>)>,
}

/// The response body buffered so far.
#[derive(Clone)]
struct Buffered(BytesMut);

impl Handler {
    /// Kong's `is_body_transform_set` (`rename.json` is not part of it).
    fn body_transform_set(&self) -> bool {
        !(self.add_json.is_empty()
            && self.remove_json.is_empty()
            && self.replace_json.is_empty()
            && self.append_json.is_empty())
    }

    fn transform_json(&self, body: &[u8]) -> Option<Bytes> {
        let mut map: Map<String, Value> = match serde_json::from_slice(body) {
            Ok(Value::Object(m)) => m,
            _ => return None,
        };
        for name in &self.remove_json {
            map.shift_remove(name);
        }
        for (old, new) in &self.rename_json {
            let Some(new) = new else { continue };
            if let Some(v) = map.shift_remove(old) {
                // renaming to the same name drops the key, as in Kong
                if new != old {
                    map.insert(new.clone(), v);
                }
            }
        }
        for (name, v) in &self.replace_json {
            if let Some(v) = v
                && json_truthy(map.get(name))
            {
                map.insert(name.clone(), v.clone());
            }
        }
        for (name, v) in &self.add_json {
            if let Some(v) = v
                && !json_truthy(map.get(name))
            {
                map.insert(name.clone(), v.clone());
            }
        }
        for (name, v) in &self.append_json {
            let Some(v) = v else { continue };
            match map.get_mut(name) {
                Some(slot) => *slot = json_append(Some(slot.take()), v.clone()),
                None => {
                    map.insert(name.clone(), json_append(None, v.clone()));
                }
            }
        }
        serde_json::to_vec(&Value::Object(map))
            .ok()
            .map(Bytes::from)
    }
}

impl PluginHandler for Handler {
    fn phases(&self) -> Phases {
        Phases {
            header_filter: true,
            body_filter: true,
            ..Phases::default()
        }
    }

    fn header_filter(&self, _ctx: &mut RequestCtx, head: &mut ResponseHead) {
        let snapshot = head.headers.clone();
        let present = |name: &HeaderName| snapshot.contains_key(name);
        let h = &mut head.headers;
        for name in &self.remove_headers {
            if let Some(n) = kong_header_name(name) {
                h.remove(n);
            }
        }
        for (old, new) in &self.rename_headers {
            let (Some(old), Some(new)) = (
                kong_header_name(old),
                new.as_deref().and_then(kong_header_name),
            ) else {
                continue;
            };
            if !present(&old) {
                continue;
            }
            // set_header(new, value) then clear_header(old): renaming a header
            // to itself removes it, as in Kong
            h.remove(&new);
            for v in snapshot.get_all(&old) {
                h.append(&new, v.clone());
            }
            h.remove(&old);
        }
        for (name, value) in &self.replace_headers {
            if let Some(v) = value
                && present(name)
            {
                h.insert(name, v.clone());
            }
        }
        for (name, value) in &self.add_headers {
            if let Some(v) = value
                && !present(name)
            {
                h.insert(name, v.clone());
            }
        }
        for (name, value) in &self.append_headers {
            if let Some(v) = value {
                h.append(name, v.clone());
            }
        }
        if self.body_transform_set() && is_json(&snapshot) {
            h.remove(CONTENT_LENGTH);
        }
    }

    fn body_filter(&self, ctx: &mut RequestCtx, head: &ResponseHead, chunk: &mut Bytes, eof: bool) {
        if !self.body_transform_set() || !is_json(&head.headers) {
            return;
        }
        if !eof {
            match ctx.scratch.get_mut::<Buffered>() {
                Some(b) => b.0.extend_from_slice(chunk),
                None => {
                    ctx.scratch.insert(Buffered(BytesMut::from(&chunk[..])));
                }
            }
            *chunk = Bytes::new();
            return;
        }
        let body = match ctx.scratch.remove::<Buffered>() {
            Some(Buffered(mut b)) => {
                b.extend_from_slice(chunk);
                b.freeze()
            }
            None => chunk.clone(),
        };
        *chunk = match self.transform_json(&body) {
            Some(out) => out,
            None => {
                tracing::debug!("response-transformer: body is not a JSON object; sent unchanged");
                body
            }
        };
    }
}

#[cfg(test)]
#[path = "response_transformer_tests.rs"]
mod tests;
