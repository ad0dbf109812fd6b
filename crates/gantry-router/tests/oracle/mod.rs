//! Test oracle: Kong's own `atc-router` fed exactly what Kong's Lua feeds it.
//!
//! Independent ports (deliberately not sharing code with the crate) of
//! `kong/router/transform.lua` — `get_expression`, `get_priority`,
//! `split_routes_and_services_by_path` — and of `kong/router/atc.lua` + `fields.lua`
//! context filling, in the `traditional_compatible` flavor.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code
)]

use std::collections::{BTreeMap, HashMap};

use atc_router::ast::{Type, Value};
use atc_router::context::Context;
use atc_router::router::Router as AtcRouter;
use atc_router::schema::Schema;
use gantry_core::Route;
use uuid::Uuid;

/// `escape_str` of transform.lua.
fn escape_str(s: &str) -> String {
    if !s.contains("\"#") {
        return format!("r#\"{s}\"#");
    }
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `split_host_port` (Lua `tonumber` on the part after the first `:`; decimal only here).
pub fn split_host_port(s: &str) -> (String, Option<i64>) {
    match s.find(':') {
        Some(i) => match s[i + 1..].trim().parse::<i64>() {
            Ok(p) => (s[..i].to_string(), Some(p)),
            Err(_) => (s.to_string(), None),
        },
        None => (s.to_string(), None),
    }
}

fn or_list(items: Vec<String>) -> String {
    format!("({})", items.join(" || "))
}

fn sni_exp(sni: &str) -> String {
    let (op, val) = if sni.starts_with('*') {
        let mut v = sni.to_string();
        if v.len() > 1 && v.ends_with('.') {
            v.pop();
        }
        ("=^", v[1..].to_string())
    } else if let Some(rest) = sni.strip_suffix('*') {
        ("^=", rest.to_string())
    } else {
        let mut v = sni.to_string();
        if v.len() > 1 && v.ends_with('.') {
            v.pop();
        }
        ("==", v)
    };
    format!("tls.sni {op} {}", escape_str(&val))
}

/// `get_expression` for an HTTP route whose paths are `paths`.
pub fn expression(route: &Route, paths: &[String]) -> String {
    let mut parts = Vec::new();
    if let Some(snis) = route.snis.as_ref().filter(|v| !v.is_empty()) {
        let sni_gen = or_list(snis.iter().map(|s| sni_exp(s)).collect());
        parts.push(format!("(net.protocol != r#\"https\"# || {sni_gen})"));
    }
    if let Some(methods) = route.methods.as_ref().filter(|v| !v.is_empty()) {
        parts.push(or_list(
            methods
                .iter()
                .map(|m| format!("http.method == {}", escape_str(m)))
                .collect(),
        ));
    }
    if let Some(hosts) = route.hosts.as_ref().filter(|v| !v.is_empty()) {
        let mut items = Vec::new();
        for h in hosts {
            let (host, port) = split_host_port(h);
            let (op, host) = if let Some(rest) = host.strip_prefix('*') {
                ("=^", rest.to_string())
            } else if let Some(rest) = host.strip_suffix('*') {
                ("^=", rest.to_string())
            } else {
                ("==", host)
            };
            let mut exp = format!("http.host {op} r#\"{host}\"#");
            if let Some(port) = port {
                exp = format!("({exp} && net.dst.port == {port})");
            }
            items.push(exp);
        }
        parts.push(or_list(items));
    }
    if !paths.is_empty() {
        parts.push(or_list(
            paths
                .iter()
                .map(|p| {
                    if let Some(re) = p.strip_prefix('~') {
                        format!(
                            "http.path ~ {}",
                            escape_str(&format!("^{}", re.replace("?<", "?P<")))
                        )
                    } else {
                        format!("http.path ^= {}", escape_str(p))
                    }
                })
                .collect(),
        ));
    }
    if let Some(headers) = route.headers.as_ref().filter(|h| !h.is_empty()) {
        let mut hs = Vec::new();
        for (name, values) in headers {
            let field = format!(
                "any(lower(http.headers.{}))",
                name.replace('-', "_").to_ascii_lowercase()
            );
            hs.push(or_list(
                values
                    .iter()
                    .map(|v| match v.strip_prefix("~*") {
                        Some(re) => format!("{field} ~ {}", escape_str(&re.to_ascii_lowercase())),
                        None => format!("{field} == {}", escape_str(&v.to_ascii_lowercase())),
                    })
                    .collect(),
            ));
        }
        parts.push(hs.join(" && "));
    }
    parts.join(" && ")
}

/// `get_priority` for an HTTP route whose paths are `paths`.
pub fn priority(route: &Route, paths: &[String]) -> u64 {
    let ne = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|v| !v.is_empty());
    let mut w: u64 = 0;
    if route.sources.as_ref().is_some_and(|v| !v.is_empty()) {
        w += 1;
    }
    if route.destinations.as_ref().is_some_and(|v| !v.is_empty()) {
        w += 1;
    }
    if ne(&route.methods) {
        w += 1;
    }
    if ne(&route.hosts) {
        w += 1;
    }
    let hc = route
        .headers
        .as_ref()
        .map_or(0, |h| h.len() as u64)
        .min(255);
    if hc > 0 {
        w += 1;
    }
    if ne(&route.snis) {
        w += 1;
    }
    let plain = route
        .hosts
        .as_ref()
        .is_some_and(|h| h.iter().all(|h| !h.contains('*')));
    let mut len = 0u64;
    let mut regex = false;
    if let Some(p) = paths.first() {
        w += 1;
        if p.starts_with('~') {
            regex = true;
        } else {
            len = p.len() as u64;
        }
    }
    let rp = if regex {
        (route.regex_priority as u64) << 19
    } else {
        0
    };
    (w << 61)
        | if plain { 1 << 60 } else { 0 }
        | if regex { 1 << 51 } else { 0 }
        | (hc << 52)
        | rp
        | (len & 0x7FFFF)
}

