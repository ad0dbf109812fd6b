//! The key catalogue: built-in defaults, keys Kong knows, keys Gantry uses.
//!
//! To add a setting: put its default in [`DEFAULTS`] (or [`GANTRY_DEFAULTS`]
//! for Gantry-only keys) and, once something reads it, in [`TYPED_KEYS`].

/// Kong 3.x defaults (`kong/templates/kong_defaults.lua`, 3.9/3.10 line),
/// verbatim except where Gantry deliberately differs: `prefix` and
/// `database`. `NONE` means unset. Every key here is a key Kong knows.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("prefix", "/usr/local/gantry"),
    ("log_level", "notice"),
    ("proxy_access_log", "logs/access.log"),
    ("proxy_error_log", "logs/error.log"),
    ("proxy_stream_access_log", "logs/access.log basic"),
    ("proxy_stream_error_log", "logs/error.log"),
    ("admin_access_log", "logs/admin_access.log"),
    ("admin_error_log", "logs/error.log"),
    ("admin_gui_access_log", "logs/admin_gui_access.log"),
    ("admin_gui_error_log", "logs/admin_gui_error.log"),
    ("status_access_log", "off"),
    ("status_error_log", "logs/status_error.log"),
    ("vaults", "bundled"),
    ("plugins", "bundled"),
    ("port_maps", "NONE"),
    ("host_ports", "NONE"),
    ("anonymous_reports", "on"),
    ("proxy_server", "NONE"),
    ("proxy_server_ssl_verify", "on"),
    ("error_template_html", "NONE"),
    ("error_template_json", "NONE"),
    ("error_template_xml", "NONE"),
    ("error_template_plain", "NONE"),
    ("node_id", "NONE"),
    (
        "proxy_listen",
        "0.0.0.0:8000 reuseport backlog=16384, 0.0.0.0:8443 http2 ssl reuseport backlog=16384",
    ),
    ("stream_listen", "off"),
    (
        "admin_listen",
        "127.0.0.1:8001 reuseport backlog=16384, 127.0.0.1:8444 http2 ssl reuseport backlog=16384",
    ),
    ("admin_gui_listen", "0.0.0.0:8002, 0.0.0.0:8445 ssl"),
    ("status_listen", "127.0.0.1:8007 reuseport backlog=16384"),
    ("cluster_listen", "0.0.0.0:8005"),
    ("cluster_control_plane", "127.0.0.1:8005"),
    ("cluster_cert", "NONE"),
    ("cluster_cert_key", "NONE"),
    ("cluster_mtls", "shared"),
    ("cluster_ca_cert", "NONE"),
    ("cluster_server_name", "NONE"),
    ("cluster_data_plane_purge_delay", "1209600"),
    ("cluster_ocsp", "off"),
    ("cluster_max_payload", "16777216"),
    ("cluster_use_proxy", "off"),
    ("cluster_dp_labels", "NONE"),
    ("cluster_rpc", "off"),
    ("cluster_rpc_sync", "off"),
    ("cluster_cjson", "off"),
    ("lmdb_environment_path", "dbless.lmdb"),
    ("lmdb_map_size", "2048m"),
    ("mem_cache_size", "128m"),
    ("worker_events_max_payload", "65535"),
    ("ssl_cert", "NONE"),
    ("ssl_cert_key", "NONE"),
    ("client_ssl", "off"),
    ("client_ssl_cert", "NONE"),
    ("client_ssl_cert_key", "NONE"),
    ("ssl_cipher_suite", "intermediate"),
    ("ssl_ciphers", "NONE"),
    ("ssl_protocols", "TLSv1.2 TLSv1.3"),
    ("ssl_prefer_server_ciphers", "on"),
    ("ssl_dhparam", "NONE"),
    ("ssl_session_tickets", "on"),
    ("ssl_session_timeout", "1d"),
    ("ssl_session_cache_size", "10m"),
    ("admin_ssl_cert", "NONE"),
    ("admin_ssl_cert_key", "NONE"),
    ("admin_gui_ssl_cert", "NONE"),
    ("admin_gui_ssl_cert_key", "NONE"),
    ("status_ssl_cert", "NONE"),
    ("status_ssl_cert_key", "NONE"),
    (
        "headers",
        "server_tokens, latency_tokens, x-kong-request-id",
    ),
    ("headers_upstream", "x-kong-request-id"),
    ("trusted_ips", "NONE"),
    ("error_default_type", "text/plain"),
    ("upstream_keepalive_pool_size", "512"),
    ("upstream_keepalive_max_requests", "10000"),
    ("upstream_keepalive_idle_timeout", "60"),
    ("allow_debug_header", "off"),
    ("nginx_user", "kong kong"),
    ("nginx_worker_processes", "auto"),
    ("nginx_daemon", "on"),
    ("nginx_main_daemon", "on"),
    ("nginx_main_user", "kong kong"),
    ("nginx_main_worker_processes", "auto"),
    ("nginx_main_worker_rlimit_nofile", "auto"),
    ("nginx_events_worker_connections", "auto"),
    ("nginx_events_multi_accept", "on"),
    ("nginx_http_charset", "UTF-8"),
    ("nginx_http_client_max_body_size", "0"),
    ("nginx_http_client_body_buffer_size", "8k"),
    ("nginx_http_lua_regex_match_limit", "100000"),
    ("nginx_http_lua_regex_cache_max_entries", "8192"),
    ("nginx_http_keepalive_requests", "10000"),
    ("nginx_proxy_real_ip_header", "X-Real-IP"),
    ("nginx_proxy_real_ip_recursive", "off"),
    ("nginx_admin_client_max_body_size", "10m"),
    ("nginx_admin_client_body_buffer_size", "10m"),
    ("client_body_buffer_size", "8k"),
    ("real_ip_header", "X-Real-IP"),
    ("real_ip_recursive", "off"),
    ("database", "sqlite"),
    ("pg_host", "127.0.0.1"),
    ("pg_port", "5432"),
    ("pg_database", "kong"),
    ("pg_schema", "NONE"),
    ("pg_timeout", "5000"),
    ("pg_user", "kong"),
    ("pg_password", "NONE"),
    ("pg_ssl", "off"),
    ("pg_ssl_verify", "off"),
    ("pg_max_concurrent_queries", "0"),
    ("pg_semaphore_timeout", "60000"),
    ("pg_keepalive_timeout", "NONE"),
    ("pg_pool_size", "NONE"),
    ("pg_backlog", "NONE"),
    ("_debug_pg_ttl_cleanup_interval", "300"),
    ("pg_ro_host", "NONE"),
    ("pg_ro_port", "NONE"),
    ("pg_ro_database", "NONE"),
    ("pg_ro_schema", "NONE"),
    ("pg_ro_timeout", "NONE"),
    ("pg_ro_user", "NONE"),
    ("pg_ro_password", "NONE"),
    ("pg_ro_ssl", "NONE"),
    ("pg_ro_ssl_verify", "NONE"),
    ("pg_ro_max_concurrent_queries", "NONE"),
    ("pg_ro_semaphore_timeout", "NONE"),
    ("pg_ro_keepalive_timeout", "NONE"),
    ("pg_ro_pool_size", "NONE"),
    ("pg_ro_backlog", "NONE"),
    ("declarative_config", "NONE"),
    ("declarative_config_string", "NONE"),
    ("db_update_frequency", "5"),
    ("db_update_propagation", "0"),
    ("db_cache_ttl", "0"),
    ("db_cache_neg_ttl", "NONE"),
    ("db_resurrect_ttl", "30"),
    ("db_cache_warmup_entities", "services"),
    ("dns_resolver", "NONE"),
    ("dns_hostsfile", "/etc/hosts"),
    ("dns_order", "LAST,SRV,A,CNAME"),
    ("dns_valid_ttl", "NONE"),
    ("dns_stale_ttl", "3600"),
    ("dns_cache_size", "10000"),
    ("dns_not_found_ttl", "30"),
    ("dns_error_ttl", "1"),
    ("dns_no_sync", "off"),
    ("new_dns_client", "off"),
    ("legacy_dns_client", "off"),
    ("resolver_address", "NONE"),
    ("resolver_hosts_file", "/etc/hosts"),
    ("resolver_family", "A,SRV"),
    ("resolver_valid_ttl", "NONE"),
    ("resolver_stale_ttl", "3600"),
    ("resolver_lru_cache_size", "10000"),
    ("resolver_mem_cache_size", "5m"),
    ("resolver_error_ttl", "1"),
    ("dedicated_config_processing", "on"),
    ("worker_consistency", "eventual"),
    ("worker_state_update_frequency", "5"),
    ("router_flavor", "traditional_compatible"),
    ("lua_socket_pool_size", "256"),
    ("lua_ssl_trusted_certificate", "system"),
    ("lua_ssl_verify_depth", "1"),
    ("lua_ssl_protocols", "TLSv1.2 TLSv1.3"),
    ("lua_package_path", "./?.lua;./?/init.lua;"),
    ("lua_package_cpath", "NONE"),
    ("lua_max_req_headers", "100"),
    ("lua_max_resp_headers", "100"),
    ("lua_max_uri_args", "100"),
    ("lua_max_post_args", "100"),
    ("role", "traditional"),
    ("kic", "off"),
    ("pluginserver_names", "NONE"),
    ("untrusted_lua", "sandbox"),
    ("untrusted_lua_sandbox_requires", ""),
    ("untrusted_lua_sandbox_environment", ""),
    ("admin_gui_url", ""),
    ("admin_gui_path", "/"),
    ("admin_gui_api_url", "NONE"),
    ("openresty_path", ""),
    ("concurrency_timeout", "60000"),
    ("opentelemetry_tracing", "off"),
    ("opentelemetry_tracing_sampling_rate", "0.01"),
    ("tracing_instrumentations", "off"),
    ("tracing_sampling_rate", "0.01"),
    ("wasm", "off"),
    ("wasm_filters_path", "NONE"),
    ("wasm_dynamic_module", "NONE"),
    ("wasm_filters", "bundled,user"),
    ("request_debug", "on"),
    ("request_debug_token", ""),
];

