//! The `upstreams` schema with its `healthchecks` record, and `targets`
//! (kong/db/schema/entities/upstreams.lua, targets.lua).

use serde_json::{Map, Value, json};

use crate::schema::net;
use crate::schema::typedefs as t;
use crate::schema::{
    Conditional, EntityCheck, Field, FieldPatch, Pattern, Schema, Shorthand, Validator,
};

const HASH_ON: [&str; 8] = [
    "none",
    "consumer",
    "ip",
    "header",
    "cookie",
    "path",
    "query_arg",
    "uri_capture",
];

fn validate_name(v: &Value) -> Result<(), String> {
    let name = v.as_str().unwrap_or_default();
    match net::normalize_ip(name) {
        Err(_) => Err(format!("Invalid name ('{name}'); must be a valid hostname")),
        Ok(h) if h.kind != net::HostKind::Name => {
            Err(format!("Invalid name ('{name}'); no ip addresses allowed"))
        }
        Ok(h) if h.port.is_some() => Err(format!("Invalid name ('{name}'); no port allowed")),
        Ok(_) => Ok(()),
    }
}

fn hash_on() -> Field {
    Field::string().default(json!("none")).one_of(&HASH_ON)
}

fn seconds(default: i64) -> Field {
    Field::number()
        .between(0.0, 65535.0)
        .default(json!(default))
}

fn counter() -> Field {
    Field::integer().between(0.0, 255.0).default(json!(0))
}

fn statuses(default: &[u16]) -> Field {
    Field::array(Field::integer().between(100.0, 999.0)).default(json!(default))
}

