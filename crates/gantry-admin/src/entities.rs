//! Admin API names of the entities (`admin_api_name`, `admin_api_nested_name`)
//! and the lookups the endpoints need: which entity a URL segment names, and the
//! field an endpoint key addresses.

use gantry_core::schema::Schema;
use gantry_core::schemas::Schemas;

/// How one entity appears in the Admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminEntity {
    /// Schema (DB / declarative) name: `keyauth_credentials`.
    pub schema: &'static str,
    /// Collection path segment: `key-auths`.
    pub admin: &'static str,
    /// Segment when nested under a parent: `key-auth` (`/consumers/{c}/key-auth`).
    pub nested: &'static str,
}

/// Every entity the Admin API serves, in Kong's listing order.
pub const ADMIN_ENTITIES: [AdminEntity; 15] = [
    e("services", "services", "services"),
    e("routes", "routes", "routes"),
    e("consumers", "consumers", "consumers"),
    e("plugins", "plugins", "plugins"),
    e("upstreams", "upstreams", "upstreams"),
    e("targets", "targets", "targets"),
    e("certificates", "certificates", "certificates"),
    e("snis", "snis", "snis"),
    e("ca_certificates", "ca_certificates", "ca_certificates"),
    e("keyauth_credentials", "key-auths", "key-auth"),
    e("basicauth_credentials", "basic-auths", "basic-auth"),
    e("jwt_secrets", "jwts", "jwt"),
    e("hmacauth_credentials", "hmac-auths", "hmac-auth"),
    e("acls", "acls", "acls"),
    e("oauth2_credentials", "oauth2", "oauth2"),
];

const fn e(schema: &'static str, admin: &'static str, nested: &'static str) -> AdminEntity {
    AdminEntity {
        schema,
        admin,
        nested,
    }
}

/// The Admin API naming of a schema.
pub fn by_schema(schema: &str) -> Option<&'static AdminEntity> {
    ADMIN_ENTITIES.iter().find(|a| a.schema == schema)
}

/// Entities whose top-level endpoints Kong disables (answer 404).
pub fn top_level_disabled(schema: &str) -> bool {
    schema == "targets"
}

/// `/{child}/{c}/{fk}` endpoints Kong disables (`/targets/{t}/upstream`,
/// `/snis/{s}/certificate`).
pub fn parent_endpoint_disabled(child: &str, field: &str) -> bool {
    matches!(
        (child, field),
        ("targets", "upstream") | ("snis", "certificate")
    )
}

/// The field a non-UUID URL segment is matched against.
pub fn endpoint_key(schemas: &Schemas, schema: &str) -> Option<&'static str> {
    schemas.get(schema).and_then(|s| s.endpoint_key)
}

/// The schema of an entity; every name in [`ADMIN_ENTITIES`] has one.
pub fn schema<'a>(schemas: &'a Schemas, name: &str) -> Option<&'a Schema> {
    schemas.get(name)
}
