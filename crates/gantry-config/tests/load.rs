//! End-to-end tests of `Settings` loading through the public API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use gantry_config::*;

type Env = Vec<(String, String)>;

fn env(pairs: &[(&str, &str)]) -> Env {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load(text: &str, e: &[(&str, &str)]) -> (Settings, Vec<Warning>) {
    Settings::from_conf_str(text, env(e)).unwrap()
}

fn ok(text: &str) -> Settings {
    load(text, &[]).0
}

fn err(text: &str, e: &[(&str, &str)]) -> String {
    Settings::from_conf_str(text, env(e))
        .unwrap_err()
        .to_string()
}

fn warn_messages(w: &[Warning], level: WarningLevel) -> Vec<String> {
    w.iter()
        .filter(|w| w.level == level)
        .map(|w| w.message.clone())
        .collect()
}

#[test]
fn defaults_match_default_impl() {
    let (s, w) = Settings::load_with_default_paths(None, &[], Env::new()).unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(s, Settings::default());
    assert_eq!(s.config_file, None);
    assert_eq!(s.prefix, PathBuf::from("/usr/local/gantry"));
    assert_eq!(s.database, Database::Sqlite);
    assert_eq!(s.log_level, LogLevel::Notice);
    assert_eq!(s.proxy_listen.len(), 2);
    assert_eq!(
        s.proxy_listen[1].to_string(),
        "0.0.0.0:8443 ssl http2 reuseport backlog=16384"
    );
    assert_eq!(
        s.admin_listen[0].socket_addr(),
        Some("127.0.0.1:8001".parse().unwrap())
    );
    assert_eq!(
        s.status_listen[0].to_string(),
        "127.0.0.1:8007 reuseport backlog=16384"
    );
    assert_eq!(s.headers, ResponseHeaders::KONG_DEFAULT);
    assert!(s.headers_upstream.request_id);
    assert_eq!(s.client_max_body_size, None);
    assert_eq!(s.admin_client_max_body_size, Some(10 * 1024 * 1024));
    assert_eq!(s.upstream_keepalive.pool_size, 512);
    assert_eq!(s.upstream_keepalive.max_requests, 10_000);
    assert_eq!(s.upstream_keepalive.idle_timeout, Duration::from_secs(60));
    assert!(s.trusted_ips.is_empty());
    assert_eq!(s.real_ip_header, RealIpHeader::Header("X-Real-IP".into()));
    assert!(!s.real_ip_recursive);
    assert_eq!(s.keepalive_requests, 10_000);
    assert_eq!(s.error_default_type, ErrorDefaultType::Plain);
    assert!(!s.allow_debug_header);
    assert_eq!(s.router_flavor, RouterFlavor::TraditionalCompatible);
    assert_eq!(s.pg, PgSettings::default());
    assert_eq!(s.pg.port, 5432);
    assert_eq!(s.admin_api_token, None);
    assert_eq!(s.lua_ssl_trusted_certificate, ["system"]);
    assert!(s.ssl.certs.is_empty());
    assert_eq!(s.worker_processes, WorkerProcesses::Auto);
    assert!(s.worker_threads() >= 1);
}

#[test]
fn parses_every_typed_key() {
    let text = r"
        prefix = /tmp/gantry-test
        proxy_listen = 127.0.0.1:9000, [::1]:9443 ssl http2 proxy_protocol
        admin_listen = off
        status_listen = 0.0.0.0:9100
        database = off
        declarative_config = /etc/kong/kong.yml
        log_level = debug
        nginx_worker_processes = 3
        headers = Server, X-Kong-Upstream-Status
        headers_upstream = off
        nginx_http_client_max_body_size = 10m
        nginx_admin_client_max_body_size = 0
        upstream_keepalive_pool_size = 0
        upstream_keepalive_max_requests = 7
        upstream_keepalive_idle_timeout = 5
        trusted_ips = 0.0.0.0/0,::/0
        real_ip_header = X-Forwarded-For
        real_ip_recursive = on
        nginx_http_keepalive_requests = 50
        error_default_type = application/json
        allow_debug_header = on
        router_flavor = traditional_compatible
        pg_host = db.internal
        pg_port = 6543
        pg_user = gantry
        pg_password = s3cret
        pg_database = gantry_db
        pg_schema = public
        pg_timeout = 1000
        pg_ssl = on
        pg_ssl_verify = true
        admin_api_token = tok
        lua_ssl_trusted_certificate = system, /etc/ssl/extra.pem
        ssl_cert = /a.crt, /b.crt
        ssl_cert_key = /a.key, /b.key
    ";
    let (s, w) = load(text, &[]);
    assert!(warn_messages(&w, WarningLevel::Warn).is_empty(), "{w:?}");
    assert_eq!(s.prefix, PathBuf::from("/tmp/gantry-test"));
    assert_eq!(s.proxy_listen.len(), 2);
    assert!(s.proxy_listen[1].ssl && s.proxy_listen[1].proxy_protocol);
    assert!(s.admin_listen.is_empty());
    assert_eq!(s.status_listen[0].port, 9100);
    assert_eq!(s.database, Database::Off);
    assert_eq!(
        s.declarative_config,
        Some(PathBuf::from("/etc/kong/kong.yml"))
    );
    assert_eq!(s.log_level, LogLevel::Debug);
    assert_eq!(s.worker_processes, WorkerProcesses::Count(3));
    assert_eq!(s.worker_threads(), 3);
    assert!(s.headers.server && s.headers.upstream_status && !s.headers.via);
    assert!(!s.headers_upstream.request_id);
    assert_eq!(s.client_max_body_size, Some(10 << 20));
    assert_eq!(s.admin_client_max_body_size, None);
    assert_eq!(s.upstream_keepalive.pool_size, 0);
    assert_eq!(s.upstream_keepalive.max_requests, 7);
    assert_eq!(s.upstream_keepalive.idle_timeout, Duration::from_secs(5));
    assert!(s.is_trusted("8.8.8.8".parse().unwrap()));
    assert_eq!(
        s.real_ip_header,
        RealIpHeader::Header("X-Forwarded-For".into())
    );
    assert!(s.real_ip_recursive);
    assert_eq!(s.keepalive_requests, 50);
    assert_eq!(s.error_default_type, ErrorDefaultType::Json);
    assert_eq!(s.error_default_type.mime(), "application/json");
    assert!(s.allow_debug_header);
    assert_eq!(s.pg.host, "db.internal");
    assert_eq!(s.pg.port, 6543);
    assert_eq!(s.pg.user, "gantry");
    assert_eq!(s.pg.password.as_ref().unwrap().expose(), "s3cret");
    assert_eq!(s.pg.database, "gantry_db");
    assert_eq!(s.pg.schema.as_deref(), Some("public"));
    assert_eq!(s.pg.timeout, Duration::from_millis(1000));
    assert!(s.pg.ssl && s.pg.ssl_verify);
    assert_eq!(s.admin_api_token.as_ref().unwrap().expose(), "tok");
    assert_eq!(
        s.lua_ssl_trusted_certificate,
        ["system", "/etc/ssl/extra.pem"]
    );
    assert_eq!(s.ssl.certs, ["/a.crt", "/b.crt"]);
    assert_eq!(s.ssl.keys[1].expose(), "/b.key");
    assert_eq!(s.config_file, Some(PathBuf::from("<string>")));
    assert_eq!(s.get("log_level"), Some("debug"));
    assert_eq!(s.get("mem_cache_size"), Some("128m"));
}

#[test]
fn env_overrides_file_and_gantry_overrides_kong() {
    let text = "log_level = info\nnginx_worker_processes = 2\nadmin_listen = off\n";
    let (s, _) = load(text, &[("KONG_LOG_LEVEL", "warn")]);
    assert_eq!(s.log_level, LogLevel::Warn);
    assert_eq!(
        s.raw.source("log_level"),
        Some(&Source::Env {
            var: "KONG_LOG_LEVEL".into()
        })
    );
    let (s, _) = load(
        text,
        &[
            ("GANTRY_LOG_LEVEL", "error"),
            ("KONG_LOG_LEVEL", "warn"),
            ("KONG_NGINX_WORKER_PROCESSES", "5"),
        ],
    );
    assert_eq!(s.log_level, LogLevel::Error);
    assert_eq!(s.worker_processes, WorkerProcesses::Count(5));
    assert!(s.admin_listen.is_empty(), "file value still applies");
    // order of the environment does not matter
    let (s, _) = load(
        text,
        &[("KONG_LOG_LEVEL", "warn"), ("GANTRY_LOG_LEVEL", "error")],
    );
    assert_eq!(s.log_level, LogLevel::Error);
    // GANTRY_ alone works too
    let (s, _) = load("", &[("GANTRY_DATABASE", "off")]);
    assert_eq!(s.database, Database::Off);
    assert_eq!(
        s.raw.source("database"),
        Some(&Source::Env {
            var: "GANTRY_DATABASE".into()
        })
    );
}

#[test]
fn env_edge_cases() {
    // lowercase names are not settings (Kong reads KONG_<UPPERCASE KEY>)
    let (s, w) = load("", &[("KONG_log_level", "debug")]);
    assert_eq!(s.log_level, LogLevel::Notice);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].level, WarningLevel::Debug);
    // empty env value unsets: scalar falls back to the default, optional to None
    let (s, _) = load(
        "log_level = debug\npg_password = x\n",
        &[("KONG_LOG_LEVEL", ""), ("KONG_PG_PASSWORD", "")],
    );
    assert_eq!(s.log_level, LogLevel::Notice);
    assert_eq!(s.pg.password, None);
    // env values are not comment-stripped (as in Kong)
    let (s, _) = load("", &[("KONG_PG_PASSWORD", "a # b")]);
    assert_eq!(s.pg.password.unwrap().expose(), "a # b");
    // unrelated variables are ignored silently
    let (_, w) = load("", &[("PATH", "/bin"), ("KONG_", "x"), ("GANTRY_LOG", "x")]);
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn client_max_body_size_alias() {
    assert_eq!(
        ok("client_max_body_size = 1m").client_max_body_size,
        Some(1 << 20)
    );
    assert_eq!(ok("client_max_body_size = 0").client_max_body_size, None);
    // canonical key wins over the alias within the same source
    let s = ok("nginx_http_client_max_body_size = 2m\nclient_max_body_size = 1m");
    assert_eq!(s.client_max_body_size, Some(2 << 20));
    // a stronger source wins whatever the spelling
    let (s, _) = load(
        "nginx_http_client_max_body_size = 2m",
        &[("GANTRY_CLIENT_MAX_BODY_SIZE", "3k")],
    );
    assert_eq!(s.client_max_body_size, Some(3 << 10));
    // server-level directive beats the http-level one
    let s = ok("nginx_http_client_max_body_size = 2m\nnginx_proxy_client_max_body_size = 4m");
    assert_eq!(s.client_max_body_size, Some(4 << 20));
    assert!(
        err("client_max_body_size = 10q", &[])
            .contains("nginx_http_client_max_body_size is not a valid size: '10q'")
    );
}

