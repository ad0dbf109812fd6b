//! Kong `traditional_compatible` route matching, compiled into an index.
//!
//! Semantics follow Kong 3.x's default router flavor as implemented in
//! `kong/router/transform.lua`, `atc.lua`, `fields.lua` and `utils.lua` (kong-reference §4):
//! each route is a conjunction of its fields, matchers are ordered by Kong's 64-bit priority
//! (ties: larger UUID first), routes mixing path kinds are split, and the first matching
//! matcher wins. Instead of scanning all matchers, [`Router`] visits only those whose host
//! and path can match, so lookup cost stays flat as routes grow.
//!
//! Entry points: [`Router::new`], [`Router::find`] with a [`RequestView`], and the
//! [`RouteMatch`] helpers for the upstream path. [`normalize_path`], [`escape_path`] and
//! [`upstream_path_v0`] are exposed for callers that need them directly.
//!
//! # Compatibility notes (checked against Kong's source, not only the reference)
//!
//! * `protocols` is not a matching condition in `traditional_compatible` (Kong's
//!   `transform.get_expression` emits none): an `https`-only route matches a plain-http
//!   request (the proxy then answers 426 or redirects, §4.8) and an `http`-only route
//!   matches https. Only `snis` looks at the scheme (skipped unless it is `https`).
//!   Stream-only routes (tcp/tls/udp/tls_passthrough) are left out.
//! * Priorities use the documented 64-bit layout (§4.5). Kong's Lua computes some of the
//!   shifts on plain Lua numbers, which LuaJIT performs in 32 bits; that quirk is not
//!   reproduced (see `fragment_priority`).
//! * Reproduced as Kong does: captures of a `~*` header regex overwrite the path
//!   captures with the same keys (ATC keeps one capture map per matcher); header
//!   conditions are evaluated in sorted header-name order, where Kong uses Lua table order.
//! * Not reproduced: Kong reads at most `lua_max_req_headers` (100) request headers.
#![forbid(unsafe_code)]
#![warn(clippy::indexing_slicing)]

mod compile;
mod index;
mod matcher;
mod normalize;
mod priority;
mod router;
mod trie;
mod upstream;

pub use matcher::Captures;
pub use normalize::{escape_path, normalize_path, strip_query};
pub use priority::{SPLIT_ROUTE_NAMESPACE, fragment_priority};
pub use router::{RequestView, RouteMatch, Router};
pub use upstream::upstream_path_v0;

/// Why a route set could not be compiled. Routes are validated before they reach the
/// router, so these indicate input that bypassed validation.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// A path or header regex does not compile with Rust's `regex` (as ATC uses it).
    #[error("route {route_id}: invalid regex '{pattern}': {source}")]
    InvalidRegex {
        /// Route carrying the regex.
        route_id: uuid::Uuid,
        /// The regex as compiled (after Kong's rewriting).
        pattern: String,
        /// The compiler's error.
        source: Box<regex::Error>,
    },
    /// A field Kong's expression generator could not turn into a valid expression.
    #[error("route {route_id}: {reason}")]
    InvalidRoute {
        /// Offending route.
        route_id: uuid::Uuid,
        /// What is wrong.
        reason: String,
    },
    /// More than `u32::MAX` matchers.
    #[error("too many routes")]
    TooManyRoutes,
}
