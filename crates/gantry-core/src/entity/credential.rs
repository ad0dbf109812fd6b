//! Credential entities of the auth plugins (kong-reference §1.13). They only
//! have `created_at` (no `updated_at`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ForeignKey;

/// A key-auth credential (`keyauth_credentials`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyAuthCredential {
    pub id: Uuid,
    pub created_at: i64,
    pub consumer: ForeignKey,
    pub key: String,
    /// Seconds to live, if the credential was created with `ttl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<f64>,
    pub tags: Option<Vec<String>>,
}

/// A basic-auth credential (`basicauth_credentials`); `password` holds the
/// SHA-1 hex of `password .. consumer_id` once transformed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BasicAuthCredential {
    pub id: Uuid,
    pub created_at: i64,
    pub consumer: ForeignKey,
    pub username: String,
    pub password: String,
    pub tags: Option<Vec<String>>,
}

/// A JWT credential (`jwt_secrets`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JwtSecret {
    pub id: Uuid,
    pub created_at: i64,
    pub consumer: ForeignKey,
    pub key: String,
    pub secret: String,
    pub rsa_public_key: Option<String>,
    pub algorithm: String,
    pub tags: Option<Vec<String>>,
}

/// An HMAC credential (`hmacauth_credentials`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HmacAuthCredential {
    pub id: Uuid,
    pub created_at: i64,
    pub consumer: ForeignKey,
    pub username: String,
    pub secret: String,
    pub tags: Option<Vec<String>>,
}

/// An ACL group membership (`acls`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acl {
    pub id: Uuid,
    pub created_at: i64,
    pub consumer: ForeignKey,
    pub group: String,
    pub tags: Option<Vec<String>>,
}

/// An OAuth 2.0 application (`oauth2_credentials`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OAuth2Credential {
    pub id: Uuid,
    pub created_at: i64,
    pub consumer: ForeignKey,
    pub name: String,
    pub client_id: String,
    pub client_secret: String,
    pub hash_secret: bool,
    pub redirect_uris: Option<Vec<String>>,
    pub client_type: String,
    pub tags: Option<Vec<String>>,
}
