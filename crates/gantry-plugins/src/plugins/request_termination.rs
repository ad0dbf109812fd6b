//! request-termination (PRIORITY 2): answer with a fixed response instead of
//! proxying (`kong/plugins/request-termination/handler.lua`, kong-reference §6.12).

use gantry_core::schema::typedefs as t;
use gantry_core::schema::{Field, Schema};
use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{ConsumerScope, boolean, subschema};
use crate::ctx::{QueryArg, RequestCtx, query_pairs};
use crate::plugin::{ConfigureEnv, Phases, Plugin, PluginHandler};
use crate::respond::{Decision, KongResponse};

/// The request-termination plugin.
#[derive(Debug)]
pub struct RequestTermination;

#[derive(Debug, Deserialize)]
struct Config {
    status_code: u16,
    message: Option<String>,
    content_type: Option<String>,
    body: Option<String>,
    echo: bool,
    trigger: Option<String>,
}

fn present(v: Option<&Value>) -> bool {
    v.and_then(Value::as_str).is_some_and(|s| !s.is_empty())
}

fn validate_config(v: &Value) -> Result<(), String> {
    let (m, ct, body) = (v.get("message"), v.get("content_type"), v.get("body"));
    if present(m) && (present(ct) || present(body)) {
        return Err("message cannot be used with content_type or body".into());
    }
    if present(ct) && !present(body) {
        return Err("content_type requires a body".into());
    }
    if v.get("echo").and_then(Value::as_bool) == Some(true) && (present(ct) || present(body)) {
        return Err("echo cannot be used with content_type and body".into());
    }
    Ok(())
}

fn default_message(status: u16) -> Option<&'static str> {
    Some(match status {
        401 => "Unauthorized",
        404 => "Not found",
        405 => "Method not allowed",
        500 => "An unexpected error occurred",
        502 => "Bad Gateway",
        503 => "Service unavailable",
        _ => return None,
    })
}

impl Plugin for RequestTermination {
    fn name(&self) -> &'static str {
        "request-termination"
    }

    fn priority(&self) -> i32 {
        2
    }

    fn schema(&self) -> Schema {
        let mut sub = subschema(
            ConsumerScope::Allowed,
            t::protocols_http(),
            vec![
                ("status_code", Field::integer().required().default(json!(503)).between(100.0, 599.0).describe("The response code to send. Must be an integer between 100 and 599.")),
                ("message", Field::string().describe("The message to send, if using the default response generator.")),
                ("content_type", Field::string().describe("Content type of the raw response configured with `config.body`.")),
                ("body", Field::string().describe("The raw response body to send. This is mutually exclusive with the `config.message` field.")),
                ("echo", boolean(false).describe("When set, the plugin will echo a copy of the request back to the client. The main usecase for this is debugging. It can be combined with `trigger` in order to debug requests on live systems without disturbing real traffic.")),
                ("trigger", t::header_name().describe("A string representing an HTTP header name.")),
            ],
            vec![],
        );
        if let Some((_, f)) = sub.fields.iter_mut().find(|(n, _)| *n == "config") {
            *f = f.clone().custom(validate_config);
        }
        sub
    }

    fn configure(
        &self,
        config: &Value,
        _env: &ConfigureEnv,
    ) -> Result<Box<dyn PluginHandler>, String> {
        let config: Config = crate::util::parse_config(&self.schema(), config)?;
        let status = StatusCode::from_u16(config.status_code).map_err(|e| e.to_string())?;
        let trigger_header = config
            .trigger
            .as_deref()
            .map(|t| t.to_ascii_lowercase().replace('_', "-"))
            .unwrap_or_default();
        Ok(Box::new(Handler {
            config,
            status,
            trigger_header,
        }))
    }
}

struct Handler {
    config: Config,
    status: StatusCode,
    /// `trigger` as a header name: Kong's `kong.request.get_header` reads
    /// `ngx.var.http_<name>`, so `x_debug` matches the header `X-Debug`.
    trigger_header: String,
}

