//! Kong's `kong.request.get_body()` for the MIME types it decodes
//! (`application/x-www-form-urlencoded`, `application/json`,
//! `multipart/form-data`), and re-encoding a changed body
//! (`kong.service.request.set_body`).

use bytes::Bytes;
use http::HeaderMap;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use serde_json::{Map, Value};

use crate::multipart::{self, Multipart};

/// nginx's `get_post_args()` default: form arguments after the 100th are ignored.
const MAX_POST_ARGS: usize = 100;

/// A decoded request body.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyArgs {
    /// A JSON object or array (both are Lua tables).
    Json(Value),
    /// Form fields in order; `None` is a bare `name` without `=` (Lua `true`).
    Form(Vec<(String, Option<String>)>),
    /// A multipart body, parts kept as they came.
    Multipart(Multipart),
}

/// Shape of one body field, as Kong's body table gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyField {
    /// Absent.
    Absent,
    /// A string value.
    Str(String),
    /// An array/object (JSON) or a repeated form field or part: a Lua table.
    Table,
    /// A number, boolean or null.
    Other,
}

/// The body's MIME type, when it is one Kong decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/json…`
    Json,
    /// `application/x-www-form-urlencoded…`
    Form,
    /// `multipart/form-data…`
    Multipart,
}

/// The body kind from `Content-Type`, tested as `get_body` does: the lower-cased
/// type before any `;` must *start with* the MIME type (so
/// `application/json-patch+json` is JSON and `application/vnd.api+json` is not).
pub fn kind(headers: &HeaderMap) -> Option<BodyKind> {
    let ct = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let mime = ct.split(';').next().unwrap_or("").to_ascii_lowercase();
    if mime.starts_with("application/x-www-form-urlencoded") {
        Some(BodyKind::Form)
    } else if mime.starts_with("application/json") {
        Some(BodyKind::Json)
    } else if mime.starts_with("multipart/form-data") {
        Some(BodyKind::Multipart)
    } else {
        None
    }
}

/// `ngx.req.get_post_args()`: `&`-separated, `+` is a space, a name without
/// `=` is a flag, empty segments are skipped.
fn parse_form(body: &[u8]) -> Vec<(String, Option<String>)> {
    body.split(|&b| b == b'&')
        .filter(|seg| !seg.is_empty())
        .take(MAX_POST_ARGS)
        .filter_map(|seg| {
            let flag = !seg.contains(&b'=');
            let (k, v) = form_urlencoded::parse(seg).next()?;
            Some((k.into_owned(), (!flag).then(|| v.into_owned())))
        })
        .collect()
}

impl BodyArgs {
    /// Decodes a body by its `Content-Type`; `None` where `get_body` returns an
    /// error (type not supported, JSON that is not an object or array).
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Option<BodyArgs> {
        match kind(headers)? {
            BodyKind::Json => match serde_json::from_slice(body).ok()? {
                v @ (Value::Object(_) | Value::Array(_)) => Some(BodyArgs::Json(v)),
                _ => None,
            },
            BodyKind::Form => Some(BodyArgs::Form(parse_form(body))),
            BodyKind::Multipart => {
                let ct = headers.get(CONTENT_TYPE)?.to_str().ok()?;
                // lua-multipart finds no parts without a boundary
                let parts = match multipart::boundary(ct) {
                    Some(b) => Multipart::parse(body, &b),
                    None => Multipart::default(),
                };
                Some(BodyArgs::Multipart(parts))
            }
        }
    }

    /// One field's shape.
    pub fn get(&self, name: &str) -> BodyField {
        match self {
            BodyArgs::Json(v) => match v.get(name) {
                None => BodyField::Absent,
                Some(Value::String(s)) => BodyField::Str(s.clone()),
                Some(Value::Array(_) | Value::Object(_)) => BodyField::Table,
                Some(_) => BodyField::Other,
            },
            BodyArgs::Form(pairs) => {
                let mut it = pairs.iter().filter(|(k, _)| k == name);
                match (it.next(), it.next()) {
                    (None, _) => BodyField::Absent,
                    (Some((_, Some(v))), None) => BodyField::Str(v.clone()),
                    (Some((_, None)), None) => BodyField::Other,
                    (Some(_), Some(_)) => BodyField::Table,
                }
            }
            BodyArgs::Multipart(m) => {
                let mut it = m.values(name.as_bytes());
                match (it.next(), it.next()) {
                    (None, _) => BodyField::Absent,
                    (Some(v), None) => BodyField::Str(String::from_utf8_lossy(v).into_owned()),
                    (Some(_), Some(_)) => BodyField::Table,
                }
            }
        }
    }

    /// Removes a field (`body[name] = nil`).
    pub fn remove(&mut self, name: &str) {
        match self {
            BodyArgs::Json(v) => {
                if let Value::Object(m) = v {
                    m.shift_remove(name);
                }
            }
            BodyArgs::Form(pairs) => pairs.retain(|(k, _)| k != name),
            BodyArgs::Multipart(m) => {
                while m.values(name.as_bytes()).next().is_some() {
                    m.delete(name.as_bytes());
                }
            }
        }
    }

    /// Encodes the body back. Form fields keep their order (Kong sorts them by
    /// name); multipart parts other than removed ones keep their headers (Kong
    /// rewrites every field as a plain part, losing file names and types).
    pub fn encode(&self) -> Bytes {
        match self {
            BodyArgs::Json(v) => Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
            BodyArgs::Form(pairs) => {
                let mut ser = form_urlencoded::Serializer::new(String::new());
                for (k, v) in pairs {
                    match v {
                        Some(v) => ser.append_pair(k, v),
                        None => ser.append_key_only(k),
                    };
                }
                Bytes::from(ser.finish())
            }
            BodyArgs::Multipart(m) => Bytes::from(m.encode()),
        }
    }

    /// The Lua table as cjson would print it (request-termination's echo): a
    /// repeated form field or part is an array, a flag is `true`.
    pub fn to_json(&self) -> Value {
        match self {
            BodyArgs::Json(v) => v.clone(),
            BodyArgs::Form(pairs) => {
                let mut map = Map::new();
                for (k, v) in pairs {
                    let v = v.clone().map_or(Value::Bool(true), Value::String);
                    push_repeated(&mut map, k.clone(), v);
                }
                Value::Object(map)
            }
            BodyArgs::Multipart(m) => {
                let mut map = Map::new();
                for name in m.names() {
                    let key = String::from_utf8_lossy(name).into_owned();
                    for v in m.values(name) {
                        let v = Value::String(String::from_utf8_lossy(v).into_owned());
                        push_repeated(&mut map, key.clone(), v);
                    }
                }
                Value::Object(map)
            }
        }
    }
}

/// Adds `v` under `k`, turning a second value into an array.
fn push_repeated(map: &mut Map<String, Value>, k: String, v: Value) {
    match map.get_mut(&k) {
        Some(Value::Array(a)) => a.push(v),
        Some(prev) => *prev = Value::Array(vec![prev.take(), v]),
        None => {
            map.insert(k, v);
        }
    }
}

/// Replaces the request body and its `Content-Length`.
pub fn set_body(headers: &mut HeaderMap, slot: &mut Option<Bytes>, body: Bytes) {
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    *slot = Some(body);
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
