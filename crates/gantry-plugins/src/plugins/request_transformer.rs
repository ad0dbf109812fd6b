//! request-transformer (PRIORITY 801): rewrites the request before it goes
//! upstream (`kong/plugins/request-transformer/{schema,access}.lua` of Kong
//! 3.9, kong-reference §6.14).
//!
//! Order, as Kong's `access.execute`: `replace.uri` → `http_method` (to GET,
//! HEAD or TRACE also moves a url-encoded body's fields into the query string)
//! → headers (remove, rename, replace, add, append) → body (JSON,
//! url-encoded or multipart) → query string (remove, rename, replace, add,
//! append). Values are templates (see [`template`]); the environment they read
//! is loaded lazily, the first time a template uses it.
//!
//! Kong's semantics kept on purpose: `add` only when absent, `replace` only
//! when present (`Host` can always be replaced, never added), names are split
//! at the first `:` and further colons are skipped (`a::b` is `a` → `b`), the
//! query string is re-encoded with its names sorted whenever a query-string
//! operation is configured, remove/rename/replace act on bodies only when the
//! request has one, multipart bodies have no `append`, and Lua truthiness
//! (a JSON `false` counts as absent for `add`/`replace`/`rename`).

mod args;
mod template;

use bytes::Bytes;
use gantry_core::schema::typedefs as t;
use gantry_core::schema::{Field, Pattern, Schema, Validator};
use http::header::{CONTENT_TYPE, HOST, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};

use self::args::{ArgTable, ArgVal, append_value};
use self::template::{Env, Template};
use super::transformers::{
    array_of, colon_entries, json_append, json_truthy, kong_pair, record, str_of,
    validate_colon_headers, validate_header_entry,
};
use super::{ConsumerScope, subschema};
use crate::ctx::{RequestCtx, UpstreamHost};
use crate::multipart::{self, Multipart};
use crate::plugin::{ConfigureEnv, Phases, Plugin, PluginHandler};
use crate::respond::Decision;

