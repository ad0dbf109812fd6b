//! key-auth (PRIORITY 1250): API keys from headers, query or body
//! (`kong/plugins/key-auth/handler.lua`, kong-reference §6.2).

use std::borrow::Cow;
use std::sync::Arc;

use gantry_core::schema::typedefs as t;
use gantry_core::schema::{Field, Schema};
use http::header::HeaderName;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{self, Failure};
use super::{ConsumerScope, boolean, subschema};
use crate::body::{self, BodyArgs, BodyField};
use crate::consumers::{ConsumerIndex, KeyEntry};
use crate::ctx::{QueryArg, RequestCtx};
use crate::plugin::{ConfigureEnv, Phases, Plugin, PluginHandler};
use crate::respond::Decision;

/// The key-auth plugin.
#[derive(Debug)]
pub struct KeyAuth;

#[derive(Debug, Deserialize)]
struct Config {
    key_names: Vec<String>,
    hide_credentials: bool,
    anonymous: Option<String>,
    key_in_header: bool,
    key_in_query: bool,
    key_in_body: bool,
    run_on_preflight: bool,
    realm: Option<String>,
}

impl Plugin for KeyAuth {
    fn name(&self) -> &'static str {
        "key-auth"
    }

    fn priority(&self) -> i32 {
        1250
    }

    fn schema(&self) -> Schema {
        subschema(
            ConsumerScope::Forbidden,
            t::protocols_http(),
            vec![
                (
                    "key_names",
                    Field::array(t::header_name())
                        .required()
                        .default(json!(["apikey"]))
                        .describe("Describes an array of parameter names where the plugin will look for a key. The key names may only contain [a-z], [A-Z], [0-9], [_] underscore, and [-] hyphen."),
                ),
                (
                    "hide_credentials",
                    boolean(false).describe("An optional boolean value telling the plugin to show or hide the credential from the upstream service. If `true`, the plugin strips the credential from the request."),
                ),
                (
                    "anonymous",
                    Field::string().describe("An optional string (consumer UUID or username) value to use as an “anonymous” consumer if authentication fails. If empty (default null), the request will fail with an authentication failure `4xx`."),
                ),
                (
                    "key_in_header",
                    boolean(true).describe("If enabled (default), the plugin reads the request header and tries to find the key in it."),
                ),
                (
                    "key_in_query",
                    boolean(true).describe("If enabled (default), the plugin reads the query parameter in the request and tries to find the key in it."),
                ),
                (
                    "key_in_body",
                    boolean(false).describe("If enabled, the plugin reads the request body. Supported MIME types: `application/www-form-urlencoded`, `application/json`, and `multipart/form-data`."),
                ),
                (
                    "run_on_preflight",
                    boolean(true).describe("A boolean value that indicates whether the plugin should run (and try to authenticate) on `OPTIONS` preflight requests. If set to `false`, then `OPTIONS` requests are always allowed."),
                ),
                ("realm", auth::realm()),
            ],
            vec![],
        )
    }

    fn configure(
        &self,
        config: &Value,
        env: &ConfigureEnv,
    ) -> Result<Box<dyn PluginHandler>, String> {
        let config: Config = crate::util::parse_config(&self.schema(), config)?;
        let www_authenticate = auth::www_authenticate("Key", config.realm.as_deref());
        let key_names = config
            .key_names
            .iter()
            .map(|n| {
                // `headers[name]` of `kong.request.get_headers()`: `api_key` finds
                // the `api-key` header
                crate::util::kong_header_name(n)
                    .map(|h| (n.clone(), h))
                    .ok_or_else(|| format!("invalid header name: {n}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Box::new(Handler {
            config,
            key_names,
            www_authenticate,
            index: env.index.clone(),
        }))
    }
}

struct Handler {
    config: Config,
    key_names: Vec<(String, HeaderName)>,
    www_authenticate: String,
    index: Arc<ConsumerIndex>,
}

const ERR_DUPLICATE: &str = "Duplicate API key found";
const ERR_NO_KEY: &str = "No API key found in request";
const ERR_INVALID: &str = "Unauthorized";

