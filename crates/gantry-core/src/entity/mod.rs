//! Typed entities as Kong outputs them. Every optional schema field is an `Option` so
//! serialization writes `null` for unset fields, as Kong's Admin API does.

mod common;
mod consumer;
mod credential;
mod route;
mod service;
mod tls;
mod upstream;

pub use common::*;
pub use consumer::*;
pub use credential::*;
pub use route::*;
pub use service::*;
pub use tls::*;
pub use upstream::*;