#[test]
fn nginx_specific_keys_override_general_ones() {
    let s = ok("nginx_main_worker_processes = 4\nnginx_worker_processes = 2");
    assert_eq!(s.worker_processes, WorkerProcesses::Count(4));
    let s = ok("real_ip_header = X-Forwarded-For\nnginx_proxy_real_ip_header = X-Client");
    assert_eq!(s.real_ip_header, RealIpHeader::Header("X-Client".into()));
    let s = ok("nginx_proxy_real_ip_recursive = on");
    assert!(s.real_ip_recursive);
    let s = ok("nginx_proxy_keepalive_requests = 3");
    assert_eq!(s.keepalive_requests, 3);
}

#[test]
fn unknown_and_ignored_keys() {
    let text = "log_levle = debug\nLog_Level = debug\nmem_cache_size = 64m\nnginx_http_lua_shared_dict = foo 1m\nvault_env_prefix = X\nplugins = bundled\n";
    let (s, w) = load(text, &[("GANTRY_FOO", "1"), ("KONG_BAR", "2")]);
    let warns = warn_messages(&w, WarningLevel::Warn);
    assert_eq!(
        warns,
        [
            "unknown setting 'log_levle' ignored",
            "unknown setting 'Log_Level' ignored (did you mean 'log_level'? keys are lowercase)",
            "unknown setting 'foo' ignored",
        ]
    );
    let debug = warn_messages(&w, WarningLevel::Debug);
    assert!(debug.contains(&"unknown setting 'bar' ignored".to_string()));
    assert!(
        debug
            .iter()
            .any(|m| m.starts_with("mem_cache_size is a Kong setting"))
    );
    assert!(
        debug
            .iter()
            .any(|m| m.starts_with("nginx_http_lua_shared_dict"))
    );
    assert!(debug.iter().any(|m| m.starts_with("vault_env_prefix")));
    // a value equal to Kong's default is not worth a note
    assert!(!debug.iter().any(|m| m.starts_with("plugins")));
    // unknown keys are dropped, known ones kept raw
    assert_eq!(s.get("log_levle"), None);
    assert_eq!(s.get("mem_cache_size"), Some("64m"));
    assert_eq!(s.raw.get_size("mem_cache_size").unwrap(), Some(64 << 20));
    assert_eq!(s.get("nginx_http_lua_shared_dict"), Some("foo 1m"));
    // warning sources point at the line / variable
    let w0 = w
        .iter()
        .find(|w| w.key.as_deref() == Some("log_levle"))
        .unwrap();
    assert_eq!(
        w0.source,
        Source::File {
            path: "<string>".into(),
            line: 1
        }
    );
    assert_eq!(
        w0.to_string(),
        "unknown setting 'log_levle' ignored (<string>:1)"
    );
}

