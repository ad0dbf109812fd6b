//! JSON responses as Kong's `kong.response.exit` writes them.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde_json::Value;

/// `application/json; charset=utf-8`.
pub const JSON: &str = "application/json; charset=utf-8";

/// A compact JSON body with Kong's content type.
pub fn json(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut res = Response::new(Body::from(bytes));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    res
}

/// 200 with a JSON body.
pub fn ok(body: &Value) -> Response {
    json(StatusCode::OK, body)
}

/// 201 with a JSON body.
pub fn created(body: &Value) -> Response {
    json(StatusCode::CREATED, body)
}

/// 204 without a body.
pub fn no_content() -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::NO_CONTENT;
    res
}
