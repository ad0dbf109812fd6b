//! basic-auth (PRIORITY 1100): HTTP Basic credentials checked against
//! `sha1(password .. consumer_id)` (`kong/plugins/basic-auth/access.lua`,
//! kong-reference §6.3).

use std::sync::Arc;

use gantry_core::schema::typedefs as t;
use gantry_core::schema::{Field, Schema};
use http::header::{AUTHORIZATION, HeaderName, PROXY_AUTHORIZATION};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{self, Failure};
use super::{ConsumerScope, boolean, subschema};
use crate::consumers::{BasicEntry, ConsumerIndex};
use crate::ctx::RequestCtx;
use crate::plugin::{ConfigureEnv, Phases, Plugin, PluginHandler};
use crate::respond::Decision;
use crate::util::{ct_eq, sha1_hex};

/// The basic-auth plugin.
#[derive(Debug)]
pub struct BasicAuth;

#[derive(Debug, Deserialize)]
struct Config {
    anonymous: Option<String>,
    hide_credentials: bool,
    realm: String,
}

impl Plugin for BasicAuth {
    fn name(&self) -> &'static str {
        "basic-auth"
    }

    fn priority(&self) -> i32 {
        1100
    }

    fn schema(&self) -> Schema {
        subschema(
            ConsumerScope::Forbidden,
            t::protocols_http(),
            vec![
                ("anonymous", Field::string().describe("An optional string (Consumer UUID or username) value to use as an “anonymous” consumer if authentication fails. If empty (default null), the request will fail with an authentication failure `4xx`. Please note that this value must refer to the Consumer `id` or `username` attribute, and **not** its `custom_id`.")),
                ("hide_credentials", boolean(false).describe("An optional boolean value telling the plugin to show or hide the credential from the upstream service. If `true`, the plugin will strip the credential from the request (i.e. the `Authorization` header) before proxying it.")),
                ("realm", auth::realm().required().default(json!("service"))),
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
        let www_authenticate = auth::www_authenticate("Basic", Some(&config.realm));
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

/// Every basic-auth rejection is the same 401.
const UNAUTHORIZED: Failure = Failure::Unauthorized("Unauthorized");

/// Kong's `retrieve_credentials`: `\s*[Bb]asic\s*(.+)` anywhere in the header,
/// `ngx.decode_base64`d, split as `([^:]+):(.*)`. The password is raw bytes, as
/// Kong hashes it.
fn parse_basic(value: &[u8]) -> Option<(String, Vec<u8>)> {
    let start = value
        .windows(5)
        .position(|w| (w[0] == b'B' || w[0] == b'b') && &w[1..] == b"asic")?;
    let rest = value.get(start + 5..)?;
    let rest = rest.get(
        rest.iter()
            .take_while(|b| crate::util::is_pcre_space(**b))
            .count()..,
    )?;
    // `.` stops at a newline
    let token = rest.split(|&b| b == b'\n').next().unwrap_or_default();
    let decoded = crate::util::ngx_decode_base64(token)?;
    // unanchored: leading colons are skipped
    let colons = decoded.iter().take_while(|&&b| b == b':').count();
    let decoded = decoded.get(colons..)?;
    let sep = decoded.iter().position(|&b| b == b':')?;
    let user = std::str::from_utf8(decoded.get(..sep)?).ok()?;
    let pass = decoded.get(sep + 1..)?;
    let pass = pass.split(|&b| b == b'\n').next().unwrap_or_default();
    Some((user.to_string(), pass.to_vec()))
}

impl Handler {
    /// Kong's `retrieve_credentials` for a header read earlier (`sent`: whether it was
    /// there, and what it held): a header that was sent goes with `hide_credentials`.
    fn retrieve(
        &self,
        ctx: &mut RequestCtx,
        header: HeaderName,
        sent: Option<Option<(String, Vec<u8>)>>,
    ) -> Option<(String, Vec<u8>)> {
        if sent.is_some() && self.config.hide_credentials {
            ctx.headers.remove(&header);
        }
        sent.flatten()
    }

    fn lookup(&self, user: Option<&(String, Vec<u8>)>) -> Option<&BasicEntry> {
        user.and_then(|(u, _)| self.index.basic_auth(u))
    }

    /// Kong's `do_authentication`: `Ok` when authenticated, else the rejection.
    fn authenticate(&self, ctx: &mut RequestCtx) -> Result<(), Failure> {
        // Each header read once, off the client's lines.
        let proxy = ctx.headers.first(&PROXY_AUTHORIZATION).map(parse_basic);
        let plain = ctx.headers.first(&AUTHORIZATION).map(parse_basic);
        if proxy.is_none() && plain.is_none() {
            return Err(UNAUTHORIZED);
        }
        let mut given = self.retrieve(ctx, PROXY_AUTHORIZATION, proxy);
        let mut entry = self.lookup(given.as_ref());
        if entry.is_none() {
            given = self.retrieve(ctx, AUTHORIZATION, plain);
            entry = self.lookup(given.as_ref());
        }
        let (Some(entry), Some((_, password))) = (entry, given) else {
            return Err(UNAUTHORIZED);
        };
        let mut salted = password;
        let mut id = uuid::Uuid::encode_buffer();
        let id = entry
            .credential
            .consumer_id
            .hyphenated()
            .encode_lower(&mut id);
        salted.extend_from_slice(id.as_bytes());
        let digest = sha1_hex(&salted);
        if !ct_eq(digest.as_bytes(), entry.password_hash.as_bytes()) {
            return Err(UNAUTHORIZED);
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

    fn access(&self, ctx: &mut RequestCtx) -> Decision {
        let anonymous = self.config.anonymous.as_deref();
        let www = &self.www_authenticate;
        auth::access_with_failures(ctx, &self.index, anonymous, www, |ctx| {
            self.authenticate(ctx)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use gantry_core::{BasicAuthCredential, ForeignKey};
    use http::Method;
    use serde_json::json;

    use crate::plugins::testkit::*;
    use crate::util::sha1_hex;

    fn setup(config: serde_json::Value) -> (Fixture, uuid::Uuid) {
        let mut f = Fixture::default();
        let bob = f.consumer("bob");
        f.basicauth.push(BasicAuthCredential {
            id: uuid::Uuid::new_v4(),
            created_at: 1,
            consumer: ForeignKey::new(bob),
            username: "user".into(),
            password: sha1_hex(format!("pa:ss{bob}").as_bytes()),
            tags: None,
        });
        f.global("basic-auth", config);
        (f, bob)
    }

    fn basic(user_pass: &str) -> String {
        format!("Basic {}", STANDARD.encode(user_pass))
    }

    #[test]
    fn accepts_valid_credentials() {
        let (f, bob) = setup(json!({}));
        let set = f.build();
        let mut ctx = with_header(req(Method::GET, "/"), "authorization", &basic("user:pa:ss"));
        assert!(run_access(&set, &mut ctx).is_continue());
        assert_eq!(
            header(&ctx.headers, "x-consumer-id"),
            Some(bob.to_string().as_str())
        );
        assert_eq!(
            header(&ctx.headers, "x-credential-identifier"),
            Some("user")
        );
        assert!(ctx.headers.contains_key("authorization"));
        // Kong's unanchored `([^:]+):(.*)`: leading colons skipped, password ends at a newline
        for v in [":user:pa:ss", "::user:pa:ss\nignored"] {
            let mut ctx = with_header(req(Method::GET, "/"), "authorization", &basic(v));
            assert!(run_access(&set, &mut ctx).is_continue(), "{v:?}");
        }
        // Proxy-Authorization first; lowercase scheme; hide_credentials
        let (f, _) = setup(json!({ "hide_credentials": true }));
        let set = f.build();
        let v = format!("basic {}", STANDARD.encode("user:pa:ss"));
        let mut ctx = with_header(req(Method::GET, "/"), "proxy-authorization", &v);
        assert!(run_access(&set, &mut ctx).is_continue());
        assert!(!ctx.headers.contains_key("proxy-authorization"));
    }

    #[test]
    fn credentials_decode_as_ngx_decode_base64_and_passwords_are_bytes() {
        let (mut f, bob) = setup(json!({}));
        // a password that is not UTF-8 (Latin-1 "caf\xe9"), hashed over its bytes
        let mut salted = b"caf\xe9".to_vec();
        salted.extend_from_slice(bob.to_string().as_bytes());
        f.basicauth.push(BasicAuthCredential {
            id: uuid::Uuid::new_v4(),
            created_at: 1,
            consumer: ForeignKey::new(bob),
            username: "latin".into(),
            password: sha1_hex(&salted),
            tags: None,
        });
        let set = f.build();
        let ok = |v: &str| {
            let mut ctx = with_header(req(Method::GET, "/"), "authorization", v);
            run_access(&set, &mut ctx).is_continue()
        };
        assert!(ok(&format!("Basic {}", STANDARD.encode(b"latin:caf\xe9"))));
        // what follows the first `=` is ignored; padding may be missing
        let enc = STANDARD.encode("user:pa:ss"); // "dXNlcjpwYTpzcw=="
        assert!(ok(&format!("Basic {enc}junk!")));
        assert!(!ok(&format!("Basic !{enc}")));
        assert!(ok(&format!("Basic {}", enc.trim_end_matches('='))));
        // the URL-safe alphabet is not base64 to nginx
        let url_safe = base64::engine::general_purpose::URL_SAFE.encode(b"user:pa:ss\xfb\xff");
        assert!(url_safe.contains('-') || url_safe.contains('_'));
        assert!(!ok(&format!("Basic {url_safe}")));
    }

    #[test]
    fn rejections_are_401_with_realm() {
        let (f, _) = setup(json!({}));
        let set = f.build();
        let cases = [
            None,
            Some(basic("user:wrong")),
            Some(basic("nobody:pa:ss")),
            Some(basic(":pa:ss")),
            Some("Basic !!!notbase64".to_string()),
            Some("Bearer abc".to_string()),
        ];
        for c in cases {
            let mut ctx = req(Method::GET, "/");
            if let Some(v) = &c {
                ctx = with_header(ctx, "authorization", v);
            }
            let r = assert_error(run_access(&set, &mut ctx), 401, "Unauthorized");
            assert_eq!(
                header(&r.headers, "www-authenticate"),
                Some("Basic realm=\"service\""),
                "{c:?}"
            );
        }
        let (f, _) = setup(json!({ "realm": "kong" }));
        let r = assert_error(
            run_access(&f.build(), &mut req(Method::GET, "/")),
            401,
            "Unauthorized",
        );
        assert_eq!(
            header(&r.headers, "www-authenticate"),
            Some("Basic realm=\"kong\"")
        );
    }

    #[test]
    fn anonymous_fallback_and_logical_or() {
        let (mut f, _) = setup(json!({}));
        f.plugins.clear();
        let anon = f.consumer("anon");
        f.global("basic-auth", json!({ "anonymous": "anon" }));
        f.key(anon, "k");
        f.global("key-auth", json!({ "anonymous": "anon" }));
        let set = f.build();
        // key-auth (1250) runs first and authenticates; basic-auth then skips
        let mut ctx = req(Method::GET, "/?apikey=k");
        assert!(run_access(&set, &mut ctx).is_continue());
        assert!(ctx.credential.is_some());
        // neither: anonymous
        let mut ctx = req(Method::GET, "/");
        assert!(run_access(&set, &mut ctx).is_continue());
        assert_eq!(ctx.consumer.as_ref().unwrap().id, anon);
        assert_eq!(header(&ctx.headers, "x-anonymous-consumer"), Some("true"));
    }

    #[test]
    fn config_validation() {
        assert_eq!(
            filled("basic-auth", json!({})),
            json!({ "anonymous": null, "hide_credentials": false, "realm": "service" })
        );
        let e = config_errors("basic-auth", json!({ "realm": 1 }));
        assert_eq!(e["realm"], "expected a string");
    }
}
