//! Declarative configuration: nesting, references, Kong's ids, duplicate
//! detection and multi-error reporting, on realistic kong.yml fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gantry_core::declarative::{self, DeclarativeConfig, DeclarativeError};
use serde_json::{Value, json};
use uuid::Uuid;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/kong.yml");

/// Kong's id rule computed independently: uuid5(uuid5(N0, entity), key).
fn kid(entity: &str, key: &str) -> Uuid {
    let n0 = Uuid::parse_str("fd02801f-0957-4a15-a55a-c8d9606f30b5").unwrap();
    Uuid::new_v5(&Uuid::new_v5(&n0, entity.as_bytes()), key.as_bytes())
}

fn load() -> DeclarativeConfig {
    declarative::parse_file(FIXTURE).unwrap_or_else(|e| panic!("fixture rejected:\n{e}"))
}

fn invalid(yaml: &str) -> (Value, Vec<String>) {
    match declarative::parse(yaml) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(DeclarativeError::Invalid { fields, errors, .. }) => (
            serde_json::to_value(fields).unwrap(),
            errors.iter().map(ToString::to_string).collect(),
        ),
        Err(other) => panic!("unexpected error kind: {other}"),
    }
}

#[test]
fn fixture_entities_and_nesting() {
    let c = load();
    assert_eq!(c.format_version, "3.0");
    assert!(c.transform);
    assert_eq!(
        (
            c.services.len(),
            c.routes.len(),
            c.plugins.len(),
            c.upstreams.len(),
            c.targets.len()
        ),
        (3, 5, 6, 1, 3)
    );
    assert_eq!(
        (c.consumers.len(), c.certificates.len(), c.snis.len()),
        (2, 1, 3)
    );
    let orders = c
        .services
        .iter()
        .find(|s| s.name.as_deref() == Some("orders"))
        .unwrap();
    assert_eq!(orders.id, kid("services", "orders"));
    assert_eq!(
        (orders.host.as_str(), orders.port, orders.path.as_deref()),
        ("orders.internal", 8080, Some("/api"))
    );
    assert_eq!(orders.retries, 3);
    let route = |n: &str| {
        c.routes
            .iter()
            .find(|r| r.name.as_deref() == Some(n))
            .unwrap()
    };
    assert_eq!(route("orders-route").id, kid("routes", "orders-route"));
    assert_eq!(route("orders-route").service.unwrap().id, orders.id);
    assert!(!route("orders-route").strip_path);
    assert_eq!(route("orders-regex").service.unwrap().id, orders.id);
    // top-level references by name and by id
    assert_eq!(route("health").service.unwrap().id, orders.id);
    let grpc_id = Uuid::parse_str("5f0a6b18-0a9e-4b3a-8a6e-3f0f4f4d7e21").unwrap();
    assert_eq!(route("users").service.unwrap().id, grpc_id);
    assert_eq!(route("grpc-route").service.unwrap().id, grpc_id);
    assert!(!route("grpc-route").strip_path);
}

#[test]
fn fixture_plugin_ids_follow_kong_cache_keys() {
    let c = load();
    let orders = kid("services", "orders");
    let orders_route = kid("routes", "orders-route");
    let alice = kid("consumers", "alice");
    let by_id = |id: Uuid| c.plugins.iter().find(|p| p.id == id);
    let key_auth =
        by_id(kid("plugins", &format!("plugins:*:key-auth::{orders}:"))).expect("key-auth");
    assert_eq!(
        (key_auth.service.map(|f| f.id), key_auth.route),
        (Some(orders), None)
    );
    assert_eq!(key_auth.config, json!({"key_names": ["apikey"]}));
    let rl = by_id(kid(
        "plugins",
        &format!("plugins:*:rate-limiting:{orders_route}::"),
    ))
    .expect("route plugin");
    assert_eq!(
        (rl.route.map(|f| f.id), rl.service),
        (Some(orders_route), None)
    );
    let crl = by_id(kid(
        "plugins",
        &format!("plugins:*:rate-limiting:::{alice}"),
    ))
    .expect("consumer plugin");
    assert_eq!(crl.consumer.map(|f| f.id), Some(alice));
    by_id(kid("plugins", "plugins:*:prometheus:::")).expect("global plugin");
    // a top-level reference by name enters the key as written
    let rt = by_id(kid(
        "plugins",
        "plugins:*:request-termination:health::alice",
    ))
    .expect("scoped plugin");
    assert_eq!(rt.route.map(|f| f.id), Some(kid("routes", "health")));
    assert_eq!(rt.consumer.map(|f| f.id), Some(alice));
    // a plugin under an unnamed (randomly identified) service gets a random id
    let cors = c.plugins.iter().find(|p| p.name == "cors").unwrap();
    let unnamed = c.services.iter().find(|s| s.name.is_none()).unwrap();
    assert_eq!(cors.service.map(|f| f.id), Some(unnamed.id));
    assert_ne!(
        cors.id,
        kid("plugins", &format!("plugins:*:cors::{}:", unnamed.id))
    );
}

