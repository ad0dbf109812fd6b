//! Test helpers: a small configuration builder, Admin-style validation through
//! the catalogue, and request contexts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use gantry_core::schemas::Schemas;
use gantry_core::{
    Acl, BasicAuthCredential, Consumer, ForeignKey, HmacAuthCredential, JwtSecret,
    KeyAuthCredential, Plugin as PluginEntity, Protocol,
};
use http::{HeaderValue, Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::chain::{PluginConfig, PluginSet};
use crate::consumers::Credentials;
use crate::ctx::RequestCtx;
use crate::respond::{Decision, KongResponse};

/// A configuration under construction.
#[derive(Default)]
pub struct Fixture {
    pub consumers: Vec<Consumer>,
    pub keyauth: Vec<KeyAuthCredential>,
    pub basicauth: Vec<BasicAuthCredential>,
    pub jwt: Vec<JwtSecret>,
    pub hmac: Vec<HmacAuthCredential>,
    pub acls: Vec<Acl>,
    pub plugins: Vec<PluginEntity>,
    pub routes: Vec<(Uuid, Option<Uuid>)>,
}

/// Validates a plugin body as the Admin API does; `Ok` = the complete entity.
pub fn validate(body: Value) -> Result<Value, Value> {
    let schemas = Schemas::new(crate::catalog());
    schemas
        .validate("plugins", &body)
        .map_err(|e| serde_json::to_value(&e).unwrap())
}

/// The `config` error tree of an invalid plugin config.
pub fn config_errors(name: &str, config: Value) -> Value {
    match validate(json!({ "name": name, "config": config })) {
        Ok(v) => panic!("expected a schema violation, got {v}"),
        Err(e) => e["fields"]["config"].clone(),
    }
}

/// The filled config of a valid plugin config.
pub fn filled(name: &str, config: Value) -> Value {
    match validate(json!({ "name": name, "config": config })) {
        Ok(v) => v["config"].clone(),
        Err(e) => panic!("unexpected schema violation: {e}"),
    }
}

impl Fixture {
    pub fn consumer(&mut self, username: &str) -> Uuid {
        let id = Uuid::new_v4();
        self.consumers.push(Consumer {
            id,
            created_at: 1,
            updated_at: 1,
            username: Some(username.into()),
            custom_id: None,
            tags: None,
        });
        id
    }

    pub fn key(&mut self, consumer: Uuid, key: &str) -> Uuid {
        let id = Uuid::new_v4();
        self.keyauth.push(KeyAuthCredential {
            id,
            created_at: 1,
            consumer: ForeignKey::new(consumer),
            key: key.into(),
            ttl: None,
            tags: None,
        });
        id
    }

    pub fn jwt(
        &mut self,
        consumer: Uuid,
        key: &str,
        algorithm: &str,
        secret: &str,
        rsa_public_key: Option<String>,
    ) -> Uuid {
        let id = Uuid::new_v4();
        self.jwt.push(JwtSecret {
            id,
            created_at: 1,
            consumer: ForeignKey::new(consumer),
            key: key.into(),
            secret: secret.into(),
            rsa_public_key,
            algorithm: algorithm.into(),
            tags: None,
        });
        id
    }

    pub fn hmac(&mut self, consumer: Uuid, username: &str, secret: &str) -> Uuid {
        let id = Uuid::new_v4();
        self.hmac.push(HmacAuthCredential {
            id,
            created_at: 1,
            consumer: ForeignKey::new(consumer),
            username: username.into(),
            secret: secret.into(),
            tags: None,
        });
        id
    }

    pub fn acl(&mut self, consumer: Uuid, group: &str) {
        self.acls.push(Acl {
            id: Uuid::new_v4(),
            created_at: 1,
            consumer: ForeignKey::new(consumer),
            group: group.into(),
            tags: None,
        });
    }

    pub fn route(&mut self, service: Option<Uuid>) -> Uuid {
        let id = Uuid::new_v4();
        self.routes.push((id, service));
        id
    }

    /// A plugin with its config validated and defaults filled.
    pub fn plugin(
        &mut self,
        name: &str,
        config: Value,
        route: Option<Uuid>,
        service: Option<Uuid>,
        consumer: Option<Uuid>,
    ) -> Uuid {
        let id = Uuid::new_v4();
        let config = filled(name, config);
        self.plugins.push(PluginEntity {
            id,
            created_at: 1,
            updated_at: 1,
            name: name.into(),
            instance_name: None,
            route: route.map(ForeignKey::new),
            service: service.map(ForeignKey::new),
            consumer: consumer.map(ForeignKey::new),
            config,
            protocols: vec![Protocol::Http, Protocol::Https],
            enabled: true,
            tags: None,
        });
        id
    }

    pub fn global(&mut self, name: &str, config: Value) -> Uuid {
        self.plugin(name, config, None, None, None)
    }

    pub fn build(&self) -> PluginSet {
        PluginSet::build(PluginConfig {
            plugins: &self.plugins,
            routes: &self.routes,
            consumers: &self.consumers,
            credentials: Credentials {
                keyauth: &self.keyauth,
                basicauth: &self.basicauth,
                jwt: &self.jwt,
                hmacauth: &self.hmac,
                acls: &self.acls,
            },
        })
        .unwrap()
    }
}

/// A request context for `target`, with request id `rid`.
pub fn req(method: Method, target: &str) -> RequestCtx {
    let mut ctx = RequestCtx::new(method, target);
    ctx.request_id = "rid".into();
    ctx.host = "example.com".into();
    ctx.client_ip = Some([127, 0, 0, 1].into());
    ctx
}

/// Adds a header.
pub fn with_header(mut ctx: RequestCtx, name: &'static str, value: &str) -> RequestCtx {
    ctx.headers
        .append(name, HeaderValue::from_str(value).unwrap());
    ctx
}

/// A request with a `Content-Type` and a buffered body.
pub fn with_body(
    method: Method,
    target: &str,
    content_type: &str,
    body: &'static [u8],
) -> RequestCtx {
    let mut ctx = with_header(req(method, target), "content-type", content_type);
    ctx.body = Some(bytes::Bytes::from_static(body));
    ctx
}

/// Runs rewrite + access on the route's chain (or the global chain).
pub fn run_access(set: &PluginSet, ctx: &mut RequestCtx) -> Decision {
    let mut run = set.begin();
    if let d @ Decision::Respond(_) = run.rewrite(ctx) {
        return d;
    }
    run.select(set.chain_for(ctx.route_id, ctx.service_id));
    let d = run.access(ctx);
    // The headers as the upstream gets them.
    ctx.apply_consumer_headers();
    d
}

/// The response of a short-circuit, or a panic.
pub fn responded(d: Decision) -> KongResponse {
    match d {
        Decision::Respond(r) => *r,
        Decision::Continue => panic!("expected a response, got Continue"),
    }
}

/// Asserts a Kong error-template JSON response.
pub fn assert_error(d: Decision, status: u16, message: &str) -> KongResponse {
    let r = responded(d);
    assert_eq!(r.status, StatusCode::from_u16(status).unwrap(), "status");
    let expected = format!(
        "{{\n  \"message\":{},\n  \"request_id\":\"rid\"\n}}",
        json!(message)
    );
    assert_eq!(std::str::from_utf8(&r.body).unwrap(), expected);
    r
}

/// Asserts an exit-helper JSON body.
pub fn assert_exit(d: Decision, status: u16, body: Value) -> KongResponse {
    let r = responded(d);
    assert_eq!(r.status, StatusCode::from_u16(status).unwrap(), "status");
    let got: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(got, body);
    r
}

/// Header value as str.
pub fn header<'a>(map: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    map.get(name).and_then(|v| v.to_str().ok())
}
