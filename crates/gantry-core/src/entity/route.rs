//! The `routes` entity (kong-reference §1.2).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ForeignKey, Protocol};

/// `path_handling`: `v0` is the only mode in the traditional_compatible flavor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum PathHandling {
    #[default]
    #[serde(rename = "v0")]
    V0,
    #[serde(rename = "v1")]
    V1,
}

/// An entry of `sources` / `destinations` (stream routes): IP or CIDR and/or port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CidrPort {
    pub ip: Option<String>,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub id: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
    pub name: Option<String>,
    pub protocols: Vec<Protocol>,
    pub methods: Option<Vec<String>>,
    pub hosts: Option<Vec<String>>,
    pub paths: Option<Vec<String>>,
    pub headers: Option<BTreeMap<String, Vec<String>>>,
    pub snis: Option<Vec<String>>,
    pub sources: Option<Vec<CidrPort>>,
    pub destinations: Option<Vec<CidrPort>>,
    pub https_redirect_status_code: u16,
    pub regex_priority: i64,
    pub strip_path: bool,
    pub path_handling: PathHandling,
    pub preserve_host: bool,
    pub request_buffering: bool,
    pub response_buffering: bool,
    pub tags: Option<Vec<String>>,
    pub service: Option<ForeignKey>,
}

/// Kong's schema defaults (`protocols` http+https, `https_redirect_status_code` 426,
/// `strip_path`, buffering on, `path_handling` v0) with a nil id and no matching
/// fields: a base for building routes in code (`Route { paths, ..Route::default() }`).
impl Default for Route {
    fn default() -> Self {
        Route {
            id: Uuid::nil(),
            created_at: 0,
            updated_at: 0,
            name: None,
            protocols: vec![Protocol::Http, Protocol::Https],
            methods: None,
            hosts: None,
            paths: None,
            headers: None,
            snis: None,
            sources: None,
            destinations: None,
            https_redirect_status_code: 426,
            regex_priority: 0,
            strip_path: true,
            path_handling: PathHandling::V0,
            preserve_host: false,
            request_buffering: true,
            response_buffering: true,
            tags: None,
            service: None,
        }
    }
}
