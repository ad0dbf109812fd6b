//! Entity endpoints generated from the schemas' relations, as Kong's
//! `kong/api/endpoints.lua` generates them: collections, items, nested
//! collections and items under a parent, and the parent of a child.

use axum::response::Response;
use gantry_core::schemas::Relation;
use serde_json::{Map, Value};

use crate::certs;
use crate::crud::{self, Parent};
use crate::entities;
use crate::error::{ApiError, ApiResult};
use crate::paging::{self, Query};
use crate::resolve::{self, Key, fk_id, id_of, key_for};
use crate::response::{created, no_content, ok};
use crate::state::AdminState;

/// A request to an entity endpoint, already taken apart.
#[derive(Debug)]
pub struct EntityRequest<'a> {
    /// Shared state.
    pub state: &'a AdminState,
    /// HTTP method.
    pub method: &'a http::Method,
    /// Path parameters (percent-decoded) by name.
    pub params: &'a Map<String, Value>,
    /// Raw (still escaped) path segments, for `next` links.
    pub raw_segments: &'a [String],
    /// Query string.
    pub query: &'a Query,
    /// Request headers.
    pub headers: &'a http::HeaderMap,
    /// Request body.
    pub body: bytes::Bytes,
}

impl EntityRequest<'_> {
    fn param(&self, name: &str) -> ApiResult<&str> {
        self.params
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(ApiError::not_found)
    }

    async fn body_for(
        &self,
        entity: &str,
        existing: Option<&Value>,
    ) -> ApiResult<Map<String, Value>> {
        let schema = self
            .state
            .schemas
            .get(entity)
            .ok_or_else(|| ApiError::unexpected(format!("no schema {entity}")))?;
        let existing = existing.and_then(Value::as_object);
        crate::body::entity_body(self.headers, self.body.clone(), schema, existing).await
    }
}

fn admin_name(entity: &str) -> &str {
    entities::by_schema(entity).map_or(entity, |a| a.admin)
}

fn nested_name(entity: &str) -> &str {
    entities::by_schema(entity).map_or(entity, |a| a.nested)
}

/// `GET|POST /{entity}`.
pub async fn collection(req: &EntityRequest<'_>, entity: &'static str) -> ApiResult<Response> {
    match *req.method {
        http::Method::POST => {
            let body = req.body_for(entity, None).await?;
            let v = crud::create(req.state, entity, body, None).await?;
            Ok(created(&v))
        }
        _ => list(req, entity, None).await,
    }
}

async fn list(
    req: &EntityRequest<'_>,
    entity: &'static str,
    parent: Option<(Parent, &str, &str)>,
) -> ApiResult<Response> {
    // `GET /consumers?custom_id=x` is an exact lookup
    if entity == "consumers"
        && parent.is_none()
        && let Some(cid) = req.query.get("custom_id")
    {
        if cid.is_empty() {
            return Err(ApiError::bad_request("custom_id must be an unempty string"));
        }
        let found = req
            .state
            .store
            .find_unique("consumers", "custom_id", &Value::String(cid.to_string()))
            .await?;
        let data: Vec<Value> = found.into_iter().collect();
        return Ok(ok(&paging::page_body(data, None, None)));
    }
    let mut args = paging::page_args(req.query)?;
    if let Some((p, _, _)) = parent {
        args.query.foreign = Some((p.field.to_string(), p.id));
    }
    let mut page = req.state.store.list(entity, &args.query).await?;
    if entity == "certificates" {
        let mut items = Vec::with_capacity(page.items.len());
        for c in page.items {
            items.push(certs::with_names(req.state, c).await?);
        }
        page.items = items;
    }
    let next = page.offset.as_deref().map(|o| match parent {
        Some((_, parent_admin, raw)) => {
            paging::next_nested(parent_admin, raw, nested_name(entity), o)
        }
        None => paging::next_top(admin_name(entity), o, &args),
    });
    Ok(ok(&paging::page_body(
        page.items,
        page.offset.as_deref(),
        next,
    )))
}

