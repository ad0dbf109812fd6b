//! jwt (PRIORITY 1450): signed JSON Web Tokens checked against the consumer's
//! `jwt_secrets` credential (`kong/plugins/jwt/handler.lua` and `jwt_parser.lua`,
//! kong-reference §6.4).
//!
//! Rejections use Kong's exit helper (`{"message": ..}` or the claim errors
//! object, no request id) with `WWW-Authenticate: Bearer[ realm=".."][ error="invalid_token"]`.

use std::sync::Arc;

use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use gantry_core::schema::typedefs as t;
use gantry_core::schema::{Conditional, EntityCheck, Field, FieldPatch, Schema, Validator};
use http::StatusCode;
use http::header::{COOKIE, HeaderName, WWW_AUTHENTICATE};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{ConsumerScope, auth, boolean, subschema};
use crate::consumers::{ConsumerIndex, JwtEntry};
use crate::ctx::{RequestCtx, query_pairs};
use crate::plugin::{ConfigureEnv, Phases, Plugin, PluginHandler};
use crate::respond::{Decision, KongResponse};

/// The jwt plugin.
#[derive(Debug)]
pub struct Jwt;

/// The token that authenticated the request (Kong's
/// `kong.ctx.shared.authenticated_jwt_token`), kept in [`RequestCtx::scratch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedJwtToken(pub String);

#[derive(Debug, Deserialize)]
struct Config {
    uri_param_names: Vec<String>,
    cookie_names: Vec<String>,
    key_claim_name: String,
    secret_is_base64: bool,
    claims_to_verify: Option<Vec<String>>,
    anonymous: Option<String>,
    run_on_preflight: bool,
    maximum_expiration: f64,
    header_names: Vec<String>,
    realm: Option<String>,
}

fn set_of_strings(default: Value) -> Field {
    Field::set(Field::string()).required().default(default)
}

/// Kong's entity check: a positive `maximum_expiration` needs `exp` among the
/// claims to verify (an unset `claims_to_verify` passes, as `null` does in Kong).
fn max_exp_needs_exp() -> EntityCheck {
    EntityCheck::Conditional(Conditional {
        if_field: "config.maximum_expiration",
        if_match: FieldPatch::with(Validator::Gt(0.0)),
        then_field: "config.claims_to_verify",
        then_match: FieldPatch::with(Validator::Contains(json!("exp"))),
        then_err: None,
    })
}

impl Plugin for Jwt {
    fn name(&self) -> &'static str {
        "jwt"
    }

    fn priority(&self) -> i32 {
        1450
    }

    fn schema(&self) -> Schema {
        subschema(
            ConsumerScope::Forbidden,
            t::protocols_http(),
            vec![
                ("uri_param_names", set_of_strings(json!(["jwt"])).describe("A list of querystring parameters that Kong will inspect to retrieve JWTs.")),
                ("cookie_names", set_of_strings(json!([])).describe("A list of cookie names that Kong will inspect to retrieve JWTs.")),
                ("key_claim_name", Field::string().required().default(json!("iss")).describe("The name of the claim in which the key identifying the secret must be passed. The plugin will attempt to read this claim from the JWT payload and the header, in that order.")),
                ("secret_is_base64", boolean(false).describe("If true, the plugin assumes the credential’s secret to be base64 encoded. You will need to create a base64-encoded secret for your Consumer, and sign your JWT with the original secret.")),
                ("claims_to_verify", Field::set(Field::string().one_of(&["exp", "nbf"])).describe("A list of registered claims (according to RFC 7519) that Kong can verify as well. Accepted values: one of exp or nbf.")),
                ("anonymous", Field::string().describe("An optional string (consumer UUID or username) value to use as an “anonymous” consumer if authentication fails.")),
                ("run_on_preflight", boolean(true).describe("A boolean value that indicates whether the plugin should run (and try to authenticate) on OPTIONS preflight requests. If set to false, then OPTIONS requests will always be allowed.")),
                ("maximum_expiration", Field::number().required().default(json!(0)).between(0.0, 31536000.0).describe("A value between 0 and 31536000 (365 days) limiting the lifetime of the JWT to maximum_expiration seconds in the future.")),
                ("header_names", set_of_strings(json!(["authorization"])).describe("A list of HTTP header names that Kong will inspect to retrieve JWTs.")),
                ("realm", auth::realm()),
            ],
            vec![max_exp_needs_exp()],
        )
    }

    fn configure(
        &self,
        config: &Value,
        env: &ConfigureEnv,
    ) -> Result<Box<dyn PluginHandler>, String> {
        let config: Config = crate::util::parse_config(&self.schema(), config)?;
        let www_base = auth::www_authenticate("Bearer", config.realm.as_deref());
        let www_error = format!("{www_base} error=\"invalid_token\"");
        // Kong's get_headers() table normalises names (lowercase, `_` → `-`);
        // a name that is not a valid header name never matches.
        let header_names = config
            .header_names
            .iter()
            .filter_map(|n| crate::util::kong_header_name(n))
            .collect();
        Ok(Box::new(Handler {
            config,
            header_names,
            www_base,
            www_error,
            index: env.index.clone(),
        }))
    }
}