/// `split_routes_and_services_by_path`: (matcher id, paths) per fragment.
pub fn split(route: &Route) -> Vec<(Uuid, Vec<String>)> {
    let paths = route.paths.clone().unwrap_or_default();
    if paths.len() <= 1 {
        return vec![(route.id, paths)];
    }
    let mut map: HashMap<usize, usize> = HashMap::new();
    let mut groups: Vec<Vec<String>> = Vec::new();
    for p in paths {
        let k = if p.starts_with('~') { 0 } else { p.len() };
        match map.get(&k) {
            Some(&i) => groups[i].push(p),
            None => {
                map.insert(k, groups.len());
                groups.push(vec![p]);
            }
        }
    }
    if groups.len() == 1 {
        return vec![(route.id, groups.pop().unwrap())];
    }
    let ns = Uuid::parse_str("7f145bf9-0dce-4f91-98eb-debbce4b9f6b").unwrap();
    groups
        .into_iter()
        .enumerate()
        .map(|(i, g)| {
            (
                Uuid::new_v5(&ns, format!("{}#{}", route.id, i + 1).as_bytes()),
                g,
            )
        })
        .collect()
}

/// A request as Kong's `fields.lua` sees it.
pub struct OracleRequest<'a> {
    pub scheme: &'a str,
    pub method: &'a str,
    pub host_header: Option<&'a str>,
    pub listener_port: i64,
    pub normalized_path: &'a str,
    pub sni: Option<&'a str>,
    pub headers: &'a [(String, String)],
}

/// What Kong's router returns.
#[derive(Debug, PartialEq, Eq)]
pub struct OracleMatch {
    pub route_id: Uuid,
    pub matched_path: Option<String>,
    /// `uri_captures` (only when `has_capture`).
    pub captures: Option<BTreeMap<String, String>>,
}

pub fn schema() -> Schema {
    let mut s = Schema::default();
    for f in [
        "net.protocol",
        "tls.sni",
        "http.method",
        "http.host",
        "http.path",
        "http.headers.*",
    ] {
        s.add_field(f, Type::String);
    }
    for f in ["net.src.port", "net.dst.port"] {
        s.add_field(f, Type::Int);
    }
    for f in ["net.src.ip", "net.dst.ip"] {
        s.add_field(f, Type::IpAddr);
    }
    s
}

pub struct Oracle<'s> {
    router: AtcRouter<'s>,
    originals: HashMap<Uuid, Uuid>,
}

impl<'s> Oracle<'s> {
    pub fn new(schema: &'s Schema, routes: &[Route]) -> Self {
        let mut router = AtcRouter::new(schema);
        let mut originals = HashMap::new();
        for route in routes {
            for (id, paths) in split(route) {
                let exp = expression(route, &paths);
                let prio = priority(route, &paths);
                router
                    .add_matcher(prio as usize, id, &exp)
                    .unwrap_or_else(|e| panic!("atc rejected {exp}: {e}"));
                originals.insert(id, route.id);
            }
        }
        Oracle { router, originals }
    }

    pub fn find(&self, schema: &Schema, req: &OracleRequest<'_>) -> Option<OracleMatch> {
        let mut ctx = Context::new(schema);
        ctx.add_value("net.protocol", Value::String(req.scheme.into()));
        ctx.add_value("http.method", Value::String(req.method.into()));
        let mut port = req.listener_port;
        if let Some(h) = req.host_header {
            let (host, p) = split_host_port(h);
            ctx.add_value("http.host", Value::String(host));
            if let Some(p) = p {
                port = p;
            }
        }
        ctx.add_value("net.dst.port", Value::Int(port));
        ctx.add_value("http.path", Value::String(req.normalized_path.into()));
        if let Some(sni) = req.sni {
            ctx.add_value("tls.sni", Value::String(sni.into()));
        }
        for (name, value) in req.headers {
            let field = format!(
                "http.headers.{}",
                name.to_ascii_lowercase().replace('-', "_")
            );
            ctx.add_value(&field, Value::String(value.clone()));
        }
        if !self.router.execute(&mut ctx) {
            return None;
        }
        let m = ctx.result.take()?;
        let matched_path = match m.matches.get("http.path") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        let captures = (m.captures.len() >= 2).then(|| {
            m.captures
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        });
        Some(OracleMatch {
            route_id: *self.originals.get(&m.uuid)?,
            matched_path,
            captures,
        })
    }
}