#[test]
fn malformed_and_duplicate_lines() {
    let (s, w) = load("log_level = info\nnot a setting\nlog_level = warn\n", &[]);
    assert_eq!(s.log_level, LogLevel::Warn);
    let warns = warn_messages(&w, WarningLevel::Warn);
    assert_eq!(warns.len(), 1);
    assert!(warns[0].contains("without '='"));
    let debug = warn_messages(&w, WarningLevel::Debug);
    assert!(debug[0].contains("set more than once (first on line 1)"));
}

#[test]
fn invalid_values_kong_messages() {
    assert_eq!(
        err("log_level = loud", &[]),
        "log_level has an invalid value: 'loud' (debug, info, notice, warn, error, crit, alert, emerg) (from <string>:1)"
    );
    assert_eq!(
        err("", &[("KONG_DATABASE", "mysql")]),
        "database has an invalid value: 'mysql' (postgres, off, sqlite) (from environment variable KONG_DATABASE)"
    );
    assert!(err("database = cassandra", &[]).starts_with(
        "Cassandra as a datastore for Kong is not supported in versions 3.4 and above."
    ));
    assert!(err("error_default_type = text/xml", &[]).starts_with(
        "error_default_type has an invalid value: 'text/xml' (application/json, application/xml, text/html, text/plain)"
    ));
    assert!(err("headers = server_tokens, Nope", &[]).starts_with("headers: invalid entry 'Nope'"));
    assert!(
        err("headers_upstream = Via", &[]).starts_with("headers_upstream: invalid entry 'Via'")
    );
    assert!(err("trusted_ips = 10.0.0.0/8, bogus", &[]).starts_with(
        "trusted_ips must be a comma separated list in the form of IPv4 or IPv6 address or CIDR block or 'unix:', got 'bogus'"
    ));
    assert!(
        err("upstream_keepalive_pool_size = -1", &[])
            .starts_with("upstream_keepalive_pool_size must be 0 or greater")
    );
    assert!(
        err("upstream_keepalive_max_requests = lots", &[])
            .starts_with("upstream_keepalive_max_requests is not a number: 'lots'")
    );
    assert!(err("pg_port = 70000", &[]).starts_with("pg_port must be a port"));
    assert!(
        err("allow_debug_header = yes", &[])
            .starts_with("allow_debug_header is not a boolean: 'yes'")
    );
    assert!(
        err("real_ip_recursive = maybe", &[])
            .starts_with("real_ip_recursive is not a boolean: 'maybe'")
    );
    assert!(
        err("nginx_worker_processes = 0", &[])
            .starts_with("nginx_worker_processes must be 'auto' or a positive integer, got '0'")
    );
    assert!(
        err("nginx_main_worker_processes = many", &[])
            .starts_with("nginx_main_worker_processes must be 'auto' or a positive integer")
    );
    assert!(err("proxy_listen = 127.0.0.1", &[]).starts_with(&format!(
        "proxy_listen {LISTEN_USAGE}; invalid entry: '127.0.0.1'"
    )));
    assert!(err("admin_listen =", &[]).starts_with(&format!("admin_listen {LISTEN_USAGE}")));
    assert!(err("real_ip_header = a b", &[]).contains("real_ip_header must be"));
}