fn record_with_default(fields: Vec<(&'static str, Field)>) -> Field {
    let rec = Schema::record(fields);
    let default = defaults_of(&rec);
    Field::record(rec).default(default)
}

/// The default object of a record: every field's default (fields without one
/// are left out, as Kong's `NO_DEFAULT` entries are).
fn defaults_of(rec: &Schema) -> Value {
    let mut m = Map::new();
    for (name, f) in &rec.fields {
        if let Some(d) = &f.default {
            m.insert((*name).to_string(), d.clone());
        }
    }
    Value::Object(m)
}

fn healthchecks() -> Field {
    let active = record_with_default(vec![
        (
            "type",
            Field::string()
                .one_of(&["tcp", "http", "https", "grpc", "grpcs"])
                .default(json!("http")),
        ),
        ("timeout", seconds(1)),
        (
            "concurrency",
            Field::integer()
                .between(1.0, 2_147_483_648.0)
                .default(json!(10)),
        ),
        ("http_path", t::path().default(json!("/"))),
        ("https_sni", t::sni()),
        (
            "https_verify_certificate",
            Field::boolean().default(json!(true)),
        ),
        ("headers", t::headers()),
        (
            "healthy",
            record_with_default(vec![
                ("interval", seconds(0)),
                ("http_statuses", statuses(&[200, 302])),
                ("successes", counter()),
            ]),
        ),
        (
            "unhealthy",
            record_with_default(vec![
                ("interval", seconds(0)),
                (
                    "http_statuses",
                    statuses(&[429, 404, 500, 501, 502, 503, 504, 505]),
                ),
                ("tcp_failures", counter()),
                ("timeouts", counter()),
                ("http_failures", counter()),
            ]),
        ),
    ]);
    let passive = record_with_default(vec![
        (
            "type",
            Field::string()
                .one_of(&["tcp", "http", "https", "grpc", "grpcs"])
                .default(json!("http")),
        ),
        (
            "healthy",
            record_with_default(vec![
                (
                    "http_statuses",
                    statuses(&[
                        200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304,
                        305, 306, 307, 308,
                    ]),
                ),
                ("successes", counter()),
            ]),
        ),
        (
            "unhealthy",
            record_with_default(vec![
                ("http_statuses", statuses(&[429, 500, 503])),
                ("tcp_failures", counter()),
                ("timeouts", counter()),
                ("http_failures", counter()),
            ]),
        ),
    ]);
    record_with_default(vec![
        ("active", active),
        ("passive", passive),
        (
            "threshold",
            Field::number().between(0.0, 100.0).default(json!(0)),
        ),
    ])
}

fn is_value(expected: &'static str) -> FieldPatch {
    // Kong writes these as Lua patterns `^header$`; the test is an equality.
    let test: fn(&str) -> bool = match expected {
        "header" => |s| s == "header",
        "cookie" => |s| s == "cookie",
        "none" => |s| s == "none",
        "consumer" => |s| s == "consumer",
        "ip" => |s| s == "ip",
        "path" => |s| s == "path",
        "query_arg" => |s| s == "query_arg",
        _ => |s| s == "uri_capture",
    };
    let lua = match expected {
        "header" => "^header$",
        "cookie" => "^cookie$",
        "none" => "^none$",
        "consumer" => "^consumer$",
        "ip" => "^ip$",
        "path" => "^path$",
        "query_arg" => "^query_arg$",
        _ => "^uri_capture$",
    };
    FieldPatch::with(Validator::Match(Pattern { lua, test }))
}

fn cond(
    if_field: &'static str,
    value: &'static str,
    then_field: &'static str,
    then_match: FieldPatch,
) -> EntityCheck {
    EntityCheck::Conditional(Conditional {
        if_field,
        if_match: is_value(value),
        then_field,
        then_match,
        then_err: None,
    })
}

fn fallback_one_of(list: &[&str]) -> FieldPatch {
    FieldPatch::with(Validator::OneOf(list.iter().map(|s| json!(s)).collect()))
}

fn expand_algorithm(v: &Value) -> Option<Map<String, Value>> {
    let mut m = Map::new();
    m.insert("algorithm".into(), v.clone());
    if matches!(v.as_str(), Some("least-connections" | "latency")) {
        m.insert("hash_on".into(), Value::Null);
    }
    Some(m)
}

fn expand_hash_on(v: &Value) -> Option<Map<String, Value>> {
    let mut m = Map::new();
    match v {
        Value::Null => {
            m.insert("hash_on".into(), json!("none"));
        }
        Value::String(s) if s == "none" => {
            m.insert("hash_on".into(), v.clone());
            m.insert("algorithm".into(), json!("round-robin"));
        }
        _ => {
            m.insert("hash_on".into(), v.clone());
            m.insert("algorithm".into(), json!("consistent-hashing"));
        }
    }
    Some(m)
}

/// The `upstreams` schema.
pub fn schema() -> Schema {
    let simple_param = || Field::string().v(Validator::LenMin(1));
    Schema {
        name: "upstreams",
        primary_key: vec!["id"],
        endpoint_key: Some("name"),
        workspaceable: true,
        fields: vec![
            ("id", t::uuid()),
            ("created_at", t::auto_timestamp_s()),
            ("updated_at", t::auto_timestamp_s()),
            (
                "name",
                Field::string().required().unique().custom(validate_name),
            ),
            (
                "algorithm",
                Field::string().default(json!("round-robin")).one_of(&[
                    "consistent-hashing",
                    "least-connections",
                    "round-robin",
                    "latency",
                ]),
            ),
            ("hash_on", hash_on()),
            ("hash_fallback", hash_on()),
            ("hash_on_header", t::header_name()),
            ("hash_fallback_header", t::header_name()),
            ("hash_on_cookie", t::cookie_name()),
            ("hash_on_cookie_path", t::path().default(json!("/"))),
            ("hash_on_query_arg", simple_param()),
            ("hash_fallback_query_arg", simple_param()),
            ("hash_on_uri_capture", simple_param()),
            ("hash_fallback_uri_capture", simple_param()),
            (
                "slots",
                Field::integer()
                    .default(json!(10000))
                    .between(10.0, 65536.0),
            ),
            ("healthchecks", healthchecks()),
            ("tags", t::tags()),
            ("host_header", t::host_with_optional_port()),
            ("client_certificate", t::foreign("certificates")),
            ("use_srv_name", Field::boolean().default(json!(false))),
        ],
        entity_checks: vec![
            cond(
                "hash_on",
                "header",
                "hash_on_header",
                FieldPatch::required(),
            ),
            cond(
                "hash_fallback",
                "header",
                "hash_fallback_header",
                FieldPatch::required(),
            ),
            cond(
                "hash_on",
                "cookie",
                "hash_on_cookie",
                FieldPatch::required(),
            ),
            cond(
                "hash_fallback",
                "cookie",
                "hash_on_cookie",
                FieldPatch::required(),
            ),
            cond(
                "hash_on",
                "none",
                "hash_fallback",
                fallback_one_of(&["none"]),
            ),
            cond(
                "hash_on",
                "cookie",
                "hash_fallback",
                fallback_one_of(&["none"]),
            ),
            cond(
                "hash_on",
                "consumer",
                "hash_fallback",
                fallback_one_of(&[
                    "none",
                    "ip",
                    "header",
                    "cookie",
                    "path",
                    "query_arg",
                    "uri_capture",
                ]),
            ),
            cond(
                "hash_on",
                "ip",
                "hash_fallback",
                fallback_one_of(&[
                    "none",
                    "consumer",
                    "header",
                    "cookie",
                    "path",
                    "query_arg",
                    "uri_capture",
                ]),
            ),
            cond(
                "hash_on",
                "path",
                "hash_fallback",
                fallback_one_of(&[
                    "none",
                    "consumer",
                    "ip",
                    "header",
                    "cookie",
                    "query_arg",
                    "uri_capture",
                ]),
            ),
            cond(
                "hash_on",
                "query_arg",
                "hash_on_query_arg",
                FieldPatch::required(),
            ),
            cond(
                "hash_fallback",
                "query_arg",
                "hash_fallback_query_arg",
                FieldPatch::required(),
            ),
            EntityCheck::Distinct(vec!["hash_on_query_arg", "hash_fallback_query_arg"]),
            cond(
                "hash_on",
                "uri_capture",
                "hash_on_uri_capture",
                FieldPatch::required(),
            ),
            cond(
                "hash_fallback",
                "uri_capture",
                "hash_fallback_uri_capture",
                FieldPatch::required(),
            ),
            EntityCheck::Distinct(vec!["hash_on_uri_capture", "hash_fallback_uri_capture"]),
            EntityCheck::Distinct(vec!["hash_on_header", "hash_fallback_header"]),
        ],
        shorthand_fields: vec![
            (
                "algorithm",
                Shorthand {
                    field: Field::string(),
                    expand: expand_algorithm,
                },
            ),
            (
                "hash_on",
                Shorthand {
                    field: Field::string(),
                    expand: expand_hash_on,
                },
            ),
        ],
        ..Schema::default()
    }
}

fn validate_target(v: &Value) -> Result<(), String> {
    let target = v.as_str().unwrap_or_default();
    net::normalize_ip(target)
        .map(|_| ())
        .map_err(|_| format!("Invalid target ('{target}'); not a valid hostname or ip address"))
}

/// Kong's targets DAO `format_target`: `host:port`, port 8000 when omitted.
pub fn normalize_target(target: &str) -> Option<String> {
    net::normalize_ip(target)
        .ok()
        .map(|h| net::format_host(&h, Some(8000)))
}

fn normalize_target_entity(m: &mut Map<String, Value>) {
    if let Some(n) = m
        .get("target")
        .and_then(Value::as_str)
        .and_then(normalize_target)
    {
        m.insert("target".into(), Value::String(n));
    }
}

/// The `targets` schema.
pub fn target_schema() -> Schema {
    Schema {
        name: "targets",
        primary_key: vec!["id"],
        endpoint_key: Some("target"),
        cache_key: vec!["upstream", "target"],
        workspaceable: true,
        fields: vec![
            ("id", t::uuid()),
            ("created_at", t::auto_timestamp_ms()),
            ("updated_at", t::auto_timestamp_ms()),
            (
                "upstream",
                t::foreign("upstreams").required().on_delete("cascade"),
            ),
            ("target", Field::string().required().custom(validate_target)),
            (
                "weight",
                Field::integer().default(json!(100)).between(0.0, 65535.0),
            ),
            ("tags", t::tags()),
        ],
        normalize: Some(normalize_target_entity),
        ..Schema::default()
    }
}
