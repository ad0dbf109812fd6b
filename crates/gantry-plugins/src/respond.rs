//! Responses a plugin produces itself: Kong's `kong.response.exit` (raw or compact
//! JSON body) and `kong.response.error` (the JSON/HTML/XML/plain templates chosen by
//! the request's `Accept` header, with the request id) — kong-reference Appendix A.

use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// What a phase handler decided.
#[derive(Debug)]
pub enum Decision {
    /// Go on with the next plugin (and eventually the upstream).
    Continue,
    /// Stop: answer the client with this response (Kong's `kong.response.exit` /
    /// `kong.response.error`). Later plugins' `access` handlers are skipped, but
    /// every collected plugin still runs `header_filter`, `body_filter` and `log`.
    /// Boxed: `access` returns a decision per plugin, and `Continue` (nearly always)
    /// should not be a copy of a whole response.
    Respond(Box<KongResponse>),
}

impl Decision {
    /// Whether this is [`Decision::Continue`].
    pub fn is_continue(&self) -> bool {
        matches!(self, Decision::Continue)
    }
}

/// A complete response built by a plugin. The proxy adds its own headers
/// (`Server`, `X-Kong-Response-Latency`, `X-Kong-Request-Id`, …) on top.
#[derive(Debug, Clone)]
pub struct KongResponse {
    /// Status code.
    pub status: StatusCode,
    /// Headers, including `Content-Type` when there is a body.
    pub headers: HeaderMap,
    /// The body (empty for none).
    pub body: Bytes,
}

impl KongResponse {
    /// A response with no body and no headers.
    pub fn empty(status: StatusCode) -> Self {
        KongResponse {
            status,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    /// Kong's exit helper with a table body: compact JSON, `application/json; charset=utf-8`.
    pub fn json(status: StatusCode, body: &serde_json::Value) -> Self {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CT));
        KongResponse {
            status,
            headers,
            body: Bytes::from(bytes),
        }
    }

    /// Kong's exit helper with `{"message": msg}`.
    pub fn exit_message(status: StatusCode, message: &str) -> Self {
        Self::json(status, &serde_json::json!({ "message": message }))
    }

    /// Adds (replaces) a header; invalid values are skipped.
    pub fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }

    /// Wraps into a [`Decision::Respond`].
    pub fn into_decision(self) -> Decision {
        Decision::Respond(Box::new(self))
    }
}

const JSON_CT: &str = "application/json; charset=utf-8";

/// The body formats of Kong's error templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFormat {
    /// `application/json`
    Json,
    /// `text/html`
    Html,
    /// `application/xml`
    Xml,
    /// `text/plain`
    Plain,
}

impl ErrorFormat {
    /// The `Content-Type` of this format's template.
    pub fn content_type(self) -> &'static str {
        match self {
            ErrorFormat::Json => JSON_CT,
            ErrorFormat::Html => "text/html; charset=utf-8",
            ErrorFormat::Xml => "application/xml; charset=utf-8",
            ErrorFormat::Plain => "text/plain; charset=utf-8",
        }
    }

    /// The format for a media type (`*/*` = JSON); `None` when Kong has no template.
    pub fn from_mime(mime: &str) -> Option<ErrorFormat> {
        let m = mime.split(';').next().unwrap_or("").trim();
        if m.eq_ignore_ascii_case("application/json") || m == "*/*" {
            Some(ErrorFormat::Json)
        } else if m.eq_ignore_ascii_case("text/html") {
            Some(ErrorFormat::Html)
        } else if m.eq_ignore_ascii_case("application/xml") || m.eq_ignore_ascii_case("text/xml") {
            Some(ErrorFormat::Xml)
        } else if m.eq_ignore_ascii_case("text/plain") {
            Some(ErrorFormat::Plain)
        } else {
            None
        }
    }

    /// `kong.response.error`'s choice: the highest-q supported type in `Accept`,
    /// JSON when there is none.
    pub fn negotiate(accept: Option<&HeaderValue>) -> ErrorFormat {
        accept
            .and_then(|v| v.to_str().ok())
            .and_then(ErrorFormat::from_accept)
            .unwrap_or(ErrorFormat::Json)
    }

    /// The highest-q supported media type of an `Accept` value, if any.
    pub fn from_accept(accept: &str) -> Option<ErrorFormat> {
        let mut best: Option<(f32, ErrorFormat)> = None;
        for part in accept.split(',') {
            let mut pieces = part.split(';');
            let mime = pieces.next().unwrap_or("").trim();
            let mut q = 1.0f32;
            for p in pieces {
                if let Some(v) = p.trim().strip_prefix("q=") {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
            if q <= 0.0 {
                continue;
            }
            if let Some(fmt) = ErrorFormat::from_mime(mime)
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, fmt));
            }
        }
        best.map(|(_, f)| f)
    }
}