#[test]
fn router_flavor_and_role() {
    for flavor in ["traditional", "expressions"] {
        let e = err(&format!("router_flavor = {flavor}"), &[]);
        assert!(
            e.starts_with(&format!(
                "router_flavor = {flavor} is not supported by Gantry (only traditional_compatible"
            )),
            "{e}"
        );
    }
    assert!(
        err("router_flavor = fancy", &[])
            .starts_with("router_flavor has an invalid value: 'fancy'")
    );
    assert!(err("role = data_plane", &[]).starts_with("role = data_plane is not supported"));
    assert!(err("role = boss", &[]).starts_with("role has an invalid value: 'boss'"));
    ok("role = traditional");
}

#[test]
fn all_errors_are_reported_together() {
    let e = Settings::from_conf_str("log_level = x\npg_port = y\nheaders = z\n", Env::new())
        .unwrap_err();
    let keys: Vec<&str> = e.invalid_values().iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["log_level", "headers", "pg_port"]);
    assert!(e.to_string().contains("; "));
}

#[test]
fn ssl_cert_pairs_are_checked_like_kong() {
    assert!(err("ssl_cert = /a.crt", &[]).starts_with("ssl_cert_key must be specified"));
    assert!(err("ssl_cert_key = /a.key", &[]).starts_with("ssl_cert must be specified"));
    assert!(
        err("ssl_cert = /a,/b\nssl_cert_key = /k", &[])
            .starts_with("ssl_cert was specified 2 times while ssl_cert_key was specified 1 times")
    );
    assert!(
        err("admin_ssl_cert = /a.crt", &[]).starts_with("admin_ssl_cert_key must be specified")
    );
    // no ssl listener in the group: not checked (as Kong)
    ok("status_ssl_cert = /a.crt");
    ok("proxy_listen = 0.0.0.0:8000\nssl_cert = /a.crt");
}