#[test]
fn fixture_upstreams_targets_and_credentials() {
    let c = load();
    let up = &c.upstreams[0];
    assert_eq!(up.id, kid("upstreams", "orders.internal"));
    assert_eq!(
        serde_json::to_value(up.algorithm).unwrap(),
        json!("consistent-hashing")
    );
    assert_eq!(up.healthchecks["active"]["http_path"], json!("/status"));
    assert_eq!(up.healthchecks["active"]["healthy"]["interval"], json!(5));
    assert_eq!(up.healthchecks["active"]["healthy"]["successes"], json!(0));
    let t = |id: Uuid| c.targets.iter().find(|t| t.id == id).unwrap();
    let t1 = t(kid("targets", &format!("targets:*:{}:10.0.0.1", up.id)));
    assert_eq!(
        (t1.target.as_str(), t1.weight, t1.upstream.id),
        ("10.0.0.1:8000", 100, up.id)
    );
    assert_eq!(
        t(kid(
            "targets",
            &format!("targets:*:{}:10.0.0.2:9000", up.id)
        ))
        .weight,
        50
    );
    let t3 = t(kid("targets", "targets:*:orders.internal:10.0.0.3"));
    assert_eq!(
        (t3.target.as_str(), t3.upstream.id),
        ("10.0.0.3:8000", up.id)
    );

    let alice = kid("consumers", "alice");
    assert_eq!(
        c.consumers
            .iter()
            .find(|x| x.id == alice)
            .unwrap()
            .custom_id
            .as_deref(),
        Some("1001")
    );
    let acl = &c.acls[0];
    assert_eq!(
        (acl.id, acl.consumer.id, acl.group.as_str()),
        (
            kid("acls", &format!("acls:*:{alice}:admins")),
            alice,
            "admins"
        )
    );
    let ba = &c.basicauth_credentials[0];
    assert_eq!(
        ba.id,
        kid(
            "basicauth_credentials",
            "basicauth_credentials:*:alice-basic"
        )
    );
    let hash = sha1_smol::Sha1::from(format!("s3cret{alice}"))
        .digest()
        .to_string();
    assert_eq!(ba.password, hash);
    let ka = &c.keyauth_credentials[0];
    assert_eq!((ka.key.as_str(), ka.consumer.id), ("alice-key", alice));
    let bob = kid("consumers", "bob");
    assert_eq!(c.jwt_secrets[0].consumer.id, bob);
    assert_eq!(c.jwt_secrets[0].algorithm, "HS256");
    assert_eq!(
        c.hmacauth_credentials[0].id,
        kid("hmacauth_credentials", "hmacauth_credentials:*:bob-hmac")
    );
    assert_eq!(c.hmacauth_credentials[0].secret.len(), 32);

    let cert = Uuid::parse_str("2e6a2b4f-6f4e-4c3a-9a6b-6d0f5c1c2b3a").unwrap();
    let sni = |n: &str| c.snis.iter().find(|s| s.name == n).unwrap();
    assert_eq!(sni("shop.example.com").id, kid("snis", "shop.example.com"));
    assert_eq!(sni("*.shop.example.com").certificate.id, cert);
    assert_eq!(sni("api.example.com").certificate.id, cert);
}