/// `GET|PUT|PATCH|DELETE /{entity}/{key}`.
pub async fn item(req: &EntityRequest<'_>, entity: &'static str) -> ApiResult<Response> {
    let seg = req.param(entity)?;
    let state = req.state;
    let existing = resolve::find(state, entity, seg).await?;
    match *req.method {
        http::Method::PUT => {
            let mut body = req.body_for(entity, None).await?;
            let key = key_for(state, entity, seg);
            if entity == "certificates" && key == Key::Invalid {
                // addressed by SNI name: that SNI stays (or becomes) attached
                let mut names = match body.remove("snis") {
                    Some(Value::Array(a)) => a,
                    _ => Vec::new(),
                };
                if !names.iter().any(|n| n.as_str() == Some(seg)) {
                    names.push(Value::String(seg.to_string()));
                }
                body.insert("snis".into(), Value::Array(names));
            }
            let key = match (&existing, key) {
                (Some(e), Key::Invalid) => id_of(e).map_or(Key::Invalid, Key::Id),
                (None, Key::Invalid) if entity == "certificates" => Key::Id(uuid::Uuid::new_v4()),
                (_, k) => k,
            };
            let v = crud::upsert(state, entity, &key, seg, existing.as_ref(), body, None).await?;
            Ok(ok(&v))
        }
        http::Method::PATCH => {
            let Some(existing) = existing else {
                if entity == "certificates" && !gantry_core::schema::is_uuid(seg) {
                    return Err(ApiError::Message(
                        http::StatusCode::NOT_FOUND,
                        "SNI not found".into(),
                    ));
                }
                return Err(ApiError::dao_not_found(
                    &key_for(state, entity, seg).as_map(seg),
                ));
            };
            let body = req.body_for(entity, Some(&existing)).await?;
            let v = crud::update(state, entity, &existing, body).await?;
            Ok(ok(&v))
        }
        http::Method::DELETE => {
            if let Some(existing) = existing {
                crud::delete(state, entity, &existing).await?;
            }
            Ok(no_content())
        }
        _ => match existing {
            Some(v) if entity == "certificates" => Ok(ok(&certs::with_names(state, v).await?)),
            Some(v) => Ok(ok(&v)),
            None if entity == "certificates" && !gantry_core::schema::is_uuid(seg) => Err(
                ApiError::Message(http::StatusCode::NOT_FOUND, "SNI not found".into()),
            ),
            None => Err(ApiError::not_found()),
        },
    }
}

async fn parent_of(req: &EntityRequest<'_>, rel: &Relation) -> ApiResult<(Parent, String)> {
    let seg = req.param(rel.parent)?;
    let parent = resolve::find(req.state, rel.parent, seg)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let id = id_of(&parent).ok_or_else(ApiError::not_found)?;
    // the `next` link repeats the parent segment as given in the URL
    let raw = req
        .raw_segments
        .get(1)
        .cloned()
        .unwrap_or_else(|| seg.to_string());
    Ok((
        Parent {
            field: rel.field,
            id,
        },
        raw,
    ))
}

/// `GET|POST /{parent}/{p}/{children}`.
pub async fn nested_collection(req: &EntityRequest<'_>, rel: &Relation) -> ApiResult<Response> {
    let (parent, raw) = parent_of(req, rel).await?;
    let child = entity_name(rel.child)?;
    match *req.method {
        http::Method::POST => {
            let body = req.body_for(child, None).await?;
            let v = crud::create(req.state, child, body, Some(parent)).await?;
            Ok(created(&v))
        }
        _ => list(req, child, Some((parent, admin_name(rel.parent), &raw))).await,
    }
}