/// The request-transformer plugin.
#[derive(Debug)]
pub struct RequestTransformer;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Lists {
    body: Option<Vec<String>>,
    headers: Option<Vec<String>>,
    querystring: Option<Vec<String>>,
    uri: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Config {
    http_method: Option<String>,
    remove: Option<Lists>,
    rename: Option<Lists>,
    replace: Option<Lists>,
    add: Option<Lists>,
    append: Option<Lists>,
}

fn template_error(value: &str, e: &str) -> String {
    format!("value '{value}' is not in supported format, error:{e}")
}

/// `check_for_value`: a non-empty value that compiles as a template.
fn check_for_value(v: &Value) -> Result<(), String> {
    let entry = str_of(v);
    let Some((name, value)) = kong_pair(entry) else {
        return Err(format!("invalid value: {entry}"));
    };
    if value.is_empty() {
        return Err(format!("key '{name}' has no value"));
    }
    Template::parse(value).map_err(|e| template_error(value, &e))?;
    Ok(())
}

/// `validate_colon_header_values` (add, replace, append headers), plus the
/// template check Kong only does when the value is rendered.
fn validate_colon_header_templates(v: &Value) -> Result<(), String> {
    super::transformers::validate_colon_header_values(v)?;
    let value = kong_pair(str_of(v)).map_or("", |(_, v)| v);
    Template::parse(value).map_err(|e| template_error(value, &e))?;
    Ok(())
}

fn check_uri_template(v: &Value) -> Result<(), String> {
    Template::parse(str_of(v))
        .map(|_| ())
        .map_err(|e| template_error(str_of(v), &e))
}

fn all_upper(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// `typedefs.http_method`.
fn http_method() -> Field {
    Field::string().v(Validator::Match(Pattern {
        lua: "^%u+$",
        test: all_upper,
    }))
}

impl Plugin for RequestTransformer {
    fn name(&self) -> &'static str {
        "request-transformer"
    }

    fn priority(&self) -> i32 {
        801
    }

    fn schema(&self) -> Schema {
        let strings = || array_of(Field::string());
        let headers = || array_of(Field::string().custom(validate_header_entry));
        let colon_strings = || array_of(Field::string().custom(check_for_value));
        let colon_header_values = || colon_entries(validate_colon_header_templates);
        let colon_headers = || colon_entries(validate_colon_headers);
        let colon_record = |uri: bool| {
            let mut fields = vec![
                ("body", colon_strings()),
                ("headers", colon_header_values()),
                ("querystring", colon_strings()),
            ];
            if uri {
                fields.push(("uri", Field::string().custom(check_uri_template)));
            }
            record(fields)
        };
        subschema(
            ConsumerScope::Allowed,
            t::protocols(),
            vec![
                ("http_method", http_method()),
                (
                    "remove",
                    record(vec![
                        ("body", strings()),
                        ("headers", headers()),
                        ("querystring", strings()),
                    ]),
                ),
                (
                    "rename",
                    record(vec![
                        ("body", colon_strings()),
                        ("headers", colon_headers()),
                        ("querystring", colon_strings()),
                    ]),
                ),
                ("replace", colon_record(true)),
                ("add", colon_record(false)),
                ("append", colon_record(false)),
            ],
            vec![],
        )
    }

    fn configure(
        &self,
        config: &Value,
        _env: &ConfigureEnv,
    ) -> Result<Box<dyn PluginHandler>, String> {
        let c: Config = crate::util::parse_config(&self.schema(), config)?;
        let (remove, rename, replace, add, append) = (
            c.remove.unwrap_or_default(),
            c.rename.unwrap_or_default(),
            c.replace.unwrap_or_default(),
            c.add.unwrap_or_default(),
            c.append.unwrap_or_default(),
        );
        let ops = |pick: fn(&Lists) -> &Option<Vec<String>>| -> Result<Ops, String> {
            Ok(Ops {
                remove: compile(pick(&remove), false)?,
                rename: compile(pick(&rename), true)?,
                replace: compile(pick(&replace), true)?,
                add: compile(pick(&add), true)?,
                append: compile(pick(&append), true)?,
            })
        };
        let headers = ops(|l| &l.headers)?;
        let query = ops(|l| &l.querystring)?;
        let body = ops(|l| &l.body)?;
        let method = match &c.http_method {
            Some(m) => Some(Method::from_bytes(m.as_bytes()).map_err(|e| e.to_string())?),
            None => None,
        };
        let uri = match &replace.uri {
            Some(u) => Some(Template::parse(u).map_err(|e| template_error(u, &e))?),
            None => None,
        };
        let body_may_retype = headers.all().any(|e| {
            e.name.eq_ignore_ascii_case("content-type")
                || e.literal
                    .as_deref()
                    .is_some_and(|v| v.eq_ignore_ascii_case("content-type"))
        });
        let method_moves_form = method
            .as_ref()
            .is_some_and(|m| matches!(m.as_str(), "GET" | "HEAD" | "TRACE"));
        Ok(Box::new(Handler {
            method,
            method_moves_form,
            uri,
            headers,
            query,
            body,
            body_may_retype,
        }))
    }
}

/// One `name:value` entry.
#[derive(Debug)]
struct Entry {
    name: String,
    /// `None` when the value is empty (Kong's `iter` then gives `nil`).
    value: Option<Template>,
    /// The value's text when it has no `$(...)`.
    literal: Option<String>,
}

impl Entry {
    fn render(&self, env: &mut Env, ctx: &RequestCtx) -> Option<Vec<u8>> {
        self.value.as_ref().map(|t| t.render(env, ctx))
    }
}

fn compile(list: &Option<Vec<String>>, strict: bool) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    for entry in list.as_deref().unwrap_or_default() {
        // Kong errors at run time on an entry without a name; skip it
        let Some((name, value)) = kong_pair(entry) else {
            continue;
        };
        let template = if value.is_empty() {
            None
        } else {
            match Template::parse(value) {
                Ok(t) => Some(t),
                Err(e) if strict => return Err(template_error(value, &e)),
                // remove lists never use their values
                Err(_) => None,
            }
        };
        let literal = template
            .as_ref()
            .filter(|t| t.is_literal())
            .map(|_| value.to_string());
        out.push(Entry {
            name: name.to_string(),
            value: template,
            literal,
        });
    }
    Ok(out)
}