#[test]
fn random_ids_change_between_loads_but_named_ones_do_not() {
    let (a, b) = (load(), load());
    let unnamed = |c: &DeclarativeConfig| c.services.iter().find(|s| s.name.is_none()).unwrap().id;
    assert_ne!(unnamed(&a), unnamed(&b));
    assert_ne!(a.keyauth_credentials[0].id, b.keyauth_credentials[0].id);
    assert_eq!(
        a.routes.iter().map(|r| r.id).collect::<Vec<_>>()[0],
        b.routes[0].id
    );
}

fn strip_updated_at(mut v: Value) -> Value {
    if let Some(doc) = v.as_object_mut() {
        for list in doc.values_mut().filter_map(Value::as_array_mut) {
            for e in list.iter_mut().filter_map(Value::as_object_mut) {
                e.remove("updated_at");
            }
        }
    }
    v
}

#[test]
fn export_is_flat_and_reimports_identically() {
    let c = load();
    let out = c.to_value();
    assert_eq!(out["_format_version"], json!("3.0"));
    assert_eq!(out["_transform"], json!(false));
    let route = out["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == json!("health"))
        .unwrap();
    assert_eq!(
        route["service"],
        json!(kid("services", "orders").to_string())
    );
    assert!(route.get("hosts").is_none(), "null fields are left out");
    let yaml = c.to_yaml().unwrap();
    let again = declarative::parse(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(strip_updated_at(again.to_value()), strip_updated_at(out));
    assert_eq!(
        again.basicauth_credentials[0].password,
        c.basicauth_credentials[0].password
    );
}

#[test]
fn json_documents_and_old_format_versions_are_accepted() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/kong.json"
    ))
    .unwrap();
    let c = declarative::parse(&text).unwrap();
    assert_eq!(c.format_version, "2.1");
    assert_eq!(c.routes[0].service.unwrap().id, kid("services", "echo"));
    assert_eq!(c.consumers[0].custom_id.as_deref(), Some("c-1"));
    declarative::parse("_format_version: '1.1'\n").unwrap();
}

#[test]
fn format_version_and_top_level_keys() {
    let (f, e) = invalid("services: []\n");
    assert_eq!(f, json!({"_format_version": "required field missing"}));
    assert_eq!(e, vec!["_format_version: required field missing"]);
    let (f, _) = invalid("_format_version: '4.0'\n");
    assert_eq!(
        f,
        json!({"_format_version": "expected one of: 1.1, 2.1, 3.0"})
    );
    let (f, _) = invalid("_format_version: '3.0'\nvaultz: []\n_transform: 1\n");
    assert_eq!(
        f,
        json!({"vaultz": "unknown field", "_transform": "expected a boolean"})
    );
    let (f, _) = invalid("_format_version: '3.0'\nservices: {name: x}\nroutes: [3]\n");
    assert_eq!(
        f,
        json!({"services": "expected an array", "routes": ["expected a record"]})
    );
}

#[test]
fn every_error_is_reported_with_its_path() {
    let (f, e) = invalid(
        r#"
_format_version: "3.0"
services:
- name: a
  host: a.internal
  routes:
  - name: r1
    paths: [/ok]
  - name: r2
    paths: ["x", "/a//b"]
    foo: 1
- name: b
consumers:
- tags: [t]
plugins:
- name: not-a-plugin
"#,
    );
    assert_eq!(
        e,
        vec![
            "services[1].routes[2].foo: unknown field",
            "services[1].routes[2].paths[1]: should start with: / (fixed path) or ~/ (regex path)",
            "services[1].routes[2].paths[2]: must not have empty segments",
            "services[2].host: required field missing",
            "consumers[1]: at least one of these fields must be non-empty: 'custom_id', 'username'",
            "plugins[1].name: plugin 'not-a-plugin' not enabled; add it to the 'plugins' configuration property",
        ]
    );
    assert_eq!(
        f["services"],
        json!([{"routes": [null, {"foo": "unknown field", "paths": [
            "should start with: / (fixed path) or ~/ (regex path)", "must not have empty segments"]}]},
            {"host": "required field missing"}])
    );
    assert_eq!(
        f["consumers"],
        json!([{"@entity": ["at least one of these fields must be non-empty: 'custom_id', 'username'"]}])
    );
}

