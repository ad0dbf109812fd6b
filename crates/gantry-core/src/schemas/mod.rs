//! Kong's entity schemas as data, and the registry that holds them.

mod consumers;
mod credentials;
mod routes;
mod services;
mod tls;
mod upstreams;

use std::sync::LazyLock;

use serde_json::Value;

pub use consumers::{BUNDLED_PLUGINS, PluginCatalog, generic_subschema};
pub use credentials::JWT_ALGORITHMS;
pub use services::{LuaSocketUrl, parse_url};
pub use upstreams::normalize_target;

use crate::error::{ErrorTree, KongError};
use crate::schema::{FieldType, Schema, ValidateOptions};

/// Entities in the order the declarative loader walks them (parents before
/// children, Kong's topological order for the core entities).
pub const ENTITY_NAMES: [&str; 15] = [
    "consumers",
    "certificates",
    "services",
    "routes",
    "snis",
    "upstreams",
    "targets",
    "plugins",
    "ca_certificates",
    "keyauth_credentials",
    "basicauth_credentials",
    "jwt_secrets",
    "hmacauth_credentials",
    "acls",
    "oauth2_credentials",
];

/// All entity schemas, built for one plugin catalogue.
#[derive(Debug, Clone)]
pub struct Schemas {
    schemas: Vec<Schema>,
    catalog: PluginCatalog,
}

impl Default for Schemas {
    fn default() -> Self {
        Self::new(PluginCatalog::bundled())
    }
}

static BUNDLED: LazyLock<Schemas> = LazyLock::new(Schemas::default);

/// The schemas for Kong's bundled plugin set.
pub fn bundled() -> &'static Schemas {
    &BUNDLED
}

/// A foreign-key relation between two entities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relation {
    /// Entity holding the foreign key (`routes`).
    pub child: &'static str,
    /// The foreign-key field (`service`).
    pub field: &'static str,
    /// Referenced entity (`services`).
    pub parent: &'static str,
}

impl Schemas {
    /// Builds every schema; `plugins` is specialised by `catalog`.
    pub fn new(catalog: PluginCatalog) -> Self {
        let schemas = vec![
            consumers::consumer_schema(),
            tls::certificate_schema(),
            services::schema(),
            routes::schema(),
            tls::sni_schema(),
            upstreams::schema(),
            upstreams::target_schema(),
            consumers::plugin_schema(&catalog),
            tls::ca_certificate_schema(),
            credentials::keyauth(),
            credentials::basicauth(),
            credentials::jwt(),
            credentials::hmacauth(),
            credentials::acls(),
            credentials::oauth2(),
        ];
        Self { schemas, catalog }
    }

    /// The schema of an entity by its (DB/declarative) name, e.g. `services`.
    pub fn get(&self, entity: &str) -> Option<&Schema> {
        self.schemas.iter().find(|s| s.name == entity)
    }

    /// All schemas in declarative walking order.
    pub fn all(&self) -> impl Iterator<Item = &Schema> {
        self.schemas.iter()
    }

    /// The plugin catalogue in use.
    pub fn catalog(&self) -> &PluginCatalog {
        &self.catalog
    }

    /// Every foreign-key relation between known entities.
    pub fn relations(&self) -> Vec<Relation> {
        let mut out = Vec::new();
        for s in &self.schemas {
            for (name, f) in &s.fields {
                if f.typ == FieldType::Foreign
                    && let Some(parent) = f.reference
                    && self.get(parent).is_some()
                {
                    out.push(Relation {
                        child: s.name,
                        field: name,
                        parent,
                    });
                }
            }
        }
        out
    }

    /// Validates an Admin-API-style body for `entity` (insert semantics);
    /// errors come back as a code 2 `schema violation`.
    #[allow(clippy::result_large_err)]
    pub fn validate(&self, entity: &str, input: &Value) -> Result<Value, KongError> {
        let Some(schema) = self.get(entity) else {
            let mut t = ErrorTree::new();
            t.push_entity(format!("No entity named '{entity}'"));
            return Err(KongError::schema_violation(t));
        };
        schema
            .validate(input, &ValidateOptions::default())
            .map_err(KongError::schema_violation)
    }
}

#[cfg(test)]
mod tests_http;
#[cfg(test)]
mod tests_other;
