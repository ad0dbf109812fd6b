//! ip-restriction (PRIORITY 990): allow/deny by client IP or CIDR
//! (`kong/plugins/ip-restriction/handler.lua`, kong-reference §6.8).

use std::net::IpAddr;

use gantry_core::schema::net::is_ip_or_cidr;
use gantry_core::schema::typedefs as t;
use gantry_core::schema::{Field, Schema};
use http::StatusCode;
use ipnet::IpNet;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ConsumerScope, config_check, subschema};
use crate::ctx::RequestCtx;
use crate::plugin::{ConfigureEnv, Phases, Plugin, PluginHandler};
use crate::plugins::acl::at_least_one_of_allow_deny;
use crate::respond::Decision;

/// The ip-restriction plugin.
#[derive(Debug)]
pub struct IpRestriction;

#[derive(Debug, Deserialize)]
struct Config {
    allow: Option<Vec<String>>,
    deny: Option<Vec<String>>,
    status: Option<f64>,
    message: Option<String>,
}

fn validate_ip_or_cidr(v: &Value) -> Result<(), String> {
    let s = v.as_str().unwrap_or_default();
    if is_ip_or_cidr(s) {
        Ok(())
    } else {
        Err(format!("invalid ip or cidr range: '{s}'"))
    }
}

fn ip_or_cidr() -> Field {
    Field::string().custom(validate_ip_or_cidr)
}

/// Parses an IP or CIDR into a network (a bare IP is a /32 or /128).
pub(crate) fn parse_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
        .map(|n| n.trunc())
}

/// The client address with IPv4-mapped IPv6 unwrapped.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Plugin for IpRestriction {
    fn name(&self) -> &'static str {
        "ip-restriction"
    }

    fn priority(&self) -> i32 {
        990
    }

    fn schema(&self) -> Schema {
        subschema(
            ConsumerScope::Allowed,
            t::protocols().default(json!(["http", "https", "tcp", "tls", "grpc", "grpcs"])),
            vec![
                ("allow", Field::array(ip_or_cidr()).describe("List of IPs or CIDR ranges to allow. One of `config.allow` or `config.deny` must be specified.")),
                ("deny", Field::array(ip_or_cidr()).describe("List of IPs or CIDR ranges to deny. One of `config.allow` or `config.deny` must be specified.")),
                ("status", Field::number().describe("The HTTP status of the requests that will be rejected by the plugin.")),
                ("message", Field::string().describe("The message to send as a response body to rejected requests.")),
            ],
            vec![config_check(at_least_one_of_allow_deny)],
        )
    }

    fn configure(
        &self,
        config: &Value,
        _env: &ConfigureEnv,
    ) -> Result<Box<dyn PluginHandler>, String> {
        let config: Config = crate::util::parse_config(&self.schema(), config)?;
        let nets = |l: &Option<Vec<String>>| -> Vec<IpNet> {
            l.iter().flatten().filter_map(|s| parse_net(s)).collect()
        };
        let status = match config.status {
            None => StatusCode::FORBIDDEN,
            Some(s) => StatusCode::from_u16(s as u16).map_err(|e| e.to_string())?,
        };
        Ok(Box::new(Handler {
            allow: nets(&config.allow),
            deny: nets(&config.deny),
            status,
            message: config.message,
        }))
    }
}

struct Handler {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
    status: StatusCode,
    message: Option<String>,
}

impl Handler {
    fn exit(&self, ctx: &RequestCtx, ip: IpAddr) -> Decision {
        match &self.message {
            Some(m) => ctx.reject(self.status, m),
            None => ctx.reject(self.status, &format!("IP address not allowed: {ip}")),
        }
    }
}

impl PluginHandler for Handler {
    fn phases(&self) -> Phases {
        Phases::ACCESS
    }

    fn changes_request_headers(&self) -> bool {
        false
    }

    fn access(&self, ctx: &mut RequestCtx) -> Decision {
        let Some(ip) = ctx.client_ip.map(canonical) else {
            return ctx.reject(
                StatusCode::FORBIDDEN,
                "Cannot identify the client IP address, unix domain sockets are not supported.",
            );
        };
        if !self.deny.is_empty() && self.deny.iter().any(|n| n.contains(&ip)) {
            return self.exit(ctx, ip);
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|n| n.contains(&ip)) {
            return self.exit(ctx, ip);
        }
        Decision::Continue
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use http::Method;
    use serde_json::json;

    use crate::plugins::testkit::*;

    fn run(config: serde_json::Value, ip: Option<&str>) -> crate::respond::Decision {
        let mut f = Fixture::default();
        f.global("ip-restriction", config);
        let mut ctx = req(Method::GET, "/");
        ctx.client_ip = ip.map(|s| s.parse().unwrap());
        run_access(&f.build(), &mut ctx)
    }

    #[test]
    fn allow_and_deny() {
        assert!(run(json!({ "allow": ["10.0.0.0/8"] }), Some("10.1.2.3")).is_continue());
        assert_error(
            run(json!({ "allow": ["10.0.0.0/8"] }), Some("11.1.2.3")),
            403,
            "IP address not allowed: 11.1.2.3",
        );
        assert_error(
            run(json!({ "deny": ["127.0.0.1"] }), Some("127.0.0.1")),
            403,
            "IP address not allowed: 127.0.0.1",
        );
        assert!(run(json!({ "deny": ["127.0.0.1"] }), Some("127.0.0.2")).is_continue());
        // deny wins over allow
        assert_error(
            run(
                json!({ "allow": ["0.0.0.0/0"], "deny": ["1.2.3.4"] }),
                Some("1.2.3.4"),
            ),
            403,
            "IP address not allowed: 1.2.3.4",
        );
        // IPv6 and mapped IPv4
        assert!(run(json!({ "allow": ["::1"] }), Some("::1")).is_continue());
        assert!(run(json!({ "allow": ["1.2.3.4"] }), Some("::ffff:1.2.3.4")).is_continue());
    }

    #[test]
    fn custom_status_message_and_unix_socket() {
        assert_error(
            run(
                json!({ "deny": ["0.0.0.0/0"], "status": 401, "message": "go away" }),
                Some("1.1.1.1"),
            ),
            401,
            "go away",
        );
        assert_error(
            run(json!({ "deny": ["1.1.1.1"] }), None),
            403,
            "Cannot identify the client IP address, unix domain sockets are not supported.",
        );
    }

    #[test]
    fn config_validation() {
        let e = config_errors("ip-restriction", json!({ "deny": ["127.0.0.1", "hello"] }));
        assert_eq!(
            e["deny"],
            json!([null, "invalid ip or cidr range: 'hello'"])
        );
        let e =
            validate(json!({ "name": "ip-restriction", "config": { "allow": [], "deny": [] } }))
                .unwrap_err();
        assert_eq!(
            e["fields"]["@entity"],
            json!([
                "at least one of these fields must be non-empty: 'config.allow', 'config.deny'"
            ])
        );
        let v =
            validate(json!({ "name": "ip-restriction", "config": { "allow": ["::1"] } })).unwrap();
        assert_eq!(
            v["protocols"],
            json!(["http", "https", "tcp", "tls", "grpc", "grpcs"])
        );
    }
}