#[test]
fn nested_entities_may_not_name_their_parents() {
    let (f, e) = invalid(
        "_format_version: '3.0'\nservices:\n- name: a\n  host: a\n  routes:\n  - paths: [/]\n    service: a\n  plugins:\n  - name: rate-limiting\n    consumer: bob\n",
    );
    assert_eq!(
        e,
        vec![
            "services[1].routes[1].service: value must be null",
            "services[1].plugins[1].consumer: value must be null"
        ]
    );
    assert_eq!(
        f["services"][0]["routes"][0],
        json!({"service": "value must be null"})
    );
}

#[test]
fn unresolved_references_use_kong_text() {
    let (f, e) = invalid(
        "_format_version: '3.0'\nroutes:\n- name: r\n  service: nope\n  paths: [/]\nplugins:\n- name: cors\n  route: {id: 9f0a6b18-0a9e-4b3a-8a6e-3f0f4f4d7e21}\n",
    );
    assert_eq!(
        f["routes"],
        json!({"r": ["invalid reference 'service: nope' (no such entry in 'services')"]})
    );
    // an object reference is not a string, so Kong leaves it out of the cache key
    let pid = kid("plugins", "plugins:*:cors::").to_string();
    assert_eq!(
        f["plugins"][pid.as_str()],
        json!([
            "invalid reference 'route: {\"id\":\"9f0a6b18-0a9e-4b3a-8a6e-3f0f4f4d7e21\"}' (no such entry in 'routes')"
        ])
    );
    assert_eq!(
        e[0],
        "routes[1]: invalid reference 'service: nope' (no such entry in 'services')"
    );
}

#[test]
fn duplicates_use_kong_text() {
    let (_, e) =
        invalid("_format_version: '3.0'\nservices:\n- {name: a, host: x}\n- {name: a, host: yy}\n");
    assert_eq!(
        e,
        vec![
            "services[2]: uniqueness violation: 'services' entity with name set to 'a' already declared"
        ]
    );

    let (f, e) = invalid(
        "_format_version: '3.0'\nupstreams:\n- name: u\n  targets:\n  - target: 10.0.0.1\n  - target: 10.0.0.1\n",
    );
    let tid = kid(
        "targets",
        &format!("targets:*:{}:10.0.0.1", kid("upstreams", "u")),
    );
    let msg = format!(
        "uniqueness violation: 'targets' entity with primary key set to '{tid}' already declared"
    );
    assert_eq!(e, vec![format!("upstreams[1].targets[2]: {msg}")]);
    assert_eq!(f["upstreams"][0]["targets"], json!([null, msg]));

    let (f, _) = invalid(
        "_format_version: '3.0'\nconsumers:\n- {username: a, custom_id: '1'}\n- {username: b, custom_id: '1'}\n",
    );
    assert_eq!(
        f,
        json!({"consumers": {"b": "uniqueness violation: 'consumers' entity with custom_id set to '1' already declared"}})
    );

    let (_, e) = invalid(
        "_format_version: '3.0'\nservices:\n- name: s\n  host: s\n  plugins:\n  - name: cors\n  - name: cors\n",
    );
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with(
        "services[1].plugins[2]: uniqueness violation: 'plugins' entity with primary key set to"
    ));
}