#[test]
fn soft_warnings() {
    let (_, w) = load("declarative_config = /x.yml", &[]);
    assert!(
        warn_messages(&w, WarningLevel::Warn)[0]
            .starts_with("declarative_config is only used when database = off")
    );
    let (_, w) = load("real_ip_header = proxy_protocol", &[]);
    assert!(warn_messages(&w, WarningLevel::Warn)[0].contains("proxy_protocol has no effect"));
    let (s, w) = load(
        "real_ip_header = proxy_protocol\nproxy_listen = 0.0.0.0:8000 proxy_protocol",
        &[],
    );
    assert!(warn_messages(&w, WarningLevel::Warn).is_empty());
    assert_eq!(s.real_ip_header, RealIpHeader::ProxyProtocol);
    let (_, w) = load("stream_listen = 0.0.0.0:5555", &[]);
    assert!(warn_messages(&w, WarningLevel::Warn)[0].starts_with("stream_listen is not supported"));
}

#[test]
fn relative_prefix_is_made_absolute() {
    let s = ok("prefix = servroot");
    assert!(s.prefix.is_absolute());
    assert!(s.prefix.ends_with("servroot"));
    // empty prefix falls back to the default
    assert_eq!(ok("prefix =").prefix, PathBuf::from(DEFAULT_PREFIX));
}

