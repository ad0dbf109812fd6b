//! `Display` for [`Settings`]: one `key = value` line per typed setting,
//! secrets shown as `******` (like Kong's debug dump of its configuration).

use std::fmt;

use crate::listeners::Listener;
use crate::secret::{REDACTED, Secret};
use crate::settings::Settings;

fn listeners(l: &[Listener]) -> String {
    if l.is_empty() {
        "off".into()
    } else {
        l.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn size(s: Option<u64>) -> String {
    s.map_or_else(|| "0".into(), |n| n.to_string())
}

fn opt<T: fmt::Display>(o: Option<&T>) -> String {
    o.map_or_else(|| "NONE".into(), ToString::to_string)
}

fn secret(s: Option<&Secret>) -> &'static str {
    if s.is_some() { REDACTED } else { "NONE" }
}

fn list(l: &[String]) -> String {
    if l.is_empty() {
        "NONE".into()
    } else {
        l.join(", ")
    }
}

fn onoff(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self
            .config_file
            .as_ref()
            .map_or_else(|| "NONE".into(), |p| p.display().to_string());
        let wp = match self.worker_processes {
            crate::WorkerProcesses::Auto => format!("auto ({} threads)", self.worker_threads()),
            crate::WorkerProcesses::Count(n) => n.to_string(),
        };
        let keys_redacted = |n: usize| vec![REDACTED; n].join(", ");
        let lines: Vec<(&str, String)> = vec![
            ("config_file", file),
            ("prefix", self.prefix.display().to_string()),
            ("proxy_listen", listeners(&self.proxy_listen)),
            ("admin_listen", listeners(&self.admin_listen)),
            ("status_listen", listeners(&self.status_listen)),
            ("database", self.database.as_str().into()),
            (
                "declarative_config",
                opt(self
                    .declarative_config
                    .as_ref()
                    .map(|p| p.display())
                    .as_ref()),
            ),
            (
                "declarative_config_string",
                secret(self.declarative_config_string.as_ref()).into(),
            ),
            ("log_level", self.log_level.as_str().into()),
            ("nginx_worker_processes", wp),
            ("headers", self.headers.to_string()),
            ("headers_upstream", self.headers_upstream.to_string()),
            (
                "nginx_http_client_max_body_size",
                size(self.client_max_body_size),
            ),
            (
                "nginx_admin_client_max_body_size",
                size(self.admin_client_max_body_size),
            ),
            (
                "upstream_keepalive_pool_size",
                self.upstream_keepalive.pool_size.to_string(),
            ),
            (
                "upstream_keepalive_max_requests",
                self.upstream_keepalive.max_requests.to_string(),
            ),
            (
                "upstream_keepalive_idle_timeout",
                self.upstream_keepalive.idle_timeout.as_secs().to_string(),
            ),
            ("trusted_ips", self.trusted_ips.to_string()),
            ("real_ip_header", self.real_ip_header.to_string()),
            ("real_ip_recursive", onoff(self.real_ip_recursive).into()),
            (
                "nginx_http_keepalive_requests",
                self.keepalive_requests.to_string(),
            ),
            ("error_default_type", self.error_default_type.mime().into()),
            ("allow_debug_header", onoff(self.allow_debug_header).into()),
            ("router_flavor", self.router_flavor.as_str().into()),
            ("pg_host", self.pg.host.clone()),
            ("pg_port", self.pg.port.to_string()),
            ("pg_user", self.pg.user.clone()),
            ("pg_password", secret(self.pg.password.as_ref()).into()),
            ("pg_database", self.pg.database.clone()),
            ("pg_schema", opt(self.pg.schema.as_ref())),
            ("pg_timeout", self.pg.timeout.as_millis().to_string()),
            ("pg_ssl", onoff(self.pg.ssl).into()),
            ("pg_ssl_verify", onoff(self.pg.ssl_verify).into()),
            (
                "admin_api_token",
                secret(self.admin_api_token.as_ref()).into(),
            ),
            (
                "lua_ssl_trusted_certificate",
                list(&self.lua_ssl_trusted_certificate),
            ),
            ("ssl_cert", list(&self.ssl.certs)),
            ("ssl_cert_key", keys_redacted(self.ssl.keys.len())),
            ("admin_ssl_cert", list(&self.admin_ssl.certs)),
            (
                "admin_ssl_cert_key",
                keys_redacted(self.admin_ssl.keys.len()),
            ),
            ("status_ssl_cert", list(&self.status_ssl.certs)),
            (
                "status_ssl_cert_key",
                keys_redacted(self.status_ssl.keys.len()),
            ),
        ];
        for (k, v) in lines {
            let v = if v.is_empty() { "NONE".into() } else { v };
            writeln!(f, "{k} = {v}")?;
        }
        Ok(())
    }
}