impl Handler {
    /// Kong's `do_authentication`: `Ok` when authenticated, else the rejection.
    fn authenticate(&self, ctx: &mut RequestCtx) -> Result<(), Failure> {
        let c = &self.config;
        let mut body: Option<Option<BodyArgs>> = None;
        for (name, header) in &self.key_names {
            let mut v = Found::Absent;
            if c.key_in_header {
                v = match ctx.headers.single(header) {
                    Ok(None) => Found::Absent,
                    Ok(Some(one)) => Found::Key(Cow::Borrowed(one)),
                    Err(()) => Found::Table,
                };
            }
            if matches!(v, Found::Absent) && c.key_in_query {
                v = match ctx.query_arg(name) {
                    QueryArg::Absent => Found::Absent,
                    QueryArg::Flag => Found::Other,
                    QueryArg::One(s) => Found::Key(Cow::Owned(s.into_bytes())),
                    QueryArg::Many => Found::Table,
                };
            }
            if matches!(v, Found::Absent) && c.key_in_body {
                let args = body.get_or_insert_with(|| {
                    ctx.body
                        .as_ref()
                        .and_then(|b| BodyArgs::parse(&ctx.headers, b))
                });
                v = match args.as_ref().map(|a| a.get(name)) {
                    None | Some(BodyField::Absent) => Found::Absent,
                    Some(BodyField::Str(s)) => Found::Key(Cow::Owned(s.into_bytes())),
                    Some(BodyField::Table) => Found::Table,
                    Some(BodyField::Other) => Found::Other,
                };
            }
            match v {
                Found::Key(key) => {
                    // Looked up while the key still borrows the request (no copy of
                    // it); the credential is hidden afterwards.
                    let entry = self.credential(&key, ctx);
                    if c.hide_credentials {
                        self.hide(ctx, name, header, &mut body);
                    }
                    let entry = entry?;
                    return auth::authenticate_credential(ctx, &self.index, &entry.credential);
                }
                Found::Table => return Err(Failure::Unauthorized(ERR_DUPLICATE)),
                Found::Absent | Found::Other => {}
            }
        }
        Err(Failure::Unauthorized(ERR_NO_KEY))
    }

    /// The unexpired credential of a presented key.
    fn credential(&self, key: &[u8], ctx: &RequestCtx) -> Result<&KeyEntry, Failure> {
        if key.is_empty() {
            return Err(Failure::Unauthorized(ERR_NO_KEY));
        }
        self.index
            .key_auth(key)
            .filter(|e| e.expires_at.is_none_or(|exp| ctx.now_secs() < exp))
            .ok_or(Failure::Unauthorized(ERR_INVALID))
    }

    /// `hide_credentials`: the key leaves the query, the header and the body.
    fn hide(
        &self,
        ctx: &mut RequestCtx,
        name: &str,
        header: &HeaderName,
        body: &mut Option<Option<BodyArgs>>,
    ) {
        ctx.clear_query_arg(name);
        ctx.headers.remove(header);
        if self.config.key_in_body {
            let args = body.get_or_insert_with(|| {
                ctx.body
                    .as_ref()
                    .and_then(|b| BodyArgs::parse(&ctx.headers, b))
            });
            if let Some(args) = args {
                args.remove(name);
                let encoded = args.encode();
                body::set_body(&mut ctx.headers, &mut ctx.body, encoded);
            }
        }
    }
}

/// What a key name finds in one place of the request.
enum Found<'a> {
    Absent,
    /// One value: the key's raw bytes, borrowed from a header or decoded from the
    /// query or body.
    Key(Cow<'a, [u8]>),
    Table,
    Other,
}

impl PluginHandler for Handler {
    fn phases(&self) -> Phases {
        Phases::ACCESS
    }

    fn changes_request_headers(&self) -> bool {
        self.config.hide_credentials
    }

    fn needs_request_body(&self, _ctx: &RequestCtx) -> bool {
        self.config.key_in_body
    }

    fn access(&self, ctx: &mut RequestCtx) -> Decision {
        if auth::skips_preflight(self.config.run_on_preflight, ctx) {
            return Decision::Continue;
        }
        let anonymous = self.config.anonymous.as_deref();
        let www = &self.www_authenticate;
        auth::access_with_failures(ctx, &self.index, anonymous, www, |ctx| {
            self.authenticate(ctx)
        })
    }
}

#[cfg(test)]
#[path = "key_auth_tests.rs"]
mod tests;