#[test]
fn secrets_are_never_printed() {
    let text = "pg_password = hunter2\nadmin_api_token = tok-XYZ\nssl_cert = /c.crt\nssl_cert_key = -----BEGIN PRIVATE KEY-----abc\ndeclarative_config_string = {\"_format_version\":\"3.0\",\"consumers\":[{\"username\":\"leak\"}]}\ndatabase = off\npg_ro_password = ro-pass\n";
    let (s, _) = load(text, &[]);
    let dbg = format!("{s:?}");
    let disp = s.to_string();
    for secret in ["hunter2", "tok-XYZ", "BEGIN PRIVATE KEY", "leak", "ro-pass"] {
        assert!(!dbg.contains(secret), "Debug leaks {secret}");
        assert!(!disp.contains(secret), "Display leaks {secret}");
    }
    assert!(disp.contains("pg_password = ******"));
    assert!(disp.contains("admin_api_token = ******"));
    assert!(disp.contains("ssl_cert = /c.crt"));
    assert!(disp.contains("ssl_cert_key = ******"));
    assert!(disp.contains("log_level = notice"));
    assert!(ok("").to_string().contains("pg_password = NONE"));
}

#[test]
fn invalid_values_name_the_key() {
    let e = err("pg_ssl = hunter2-secret", &[]);
    assert!(
        e.contains("hunter2-secret"),
        "non-sensitive keys echo the value"
    );
    let e = Settings::from_conf_str("admin_listen = 1.2.3.4", env(&[])).unwrap_err();
    assert_eq!(e.invalid_values()[0].key, "admin_listen");
}

fn temp_file(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gantry-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

#[test]
fn file_loading_and_default_paths() {
    let p = temp_file("explicit.conf", "log_level = crit # from file\n");
    let (s, _) = Settings::load(Some(&p), Env::new()).unwrap();
    assert_eq!(s.log_level, LogLevel::Crit);
    assert_eq!(s.config_file.as_deref(), Some(p.as_path()));

    let missing = Path::new("/nonexistent/gantry/kong.conf");
    let e = Settings::load(Some(missing), Env::new()).unwrap_err();
    assert!(matches!(e, ConfigError::NoFile { .. }));
    assert_eq!(e.to_string(), "no file at: /nonexistent/gantry/kong.conf");

    // without -c: the first existing default path is used
    let d = temp_file("default.conf", "log_level = alert\n");
    let (s, _) =
        Settings::load_with_default_paths(None, &[missing, d.as_path()], Env::new()).unwrap();
    assert_eq!(s.log_level, LogLevel::Alert);
    assert_eq!(s.config_file.as_deref(), Some(d.as_path()));
    // with -c: default paths are not consulted
    let (s, _) = Settings::load_with_default_paths(Some(&p), &[d.as_path()], Env::new()).unwrap();
    assert_eq!(s.log_level, LogLevel::Crit);
    // no file at all
    let (s, _) = Settings::load_with_default_paths(None, &[missing], Env::new()).unwrap();
    assert_eq!(s.config_file, None);

    // unreadable (not UTF-8)
    let bad = temp_file("binary.conf", "");
    std::fs::write(&bad, [0xff, 0xfe, 0x00]).unwrap();
    let e = Settings::load(Some(&bad), Env::new()).unwrap_err();
    assert!(matches!(e, ConfigError::ReadFile { .. }), "{e}");
    // a directory given with -c
    let dir = p.parent().unwrap();
    assert!(matches!(
        Settings::load(Some(dir), Env::new()).unwrap_err(),
        ConfigError::ReadFile { .. }
    ));
    // env still overrides a real file
    let (s, _) = Settings::load(Some(&p), env(&[("KONG_LOG_LEVEL", "info")])).unwrap();
    assert_eq!(s.log_level, LogLevel::Info);
}

#[test]
fn raw_access_for_later_settings() {
    let (s, _) = load("dns_stale_ttl = 10\nanonymous_reports = off", &[]);
    assert_eq!(s.raw.get_u64("dns_stale_ttl").unwrap(), Some(10));
    assert_eq!(s.raw.get_bool("anonymous_reports").unwrap(), Some(false));
    assert_eq!(s.raw.get_list("plugins"), ["bundled"]);
    assert!(s.raw.is_user_set("dns_stale_ttl"));
    assert!(!s.raw.is_user_set("plugins"));
    let keys: Vec<&str> = s.raw.iter().map(|(k, _)| k).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "sorted");
    assert!(keys.contains(&"proxy_listen"));
}
