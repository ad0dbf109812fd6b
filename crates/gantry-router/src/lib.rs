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
#![forbid(unsafe_code)]
#![warn(clippy::indexing_slicing)]

mod compile;
mod index;
mod matcher;
mod normalize;
mod priority;
mod router;
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
