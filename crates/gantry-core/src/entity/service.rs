//! The `services` entity (kong-reference §1.1).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ForeignKey, Protocol};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub id: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
    pub name: Option<String>,
    pub retries: u16,
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    pub path: Option<String>,
    pub connect_timeout: u32,
    pub write_timeout: u32,
    pub read_timeout: u32,
    pub tags: Option<Vec<String>>,
    pub client_certificate: Option<ForeignKey>,
    pub tls_verify: Option<bool>,
    pub tls_verify_depth: Option<u8>,
    pub ca_certificates: Option<Vec<Uuid>>,
    pub enabled: bool,
}
