//! acl (PRIORITY 950): allow or deny authenticated consumers by group
//! (`kong/plugins/acl/handler.lua`, kong-reference §6.7).

use std::sync::Arc;

use gantry_core::schema::typedefs as t;
use gantry_core::schema::{Field, Schema};
use http::StatusCode;
use http::header::HeaderName;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{ConsumerScope, boolean, config_check, config_nonempty, subschema};
use crate::consumers::ConsumerIndex;
use crate::ctx::RequestCtx;
use crate::plugin::{ConfigureEnv, Phases, Plugin, PluginHandler};
use crate::respond::Decision;

/// `X-Consumer-Groups`.
pub const CONSUMER_GROUPS: HeaderName = HeaderName::from_static("x-consumer-groups");
/// `X-Authenticated-Groups`.
pub const AUTHENTICATED_GROUPS: HeaderName = HeaderName::from_static("x-authenticated-groups");

const BLOCKED: &str = "You cannot consume this service";

/// The acl plugin.
#[derive(Debug)]
pub struct AclPlugin;

#[derive(Debug, Deserialize)]
struct Config {
    allow: Option<Vec<String>>,
    deny: Option<Vec<String>>,
    hide_groups_header: bool,
    always_use_authenticated_groups: bool,
}

fn only_one_of(e: &Map<String, Value>) -> Result<(), String> {
    if config_nonempty(e, "allow") != config_nonempty(e, "deny") {
        Ok(())
    } else {
        Err("exactly one of these fields must be non-empty: 'config.allow', 'config.deny'".into())
    }
}

pub(crate) fn at_least_one_of_allow_deny(e: &Map<String, Value>) -> Result<(), String> {
    if config_nonempty(e, "allow") || config_nonempty(e, "deny") {
        Ok(())
    } else {
        Err("at least one of these fields must be non-empty: 'config.allow', 'config.deny'".into())
    }
}

impl Plugin for AclPlugin {
    fn name(&self) -> &'static str {
        "acl"
    }

    fn priority(&self) -> i32 {
        950
    }

    fn schema(&self) -> Schema {
        subschema(
            ConsumerScope::Forbidden,
            t::protocols_http(),
            vec![
                ("allow", Field::array(Field::string()).describe("Arbitrary group names that are allowed to consume the service or route. One of `config.allow` or `config.deny` must be specified.")),
                ("deny", Field::array(Field::string()).describe("Arbitrary group names that are not allowed to consume the service or route. One of `config.allow` or `config.deny` must be specified.")),
                ("hide_groups_header", boolean(false).describe("If enabled (`true`), prevents the `X-Consumer-Groups` header from being sent in the request to the upstream service.")),
                ("always_use_authenticated_groups", boolean(false).describe("If enabled (`true`), the authenticated groups will always be used even when an authenticated consumer already exists. If the authenticated groups don't exist, it will fallback to use the groups associated with the consumer. By default the authenticated groups will only be used when there is no consumer or the consumer is anonymous.")),
            ],
            vec![config_check(only_one_of), config_check(at_least_one_of_allow_deny)],
        )
    }

    fn configure(
        &self,
        config: &Value,
        env: &ConfigureEnv,
    ) -> Result<Box<dyn PluginHandler>, String> {
        let config: Config = crate::util::parse_config(&self.schema(), config)?;
        let deny_list = config.deny.as_ref().is_some_and(|d| !d.is_empty());
        let groups = if deny_list {
            config.deny.clone().unwrap_or_default()
        } else {
            config.allow.clone().unwrap_or_default()
        };
        Ok(Box::new(Handler {
            deny_list,
            groups,
            hide_groups_header: config.hide_groups_header,
            always_use_authenticated_groups: config.always_use_authenticated_groups,
            index: env.index.clone(),
        }))
    }
}

struct Handler {
    deny_list: bool,
    groups: Vec<String>,
    hide_groups_header: bool,
    always_use_authenticated_groups: bool,
    index: Arc<ConsumerIndex>,
}

impl Handler {
    /// `Some(header value)` when allowed, `None` when blocked.
    fn evaluate<S: AsRef<str>>(&self, have: &[S]) -> Option<String> {
        let in_group = have
            .iter()
            .any(|g| self.groups.iter().any(|c| c == g.as_ref()));
        let blocked = if self.deny_list { in_group } else { !in_group };
        if blocked {
            return None;
        }
        Some(
            have.iter()
                .map(AsRef::as_ref)
                .collect::<Vec<_>>()
                .join(", "),
        )
    }

    fn finish(
        &self,
        ctx: &mut RequestCtx,
        verdict: Option<String>,
        header: HeaderName,
    ) -> Decision {
        match verdict {
            None => ctx.reject(StatusCode::FORBIDDEN, BLOCKED),
            Some(v) => {
                if !self.hide_groups_header {
                    ctx.set_header(header, &v);
                }
                Decision::Continue
            }
        }
    }
}

