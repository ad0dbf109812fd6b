//! Typed settings and the enums they use.

use std::path::PathBuf;
use std::time::Duration;

use crate::headers::{ResponseHeaders, UpstreamHeaders};
use crate::listeners::{ListenHost, Listener};
use crate::raw::RawConfig;
use crate::realip::{RealIpHeader, TrustedIps};
use crate::secret::Secret;

/// Gantry's default working directory (Kong's is `/usr/local/kong/`).
pub const DEFAULT_PREFIX: &str = "/usr/local/gantry";

/// The effective Gantry settings. Build with [`Settings::load`]; the
/// [`Default`] value equals loading with no file and an empty environment.
///
/// `Debug` never prints secrets (`pg_password`, `admin_api_token`, keys).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    /// The configuration file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// `prefix`: working directory for logs, pids, sockets (made absolute).
    pub prefix: PathBuf,
    /// `proxy_listen` (empty when `off`).
    pub proxy_listen: Vec<Listener>,
    /// `admin_listen` (empty when `off`).
    pub admin_listen: Vec<Listener>,
    /// `status_listen` (empty when `off`).
    pub status_listen: Vec<Listener>,
    /// `database`.
    pub database: Database,
    /// `declarative_config`: YAML/JSON file loaded at start (used with `database = off`).
    pub declarative_config: Option<PathBuf>,
    /// `declarative_config_string`: inline declarative configuration.
    pub declarative_config_string: Option<Secret>,
    /// `log_level`.
    pub log_level: LogLevel,
    /// `nginx_worker_processes` (or `nginx_main_worker_processes`).
    pub worker_processes: WorkerProcesses,
    /// `headers`: informational headers added to responses.
    pub headers: ResponseHeaders,
    /// `headers_upstream`: headers added to upstream requests.
    pub headers_upstream: UpstreamHeaders,
    /// Proxy request-body limit in bytes, `None` = unlimited (`0`). From
    /// `nginx_proxy_client_max_body_size`, else `nginx_http_client_max_body_size`
    /// (alias `client_max_body_size`).
    pub client_max_body_size: Option<u64>,
    /// Admin API request-body limit (`nginx_admin_client_max_body_size`, 10m).
    pub admin_client_max_body_size: Option<u64>,
    /// `upstream_keepalive_*`.
    pub upstream_keepalive: UpstreamKeepalive,
    /// `trusted_ips`.
    pub trusted_ips: TrustedIps,
    /// `real_ip_header` (or `nginx_proxy_real_ip_header`).
    pub real_ip_header: RealIpHeader,
    /// `real_ip_recursive` (or `nginx_proxy_real_ip_recursive`).
    pub real_ip_recursive: bool,
    /// Requests served on one client keepalive connection before it is closed
    /// (`nginx_proxy_keepalive_requests`, else `nginx_http_keepalive_requests`).
    pub keepalive_requests: u64,
    /// `error_default_type`: format of Gantry-generated errors when the
    /// request's `Accept` (and `Content-Type`) say nothing.
    pub error_default_type: ErrorDefaultType,
    /// `allow_debug_header`: honour the `Kong-Debug` request header.
    pub allow_debug_header: bool,
    /// `router_flavor`.
    pub router_flavor: RouterFlavor,
    /// `pg_*`.
    pub pg: PgSettings,
    /// `admin_api_token` (Gantry extension): bearer token for the Admin API.
    pub admin_api_token: Option<Secret>,
    /// `lua_ssl_trusted_certificate`: CA bundles for outbound TLS (`system`
    /// keyword, file paths or PEM); empty when unset.
    pub lua_ssl_trusted_certificate: Vec<String>,
    /// `ssl_cert` / `ssl_cert_key`: proxy TLS certificates.
    pub ssl: CertPairs,
    /// `admin_ssl_cert` / `admin_ssl_cert_key`.
    pub admin_ssl: CertPairs,
    /// `status_ssl_cert` / `status_ssl_cert_key`.
    pub status_ssl: CertPairs,
    /// Every setting as a string (defaults included), for later components.
    pub raw: RawConfig,
}

impl Settings {
    /// Worker threads to run: `auto` = available parallelism (at least 1).
    pub fn worker_threads(&self) -> usize {
        self.worker_processes.threads()
    }

