//! Admin API errors and their Kong response bodies (`kong/api/endpoints.lua`
//! `handle_error` and `kong/db/errors.lua`).

use axum::response::{IntoResponse, Response};
use gantry_core::KongError;
use gantry_store::StoreError;
use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::lua;

/// An Admin API failure: either a plain `{"message": ...}` exit or a Kong DAO
/// error body (`{"code", "name", "message", "fields"}`).
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// `{"message": "<text>"}` with a status.
    Message(StatusCode, String),
    /// A full JSON body with a status (DAO errors).
    Body(StatusCode, Value),
}

/// Result of an Admin API operation.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// 404 `{"message":"Not found"}`.
    pub fn not_found() -> Self {
        Self::Message(StatusCode::NOT_FOUND, "Not found".into())
    }

    /// 405 `{"message":"Method not allowed"}`.
    pub fn method_not_allowed() -> Self {
        Self::Message(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed".into())
    }

    /// 500 `{"message":"An unexpected error occurred"}` (details go to the log only).
    pub fn unexpected(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "admin API internal error");
        Self::Message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An unexpected error occurred".into(),
        )
    }

    /// 400 with a message.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::Message(StatusCode::BAD_REQUEST, msg.into())
    }

    /// A DAO error body with Kong's code, name and message.
    pub fn dao(code: u16, message: impl Into<String>, fields: Option<Value>) -> Self {
        let mut body = Map::new();
        body.insert("code".into(), json!(code));
        body.insert("name".into(), json!(code_name(code)));
        body.insert("message".into(), Value::String(message.into()));
        if let Some(f) = fields {
            // code 11 (invalid options) uses `options` instead of `fields`
            let key = if code == 11 { "options" } else { "fields" };
            body.insert(key.into(), f);
        }
        Self::Body(status_for(code), Value::Object(body))
    }

    /// Code 6 for an update of a missing entity.
    pub fn dao_not_found(key: &Map<String, Value>) -> Self {
        let pretty = lua::pretty(&Value::Object(key.clone()));
        let message = if key.contains_key("id") && key.len() == 1 {
            format!("could not find the entity with primary key '{pretty}'")
        } else {
            format!("could not find the entity with '{pretty}'")
        };
        Self::dao(6, message, Some(Value::Object(key.clone())))
    }

    /// Code 12 (405) for writes in DB-less mode.
    pub fn dbless(verb: &str, entity: &str) -> Self {
        Self::dao(
            12,
            format!("cannot {verb} '{entity}' entities when not using a database"),
            None,
        )
    }

    /// HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Message(s, _) | Self::Body(s, _) => *s,
        }
    }

    /// JSON body of this error.
    pub fn body(&self) -> Value {
        match self {
            Self::Message(_, m) => json!({ "message": m }),
            Self::Body(_, b) => b.clone(),
        }
    }
}

fn code_name(code: u16) -> &'static str {
    match code {
        1 => "invalid primary key",
        2 => "schema violation",
        3 => "primary key violation",
        4 => "foreign key violation",
        5 => "unique constraint violation",
        6 => "not found",
        7 => "invalid offset",
        8 => "database error",
        9 => "invalid size",
        10 => "invalid unique %s",
        11 => "invalid options",
        12 => "operation unsupported",
        13 => "foreign keys unresolved",
        14 => "invalid declarative configuration",
        15 => "transformation error",
        16 => "invalid foreign key",
        19 => "referenced by others",
        _ => "unknown error",
    }
}

fn status_for(code: u16) -> StatusCode {
    match code {
        5 => StatusCode::CONFLICT,
        6 => StatusCode::NOT_FOUND,
        8 => StatusCode::INTERNAL_SERVER_ERROR,
        12 => StatusCode::METHOD_NOT_ALLOWED,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl From<KongError> for ApiError {
    fn from(e: KongError) -> Self {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        match serde_json::to_value(&e) {
            Ok(body) => Self::Body(status, body),
            Err(err) => Self::unexpected(err),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unique { fields, .. } => {
                let pretty = lua::pretty(&Value::Object(fields.clone()));
                Self::dao(
                    5,
                    format!("UNIQUE violation detected on '{pretty}'"),
                    Some(Value::Object(fields)),
                )
            }
            StoreError::ForeignKey {
                field, parent, id, ..
            } => {
                let key = json!({ "id": id.to_string() });
                Self::dao(
                    4,
                    format!(
                        "the foreign key '{}' does not reference an existing '{parent}' entity.",
                        lua::pretty(&key)
                    ),
                    Some(json!({ field: key })),
                )
            }
            StoreError::Referenced { parent, child } => Self::dao(
                4,
                format!("an existing '{child}' entity references this '{parent}' entity"),
                Some(json!({ "@referenced_by": child })),
            ),
            StoreError::NotFound { id, .. } => {
                let mut key = Map::new();
                key.insert("id".into(), Value::String(id.to_string()));
                Self::dao_not_found(&key)
            }
            StoreError::InvalidOffset(tok) => Self::dao(
                7,
                format!("'{tok}' is not a valid offset: bad base64 encoding"),
                None,
            ),
            StoreError::PrimaryKey { id, .. } => {
                let key = json!({ "id": id.to_string() });
                Self::dao(
                    3,
                    format!("primary key violation on key '{}'", lua::pretty(&key)),
                    Some(key),
                )
            }
            StoreError::ReadOnly => Self::dao(12, "operation unsupported", None),
            StoreError::Invalid(m) | StoreError::Database(m) => Self::unexpected(m),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        crate::response::json(self.status(), &self.body())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unique_body_matches_kong() {
        let mut fields = Map::new();
        fields.insert("name".into(), json!("s1"));
        let e = ApiError::from(StoreError::Unique {
            entity: "services".into(),
            fields,
        });
        assert_eq!(e.status(), StatusCode::CONFLICT);
        assert_eq!(
            e.body(),
            json!({"code":5,"name":"unique constraint violation",
                "message":"UNIQUE violation detected on '{name=\"s1\"}'","fields":{"name":"s1"}})
        );
    }

    #[test]
    fn dbless_body() {
        let e = ApiError::dbless("create", "services");
        assert_eq!(e.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            e.body(),
            json!({"code":12,"name":"operation unsupported",
                "message":"cannot create 'services' entities when not using a database"})
        );
    }
}
