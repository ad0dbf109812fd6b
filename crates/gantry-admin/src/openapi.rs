//! The OpenAPI 3 description of the Admin API, generated from the same route
//! table the router serves (so every route is described) and the entity
//! schemas (one component schema per entity).

use gantry_core::schema::{Field, FieldType, Schema};
use gantry_core::schemas::Schemas;
use http::Method;
use serde_json::{Map, Value, json};

use crate::routes::{Op, RouteSpec};

/// Path parameter names of an axum path (`/services/{services}` → `services`).
pub fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

fn field_schema(f: &Field) -> Value {
    let mut m = Map::new();
    match f.typ {
        FieldType::String => {
            m.insert("type".into(), json!("string"));
        }
        FieldType::Integer => {
            m.insert("type".into(), json!("integer"));
        }
        FieldType::Number => {
            m.insert("type".into(), json!("number"));
        }
        FieldType::Boolean => {
            m.insert("type".into(), json!("boolean"));
        }
        FieldType::Array | FieldType::Set => {
            m.insert("type".into(), json!("array"));
            let items = f
                .elements
                .as_deref()
                .map_or_else(|| json!({}), field_schema);
            m.insert("items".into(), items);
        }
        FieldType::Map => {
            m.insert("type".into(), json!("object"));
            let values = f.values.as_deref().map_or_else(|| json!({}), field_schema);
            m.insert("additionalProperties".into(), values);
        }
        FieldType::Record => match &f.record {
            Some(r) => return object_schema(r),
            None => {
                m.insert("type".into(), json!("object"));
            }
        },
        FieldType::Foreign => {
            m.insert("type".into(), json!("object"));
            m.insert(
                "properties".into(),
                json!({"id": {"type": "string", "format": "uuid"}}),
            );
        }
        FieldType::Object | FieldType::Any => {
            m.insert("type".into(), json!("object"));
        }
    }
    if let Some(d) = &f.default {
        m.insert("default".into(), d.clone());
    }
    if let Some(d) = f.description {
        m.insert("description".into(), json!(d));
    }
    if !f.required && f.typ != FieldType::Record {
        m.insert("nullable".into(), json!(true));
    }
    Value::Object(m)
}

fn object_schema(s: &Schema) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for (name, f) in &s.fields {
        props.insert((*name).to_string(), field_schema(f));
        if f.required && f.default.is_none() && !f.auto {
            required.push(json!(name));
        }
    }
    let mut m = Map::new();
    m.insert("type".into(), json!("object"));
    m.insert("properties".into(), Value::Object(props));
    if !required.is_empty() {
        m.insert("required".into(), Value::Array(required));
    }
    Value::Object(m)
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn response(desc: &str, schema: Option<Value>) -> Value {
    let mut m = Map::new();
    m.insert("description".into(), json!(desc));
    if let Some(s) = schema {
        m.insert("content".into(), json_content(s));
    }
    Value::Object(m)
}

fn is_list(op: Op) -> bool {
    matches!(
        op,
        Op::Collection(_) | Op::NestedCollection(_) | Op::TargetsAll
    )
}

fn operation(r: &RouteSpec, method: &Method) -> Value {
    let entity_ref = r.entity.map(reference);
    let mut responses = Map::new();
    match *method {
        Method::POST if matches!(r.op, Op::Config) => {
            responses.insert("201".into(), response("Configuration loaded", None));
            responses.insert(
                "304".into(),
                response("Configuration unchanged (check_hash)", None),
            );
        }
        Method::POST if is_list(r.op) => {
            responses.insert("201".into(), response("Created", entity_ref.clone()));
        }
        Method::DELETE => {
            responses.insert("204".into(), response("Deleted", None));
        }
        Method::GET if is_list(r.op) => {
            let page = json!({
                "type": "object",
                "properties": {
                    "data": {"type": "array", "items": entity_ref.clone().unwrap_or_else(|| json!({}))},
                    "next": {"type": "string", "nullable": true},
                    "offset": {"type": "string"},
                },
            });
            responses.insert("200".into(), response("One page", Some(page)));
        }
        _ => {
            let body = if matches!(
                r.op,
                Op::Entity(_) | Op::NestedEntity(_) | Op::ParentEntity(_)
            ) {
                entity_ref.clone()
            } else {
                Some(json!({"type": "object"}))
            };
            responses.insert("200".into(), response("OK", body));
        }
    }
    responses.insert(
        "400".into(),
        json!({"$ref": "#/components/responses/BadRequest"}),
    );
    responses.insert(
        "404".into(),
        json!({"$ref": "#/components/responses/NotFound"}),
    );
    if matches!(*method, Method::POST | Method::PUT | Method::PATCH) && r.entity.is_some() {
        responses.insert(
            "409".into(),
            json!({"$ref": "#/components/responses/Conflict"}),
        );
    }
    let mut op = Map::new();
    op.insert("summary".into(), json!(r.summary));
    op.insert(
        "operationId".into(),
        json!(format!(
            "{}{}",
            method.as_str().to_lowercase(),
            r.path.replace(['/', '{', '}', '-', '.'], "_")
        )),
    );
    let params: Vec<Value> = path_params(&r.path)
        .into_iter()
        .map(|p| {
            json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"},
            "description": "id (UUID) or endpoint key"})
        })
        .collect();
    let mut params = params;
    if *method == Method::GET && is_list(r.op) {
        for p in ["size", "offset", "tags"] {
            params.push(json!({ "$ref": format!("#/components/parameters/{p}") }));
        }
    }
    if !params.is_empty() {
        op.insert("parameters".into(), Value::Array(params));
    }
    if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        let schema = entity_ref.unwrap_or_else(|| json!({"type": "object"}));
        op.insert(
            "requestBody".into(),
            json!({
                "description": "JSON, or form-urlencoded / multipart with dotted keys",
                "content": {"application/json": {"schema": schema}},
            }),
        );
    }
    op.insert("responses".into(), Value::Object(responses));
    Value::Object(op)
}

/// The OpenAPI 3.0 document for a route table.
pub fn document(routes: &[RouteSpec], schemas: &Schemas, version: &str) -> Value {
    let mut paths = Map::new();
    for r in routes {
        let mut item = Map::new();
        for m in &r.methods {
            item.insert(m.as_str().to_lowercase(), operation(r, m));
        }
        paths.insert(r.path.clone(), Value::Object(item));
    }
    let mut components = Map::new();
    for s in schemas.all() {
        components.insert(s.name.to_string(), object_schema(s));
    }
    components.insert(
        "Error".into(),
        json!({"type": "object", "properties": {
            "message": {"type": "string"},
            "code": {"type": "integer"},
            "name": {"type": "string"},
            "fields": {"type": "object"},
        }, "required": ["message"]}),
    );
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Gantry Admin API (Kong-compatible)",
            "version": version,
            "description": "Kong Gateway 3.x Admin API served by Gantry. Every path also accepts a trailing '/', HEAD where GET is served, and OPTIONS (CORS preflight).",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": {
                "BadRequest": response("Invalid request (Kong error body)", Some(reference("Error"))),
                "NotFound": response("Not found", Some(reference("Error"))),
                "Conflict": response("Unique constraint violation", Some(reference("Error"))),
            },
            "parameters": {
                "size": {"name": "size", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
                "offset": {"name": "offset", "in": "query", "schema": {"type": "string"}},
                "tags": {"name": "tags", "in": "query", "schema": {"type": "string"}, "description": "a,b (all) or a/b (any), at most 5"},
            },
        },
    })
}