struct Handler {
    config: Config,
    header_names: Vec<HeaderName>,
    www_base: String,
    www_error: String,
    index: Arc<ConsumerIndex>,
}

/// One token found in the request (Kong's `token_set` key).
#[derive(Debug, PartialEq, Eq)]
enum Token {
    /// A string token.
    Str(Vec<u8>),
    /// A query flag without `=` (Lua `true`).
    Flag,
}

/// A failed authentication: status 401, exit body, optional `WWW-Authenticate`.
struct Reject {
    body: Value,
    www: Option<String>,
}

impl From<Reject> for KongResponse {
    /// Kong's exit helper: the body as it is, no request id.
    fn from(r: Reject) -> Self {
        let resp = KongResponse::json(StatusCode::UNAUTHORIZED, &r.body);
        match &r.www {
            Some(www) => resp.with_header(WWW_AUTHENTICATE, www),
            None => resp,
        }
    }
}

impl Handler {
    fn fail(&self, message: &str) -> Reject {
        Reject {
            body: json!({ "message": message }),
            www: Some(self.www_error.clone()),
        }
    }

    fn retrieve_tokens(&self, ctx: &RequestCtx) -> Vec<Token> {
        let mut set: Vec<Token> = Vec::new();
        let mut add = |t: Token| {
            if !set.contains(&t) {
                set.push(t);
            }
        };
        if let Some(q) = ctx.query.as_deref() {
            for name in &self.config.uri_param_names {
                for (k, v) in query_pairs(q) {
                    if k != name.as_str() {
                        continue;
                    }
                    match v {
                        None => add(Token::Flag),
                        Some(v) if !v.is_empty() => add(Token::Str(v.as_bytes().to_vec())),
                        Some(_) => {}
                    }
                }
            }
        }
        for name in &self.config.cookie_names {
            if let Some(c) = cookie(ctx, name)
                && !c.is_empty()
            {
                add(Token::Str(c.to_vec()));
            }
        }
        for name in &self.header_names {
            if let Some(v) = ctx.headers.first(name)
                && let Some(tok) = bearer_token(v)
                && !tok.is_empty()
            {
                add(Token::Str(tok.to_vec()));
            }
        }
        set
    }

