//! cors (PRIORITY 2000): answers preflights and adds CORS headers to responses
//! (`kong/plugins/cors/handler.lua`, kong-reference §6.13).

use gantry_core::schema::typedefs as t;
use gantry_core::schema::{Field, Schema};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ConsumerScope, boolean, subschema};
use crate::ctx::{RequestCtx, ResponseHead};
use crate::plugin::{ConfigureEnv, Phases, Plugin, PluginHandler};
use crate::respond::{Decision, KongResponse};

/// The cors plugin.
#[derive(Debug)]
pub struct Cors;

const METHODS: [&str; 9] = [
    "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];

#[derive(Debug, Deserialize)]
struct Config {
    origins: Option<Vec<String>>,
    headers: Option<Vec<String>>,
    exposed_headers: Option<Vec<String>>,
    methods: Option<Vec<String>>,
    max_age: Option<f64>,
    credentials: bool,
    private_network: bool,
    preflight_continue: bool,
    allow_origin_absent: bool,
}

fn validate_asterisk_or_regex(v: &Value) -> Result<(), String> {
    let s = v.as_str().unwrap_or_default();
    if s == "*" || Regex::new(s).is_ok() {
        Ok(())
    } else {
        Err(format!("'{s}' is not a valid regex"))
    }
}

impl Plugin for Cors {
    fn name(&self) -> &'static str {
        "cors"
    }

    fn priority(&self) -> i32 {
        2000
    }

    fn schema(&self) -> Schema {
        subschema(
            ConsumerScope::Forbidden,
            t::protocols_http(),
            vec![
                ("origins", Field::array(Field::string().custom(validate_asterisk_or_regex)).describe("List of allowed domains for the `Access-Control-Allow-Origin` header. If you want to allow all origins, add `*` as a single value to this configuration field. The accepted values can either be flat strings or PCRE regexes.")),
                ("headers", Field::array(Field::string()).describe("Value for the `Access-Control-Allow-Headers` header.")),
                ("exposed_headers", Field::array(Field::string()).describe("Value for the `Access-Control-Expose-Headers` header. If not specified, no custom headers are exposed.")),
                ("methods", Field::array(Field::string().one_of(&METHODS)).default(json!(METHODS)).describe("'Value for the `Access-Control-Allow-Methods` header. Available options include `GET`, `HEAD`, `PUT`, `PATCH`, `POST`, `DELETE`, `OPTIONS`, `TRACE`, `CONNECT`. By default, all options are allowed.'")),
                ("max_age", Field::number().describe("Indicates how long the results of the preflight request can be cached, in `seconds`.")),
                ("credentials", boolean(false).describe("Flag to determine whether the `Access-Control-Allow-Credentials` header should be sent with `true` as the value.")),
                ("private_network", boolean(false).describe("Flag to determine whether the `Access-Control-Allow-Private-Network` header should be sent with `true` as the value.")),
                ("preflight_continue", boolean(false).describe("A boolean value that instructs the plugin to proxy the `OPTIONS` preflight request to the Upstream service.")),
                ("allow_origin_absent", boolean(true).describe("A boolean value that skip cors response headers when origin header of request is empty")),
            ],
            vec![],
        )
    }

    fn configure(
        &self,
        config: &Value,
        _env: &ConfigureEnv,
    ) -> Result<Box<dyn PluginHandler>, String> {
        let config: Config = crate::util::parse_config(&self.schema(), config)?;
        let origins = config.origins.clone().unwrap_or_default();
        let mut entries = Vec::new();
        let mut has_star = false;
        for entry in &origins {
            if entry == "*" {
                has_star = true;
                break;
            }
            let by_host = !entry.contains(':');
            if entry.bytes().all(plain_char) {
                entries.push(OriginEntry::Plain {
                    domain: normalize_origin(entry).0,
                });
            } else {
                let mut re = entry.clone();
                if !re.ends_with('$') {
                    re.push('$');
                }
                let re = re.strip_prefix('^').unwrap_or(&re).to_string();
                let re = Regex::new(&format!("^(?:{re})")).map_err(|e| e.to_string())?;
                entries.push(OriginEntry::Regex { re, by_host });
            }
        }
        let mode = if origins.is_empty()
            || (origins.len() == 1 && origins.first().is_some_and(|o| o == "*"))
        {
            OriginMode::All
        } else if origins.len() == 1 && origins.first().is_some_and(|o| o.bytes().all(plain_char)) {
            OriginMode::Fixed(origins.first().cloned().unwrap_or_default())
        } else {
            OriginMode::List { entries, has_star }
        };
        let join =
            |l: &Option<Vec<String>>| l.as_ref().filter(|v| !v.is_empty()).map(|v| v.join(","));
        Ok(Box::new(Handler {
            mode,
            allow_headers: join(&config.headers),
            exposed_headers: join(&config.exposed_headers),
            methods: config
                .methods
                .as_ref()
                .map_or_else(|| METHODS.join(","), |m| m.join(",")),
            max_age: config.max_age.map(|m| m.to_string()),
            credentials: config.credentials,
            private_network: config.private_network,
            preflight_continue: config.preflight_continue,
            allow_origin_absent: config.allow_origin_absent,
        }))
    }
}

fn plain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'/' | b'-')
}

/// Kong's `normalize_origin`: `(scheme://host[:port] without default ports, host)`.
fn normalize_origin(origin: &str) -> (String, String) {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return (origin.to_string(), origin.to_string());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !p.contains(']') => (h, Some(p)),
        _ => (authority, None),
    };
    if host.is_empty() {
        return (origin.to_string(), origin.to_string());
    }
    let port =
        port.filter(|p| !((scheme == "http" && *p == "80") || (scheme == "https" && *p == "443")));
    let domain = match port {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    };
    (domain, host.to_string())
}

