//! The `consumers` and `plugins` schemas, and the catalogue of bundled plugins.

use serde_json::json;

use crate::schema::typedefs as t;
use crate::schema::{EntityCheck, Field, FieldType, Schema};

/// The `consumers` schema.
pub fn consumer_schema() -> Schema {
    Schema {
        name: "consumers",
        primary_key: vec!["id"],
        endpoint_key: Some("username"),
        workspaceable: true,
        fields: vec![
            ("id", t::uuid()),
            ("created_at", t::auto_timestamp_s()),
            ("updated_at", t::auto_timestamp_s()),
            ("username", Field::string().unique()),
            ("custom_id", Field::string().unique()),
            ("tags", t::tags()),
        ],
        entity_checks: vec![EntityCheck::AtLeastOneOf(vec!["custom_id", "username"])],
        ..Schema::default()
    }
}

/// Kong's OSS bundled plugins (kong-reference §6.0), in execution order.
pub const BUNDLED_PLUGINS: [&str; 45] = [
    "pre-function",
    "correlation-id",
    "zipkin",
    "bot-detection",
    "cors",
    "session",
    "acme",
    "jwt",
    "oauth2",
    "key-auth",
    "ldap-auth",
    "basic-auth",
    "hmac-auth",
    "grpc-gateway",
    "ip-restriction",
    "request-size-limiting",
    "acl",
    "rate-limiting",
    "response-ratelimiting",
    "request-transformer",
    "response-transformer",
    "redirect",
    "ai-request-transformer",
    "ai-prompt-template",
    "ai-prompt-decorator",
    "ai-prompt-guard",
    "ai-proxy",
    "ai-response-transformer",
    "standard-webhooks",
    "aws-lambda",
    "azure-functions",
    "proxy-cache",
    "opentelemetry",
    "prometheus",
    "http-log",
    "statsd",
    "datadog",
    "file-log",
    "udp-log",
    "tcp-log",
    "loggly",
    "syslog",
    "grpc-web",
    "request-termination",
    "post-function",
];

/// Plugins whose `consumer` scope Kong forbids (`value must be null`).
const NO_CONSUMER: [&str; 15] = [
    "key-auth",
    "basic-auth",
    "jwt",
    "hmac-auth",
    "oauth2",
    "ldap-auth",
    "acl",
    "cors",
    "bot-detection",
    "session",
    "standard-webhooks",
    "ai-request-transformer",
    "acme",
    "pre-function",
    "post-function",
];

/// Plugins accepting stream protocols as well as HTTP ones.
const ANY_PROTOCOL: [&str; 13] = [
    "ip-restriction",
    "http-log",
    "statsd",
    "datadog",
    "file-log",
    "udp-log",
    "tcp-log",
    "loggly",
    "syslog",
    "prometheus",
    "proxy-cache",
    "request-transformer",
    "zipkin",
];

/// The plugins a node has enabled, each with the subschema that specialises
/// the generic `plugins` schema (its `config` record, allowed `protocols`,
/// forbidden scopes).
#[derive(Debug, Clone)]
pub struct PluginCatalog {
    plugins: Vec<(String, Schema)>,
}

impl Default for PluginCatalog {
    fn default() -> Self {
        Self::bundled()
    }
}

impl PluginCatalog {
    /// An empty catalogue (every plugin name is rejected).
    pub fn empty() -> Self {
        Self {
            plugins: Vec::new(),
        }
    }

    /// Kong's bundled plugins with a generic subschema: `config` is any JSON
    /// object (default `{}`) until the plugin registers its real schema.
    pub fn bundled() -> Self {
        let mut c = Self::empty();
        for name in BUNDLED_PLUGINS {
            c.register(name, generic_subschema(name));
        }
        c
    }

    /// Adds or replaces the subschema of `name`. Its fields override the
    /// generic plugin fields (typically `config`, `protocols`, `consumer`).
    pub fn register(&mut self, name: &str, subschema: Schema) {
        self.plugins.retain(|(n, _)| n != name);
        self.plugins.push((name.to_string(), subschema));
    }

    /// Names of the enabled plugins.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.plugins.iter().map(|(n, _)| n.as_str())
    }

    /// Whether `name` is enabled.
    pub fn contains(&self, name: &str) -> bool {
        self.plugins.iter().any(|(n, _)| n == name)
    }

    /// The subschema of a plugin.
    pub fn subschema(&self, name: &str) -> Option<&Schema> {
        self.plugins.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }
}

/// The generic subschema of a bundled plugin: scope restrictions and protocols
/// from kong-reference §1.7/§6.0; `config` is any object.
pub fn generic_subschema(name: &str) -> Schema {
    let mut fields = Vec::new();
    if NO_CONSUMER.contains(&name) {
        fields.push(("consumer", t::foreign("consumers").must_be_null(None)));
    }
    if name == "acme" {
        fields.push(("service", t::foreign("services").must_be_null(None)));
        fields.push(("route", t::foreign("routes").must_be_null(None)));
    }
    let protocols = if name == "ip-restriction" {
        t::protocols().default(json!(["http", "https", "tcp", "tls", "grpc", "grpcs"]))
    } else if ANY_PROTOCOL.contains(&name) {
        t::protocols()
    } else {
        t::protocols_http()
    };
    fields.push(("protocols", protocols));
    let mut config = Field::new(FieldType::Object).required().default(json!({}));
    config.description = Some("The configuration properties for the Plugin.");
    fields.push(("config", config));
    Schema::record(fields)
}

/// The `plugins` schema for a catalogue.
pub fn plugin_schema(catalog: &PluginCatalog) -> Schema {
    let mut config = Field::new(FieldType::Record);
    config.abstract_ = true;
    Schema {
        name: "plugins",
        primary_key: vec!["id"],
        endpoint_key: Some("instance_name"),
        cache_key: vec!["name", "route", "service", "consumer"],
        workspaceable: true,
        subschema_key: Some("name"),
        subschema_error: Some(
            "plugin '%s' not enabled; add it to the 'plugins' configuration property",
        ),
        fields: vec![
            ("id", t::uuid()),
            ("name", Field::string().required()),
            ("instance_name", t::utf8_name()),
            ("created_at", t::auto_timestamp_s()),
            ("updated_at", t::auto_timestamp_s()),
            (
                "route",
                t::foreign("routes")
                    .default(serde_json::Value::Null)
                    .on_delete("cascade"),
            ),
            (
                "service",
                t::foreign("services")
                    .default(serde_json::Value::Null)
                    .on_delete("cascade"),
            ),
            (
                "consumer",
                t::foreign("consumers")
                    .default(serde_json::Value::Null)
                    .on_delete("cascade"),
            ),
            ("config", config),
            ("protocols", t::protocols()),
            ("enabled", Field::boolean().required().default(json!(true))),
            ("tags", t::tags()),
        ],
        subschemas: catalog.plugins.clone(),
        ..Schema::default()
    }
}