/// Gantry-only settings (not in Kong) with their defaults.
pub const GANTRY_DEFAULTS: &[(&str, &str)] = &[
    // Bearer token required by the Admin API when set.
    ("admin_api_token", "NONE"),
];

/// Alternative spellings: `(alias, canonical)`. A value given under the alias
/// is treated as if given under the canonical key; when both are set the one
/// from the higher-precedence source wins (the canonical key on a tie).
pub const ALIASES: &[(&str, &str)] = &[
    // Gantry alias (also Kong 1.x's name for it).
    ("client_max_body_size", "nginx_http_client_max_body_size"),
];

/// Keys Kong has known in some 3.x release (or Kong Enterprise) that are not
/// in [`DEFAULTS`]; accepted and ignored without a warning.
pub const EXTRA_KNOWN_KEYS: &[&str] = &[
    "cluster_full_sync_threshold",
    "cluster_allowed_common_names",
    "cluster_telemetry_listen",
    "cluster_telemetry_endpoint",
    "cluster_telemetry_server_name",
    "cluster_fallback_config_import",
    "cluster_fallback_config_storage",
    "cluster_fallback_config_export",
    "cluster_fallback_config_export_delay",
    "debug_listen",
    "debug_access_log",
    "debug_error_log",
    "debug_ssl_cert",
    "debug_ssl_cert_key",
    "privileged_worker",
    "router_consistency",
    "upstream_keepalive",
    "pg_ssl_required",
    "pg_ssl_version",
    "pg_ssl_cert",
    "pg_ssl_cert_key",
    "pg_expired_rows_cleanup_interval",
    "pg_ro_ssl_required",
    "pg_ro_ssl_version",
    "declarative_config_encryption_mode",
    "admin_gui_flags",
    "admin_gui_csp",
    "admin_api_uri",
    "admin_emails_from",
    "admin_emails_reply_to",
    "admin_invitation_expiry",
    "admin_approved_email",
    "enforce_rbac",
    "rbac_auth_header",
    "event_hooks_enabled",
    "fips",
    "feature_conf_path",
    "proxy_url",
    "route_validation_strategy",
    "enforce_route_path_pattern",
    "allow_inconsistent_data_plane_plugins",
    "legacy_worker_events",
    "generate_trace_details",
    "tracing",
    "tracing_write_endpoint",
    "tracing_write_strategy",
    "tracing_time_threshold",
    "tracing_types",
    "tracing_debug_header",
    "go_pluginserver_exe",
    "go_plugins_dir",
    "nginx_optimizations",
    "license_path",
    "konnect_mode",
    "origins",
];

