//! Kong-originated responses: which of Kong's error templates (JSON, HTML, XML, plain)
//! a request gets — by `Accept` for the `kong.response.error` helper, with the
//! nginx-level error handler's fallback to `Content-Type` then `error_default_type`
//! (kong-reference Appendix A). The templates and messages themselves are the plugins
//! crate's, so plugin rejections and proxy errors cannot drift apart.

use bytes::Bytes;
use http::{HeaderValue, StatusCode};

pub use gantry_plugins::respond::ErrorFormat;

/// Which Kong helper produced the error: this decides the fallback when the client sent
/// no usable `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    /// `kong.response.error`: no Accept ⇒ JSON (router 404, balancer 503, …).
    Helper,
    /// nginx's error page (502/504 from the upstream, 413, …): no Accept ⇒ request
    /// Content-Type ⇒ `error_default_type`.
    Nginx,
}

/// Picks the format by the highest-q supported media type in `Accept`, falling back
/// per `source` (the request's `Accept` and `Content-Type` values are passed in).
pub fn negotiate(
    accept: Option<&HeaderValue>,
    content_type: Option<&HeaderValue>,
    source: ErrorSource,
    default_type: ErrorFormat,
) -> ErrorFormat {
    if let Some(f) = accept
        .and_then(|v| v.to_str().ok())
        .and_then(ErrorFormat::from_accept)
    {
        return f;
    }
    if source == ErrorSource::Helper {
        return ErrorFormat::Json;
    }
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(ErrorFormat::from_mime)
        .unwrap_or(default_type)
}

/// Kong's default message for a status code.
pub fn default_message(status: StatusCode) -> String {
    gantry_plugins::respond::default_message(status).into_owned()
}

/// Renders Kong's error template for `message` and `request_id`.
pub fn render(format: ErrorFormat, message: &str, request_id: &str) -> (HeaderValue, Bytes) {
    gantry_plugins::respond::render(format, message, request_id)
}

/// Whether Kong's nginx configuration lists this status in its `error_page` lines
/// (`400 404 405 408 411 412 413 414 417 494` and `500 502 503 504`): the others
/// reach Kong's clients as OpenResty's own page rather than a Kong template.
pub fn has_kong_template(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        400 | 404 | 405 | 408 | 411 | 412 | 413 | 414 | 417 | 494 | 500 | 502 | 503 | 504
    )
}

/// OpenResty's built-in error page for `status`, byte for byte as Kong sends it (with
/// `server_tokens off`).
pub fn openresty_page(status: StatusCode) -> (HeaderValue, Bytes) {
    let line = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let body = format!(
        "<html>\r\n<head><title>{line}</title></head>\r\n<body>\r\n\
         <center><h1>{line}</h1></center>\r\n<hr><center>openresty</center>\r\n\
         </body>\r\n</html>\r\n"
    );
    (HeaderValue::from_static("text/html"), Bytes::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(v: &str) -> HeaderValue {
        HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static(""))
    }

    #[test]
    fn accept_picks_highest_q() {
        let a = hv("text/html;q=0.5, application/xml;q=0.9");
        let n = negotiate(Some(&a), None, ErrorSource::Helper, ErrorFormat::Plain);
        assert_eq!(n, ErrorFormat::Xml);
        let a = hv("*/*");
        let n = negotiate(Some(&a), None, ErrorSource::Nginx, ErrorFormat::Plain);
        assert_eq!(n, ErrorFormat::Json);
        // Nothing usable in Accept: the helper answers JSON.
        let a = hv("image/png");
        let n = negotiate(Some(&a), None, ErrorSource::Helper, ErrorFormat::Plain);
        assert_eq!(n, ErrorFormat::Json);
    }

    #[test]
    fn no_accept_falls_back_by_source() {
        let n = negotiate(None, None, ErrorSource::Helper, ErrorFormat::Plain);
        assert_eq!(n, ErrorFormat::Json);
        let n = negotiate(None, None, ErrorSource::Nginx, ErrorFormat::Plain);
        assert_eq!(n, ErrorFormat::Plain);
        let ct = hv("application/json");
        let n = negotiate(None, Some(&ct), ErrorSource::Nginx, ErrorFormat::Plain);
        assert_eq!(n, ErrorFormat::Json);
    }

    #[test]
    fn json_template_matches_kong() {
        let (ct, body) = render(
            ErrorFormat::Json,
            "no Route matched with those values",
            "abc",
        );
        assert_eq!(ct, "application/json; charset=utf-8");
        assert_eq!(
            &body[..],
            b"{\n  \"message\":\"no Route matched with those values\",\n  \"request_id\":\"abc\"\n}"
        );
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(v["request_id"], "abc");
    }

    #[test]
    fn plain_and_messages() {
        let (_, body) = render(ErrorFormat::Plain, "Payload too large", "id1");
        assert_eq!(&body[..], b"Payload too large\nrequest_id: id1\n");
        assert_eq!(
            default_message(StatusCode::BAD_GATEWAY),
            "An invalid response was received from the upstream server"
        );
        assert_eq!(
            default_message(StatusCode::from_u16(599).unwrap_or(StatusCode::OK)),
            "The upstream server responded with 599"
        );
    }
}
