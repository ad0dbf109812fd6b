//! Errors in Kong's Admin API shape (`{"code", "name", "message", "fields"}`).

pub mod lua_pretty;
mod tree;

pub use tree::{ENTITY_KEY, ErrKey, ErrorTree};

use serde::Serialize;

/// Kong's DAO error codes (kong/db/errors.lua) with their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 1 — invalid primary key.
    InvalidPrimaryKey = 1,
    /// 2 — schema violation.
    SchemaViolation = 2,
    /// 3 — primary key violation.
    PrimaryKeyViolation = 3,
    /// 4 — foreign key violation.
    ForeignKeyViolation = 4,
    /// 5 — unique constraint violation (HTTP 409).
    UniqueViolation = 5,
    /// 6 — not found.
    NotFound = 6,
    /// 7 — invalid offset.
    InvalidOffset = 7,
    /// 8 — database error.
    DatabaseError = 8,
    /// 9 — invalid size.
    InvalidSize = 9,
    /// 12 — operation unsupported (DB-less writes, HTTP 405).
    OperationUnsupported = 12,
    /// 13 — foreign keys unresolved.
    ForeignKeysUnresolved = 13,
    /// 14 — invalid declarative configuration.
    DeclarativeConfig = 14,
    /// 15 — transformation error.
    TransformationError = 15,
}

impl ErrorCode {
    /// Kong's `name` for the code.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::InvalidPrimaryKey => "invalid primary key",
            ErrorCode::SchemaViolation => "schema violation",
            ErrorCode::PrimaryKeyViolation => "primary key violation",
            ErrorCode::ForeignKeyViolation => "foreign key violation",
            ErrorCode::UniqueViolation => "unique constraint violation",
            ErrorCode::NotFound => "not found",
            ErrorCode::InvalidOffset => "invalid offset",
            ErrorCode::DatabaseError => "database error",
            ErrorCode::InvalidSize => "invalid size",
            ErrorCode::OperationUnsupported => "operation unsupported",
            ErrorCode::ForeignKeysUnresolved => "foreign keys unresolved",
            ErrorCode::DeclarativeConfig => "invalid declarative configuration",
            ErrorCode::TransformationError => "transformation error",
        }
    }

    /// The HTTP status the Admin API answers with for this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::UniqueViolation => 409,
            ErrorCode::NotFound => 404,
            ErrorCode::DatabaseError => 500,
            ErrorCode::OperationUnsupported => 405,
            _ => 400,
        }
    }
}

/// A Kong DAO error body: `{"code":2,"name":"schema violation","message":...,"fields":{...}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KongError {
    /// Numeric code (see [`ErrorCode`]).
    pub code: u16,
    /// Kong's name for the code.
    pub name: String,
    /// Human-readable message, formatted as Kong formats it.
    pub message: String,
    /// The field-error tree (absent for errors without fields).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<ErrorTree>,
    /// Per-entity errors (`/config?flatten_errors=1`), declarative errors only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flattened_errors: Option<serde_json::Value>,
}

impl KongError {
    /// A code 2 `schema violation` with Kong's message rules.
    pub fn schema_violation(fields: ErrorTree) -> Self {
        let message = schema_violation_message(&fields);
        Self::with(ErrorCode::SchemaViolation, message, Some(fields))
    }

    /// A code 14 `invalid declarative configuration`:
    /// `declarative config is invalid: <pl.pretty of fields>`.
    pub fn declarative(fields: ErrorTree) -> Self {
        let message = format!(
            "declarative config is invalid: {}",
            lua_pretty::write(&fields, "")
        );
        Self::with(ErrorCode::DeclarativeConfig, message, Some(fields))
    }

    /// Any code with a message and optional fields.
    pub fn with(code: ErrorCode, message: impl Into<String>, fields: Option<ErrorTree>) -> Self {
        Self {
            code: code as u16,
            name: code.name().to_string(),
            message: message.into(),
            fields,
            flattened_errors: None,
        }
    }

    /// The HTTP status for this error's code.
    pub fn http_status(&self) -> u16 {
        match self.code {
            5 => 409,
            6 => 404,
            8 => 500,
            12 => 405,
            _ => 400,
        }
    }
}

impl std::fmt::Display for KongError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for KongError {}

/// Kong's `schema_violation` message: `schema violation (<one>)` or
/// `<n> schema violations (<a>; <b>)`, entity errors first, then fields in
/// sorted order, nested one level as `config.minute: ...` (deeper values are
/// rendered with `pl.pretty`).
pub fn schema_violation_message(fields: &ErrorTree) -> String {
    let mut buf: Vec<String> = fields.entity_errors();
    match fields {
        ErrorTree::Node(map) => {
            for (k, v) in map {
                if matches!(k, ErrKey::Field(f) if f == ENTITY_KEY) {
                    continue;
                }
                match v {
                    ErrorTree::Message(m) => buf.push(format!("{k}: {m}")),
                    ErrorTree::List(items) => {
                        for (i, m) in items.iter().enumerate() {
                            buf.push(format!("{k}.{}: {m}", i + 1));
                        }
                    }
                    ErrorTree::Node(sub) => {
                        for (sk, sv) in sub {
                            let value = match sv {
                                ErrorTree::Message(m) => m.clone(),
                                other => lua_pretty::write(other, "  "),
                            };
                            buf.push(format!("{k}.{sk}: {value}"));
                        }
                    }
                }
            }
        }
        other => buf.extend(other.messages()),
    }
    if buf.len() == 1 {
        format!("schema violation ({})", buf.join(""))
    } else {
        format!("{} schema violations ({})", buf.len(), buf.join("; "))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn node(items: Vec<(&str, ErrorTree)>) -> ErrorTree {
        ErrorTree::Node(
            items
                .into_iter()
                .map(|(k, v)| (ErrKey::field(k), v))
                .collect(),
        )
    }

    #[test]
    fn single_error_message() {
        let e = KongError::schema_violation(node(vec![(
            "host",
            ErrorTree::msg("required field missing"),
        )]));
        assert_eq!(e.message, "schema violation (host: required field missing)");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"code":2,"name":"schema violation",
                "message":"schema violation (host: required field missing)",
                "fields":{"host":"required field missing"}})
        );
    }

    #[test]
    fn several_errors_entity_first_then_sorted_and_nested() {
        let mut t = node(vec![
            (
                "port",
                ErrorTree::msg("value should be between 0 and 65535"),
            ),
            (
                "config",
                node(vec![("minute", ErrorTree::msg("expected a number"))]),
            ),
        ]);
        t.push_entity("at least one of these fields must be non-empty: 'custom_id', 'username'");
        let e = KongError::schema_violation(t);
        assert_eq!(
            e.message,
            "3 schema violations (at least one of these fields must be non-empty: \
             'custom_id', 'username'; config.minute: expected a number; \
             port: value should be between 0 and 65535)"
        );
    }

    #[test]
    fn array_errors_use_indices() {
        let t = node(vec![(
            "paths",
            ErrorTree::Node(
                [(ErrKey::Index(1), ErrorTree::msg("bad"))]
                    .into_iter()
                    .collect(),
            ),
        )]);
        assert_eq!(
            schema_violation_message(&t),
            "schema violation (paths.1: bad)"
        );
    }

    #[test]
    fn declarative_message_uses_compact_pretty() {
        let t = node(vec![(
            "_format_version",
            ErrorTree::msg("required field missing"),
        )]);
        let e = KongError::declarative(t);
        assert_eq!(e.code, 14);
        assert_eq!(
            e.message,
            "declarative config is invalid: {_format_version=\"required field missing\"}"
        );
    }
}