/// `GET|PUT|PATCH|DELETE /{parent}/{p}/{children}/{c}`.
pub async fn nested_item(req: &EntityRequest<'_>, rel: &Relation) -> ApiResult<Response> {
    let (parent, _) = parent_of(req, rel).await?;
    let child = entity_name(rel.child)?;
    let seg = req.param(rel.child)?;
    let state = req.state;
    let existing = resolve::find_child(state, child, rel.field, parent.id, seg).await?;
    match *req.method {
        http::Method::PUT if child == "targets" => {
            // PUT on a target updates it (Kong treats PUT like PATCH here)
            let existing = existing.ok_or_else(ApiError::not_found)?;
            let body = req.body_for(child, Some(&existing)).await?;
            let v = crud::update(state, child, &existing, body).await?;
            Ok(ok(&v))
        }
        http::Method::PUT => {
            let body = req.body_for(child, None).await?;
            let anywhere = match &existing {
                Some(e) => Some(e.clone()),
                None => resolve::find(state, child, seg).await?,
            };
            let key = match key_for(state, child, seg) {
                Key::Invalid if child == "acls" => {
                    Key::Endpoint("group", Value::String(seg.to_string()))
                }
                k => k,
            };
            let v = crud::upsert(
                state,
                child,
                &key,
                seg,
                anywhere.as_ref(),
                body,
                Some(parent),
            )
            .await?;
            Ok(ok(&v))
        }
        http::Method::PATCH => {
            let existing = existing.ok_or_else(ApiError::not_found)?;
            let mut body = req.body_for(child, Some(&existing)).await?;
            if !body.contains_key(rel.field) {
                body.insert(
                    rel.field.to_string(),
                    serde_json::json!({ "id": parent.id.to_string() }),
                );
            }
            let v = crud::update(state, child, &existing, body).await?;
            Ok(ok(&v))
        }
        http::Method::DELETE => {
            let existing = existing.ok_or_else(ApiError::not_found)?;
            crud::delete(state, child, &existing).await?;
            Ok(no_content())
        }
        _ => existing.map(|v| ok(&v)).ok_or_else(ApiError::not_found),
    }
}

/// `GET|PUT|PATCH|DELETE /{child}/{c}/{fk}`.
pub async fn parent_entity(req: &EntityRequest<'_>, rel: &Relation) -> ApiResult<Response> {
    let child_entity = entity_name(rel.child)?;
    let parent_entity = entity_name(rel.parent)?;
    let seg = req.param(rel.child)?;
    let state = req.state;
    let child = resolve::find(state, child_entity, seg)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let linked = match fk_id(&child, rel.field) {
        Some(pid) => state.store.get(parent_entity, pid).await?,
        None => None,
    };
    match *req.method {
        http::Method::PUT => {
            let body = req.body_for(parent_entity, None).await?;
            let v = crud::put_parent(state, child_entity, rel.field, parent_entity, &child, body)
                .await?;
            Ok(ok(&v))
        }
        http::Method::PATCH => {
            let existing = linked.ok_or_else(ApiError::not_found)?;
            let body = req.body_for(parent_entity, Some(&existing)).await?;
            let v = crud::update(state, parent_entity, &existing, body).await?;
            Ok(ok(&v))
        }
        http::Method::DELETE => {
            linked.ok_or_else(ApiError::not_found)?;
            Err(ApiError::method_not_allowed())
        }
        _ => linked.map(|v| ok(&v)).ok_or_else(ApiError::not_found),
    }
}

/// `GET /upstreams/{upstreams}/targets/all`: every target, weight 0 included.
pub async fn targets_all(req: &EntityRequest<'_>) -> ApiResult<Response> {
    let rel = Relation {
        child: "targets",
        field: "upstream",
        parent: "upstreams",
    };
    let (parent, raw) = parent_of(req, &rel).await?;
    let mut args = paging::page_args(req.query)?;
    args.query.foreign = Some((parent.field.to_string(), parent.id));
    let page = req.state.store.list("targets", &args.query).await?;
    let next = page
        .offset
        .as_deref()
        .map(|o| paging::next_nested("upstreams", &raw, "targets/all", o));
    Ok(ok(&paging::page_body(
        page.items,
        page.offset.as_deref(),
        next,
    )))
}

/// A relation's entity names are `'static` schema names already.
fn entity_name(name: &'static str) -> ApiResult<&'static str> {
    Ok(name)
}