fn echo_request(ctx: &RequestCtx) -> Value {
    let mut headers = Map::new();
    for (name, value) in ctx.headers.iter() {
        let v = Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned());
        match headers.get_mut(name.as_str()) {
            Some(Value::Array(a)) => a.push(v),
            Some(prev) => *prev = Value::Array(vec![prev.clone(), v]),
            None => {
                headers.insert(name.as_str().to_string(), v);
            }
        }
    }
    let mut query = Map::new();
    for (k, v) in query_pairs(ctx.query.as_deref().unwrap_or("")) {
        let v = v.map_or(Value::Bool(true), |v| Value::String(v.into_owned()));
        match query.get_mut(k.as_ref()) {
            Some(Value::Array(a)) => a.push(v),
            Some(prev) => *prev = Value::Array(vec![prev.clone(), v]),
            None => {
                query.insert(k.into_owned(), v);
            }
        }
    }
    let raw_body = ctx
        .body
        .as_ref()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let body = crate::body::BodyArgs::parse(&ctx.headers, raw_body.as_bytes()).map(|b| b.to_json());
    // Kong's `kong.request.get_uri_captures()`: numbered groups (from 1; 0 is the whole
    // match and cjson's array_mt leaves it out) in `unnamed`, named groups in `named`.
    let mut named = Map::new();
    let mut numbered: Vec<(usize, &str)> = Vec::new();
    for (k, v) in &ctx.uri_captures {
        match k.parse::<usize>() {
            Ok(0) => {}
            Ok(i) => numbered.push((i, v)),
            Err(_) => {
                named.insert(k.clone(), Value::String(v.clone()));
            }
        }
    }
    numbered.sort_unstable_by_key(|&(i, _)| i);
    let mut unnamed = Vec::with_capacity(numbered.len());
    for (i, v) in numbered {
        // a group that did not take part is `false` in ngx.re.match's table
        if unnamed.len() < i - 1 {
            unnamed.resize(i - 1, Value::Bool(false));
        }
        unnamed.push(Value::String(v.to_string()));
    }
    let mut request = json!({
        "scheme": ctx.scheme,
        "host": ctx.host,
        "port": ctx.port,
        "headers": headers,
        "query": query,
        "raw_body": raw_body,
        "method": ctx.method.as_str(),
        "path": ctx.path,
        "uri_captures": { "named": named, "unnamed": unnamed },
    });
    // a Lua table drops nil fields: no `body` key when the body is not parsed
    if let Some(body) = body {
        request["body"] = body;
    }
    request
}

impl PluginHandler for Handler {
    fn phases(&self) -> Phases {
        Phases::ACCESS
    }

    fn needs_request_body(&self, _ctx: &RequestCtx) -> bool {
        self.config.echo
    }