    /// Kong's `do_authentication`.
    fn authenticate(&self, ctx: &mut RequestCtx) -> Result<(), Reject> {
        let mut tokens = self.retrieve_tokens(ctx);
        let token = match (tokens.pop(), tokens.is_empty()) {
            (None, _) => {
                return Err(Reject {
                    body: json!({ "message": "Unauthorized" }),
                    www: Some(self.www_base.clone()),
                });
            }
            (Some(_), false) => return Err(self.fail("Multiple tokens provided")),
            (Some(Token::Flag), true) => return Err(self.fail("Unrecognizable token")),
            (Some(Token::Str(t)), true) => t,
        };
        let jwt =
            decode_token(&token).map_err(|e| self.fail(&format!("Bad token; {}", e.message())))?;
        let kcn = &self.config.key_claim_name;
        let key_value = match jwt.claims.get(kcn).filter(|v| !is_falsy(v)) {
            Some(v) => Some(v),
            None => jwt.header.get(kcn).filter(|v| !is_falsy(v)),
        };
        let Some(key_value) = key_value else {
            return Err(self.fail(&format!("No mandatory '{kcn}' in claims")));
        };
        // Only a string names a credential: Kong's `cache_key` raises an error
        // (500) on any other type; here it finds no credential.
        let key = match key_value {
            Value::String(s) => Some(s.clone()),
            _ => None,
        };
        if key.as_deref() == Some("") {
            return Err(self.fail(&format!("Invalid '{kcn}' in claims")));
        }
        let Some(entry) = key.as_deref().and_then(|k| self.index.jwt(k)) else {
            return Err(self.fail(&format!("No credentials found for given '{kcn}'")));
        };
        if jwt.alg != entry.algorithm {
            return Err(self.fail("Invalid algorithm"));
        }
        if !self.verify_signature(&jwt, &token, entry)? {
            return Err(self.fail("Invalid signature"));
        }
        let now = ctx.now_secs().floor();
        if let Some(claims) = &self.config.claims_to_verify {
            let mut errors = Map::new();
            for name in claims {
                let check = match jwt.claims.get(name).and_then(Value::as_f64) {
                    None => Some("must be a number"),
                    Some(exp) if name == "exp" && exp <= now => Some("token expired"),
                    Some(nbf) if name == "nbf" && nbf > now => Some("token not valid yet"),
                    Some(_) => None,
                };
                if let Some(msg) = check {
                    errors.insert(name.clone(), Value::String(msg.into()));
                }
            }
            if !errors.is_empty() {
                return Err(Reject {
                    body: Value::Object(errors),
                    www: Some(self.www_error.clone()),
                });
            }
        }
        let max = self.config.maximum_expiration;
        if max > 0.0 {
            let ok = jwt
                .claims
                .get("exp")
                .and_then(Value::as_f64)
                .is_some_and(|exp| exp - now <= max);
            if !ok {
                return Err(Reject {
                    body: json!({ "exp": "exceeds maximum allowed expiration" }),
                    www: Some(self.www_error.clone()),
                });
            }
        }
        auth::authenticate_credential(ctx, &self.index, &entry.credential).map_err(|_| {
            let key = key.unwrap_or_default();
            Reject {
                body: json!({ "message": format!("Could not find consumer for '{kcn}={key}'") }),
                www: None,
            }
        })?;
        ctx.scratch.insert(AuthenticatedJwtToken(
            String::from_utf8_lossy(&token).into_owned(),
        ));
        Ok(())
    }

    /// `Ok(false)` = bad signature; `Err` = no usable key/secret.
    fn verify_signature(
        &self,
        jwt: &Parsed,
        token: &[u8],
        entry: &JwtEntry,
    ) -> Result<bool, Reject> {
        let data = token.get(..jwt.signing_len).unwrap_or(token);
        let alg = jwt.alg.as_str();
        if let Some(hmac_alg) = hmac_algorithm(alg) {
            let secret = if self.config.secret_is_base64 {
                base64_decode(entry.secret.as_bytes())
                    .ok_or_else(|| self.fail("Invalid key/secret"))?
            } else {
                entry.secret.as_bytes().to_vec()
            };
            let key = aws_lc_rs::hmac::Key::new(hmac_alg, &secret);
            return Ok(aws_lc_rs::hmac::verify(&key, data, &jwt.signature).is_ok());
        }
        // `secret_is_base64` applies to HS secrets only (Kong 3.9 stopped
        // decoding `rsa_public_key`).
        if entry.rsa_public_key.is_none() {
            return Err(self.fail("Invalid key/secret"));
        }
        Ok(entry
            .public_key
            .as_ref()
            .is_some_and(|k| verify_public(alg, k, data, &jwt.signature)))
    }
}

/// Lua falsiness of a JSON value as cjson decodes it (`null` is a truthy userdata).
fn is_falsy(v: &Value) -> bool {
    matches!(v, Value::Bool(false))
}

fn hmac_algorithm(alg: &str) -> Option<aws_lc_rs::hmac::Algorithm> {
    match alg {
        "HS256" => Some(aws_lc_rs::hmac::HMAC_SHA256),
        "HS384" => Some(aws_lc_rs::hmac::HMAC_SHA384),
        "HS512" => Some(aws_lc_rs::hmac::HMAC_SHA512),
        _ => None,
    }
}

