//! Turns the merged raw map into typed [`Settings`], collecting every error.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{ConfigError, InvalidValue, Source, Warning, WarningLevel};
use crate::headers::{ResponseHeaders, UpstreamHeaders};
use crate::keys;
use crate::listeners::{Listener, parse_listeners};
use crate::raw::RawConfig;
use crate::realip::{RealIpHeader, TrustedIps};
use crate::secret::Secret;
use crate::settings::{
    CertPairs, Database, ErrorDefaultType, LogLevel, PgSettings, RouterFlavor, Settings,
    UpstreamKeepalive, WorkerProcesses,
};
use crate::values;

/// Accumulates errors and warnings while reading typed values.
struct Ctx<'a> {
    raw: &'a RawConfig,
    errors: Vec<InvalidValue>,
    warnings: Vec<Warning>,
}

impl Ctx<'_> {
    /// The value of `key` and its source; an unset user value falls back to
    /// the built-in default (`None` when that is unset too).
    fn scalar(&self, key: &str) -> Option<(String, Source)> {
        let source = self.source(key);
        if let Some(v) = self.raw.get(key) {
            return Some((v.to_owned(), source));
        }
        keys::DEFAULTS
            .iter()
            .chain(keys::GANTRY_DEFAULTS)
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .filter(|v| !values::is_unset(v))
            .map(|v| (v.to_owned(), Source::Default))
    }

    fn source(&self, key: &str) -> Source {
        self.raw.source(key).cloned().unwrap_or(Source::Default)
    }

    /// Parses a scalar with `parse`; on error records it and returns `fallback`.
    fn parse<T>(
        &mut self,
        key: &str,
        fallback: T,
        parse: impl FnOnce(&str, &str) -> Result<T, String>,
    ) -> T {
        let Some((value, source)) = self.scalar(key) else {
            return fallback;
        };
        match parse(key, &value) {
            Ok(v) => v,
            Err(message) => {
                self.fail(key, &source, message);
                fallback
            }
        }
    }

    /// Like [`Ctx::parse`] for settings whose unset value means `None`.
    fn optional<T>(
        &mut self,
        key: &str,
        parse: impl FnOnce(&str, &str) -> Result<T, String>,
    ) -> Option<T> {
        match self.raw.typed(key, parse) {
            Ok(v) => v,
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    /// A list setting (empty when unset), checked by `parse`.
    fn list<T: Default>(
        &mut self,
        key: &str,
        parse: impl FnOnce(&[String]) -> Result<T, String>,
    ) -> T {
        let items = self.raw.get_list(key);
        match parse(&items) {
            Ok(v) => v,
            Err(message) => {
                let source = self.source(key);
                self.fail(key, &source, message);
                T::default()
            }
        }
    }

    fn fail(&mut self, key: &str, source: &Source, message: String) {
        let e = self.raw.invalid(key, source, message);
        self.errors.push(e);
    }

    fn warn(&mut self, level: WarningLevel, key: &str, message: String) {
        let source = self.source(key);
        self.warnings
            .push(Warning::new(level, Some(key), source, message));
    }

    fn listeners(&mut self, key: &str) -> Vec<Listener> {
        let value = self.raw.get(key).unwrap_or("");
        match parse_listeners(key, value) {
            Ok(l) => l,
            Err(message) => {
                let source = self.source(key);
                self.fail(key, &source, message);
                Vec::new()
            }
        }
    }

    /// `<prefix>ssl_cert` / `<prefix>ssl_cert_key`, checked as Kong does when
    /// one of the group's listeners has the `ssl` flag.
    fn certs(&mut self, prefix: &str, listeners: &[Listener]) -> CertPairs {
        let cert_key = format!("{prefix}ssl_cert");
        let key_key = format!("{prefix}ssl_cert_key");
        let certs = self.raw.get_list(&cert_key);
        let keys: Vec<Secret> = self
            .raw
            .get_list(&key_key)
            .into_iter()
            .map(Secret::from)
            .collect();
        if listeners.iter().any(|l| l.ssl) {
            let message = match (certs.len(), keys.len()) {
                (c, 0) if c > 0 => Some((&key_key, format!("{key_key} must be specified"))),
                (0, k) if k > 0 => Some((&cert_key, format!("{cert_key} must be specified"))),
                (c, k) if c != k => Some((
                    &cert_key,
                    format!(
                        "{cert_key} was specified {c} times while {key_key} was specified {k} times"
                    ),
                )),
                _ => None,
            };
            if let Some((key, message)) = message {
                let source = self.source(key);
                self.fail(key, &source, message);
            }
        }
        CertPairs { certs, keys }
    }
}

/// Builds typed settings from the merged map. Returns every invalid value at
/// once, or the settings plus warnings about values that are accepted but
/// not (fully) honoured.
pub(crate) fn build(
    raw: RawConfig,
    config_file: Option<PathBuf>,
) -> Result<(Settings, Vec<Warning>), ConfigError> {
    let d = Settings::default();
    let mut cx = Ctx {
        raw: &raw,
        errors: Vec::new(),
        warnings: Vec::new(),
    };

    let prefix = cx.parse("prefix", d.prefix.clone(), |_, v| Ok(absolute(v)));
    let proxy_listen = cx.listeners("proxy_listen");
    let admin_listen = cx.listeners("admin_listen");
    let status_listen = cx.listeners("status_listen");

    let database = cx.parse("database", d.database, |k, v| match v {
        "off" => Ok(Database::Off),
        "postgres" => Ok(Database::Postgres),
        "sqlite" => Ok(Database::Sqlite),
        "cassandra" => Err("Cassandra as a datastore for Kong is not supported in versions 3.4 and above. Please use Postgres.".into()),
        _ => values::parse_enum(k, v, Database::VALUES).map(|_| Database::Off),
    });
    let declarative_config = cx.optional("declarative_config", |_, v| Ok(PathBuf::from(v)));
    let declarative_config_string =
        cx.optional("declarative_config_string", |_, v| Ok(Secret::new(v)));
    if database != Database::Off
        && (declarative_config.is_some() || declarative_config_string.is_some())
    {
        cx.warn(
            WarningLevel::Warn,
            "declarative_config",
            format!(
                "declarative_config is only used when database = off (database = {}); ignored",
                database.as_str()
            ),
        );
    }

    let log_level = cx.parse("log_level", d.log_level, |k, v| {
        values::parse_enum(k, v, LogLevel::VALUES)
            .map(|name| LogLevel::from_name(name).unwrap_or(LogLevel::Notice))
    });
    let wp_key = raw.pick("nginx_worker_processes", "nginx_main_worker_processes");
    let worker_processes = cx.parse(wp_key, d.worker_processes, WorkerProcesses::parse);

    let headers = cx.list("headers", ResponseHeaders::parse);
    let headers_upstream = cx.list("headers_upstream", UpstreamHeaders::parse);

    let body_key = raw.pick(
        "nginx_http_client_max_body_size",
        "nginx_proxy_client_max_body_size",
    );
    let client_max_body_size = cx
        .parse(body_key, Some(0), |k, v| values::parse_size(k, v).map(Some))
        .filter(|n| *n > 0);
    let admin_client_max_body_size = cx
        .parse(
            "nginx_admin_client_max_body_size",
            d.admin_client_max_body_size,
            |k, v| values::parse_size(k, v).map(Some),
        )
        .filter(|n| *n > 0);

    let dk = d.upstream_keepalive;
    let upstream_keepalive = UpstreamKeepalive {
        pool_size: cx.parse(
            "upstream_keepalive_pool_size",
            dk.pool_size,
            values::parse_u64,
        ),
        max_requests: cx.parse(
            "upstream_keepalive_max_requests",
            dk.max_requests,
            values::parse_u64,
        ),
        idle_timeout: cx.parse(
            "upstream_keepalive_idle_timeout",
            dk.idle_timeout,
            |k, v| values::parse_u64(k, v).map(Duration::from_secs),
        ),
    };

    let trusted_ips = cx.list("trusted_ips", TrustedIps::parse);
    let rih_key = raw.pick("real_ip_header", "nginx_proxy_real_ip_header");
    let real_ip_header = cx.parse(rih_key, d.real_ip_header.clone(), RealIpHeader::parse);
    let rir_key = raw.pick("real_ip_recursive", "nginx_proxy_real_ip_recursive");
    let real_ip_recursive = cx.parse(rir_key, d.real_ip_recursive, values::parse_bool);
    if real_ip_header == RealIpHeader::ProxyProtocol
        && !proxy_listen.iter().any(|l| l.proxy_protocol)
    {
        cx.warn(
            WarningLevel::Warn,
            rih_key,
            format!("{rih_key} = proxy_protocol has no effect: no proxy_listen entry has the proxy_protocol flag"),
        );
    }
    let ka_key = raw.pick(
        "nginx_http_keepalive_requests",
        "nginx_proxy_keepalive_requests",
    );
    let keepalive_requests = cx.parse(ka_key, d.keepalive_requests, values::parse_u64);

    let error_default_type = cx.parse("error_default_type", d.error_default_type, |k, v| {
        values::parse_enum(k, v, ErrorDefaultType::VALUES)
            .map(|m| ErrorDefaultType::from_mime(m).unwrap_or(ErrorDefaultType::Plain))
    });
    let allow_debug_header = cx.parse(
        "allow_debug_header",
        d.allow_debug_header,
        values::parse_bool,
    );
    let router_flavor = cx.parse("router_flavor", d.router_flavor, |k, v| match v {
        "traditional_compatible" => Ok(RouterFlavor::TraditionalCompatible),
        "traditional" | "expressions" => Err(format!(
            "{k} = {v} is not supported by Gantry (only traditional_compatible, Kong's default)"
        )),
        _ => values::parse_enum(
            k,
            v,
            &["traditional", "traditional_compatible", "expressions"],
        )
        .map(|_| RouterFlavor::TraditionalCompatible),
    });

    let dp = PgSettings::default();
    let pg = PgSettings {
        host: cx.parse("pg_host", dp.host, |_, v| Ok(v.to_owned())),
        port: cx.parse("pg_port", dp.port, values::parse_port),
        user: cx.parse("pg_user", dp.user, |_, v| Ok(v.to_owned())),
        password: cx.optional("pg_password", |_, v| Ok(Secret::new(v))),
        database: cx.parse("pg_database", dp.database, |_, v| Ok(v.to_owned())),
        schema: cx.optional("pg_schema", |_, v| Ok(v.to_owned())),
        timeout: cx.parse("pg_timeout", dp.timeout, |k, v| {
            values::parse_u64(k, v).map(Duration::from_millis)
        }),
        ssl: cx.parse("pg_ssl", dp.ssl, values::parse_bool),
        ssl_verify: cx.parse("pg_ssl_verify", dp.ssl_verify, values::parse_bool),
    };
    let admin_api_token = cx.optional("admin_api_token", |_, v| Ok(Secret::new(v)));
    let lua_ssl_trusted_certificate = raw.get_list("lua_ssl_trusted_certificate");
    let ssl = cx.certs("", &proxy_listen);
    let admin_ssl = cx.certs("admin_", &admin_listen);
    let status_ssl = cx.certs("status_", &status_listen);

    check_role(&mut cx);
    if raw
        .get("stream_listen")
        .is_some_and(|v| values::parse_list(v).first().is_some_and(|f| f != "off"))
    {
        cx.warn(
            WarningLevel::Warn,
            "stream_listen",
            "stream_listen is not supported by Gantry yet; no stream (TCP/TLS/UDP) listener will be opened".into(),
        );
    }

    let Ctx {
        errors, warnings, ..
    } = cx;
    if !errors.is_empty() {
        return Err(ConfigError::Invalid(errors));
    }
    let settings = Settings {
        config_file,
        prefix,
        proxy_listen,
        admin_listen,
        status_listen,
        database,
        declarative_config,
        declarative_config_string,
        log_level,
        worker_processes,
        headers,
        headers_upstream,
        client_max_body_size,
        admin_client_max_body_size,
        upstream_keepalive,
        trusted_ips,
        real_ip_header,
        real_ip_recursive,
        keepalive_requests,
        error_default_type,
        allow_debug_header,
        router_flavor,
        pg,
        admin_api_token,
        lua_ssl_trusted_certificate,
        ssl,
        admin_ssl,
        status_ssl,
        raw,
    };
    Ok((settings, warnings))
}

/// Only `role = traditional` is supported (no hybrid mode yet).
fn check_role(cx: &mut Ctx<'_>) {
    let Some((role, source)) = cx.scalar("role") else {
        return;
    };
    let message = match role.as_str() {
        "traditional" => return,
        "control_plane" | "data_plane" => {
            format!("role = {role} is not supported by Gantry yet (hybrid mode); only traditional")
        }
        other => {
            format!("role has an invalid value: '{other}' (data_plane, control_plane, traditional)")
        }
    };
    cx.fail("role", &source, message);
}

/// Kong makes `prefix` absolute (relative to the working directory).
fn absolute(v: &str) -> PathBuf {
    let p = PathBuf::from(v);
    if p.is_absolute() {
        return p;
    }
    std::env::current_dir().map_or(p.clone(), |cwd| cwd.join(&p))
}
