//! The behaviour suite every `Store` must pass, written against `&dyn Store` and
//! instantiated per backend by `store_suite!`.

use gantry_store::{ListQuery, Store, StoreError, TagFilter, Write};
use serde_json::{Map, Value, json};
use uuid::Uuid;

pub fn id() -> Uuid {
    Uuid::new_v4()
}

pub fn ins(entity: &str, value: Value) -> Write {
    Write::Insert {
        entity: entity.into(),
        value,
    }
}

pub fn del(entity: &str, id: Uuid) -> Write {
    Write::Delete {
        entity: entity.into(),
        id,
    }
}

pub fn service(id: Uuid, name: &str) -> Value {
    json!({"id": id.to_string(), "name": name, "host": "example.com", "port": 80, "tags": null})
}

pub fn route(id: Uuid, service: Option<Uuid>) -> Value {
    json!({"id": id.to_string(), "name": null, "paths": ["/"],
           "service": service.map(|s| json!({"id": s.to_string()})), "tags": null})
}

pub fn consumer(id: Uuid, username: &str) -> Value {
    json!({"id": id.to_string(), "username": username, "custom_id": null, "tags": null})
}

pub fn plugin(
    id: Uuid,
    name: &str,
    route: Option<Uuid>,
    service: Option<Uuid>,
    consumer: Option<Uuid>,
) -> Value {
    let fk = |x: Option<Uuid>| x.map(|u| json!({"id": u.to_string()}));
    json!({"id": id.to_string(), "name": name, "instance_name": null, "route": fk(route),
           "service": fk(service), "consumer": fk(consumer), "config": {}, "enabled": true})
}

pub fn keyauth(id: Uuid, consumer: Uuid, key: &str) -> Value {
    json!({"id": id.to_string(), "consumer": {"id": consumer.to_string()}, "key": key, "tags": null})
}

pub fn upstream(id: Uuid, name: &str) -> Value {
    json!({"id": id.to_string(), "name": name, "tags": null})
}

pub fn target(id: Uuid, upstream: Uuid, target: &str) -> Value {
    json!({"id": id.to_string(), "upstream": {"id": upstream.to_string()}, "target": target, "weight": 100})
}

pub fn ids(items: &[Value]) -> Vec<Uuid> {
    items
        .iter()
        .map(|v| Uuid::parse_str(v["id"].as_str().unwrap()).unwrap())
        .collect()
}

async fn all_pages(store: &dyn Store, entity: &str, mut q: ListQuery) -> Vec<Uuid> {
    let mut out = Vec::new();
    loop {
        let page = store.list(entity, &q).await.unwrap();
        assert!(page.items.len() <= q.size.max(1));
        out.extend(ids(&page.items));
        match page.offset {
            Some(tok) => q.offset = Some(tok),
            None => return out,
        }
    }
}

