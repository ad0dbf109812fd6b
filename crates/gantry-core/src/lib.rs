//! Kong-compatible data model: the entities (services, routes, upstreams, targets,
//! consumers, plugins, certificates, snis, ca_certificates, credentials) with Kong's
//! field names, defaults and validation, errors in Kong's shape, and the declarative
//! (`kong.yml`) configuration. No network I/O happens here.
#![forbid(unsafe_code)]

pub mod declarative;
pub mod entity;
pub mod error;
pub mod schema;
pub mod schemas;
pub mod uri;
mod x509;

pub use entity::*;
pub use error::{ErrKey, ErrorCode, ErrorTree, KongError};
