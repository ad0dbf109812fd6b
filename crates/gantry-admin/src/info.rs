//! Node-level endpoints: `/` (node information), `/status`, `/endpoints`,
//! `/plugins/enabled`, the `/schemas` family and `/tags`.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::response::Response;
use gantry_core::KongError;
use gantry_core::schema::ValidateOptions;
use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::body;
use crate::error::{ApiError, ApiResult};
use crate::paging::{self, Query};
use crate::response::ok;
use crate::state::AdminState;

/// Request counters shown by `/status`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests received.
    pub total: AtomicU64,
    /// Requests in flight.
    pub active: AtomicU64,
}

/// Kong's PRIORITY of each bundled plugin (kong-reference §6.0).
pub fn plugin_priority(name: &str) -> Option<i64> {
    Some(match name {
        "pre-function" => 1_000_000,
        "correlation-id" => 100_001,
        "zipkin" => 100_000,
        "bot-detection" => 2500,
        "cors" => 2000,
        "session" => 1900,
        "acme" => 1705,
        "jwt" => 1450,
        "oauth2" => 1400,
        "key-auth" => 1250,
        "ldap-auth" => 1200,
        "basic-auth" => 1100,
        "hmac-auth" => 1030,
        "grpc-gateway" => 998,
        "ip-restriction" => 990,
        "request-size-limiting" => 951,
        "acl" => 950,
        "rate-limiting" => 910,
        "response-ratelimiting" => 900,
        "request-transformer" => 801,
        "response-transformer" => 800,
        "redirect" => 779,
        "ai-request-transformer" => 777,
        "ai-prompt-template" => 773,
        "ai-prompt-decorator" => 772,
        "ai-prompt-guard" => 771,
        "ai-proxy" => 770,
        "ai-response-transformer" => 768,
        "standard-webhooks" => 760,
        "aws-lambda" => 750,
        "azure-functions" => 749,
        "proxy-cache" => 100,
        "opentelemetry" => 14,
        "prometheus" => 13,
        "http-log" => 12,
        "statsd" => 11,
        "datadog" => 10,
        "file-log" => 9,
        "udp-log" => 8,
        "tcp-log" => 7,
        "loggly" => 6,
        "syslog" => 4,
        "grpc-web" => 3,
        "request-termination" => 2,
        "post-function" => -1000,
        _ => return None,
    })
}

const SENSITIVE: [&str; 6] = [
    "password",
    "token",
    "secret",
    "_key",
    "declarative_config_string",
    "proxy_server",
];

/// The node configuration with sensitive values replaced by `******`.
pub fn redact(conf: &Map<String, Value>) -> Map<String, Value> {
    conf.iter()
        .map(|(k, v)| {
            let hidden = SENSITIVE.iter().any(|s| k.contains(s)) && !v.is_null();
            (k.clone(), if hidden { json!("******") } else { v.clone() })
        })
        .collect()
}

/// `GET /`.
pub async fn root(state: &AdminState) -> ApiResult<Response> {
    let mut available = Map::new();
    for name in state.schemas.catalog().names() {
        let mut p = Map::new();
        p.insert("version".into(), json!(state.node.version));
        if let Some(prio) = plugin_priority(name) {
            p.insert("priority".into(), json!(prio));
        }
        available.insert(name.to_string(), Value::Object(p));
    }
    let mut enabled: Vec<String> = Vec::new();
    let dump = state.store.dump().await?;
    for p in dump.get("plugins").into_iter().flatten() {
        if let Some(n) = p.get("name").and_then(Value::as_str)
            && !enabled.iter().any(|e| e == n)
        {
            enabled.push(n.to_string());
        }
    }
    enabled.sort();
    let pid = std::process::id();
    let mut conf = redact(&state.settings.configuration);
    conf.entry("database")
        .or_insert_with(|| json!(if state.dbless() { "off" } else { "sqlite" }));
    Ok(ok(&json!({
        "tagline": "Welcome to kong",
        "version": state.node.version,
        "edition": "community",
        "hostname": state.node.hostname,
        "node_id": state.node.node_id.to_string(),
        "timers": {"running": 0, "pending": 0},
        "plugins": {"available_on_server": available, "enabled_in_cluster": enabled},
        "lua_version": "LuaJIT 2.1.0-20231117",
        "configuration": conf,
        "pids": {"master": pid, "workers": [pid]},
    })))
}