#[derive(Debug)]
struct Ops {
    remove: Vec<Entry>,
    rename: Vec<Entry>,
    replace: Vec<Entry>,
    add: Vec<Entry>,
    append: Vec<Entry>,
}

impl Ops {
    fn is_empty(&self) -> bool {
        self.all().next().is_none()
    }

    fn all(&self) -> impl Iterator<Item = &Entry> {
        self.remove
            .iter()
            .chain(&self.rename)
            .chain(&self.replace)
            .chain(&self.add)
            .chain(&self.append)
    }
}

struct Handler {
    method: Option<Method>,
    method_moves_form: bool,
    uri: Option<Template>,
    headers: Ops,
    query: Ops,
    body: Ops,
    /// A header operation names `Content-Type`, so the body's type may change
    /// before the body operations run.
    body_may_retype: bool,
}

/// Kong's `get_content_type`: substring tests on the lower-cased value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    Multipart,
    Form,
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn classify(content_type: Option<&str>) -> Option<Kind> {
    let ct = content_type?.to_ascii_lowercase();
    if ct.contains("application/json") {
        Some(Kind::Json)
    } else if ct.contains("multipart/form-data") {
        Some(Kind::Multipart)
    } else if ct.contains("application/x-www-form-urlencoded") {
        Some(Kind::Form)
    } else {
        None
    }
}

/// `kong.tools.uri.escape` (what `kong.service.request.set_path` applies).
fn escape_path(path: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(path.len());
    for &b in path {
        if b.is_ascii_alphanumeric() || b"!#$&'()*+,/:;=?@[]-_.~%".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The request headers as Kong's `transform_headers` table: lower-case names
/// to all their values, `host` left out; changed entries are written back.
struct HeaderTable {
    entries: Vec<(String, Vec<Vec<u8>>, bool)>,
}

impl HeaderTable {
    fn new(headers: &HeaderMap) -> Self {
        let entries = headers
            .keys()
            .filter(|k| *k != HOST)
            .map(|k| {
                let vals = headers
                    .get_all(k)
                    .iter()
                    .map(|v| v.as_bytes().to_vec())
                    .collect();
                (k.as_str().to_string(), vals, false)
            })
            .collect();
        HeaderTable { entries }
    }

    fn has(&self, name: &str) -> bool {
        self.entries.iter().any(|(n, _, _)| n == name)
    }

    fn take(&mut self, name: &str) -> Option<Vec<Vec<u8>>> {
        let i = self.entries.iter().position(|(n, _, _)| n == name)?;
        Some(self.entries.remove(i).1)
    }

    fn set(&mut self, name: &str, vals: Vec<Vec<u8>>) {
        match self.entries.iter_mut().find(|(n, _, _)| n == name) {
            Some(e) => {
                e.1 = vals;
                e.2 = true;
            }
            None => self.entries.push((name.to_string(), vals, true)),
        }
    }

    fn values(&self, name: &str) -> Option<&Vec<Vec<u8>>> {
        self.entries
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, v, _)| v)
    }
}

fn header_value(v: &[u8], name: &str) -> Option<HeaderValue> {
    match HeaderValue::from_bytes(v) {
        Ok(v) => Some(v),
        Err(_) => {
            tracing::warn!(
                header = name,
                "request-transformer: rendered header value is not a valid HTTP header value; skipped"
            );
            None
        }
    }
}

impl Handler {
    fn transform_uri(&self, env: &mut Env, ctx: &mut RequestCtx) -> Result<(), ()> {
        let Some(t) = &self.uri else {
            return Ok(());
        };
        let path = t.render(env, ctx);
        if path.first() != Some(&b'/') {
            // Kong's set_path raises "path must start with /" (a 500)
            tracing::error!(
                "request-transformer: replace.uri rendered to a path not starting with '/'"
            );
            return Err(());
        }
        ctx.upstream_path = Some(escape_path(&path));
        Ok(())
    }

