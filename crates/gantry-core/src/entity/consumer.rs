//! The `consumers` and `plugins` entities (kong-reference §1.5, §1.7).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ForeignKey, Protocol};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Consumer {
    pub id: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
    pub username: Option<String>,
    pub custom_id: Option<String>,
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plugin {
    pub id: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
    pub name: String,
    pub instance_name: Option<String>,
    pub route: Option<ForeignKey>,
    pub service: Option<ForeignKey>,
    pub consumer: Option<ForeignKey>,
    /// Plugin-specific record, defaults filled in by the plugin's schema.
    pub config: serde_json::Value,
    pub protocols: Vec<Protocol>,
    pub enabled: bool,
    pub tags: Option<Vec<String>>,
}
