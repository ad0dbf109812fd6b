//! Kong's plugin pipeline for Gantry: plugin phases (`certificate`, `rewrite`,
//! `access`, `response`, `header_filter`, `body_filter`, `log`), Kong's PRIORITY
//! order and scoping precedence, the in-memory consumer/credential index, and the
//! bundled authentication and traffic-policy plugins.
//!
//! # How the proxy drives it
//!
//! Off the hot path, on every configuration change:
//! `PluginSet::build(PluginConfig { plugins, routes, consumers, credentials })`
//! and store the `PluginSet` in the snapshot. Admin validation uses [`catalog()`].
//!
//! Per request (no locks, one allocation for the collected-plugin list):
//! 1. Fill a [`RequestCtx`] (method, path, query, headers, client IP after
//!    real-IP, scheme, host, port, request id).
//! 2. `let mut run = set.begin(); run.rewrite(&mut ctx)` — global plugins.
//! 3. Route; set `ctx.route_id`/`ctx.service_id`;
//!    `run.select(set.chain_for(route, service))`.
//! 4. If `run.needs_request_body(&ctx)`, buffer the body into `ctx.body`.
//! 5. `run.access(&mut ctx)`: `Continue` ⇒ build the upstream request from
//!    `ctx` (method, `upstream_path` override, `query`, `headers`, `body`);
//!    `Respond(resp)` ⇒ send `resp` instead (with the proxy's own headers).
//! 6. `run.header_filter(&mut ctx, &mut head)` on the response head (upstream's
//!    or the short-circuit one); `run.body_filter(..)` per chunk when
//!    `run.has_body_filter()`, then once with `eof = true`.
//! 7. After the last byte is sent: `run.log(&ctx, &info)`, e.g. in a spawned task.
#![forbid(unsafe_code)]

pub mod body;
pub mod chain;
pub mod consumers;
pub mod ctx;
pub mod http_time;
pub mod multipart;
pub mod name_cache;
pub mod plugin;
pub mod plugins;
pub mod request_headers;
pub mod respond;
pub mod util;

pub use chain::{BuildError, Instance, PluginChain, PluginConfig, PluginRun, PluginSet};
pub use consumers::{ConsumerHeaders, ConsumerIndex, ConsumerInfo, CredentialInfo, Credentials};
pub use ctx::{LogInfo, QueryArg, RequestCtx, ResponseHead, ResponseSource, UpstreamHost};
pub use plugin::{ConfigureEnv, Phases, Plugin, PluginHandler};
pub use request_headers::{RawLine, RawLines, RequestHeaders};
pub use respond::{Decision, KongResponse};

use gantry_core::schemas::PluginCatalog;

/// Kong's bundled plugin catalogue with the real config schemas of every plugin
/// implemented here (the others keep the generic subschema).
pub fn catalog() -> PluginCatalog {
    let mut c = PluginCatalog::bundled();
    for p in plugins::ALL {
        c.register(p.name(), p.schema());
    }
    c
}
