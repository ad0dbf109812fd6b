//! The `upstreams` and `targets` entities (kong-reference §1.3, §1.4, §5.7).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ForeignKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    ConsistentHashing,
    LeastConnections,
    #[default]
    RoundRobin,
    Latency,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HashOn {
    #[default]
    None,
    Consumer,
    Ip,
    Header,
    Cookie,
    Path,
    QueryArg,
    UriCapture,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upstream {
    pub id: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
    pub name: String,
    pub algorithm: Algorithm,
    pub hash_on: HashOn,
    pub hash_fallback: HashOn,
    pub hash_on_header: Option<String>,
    pub hash_fallback_header: Option<String>,
    pub hash_on_cookie: Option<String>,
    pub hash_on_cookie_path: String,
    pub hash_on_query_arg: Option<String>,
    pub hash_fallback_query_arg: Option<String>,
    pub hash_on_uri_capture: Option<String>,
    pub hash_fallback_uri_capture: Option<String>,
    pub slots: u32,
    /// Kept as JSON: the record is validated by the schema and interpreted by the
    /// health checker (a separate issue).
    pub healthchecks: serde_json::Value,
    pub host_header: Option<String>,
    pub client_certificate: Option<ForeignKey>,
    pub use_srv_name: bool,
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub id: Uuid,
    /// Targets use float seconds with millisecond precision (Kong quirk).
    pub created_at: f64,
    pub updated_at: f64,
    pub upstream: ForeignKey,
    /// Normalized `host:port` (port defaults to 8000).
    pub target: String,
    pub weight: u32,
    pub tags: Option<Vec<String>>,
}
