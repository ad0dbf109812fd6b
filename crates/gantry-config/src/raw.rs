//! The raw key → value map (all layers merged), kept for settings read later.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{InvalidValue, Source};
use crate::keys;
use crate::secret::REDACTED;
use crate::values;

/// One merged setting: its string value and where it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct RawValue {
    /// The value as written (trimmed, comments removed). `""` or `NONE` = unset.
    pub value: String,
    /// Where the value came from.
    pub source: Source,
    /// Set through an alias (e.g. `client_max_body_size`).
    via_alias: bool,
}

impl fmt::Debug for RawValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawValue")
            .field("value", &self.value)
            .field("source", &self.source)
            .finish()
    }
}

/// Every setting that has a value (defaults included), keyed by lowercase
/// canonical key. Lets other crates read settings Gantry does not type yet.
///
/// `Debug` redacts sensitive values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RawConfig {
    map: BTreeMap<String, RawValue>,
}

impl RawConfig {
    /// A map holding only the built-in defaults.
    pub fn with_defaults() -> Self {
        let mut raw = RawConfig::default();
        for (k, v) in keys::DEFAULTS.iter().chain(keys::GANTRY_DEFAULTS) {
            raw.set(k, v, Source::Default);
        }
        raw
    }

    /// Sets `key` (an alias is stored under its canonical key) unless a value
    /// from a higher-precedence source is already there. On equal precedence
    /// the later value wins, except that an alias never replaces a value given
    /// under the canonical key.
    pub(crate) fn set(&mut self, key: &str, value: &str, source: Source) {
        let canonical = keys::canonical(key);
        let via_alias = canonical != key;
        if let Some(existing) = self.map.get(canonical) {
            let (old, new) = (existing.source.rank(), source.rank());
            if old > new || (old == new && via_alias && !existing.via_alias) {
                return;
            }
        }
        self.map.insert(
            canonical.to_owned(),
            RawValue {
                value: value.to_owned(),
                source,
                via_alias,
            },
        );
    }

    /// The entry for `key` (aliases resolved), even when its value is unset.
    pub fn entry(&self, key: &str) -> Option<&RawValue> {
        self.map.get(keys::canonical(key))
    }

    /// The value of `key`, or `None` when absent, empty or `NONE`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key)
            .map(|e| e.value.trim())
            .filter(|v| !values::is_unset(v))
    }

    /// Where the value of `key` came from.
    pub fn source(&self, key: &str) -> Option<&Source> {
        self.entry(key).map(|e| &e.source)
    }

    /// True when `key` was set by the file or the environment.
    pub fn is_user_set(&self, key: &str) -> bool {
        self.source(key).is_some_and(Source::is_user_set)
    }

    /// All entries, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// `key` as a boolean (`on`/`off`/`true`/`false`); `None` when unset.
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, InvalidValue> {
        self.typed(key, values::parse_bool)
    }

    /// `key` as a comma-separated list (empty when unset).
    pub fn get_list(&self, key: &str) -> Vec<String> {
        self.get(key).map(values::parse_list).unwrap_or_default()
    }

    /// `key` as an nginx size in bytes (`8k`, `10m`, ...); `None` when unset.
    pub fn get_size(&self, key: &str) -> Result<Option<u64>, InvalidValue> {
        self.typed(key, values::parse_size)
    }

    /// `key` as a non-negative integer; `None` when unset.
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>, InvalidValue> {
        self.typed(key, values::parse_u64)
    }

    /// Applies a parser to the value of `key`, mapping errors to [`InvalidValue`].
    pub(crate) fn typed<T>(
        &self,
        key: &str,
        parse: impl FnOnce(&str, &str) -> Result<T, String>,
    ) -> Result<Option<T>, InvalidValue> {
        let canonical = keys::canonical(key);
        match (self.get(canonical), self.entry(canonical)) {
            (Some(v), Some(entry)) => parse(canonical, v)
                .map(Some)
                .map_err(|message| self.invalid(canonical, &entry.source, message)),
            _ => Ok(None),
        }
    }

    /// Builds an [`InvalidValue`], scrubbing the value of sensitive keys.
    pub(crate) fn invalid(&self, key: &str, source: &Source, message: String) -> InvalidValue {
        let message = match (keys::is_sensitive(key), self.get(key)) {
            (true, Some(v)) if !v.is_empty() => message.replace(v, REDACTED),
            _ => message,
        };
        InvalidValue {
            key: key.to_owned(),
            source: source.clone(),
            message,
        }
    }

    /// Between a general key and a more specific one that overrides it (e.g.
    /// `real_ip_header` and `nginx_proxy_real_ip_header`, or an http-level and
    /// a server-level nginx directive), picks the key whose value applies: the
    /// specific one whenever the user set it to a non-empty value (Kong's
    /// alias rule, and nginx's "inner block wins"), else the general one.
    pub(crate) fn pick<'a>(&self, general: &'a str, specific: &'a str) -> &'a str {
        match self.entry(specific) {
            Some(s) if s.source.is_user_set() && !values::is_unset(&s.value) => specific,
            _ => general,
        }
    }
}