/// Kong's default message for a status (`kong.response.error` without a message).
pub fn default_message(status: StatusCode) -> std::borrow::Cow<'static, str> {
    let m = match status.as_u16() {
        400 => "Bad request",
        401 => "Unauthorized",
        402 => "Payment required",
        403 => "Forbidden",
        404 => "Not found",
        405 => "Method not allowed",
        406 => "Not acceptable",
        407 => "Proxy authentication required",
        408 => "Request timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length required",
        412 => "Precondition failed",
        413 => "Payload too large",
        414 => "URI too long",
        415 => "Unsupported media type",
        416 => "Range not satisfiable",
        417 => "Expectation failed",
        418 => "I'm a teapot",
        421 => "Misdirected request",
        422 => "Unprocessable entity",
        423 => "Locked",
        424 => "Failed dependency",
        425 => "Too early",
        426 => "Upgrade required",
        428 => "Precondition required",
        429 => "Too many requests",
        431 => "Request header fields too large",
        451 => "Unavailable for legal reasons",
        494 => "Request header or cookie too large",
        500 => "An unexpected error occurred",
        501 => "Not implemented",
        502 => "An invalid response was received from the upstream server",
        503 => "The upstream server is currently unavailable",
        504 => "The upstream server is timing out",
        505 => "HTTP version not supported",
        506 => "Variant also negotiates",
        507 => "Insufficient storage",
        508 => "Loop detected",
        510 => "Not extended",
        511 => "Network authentication required",
        other => return format!("The upstream server responded with {other}").into(),
    };
    m.into()
}

/// Renders Kong's error template (`kong.response.error`) for `message`.
pub fn error_response(
    status: StatusCode,
    message: &str,
    accept: Option<&HeaderValue>,
    request_id: &str,
) -> KongResponse {
    let (content_type, body) = render(ErrorFormat::negotiate(accept), message, request_id);
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, content_type);
    KongResponse {
        status,
        headers,
        body,
    }
}

/// Kong's error template in `format` for `message` and `request_id`: the one renderer
/// for plugin rejections and the proxy's own errors.
pub fn render(format: ErrorFormat, message: &str, request_id: &str) -> (HeaderValue, Bytes) {
    let body = match format {
        ErrorFormat::Json => format!(
            "{{\n  \"message\":{},\n  \"request_id\":\"{}\"\n}}",
            serde_json::to_string(message).unwrap_or_else(|_| "\"\"".into()),
            request_id
        ),
        ErrorFormat::Html => format!(
            "<!doctype html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n    <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n    <p>{}.</p>\n    <p>request_id: {}</p>\n  </body>\n</html>\n",
            xml_escape(message),
            request_id
        ),
        ErrorFormat::Xml => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error>\n  <message>{}</message>\n  <requestid>{}</requestid>\n</error>\n",
            xml_escape(message),
            request_id
        ),
        ErrorFormat::Plain => format!("{message}\nrequest_id: {request_id}\n"),
    };
    (
        HeaderValue::from_static(format.content_type()),
        Bytes::from(body),
    )
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn json_template_and_negotiation() {
        let r = error_response(StatusCode::UNAUTHORIZED, "Unauthorized", None, "abc");
        assert_eq!(
            &r.body[..],
            b"{\n  \"message\":\"Unauthorized\",\n  \"request_id\":\"abc\"\n}"
        );
        assert_eq!(r.headers[header::CONTENT_TYPE], JSON_CT);
        let a = HeaderValue::from_static("text/html;q=0.5, text/plain;q=0.9");
        let r = error_response(StatusCode::FORBIDDEN, "Forbidden", Some(&a), "id");
        assert_eq!(&r.body[..], b"Forbidden\nrequest_id: id\n");
        let a = HeaderValue::from_static("image/png");
        assert_eq!(ErrorFormat::negotiate(Some(&a)), ErrorFormat::Json);
    }

    #[test]
    fn exit_is_compact_json() {
        let r = KongResponse::exit_message(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable");
        assert_eq!(&r.body[..], br#"{"message":"Service unavailable"}"#);
        assert_eq!(
            default_message(StatusCode::from_u16(599).unwrap()),
            "The upstream server responded with 599"
        );
    }
}