/// Key prefixes whose keys are all known to Kong (dynamic namespaces and
/// Enterprise families). `nginx_<block>_<directive>` is handled separately.
pub const KNOWN_PREFIXES: &[&str] = &[
    "pluginserver_",
    "vault_",
    "wasm_",
    "admin_gui_",
    "portal_",
    "vitals_",
    "smtp_",
    "keyring_",
    "audit_log_",
    "analytics_",
    "cassandra_",
];

/// Keys whose values Gantry reads into [`crate::Settings`] (or plans to read,
/// as raw strings, for later components).
pub const TYPED_KEYS: &[&str] = &[
    "prefix",
    "proxy_listen",
    "admin_listen",
    "status_listen",
    "database",
    "declarative_config",
    "declarative_config_string",
    "log_level",
    "nginx_worker_processes",
    "nginx_main_worker_processes",
    "headers",
    "headers_upstream",
    "nginx_http_client_max_body_size",
    "nginx_proxy_client_max_body_size",
    "nginx_admin_client_max_body_size",
    "upstream_keepalive_pool_size",
    "upstream_keepalive_max_requests",
    "upstream_keepalive_idle_timeout",
    "trusted_ips",
    "real_ip_header",
    "real_ip_recursive",
    "nginx_proxy_real_ip_header",
    "nginx_proxy_real_ip_recursive",
    "nginx_http_keepalive_requests",
    "nginx_proxy_keepalive_requests",
    "error_default_type",
    "allow_debug_header",
    "router_flavor",
    "pg_host",
    "pg_port",
    "pg_user",
    "pg_password",
    "pg_database",
    "pg_schema",
    "pg_timeout",
    "pg_ssl",
    "pg_ssl_verify",
    "admin_api_token",
    "lua_ssl_trusted_certificate",
    "ssl_cert",
    "ssl_cert_key",
    "admin_ssl_cert",
    "admin_ssl_cert_key",
    "status_ssl_cert",
    "status_ssl_cert_key",
    "role",
    "stream_listen",
];

