//! The proxy: listeners and workers, the per-request pipeline (routing, Kong's
//! headers, retries), upstream keep-alive pools, round-robin balancing and Kong's error
//! bodies. Reads one immutable [`Snapshot`] per request.
#![forbid(unsafe_code)]

pub mod attempt;
pub mod body;
pub mod clock;
pub mod downstream;
pub mod error_page;
pub mod h1;
pub mod handler;
pub mod headers;
pub mod plugin_phase;
pub mod pool;
pub mod request_id;
pub mod respond;
pub mod server;
pub mod snapshot;
pub mod tls;
pub mod upstream;

pub use handler::{ProxyOptions, SharedSnapshot};
pub use server::{ListenSpec, ProxyServer};
pub use snapshot::{ConfigEntities, Snapshot};