#[test]
fn error_bodies_and_display() {
    let err = declarative::parse("services: []\n").unwrap_err();
    let body = serde_json::to_value(err.to_kong_error(false)).unwrap();
    assert_eq!(
        body,
        json!({"code": 14, "name": "invalid declarative configuration",
            "message": "declarative config is invalid: {_format_version=\"required field missing\"}",
            "fields": {"_format_version": "required field missing"}})
    );
    let err = declarative::parse("_format_version: '3.0'\nservices:\n- name: s\n").unwrap_err();
    let flat = serde_json::to_value(err.to_kong_error(true)).unwrap();
    assert_eq!(flat["fields"], json!({}));
    assert_eq!(
        flat["flattened_errors"],
        json!([{"entity_name": "s", "entity_type": "service", "entity": {"name": "s"},
            "errors": [{"type": "field", "field": "host", "message": "required field missing"}]}])
    );
    let multi =
        declarative::parse("_format_version: '3.0'\nfoo: 1\nservices:\n- name: s\n").unwrap_err();
    assert_eq!(
        multi.to_string(),
        "foo: unknown field\nservices[1].host: required field missing"
    );
    assert!(matches!(
        declarative::parse("a: [b"),
        Err(DeclarativeError::Parse(_))
    ));
    assert!(matches!(
        declarative::parse("  "),
        Err(DeclarativeError::Parse(_))
    ));
    assert!(matches!(
        declarative::parse_file("/nonexistent/kong.yml"),
        Err(DeclarativeError::Io(_))
    ));
}

/// A flattened error shows the entity as written: no generated `id`, and its parent's
/// link only when the document gave the parent a UUID.
#[test]
fn flattened_entity_is_as_written_with_the_given_parent_id() {
    let sid = "3f0c8a5e-7b2d-4c1e-9a6f-1d2e3f4a5b6c";
    let doc = format!(
        "_format_version: '3.0'\nservices:\n- name: s\n  id: {sid}\n  host: h\n  routes:\n  - name: r\n    paths: [/a]\n    protocols: [bogus]\n"
    );
    let err = declarative::parse(&doc).unwrap_err();
    let flat = serde_json::to_value(err.to_kong_error(true)).unwrap();
    let entity = &flat["flattened_errors"][0]["entity"];
    assert_eq!(
        entity,
        &json!({"name": "r", "paths": ["/a"], "protocols": ["bogus"], "service": {"id": sid}})
    );
    let doc = "_format_version: '3.0'\nservices:\n- name: s\n  host: h\n  routes:\n  - name: r\n    paths: [/a]\n    protocols: [bogus]\n";
    let err = declarative::parse(doc).unwrap_err();
    let flat = serde_json::to_value(err.to_kong_error(true)).unwrap();
    assert_eq!(
        flat["flattened_errors"][0]["entity"],
        json!({"name": "r", "paths": ["/a"], "protocols": ["bogus"]})
    );
}

#[test]
fn transform_false_keeps_secrets_as_given() {
    let c = declarative::parse(
        "_format_version: '3.0'\n_transform: false\nconsumers:\n- username: a\n  basicauth_credentials:\n  - {username: u, password: hashed}\n",
    )
    .unwrap();
    assert!(!c.transform);
    assert_eq!(c.basicauth_credentials[0].password, "hashed");
}

mod props {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn entity() -> impl Strategy<Value = Value> {
        let v = prop_oneof![
            Just(json!(null)),
            Just(json!("a")),
            Just(json!("/p")),
            Just(json!(1)),
            Just(json!(["/x"])),
            Just(json!({})),
            Just(json!([{"name": "r"}])),
        ];
        let k = prop_oneof![
            Just("name"),
            Just("host"),
            Just("paths"),
            Just("routes"),
            Just("plugins"),
            Just("service"),
            Just("targets"),
            Just("target"),
            Just("upstream"),
            Just("id"),
            Just("username"),
            Just("_comment"),
        ];
        prop::collection::vec((k, v), 0..5)
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn loading_never_panics(
            top in prop::collection::vec((prop_oneof![Just("services"), Just("routes"), Just("upstreams"),
                Just("plugins"), Just("consumers"), Just("targets")], prop::collection::vec(entity(), 0..3)), 0..4)
        ) {
            let mut doc = serde_json::Map::new();
            doc.insert("_format_version".into(), json!("3.0"));
            for (k, v) in top {
                doc.insert(k.to_string(), Value::Array(v));
            }
            let _ = gantry_core::declarative::from_value(&Value::Object(doc), gantry_core::schemas::bundled());
        }
    }
}
