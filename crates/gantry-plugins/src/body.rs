//! Kong's `kong.request.get_body()` for the MIME types plugins read
//! (`application/x-www-form-urlencoded` and `application/json`), and
//! re-encoding a changed body (`kong.service.request.set_body`).

use bytes::Bytes;
use http::HeaderMap;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use serde_json::{Map, Value};

/// A decoded request body.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyArgs {
    /// A JSON object.
    Json(Map<String, Value>),
    /// Form fields in order.
    Form(Vec<(String, String)>),
}

/// Shape of one body field, as Kong's body table gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyField {
    /// Absent.
    Absent,
    /// A string value.
    Str(String),
    /// An array/object (JSON) or a repeated form field: a Lua table.
    Table,
    /// A number, boolean or null.
    Other,
}

/// The body's MIME type, when it is one Kong decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/json` (and `+json`)
    Json,
    /// `application/x-www-form-urlencoded`
    Form,
    /// `multipart/form-data`
    Multipart,
}

/// The body kind from `Content-Type`.
pub fn kind(headers: &HeaderMap) -> Option<BodyKind> {
    let ct = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || mime.ends_with("+json") {
        Some(BodyKind::Json)
    } else if mime == "application/x-www-form-urlencoded" {
        Some(BodyKind::Form)
    } else if mime == "multipart/form-data" {
        Some(BodyKind::Multipart)
    } else {
        None
    }
}

impl BodyArgs {
    /// Decodes a body by its `Content-Type`; `None` when the type is not
    /// supported or the body does not parse.
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Option<BodyArgs> {
        match kind(headers)? {
            BodyKind::Json => match serde_json::from_slice(body).ok()? {
                Value::Object(m) => Some(BodyArgs::Json(m)),
                _ => None,
            },
            BodyKind::Form => Some(BodyArgs::Form(
                form_urlencoded::parse(body)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
            )),
            BodyKind::Multipart => None,
        }
    }

    /// One field's shape.
    pub fn get(&self, name: &str) -> BodyField {
        match self {
            BodyArgs::Json(m) => match m.get(name) {
                None => BodyField::Absent,
                Some(Value::String(s)) => BodyField::Str(s.clone()),
                Some(Value::Array(_) | Value::Object(_)) => BodyField::Table,
                Some(_) => BodyField::Other,
            },
            BodyArgs::Form(pairs) => {
                let mut it = pairs.iter().filter(|(k, _)| k == name);
                match (it.next(), it.next()) {
                    (None, _) => BodyField::Absent,
                    (Some((_, v)), None) => BodyField::Str(v.clone()),
                    (Some(_), Some(_)) => BodyField::Table,
                }
            }
        }
    }

    /// Removes a field.
    pub fn remove(&mut self, name: &str) {
        match self {
            BodyArgs::Json(m) => {
                m.remove(name);
            }
            BodyArgs::Form(pairs) => pairs.retain(|(k, _)| k != name),
        }
    }

    /// Encodes the body back.
    pub fn encode(&self) -> Bytes {
        match self {
            BodyArgs::Json(m) => Bytes::from(serde_json::to_vec(m).unwrap_or_default()),
            BodyArgs::Form(pairs) => {
                let mut ser = form_urlencoded::Serializer::new(String::new());
                for (k, v) in pairs {
                    ser.append_pair(k, v);
                }
                Bytes::from(ser.finish())
            }
        }
    }
}

/// Replaces the request body and its `Content-Length`.
pub fn set_body(headers: &mut HeaderMap, slot: &mut Option<Bytes>, body: Bytes) {
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    *slot = Some(body);
}
