//! Kong-originated responses: the `kong.response.error` templates (JSON, HTML, XML,
//! plain) chosen by the request's `Accept` header, and the nginx-level error handler's
//! fallback to `Content-Type` then `error_default_type` (kong-reference Appendix A).

use bytes::Bytes;
use http::{HeaderValue, StatusCode};

/// The body formats Kong can render an error in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFormat {
    Json,
    Html,
    Xml,
    Plain,
}

impl ErrorFormat {
    fn content_type(self) -> &'static str {
        match self {
            ErrorFormat::Json => "application/json; charset=utf-8",
            ErrorFormat::Html => "text/html; charset=utf-8",
            ErrorFormat::Xml => "application/xml; charset=utf-8",
            ErrorFormat::Plain => "text/plain; charset=utf-8",
        }
    }

    /// Parses `error_default_type` values (`text/plain`, `application/json`, …).
    pub fn from_mime(mime: &str) -> Option<ErrorFormat> {
        let m = mime.split(';').next().unwrap_or("").trim();
        match m.to_ascii_lowercase().as_str() {
            "application/json" => Some(ErrorFormat::Json),
            "text/html" => Some(ErrorFormat::Html),
            "application/xml" | "text/xml" => Some(ErrorFormat::Xml),
            "text/plain" => Some(ErrorFormat::Plain),
            "*/*" => Some(ErrorFormat::Json),
            _ => None,
        }
    }
}

/// Which Kong helper produced the error: this decides the fallback when the client sent
/// no `Accept` header.
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
        .and_then(best_from_accept)
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

fn best_from_accept(accept: &str) -> Option<ErrorFormat> {
    let mut best: Option<(f32, ErrorFormat)> = None;
    for part in accept.split(',') {
        let mut pieces = part.split(';');
        let mime = pieces.next().unwrap_or("").trim();
        let mut q = 1.0f32;
        for p in pieces {
            let p = p.trim();
            if let Some(v) = p.strip_prefix("q=") {
                q = v.trim().parse().unwrap_or(0.0);
            }
        }
        if q <= 0.0 {
            continue;
        }
        let Some(fmt) = ErrorFormat::from_mime(mime) else {
            continue;
        };
        if best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, fmt));
        }
    }
    best.map(|(_, f)| f)
}

/// Kong's default message for a status code (one table, shared with the plugins).
pub fn default_message(status: StatusCode) -> String {
    gantry_plugins::respond::default_message(status).into_owned()
}

/// Renders Kong's error template for `message` and `request_id`.
pub fn render(format: ErrorFormat, message: &str, request_id: &str) -> (HeaderValue, Bytes) {
    let body = match format {
        ErrorFormat::Json => format!(
            "{{\n  \"message\":{},\n  \"request_id\":\"{}\"\n}}",
            json_string(message),
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

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
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