    fn access(&self, ctx: &mut RequestCtx) -> Decision {
        let c = &self.config;
        if let Some(trigger) = &c.trigger
            && !ctx.headers.contains_key(self.trigger_header.as_str())
            && ctx.query_arg(trigger) == QueryArg::Absent
        {
            return Decision::Continue;
        }
        if c.echo {
            // Kong builds a Lua table: nil fields (no message, no route) are left out
            let mut body = json!({
                "kong": { "node_id": Value::Null, "worker_pid": std::process::id(), "hostname": Value::Null },
                "request": echo_request(ctx),
            });
            if let Some(m) = c.message.as_deref().or(default_message(c.status_code)) {
                body["message"] = json!(m);
            }
            if let Some(id) = ctx.route_id {
                body["matched_route"] = json!({ "id": id });
            }
            if let Some(id) = ctx.service_id {
                body["matched_service"] = json!({ "id": id });
            }
            return KongResponse::json(self.status, &body).into_decision();
        }
        if let Some(body) = &c.body {
            let mut r = KongResponse::empty(self.status);
            r.body = bytes::Bytes::from(body.clone());
            if let Some(ct) = c
                .content_type
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                r.headers.insert(CONTENT_TYPE, ct);
            }
            return r.into_decision();
        }
        match c.message.as_deref().or(default_message(c.status_code)) {
            Some(m) => KongResponse::exit_message(self.status, m).into_decision(),
            None => KongResponse::empty(self.status).into_decision(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use http::Method;
    use serde_json::json;

    use crate::plugins::testkit::*;

    fn run(config: serde_json::Value, target: &str) -> crate::respond::Decision {
        let mut f = Fixture::default();
        f.global("request-termination", config);
        run_access(&f.build(), &mut req(Method::GET, target))
    }

    #[test]
    fn default_and_custom_messages() {
        let r = assert_exit(
            run(json!({}), "/"),
            503,
            json!({ "message": "Service unavailable" }),
        );
        assert_eq!(&r.body[..], br#"{"message":"Service unavailable"}"#);
        assert_eq!(
            header(&r.headers, "content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_exit(
            run(json!({ "status_code": 404 }), "/"),
            404,
            json!({ "message": "Not found" }),
        );
        assert_exit(
            run(json!({ "status_code": 403, "message": "nope" }), "/"),
            403,
            json!({ "message": "nope" }),
        );
        // no default message for 418: empty body
        let r = responded(run(json!({ "status_code": 418 }), "/"));
        assert!(r.body.is_empty() && r.headers.is_empty());
    }

    #[test]
    fn raw_body_and_trigger_and_echo() {
        let r = responded(run(
            json!({ "status_code": 200, "body": "<h1>hi</h1>", "content_type": "text/html" }),
            "/",
        ));
        assert_eq!(&r.body[..], b"<h1>hi</h1>");
        assert_eq!(header(&r.headers, "content-type"), Some("text/html"));
        assert!(run(json!({ "trigger": "x-stop" }), "/").is_continue());
        assert_exit(
            run(json!({ "trigger": "x-stop" }), "/?x-stop"),
            503,
            json!({ "message": "Service unavailable" }),
        );
        let r = responded(run(
            json!({ "echo": true, "status_code": 200 }),
            "/p?a=1&a=2",
        ));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["request"]["query"]["a"], json!(["1", "2"]));
        assert_eq!(v["request"]["path"], "/p");
        assert!(v.get("message").is_none(), "nil fields are left out: {v}");
        assert!(v.get("matched_route").is_none() && v["request"].get("body").is_none());
    }

    #[test]
    fn echo_body_is_the_get_body_table() {
        let echo = |ct: &str, body: &'static [u8]| {
            let mut f = Fixture::default();
            f.global(
                "request-termination",
                json!({ "echo": true, "status_code": 200 }),
            );
            let mut ctx = with_body(Method::POST, "/", ct, body);
            let r = responded(run_access(&f.build(), &mut ctx));
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            v["request"]["body"].clone()
        };
        assert_eq!(
            echo("application/x-www-form-urlencoded", b"a=1&a=2&flag&e="),
            json!({ "a": ["1", "2"], "flag": true, "e": "" })
        );
        assert_eq!(
            echo(
                "multipart/form-data; boundary=B",
                b"--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--B--\r\n"
            ),
            json!({ "x": "1" })
        );
        assert_eq!(echo("application/json", b"[1,true]"), json!([1, true]));
        assert_eq!(
            echo("application/vnd.api+json", b"{}"),
            serde_json::Value::Null
        );
    }

    #[test]
    fn trigger_with_underscores_matches_the_hyphenated_header() {
        let f = |target| {
            let mut f = Fixture::default();
            f.global("request-termination", json!({ "trigger": "x_debug" }));
            run_access(
                &f.build(),
                &mut with_header(req(Method::GET, target), "x-debug", "1"),
            )
        };
        assert_exit(f("/"), 503, json!({ "message": "Service unavailable" }));
    }

    #[test]
    fn echo_splits_uri_captures_into_numbered_and_named() {
        let mut f = Fixture::default();
        f.global(
            "request-termination",
            json!({ "echo": true, "status_code": 200, "message": "m" }),
        );
        let mut ctx = req(Method::GET, "/users/42/x");
        for (k, v) in [("0", "/users/42/x"), ("1", "42"), ("id", "42"), ("3", "x")] {
            ctx.uri_captures.push((k.into(), v.into()));
        }
        let r = responded(run_access(&f.build(), &mut ctx));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v["request"]["uri_captures"],
            json!({ "unnamed": ["42", false, "x"], "named": { "id": "42" } })
        );
        assert_eq!(v["message"], "m");
    }

    #[test]
    fn config_validation() {
        let e = config_errors(
            "request-termination",
            json!({ "message": "m", "body": "b" }),
        );
        assert_eq!(e, json!("message cannot be used with content_type or body"));
        let e = config_errors(
            "request-termination",
            json!({ "content_type": "text/plain" }),
        );
        assert_eq!(e, json!("content_type requires a body"));
        let e = config_errors("request-termination", json!({ "echo": true, "body": "b" }));
        assert_eq!(e, json!("echo cannot be used with content_type and body"));
        let e = config_errors("request-termination", json!({ "status_code": 600 }));
        assert_eq!(e["status_code"], "value should be between 100 and 599");
    }
}
