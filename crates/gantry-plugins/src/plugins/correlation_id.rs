//! correlation-id (PRIORITY 100001): a request id header for the upstream, and
//! optionally the client (`kong/plugins/correlation-id/handler.lua`,
//! kong-reference §6.16).

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use gantry_core::schema::typedefs as t;
use gantry_core::schema::{Field, Schema};
use http::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ConsumerScope, boolean, subschema};
use crate::ctx::{RequestCtx, ResponseHead};
use crate::plugin::{ConfigureEnv, Phases, Plugin, PluginHandler};
use crate::respond::Decision;

/// The correlation-id plugin.
#[derive(Debug)]
pub struct CorrelationId;

#[derive(Debug, Deserialize)]
struct Config {
    header_name: Option<String>,
    generator: String,
    echo_downstream: bool,
}

/// Kong's per-worker UUID and counter for `uuid#counter` (one per process here).
static WORKER_UUID: LazyLock<String> = LazyLock::new(|| uuid::Uuid::new_v4().to_string());
static COUNTER: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone, Copy)]
enum Generator {
    Uuid,
    UuidCounter,
    Tracker,
}

impl Generator {
    fn generate(self, ctx: &RequestCtx) -> String {
        match self {
            Generator::Uuid => uuid::Uuid::new_v4().to_string(),
            Generator::UuidCounter => {
                let n = COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
                format!("{}#{n}", *WORKER_UUID)
            }
            Generator::Tracker => format!(
                "{}-{}-{}-{}-{}-{:.3}",
                ctx.server_addr.map(|a| a.to_string()).unwrap_or_default(),
                ctx.port,
                std::process::id(),
                ctx.connection_id,
                ctx.connection_requests,
                ctx.now_secs()
            ),
        }
    }
}

/// The id chosen in `access`, for `header_filter`.
#[derive(Clone)]
struct ChosenId(String);

impl Plugin for CorrelationId {
    fn name(&self) -> &'static str {
        "correlation-id"
    }

    fn priority(&self) -> i32 {
        100001
    }

    fn schema(&self) -> Schema {
        subschema(
            ConsumerScope::Allowed,
            t::protocols_http(),
            vec![
                ("header_name", Field::string().default(json!("Kong-Request-ID")).describe("The HTTP header name to use for the correlation ID.")),
                ("generator", Field::string().required().default(json!("uuid#counter")).one_of(&["uuid", "uuid#counter", "tracker"]).describe("The generator to use for the correlation ID. Accepted values are `uuid`, `uuid#counter`, and `tracker`. See [Generators](#generators).")),
                ("echo_downstream", boolean(false).describe("Whether to echo the header back to downstream (the client).")),
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
        let name = config.header_name.as_deref().unwrap_or("Kong-Request-ID");
        let header = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|e| e.to_string())?;
        let generator = match config.generator.as_str() {
            "uuid" => Generator::Uuid,
            "tracker" => Generator::Tracker,
            _ => Generator::UuidCounter,
        };
        Ok(Box::new(Handler {
            header,
            generator,
            echo_downstream: config.echo_downstream,
        }))
    }
}

struct Handler {
    header: HeaderName,
    generator: Generator,
    echo_downstream: bool,
}

impl PluginHandler for Handler {
    fn phases(&self) -> Phases {
        Phases {
            access: true,
            header_filter: self.echo_downstream,
            ..Phases::default()
        }
    }

    fn access(&self, ctx: &mut RequestCtx) -> Decision {
        let existing = ctx
            .headers
            .get(&self.header)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .filter(|v| !v.is_empty());
        let id = match existing {
            Some(id) => id,
            None => {
                let id = self.generator.generate(ctx);
                ctx.set_header(self.header.clone(), &id);
                id
            }
        };
        if self.echo_downstream {
            ctx.scratch.insert(ChosenId(id));
        }
        Decision::Continue
    }

    fn header_filter(&self, ctx: &mut RequestCtx, head: &mut ResponseHead) {
        let id = match ctx.scratch.get::<ChosenId>() {
            Some(c) => c.0.clone(),
            None => ctx
                .headers
                .get(&self.header)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| self.generator.generate(ctx)),
        };
        if let Ok(v) = HeaderValue::from_str(&id) {
            head.headers.insert(self.header.clone(), v);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use http::{Method, StatusCode};
    use serde_json::json;

    use crate::ctx::{ResponseHead, ResponseSource};
    use crate::plugins::testkit::*;

    #[test]
    fn generates_keeps_and_echoes() {
        let mut f = Fixture::default();
        f.global("correlation-id", json!({ "echo_downstream": true }));
        let set = f.build();
        let mut ctx = req(Method::GET, "/");
        let mut run = set.begin();
        run.select(set.chain_for(None, None));
        assert!(run.access(&mut ctx).is_continue());
        let id = header(&ctx.headers, "kong-request-id").unwrap().to_string();
        let (uuid, n) = id.split_once('#').unwrap();
        assert!(uuid::Uuid::parse_str(uuid).is_ok());
        assert!(n.parse::<u64>().unwrap() >= 1);
        let mut head = ResponseHead {
            status: StatusCode::OK,
            headers: Default::default(),
            source: ResponseSource::Upstream,
        };
        run.header_filter(&mut ctx, &mut head);
        assert_eq!(header(&head.headers, "kong-request-id"), Some(id.as_str()));
        // an incoming id is kept
        let mut ctx = with_header(req(Method::GET, "/"), "kong-request-id", "abc");
        assert!(run_access(&set, &mut ctx).is_continue());
        assert_eq!(header(&ctx.headers, "kong-request-id"), Some("abc"));
    }

    #[test]
    fn uuid_and_tracker_generators() {
        let mut f = Fixture::default();
        f.global(
            "correlation-id",
            json!({ "generator": "uuid", "header_name": "X-Id" }),
        );
        let mut ctx = req(Method::GET, "/");
        assert!(run_access(&f.build(), &mut ctx).is_continue());
        assert!(uuid::Uuid::parse_str(header(&ctx.headers, "x-id").unwrap()).is_ok());
        let mut f = Fixture::default();
        f.global("correlation-id", json!({ "generator": "tracker" }));
        let mut ctx = req(Method::GET, "/");
        ctx.server_addr = Some([10, 0, 0, 1].into());
        ctx.port = 8000;
        ctx.connection_id = 7;
        ctx.connection_requests = 2;
        assert!(run_access(&f.build(), &mut ctx).is_continue());
        let v = header(&ctx.headers, "kong-request-id").unwrap();
        assert!(
            v.starts_with(&format!("10.0.0.1-8000-{}-7-2-", std::process::id())),
            "{v}"
        );
    }

    #[test]
    fn config_validation() {
        let e = config_errors("correlation-id", json!({ "generator": "random" }));
        assert_eq!(
            e["generator"],
            "expected one of: uuid, uuid#counter, tracker"
        );
        assert_eq!(
            filled("correlation-id", json!({})),
            json!({ "header_name": "Kong-Request-ID", "generator": "uuid#counter", "echo_downstream": false })
        );
    }
}
