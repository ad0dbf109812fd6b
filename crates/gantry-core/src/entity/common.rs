//! Types shared by several entities: foreign keys, protocols, timestamps.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A reference to another entity, serialized as Kong does: `{"id": "<uuid>"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ForeignKey {
    pub id: Uuid,
}

impl ForeignKey {
    pub fn new(id: Uuid) -> Self {
        Self { id }
    }
}

/// Kong's protocol enum (sorted as Kong lists it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Grpc,
    Grpcs,
    Http,
    Https,
    Tcp,
    Tls,
    TlsPassthrough,
    Udp,
}

impl Protocol {
    pub const ALL: [Protocol; 8] = [
        Protocol::Grpc,
        Protocol::Grpcs,
        Protocol::Http,
        Protocol::Https,
        Protocol::Tcp,
        Protocol::Tls,
        Protocol::TlsPassthrough,
        Protocol::Udp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::Grpcs => "grpcs",
            Protocol::Http => "http",
            Protocol::Https => "https",
            Protocol::Tcp => "tcp",
            Protocol::Tls => "tls",
            Protocol::TlsPassthrough => "tls_passthrough",
            Protocol::Udp => "udp",
        }
    }

    pub fn parse(s: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Protocols served by the HTTP subsystem.
    pub fn is_http(self) -> bool {
        matches!(
            self,
            Protocol::Http | Protocol::Https | Protocol::Grpc | Protocol::Grpcs
        )
    }

    /// Protocols that carry TLS from the client.
    pub fn is_tls(self) -> bool {
        matches!(
            self,
            Protocol::Https | Protocol::Grpcs | Protocol::Tls | Protocol::TlsPassthrough
        )
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Current Unix time in whole seconds (Kong's `created_at`/`updated_at` for most entities).
pub fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Current Unix time in seconds with millisecond fraction (Kong's target timestamps).
pub fn now_millis_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.as_millis() as f64) / 1000.0)
        .unwrap_or(0.0)
}
