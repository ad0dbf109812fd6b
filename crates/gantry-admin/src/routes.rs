//! The one route table of the Admin API. The axum router, `/endpoints` and the
//! OpenAPI document are all generated from [`route_table`], so a route cannot be
//! served without being described. Entity endpoints are derived from the
//! schemas' foreign-key relations the way Kong's `kong/api/endpoints.lua` does.

use gantry_core::schemas::{Relation, Schemas};
use http::Method;

use crate::entities::{self, ADMIN_ENTITIES};

/// What a route does; the dispatcher maps each variant to one handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `GET /` node information.
    Root,
    /// `GET /status`.
    Status,
    /// `GET /endpoints`.
    Endpoints,
    /// `GET /openapi.json`.
    OpenApi,
    /// `GET /schemas/{name}`.
    Schema,
    /// `POST /schemas/{name}/validate`.
    SchemaValidate,
    /// `GET /schemas/plugins/{name}`.
    PluginSchema,
    /// `POST /schemas/plugins/validate`.
    PluginSchemaValidate,
    /// `GET /plugins/schema/{name}` (deprecated: the `config` record only).
    PluginConfigSchema,
    /// `GET /plugins/enabled`.
    PluginsEnabled,
    /// `GET /tags`.
    Tags,
    /// `GET /tags/{tags}`.
    Tag,
    /// `GET|POST /config` (DB-less).
    Config,
    /// `GET|POST /{entity}`.
    Collection(&'static str),
    /// `GET|PUT|PATCH|DELETE /{entity}/{id-or-key}`.
    Entity(&'static str),
    /// `GET|POST /{parent}/{p}/{children}`.
    NestedCollection(Relation),
    /// `GET|PUT|PATCH|DELETE /{parent}/{p}/{children}/{c}`.
    NestedEntity(Relation),
    /// `GET|PUT|PATCH|DELETE /{child}/{c}/{fk}`: the entity a child points to.
    ParentEntity(Relation),
    /// `GET /upstreams/{upstreams}/targets/all`.
    TargetsAll,
    /// `GET /upstreams/{upstreams}/health`.
    UpstreamHealth,
    /// `PUT /upstreams/{upstreams}/targets/{targets}/healthy|unhealthy`.
    TargetHealth(bool),
    /// `PUT /upstreams/{upstreams}/targets/{targets}/{address}/healthy|unhealthy`.
    AddressHealth(bool),
    /// An endpoint Kong deactivates: every method answers 404.
    Disabled,
}

/// One path of the Admin API.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// axum path syntax (`/services/{services}/routes`), also what `/endpoints` lists.
    pub path: String,
    /// Methods served (HEAD and OPTIONS are implied).
    pub methods: Vec<Method>,
    /// The operation.
    pub op: Op,
    /// One-line description (OpenAPI `summary`).
    pub summary: String,
    /// Schema whose objects the route reads or writes, if any.
    pub entity: Option<&'static str>,
}

