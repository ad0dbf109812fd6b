//! The declarative configuration (`kong.yml`): parsing, validation with every
//! error reported by path, Kong's deterministic ids, and export.

mod entities;
mod export;
pub mod ids;
mod load;
mod typed;

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

pub use entities::EntityMap;
pub use load::FORMAT_VERSIONS;

use crate::entity::{
    Acl, BasicAuthCredential, CaCertificate, Certificate, Consumer, HmacAuthCredential, JwtSecret,
    KeyAuthCredential, OAuth2Credential, Plugin, Route, Service, Sni, Target, Upstream,
};
use crate::error::{ErrorTree, KongError};
use crate::schemas::{self, Schemas};

/// A validated declarative configuration: every entity typed, with ids
/// filled (Kong's UUIDv5 rules) and foreign keys resolved to ids.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct DeclarativeConfig {
    /// `_format_version` as given (`1.1`, `2.1` or `3.0`).
    pub format_version: String,
    /// `_transform` (default true): whether write-time transformations ran
    /// (basic-auth password hashing).
    pub transform: bool,
    pub services: Vec<Service>,
    pub routes: Vec<Route>,
    pub upstreams: Vec<Upstream>,
    pub targets: Vec<Target>,
    pub consumers: Vec<Consumer>,
    pub plugins: Vec<Plugin>,
    pub certificates: Vec<Certificate>,
    pub snis: Vec<Sni>,
    pub ca_certificates: Vec<CaCertificate>,
    pub keyauth_credentials: Vec<KeyAuthCredential>,
    pub basicauth_credentials: Vec<BasicAuthCredential>,
    pub jwt_secrets: Vec<JwtSecret>,
    pub hmacauth_credentials: Vec<HmacAuthCredential>,
    pub acls: Vec<Acl>,
    pub oauth2_credentials: Vec<OAuth2Credential>,
}

/// One error of a declarative document, with where it is
/// (`services[1].routes[2].paths[1]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathError {
    /// Location in the document (empty for the document itself).
    pub path: String,
    /// Kong's message.
    pub message: String,
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Why a declarative document was rejected.
#[derive(Debug, Clone, PartialEq)]
pub enum DeclarativeError {
    /// The file could not be read.
    Io(String),
    /// The text is not YAML/JSON.
    Parse(String),
    /// The document is invalid: every error, as a Kong field tree and as a
    /// list of path-qualified messages.
    Invalid {
        /// Kong-shaped tree (the `fields` of the code 14 body).
        fields: ErrorTree,
        /// One entry per error, in document order.
        errors: Vec<PathError>,
        /// Kong's `flattened_errors` (one object per entity in error).
        flattened: Vec<Value>,
        /// What stays in `fields` when errors are flattened.
        unflattened: ErrorTree,
    },
}

impl DeclarativeError {
    fn invalid(fields: ErrorTree, errors: Vec<PathError>) -> Self {
        DeclarativeError::Invalid {
            unflattened: fields.clone(),
            fields,
            errors,
            flattened: Vec::new(),
        }
    }

    fn invalid_document(msg: &str) -> Self {
        let mut t = ErrorTree::new();
        t.push_entity(msg);
        let errors = vec![PathError {
            path: String::new(),
            message: msg.to_string(),
        }];
        Self::invalid(t, errors)
    }

    /// Every error with its path (one for I/O and parse errors).
    pub fn errors(&self) -> Vec<PathError> {
        match self {
            DeclarativeError::Io(m) | DeclarativeError::Parse(m) => vec![PathError {
                path: String::new(),
                message: m.clone(),
            }],
            DeclarativeError::Invalid { errors, .. } => errors.clone(),
        }
    }

    /// The `/config` error body: code 14 `invalid declarative configuration`.
    /// With `flatten` (`?flatten_errors=1`), entity errors move from `fields`
    /// to Kong's `flattened_errors` list.
    pub fn to_kong_error(&self, flatten: bool) -> KongError {
        match self {
            DeclarativeError::Invalid {
                fields,
                flattened,
                unflattened,
                ..
            } => {
                if flatten {
                    let mut e = KongError::declarative(unflattened.clone());
                    e.flattened_errors = Some(Value::Array(flattened.clone()));
                    e
                } else {
                    KongError::declarative(fields.clone())
                }
            }
            other => KongError::declarative(ErrorTree::List(vec![other.to_string()])),
        }
    }
}

impl std::fmt::Display for DeclarativeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeclarativeError::Io(m) => write!(f, "{m}"),
            DeclarativeError::Parse(m) => {
                write!(f, "failed parsing declarative configuration: {m}")
            }
            DeclarativeError::Invalid { errors, .. } => {
                let mut first = true;
                for e in errors {
                    if !first {
                        writeln!(f)?;
                    }
                    first = false;
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for DeclarativeError {}

/// Parses YAML or JSON text into a JSON value.
pub fn parse_document(text: &str) -> Result<Value, DeclarativeError> {
    if text.trim().is_empty() {
        return Err(DeclarativeError::Parse(
            "expected a declarative configuration".into(),
        ));
    }
    // The parser's default budget (250k nodes, 1M events) stops at ~40k routes. Every
    // node and event costs at least one input byte, so budgets proportional to the input
    // admit any honest file while alias amplification stays capped by the defaults.
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = budget.max_nodes.max(text.len());
    budget.max_events = budget.max_events.max(text.len().saturating_mul(2));
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    serde_saphyr::from_str_with_options::<Value>(text, options)
        .map_err(|e| DeclarativeError::Parse(e.to_string()))
}

/// Parses and validates a `kong.yml` / JSON document with the bundled plugin set.
pub fn parse(text: &str) -> Result<DeclarativeConfig, DeclarativeError> {
    parse_with(text, schemas::bundled())
}

/// Parses and validates a document with a given schema set (plugin catalogue).
pub fn parse_with(text: &str, schemas: &Schemas) -> Result<DeclarativeConfig, DeclarativeError> {
    let doc = parse_document(text)?;
    from_value(&doc, schemas)
}

/// Validates an already-parsed document.
pub fn from_value(doc: &Value, schemas: &Schemas) -> Result<DeclarativeConfig, DeclarativeError> {
    let loaded = load::load(doc, schemas)?;
    typed::build(loaded)
}

/// Reads, parses and validates a file.
pub fn parse_file(path: impl AsRef<Path>) -> Result<DeclarativeConfig, DeclarativeError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .map_err(|e| DeclarativeError::Io(format!("could not read {}: {e}", path.display())))?;
    parse(&text)
}

impl DeclarativeConfig {
    /// A flat `kong.yml`-style document (`_format_version: "3.0"`,
    /// `_transform: false`, foreign keys as ids, null fields left out), as
    /// `kong config db_export` writes it.
    pub fn to_value(&self) -> Value {
        export::to_value(self)
    }

    /// [`Self::to_value`] rendered as YAML.
    pub fn to_yaml(&self) -> Result<String, String> {
        serde_saphyr::to_string(&self.to_value()).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod parse_budget_tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn large_documents_are_not_cut_by_the_parser_budget() {
        // ~400k YAML nodes: over serde-saphyr's default 250k budget.
        let mut text = String::from("_format_version: \"3.0\"\nconsumers:\n");
        for i in 0..130_000 {
            text.push_str(&format!("- username: c{i}\n"));
        }
        let doc = super::parse_document(&text).unwrap();
        assert_eq!(doc["consumers"].as_array().map(Vec::len), Some(130_000));
    }

    #[test]
    fn alias_bombs_are_still_refused() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..12 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            text.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        assert!(super::parse_document(&text).is_err());
    }
}