    /// The raw string value of any setting (`None` when unset or `NONE`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.raw.get(key)
    }

    /// True when `ip` is in `trusted_ips`.
    pub fn is_trusted(&self, ip: std::net::IpAddr) -> bool {
        self.trusted_ips.contains(ip)
    }
}

impl Default for Settings {
    fn default() -> Self {
        let http = |ip: [u8; 4], port: u16, backlog: u32| {
            let mut l = Listener::new(ListenHost::Ip(ip.into()), port);
            l.reuseport = true;
            l.backlog = Some(backlog);
            l
        };
        let https = |ip: [u8; 4], port: u16| {
            let mut l = http(ip, port, 16384);
            l.ssl = true;
            l.http2 = true;
            l
        };
        Settings {
            config_file: None,
            prefix: PathBuf::from(DEFAULT_PREFIX),
            proxy_listen: vec![http([0, 0, 0, 0], 8000, 16384), https([0, 0, 0, 0], 8443)],
            admin_listen: vec![
                http([127, 0, 0, 1], 8001, 16384),
                https([127, 0, 0, 1], 8444),
            ],
            status_listen: vec![http([127, 0, 0, 1], 8007, 16384)],
            database: Database::Sqlite,
            declarative_config: None,
            declarative_config_string: None,
            log_level: LogLevel::Notice,
            worker_processes: WorkerProcesses::Auto,
            headers: ResponseHeaders::KONG_DEFAULT,
            headers_upstream: UpstreamHeaders::KONG_DEFAULT,
            client_max_body_size: None,
            admin_client_max_body_size: Some(10 << 20),
            upstream_keepalive: UpstreamKeepalive::default(),
            trusted_ips: TrustedIps::default(),
            real_ip_header: RealIpHeader::default(),
            real_ip_recursive: false,
            keepalive_requests: 10_000,
            error_default_type: ErrorDefaultType::Plain,
            allow_debug_header: false,
            router_flavor: RouterFlavor::TraditionalCompatible,
            pg: PgSettings::default(),
            admin_api_token: None,
            lua_ssl_trusted_certificate: vec!["system".into()],
            ssl: CertPairs::default(),
            admin_ssl: CertPairs::default(),
            status_ssl: CertPairs::default(),
            raw: RawConfig::with_defaults(),
        }
    }
}

/// The `database` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Database {
    /// `off`: DB-less; configuration from `declarative_config` or `POST /config`.
    Off,
    /// `postgres`: Kong's database.
    Postgres,
    /// `sqlite` (Gantry's default): embedded database under `prefix`.
    Sqlite,
}

impl Database {
    /// Accepted values, for messages.
    pub const VALUES: &'static [&'static str] = &["postgres", "off", "sqlite"];

    /// The value as written in kong.conf.
    pub fn as_str(self) -> &'static str {
        match self {
            Database::Off => "off",
            Database::Postgres => "postgres",
            Database::Sqlite => "sqlite",
        }
    }
}

/// The `log_level` setting (nginx severities, most verbose first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// `debug`
    Debug,
    /// `info`
    Info,
    /// `notice` (default)
    Notice,
    /// `warn`
    Warn,
    /// `error`
    Error,
    /// `crit`
    Crit,
    /// `alert`
    Alert,
    /// `emerg`
    Emerg,
}

impl LogLevel {
    /// Accepted values in Kong's order (used in the error message).
    pub const VALUES: &'static [&'static str] = &[
        "debug", "info", "notice", "warn", "error", "crit", "alert", "emerg",
    ];

    /// Parses a value from [`LogLevel::VALUES`].
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "notice" => LogLevel::Notice,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            "crit" => LogLevel::Crit,
            "alert" => LogLevel::Alert,
            "emerg" => LogLevel::Emerg,
            _ => return None,
        })
    }

    /// The value as written in kong.conf.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Notice => "notice",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Crit => "crit",
            LogLevel::Alert => "alert",
            LogLevel::Emerg => "emerg",
        }
    }
}

/// The `nginx_worker_processes` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkerProcesses {
    /// `auto`: one worker thread per available CPU.
    Auto,
    /// A fixed, positive number of worker threads.
    Count(usize),
}

