//! Kong-compatible data model: the entities (services, routes, upstreams, targets,
//! consumers, plugins, certificates, snis, ca_certificates) with Kong's field names,
//! defaults and validation, errors in Kong's shape, and the declarative (`kong.yml`)
//! configuration. No I/O happens here.
#![forbid(unsafe_code)]

pub mod entity;

pub use entity::*;
