//! hmac-auth (PRIORITY 1030): HTTP signatures over selected request headers
//! with the consumer's `hmacauth_credentials` secret
//! (`kong/plugins/hmac-auth/access.lua`, kong-reference §6.5).

use std::sync::{Arc, LazyLock};

use base64::Engine;
use gantry_core::schema::typedefs as t;
use gantry_core::schema::{Field, Schema};
use http::Version;
use http::header::{AUTHORIZATION, PROXY_AUTHORIZATION};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{self, Failure};
use super::{ConsumerScope, boolean, subschema};
use crate::consumers::ConsumerIndex;
use crate::ctx::RequestCtx;
use crate::plugin::{ConfigureEnv, Phases, Plugin, PluginHandler};
use crate::respond::Decision;
use crate::util::ct_eq;

/// The hmac-auth plugin.
#[derive(Debug)]
pub struct HmacAuth;

const ALGORITHMS: [&str; 4] = ["hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"];

#[derive(Debug, Deserialize)]
struct Config {
    hide_credentials: bool,
    clock_skew: f64,
    anonymous: Option<String>,
    validate_request_body: bool,
    enforce_headers: Vec<String>,
    algorithms: Vec<String>,
    realm: Option<String>,
}

impl Plugin for HmacAuth {
    fn name(&self) -> &'static str {
        "hmac-auth"
    }

    fn priority(&self) -> i32 {
        1030
    }

    fn schema(&self) -> Schema {
        subschema(
            ConsumerScope::Forbidden,
            t::protocols_http(),
            vec![
                ("hide_credentials", boolean(false).describe("An optional boolean value telling the plugin to show or hide the credential from the upstream service.")),
                ("clock_skew", Field::number().required().default(json!(300)).v(gantry_core::schema::Validator::Gt(0.0)).describe("Clock skew in seconds to prevent replay attacks.")),
                ("anonymous", Field::string().describe("An optional string (consumer UUID or username) value to use as an “anonymous” consumer if authentication fails.")),
                ("validate_request_body", boolean(false).describe("A boolean value telling the plugin to enable body validation.")),
                ("enforce_headers", Field::array(Field::string()).required().default(json!([])).describe("A list of headers that the client should at least use for HTTP signature creation.")),
                ("algorithms", Field::array(Field::string().one_of(&ALGORITHMS)).required().default(json!(ALGORITHMS)).describe("A list of HMAC digest algorithms that the user wants to support. Allowed values are `hmac-sha1`, `hmac-sha256`, `hmac-sha384`, and `hmac-sha512`")),
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
        let www_authenticate = auth::www_authenticate("hmac", config.realm.as_deref());
        Ok(Box::new(Handler {
            config,
            www_authenticate,
            index: env.index.clone(),
        }))
    }
}

struct Handler {
    config: Config,
    www_authenticate: String,
    index: Arc<ConsumerIndex>,
}

const SIGNATURE_NOT_VALID: &str = "HMAC signature cannot be verified";
const SIGNATURE_NOT_SAME: &str = "HMAC signature does not match";
const DATE_REQUIRED: &str = "HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication";

static FIELDS: LazyLock<Option<regex::bytes::Regex>> = LazyLock::new(|| {
    regex::bytes::Regex::new(
        r#"\s*[Hh]mac\s*username="(.+)",\s*algorithm="(.+)",\s*headers="(.+)",\s*signature="(.+)""#,
    )
    .ok()
});

/// The four fields of an `hmac username=.., algorithm=.., headers=.., signature=..` header.
#[derive(Debug, PartialEq, Eq)]
struct Params {
    username: String,
    algorithm: String,
    headers: Vec<String>,
    signature: String,
}

/// Kong's `retrieve_hmac_fields` (an unanchored, greedy match).
fn parse_params(value: &[u8]) -> Option<Params> {
    let caps = FIELDS.as_ref()?.captures(value)?;
    let get = |i: usize| {
        caps.get(i)
            .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
    };
    Some(Params {
        username: get(1)?,
        algorithm: get(2)?,
        headers: get(3)?.split(' ').map(str::to_owned).collect(),
        signature: get(4)?,
    })
}

/// `kong.request.get_header(name)`: the first value, names normalised.
fn request_header<'a>(ctx: &'a RequestCtx, name: &str) -> Option<&'a [u8]> {
    let name = crate::util::kong_header_name(name)?;
    ctx.headers.first(&name)
}

fn http_version(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2.0",
        Version::HTTP_3 => "3.0",
        _ => "1.1",
    }
}

/// Kong's `create_hash` signing string for a request URI.
fn signing_string(ctx: &RequestCtx, headers: &[String], request_uri: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    for (i, name) in headers.iter().enumerate() {
        if i > 0 {
            s.push(b'\n');
        }
        match request_header(ctx, name) {
            Some(v) => {
                s.extend_from_slice(name.as_bytes());
                s.extend_from_slice(b": ");
                s.extend_from_slice(v);
            }
            None if name == "@request-target" => {
                s.extend_from_slice(b"@request-target: ");
                s.extend_from_slice(ctx.method.as_str().to_ascii_lowercase().as_bytes());
                s.push(b' ');
                s.extend_from_slice(request_uri);
            }
            None if name == "request-line" => {
                s.extend_from_slice(ctx.method.as_str().as_bytes());
                s.push(b' ');
                s.extend_from_slice(request_uri);
                s.extend_from_slice(format!(" HTTP/{}", http_version(ctx.version)).as_bytes());
            }
            None => {
                s.extend_from_slice(name.as_bytes());
                s.push(b':');
            }
        }
    }
    s
}

