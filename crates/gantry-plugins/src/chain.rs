//! Compiling the configured plugins into per-route chains (Kong's PRIORITY order
//! and scoping precedence, `kong/runloop/plugins_iterator.lua`), and running one
//! request through them phase by phase.
//!
//! Everything is built once per configuration ([`PluginSet::build`]); per request
//! the proxy looks up a precompiled [`PluginChain`] and drives a [`PluginRun`].
//! No locks; one allocation per request (the collected-plugins list).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use gantry_core::{Consumer, Plugin as PluginEntity};
use uuid::Uuid;

use crate::consumers::{ConsumerIndex, Credentials};
use crate::ctx::{LogInfo, RequestCtx, ResponseHead};
use crate::plugin::{ConfigureEnv, Phases, Plugin, PluginHandler};
use crate::respond::Decision;

/// One configured, enabled plugin instance.
pub struct Instance {
    /// `plugins.id`.
    pub id: Uuid,
    /// Plugin name.
    pub name: &'static str,
    /// `plugins.instance_name`.
    pub instance_name: Option<String>,
    /// The plugin's PRIORITY.
    pub priority: i32,
    /// Scope: route id.
    pub route: Option<Uuid>,
    /// Scope: service id.
    pub service: Option<Uuid>,
    /// Scope: consumer id.
    pub consumer: Option<Uuid>,
    phases: Phases,
    /// [`PluginHandler::changes_request_headers`], asked once.
    changes_headers: bool,
    handler: Box<dyn PluginHandler>,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("route", &self.route)
            .field("service", &self.service)
            .field("consumer", &self.consumer)
            .finish_non_exhaustive()
    }
}

impl Instance {
    /// Kong's precedence rank of the instance's scope: 1 (route+service+consumer)
    /// is the most specific, 8 (global) the least.
    pub fn rank(&self) -> u8 {
        match (
            self.route.is_some(),
            self.service.is_some(),
            self.consumer.is_some(),
        ) {
            (true, true, true) => 1,
            (true, false, true) => 2,
            (false, true, true) => 3,
            (true, true, false) => 4,
            (false, false, true) => 5,
            (true, false, false) => 6,
            (false, true, false) => 7,
            (false, false, false) => 8,
        }
    }

    fn applies_to(&self, route: Option<Uuid>, service: Option<Uuid>) -> bool {
        self.route.is_none_or(|r| Some(r) == route)
            && self.service.is_none_or(|s| Some(s) == service)
    }
}

/// One plugin name's position in a chain: the instance that applies without a
/// consumer, and those that win when a given consumer is authenticated.
#[derive(Debug)]
struct Slot {
    default: Option<Arc<Instance>>,
    by_consumer: IdMap<Arc<Instance>>,
}

/// Maps keyed by entity ids from the configuration (looked up per request): foldhash,
/// as these keys are not chosen by clients.
type IdMap<V> = HashMap<Uuid, V, foldhash::fast::RandomState>;

impl Slot {
    fn pick(&self, consumer: Option<&Uuid>) -> Option<&Arc<Instance>> {
        consumer
            .and_then(|c| self.by_consumer.get(c))
            .or(self.default.as_ref())
    }
}

/// The plugins that may apply to one route (with its service), in execution order.
#[derive(Debug)]
pub struct PluginChain {
    slots: Vec<Slot>,
}

impl PluginChain {
    fn compile(
        by_name: &[(&'static str, Vec<Arc<Instance>>)],
        route: Option<Uuid>,
        service: Option<Uuid>,
        global_only: bool,
    ) -> Self {
        let mut slots = Vec::new();
        for (_, instances) in by_name {
            let mut default: Option<&Arc<Instance>> = None;
            let mut by_consumer: IdMap<Arc<Instance>> = IdMap::default();
            for inst in instances {
                if global_only && inst.rank() != 8 {
                    continue;
                }
                if !inst.applies_to(route, service) {
                    continue;
                }
                match inst.consumer {
                    None => {
                        if default.is_none_or(|d| inst.rank() < d.rank()) {
                            default = Some(inst);
                        }
                    }
                    Some(c) => {
                        let better = by_consumer
                            .get(&c)
                            .is_none_or(|cur| inst.rank() < cur.rank());
                        if better {
                            by_consumer.insert(c, inst.clone());
                        }
                    }
                }
            }
            // A consumer-scoped instance only wins over a more specific
            // consumer-less one when its rank is better (e.g. route+service
            // beats consumer-only).
            if let Some(d) = default {
                by_consumer.retain(|_, i| i.rank() < d.rank());
            }
            if default.is_some() || !by_consumer.is_empty() {
                slots.push(Slot {
                    default: default.cloned(),
                    by_consumer,
                });
            }
        }
        PluginChain { slots }
    }

    /// Number of plugin names that may run on this chain.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no plugin can run.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn instances(&self) -> impl Iterator<Item = &Arc<Instance>> {
        self.slots
            .iter()
            .flat_map(|s| s.default.iter().chain(s.by_consumer.values()))
    }
}

/// Entities the plugin set is built from.
#[derive(Debug, Default, Clone, Copy)]
pub struct PluginConfig<'a> {
    /// All `plugins` entities (disabled ones are skipped).
    pub plugins: &'a [PluginEntity],
    /// Every route as `(route id, its service id)`.
    pub routes: &'a [(Uuid, Option<Uuid>)],
    /// All consumers.
    pub consumers: &'a [Consumer],
    /// All credentials.
    pub credentials: Credentials<'a>,
}

