//! Request bodies: Content-Type checks (415, multiple headers), and decoding of
//! JSON, form-urlencoded and multipart bodies into a JSON object.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart};
use bytes::Bytes;
use gantry_core::schema::Schema;
use http::{HeaderMap, Request, StatusCode, header};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::form;

/// How a body is encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encoding {
    /// No body (or an empty one).
    Empty,
    /// `application/json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `multipart/form-data` (the full header value, for the boundary).
    Multipart(String),
    /// `application/yaml`, `text/yaml` (only `/config` accepts them).
    Yaml,
}

/// Classifies the body of a POST/PUT/PATCH as Kong's `before_filter` does:
/// several Content-Type headers → 400, an unknown type or a body without a
/// type → 415.
pub fn encoding(headers: &HeaderMap, body: &Bytes, allow_yaml: bool) -> ApiResult<Encoding> {
    let mut all = headers.get_all(header::CONTENT_TYPE).iter();
    let first = all.next();
    if all.next().is_some() {
        return Err(ApiError::bad_request(
            "Multiple Content-Type headers not allowed",
        ));
    }
    let Some(ct) = first else {
        return if body.is_empty() {
            Ok(Encoding::Empty)
        } else {
            Err(unsupported())
        };
    };
    let raw = ct.to_str().map_err(|_| unsupported())?;
    let lower = raw.to_ascii_lowercase();
    let essence = lower.split(';').next().unwrap_or("").trim();
    let enc = match essence {
        "application/json" => Encoding::Json,
        "application/x-www-form-urlencoded" => Encoding::Form,
        "multipart/form-data" => Encoding::Multipart(raw.to_string()),
        "application/yaml" | "text/yaml" | "application/x-yaml" | "text/x-yaml" if allow_yaml => {
            Encoding::Yaml
        }
        _ => return Err(unsupported()),
    };
    if body.is_empty() {
        return Ok(Encoding::Empty);
    }
    Ok(enc)
}

fn unsupported() -> ApiError {
    ApiError::Message(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Unsupported Media Type".into(),
    )
}

/// Parses a JSON body (must be an object; `{}` when empty).
pub fn json_object(body: &Bytes) -> ApiResult<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ApiError::bad_request("Cannot parse JSON body")),
    }
}

/// `name=value` pairs of a form or multipart body.
pub async fn form_pairs(enc: &Encoding, body: Bytes) -> ApiResult<Vec<(String, String)>> {
    match enc {
        Encoding::Form => Ok(form_urlencoded::parse(&body).into_owned().collect()),
        Encoding::Multipart(ct) => multipart_pairs(ct, body).await,
        _ => Ok(Vec::new()),
    }
}

async fn multipart_pairs(content_type: &str, body: Bytes) -> ApiResult<Vec<(String, String)>> {
    let req = Request::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .map_err(ApiError::unexpected)?;
    let bad = || ApiError::bad_request("Cannot parse multipart body");
    let mut mp = Multipart::from_request(req, &()).await.map_err(|_| bad())?;
    let mut out = Vec::new();
    while let Some(field) = mp.next_field().await.map_err(|_| bad())? {
        let Some(name) = field.name().map(str::to_string) else {
            continue;
        };
        let bytes = field.bytes().await.map_err(|_| bad())?;
        out.push((name, String::from_utf8_lossy(&bytes).into_owned()));
    }
    Ok(out)
}

/// Decodes an entity body for `schema`. `existing` (PATCH) selects the
/// subschema when the body does not.
pub async fn entity_body(
    headers: &HeaderMap,
    body: Bytes,
    schema: &Schema,
    existing: Option<&Map<String, Value>>,
) -> ApiResult<Map<String, Value>> {
    let enc = encoding(headers, &body, false)?;
    match enc {
        Encoding::Empty => Ok(Map::new()),
        Encoding::Json => json_object(&body),
        Encoding::Form | Encoding::Multipart(_) => {
            let pairs = form_pairs(&enc, body).await?;
            Ok(form::decode(pairs, schema, existing))
        }
        Encoding::Yaml => Err(unsupported()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn content_type_rules() {
        let mut h = HeaderMap::new();
        let body = Bytes::from_static(b"x");
        assert_eq!(encoding(&h, &body, false).unwrap_err().status(), 415);
        assert_eq!(encoding(&h, &Bytes::new(), false).unwrap(), Encoding::Empty);
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(encoding(&h, &body, false).unwrap_err().status(), 415);
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert_eq!(encoding(&h, &body, false).unwrap(), Encoding::Json);
        h.append(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert_eq!(encoding(&h, &body, false).unwrap_err().status(), 400);
    }

    #[test]
    fn json_must_be_an_object() {
        assert!(json_object(&Bytes::from_static(b"[1]")).is_err());
        assert!(json_object(&Bytes::from_static(b"{")).is_err());
        assert!(json_object(&Bytes::from_static(b"")).unwrap().is_empty());
    }
}
