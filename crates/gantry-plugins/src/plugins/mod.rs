//! The bundled plugins, one module each, and the registry listing them. Adding a
//! plugin is one module here plus one line in [`ALL`].

use gantry_core::schema::typedefs as t;
use gantry_core::schema::{EntityCheck, Field, Schema};

pub mod key_auth;

/// Every plugin this crate provides.
pub static ALL: &[&'static dyn crate::plugin::Plugin] = &[&key_auth::KeyAuth];

/// How a plugin's `consumer` scope is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConsumerScope {
    /// Instances may be scoped to a consumer.
    Allowed,
    /// `consumer` must be null (auth plugins, acl, cors, bot-detection).
    Forbidden,
}

/// A plugin subschema: scope restriction, `protocols` and the `config` record.
pub(crate) fn subschema(
    consumer: ConsumerScope,
    protocols: Field,
    config: Vec<(&'static str, Field)>,
    checks: Vec<EntityCheck>,
) -> Schema {
    let mut fields = Vec::new();
    if consumer == ConsumerScope::Forbidden {
        fields.push(("consumer", t::foreign("consumers").must_be_null(None)));
    }
    fields.push(("protocols", protocols));
    let mut record = Schema::record(config);
    record.entity_checks = checks;
    fields.push(("config", Field::record(record).required()));
    Schema::record(fields)
}

/// A boolean with a default (`required = true` as Kong's 3.x schemas declare).
pub(crate) fn boolean(default: bool) -> Field {
    Field::boolean()
        .required()
        .default(serde_json::Value::Bool(default))
}

#[cfg(test)]
pub(crate) mod testkit;
