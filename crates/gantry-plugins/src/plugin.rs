//! The two traits a plugin implements: [`Plugin`] (static facts — name, PRIORITY,
//! config schema — and the config parse step) and [`PluginHandler`] (one configured
//! instance's phase hooks, run per request).

use std::sync::Arc;

use bytes::Bytes;
use gantry_core::schema::Schema;
use serde_json::Value;
use uuid::Uuid;

use crate::consumers::ConsumerIndex;
use crate::ctx::{LogInfo, RequestCtx, ResponseHead};
use crate::respond::Decision;

/// A plugin type, e.g. key-auth. One `static` value per plugin module, listed in
/// [`crate::plugins::ALL`].
pub trait Plugin: Send + Sync + 'static {
    /// Kong's plugin name (`key-auth`).
    fn name(&self) -> &'static str;

    /// Kong's `PRIORITY`: higher runs first in every phase; ties by name descending.
    fn priority(&self) -> i32;

    /// The subschema specialising the generic `plugins` schema: the `config`
    /// record with Kong's field names, defaults and checks, plus `protocols` and
    /// scope restrictions (`consumer` must be null for auth plugins). Registered
    /// in the [`gantry_core::schemas::PluginCatalog`] for Admin validation and
    /// `/schemas/plugins/{name}`.
    fn schema(&self) -> Schema;

    /// Builds a handler from an instance's `config` (already validated by the
    /// Admin API or the declarative loader; validated again here to fill
    /// defaults). Runs off the hot path. `Err` carries a message for the operator.
    fn configure(
        &self,
        config: &Value,
        env: &ConfigureEnv,
    ) -> Result<Box<dyn PluginHandler>, String>;
}

/// What a plugin may keep from the configuration when it is configured.
#[derive(Debug, Clone)]
pub struct ConfigureEnv {
    /// Consumers and credentials (auth plugins keep a clone of the `Arc`).
    pub index: Arc<ConsumerIndex>,
    /// The plugin instance's id.
    pub plugin_id: Uuid,
}

/// Which hooks a handler implements, so the chain calls only those.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    /// [`PluginHandler::rewrite`].
    pub rewrite: bool,
    /// [`PluginHandler::access`].
    pub access: bool,
    /// [`PluginHandler::response`].
    pub response: bool,
    /// [`PluginHandler::header_filter`].
    pub header_filter: bool,
    /// [`PluginHandler::body_filter`].
    pub body_filter: bool,
    /// [`PluginHandler::log`].
    pub log: bool,
}

impl Phases {
    /// Only `access`.
    pub const ACCESS: Phases = Phases {
        rewrite: false,
        access: true,
        response: false,
        header_filter: false,
        body_filter: false,
        log: false,
    };
}

/// One configured plugin instance. Hooks run in Kong's phase order; each is
/// called only when [`PluginHandler::phases`] lists it. Hooks must not block
/// and must not panic on request input.
pub trait PluginHandler: Send + Sync + 'static {
    /// The hooks this handler implements.
    fn phases(&self) -> Phases;

    /// Whether `access` may change [`RequestCtx::headers`] (consumer headers aside:
    /// they are kept apart until written). When no plugin that ran `access` may, the
    /// proxy keeps what it read from the client's headers instead of reading them again.
    fn changes_request_headers(&self) -> bool {
        true
    }

    /// Whether `access` needs the whole request body in [`RequestCtx::body`]
    /// (the proxy buffers it before `access` when any collected plugin says so).
    fn needs_request_body(&self, _ctx: &RequestCtx) -> bool {
        false
    }

    /// The most request-body bytes this handler needs to see: when buffering
    /// for [`PluginHandler::needs_request_body`], the proxy may stop after
    /// `cap + 1` bytes (enough to know the body is too large).
    fn request_body_cap(&self) -> Option<u64> {
        None
    }

    /// `rewrite`: before routing; only global instances run it (the route is not
    /// known yet). `Respond` ends the request with that response.
    fn rewrite(&self, _ctx: &mut RequestCtx) -> Decision {
        Decision::Continue
    }

    /// `access`: after routing, before the upstream request. `Continue` goes on
    /// with the next plugin; `Respond` answers the client instead of proxying
    /// (later plugins' `access` is skipped; all collected plugins still run the
    /// response phases).
    fn access(&self, _ctx: &mut RequestCtx) -> Decision {
        Decision::Continue
    }

    /// `response`: for buffered proxying — the whole upstream response (status,
    /// headers, body) may be changed before anything is sent to the client.
    fn response(&self, _ctx: &mut RequestCtx, _head: &mut ResponseHead, _body: &mut Bytes) {}

    /// `header_filter`: the response status and headers before they are sent
    /// (upstream response, or a short-circuit response); changes go to the client.
    fn header_filter(&self, _ctx: &mut RequestCtx, _head: &mut ResponseHead) {}

    /// `body_filter`: each response body chunk before it is sent; `eof` marks the
    /// last call. A filter may replace the chunk (buffering by emitting empty
    /// chunks until `eof`, as Kong's response-transformer does).
    fn body_filter(
        &self,
        _ctx: &mut RequestCtx,
        _head: &ResponseHead,
        _chunk: &mut Bytes,
        _eof: bool,
    ) {
    }

    /// `log`: after the response has been sent, off the client's time.
    fn log(&self, _ctx: &RequestCtx, _info: &LogInfo) {}
}