const READ: &[Method] = &[Method::GET];
const COLLECTION: &[Method] = &[Method::GET, Method::POST];
const ITEM: &[Method] = &[Method::GET, Method::PUT, Method::PATCH, Method::DELETE];
const ALL: &[Method] = &[
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

fn spec(
    path: impl Into<String>,
    methods: &[Method],
    op: Op,
    summary: impl Into<String>,
) -> RouteSpec {
    RouteSpec {
        path: path.into(),
        methods: methods.to_vec(),
        op,
        summary: summary.into(),
        entity: None,
    }
}

fn with_entity(mut s: RouteSpec, entity: &'static str) -> RouteSpec {
    s.entity = Some(entity);
    s
}

/// Every route of the Admin API for a schema set.
pub fn route_table(schemas: &Schemas) -> Vec<RouteSpec> {
    let mut out = vec![
        spec("/", READ, Op::Root, "Node information"),
        spec("/status", READ, Op::Status, "Node status"),
        spec(
            "/endpoints",
            READ,
            Op::Endpoints,
            "List of Admin API endpoints",
        ),
        spec(
            "/openapi.json",
            READ,
            Op::OpenApi,
            "OpenAPI description of this API",
        ),
        spec("/schemas/{name}", READ, Op::Schema, "Schema of an entity"),
        spec(
            "/schemas/{name}/validate",
            &[Method::POST],
            Op::SchemaValidate,
            "Validate an entity against its schema",
        ),
        spec(
            "/schemas/plugins/{name}",
            READ,
            Op::PluginSchema,
            "Schema of a plugin",
        ),
        spec(
            "/schemas/plugins/validate",
            &[Method::POST],
            Op::PluginSchemaValidate,
            "Validate a plugin configuration",
        ),
        spec(
            "/plugins/schema/{name}",
            READ,
            Op::PluginConfigSchema,
            "Config schema of a plugin (deprecated)",
        ),
        spec(
            "/plugins/enabled",
            READ,
            Op::PluginsEnabled,
            "Plugins enabled on this node",
        ),
        spec("/tags", READ, Op::Tags, "Tagged entities"),
        spec("/tags/{tags}", READ, Op::Tag, "Entities with one tag"),
        spec(
            "/config",
            COLLECTION,
            Op::Config,
            "Declarative configuration (DB-less)",
        ),
        with_entity(
            spec(
                "/upstreams/{upstreams}/targets/all",
                READ,
                Op::TargetsAll,
                "All targets of an upstream, including weight 0",
            ),
            "targets",
        ),
        spec(
            "/upstreams/{upstreams}/health",
            READ,
            Op::UpstreamHealth,
            "Health of an upstream's targets (?balancer_health=1: of the balancer)",
        ),
        spec(
            "/upstreams/{upstreams}/targets/{targets}/healthy",
            &[Method::PUT],
            Op::TargetHealth(true),
            "Force a target healthy",
        ),
        spec(
            "/upstreams/{upstreams}/targets/{targets}/unhealthy",
            &[Method::PUT],
            Op::TargetHealth(false),
            "Force a target unhealthy",
        ),
        spec(
            "/upstreams/{upstreams}/targets/{targets}/{address}/healthy",
            &[Method::PUT],
            Op::AddressHealth(true),
            "Force one address of a target healthy",
        ),
        spec(
            "/upstreams/{upstreams}/targets/{targets}/{address}/unhealthy",
            &[Method::PUT],
            Op::AddressHealth(false),
            "Force one address of a target unhealthy",
        ),
    ];
    let relations: Vec<Relation> = schemas
        .relations()
        .into_iter()
        .filter(|r| {
            entities::by_schema(r.child).is_some() && entities::by_schema(r.parent).is_some()
        })
        .collect();
    for a in ADMIN_ENTITIES {
        if schemas.get(a.schema).is_none() {
            continue;
        }
        let (coll, item) = if entities::top_level_disabled(a.schema) {
            (Op::Disabled, Op::Disabled)
        } else {
            (Op::Collection(a.schema), Op::Entity(a.schema))
        };
        let methods = |op: Op, m| if op == Op::Disabled { ALL } else { m };
        out.push(with_entity(
            spec(
                format!("/{}", a.admin),
                methods(coll, COLLECTION),
                coll,
                format!("{} collection", a.schema),
            ),
            a.schema,
        ));
        out.push(with_entity(
            spec(
                format!("/{}/{{{}}}", a.admin, a.schema),
                methods(item, ITEM),
                item,
                format!("One {} entity by id or endpoint key", a.schema),
            ),
            a.schema,
        ));
        for r in relations.iter().filter(|r| r.child == a.schema) {
            let Some(p) = entities::by_schema(r.parent) else {
                continue;
            };
            let op = if entities::parent_endpoint_disabled(r.child, r.field) {
                Op::Disabled
            } else {
                Op::ParentEntity(*r)
            };
            out.push(with_entity(
                spec(
                    format!("/{}/{{{}}}/{}", a.admin, a.schema, r.field),
                    methods(op, ITEM),
                    op,
                    format!("The {} a {} entity points to", r.parent, a.schema),
                ),
                r.parent,
            ));
            out.push(with_entity(
                spec(
                    format!("/{}/{{{}}}/{}", p.admin, p.schema, a.nested),
                    COLLECTION,
                    Op::NestedCollection(*r),
                    format!("{} of a {} entity", a.schema, p.schema),
                ),
                a.schema,
            ));
            out.push(with_entity(
                spec(
                    format!(
                        "/{}/{{{}}}/{}/{{{}}}",
                        p.admin, p.schema, a.nested, a.schema
                    ),
                    ITEM,
                    Op::NestedEntity(*r),
                    format!("One {} entity of a {} entity", a.schema, p.schema),
                ),
                a.schema,
            ));
        }
    }
    out
}

/// `Allow` value for a route: its methods plus HEAD and OPTIONS, sorted.
pub fn allow_header(methods: &[Method]) -> String {
    let mut names: Vec<&str> = methods.iter().map(Method::as_str).collect();
    if methods.contains(&Method::GET) {
        names.push("HEAD");
    }
    names.push("OPTIONS");
    names.sort_unstable();
    names.dedup();
    names.join(", ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn table_has_kong_paths() {
        let t = route_table(gantry_core::schemas::bundled());
        let paths: Vec<&str> = t.iter().map(|r| r.path.as_str()).collect();
        for p in [
            "/services/{services}/routes",
            "/services/{services}/routes/{routes}",
            "/routes/{routes}/service",
            "/consumers/{consumers}/key-auth/{keyauth_credentials}",
            "/key-auths/{keyauth_credentials}/consumer",
            "/upstreams/{upstreams}/targets/{targets}",
            "/certificates/{certificates}/snis",
            "/plugins/{plugins}/route",
            "/targets",
        ] {
            assert!(paths.contains(&p), "{p} missing");
        }
        let mut dedup = paths.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), paths.len(), "duplicate paths");
    }

    #[test]
    fn allow_is_sorted() {
        assert_eq!(allow_header(COLLECTION), "GET, HEAD, OPTIONS, POST");
    }
}