fn public_algorithm(alg: &str) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match alg {
        "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
        "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
        "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
        "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
        "PS384" => &signature::RSA_PSS_2048_8192_SHA384,
        "PS512" => &signature::RSA_PSS_2048_8192_SHA512,
        "ES256" => &signature::ECDSA_P256_SHA256_FIXED,
        "ES384" => &signature::ECDSA_P384_SHA384_FIXED,
        "ES512" => &signature::ECDSA_P521_SHA512_FIXED,
        "EdDSA" => &signature::ED25519,
        _ => return None,
    })
}

/// The algorithms Kong's parser accepts in a token's `alg`.
fn supported_alg(alg: &str) -> bool {
    hmac_algorithm(alg).is_some() || public_algorithm(alg).is_some()
}

/// Raw `r || s` lengths Kong's ES* verifiers insist on.
fn ecdsa_sig_len(alg: &str) -> Option<usize> {
    match alg {
        "ES256" => Some(64),
        "ES384" => Some(96),
        "ES512" => Some(132),
        _ => None,
    }
}

fn verify_public(alg: &str, key: &ParsedPublicKey, data: &[u8], sig: &[u8]) -> bool {
    if ecdsa_sig_len(alg).is_some_and(|n| n != sig.len()) {
        return false;
    }
    key.verify_sig(data, sig).is_ok()
}

/// Parses a credential's PEM public key for the algorithm (`None` when it is not
/// a public-key algorithm or the key does not parse). Done once per
/// configuration when the consumer index is built.
pub fn parse_public_key(alg: &str, pem: &str) -> Option<ParsedPublicKey> {
    let algorithm = public_algorithm(alg)?;
    let der = pem_to_der(pem)?;
    if let Ok(key) = ParsedPublicKey::new(algorithm, &der) {
        return Some(key);
    }
    // A private key: Kong (OpenSSL's pkey) verifies with its public half.
    ParsedPublicKey::new(algorithm, public_half(alg, &der)?).ok()
}

/// The SPKI DER of the public half of a private key (PKCS#8, PKCS#1 or SEC1).
fn public_half(alg: &str, der: &[u8]) -> Option<Vec<u8>> {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
    let spki = match alg {
        "EdDSA" => Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .ok()?
            .public_key()
            .as_der(),
        "ES256" | "ES384" | "ES512" => {
            let signing = match alg {
                "ES256" => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                "ES384" => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                _ => &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
            };
            EcdsaKeyPair::from_pkcs8(signing, der)
                .or_else(|_| EcdsaKeyPair::from_private_key_der(signing, der))
                .ok()?
                .public_key()
                .as_der()
        }
        _ => RsaKeyPair::from_pkcs8(der)
            .or_else(|_| RsaKeyPair::from_der(der))
            .ok()?
            .public_key()
            .as_der(),
    };
    spki.ok().map(|d| d.as_ref().to_vec())
}

/// The DER inside the first PEM block (`PUBLIC KEY`, `RSA PUBLIC KEY`, …).
fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let start = pem.find("-----BEGIN ")?;
    let rest = pem.get(start..)?;
    let body_start = rest.find('\n')? + 1;
    let body = rest.get(body_start..)?;
    let end = body.find("-----END ")?;
    let b64: Vec<u8> = body
        .get(..end)?
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// Kong's `base64_decode`: pads, maps the URL-safe alphabet, then decodes as
/// `ngx.decode_base64` does (stops at the first `=`, ignores trailing bits,
/// rejects a length of 1 mod 4 and any other character).
pub(crate) fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    let end = input.iter().position(|&b| b == b'=').unwrap_or(input.len());
    let data = input.get(..end)?;
    if data.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 2);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &c in data {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// Why a token could not be decoded (Kong's `"Bad token; " .. err`).
#[derive(Debug, PartialEq, Eq)]
enum DecodeError {
    Json,
    Alg,
    Claims,
    Signature,
}

impl DecodeError {
    fn message(&self) -> &'static str {
        match self {
            DecodeError::Json => "invalid JSON",
            DecodeError::Alg => "invalid alg",
            DecodeError::Claims => "invalid claims",
            DecodeError::Signature => "invalid signature",
        }
    }
}