fn hmac(algorithm: &str, secret: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let alg = match algorithm {
        "hmac-sha1" => aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        "hmac-sha256" => aws_lc_rs::hmac::HMAC_SHA256,
        "hmac-sha384" => aws_lc_rs::hmac::HMAC_SHA384,
        "hmac-sha512" => aws_lc_rs::hmac::HMAC_SHA512,
        _ => return None,
    };
    let key = aws_lc_rs::hmac::Key::new(alg, secret);
    Some(aws_lc_rs::hmac::sign(&key, data).as_ref().to_vec())
}

impl Handler {
    fn clock_ok(&self, ctx: &RequestCtx, name: &str) -> bool {
        let Some(date) = request_header(ctx, name) else {
            return false;
        };
        let Some(t) = crate::http_time::parse_http_time(date) else {
            return false;
        };
        (ctx.now_secs().floor() - t as f64).abs() <= self.config.clock_skew
    }

    fn validate_params(&self, p: &Params) -> bool {
        let c = &self.config;
        if c.enforce_headers.iter().any(|h| !p.headers.contains(h)) {
            return false;
        }
        c.algorithms.contains(&p.algorithm)
    }

    fn validate_signature(&self, ctx: &RequestCtx, p: &Params, secret: &[u8]) -> bool {
        let Some(presented) = crate::util::ngx_decode_base64(p.signature.as_bytes()) else {
            return false;
        };
        let with_query = match &ctx.query {
            Some(q) => format!("{}?{q}", ctx.path),
            None => ctx.path.clone(),
        };
        let check = |uri: &[u8]| {
            hmac(&p.algorithm, secret, &signing_string(ctx, &p.headers, uri))
                .is_some_and(|d| ct_eq(&d, &presented))
        };
        // Kong also accepts the signature over `ngx.var.uri` (deprecated): the
        // decoded, normalized path without the query.
        if check(with_query.as_bytes()) {
            return true;
        }
        let uri = gantry_core::uri::nginx_uri(&ctx.path);
        uri != with_query.as_bytes() && check(&uri)
    }

    fn validate_body(&self, ctx: &RequestCtx) -> bool {
        let body = ctx.body.as_deref().unwrap_or(&[]);
        let Some(received) = request_header(ctx, "digest") else {
            return body.is_empty();
        };
        let created = format!(
            "SHA-256={}",
            base64::engine::general_purpose::STANDARD.encode(crate::util::sha256(body))
        );
        ct_eq(created.as_bytes(), received)
    }

    /// Kong's `do_authentication`: `Ok` when authenticated, else the rejection.
    fn authenticate(&self, ctx: &mut RequestCtx) -> Result<(), Failure> {
        let authorization = ctx.headers.first(&AUTHORIZATION).map(<[u8]>::to_vec);
        let proxy_authorization = ctx.headers.first(&PROXY_AUTHORIZATION).map(<[u8]>::to_vec);
        if authorization.is_none() && proxy_authorization.is_none() {
            return Err(Failure::Unauthorized("Unauthorized"));
        }
        if !(self.clock_ok(ctx, "x-date") || self.clock_ok(ctx, "date")) {
            return Err(Failure::Unauthorized(DATE_REQUIRED));
        }
        let params = match proxy_authorization.as_ref().and_then(|v| parse_params(v)) {
            Some(p) => {
                if self.config.hide_credentials {
                    ctx.headers.remove(PROXY_AUTHORIZATION);
                }
                Some(p)
            }
            None => {
                if self.config.hide_credentials {
                    ctx.headers.remove(AUTHORIZATION);
                }
                authorization.as_ref().and_then(|v| parse_params(v))
            }
        };
        let Some(params) = params.filter(|p| self.validate_params(p)) else {
            return Err(Failure::Unauthorized(SIGNATURE_NOT_VALID));
        };
        let Some(entry) = self.index.hmac(&params.username) else {
            return Err(Failure::Unauthorized(SIGNATURE_NOT_VALID));
        };
        if !self.validate_signature(ctx, &params, entry.secret.as_bytes()) {
            return Err(Failure::Unauthorized(SIGNATURE_NOT_SAME));
        }
        if self.config.validate_request_body && !self.validate_body(ctx) {
            return Err(Failure::Unauthorized(SIGNATURE_NOT_SAME));
        }
        auth::authenticate_credential(ctx, &self.index, &entry.credential)
    }
}

impl PluginHandler for Handler {
    fn phases(&self) -> Phases {
        Phases::ACCESS
    }

    fn changes_request_headers(&self) -> bool {
        self.config.hide_credentials
    }

    fn needs_request_body(&self, _ctx: &RequestCtx) -> bool {
        self.config.validate_request_body
    }

    fn access(&self, ctx: &mut RequestCtx) -> Decision {
        let anonymous = self.config.anonymous.as_deref();
        let www = &self.www_authenticate;
        auth::access_with_failures(ctx, &self.index, anonymous, www, |ctx| {
            self.authenticate(ctx)
        })
    }
}

#[cfg(test)]
#[path = "hmac_auth_tests.rs"]
mod tests;