/// `GET /status`.
pub async fn status(state: &AdminState) -> ApiResult<Response> {
    let total = state.stats.total.load(Ordering::Relaxed);
    let active = state.stats.active.load(Ordering::Relaxed);
    let mut body = json!({
        "server": {
            "connections_accepted": total,
            "connections_active": active,
            "connections_handled": total,
            "connections_reading": 0,
            "connections_waiting": 0,
            "connections_writing": active,
            "total_requests": total,
        },
        "memory": {
            "lua_shared_dicts": {},
            "workers_lua_vms": [{"pid": std::process::id(), "http_allocated_gc": "0.00 MiB"}],
        },
    });
    if let Value::Object(m) = &mut body {
        if state.dbless() {
            m.insert("configuration_hash".into(), json!(state.config_hash()));
        } else {
            let reachable = state
                .store
                .list(
                    "services",
                    &gantry_store::ListQuery {
                        size: 1,
                        ..Default::default()
                    },
                )
                .await
                .is_ok();
            m.insert("database".into(), json!({ "reachable": reachable }));
        }
    }
    Ok(ok(&body))
}

/// `GET /endpoints`: every route path, sorted.
pub fn endpoints(state: &AdminState) -> Response {
    let mut paths: Vec<&str> = state.routes.iter().map(|r| r.path.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    ok(&json!({ "data": paths }))
}

/// `GET /plugins/enabled`.
pub fn plugins_enabled(state: &AdminState) -> Response {
    let names: Vec<&str> = state.schemas.catalog().names().collect();
    ok(&json!({ "enabled_plugins": names }))
}

/// `GET /schemas/{name}`.
pub fn schema(state: &AdminState, name: &str) -> ApiResult<Response> {
    match state.schemas.get(name) {
        Some(s) => Ok(ok(&s.to_json())),
        None => Err(ApiError::Message(
            StatusCode::NOT_FOUND,
            format!("No entity named '{name}'"),
        )),
    }
}

/// `GET /schemas/plugins/{name}`.
pub fn plugin_schema(state: &AdminState, name: &str) -> ApiResult<Response> {
    match state.schemas.catalog().subschema(name) {
        Some(s) => Ok(ok(&s.to_json())),
        None => Err(ApiError::Message(
            StatusCode::NOT_FOUND,
            format!("No plugin named '{name}'"),
        )),
    }
}

/// `GET /plugins/schema/{name}` (deprecated): the `config` record only.
pub fn plugin_config_schema(state: &AdminState, name: &str) -> ApiResult<Response> {
    let Some(s) = state.schemas.catalog().subschema(name) else {
        return Err(ApiError::Message(
            StatusCode::NOT_FOUND,
            format!("No plugin named '{name}'"),
        ));
    };
    let full = s.to_json();
    let config = full
        .get("fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find_map(|f| f.get("config").cloned())
        .unwrap_or_else(|| json!({ "fields": [] }));
    Ok(ok(&config))
}

/// `POST /schemas/{name}/validate` and `POST /schemas/plugins/validate`.
pub async fn validate(
    state: &AdminState,
    entity: &str,
    headers: &http::HeaderMap,
    bytes: bytes::Bytes,
) -> ApiResult<Response> {
    let Some(schema) = state.schemas.get(entity) else {
        return Err(ApiError::Message(
            StatusCode::NOT_FOUND,
            format!("No entity named '{entity}'"),
        ));
    };
    let mut input = body::entity_body(headers, bytes, schema, None).await?;
    crate::resolve::resolve_foreign(state, entity, &mut input).await?;
    schema
        .validate(&Value::Object(input), &ValidateOptions::default())
        .map_err(KongError::schema_violation)?;
    Ok(ok(&json!({ "message": "schema validation successful" })))
}

/// `GET /tags` and `GET /tags/{tag}`: `{tag, entity_name, entity_id}` rows.
pub async fn tags(state: &AdminState, q: &Query, only: Option<&str>) -> ApiResult<Response> {
    let args = paging::page_args(q)?;
    let page = state.store.list_tags(only, &args.query).await?;
    let base = match only {
        Some(t) => format!("tags/{}", paging::escape_uri(t)),
        None => "tags".to_string(),
    };
    let next = page
        .offset
        .as_deref()
        .map(|o| paging::next_top(&base, o, &args));
    Ok(ok(&paging::page_body(
        page.items,
        page.offset.as_deref(),
        next,
    )))
}