enum OriginEntry {
    Plain { domain: String },
    Regex { re: Regex, by_host: bool },
}

enum OriginMode {
    /// No origins, or only `*`.
    All,
    /// One plain origin: always sent as is.
    Fixed(String),
    /// Match the request origin against the list.
    List {
        entries: Vec<OriginEntry>,
        has_star: bool,
    },
}

struct Handler {
    mode: OriginMode,
    allow_headers: Option<String>,
    exposed_headers: Option<String>,
    methods: String,
    max_age: Option<String>,
    credentials: bool,
    private_network: bool,
    preflight_continue: bool,
    allow_origin_absent: bool,
}

/// Marker: this request's CORS headers were already handled in `access`.
#[derive(Clone)]
struct SkipResponseHeaders;

const ACAO: HeaderName = header::ACCESS_CONTROL_ALLOW_ORIGIN;
const REQUEST_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-request-private-network");

fn set(h: &mut HeaderMap, name: HeaderName, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        h.insert(name, v);
    }
}

fn vary(h: &mut HeaderMap, header_filter: bool) {
    let v = HeaderValue::from_static("Origin");
    if header_filter {
        h.append(header::VARY, v);
    } else {
        h.insert(header::VARY, v);
    }
}

impl Handler {
    /// Kong's `configure_origin`: sets ACAO; `true` when it is `*`.
    fn configure_origin(
        &self,
        h: &mut HeaderMap,
        header_filter: bool,
        req_origin: Option<&str>,
    ) -> bool {
        let (entries, has_star) = match &self.mode {
            OriginMode::All => {
                set(h, ACAO, "*");
                return true;
            }
            OriginMode::Fixed(o) => {
                vary(h, header_filter);
                set(h, ACAO, o);
                return false;
            }
            OriginMode::List { entries, has_star } => (entries, *has_star),
        };
        vary(h, header_filter);
        if let Some(origin) = req_origin {
            if has_star {
                set(h, ACAO, "*");
                return true;
            }
            let (domain, host) = normalize_origin(origin);
            for e in entries {
                let found = match e {
                    OriginEntry::Plain { domain: d } => *d == domain,
                    OriginEntry::Regex { re, by_host } => {
                        re.is_match(if *by_host { &host } else { &domain })
                    }
                };
                if found {
                    set(h, ACAO, &domain);
                    return false;
                }
            }
        }
        h.remove(ACAO);
        false
    }

    fn configure_credentials(
        &self,
        h: &mut HeaderMap,
        allow_all: bool,
        header_filter: bool,
        req_origin: Option<&str>,
    ) {
        if !self.credentials {
            return;
        }
        if !allow_all {
            set(h, header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
            return;
        }
        if let Some(origin) = req_origin {
            vary(h, header_filter);
            set(h, ACAO, origin);
            set(h, header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
        }
    }
}

/// The request header's first value as text (`HeaderValue::to_str`: visible ASCII
/// and tabs only).
fn req_header<'a>(ctx: &'a RequestCtx, name: &HeaderName) -> Option<&'a str> {
    let v = ctx.headers.first(name)?;
    v.iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b))
        .then(|| std::str::from_utf8(v).ok())
        .flatten()
}

impl PluginHandler for Handler {
    fn phases(&self) -> Phases {
        Phases {
            access: true,
            header_filter: true,
            ..Phases::default()
        }
    }

    fn access(&self, ctx: &mut RequestCtx) -> Decision {
        let origin = req_header(ctx, &header::ORIGIN).map(str::to_string);
        if ctx.method != Method::OPTIONS
            || origin.is_none()
            || !ctx
                .headers
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return Decision::Continue;
        }
        ctx.scratch.insert(SkipResponseHeaders);
        if self.preflight_continue {
            return Decision::Continue;
        }
        let mut resp = KongResponse::empty(StatusCode::OK);
        let h = &mut resp.headers;
        let allow_all = self.configure_origin(h, false, origin.as_deref());
        self.configure_credentials(h, allow_all, false, origin.as_deref());
        let allow_headers = self
            .allow_headers
            .as_deref()
            .or_else(|| req_header(ctx, &header::ACCESS_CONTROL_REQUEST_HEADERS));
        if let Some(v) = allow_headers {
            set(h, header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        set(h, header::ACCESS_CONTROL_ALLOW_METHODS, &self.methods);
        if let Some(m) = &self.max_age {
            set(h, header::ACCESS_CONTROL_MAX_AGE, m);
        }
        if self.private_network && req_header(ctx, &REQUEST_PRIVATE_NETWORK) == Some("true") {
            set(
                h,
                HeaderName::from_static("access-control-allow-private-network"),
                "true",
            );
        }
        Decision::Respond(Box::new(resp))
    }

    fn header_filter(&self, ctx: &mut RequestCtx, head: &mut ResponseHead) {
        if ctx.scratch.get::<SkipResponseHeaders>().is_some() {
            return;
        }
        let origin = req_header(ctx, &header::ORIGIN);
        if origin.is_none() && !self.allow_origin_absent {
            return;
        }
        let allow_all = self.configure_origin(&mut head.headers, true, origin);
        self.configure_credentials(&mut head.headers, allow_all, true, origin);
        if let Some(e) = &self.exposed_headers {
            set(&mut head.headers, header::ACCESS_CONTROL_EXPOSE_HEADERS, e);
        }
    }
}

#[cfg(test)]
#[path = "cors_tests.rs"]
mod tests;