/// Keys whose values must never be printed (Kong's `CONF_SENSITIVE` plus
/// Gantry's token). See also [`is_sensitive`].
const SENSITIVE: &[&str] = &[
    "pg_password",
    "pg_ro_password",
    "proxy_server",
    "declarative_config_string",
    "cluster_cert_key",
    "ssl_cert_key",
    "client_ssl_cert_key",
    "admin_ssl_cert_key",
    "admin_gui_ssl_cert_key",
    "status_ssl_cert_key",
    "debug_ssl_cert_key",
    "admin_api_token",
];

/// How Gantry treats a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Read by Gantry.
    Used,
    /// A Kong (or Kong Enterprise) key that Gantry accepts and ignores.
    Ignored,
    /// Not a key Kong or Gantry knows.
    Unknown,
}

/// Maps an alias to its canonical key (identity for other keys).
pub fn canonical(key: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map_or(key, |(_, canon)| canon)
}

/// True for `nginx_<block>_<directive>` (Kong's directive injection).
fn is_nginx_injection(key: &str) -> bool {
    key.strip_prefix("nginx_")
        .and_then(|rest| rest.split_once('_'))
        .is_some_and(|(block, directive)| !block.is_empty() && !directive.is_empty())
}

/// True for keys with a built-in default (Kong's or Gantry's).
pub fn has_default(key: &str) -> bool {
    DEFAULTS
        .iter()
        .chain(GANTRY_DEFAULTS)
        .any(|(k, _)| *k == key)
}