pub async fn insert_get_find(store: &dyn Store) {
    let s = id();
    let out = store
        .apply(vec![ins("services", service(s, "svc"))])
        .await
        .unwrap();
    assert_eq!(out[0]["name"], "svc");
    assert_eq!(
        store.get("services", s).await.unwrap().unwrap()["name"],
        "svc"
    );
    assert!(store.get("services", id()).await.unwrap().is_none());
    assert!(store.get("routes", s).await.unwrap().is_none());
    let found = store
        .find_unique("services", "name", &json!("svc"))
        .await
        .unwrap();
    assert_eq!(found.unwrap()["id"], s.to_string());
    assert!(
        store
            .find_unique("services", "name", &json!("nope"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_unique("services", "name", &Value::Null)
            .await
            .unwrap()
            .is_none()
    );
    let err = store
        .find_unique("services", "host", &json!("example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    // Insert of an existing id: primary key violation.
    let err = store
        .apply(vec![ins("services", service(s, "other"))])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::PrimaryKey { .. }), "{err:?}");
    // Deleting a missing id is fine.
    store.apply(vec![del("services", id())]).await.unwrap();
    // Malformed values are refused.
    let err = store
        .apply(vec![ins("services", json!({"name": "x"}))])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
}

pub async fn pagination(store: &dyn Store) {
    let mut want: Vec<Uuid> = (0..25).map(|_| id()).collect();
    let writes = want
        .iter()
        .enumerate()
        .map(|(i, s)| ins("services", service(*s, &format!("s{i}"))))
        .collect();
    store.apply(writes).await.unwrap();
    want.sort();
    let q = ListQuery {
        size: 10,
        ..ListQuery::default()
    };
    let first = store.list("services", &q).await.unwrap();
    assert_eq!(first.items.len(), 10);
    assert!(first.offset.is_some());
    assert_eq!(all_pages(store, "services", q).await, want);
    // Exactly one full page: no offset.
    let exact = store
        .list(
            "services",
            &ListQuery {
                size: 25,
                ..ListQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(exact.items.len(), 25);
    assert!(exact.offset.is_none());
    // Default size (0 → 100).
    assert_eq!(
        store
            .list("services", &ListQuery::default())
            .await
            .unwrap()
            .items
            .len(),
        25
    );
    assert!(
        store
            .list("routes", &ListQuery::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let bad = ListQuery {
        offset: Some("not base64!".into()),
        ..ListQuery::default()
    };
    let err = store.list("services", &bad).await.unwrap_err();
    assert!(matches!(&err, StoreError::InvalidOffset(t) if t == "not base64!"));
    assert_eq!(err.kong_code(), (7, 400));
}

pub async fn tags(store: &dyn Store) {
    let mut writes = Vec::new();
    let mut both = Vec::new();
    let mut only_a = Vec::new();
    for i in 0..12 {
        let s = id();
        let mut v = service(s, &format!("t{i}"));
        let tags = match i % 3 {
            0 => {
                both.push(s);
                json!(["a", "b"])
            }
            1 => {
                only_a.push(s);
                json!(["a"])
            }
            _ => json!(["c"]),
        };
        v["tags"] = tags;
        writes.push(ins("services", v));
    }
    store.apply(writes).await.unwrap();
    let q = |f: TagFilter| ListQuery {
        size: 3,
        tags: Some(f),
        ..ListQuery::default()
    };
    let mut all = all_pages(
        store,
        "services",
        q(TagFilter::All(vec!["a".into(), "b".into()])),
    )
    .await;
    both.sort();
    assert_eq!(all, both);
    let mut any = all_pages(
        store,
        "services",
        q(TagFilter::Any(vec!["a".into(), "zz".into()])),
    )
    .await;
    let mut want = [both.clone(), only_a].concat();
    want.sort();
    assert_eq!(any, want);
    all = all_pages(
        store,
        "services",
        q(TagFilter::All(vec!["a".into(), "c".into()])),
    )
    .await;
    assert!(all.is_empty());
    any = all_pages(store, "services", q(TagFilter::Any(vec!["c".into()]))).await;
    assert_eq!(any.len(), 4);
    // `/tags`: 4 × (a, b) + 4 × a + 4 × c = 16 rows, paged in (tag, entity, id) order.
    let mut q = ListQuery {
        size: 5,
        ..ListQuery::default()
    };
    let mut rows = Vec::new();
    loop {
        let page = store.list_tags(None, &q).await.unwrap();
        rows.extend(page.items);
        match page.offset {
            Some(t) => q.offset = Some(t),
            None => break,
        }
    }
    assert_eq!(rows.len(), 16);
    let keys: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["tag"].as_str().unwrap().to_string(),
                r["entity_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(rows[0]["entity_name"], "services");
    let b = store
        .list_tags(Some("b"), &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(b.items.len(), 4);
    assert!(b.offset.is_none());
    let q = ListQuery {
        size: 3,
        ..ListQuery::default()
    };
    let b1 = store.list_tags(Some("b"), &q).await.unwrap();
    let q = ListQuery {
        size: 3,
        offset: b1.offset,
        ..ListQuery::default()
    };
    let b2 = store.list_tags(Some("b"), &q).await.unwrap();
    assert_eq!((b1.items.len(), b2.items.len()), (3, 1));
    assert!(b2.offset.is_none());
    let bad = ListQuery {
        offset: Some("x".into()),
        ..ListQuery::default()
    };
    assert!(store.list_tags(None, &bad).await.is_err());
}

pub async fn unique_violations(store: &dyn Store) {
    store
        .apply(vec![ins("services", service(id(), "dup"))])
        .await
        .unwrap();
    let err = store
        .apply(vec![ins("services", service(id(), "dup"))])
        .await
        .unwrap_err();
    assert_eq!(err.kong_code(), (5, 409));
    assert_eq!(
        err.kong_message(),
        r#"UNIQUE violation detected on '{name="dup"}'"#
    );
    match &err {
        StoreError::Unique { entity, fields } => {
            assert_eq!(entity, "services");
            assert_eq!(Value::Object(fields.clone()), json!({"name": "dup"}));
        }
        other => panic!("{other:?}"),
    }
    // Null unique fields never conflict.
    let (r1, r2) = (id(), id());
    store
        .apply(vec![
            ins("routes", route(r1, None)),
            ins("routes", route(r2, None)),
        ])
        .await
        .unwrap();
    // One plugin per (name, route, service, consumer).
    store
        .apply(vec![ins(
            "plugins",
            plugin(id(), "cors", Some(r1), None, None),
        )])
        .await
        .unwrap();
    store
        .apply(vec![ins(
            "plugins",
            plugin(id(), "cors", Some(r2), None, None),
        )])
        .await
        .unwrap();
    store
        .apply(vec![ins("plugins", plugin(id(), "cors", None, None, None))])
        .await
        .unwrap();
    let err = store
        .apply(vec![ins(
            "plugins",
            plugin(id(), "cors", Some(r1), None, None),
        )])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Unique { fields, .. } if fields.len() == 4),
        "{err:?}"
    );
    assert!(
        err.kong_message().contains("consumer=null"),
        "{}",
        err.kong_message()
    );
    let err = store
        .apply(vec![ins("plugins", plugin(id(), "cors", None, None, None))])
        .await;
    assert!(matches!(err, Err(StoreError::Unique { .. })));
    // One target string per upstream.
    let (u1, u2) = (id(), id());
    store
        .apply(vec![
            ins("upstreams", upstream(u1, "u1")),
            ins("upstreams", upstream(u2, "u2")),
            ins("targets", target(id(), u1, "a:80")),
            ins("targets", target(id(), u2, "a:80")),
        ])
        .await
        .unwrap();
    let err = store
        .apply(vec![ins("targets", target(id(), u1, "a:80"))])
        .await;
    assert!(matches!(err, Err(StoreError::Unique { .. })));
    let mut key = Map::new();
    key.insert("upstream".into(), json!({"id": u2.to_string()}));
    key.insert("target".into(), json!("a:80"));
    let t = store
        .find_by_cache_key("targets", &key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t["upstream"]["id"], u2.to_string());
    key.insert("upstream".into(), json!(u1.to_string()));
    assert!(
        store
            .find_by_cache_key("targets", &key)
            .await
            .unwrap()
            .is_some()
    );
    // Unique credential keys across consumers.
    let (c1, c2) = (id(), id());
    store
        .apply(vec![
            ins("consumers", consumer(c1, "bob")),
            ins("consumers", consumer(c2, "amy")),
            ins("keyauth_credentials", keyauth(id(), c1, "k1")),
        ])
        .await
        .unwrap();
    let err = store
        .apply(vec![ins("keyauth_credentials", keyauth(id(), c2, "k1"))])
        .await;
    assert!(matches!(err, Err(StoreError::Unique { .. })));
    let found = store
        .find_unique("keyauth_credentials", "key", &json!("k1"))
        .await
        .unwrap();
    assert_eq!(found.unwrap()["consumer"]["id"], c1.to_string());
}

pub async fn foreign_keys(store: &dyn Store) {
    let missing = id();
    let err = store
        .apply(vec![ins("routes", route(id(), Some(missing)))])
        .await
        .unwrap_err();
    match &err {
        StoreError::ForeignKey {
            entity,
            field,
            parent,
            id,
        } => {
            assert_eq!(
                (entity.as_str(), field.as_str(), parent.as_str()),
                ("routes", "service", "services")
            );
            assert_eq!(*id, missing);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.kong_code(), (4, 400));
    assert_eq!(
        err.kong_message(),
        format!(
            "the foreign key '{{id=\"{missing}\"}}' does not reference an existing 'services' entity."
        )
    );
    // A parent written earlier in the same transaction counts.
    let s = id();
    store
        .apply(vec![
            ins("services", service(s, "p")),
            ins("routes", route(id(), Some(s))),
        ])
        .await
        .unwrap();
}

pub async fn nested_lists(store: &dyn Store) {
    let (a, b) = (id(), id());
    let mut writes = vec![
        ins("services", service(a, "a")),
        ins("services", service(b, "b")),
    ];
    let mut of_a = Vec::new();
    for i in 0..7 {
        let r = id();
        let parent = if i % 2 == 0 { a } else { b };
        if parent == a {
            of_a.push(r);
        }
        writes.push(ins("routes", route(r, Some(parent))));
    }
    store.apply(writes).await.unwrap();
    of_a.sort();
    let q = ListQuery {
        size: 2,
        foreign: Some(("service".into(), a)),
        ..ListQuery::default()
    };
    assert_eq!(all_pages(store, "routes", q).await, of_a);
    let none = ListQuery {
        foreign: Some(("service".into(), id())),
        ..ListQuery::default()
    };
    assert!(store.list("routes", &none).await.unwrap().items.is_empty());
}

pub async fn cascade_and_restrict(store: &dyn Store) {
    let (s, r, c, k, p1, p2, p3) = (id(), id(), id(), id(), id(), id(), id());
    store
        .apply(vec![
            ins("services", service(s, "s")),
            ins("routes", route(r, Some(s))),
            ins("consumers", consumer(c, "c")),
            ins("keyauth_credentials", keyauth(k, c, "key")),
            ins("plugins", plugin(p1, "cors", None, None, Some(c))),
            ins("plugins", plugin(p2, "cors", Some(r), None, None)),
            ins("plugins", plugin(p3, "cors", None, Some(s), None)),
        ])
        .await
        .unwrap();
    // A service with routes cannot go.
    let err = store.apply(vec![del("services", s)]).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Referenced { parent, child } if parent == "services" && child == "routes")
    );
    assert_eq!(
        err.kong_message(),
        "an existing 'routes' entity references this 'services' entity"
    );
    assert!(store.get("services", s).await.unwrap().is_some());
    assert!(
        store.get("plugins", p3).await.unwrap().is_some(),
        "nothing cascaded"
    );
    // A consumer takes its credentials and plugins with it.
    let mut rx = store.subscribe();
    store.apply(vec![del("consumers", c)]).await.unwrap();
    for (e, i) in [
        ("consumers", c),
        ("keyauth_credentials", k),
        ("plugins", p1),
    ] {
        assert!(store.get(e, i).await.unwrap().is_none(), "{e} left");
    }
    let change = rx.recv().await.unwrap();
    assert_eq!(change.touched.len(), 3);
    assert!(change.touched.contains(&("keyauth_credentials".into(), k)));
    // Route, then service: each takes its plugins.
    store
        .apply(vec![del("routes", r), del("services", s)])
        .await
        .unwrap();
    assert!(store.get("plugins", p2).await.unwrap().is_none());
    assert!(store.get("plugins", p3).await.unwrap().is_none());
    assert!(store.get("services", s).await.unwrap().is_none());
    // Upstreams take their targets, certificates their snis; a certificate a
    // service uses is restricted.
    let (u, t, cert, sni, s2) = (id(), id(), id(), id(), id());
    store
        .apply(vec![
            ins("upstreams", upstream(u, "up")),
            ins("targets", target(t, u, "a:1")),
            ins("certificates", json!({"id": cert.to_string(), "cert": "x", "key": "y"})),
            ins("snis", json!({"id": sni.to_string(), "name": "a.test", "certificate": {"id": cert.to_string()}})),
        ])
        .await
        .unwrap();
    let mut svc = service(s2, "tls");
    svc["client_certificate"] = json!({"id": cert.to_string()});
    store
        .apply(vec![ins("services", svc), del("upstreams", u)])
        .await
        .unwrap();
    assert!(store.get("targets", t).await.unwrap().is_none());
    let err = store
        .apply(vec![del("certificates", cert)])
        .await
        .unwrap_err();
    assert!(matches!(&err, StoreError::Referenced { child, .. } if child == "services"));
    assert!(store.get("snis", sni).await.unwrap().is_some());
    store
        .apply(vec![del("services", s2), del("certificates", cert)])
        .await
        .unwrap();
    assert!(store.get("snis", sni).await.unwrap().is_none());
}

pub async fn atomicity(store: &dyn Store) {
    let (a, b) = (id(), id());
    store
        .apply(vec![ins("services", service(id(), "taken"))])
        .await
        .unwrap();
    let version = store.version();
    let mut rx = store.subscribe();
    let err = store
        .apply(vec![
            ins("services", service(a, "a")),
            ins("routes", route(b, Some(a))),
            ins("services", service(id(), "taken")),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unique { .. }));
    assert!(store.get("services", a).await.unwrap().is_none());
    assert!(store.get("routes", b).await.unwrap().is_none());
    assert!(
        store
            .find_unique("services", "name", &json!("a"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.version(), version);
    assert!(
        rx.try_recv().is_err(),
        "no change event for a rejected write"
    );
    // A cascading delete followed by a failure is undone too, indexes included.
    let (c, k) = (id(), id());
    store
        .apply(vec![
            ins("consumers", consumer(c, "c")),
            ins("keyauth_credentials", keyauth(k, c, "kk")),
        ])
        .await
        .unwrap();
    let err = store
        .apply(vec![
            del("consumers", c),
            ins("routes", route(id(), Some(id()))),
        ])
        .await;
    assert!(matches!(err, Err(StoreError::ForeignKey { .. })));
    assert!(store.get("consumers", c).await.unwrap().is_some());
    assert!(
        store
            .find_unique("keyauth_credentials", "key", &json!("kk"))
            .await
            .unwrap()
            .is_some()
    );
    let err = store
        .apply(vec![ins("keyauth_credentials", keyauth(id(), c, "kk"))])
        .await;
    assert!(
        matches!(err, Err(StoreError::Unique { .. })),
        "unique index restored"
    );
}

pub async fn upsert_update(store: &dyn Store) {
    let s = id();
    let err = store
        .apply(vec![Write::Update {
            entity: "services".into(),
            value: service(s, "x"),
        }])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }));
    assert_eq!(err.kong_code(), (6, 404));
    let up = |v: Value| Write::Upsert {
        entity: "services".into(),
        value: v,
    };
    store.apply(vec![up(service(s, "first"))]).await.unwrap();
    store.apply(vec![up(service(s, "second"))]).await.unwrap();
    assert_eq!(
        store.get("services", s).await.unwrap().unwrap()["name"],
        "second"
    );
    assert!(
        store
            .find_unique("services", "name", &json!("first"))
            .await
            .unwrap()
            .is_none()
    );
    // The old name is free again; the new one is taken.
    store
        .apply(vec![ins("services", service(id(), "first"))])
        .await
        .unwrap();
    let err = store.apply(vec![up(service(id(), "second"))]).await;
    assert!(matches!(err, Err(StoreError::Unique { .. })));
    // Update to its own unique value is not a conflict.
    let mut v = service(s, "second");
    v["port"] = json!(8080);
    store
        .apply(vec![Write::Update {
            entity: "services".into(),
            value: v,
        }])
        .await
        .unwrap();
    assert_eq!(
        store.get("services", s).await.unwrap().unwrap()["port"],
        8080
    );
    // Moving a route between services updates the reference index.
    let (r, other) = (id(), id());
    store
        .apply(vec![
            ins("services", service(other, "other")),
            ins("routes", route(r, Some(s))),
        ])
        .await
        .unwrap();
    store
        .apply(vec![Write::Update {
            entity: "routes".into(),
            value: route(r, Some(other)),
        }])
        .await
        .unwrap();
    store.apply(vec![del("services", s)]).await.unwrap();
    assert!(matches!(
        store.apply(vec![del("services", other)]).await,
        Err(StoreError::Referenced { .. })
    ));
}

pub async fn change_events(store: &dyn Store) {
    let mut rx = store.subscribe();
    let v0 = store.version();
    let (s, r) = (id(), id());
    store
        .apply(vec![
            ins("services", service(s, "ev")),
            ins("routes", route(r, Some(s))),
        ])
        .await
        .unwrap();
    let c = rx.recv().await.unwrap();
    assert_eq!(c.version, v0 + 1);
    assert_eq!(store.version(), v0 + 1);
    assert_eq!(
        c.touched,
        vec![("services".to_string(), s), ("routes".to_string(), r)]
    );
    assert!(!c.full);
    store.apply(vec![del("routes", r)]).await.unwrap();
    let c = rx.recv().await.unwrap();
    assert_eq!(
        (c.version, c.touched),
        (v0 + 2, vec![("routes".to_string(), r)])
    );
}

pub async fn replace_all(store: &dyn Store) {
    store
        .apply(vec![ins("services", service(id(), "old"))])
        .await
        .unwrap();
    let (s, r, c, k) = (id(), id(), id(), id());
    let mut dump = gantry_store::Dump::new();
    // Children listed before parents: the store orders them.
    dump.insert("routes".into(), vec![route(r, Some(s))]);
    dump.insert("services".into(), vec![service(s, "new")]);
    dump.insert("keyauth_credentials".into(), vec![keyauth(k, c, "dk")]);
    dump.insert("consumers".into(), vec![consumer(c, "dc")]);
    let mut rx = store.subscribe();
    let v0 = store.version();
    store.replace_all(dump.clone()).await.unwrap();
    let change = rx.recv().await.unwrap();
    assert!(change.full);
    assert_eq!(change.version, v0 + 1);
    assert!(
        store
            .find_unique("services", "name", &json!("old"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.get("routes", r).await.unwrap().is_some());
    let got = store.dump().await.unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(got["routes"], dump["routes"]);
    // A bad dump changes nothing.
    let mut bad = gantry_store::Dump::new();
    bad.insert("routes".into(), vec![route(id(), Some(id()))]);
    assert!(matches!(
        store.replace_all(bad).await,
        Err(StoreError::ForeignKey { .. })
    ));
    let mut dup = gantry_store::Dump::new();
    dup.insert(
        "services".into(),
        vec![service(id(), "d"), service(id(), "d")],
    );
    assert!(matches!(
        store.replace_all(dup).await,
        Err(StoreError::Unique { .. })
    ));
    assert_eq!(store.dump().await.unwrap(), got);
    assert_eq!(store.version(), v0 + 1);
    // Indexes were rebuilt.
    let err = store
        .apply(vec![ins("services", service(id(), "new"))])
        .await;
    assert!(matches!(err, Err(StoreError::Unique { .. })));
    store.replace_all(gantry_store::Dump::new()).await.unwrap();
    assert!(store.dump().await.unwrap().is_empty());
}

/// Instantiates every behaviour test for one backend. `$make` is an async
/// expression giving a fixture that derefs to a store.
#[macro_export]
macro_rules! store_suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            $crate::store_suite!(@tests $make;
                insert_get_find, pagination, tags, unique_violations, foreign_keys,
                nested_lists, cascade_and_restrict, atomicity, upsert_update,
                change_events, replace_all);
        }
    };
    (@tests $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let fixture = $make;
                suite::$name(&*fixture).await;
            }
        )*
    };
}