impl WorkerProcesses {
    /// Parses `auto` or a positive integer.
    pub fn parse(key: &str, value: &str) -> Result<Self, String> {
        let v = value.trim();
        if v == "auto" {
            return Ok(WorkerProcesses::Auto);
        }
        match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(WorkerProcesses::Count(n)),
            _ => Err(format!(
                "{key} must be 'auto' or a positive integer, got '{v}'"
            )),
        }
    }

    /// Number of worker threads.
    pub fn threads(self) -> usize {
        match self {
            WorkerProcesses::Auto => std::thread::available_parallelism().map_or(1, |n| n.get()),
            WorkerProcesses::Count(n) => n.max(1),
        }
    }
}

/// The `error_default_type` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorDefaultType {
    /// `application/json`
    Json,
    /// `application/xml`
    Xml,
    /// `text/html`
    Html,
    /// `text/plain` (default)
    Plain,
}

impl ErrorDefaultType {
    /// Accepted values (Kong's order).
    pub const VALUES: &'static [&'static str] = &[
        "application/json",
        "application/xml",
        "text/html",
        "text/plain",
    ];

    /// Parses a value from [`ErrorDefaultType::VALUES`].
    pub fn from_mime(mime: &str) -> Option<Self> {
        Some(match mime {
            "application/json" => ErrorDefaultType::Json,
            "application/xml" => ErrorDefaultType::Xml,
            "text/html" => ErrorDefaultType::Html,
            "text/plain" => ErrorDefaultType::Plain,
            _ => return None,
        })
    }

    /// The MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            ErrorDefaultType::Json => "application/json",
            ErrorDefaultType::Xml => "application/xml",
            ErrorDefaultType::Html => "text/html",
            ErrorDefaultType::Plain => "text/plain",
        }
    }
}

/// The `router_flavor` setting. Only Kong's default is supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RouterFlavor {
    /// `traditional_compatible` (Kong's default).
    TraditionalCompatible,
}

impl RouterFlavor {
    /// The value as written in kong.conf.
    pub fn as_str(self) -> &'static str {
        match self {
            RouterFlavor::TraditionalCompatible => "traditional_compatible",
        }
    }
}

/// `upstream_keepalive_*`: pooling of upstream connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UpstreamKeepalive {
    /// `upstream_keepalive_pool_size` (512): idle connections kept per pool;
    /// 0 disables upstream keepalive.
    pub pool_size: u64,
    /// `upstream_keepalive_max_requests` (10000): requests per connection
    /// before it is closed; 0 = unlimited.
    pub max_requests: u64,
    /// `upstream_keepalive_idle_timeout` (60 s): idle time before an pooled
    /// connection is closed; 0 = never.
    pub idle_timeout: Duration,
}

impl Default for UpstreamKeepalive {
    fn default() -> Self {
        UpstreamKeepalive {
            pool_size: 512,
            max_requests: 10_000,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Basic PostgreSQL settings (`pg_*`), for a later storage backend.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PgSettings {
    /// `pg_host` (127.0.0.1).
    pub host: String,
    /// `pg_port` (5432).
    pub port: u16,
    /// `pg_user` (kong).
    pub user: String,
    /// `pg_password` (unset).
    pub password: Option<Secret>,
    /// `pg_database` (kong).
    pub database: String,
    /// `pg_schema` (unset = server default).
    pub schema: Option<String>,
    /// `pg_timeout` (5000 ms).
    pub timeout: Duration,
    /// `pg_ssl` (off).
    pub ssl: bool,
    /// `pg_ssl_verify` (off).
    pub ssl_verify: bool,
}

impl Default for PgSettings {
    fn default() -> Self {
        PgSettings {
            host: "127.0.0.1".into(),
            port: 5432,
            user: "kong".into(),
            password: None,
            database: "kong".into(),
            schema: None,
            timeout: Duration::from_millis(5000),
            ssl: false,
            ssl_verify: false,
        }
    }
}

/// TLS certificate/key pairs for one group of listeners. Each entry is a
/// file path or inline (PEM or base64 PEM) as in Kong; entry `i` of `certs`
/// goes with entry `i` of `keys`. Empty = use a self-signed default.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CertPairs {
    /// `*ssl_cert` entries.
    pub certs: Vec<String>,
    /// `*ssl_cert_key` entries (redacted in `Debug`).
    pub keys: Vec<Secret>,
}