impl fmt::Debug for RawConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.map {
            if keys::is_sensitive(k) && !values::is_unset(&v.value) {
                m.entry(k, &REDACTED);
            } else {
                m.entry(k, &v.value);
            }
        }
        m.finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn file(line: usize) -> Source {
        Source::File {
            path: "/k.conf".into(),
            line,
        }
    }
    fn env(var: &str) -> Source {
        Source::Env { var: var.into() }
    }

    #[test]
    fn defaults_present() {
        let raw = RawConfig::with_defaults();
        assert_eq!(raw.get("log_level"), Some("notice"));
        assert_eq!(raw.get("pg_password"), None);
        assert!(raw.entry("pg_password").is_some());
        assert!(!raw.is_user_set("log_level"));
        assert_eq!(raw.get("nope"), None);
    }

    #[test]
    fn precedence() {
        let mut raw = RawConfig::with_defaults();
        raw.set("log_level", "warn", env("GANTRY_LOG_LEVEL"));
        raw.set("log_level", "info", env("KONG_LOG_LEVEL"));
        raw.set("log_level", "debug", file(1));
        assert_eq!(raw.get("log_level"), Some("warn"));
        assert!(raw.is_user_set("log_level"));
        raw.set("log_level", "error", env("GANTRY_LOG_LEVEL"));
        assert_eq!(raw.get("log_level"), Some("error"));
    }

    #[test]
    fn alias_tie_breaking() {
        let mut raw = RawConfig::with_defaults();
        raw.set("nginx_http_client_max_body_size", "1m", file(1));
        raw.set("client_max_body_size", "2m", file(2));
        assert_eq!(raw.get("nginx_http_client_max_body_size"), Some("1m"));
        raw.set(
            "client_max_body_size",
            "3m",
            env("KONG_CLIENT_MAX_BODY_SIZE"),
        );
        assert_eq!(raw.get("client_max_body_size"), Some("3m"));
        let mut raw = RawConfig::with_defaults();
        raw.set("client_max_body_size", "2m", file(1));
        raw.set("nginx_http_client_max_body_size", "1m", file(2));
        assert_eq!(raw.get("nginx_http_client_max_body_size"), Some("1m"));
    }

    #[test]
    fn pick_specific() {
        let mut raw = RawConfig::with_defaults();
        let (g, s) = ("real_ip_header", "nginx_proxy_real_ip_header");
        // the specific key has a default (Kong's), which does not count
        assert_eq!(raw.pick(g, s), g);
        raw.set(g, "X-Forwarded-For", file(1));
        assert_eq!(raw.pick(g, s), g);
        raw.set(s, "X-A", file(2));
        assert_eq!(raw.pick(g, s), s);
        // a user-set specific key wins even over a stronger general source
        raw.set(g, "X-B", env("KONG_REAL_IP_HEADER"));
        assert_eq!(raw.pick(g, s), s);
        raw.set(s, "", env("KONG_NGINX_PROXY_REAL_IP_HEADER"));
        assert_eq!(raw.pick(g, s), g);
        assert_eq!(raw.pick("absent", "nginx_proxy_x"), "absent");
        raw.set("nginx_proxy_x", "1", file(3));
        assert_eq!(raw.pick("absent", "nginx_proxy_x"), "nginx_proxy_x");
    }

    #[test]
    fn typed_getters() {
        let mut raw = RawConfig::with_defaults();
        raw.set("anonymous_reports", "off", file(1));
        raw.set("mem_cache_size", "64m", file(2));
        raw.set("dns_stale_ttl", "abc", file(3));
        assert_eq!(raw.get_bool("anonymous_reports").unwrap(), Some(false));
        assert_eq!(raw.get_size("mem_cache_size").unwrap(), Some(64 << 20));
        assert_eq!(raw.get_u64("db_update_frequency").unwrap(), Some(5));
        let err = raw.get_u64("dns_stale_ttl").unwrap_err();
        assert_eq!(err.message, "dns_stale_ttl is not a number: 'abc'");
        assert_eq!(err.source, file(3));
        assert_eq!(raw.get_list("dns_order"), ["LAST", "SRV", "A", "CNAME"]);
        assert!(raw.get_list("trusted_ips").is_empty());
        assert_eq!(raw.get_bool("pg_ro_ssl").unwrap(), None);
    }

    #[test]
    fn debug_redacts() {
        let mut raw = RawConfig::with_defaults();
        raw.set("pg_password", "hunter2", file(1));
        raw.set("admin_api_token", "tok-123", env("GANTRY_ADMIN_API_TOKEN"));
        let dbg = format!("{raw:?}");
        assert!(!dbg.contains("hunter2"));
        assert!(!dbg.contains("tok-123"));
        assert!(dbg.contains("\"pg_password\": \"******\""));
    }

    #[test]
    fn invalid_scrubs_sensitive_values() {
        let mut raw = RawConfig::with_defaults();
        raw.set("pg_password", "hunter2", file(1));
        let e = raw.invalid(
            "pg_password",
            &file(1),
            "pg_password is bad: 'hunter2'".into(),
        );
        assert!(!e.message.contains("hunter2"));
    }
}