/// Why a plugin set could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A plugin entity names a plugin this build does not have.
    #[error("plugin '{name}' not enabled; add it to the 'plugins' configuration property")]
    UnknownPlugin {
        /// Plugin name.
        name: String,
    },
    /// A plugin's config could not be turned into a handler.
    #[error("plugin {name} ({id}): {message}")]
    Config {
        /// Plugin name.
        name: String,
        /// Plugin id.
        id: Uuid,
        /// What was wrong.
        message: String,
    },
}

/// Everything plugins need for one configuration: the consumer index and a
/// compiled chain per route. Immutable; shared by all requests.
#[derive(Debug)]
pub struct PluginSet {
    index: Arc<ConsumerIndex>,
    by_route: IdMap<Arc<PluginChain>>,
    by_service: IdMap<Arc<PluginChain>>,
    serviceless: Arc<PluginChain>,
    global: Arc<PluginChain>,
}

impl PluginSet {
    /// Builds with the bundled plugins of this crate ([`crate::plugins::ALL`]).
    pub fn build(cfg: PluginConfig<'_>) -> Result<PluginSet, BuildError> {
        Self::build_with(cfg, crate::plugins::ALL)
    }

    /// Builds with a given plugin registry. Off the hot path.
    pub fn build_with(
        cfg: PluginConfig<'_>,
        registry: &[&'static dyn Plugin],
    ) -> Result<PluginSet, BuildError> {
        Self::build_reusing(cfg, registry, None)
    }

    /// Builds with a given plugin registry, reusing a consumer index built from the
    /// same consumers and credentials (then `cfg.consumers` and `cfg.credentials` are
    /// not read): a route or plugin change need not re-index 10k consumers.
    pub fn build_reusing(
        cfg: PluginConfig<'_>,
        registry: &[&'static dyn Plugin],
        index: Option<Arc<ConsumerIndex>>,
    ) -> Result<PluginSet, BuildError> {
        let index =
            index.unwrap_or_else(|| Arc::new(ConsumerIndex::build(cfg.consumers, cfg.credentials)));
        let mut by_name: HashMap<&'static str, (i32, Vec<Arc<Instance>>)> = HashMap::new();
        for p in cfg.plugins {
            if !p.enabled || !p.protocols.iter().any(|pr| pr.is_http()) {
                continue;
            }
            let Some(ty) = registry.iter().find(|t| t.name() == p.name) else {
                return Err(BuildError::UnknownPlugin {
                    name: p.name.clone(),
                });
            };
            let env = ConfigureEnv {
                index: index.clone(),
                plugin_id: p.id,
            };
            let handler = ty
                .configure(&p.config, &env)
                .map_err(|message| BuildError::Config {
                    name: p.name.clone(),
                    id: p.id,
                    message,
                })?;
            let inst = Arc::new(Instance {
                id: p.id,
                name: ty.name(),
                instance_name: p.instance_name.clone(),
                priority: ty.priority(),
                route: p.route.map(|f| f.id),
                service: p.service.map(|f| f.id),
                consumer: p.consumer.map(|f| f.id),
                phases: handler.phases(),
                changes_headers: handler.changes_request_headers(),
                handler,
            });
            by_name
                .entry(ty.name())
                .or_insert_with(|| (ty.priority(), Vec::new()))
                .1
                .push(inst);
        }
        let mut ordered: Vec<(&'static str, i32, Vec<Arc<Instance>>)> =
            by_name.into_iter().map(|(n, (p, v))| (n, p, v)).collect();
        // Kong: descending PRIORITY, ties by name descending.
        ordered.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(a.0)));
        let ordered: Vec<(&'static str, Vec<Arc<Instance>>)> =
            ordered.into_iter().map(|(n, _, v)| (n, v)).collect();

        // Only routes that instances are scoped to get a chain of their own; any other
        // route's chain is its service's (or the serviceless one), so the cost of a
        // build does not grow with the number of routes.
        let scoped: std::collections::HashSet<Uuid> = ordered
            .iter()
            .flat_map(|(_, v)| v)
            .filter_map(|i| i.route)
            .collect();
        let mut by_route = IdMap::default();
        for (route, service) in cfg.routes.iter().filter(|(r, _)| scoped.contains(r)) {
            let chain = PluginChain::compile(&ordered, Some(*route), *service, false);
            by_route.insert(*route, Arc::new(chain));
        }
        let mut by_service = IdMap::default();
        for inst in ordered.iter().flat_map(|(_, v)| v) {
            if let Some(s) = inst.service {
                by_service.entry(s).or_insert_with(|| {
                    Arc::new(PluginChain::compile(&ordered, None, Some(s), false))
                });
            }
        }
        Ok(PluginSet {
            index,
            by_route,
            by_service,
            serviceless: Arc::new(PluginChain::compile(&ordered, None, None, false)),
            global: Arc::new(PluginChain::compile(&ordered, None, None, true)),
        })
    }

    /// The consumer and credential index.
    pub fn index(&self) -> &Arc<ConsumerIndex> {
        &self.index
    }

    /// The chain for a matched route and its service (a map lookup). Unknown
    /// routes fall back to the service's chain, then to the instances scoped to
    /// neither a route nor a service (global and consumer-only ones).
    pub fn chain_for(&self, route: Option<Uuid>, service: Option<Uuid>) -> &Arc<PluginChain> {
        if let Some(c) = route.and_then(|r| self.by_route.get(&r)) {
            return c;
        }
        if let Some(c) = service.and_then(|s| self.by_service.get(&s)) {
            return c;
        }
        &self.serviceless
    }

    /// Starts a request: a run over the global plugins (for `rewrite`, and for
    /// the response phases when no route matched).
    pub fn begin(&self) -> PluginRun {
        PluginRun {
            chain: self.global.clone(),
            collected: Vec::new(),
            accessed: false,
            changed_headers: false,
        }
    }

    /// Makes `run` a fresh run of this set, as [`PluginSet::begin`] would, keeping
    /// its allocation (the proxy reuses runs).
    pub fn restart(&self, run: &mut PluginRun) {
        let PluginRun {
            chain,
            collected,
            accessed,
            changed_headers,
        } = run;
        *chain = self.global.clone();
        collected.clear();
        *accessed = false;
        *changed_headers = false;
    }
}

/// One request's journey through the plugins. Owns what it needs (`'static`),
/// so the `log` phase can run in a task after the response is sent.
#[derive(Debug)]
pub struct PluginRun {
    chain: Arc<PluginChain>,
    collected: Vec<Arc<Instance>>,
    accessed: bool,
    /// A plugin whose `access` ran may have changed the request headers.
    changed_headers: bool,
}

impl PluginRun {
    /// `rewrite` phase: global plugins only, before routing.
    pub fn rewrite(&mut self, ctx: &mut RequestCtx) -> Decision {
        for slot in &self.chain.slots {
            if let Some(inst) = &slot.default
                && inst.phases.rewrite
                && let d @ Decision::Respond(_) = inst.handler.rewrite(ctx)
            {
                return d;
            }
        }
        Decision::Continue
    }

    /// Lets go of the plugin instances this run collected (a finished run kept for
    /// reuse should not hold them).
    pub fn release(&mut self) {
        self.collected.clear();
    }

    /// Whether `rewrite` has a plugin to run (else the request is as it came in).
    pub fn has_rewrite(&self) -> bool {
        self.chain
            .slots
            .iter()
            .any(|slot| slot.default.as_ref().is_some_and(|i| i.phases.rewrite))
    }

    /// After routing: switches to the route's chain (from [`PluginSet::chain_for`]).
    pub fn select(&mut self, chain: &Arc<PluginChain>) {
        self.chain = chain.clone();
    }

    /// Whether the proxy must buffer the request body into [`RequestCtx::body`]
    /// before calling [`PluginRun::access`].
    pub fn needs_request_body(&self, ctx: &RequestCtx) -> bool {
        self.chain
            .instances()
            .any(|i| i.phases.access && i.handler.needs_request_body(ctx))
    }

    /// The most body bytes the proxy has to buffer (`None` = the whole body):
    /// the largest cap among handlers needing the body, unbounded if any has none.
    pub fn request_body_cap(&self, ctx: &RequestCtx) -> Option<u64> {
        let mut cap = Some(0u64);
        for i in self.chain.instances() {
            if i.phases.access && i.handler.needs_request_body(ctx) {
                cap = match (cap, i.handler.request_body_cap()) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
        }
        cap
    }

    /// `access` phase: resolves each plugin's instance with the consumer
    /// authenticated so far (Kong's plugins_iterator), runs its `access`, and
    /// collects it for the response phases. After a `Respond`, later plugins are
    /// still collected but their `access` is not run.
    pub fn access(&mut self, ctx: &mut RequestCtx) -> Decision {
        self.accessed = true;
        self.changed_headers = false;
        self.collected.clear();
        self.collected.reserve(self.chain.slots.len());
        let mut decision = Decision::Continue;
        for slot in &self.chain.slots {
            let consumer = ctx.consumer.as_ref().map(|c| c.id);
            let Some(inst) = slot.pick(consumer.as_ref()) else {
                continue;
            };
            self.collected.push(inst.clone());
            if decision.is_continue() && inst.phases.access {
                // What an earlier plugin authenticated is in the headers this one sees.
                ctx.apply_consumer_headers();
                decision = inst.handler.access(ctx);
                self.changed_headers |= inst.changes_headers;
            }
        }
        decision
    }

    /// Whether a plugin that ran `access` may have changed the request headers
    /// ([`PluginHandler::changes_request_headers`]).
    pub fn may_have_changed_headers(&self) -> bool {
        self.changed_headers
    }

    fn each(&self) -> impl Iterator<Item = &Arc<Instance>> {
        let pick: fn(&Slot) -> Option<&Arc<Instance>> = |s| s.default.as_ref();
        let (collected, defaults) = if self.accessed {
            (Some(self.collected.iter()), None)
        } else {
            (None, Some(self.chain.slots.iter().filter_map(pick)))
        };
        collected
            .into_iter()
            .flatten()
            .chain(defaults.into_iter().flatten())
    }

    /// The instances that ran (or will run) the response phases, in order.
    pub fn collected(&self) -> impl Iterator<Item = &Arc<Instance>> {
        self.each()
    }

    /// Whether any collected plugin implements `response` (the proxy must then
    /// buffer the upstream response and call [`PluginRun::response`]).
    pub fn wants_buffered_response(&self) -> bool {
        self.each().any(|i| i.phases.response)
    }

    /// `response` phase over a fully buffered upstream response.
    pub fn response(&self, ctx: &mut RequestCtx, head: &mut ResponseHead, body: &mut Bytes) {
        for i in self.each().filter(|i| i.phases.response) {
            i.handler.response(ctx, head, body);
        }
    }

    /// `header_filter` phase, on every response (upstream's or short-circuit).
    pub fn header_filter(&self, ctx: &mut RequestCtx, head: &mut ResponseHead) {
        for i in self.each().filter(|i| i.phases.header_filter) {
            i.handler.header_filter(ctx, head);
        }
    }

    /// Whether any plugin of the run implements `header_filter`.
    pub fn has_header_filter(&self) -> bool {
        self.each().any(|i| i.phases.header_filter)
    }

    /// Whether any plugin of the run has a response-side phase (`response`,
    /// `header_filter`, `body_filter`, `log`), in one pass.
    pub fn has_response_phases(&self) -> bool {
        self.each().any(|i| {
            let p = &i.phases;
            p.response || p.header_filter || p.body_filter || p.log
        })
    }

    /// Whether `body_filter` must be called for each chunk.
    pub fn has_body_filter(&self) -> bool {
        self.each().any(|i| i.phases.body_filter)
    }

    /// `body_filter` phase for one chunk; call once more with `eof = true` (and
    /// an empty chunk if needed) at the end of the body.
    pub fn body_filter(
        &self,
        ctx: &mut RequestCtx,
        head: &ResponseHead,
        chunk: &mut Bytes,
        eof: bool,
    ) {
        for i in self.each().filter(|i| i.phases.body_filter) {
            i.handler.body_filter(ctx, head, chunk, eof);
        }
    }

    /// Whether any plugin runs `log` for this request.
    pub fn has_log(&self) -> bool {
        self.each().any(|i| i.phases.log)
    }

    /// `log` phase, after the response was sent.
    pub fn log(&self, ctx: &RequestCtx, info: &LogInfo) {
        for i in self.each().filter(|i| i.phases.log) {
            i.handler.log(ctx, info);
        }
    }
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
