//! The `certificates`, `snis` and `ca_certificates` entities (kong-reference §1.8–1.10).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ForeignKey;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    pub id: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
    pub cert: String,
    pub key: String,
    pub cert_alt: Option<String>,
    pub key_alt: Option<String>,
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sni {
    pub id: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
    pub name: String,
    pub certificate: ForeignKey,
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaCertificate {
    pub id: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
    pub cert: String,
    pub cert_digest: Option<String>,
    pub tags: Option<Vec<String>>,
}
