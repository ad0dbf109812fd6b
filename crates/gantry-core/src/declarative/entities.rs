//! Converts a [`DeclarativeConfig`] to and from a map of entity name → Kong JSON objects
//! (foreign keys as `{"id": …}`), the shape the store keeps and the Admin API returns.
//! This is how a declarative file is loaded into a store (DB-less, `db_import`) and how
//! the proxy's snapshot is built from a store.

use std::collections::BTreeMap;

use serde_json::Value;

use super::DeclarativeConfig;

/// Entity name → Kong objects.
pub type EntityMap = BTreeMap<String, Vec<Value>>;

/// Calls `$m!(field)` for every entity list of [`DeclarativeConfig`]; the field name is
/// also the entity's schema name.
macro_rules! for_each_entity {
    ($m:ident) => {
        $m!(certificates);
        $m!(snis);
        $m!(ca_certificates);
        $m!(services);
        $m!(routes);
        $m!(upstreams);
        $m!(targets);
        $m!(consumers);
        $m!(plugins);
        $m!(keyauth_credentials);
        $m!(basicauth_credentials);
        $m!(jwt_secrets);
        $m!(hmacauth_credentials);
        $m!(acls);
        $m!(oauth2_credentials);
    };
}

impl DeclarativeConfig {
    /// Every entity as Kong JSON, keyed by schema name (empty lists left out).
    pub fn to_entity_map(&self) -> EntityMap {
        let mut map = EntityMap::new();
        macro_rules! put {
            ($f:ident) => {
                let list: Vec<Value> = self
                    .$f
                    .iter()
                    .filter_map(|e| serde_json::to_value(e).ok())
                    .collect();
                if !list.is_empty() {
                    map.insert(stringify!($f).to_string(), list);
                }
            };
        }
        for_each_entity!(put);
        map
    }

    /// Typed entities from Kong JSON objects. Entities of unknown kinds are ignored;
    /// an object that does not fit its type is reported (`entity id: reason`) and left
    /// out, so one bad row cannot stop the rest from loading.
    pub fn from_entity_map(map: &EntityMap) -> (DeclarativeConfig, Vec<String>) {
        let mut cfg = DeclarativeConfig {
            format_version: "3.0".to_string(),
            transform: false,
            ..DeclarativeConfig::default()
        };
        let mut errors = Vec::new();
        macro_rules! take {
            ($f:ident) => {
                if let Some(list) = map.get(stringify!($f)) {
                    for v in list {
                        match serde_json::from_value(v.clone()) {
                            Ok(e) => cfg.$f.push(e),
                            Err(err) => errors.push(format!(
                                "{} {}: {err}",
                                stringify!($f),
                                v.get("id").and_then(Value::as_str).unwrap_or("?")
                            )),
                        }
                    }
                }
            };
        }
        for_each_entity!(take);
        (cfg, errors)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn round_trips_through_the_entity_map() {
        let cfg = crate::declarative::parse(
            r#"
_format_version: "3.0"
services:
- name: s1
  url: http://example.com:8080/p
  routes:
  - name: r1
    paths: ["/a"]
upstreams:
- name: up
  targets:
  - target: 10.0.0.1:80
consumers:
- username: alice
  keyauth_credentials:
  - key: secret
"#,
        )
        .unwrap();
        let map = cfg.to_entity_map();
        assert_eq!(map["services"][0]["name"], "s1");
        assert_eq!(map["routes"][0]["service"]["id"], map["services"][0]["id"]);
        let (back, errors) = DeclarativeConfig::from_entity_map(&map);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(back.services, cfg.services);
        assert_eq!(back.routes, cfg.routes);
        assert_eq!(back.targets, cfg.targets);
        assert_eq!(back.keyauth_credentials, cfg.keyauth_credentials);
    }

    #[test]
    fn a_bad_row_is_reported_not_fatal() {
        let mut map = EntityMap::new();
        map.insert(
            "services".to_string(),
            vec![serde_json::json!({"id": "x", "host": 5})],
        );
        let (cfg, errors) = DeclarativeConfig::from_entity_map(&map);
        assert!(cfg.services.is_empty());
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("services x:"));
    }
}