/// No groups to check: 403 for an authenticated credential, else 401.
fn no_groups(ctx: &RequestCtx) -> Decision {
    if ctx.credential.is_some() {
        return ctx.reject(StatusCode::FORBIDDEN, BLOCKED);
    }
    ctx.reject(StatusCode::UNAUTHORIZED, "Unauthorized")
}

impl PluginHandler for Handler {
    fn phases(&self) -> Phases {
        Phases::ACCESS
    }

    fn changes_request_headers(&self) -> bool {
        !self.hide_groups_header
    }

    fn access(&self, ctx: &mut RequestCtx) -> Decision {
        let Some(consumer) = ctx.consumer.clone() else {
            let Some(groups) = ctx.authenticated_groups.clone() else {
                return no_groups(ctx);
            };
            let verdict = self.evaluate(&groups);
            return self.finish(ctx, verdict, AUTHENTICATED_GROUPS);
        };
        if (ctx.credential.is_none() || self.always_use_authenticated_groups)
            && let Some(groups) = ctx.authenticated_groups.clone()
        {
            let verdict = self.evaluate(&groups);
            return self.finish(ctx, verdict, AUTHENTICATED_GROUPS);
        }
        let index = self.index.clone();
        let groups = index.groups(&consumer.id);
        if groups.is_empty() && !self.deny_list {
            return no_groups(ctx);
        }
        let verdict = self.evaluate(groups);
        self.finish(ctx, verdict, CONSUMER_GROUPS)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use http::Method;
    use serde_json::json;

    use crate::plugins::testkit::*;

    fn setup(config: serde_json::Value) -> Fixture {
        let mut f = Fixture::default();
        let bob = f.consumer("bob");
        f.key(bob, "bob-key");
        f.acl(bob, "admin");
        f.acl(bob, "dev");
        let eve = f.consumer("eve");
        f.key(eve, "eve-key");
        let anon = f.consumer("anon");
        let _ = anon;
        f.global("key-auth", json!({ "anonymous": "anon" }));
        f.global("acl", config);
        f
    }

    #[test]
    fn allow_list() {
        let set = setup(json!({ "allow": ["admin"] })).build();
        let mut ctx = req(Method::GET, "/?apikey=bob-key");
        assert!(run_access(&set, &mut ctx).is_continue());
        assert_eq!(
            header(&ctx.headers, "x-consumer-groups"),
            Some("admin, dev")
        );
        // authenticated consumer without groups: 403
        let d = run_access(&set, &mut req(Method::GET, "/?apikey=eve-key"));
        assert_error(d, 403, "You cannot consume this service");
        // anonymous consumer without groups: 401
        let d = run_access(&set, &mut req(Method::GET, "/"));
        assert_error(d, 401, "Unauthorized");
        let set = setup(json!({ "allow": ["ops"] })).build();
        let d = run_access(&set, &mut req(Method::GET, "/?apikey=bob-key"));
        assert_error(d, 403, "You cannot consume this service");
    }

    #[test]
    fn deny_list_and_hidden_header() {
        let set = setup(json!({ "deny": ["dev"] })).build();
        let d = run_access(&set, &mut req(Method::GET, "/?apikey=bob-key"));
        assert_error(d, 403, "You cannot consume this service");
        let mut ctx = req(Method::GET, "/?apikey=eve-key");
        assert!(run_access(&set, &mut ctx).is_continue());
        let set = setup(json!({ "allow": ["dev"], "hide_groups_header": true })).build();
        let mut ctx = req(Method::GET, "/?apikey=bob-key");
        assert!(run_access(&set, &mut ctx).is_continue());
        assert!(!ctx.headers.contains_key("x-consumer-groups"));
    }

    #[test]
    fn no_consumer() {
        let mut f = Fixture::default();
        f.global("acl", json!({ "allow": ["admin"] }));
        let set = f.build();
        assert_error(
            run_access(&set, &mut req(Method::GET, "/")),
            401,
            "Unauthorized",
        );
        // groups set by an auth plugin without consumer
        let mut ctx = req(Method::GET, "/");
        ctx.authenticated_groups = Some(vec!["admin".into()]);
        assert!(run_access(&set, &mut ctx).is_continue());
        assert_eq!(
            header(&ctx.headers, "x-authenticated-groups"),
            Some("admin")
        );
    }

    #[test]
    fn config_validation() {
        let e = validate(json!({ "name": "acl", "config": {} })).unwrap_err();
        assert_eq!(
            e["fields"]["@entity"],
            json!([
                "exactly one of these fields must be non-empty: 'config.allow', 'config.deny'",
                "at least one of these fields must be non-empty: 'config.allow', 'config.deny'"
            ])
        );
        let e = validate(json!({ "name": "acl", "config": { "allow": ["a"], "deny": ["b"] } }))
            .unwrap_err();
        assert_eq!(
            e["fields"]["@entity"],
            json!(["exactly one of these fields must be non-empty: 'config.allow', 'config.deny'"])
        );
        assert_eq!(
            filled("acl", json!({ "allow": ["a"] })),
            json!({ "allow": ["a"], "deny": null, "hide_groups_header": false, "always_use_authenticated_groups": false })
        );
    }
}
