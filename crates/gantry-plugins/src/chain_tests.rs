//! Chain tests: PRIORITY order, scoping precedence, consumer-scoped resolution
//! after authentication, short-circuits, `enabled` and `protocols`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gantry_core::schema::{Field, Schema};
use gantry_core::{ForeignKey, Plugin as PluginEntity, Protocol};
use http::{HeaderValue, Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::chain::{PluginConfig, PluginSet};
use crate::consumers::Credentials;
use crate::ctx::{RequestCtx, ResponseHead, ResponseSource};
use crate::plugin::{ConfigureEnv, Phases, Plugin, PluginHandler};
use crate::plugins::testkit::{Fixture, req};
use crate::respond::{Decision, KongResponse};

/// A test plugin: `access` appends `<name>:<tag>` to `x-trace`, optionally
/// answers `stop`; `header_filter` appends to the response's `x-trace`.
struct Marker(&'static str, i32);

struct MarkerHandler {
    name: &'static str,
    tag: String,
    stop: bool,
}

impl Plugin for Marker {
    fn name(&self) -> &'static str {
        self.0
    }
    fn priority(&self) -> i32 {
        self.1
    }
    fn schema(&self) -> Schema {
        Schema::record(vec![(
            "config",
            Field::record(Schema::record(vec![
                ("tag", Field::string()),
                ("stop", Field::boolean().default(json!(false))),
            ])),
        )])
    }
    fn configure(
        &self,
        config: &Value,
        _env: &ConfigureEnv,
    ) -> Result<Box<dyn PluginHandler>, String> {
        Ok(Box::new(MarkerHandler {
            name: self.0,
            tag: config["tag"].as_str().unwrap_or("").to_string(),
            stop: config["stop"].as_bool().unwrap_or(false),
        }))
    }
}

fn append(h: &mut http::HeaderMap, v: String) {
    let cur = h
        .get("x-trace")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let new = match cur {
        Some(c) => format!("{c},{v}"),
        None => v,
    };
    h.insert("x-trace", HeaderValue::from_str(&new).unwrap());
}

impl PluginHandler for MarkerHandler {
    fn phases(&self) -> Phases {
        Phases {
            rewrite: true,
            access: true,
            header_filter: true,
            ..Phases::default()
        }
    }
    fn rewrite(&self, ctx: &mut RequestCtx) -> Decision {
        append(&mut ctx.headers, format!("rw-{}:{}", self.name, self.tag));
        Decision::Continue
    }
    fn access(&self, ctx: &mut RequestCtx) -> Decision {
        append(&mut ctx.headers, format!("{}:{}", self.name, self.tag));
        if self.stop {
            return KongResponse::empty(StatusCode::IM_A_TEAPOT).into_decision();
        }
        Decision::Continue
    }
    fn header_filter(&self, _ctx: &mut RequestCtx, head: &mut ResponseHead) {
        append(&mut head.headers, format!("{}:{}", self.name, self.tag));
    }
}

static REGISTRY: &[&'static dyn Plugin] = &[
    &Marker("alpha", 100),
    &Marker("beta", 100),
    &Marker("early", 5000),
    &Marker("late", 10),
    &crate::plugins::key_auth::KeyAuth,
];

fn entity(
    name: &str,
    tag: &str,
    r: Option<Uuid>,
    s: Option<Uuid>,
    c: Option<Uuid>,
) -> PluginEntity {
    PluginEntity {
        id: Uuid::new_v4(),
        created_at: 1,
        updated_at: 1,
        name: name.into(),
        instance_name: None,
        route: r.map(ForeignKey::new),
        service: s.map(ForeignKey::new),
        consumer: c.map(ForeignKey::new),
        config: json!({ "tag": tag }),
        protocols: vec![Protocol::Http],
        enabled: true,
        tags: None,
    }
}

fn build(f: &Fixture, plugins: &[PluginEntity]) -> PluginSet {
    PluginSet::build_with(
        PluginConfig {
            plugins,
            routes: &f.routes,
            consumers: &f.consumers,
            credentials: Credentials {
                keyauth: &f.keyauth,
                ..Credentials::default()
            },
        },
        REGISTRY,
    )
    .unwrap()
}

fn trace(set: &PluginSet, route: Option<Uuid>, service: Option<Uuid>, target: &str) -> String {
    let mut ctx = req(Method::GET, target);
    ctx.route_id = route;
    ctx.service_id = service;
    let mut run = set.begin();
    run.select(set.chain_for(route, service));
    let _ = run.access(&mut ctx);
    ctx.headers
        .get("x-trace")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[test]
fn priority_order_with_ties_by_name_descending() {
    let f = Fixture::default();
    let plugins = [
        entity("late", "g", None, None, None),
        entity("alpha", "g", None, None, None),
        entity("early", "g", None, None, None),
        entity("beta", "g", None, None, None),
    ];
    let set = build(&f, &plugins);
    assert_eq!(
        trace(&set, None, None, "/"),
        "early:g,beta:g,alpha:g,late:g"
    );
}

#[test]
fn precedence_of_scopes() {
    let mut f = Fixture::default();
    let svc = Uuid::new_v4();
    let route = f.route(Some(svc));
    let other_route = f.route(Some(svc));
    let bob = f.consumer("bob");
    f.key(bob, "k");
    let (r, s, c) = (Some(route), Some(svc), Some(bob));
    let mut plugins = vec![
        entity("key-auth", "", None, None, None),
        entity("alpha", "rsc", r, s, c),
        entity("alpha", "rc", r, None, c),
        entity("alpha", "sc", None, s, c),
        entity("alpha", "rs", r, s, None),
        entity("alpha", "c", None, None, c),
        entity("alpha", "r", r, None, None),
        entity("alpha", "s", None, s, None),
        entity("alpha", "g", None, None, None),
    ];
    plugins[0].config = json!({});
    let expected_with_consumer = ["rsc", "rc", "sc", "rs", "c", "r", "s", "g"];
    for (i, want) in expected_with_consumer.iter().enumerate() {
        let set = build(
            &f,
            &plugins[..1]
                .iter()
                .chain(&plugins[1 + i..])
                .cloned()
                .collect::<Vec<_>>(),
        );
        assert_eq!(
            trace(&set, r, s, "/?apikey=k"),
            format!("alpha:{want}"),
            "with consumer, from {want}"
        );
    }
    // Without a consumer the consumer-scoped instances never apply.
    let no_auth: Vec<PluginEntity> = plugins[1..].to_vec();
    let set = build(&f, &no_auth);
    assert_eq!(trace(&set, r, s, "/"), "alpha:rs");
    // Another route of the same service: service-level instance.
    assert_eq!(trace(&set, Some(other_route), s, "/"), "alpha:s");
    // No route matched: global only.
    assert_eq!(trace(&set, None, None, "/"), "alpha:g");
}

#[test]
fn route_service_beats_consumer_only() {
    let mut f = Fixture::default();
    let svc = Uuid::new_v4();
    let route = f.route(Some(svc));
    let bob = f.consumer("bob");
    f.key(bob, "k");
    let mut ka = entity("key-auth", "", None, None, None);
    ka.config = json!({});
    let plugins = [
        ka,
        entity("alpha", "c", None, None, Some(bob)),
        entity("alpha", "rs", Some(route), Some(svc), None),
    ];
    let set = build(&f, &plugins);
    assert_eq!(
        trace(&set, Some(route), Some(svc), "/?apikey=k"),
        "alpha:rs"
    );
}

#[test]
fn consumer_scope_counts_only_after_authentication() {
    let mut f = Fixture::default();
    let bob = f.consumer("bob");
    f.key(bob, "k");
    let mut ka = entity("key-auth", "", None, None, None);
    ka.config = json!({});
    // `early` (5000) runs before key-auth (1250): its consumer instance cannot apply.
    let plugins = [
        ka,
        entity("early", "g", None, None, None),
        entity("early", "bob", None, None, Some(bob)),
        entity("late", "bob", None, None, Some(bob)),
    ];
    let set = build(&f, &plugins);
    assert_eq!(trace(&set, None, None, "/?apikey=k"), "early:g,late:bob");
}

#[test]
fn disabled_and_stream_only_instances_are_skipped() {
    let f = Fixture::default();
    let mut off = entity("alpha", "off", None, None, None);
    off.enabled = false;
    let mut tcp = entity("beta", "tcp", None, None, None);
    tcp.protocols = vec![Protocol::Tcp];
    let set = build(&f, &[off, tcp, entity("late", "on", None, None, None)]);
    assert_eq!(trace(&set, None, None, "/"), "late:on");
}

#[test]
fn short_circuit_skips_later_access_but_runs_header_filters() {
    let f = Fixture::default();
    let mut stop = entity("beta", "stop", None, None, None);
    stop.config["stop"] = json!(true);
    let plugins = [
        entity("early", "g", None, None, None),
        stop,
        entity("late", "g", None, None, None),
    ];
    let set = build(&f, &plugins);
    let mut ctx = req(Method::GET, "/");
    let mut run = set.begin();
    run.select(set.chain_for(None, None));
    let Decision::Respond(resp) = run.access(&mut ctx) else {
        panic!("expected a response")
    };
    assert_eq!(resp.status, StatusCode::IM_A_TEAPOT);
    assert_eq!(ctx.headers["x-trace"], "early:g,beta:stop");
    let mut head = ResponseHead {
        status: resp.status,
        headers: resp.headers,
        source: ResponseSource::Plugin,
    };
    run.header_filter(&mut ctx, &mut head);
    assert_eq!(head.headers["x-trace"], "early:g,beta:stop,late:g");
    assert_eq!(run.collected().count(), 3);
}

#[test]
fn rewrite_runs_global_instances_only() {
    let mut f = Fixture::default();
    let route = f.route(None);
    let plugins = [
        entity("alpha", "g", None, None, None),
        entity("beta", "r", Some(route), None, None),
    ];
    let set = build(&f, &plugins);
    let mut ctx = req(Method::GET, "/");
    let mut run = set.begin();
    assert!(run.rewrite(&mut ctx).is_continue());
    assert_eq!(ctx.headers["x-trace"], "rw-alpha:g");
    // Without access (no route matched), response phases use the global plugins.
    let mut head = ResponseHead {
        status: StatusCode::NOT_FOUND,
        headers: Default::default(),
        source: ResponseSource::Proxy,
    };
    run.header_filter(&mut ctx, &mut head);
    assert_eq!(head.headers["x-trace"], "alpha:g");
}

#[test]
fn unknown_plugin_is_a_build_error() {
    let f = Fixture::default();
    let err = PluginSet::build_with(
        PluginConfig {
            plugins: &[entity("nope", "", None, None, None)],
            ..PluginConfig::default()
        },
        REGISTRY,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin 'nope' not enabled; add it to the 'plugins' configuration property"
    );
    let _ = f;
}
