//! Cross-cutting behaviour of every Admin API response: trailing-slash
//! tolerance, the admin token, CORS headers, `X-Kong-Admin-Latency`, `Server`,
//! HEAD bodies and the `/status` counters.

use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, Request, StatusCode, Uri, header};

use crate::error::ApiError;
use crate::state::AdminState;

/// Header carrying the admin token.
pub const TOKEN_HEADER: &str = "kong-admin-token";

/// Removes trailing slashes from the path (`/services/` → `/services`).
pub fn strip_trailing_slash(mut req: Request<Body>) -> Request<Body> {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let pq = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(p) = pq.parse() {
            parts.path_and_query = Some(p);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

fn token_ok(expected: &str, given: Option<&HeaderValue>) -> bool {
    let Some(given) = given else { return false };
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    // constant time over the expected length
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// The Admin API middleware.
pub async fn admin(State(state): State<AdminState>, req: Request<Body>, next: Next) -> Response {
    let started = Instant::now();
    state.stats.total.fetch_add(1, Ordering::Relaxed);
    state.stats.active.fetch_add(1, Ordering::Relaxed);
    let method = req.method().clone();
    let origin = req.headers().get(header::ORIGIN).cloned();
    let req_headers = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned();
    let mut res = match &state.settings.token {
        Some(t) if method != Method::OPTIONS && !token_ok(t, req.headers().get(TOKEN_HEADER)) => {
            ApiError::Message(StatusCode::UNAUTHORIZED, "Unauthorized".into()).into_response()
        }
        _ => next.run(req).await,
    };
    state.stats.active.fetch_sub(1, Ordering::Relaxed);
    let h = res.headers_mut();
    let allow_origin = match (&state.settings.gui_origin, origin) {
        (Some(o), _) => HeaderValue::from_str(o).ok(),
        (None, Some(o)) => Some(o),
        (None, None) => Some(HeaderValue::from_static("*")),
    };
    if let Some(o) = allow_origin {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    if method == Method::OPTIONS {
        let allowed = req_headers.unwrap_or_else(|| HeaderValue::from_static("Content-Type"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed);
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("3600"),
        );
    }
    let ms = started.elapsed().as_millis();
    if let Ok(v) = HeaderValue::from_str(&ms.to_string()) {
        h.insert("x-kong-admin-latency", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("kong/{}", state.node.version)) {
        h.insert(header::SERVER, v);
    }
    if method == Method::HEAD {
        *res.body_mut() = Body::empty();
    }
    res
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn trailing_slashes_are_removed() {
        let r = Request::builder()
            .uri("/services/?size=1")
            .body(Body::empty())
            .unwrap();
        assert_eq!(strip_trailing_slash(r).uri(), "/services?size=1");
        let r = Request::builder().uri("/").body(Body::empty()).unwrap();
        assert_eq!(strip_trailing_slash(r).uri(), "/");
    }

    #[test]
    fn token_comparison() {
        assert!(token_ok("abc", Some(&HeaderValue::from_static("abc"))));
        assert!(!token_ok("abc", Some(&HeaderValue::from_static("abd"))));
        assert!(!token_ok("abc", Some(&HeaderValue::from_static("abcd"))));
        assert!(!token_ok("abc", None));
    }
}
