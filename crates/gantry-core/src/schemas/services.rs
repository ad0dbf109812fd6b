//! The `services` schema (kong/db/schema/entities/services.lua).

use serde_json::{Map, Value, json};

use crate::schema::typedefs as t;
use crate::schema::{Conditional, EntityCheck, Field, FieldPatch, Schema, Shorthand, Validator};

fn nonzero_timeout() -> Field {
    Field::integer()
        .between(1.0, 2_147_483_646.0)
        .default(json!(60000))
}

fn when_protocol(if_match: FieldPatch, then_field: &'static str) -> EntityCheck {
    EntityCheck::Conditional(Conditional {
        if_field: "protocol",
        if_match,
        then_field,
        then_match: FieldPatch::null(),
        then_err: None,
    })
}

fn not_tls() -> FieldPatch {
    FieldPatch::with(Validator::NotOneOf(vec![json!("https"), json!("tls")]))
}

/// Parts of a URL as LuaSocket's `url.parse` splits them.
#[derive(Debug, Default, PartialEq)]
pub struct LuaSocketUrl {
    /// Scheme (anything before the first `:` that looks like one).
    pub scheme: Option<String>,
    /// Host (IPv6 without brackets).
    pub host: Option<String>,
    /// Port text, possibly empty or non-numeric.
    pub port: Option<String>,
    /// Path.
    pub path: Option<String>,
}

/// LuaSocket's `url.parse`, which Kong uses for the service `url` shorthand.
pub fn parse_url(url: &str) -> LuaSocketUrl {
    let mut out = LuaSocketUrl::default();
    let mut rest = url;
    if let Some(i) = rest.find('#') {
        rest = rest.get(..i).unwrap_or_default();
    }
    let scheme_end = rest.find(':').filter(|&i| {
        let cand = rest.get(..i).unwrap_or_default();
        let mut b = cand.bytes();
        b.next().is_some_and(|c| c.is_ascii_alphanumeric())
            && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
    });
    if let Some(i) = scheme_end {
        out.scheme = rest.get(..i).map(str::to_string);
        rest = rest.get(i + 1..).unwrap_or_default();
    }
    let mut authority = None;
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find('/').unwrap_or(after.len());
        authority = after.get(..end).map(str::to_string);
        rest = after.get(end..).unwrap_or_default();
    }
    if let Some(i) = rest.find('?') {
        rest = rest.get(..i).unwrap_or_default();
    }
    if let Some(i) = rest.find(';') {
        rest = rest.get(..i).unwrap_or_default();
    }
    if !rest.is_empty() {
        out.path = Some(rest.to_string());
    }
    let Some(mut auth) = authority else {
        return out;
    };
    if let Some(i) = auth.find('@') {
        auth = auth.get(i + 1..).unwrap_or_default().to_string();
    }
    if let Some(i) = auth.rfind(':') {
        let tail = auth.get(i + 1..).unwrap_or_default();
        if !tail.contains(']') {
            out.port = Some(tail.to_string());
            auth.truncate(i);
        }
    }
    if !auth.is_empty() {
        let host = auth
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .filter(|h| !h.is_empty())
            .unwrap_or(&auth);
        out.host = Some(host.to_string());
    }
    out
}

fn expand_url(v: &Value) -> Option<Map<String, Value>> {
    let parsed = parse_url(v.as_str()?);
    let port_num = parsed.port.as_deref().and_then(|p| p.parse::<u64>().ok());
    let implied = match port_num {
        Some(80) => Some("http"),
        Some(443) => Some("https"),
        _ => None,
    };
    let protocol = parsed
        .scheme
        .clone()
        .or_else(|| implied.map(str::to_string))
        .unwrap_or_else(|| "http".to_string());
    let port = match (port_num, &parsed.port) {
        (Some(p), _) => json!(p),
        (None, Some(text)) => json!(text),
        (None, None) => match protocol.as_str() {
            "https" => json!(443),
            _ => json!(80),
        },
    };
    let mut m = Map::new();
    m.insert("protocol".into(), json!(protocol));
    m.insert(
        "host".into(),
        parsed.host.map_or(Value::Null, Value::String),
    );
    m.insert("port".into(), port);
    m.insert(
        "path".into(),
        parsed.path.map_or(Value::Null, Value::String),
    );
    Some(m)
}

/// The `services` schema.
pub fn schema() -> Schema {
    Schema {
        name: "services",
        primary_key: vec!["id"],
        endpoint_key: Some("name"),
        workspaceable: true,
        fields: vec![
            ("id", t::uuid()),
            ("created_at", t::auto_timestamp_s()),
            ("updated_at", t::auto_timestamp_s()),
            ("name", t::utf8_name()),
            (
                "retries",
                Field::integer().default(json!(5)).between(0.0, 32767.0),
            ),
            ("protocol", t::protocol().required().default(json!("http"))),
            ("host", t::host().required()),
            ("port", t::port().required().default(json!(80))),
            ("path", t::path()),
            ("connect_timeout", nonzero_timeout()),
            ("write_timeout", nonzero_timeout()),
            ("read_timeout", nonzero_timeout()),
            ("tags", t::tags()),
            ("client_certificate", t::foreign("certificates")),
            ("tls_verify", Field::boolean()),
            (
                "tls_verify_depth",
                Field::integer().default(Value::Null).between(0.0, 64.0),
            ),
            (
                "ca_certificates",
                Field::array(Field::string().v(Validator::Uuid)),
            ),
            ("enabled", Field::boolean().required().default(json!(true))),
        ],
        entity_checks: vec![
            when_protocol(
                FieldPatch::with(Validator::OneOf(
                    ["tcp", "tls", "udp", "grpc", "grpcs"]
                        .iter()
                        .map(|s| json!(s))
                        .collect(),
                )),
                "path",
            ),
            when_protocol(not_tls(), "client_certificate"),
            when_protocol(not_tls(), "tls_verify"),
            when_protocol(not_tls(), "tls_verify_depth"),
            when_protocol(not_tls(), "ca_certificates"),
        ],
        shorthand_fields: vec![(
            "url",
            Shorthand {
                field: Field::string(),
                expand: expand_url,
            },
        )],
        ..Schema::default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn luasocket_url_parsing() {
        let p = parse_url("https://user@example.com:8443/a/b?q=1#f");
        assert_eq!(p.scheme.as_deref(), Some("https"));
        assert_eq!(p.host.as_deref(), Some("example.com"));
        assert_eq!(p.port.as_deref(), Some("8443"));
        assert_eq!(p.path.as_deref(), Some("/a/b"));
        let p = parse_url("http://[::1]:80");
        assert_eq!(
            (p.host.as_deref(), p.port.as_deref()),
            (Some("::1"), Some("80"))
        );
        // LuaSocket quirk: "host:port" without scheme reads "host" as the scheme
        let p = parse_url("localhost:8080");
        assert_eq!(
            (p.scheme.as_deref(), p.path.as_deref()),
            (Some("localhost"), Some("8080"))
        );
    }

    #[test]
    fn url_expansion_defaults_ports() {
        let m = expand_url(&json!("https://example.com")).unwrap();
        assert_eq!(m["port"], json!(443));
        assert_eq!(m["path"], Value::Null);
        let m = expand_url(&json!("grpc://example.com")).unwrap();
        assert_eq!(m["port"], json!(80));
    }
}
