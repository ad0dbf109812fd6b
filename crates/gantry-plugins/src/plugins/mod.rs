//! The bundled plugins, one module each, and the registry listing them. Adding a
//! plugin is one module here plus one line in [`ALL`].

use gantry_core::schema::typedefs as t;
use gantry_core::schema::{EntityCheck, Field, Schema};

pub mod acl;
mod auth;
pub mod basic_auth;
pub mod bot_detection;
pub mod correlation_id;
pub mod cors;
pub mod hmac_auth;
pub mod ip_restriction;
pub mod jwt;
pub mod key_auth;
pub mod request_size_limiting;
pub mod request_termination;
pub mod request_transformer;
pub mod response_transformer;
mod transformers;

/// Every plugin this crate provides.
pub static ALL: &[&'static dyn crate::plugin::Plugin] = &[
    &jwt::Jwt,
    &key_auth::KeyAuth,
    &basic_auth::BasicAuth,
    &hmac_auth::HmacAuth,
    &acl::AclPlugin,
    &ip_restriction::IpRestriction,
    &request_termination::RequestTermination,
    &request_size_limiting::RequestSizeLimiting,
    &request_transformer::RequestTransformer,
    &response_transformer::ResponseTransformer,
    &cors::Cors,
    &correlation_id::CorrelationId,
    &bot_detection::BotDetection,
];

/// How a plugin's `consumer` scope is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConsumerScope {
    /// Instances may be scoped to a consumer.
    Allowed,
    /// `consumer` must be null (auth plugins, acl, cors, bot-detection).
    Forbidden,
}

/// A plugin subschema: scope restriction, `protocols`, the `config` record, and
/// plugin-level entity checks (see [`config_check`]).
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
    fields.push(("config", Field::record(Schema::record(config)).required()));
    let mut sub = Schema::record(fields);
    sub.entity_checks = checks;
    sub
}

/// A boolean with a default (`required = true` as Kong's 3.x schemas declare).
pub(crate) fn boolean(default: bool) -> Field {
    Field::boolean()
        .required()
        .default(serde_json::Value::Bool(default))
}

#[cfg(test)]
pub(crate) mod testkit;

/// Whether `config.<name>` is non-empty (Kong's `is_nonempty`).
pub(crate) fn config_nonempty(
    entity: &serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> bool {
    use serde_json::Value;
    match entity.get("config").and_then(|c| c.get(name)) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
        Some(_) => true,
    }
}

/// A plugin-level check over `config` fields (Kong's `config.x` entity checks);
/// its error is reported under `@entity`.
pub(crate) fn config_check(
    check: fn(&serde_json::Map<String, serde_json::Value>) -> Result<(), String>,
) -> EntityCheck {
    EntityCheck::Custom(gantry_core::schema::CustomCheck {
        field_sources: vec!["config"],
        run_with_missing_fields: true,
        check,
    })
}
