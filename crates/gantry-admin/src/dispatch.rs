//! The one axum handler behind every route: method checks (405, OPTIONS),
//! path parameters, query, body (size limit → 413), then the operation.

use axum::body::Body;
use axum::extract::{FromRequestParts, Path};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, Request, StatusCode, header};
use serde_json::{Map, Value};

use crate::endpoints::{self, EntityRequest};
use crate::error::{ApiError, ApiResult};
use crate::paging::Query;
use crate::routes::{Op, RouteSpec, allow_header};
use crate::state::AdminState;
use crate::{config, info, response};

/// Handles one request for one route.
pub async fn handle(state: AdminState, spec: &RouteSpec, req: Request<Body>) -> Response {
    match run(&state, spec, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn payload_too_large() -> ApiError {
    ApiError::Message(StatusCode::PAYLOAD_TOO_LARGE, "Payload too large".into())
}

async fn run(state: &AdminState, spec: &RouteSpec, req: Request<Body>) -> ApiResult<Response> {
    let method = req.method().clone();
    if spec.op == Op::Disabled {
        return Err(ApiError::not_found());
    }
    if method == Method::OPTIONS {
        let mut res = response::no_content();
        let allow = allow_header(&spec.methods);
        if let Ok(v) = HeaderValue::from_str(&allow) {
            res.headers_mut().insert(header::ALLOW, v.clone());
            res.headers_mut()
                .insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
        }
        return Ok(res);
    }
    let effective = if method == Method::HEAD {
        Method::GET
    } else {
        method
    };
    if !spec.methods.contains(&effective) {
        return Err(ApiError::method_not_allowed());
    }
    let (mut parts, body) = req.into_parts();
    let params: Map<String, Value> =
        match Path::<Vec<(String, String)>>::from_request_parts(&mut parts, &()).await {
            Ok(Path(p)) => p.into_iter().map(|(k, v)| (k, Value::String(v))).collect(),
            Err(_) => return Err(ApiError::bad_request("Invalid path parameter")),
        };
    let raw_segments: Vec<String> = parts
        .uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .map(str::to_string)
        .collect();
    let query = Query::parse(parts.uri.query());
    let limit = state.settings.body_limit;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(payload_too_large());
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| payload_too_large())?;
    let param = |name: &str| -> String {
        params
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match spec.op {
        Op::Root => info::root(state).await,
        Op::Status => info::status(state).await,
        Op::Endpoints => Ok(info::endpoints(state)),
        Op::OpenApi => Ok(response::ok(&crate::openapi::document(
            &state.routes,
            state.schemas,
            &state.node.version,
        ))),
        Op::Schema => info::schema(state, &param("name")),
        Op::SchemaValidate => info::validate(state, &param("name"), &parts.headers, bytes).await,
        Op::PluginSchema => info::plugin_schema(state, &param("name")),
        Op::PluginSchemaValidate => info::validate(state, "plugins", &parts.headers, bytes).await,
        Op::PluginConfigSchema => info::plugin_config_schema(state, &param("name")),
        Op::PluginsEnabled => Ok(info::plugins_enabled(state)),
        Op::Tags => info::tags(state, &query, None).await,
        Op::Tag => info::tags(state, &query, Some(&param("tags"))).await,
        Op::Config if effective == Method::POST => {
            config::post(state, &query, &parts.headers, bytes).await
        }
        Op::Config => config::get(state).await,
        Op::Disabled => Err(ApiError::not_found()),
        Op::UpstreamHealth => crate::health::get(state, &param("upstreams"), &query).await,
        Op::TargetHealth(up) => {
            crate::health::set(state, &param("upstreams"), &param("targets"), None, up).await
        }
        Op::AddressHealth(up) => {
            let address = param("address");
            crate::health::set(
                state,
                &param("upstreams"),
                &param("targets"),
                Some(&address),
                up,
            )
            .await
        }
        op => {
            let req = EntityRequest {
                state,
                method: &effective,
                params: &params,
                raw_segments: &raw_segments,
                query: &query,
                headers: &parts.headers,
                body: bytes,
            };
            match op {
                Op::Collection(e) => endpoints::collection(&req, e).await,
                Op::Entity(e) => endpoints::item(&req, e).await,
                Op::NestedCollection(r) => endpoints::nested_collection(&req, &r).await,
                Op::NestedEntity(r) => endpoints::nested_item(&req, &r).await,
                Op::ParentEntity(r) => endpoints::parent_entity(&req, &r).await,
                Op::TargetsAll => endpoints::targets_all(&req).await,
                _ => Err(ApiError::not_found()),
            }
        }
    }
}