/// A JSON value as a Lua table for field lookups: objects as they are, arrays
/// and strings as tables without those keys, anything else `None`.
fn as_table(v: Value) -> Option<Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m),
        Value::Array(_) | Value::String(_) => Some(Map::new()),
        _ => None,
    }
}

/// Kong's `decode_token`.
fn decode_token(token: &[u8]) -> Result<Parsed, DecodeError> {
    let mut parts = token.splitn(3, |&b| b == b'.');
    let (Some(h64), Some(c64), Some(s64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(DecodeError::Json);
    };
    let header: Value = base64_decode(h64)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(DecodeError::Json)?;
    let claims: Value = base64_decode(c64)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(DecodeError::Json)?;
    let signature = base64_decode(s64);
    let header = as_table(header).ok_or(DecodeError::Alg)?;
    let alg = match header.get("alg") {
        Some(Value::String(a)) if supported_alg(a) => a.clone(),
        _ => return Err(DecodeError::Alg),
    };
    let claims = as_table(claims).ok_or(DecodeError::Claims)?;
    let signature = signature.ok_or(DecodeError::Signature)?;
    let signing_len = h64.len() + 1 + c64.len();
    Ok(Parsed {
        header,
        claims,
        alg,
        signing_len,
        signature,
    })
}

struct Parsed {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    alg: String,
    signing_len: usize,
    signature: Vec<u8>,
}

/// The value of the first cookie named `name` across the `Cookie` headers, as
/// nginx's `$cookie_<name>` reads it: the name matches case-insensitively after
/// leading spaces, spaces may surround `=`, and the value runs to the next `;`
/// (trailing spaces included, tabs are not skipped).
fn cookie<'a>(ctx: &'a RequestCtx, name: &str) -> Option<&'a [u8]> {
    let skip_spaces = |b: &'a [u8]| {
        let n = b.iter().take_while(|&&c| c == b' ').count();
        b.get(n..).unwrap_or_default()
    };
    for v in ctx.headers.values(&COOKIE) {
        for pair in v.split(|&b| b == b';') {
            let pair = skip_spaces(pair);
            let Some(rest) = pair
                .get(..name.len())
                .filter(|n| n.eq_ignore_ascii_case(name.as_bytes()))
                .and_then(|_| pair.get(name.len()..))
            else {
                continue;
            };
            if let Some(value) = skip_spaces(rest).strip_prefix(b"=") {
                return Some(skip_spaces(value));
            }
        }
    }
    None
}

/// Kong's `ngx.re.gmatch(value, "\s*[Bb]earer\s+(.+)")` first capture: the
/// first `Bearer`/`bearer` (anywhere) followed by whitespace and at least one
/// character.
fn bearer_token(v: &[u8]) -> Option<&[u8]> {
    let mut start = 0;
    while let Some(rest) = v.get(start..) {
        let pos = rest
            .windows(6)
            .position(|w| (w[0] == b'B' || w[0] == b'b') && &w[1..] == b"earer")?;
        let after = start + pos + 6;
        let tail = v.get(after..).unwrap_or(&[]);
        let ws = tail
            .iter()
            .take_while(|&&b| crate::util::is_pcre_space(b))
            .count();
        let token = tail.get(ws..).unwrap_or(&[]);
        let token = match token.iter().position(|&b| b == b'\n') {
            Some(n) => token.get(..n).unwrap_or(&[]),
            None => token,
        };
        if ws >= 1 && !token.is_empty() {
            return Some(token);
        }
        if ws >= 2 && token.is_empty() {
            // `\s+` backtracks one whitespace character into `(.+)`.
            return tail.get(ws - 1..ws);
        }
        start = after;
    }
    None
}

impl PluginHandler for Handler {
    fn phases(&self) -> Phases {
        Phases::ACCESS
    }

    fn changes_request_headers(&self) -> bool {
        false
    }

    fn access(&self, ctx: &mut RequestCtx) -> Decision {
        if auth::skips_preflight(self.config.run_on_preflight, ctx) {
            return Decision::Continue;
        }
        let anonymous = self.config.anonymous.as_deref();
        let reject = |_: &RequestCtx, r: Reject| KongResponse::from(r);
        auth::access(
            ctx,
            &self.index,
            anonymous,
            |ctx| self.authenticate(ctx),
            reject,
        )
    }
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