    fn transform_method(&self, ctx: &mut RequestCtx) {
        let Some(m) = &self.method else {
            return;
        };
        ctx.method = m.clone();
        if !self.method_moves_form
            || classify(content_type(&ctx.headers).as_deref()) != Some(Kind::Form)
        {
            return;
        }
        let form = ArgTable::decode(ctx.body.as_deref().unwrap_or_default());
        if form.is_empty() {
            return;
        }
        let mut query = ArgTable::decode(ctx.query.as_deref().unwrap_or("").as_bytes());
        for (name, value) in form.iter() {
            let merged = match query.get(name) {
                Some(existing) => {
                    let mut items = items_of(existing);
                    items.extend(items_of(value));
                    ArgVal::Many(items)
                }
                None => value.clone(),
            };
            query.set(name, merged);
        }
        ctx.query = Some(query.encode_sorted());
    }

    fn transform_headers(&self, env: &mut Env, ctx: &mut RequestCtx) {
        let ops = &self.headers;
        if ops.is_empty() {
            return;
        }
        let mut table = HeaderTable::new(&ctx.headers);
        let mut to_remove: Vec<String> = Vec::new();
        for e in &ops.remove {
            e.render(env, ctx);
            let name = e.name.to_ascii_lowercase();
            if table.take(&name).is_some() {
                to_remove.push(name);
            }
        }
        for e in &ops.rename {
            let Some(new) = e.render(env, ctx) else {
                continue;
            };
            let (old, new) = (
                e.name.to_ascii_lowercase(),
                lossy(&new).to_ascii_lowercase(),
            );
            // a change of case only: the same header for us
            if old == new {
                continue;
            }
            if let Some(vals) = table.take(&old) {
                table.set(&new, vals);
                to_remove.push(old);
            }
        }
        for e in &ops.replace {
            let value = e.render(env, ctx);
            let name = e.name.to_ascii_lowercase();
            if table.has(&name) || name == "host" {
                match value {
                    Some(v) => table.set(&name, vec![v]),
                    // `headers[name] = nil`: dropped from the table, left as is
                    None => {
                        table.take(&name);
                    }
                }
            }
        }
        for e in &ops.add {
            let value = e.render(env, ctx);
            let name = e.name.to_ascii_lowercase();
            if !table.has(&name)
                && name != "host"
                && let Some(v) = value
            {
                table.set(&name, vec![v]);
            }
        }
        for e in &ops.append {
            let Some(v) = e.render(env, ctx) else {
                continue;
            };
            let name = e.name.to_ascii_lowercase();
            let mut vals = table.values(&name).cloned().unwrap_or_default();
            vals.push(v);
            table.set(&name, vals);
        }
        for name in &to_remove {
            if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
                ctx.headers.remove(n);
            }
        }
        for (name, vals, changed) in &table.entries {
            if !changed || name == "host" {
                continue;
            }
            let Ok(hname) = HeaderName::from_bytes(name.as_bytes()) else {
                continue;
            };
            // nginx's set_header: an empty value deletes (or adds nothing)
            let non_empty: Vec<&Vec<u8>> = vals.iter().filter(|v| !v.is_empty()).collect();
            let valid: Vec<HeaderValue> = non_empty
                .iter()
                .filter_map(|v| header_value(v, name))
                .collect();
            if valid.len() < non_empty.len() && valid.is_empty() {
                // only invalid values: leave the header as it was
                continue;
            }
            ctx.headers.remove(&hname);
            let vals = valid;
            for v in vals {
                ctx.headers.append(&hname, v);
            }
        }
        // host: set_headers also sets upstream_host
        if let Some(v) = table
            .values("host")
            .and_then(|vals| vals.last())
            .filter(|v| !v.is_empty())
            .and_then(|v| header_value(v, "host"))
        {
            ctx.headers.insert(HOST, v.clone());
            ctx.scratch.insert(UpstreamHost(v));
        }
    }

    fn transform_body(&self, env: &mut Env, ctx: &mut RequestCtx) {
        if self.body.is_empty() {
            return;
        }
        let ct = content_type(&ctx.headers);
        let Some(kind) = classify(ct.as_deref()) else {
            return;
        };
        let raw = ctx.body.clone().unwrap_or_default();
        let out = match kind {
            Kind::Json => self.transform_json(env, ctx, &raw),
            Kind::Form => self.transform_form(env, ctx, &raw),
            Kind::Multipart => match ct.as_deref().and_then(multipart::boundary) {
                Some(b) => self.transform_multipart(env, ctx, &raw, &b),
                None => None,
            },
        };
        if let Some(out) = out {
            crate::body::set_body(&mut ctx.headers, &mut ctx.body, Bytes::from(out));
        }
    }

    fn transform_json(&self, env: &mut Env, ctx: &RequestCtx, raw: &[u8]) -> Option<Vec<u8>> {
        let ops = &self.body;
        let has_content = !raw.is_empty();
        let mut map: Map<String, Value> = match serde_json::from_slice::<Value>(raw) {
            Ok(Value::Object(m)) => m,
            // arrays and scalars: Kong's table operations are no-ops or Lua errors
            Ok(_) => return None,
            Err(_) if has_content => return None,
            Err(_) => Map::new(),
        };
        let mut changed = false;
        if has_content {
            for e in &ops.remove {
                e.render(env, ctx);
                map.shift_remove(&e.name);
                changed = true;
            }
            for e in &ops.rename {
                let Some(new) = e.render(env, ctx) else {
                    continue;
                };
                let new = lossy(&new);
                if new != e.name
                    && json_truthy(map.get(&e.name))
                    && let Some(v) = map.shift_remove(&e.name)
                {
                    map.insert(new, v);
                    changed = true;
                }
            }
            for e in &ops.replace {
                let value = e.render(env, ctx);
                if json_truthy(map.get(&e.name)) {
                    match value {
                        Some(v) => {
                            map.insert(e.name.clone(), Value::String(lossy(&v)));
                        }
                        None => {
                            map.shift_remove(&e.name);
                        }
                    }
                    changed = true;
                }
            }
        }
        for e in &ops.add {
            let value = e.render(env, ctx);
            if !json_truthy(map.get(&e.name)) {
                if let Some(v) = value {
                    map.insert(e.name.clone(), Value::String(lossy(&v)));
                }
                changed = true;
            }
        }
        for e in &ops.append {
            let Some(v) = e.render(env, ctx) else {
                changed = true;
                continue;
            };
            let new = Value::String(lossy(&v));
            match map.get_mut(&e.name) {
                Some(slot) => *slot = json_append(Some(slot.take()), new),
                None => {
                    map.insert(e.name.clone(), json_append(None, new));
                }
            }
            changed = true;
        }
        if !changed {
            return None;
        }
        serde_json::to_vec(&Value::Object(map)).ok()
    }

    fn transform_form(&self, env: &mut Env, ctx: &RequestCtx, raw: &[u8]) -> Option<Vec<u8>> {
        let ops = &self.body;
        let has_content = !raw.is_empty();
        let mut form = ArgTable::decode(raw);
        let mut changed = false;
        if has_content {
            for e in &ops.remove {
                e.render(env, ctx);
                form.remove(e.name.as_bytes());
                changed = true;
            }
            for e in &ops.rename {
                if let Some(new) = e.render(env, ctx) {
                    changed |= form.rename(e.name.as_bytes(), &new);
                }
            }
            for e in &ops.replace {
                let value = e.render(env, ctx);
                if form.get(e.name.as_bytes()).is_some() {
                    match value {
                        Some(v) => form.set(e.name.as_bytes(), ArgVal::Str(v)),
                        None => {
                            form.remove(e.name.as_bytes());
                        }
                    }
                    changed = true;
                }
            }
        }
        for e in &ops.add {
            let value = e.render(env, ctx);
            if form.get(e.name.as_bytes()).is_none() {
                if let Some(v) = value {
                    form.set(e.name.as_bytes(), ArgVal::Str(v));
                }
                changed = true;
            }
        }
        for e in &ops.append {
            if let Some(v) = e.render(env, ctx) {
                let cur = form.get(e.name.as_bytes()).cloned();
                form.set(e.name.as_bytes(), append_value(cur, v));
            }
            changed = true;
        }
        changed.then(|| form.encode().into_bytes())
    }

    fn transform_multipart(
        &self,
        env: &mut Env,
        ctx: &RequestCtx,
        raw: &[u8],
        boundary: &str,
    ) -> Option<Vec<u8>> {
        let ops = &self.body;
        let has_content = !raw.is_empty();
        let mut parts = Multipart::parse(raw, boundary);
        let mut changed = false;
        if has_content {
            // lua-multipart order in Kong: rename before remove
            for e in &ops.rename {
                let Some(new) = e.render(env, ctx) else {
                    continue;
                };
                if new.as_slice() == e.name.as_bytes() {
                    continue;
                }
                if let Some(v) = parts.get(e.name.as_bytes()).map(<[u8]>::to_vec) {
                    parts.set_simple(&new, v);
                    parts.delete(e.name.as_bytes());
                    changed = true;
                }
            }
            for e in &ops.remove {
                e.render(env, ctx);
                parts.delete(e.name.as_bytes());
                changed = true;
            }
            for e in &ops.replace {
                let value = e.render(env, ctx);
                if parts.get(e.name.as_bytes()).is_some() {
                    parts.delete(e.name.as_bytes());
                    if let Some(v) = value {
                        parts.set_simple(e.name.as_bytes(), v);
                    }
                    changed = true;
                }
            }
        }
        for e in &ops.add {
            let value = e.render(env, ctx);
            if parts.get(e.name.as_bytes()).is_none() {
                if let Some(v) = value {
                    parts.set_simple(e.name.as_bytes(), v);
                }
                changed = true;
            }
        }
        changed.then(|| parts.encode())
    }

    fn transform_query(&self, env: &mut Env, ctx: &mut RequestCtx) {
        let ops = &self.query;
        if ops.is_empty() {
            return;
        }
        let mut q = env.query(ctx).clone();
        for e in &ops.remove {
            e.render(env, ctx);
            q.remove(e.name.as_bytes());
        }
        for e in &ops.rename {
            if let Some(new) = e.render(env, ctx) {
                q.rename(e.name.as_bytes(), &new);
            }
        }
        for e in &ops.replace {
            let value = e.render(env, ctx);
            if q.get(e.name.as_bytes()).is_some() {
                match value {
                    Some(v) => q.set(e.name.as_bytes(), ArgVal::Str(v)),
                    None => {
                        q.remove(e.name.as_bytes());
                    }
                }
            }
        }
        for e in &ops.add {
            let value = e.render(env, ctx);
            if q.get(e.name.as_bytes()).is_none()
                && let Some(v) = value
            {
                q.set(e.name.as_bytes(), ArgVal::Str(v));
            }
        }
        for e in &ops.append {
            if let Some(v) = e.render(env, ctx) {
                let cur = q.get(e.name.as_bytes()).cloned();
                q.set(e.name.as_bytes(), append_value(cur, v));
            }
        }
        ctx.query = Some(q.encode_sorted());
    }
}

fn items_of(v: &ArgVal) -> Vec<Option<Vec<u8>>> {
    match v {
        ArgVal::Flag => vec![None],
        ArgVal::Str(s) => vec![Some(s.clone())],
        ArgVal::Many(items) => items.clone(),
    }
}

impl PluginHandler for Handler {
    fn phases(&self) -> Phases {
        Phases::ACCESS
    }

    fn needs_request_body(&self, ctx: &RequestCtx) -> bool {
        let kind = classify(content_type(&ctx.headers).as_deref());
        (!self.body.is_empty() && (kind.is_some() || self.body_may_retype))
            || (self.method_moves_form && kind == Some(Kind::Form))
    }

    fn access(&self, ctx: &mut RequestCtx) -> Decision {
        let mut env = Env::default();
        if self.transform_uri(&mut env, ctx).is_err() {
            return ctx.reject(
                StatusCode::INTERNAL_SERVER_ERROR,
                "An unexpected error occurred",
            );
        }
        self.transform_method(ctx);
        self.transform_headers(&mut env, ctx);
        self.transform_body(&mut env, ctx);
        self.transform_query(&mut env, ctx);
        Decision::Continue
    }
}

#[cfg(test)]
#[path = "request_transformer_tests.rs"]
mod tests;