/// Classifies a key (after alias resolution).
pub fn classify(key: &str) -> KeyKind {
    let key = canonical(key);
    if TYPED_KEYS.contains(&key) {
        KeyKind::Used
    } else if has_default(key)
        || EXTRA_KNOWN_KEYS.contains(&key)
        || KNOWN_PREFIXES.iter().any(|p| key.starts_with(p))
        || is_nginx_injection(key)
    {
        KeyKind::Ignored
    } else {
        KeyKind::Unknown
    }
}

/// True when a key's value must be redacted in logs and dumps.
pub fn is_sensitive(key: &str) -> bool {
    let key = canonical(key);
    SENSITIVE.contains(&key)
        || key.ends_with("_password")
        || key.ends_with("_token")
        || key.ends_with("_secret")
        || key.ends_with("cert_key")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn no_duplicate_defaults() {
        let mut seen = HashSet::new();
        for (k, _) in DEFAULTS.iter().chain(GANTRY_DEFAULTS) {
            assert!(seen.insert(*k), "duplicate default for {k}");
        }
    }

    #[test]
    fn typed_keys_are_known() {
        for k in TYPED_KEYS {
            assert!(
                has_default(k) || is_nginx_injection(k),
                "{k} is typed but has no default and is not an nginx injection"
            );
        }
    }

    #[test]
    fn classification() {
        assert_eq!(classify("log_level"), KeyKind::Used);
        assert_eq!(classify("client_max_body_size"), KeyKind::Used);
        assert_eq!(classify("mem_cache_size"), KeyKind::Ignored);
        assert_eq!(classify("nginx_http_lua_shared_dict"), KeyKind::Ignored);
        assert_eq!(classify("nginx_proxy_proxy_buffering"), KeyKind::Ignored);
        assert_eq!(classify("nginx_sproxy_x"), KeyKind::Ignored);
        assert_eq!(classify("vault_env_prefix"), KeyKind::Ignored);
        assert_eq!(classify("pluginserver_go_socket"), KeyKind::Ignored);
        assert_eq!(classify("cassandra_port"), KeyKind::Ignored);
        assert_eq!(classify("enforce_rbac"), KeyKind::Ignored);
        assert_eq!(classify("log_levle"), KeyKind::Unknown);
        assert_eq!(classify("nginx_"), KeyKind::Unknown);
        assert_eq!(classify("nginx_http_"), KeyKind::Unknown);
        assert_eq!(classify("nginx_x"), KeyKind::Unknown);
        assert_eq!(classify(""), KeyKind::Unknown);
    }

    #[test]
    fn sensitivity() {
        assert!(is_sensitive("pg_password"));
        assert!(is_sensitive("admin_api_token"));
        assert!(is_sensitive("ssl_cert_key"));
        assert!(is_sensitive("declarative_config_string"));
        assert!(is_sensitive("vault_hcv_token"));
        assert!(is_sensitive("smtp_password"));
        assert!(!is_sensitive("ssl_cert"));
        assert!(!is_sensitive("log_level"));
    }

    #[test]
    fn aliases() {
        assert_eq!(
            canonical("client_max_body_size"),
            "nginx_http_client_max_body_size"
        );
        assert_eq!(canonical("log_level"), "log_level");
    }
}
