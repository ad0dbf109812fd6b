//! request-size-limiting (PRIORITY 951): reject bodies over a size
//! (`kong/plugins/request-size-limiting/handler.lua`, kong-reference §6.11).

use gantry_core::schema::typedefs as t;
use gantry_core::schema::{Field, Schema};
use http::StatusCode;
use http::header::{CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ConsumerScope, boolean, subschema};
use crate::ctx::RequestCtx;
use crate::plugin::{ConfigureEnv, Phases, Plugin, PluginHandler};
use crate::respond::Decision;

/// The request-size-limiting plugin.
#[derive(Debug)]
pub struct RequestSizeLimiting;

#[derive(Debug, Deserialize)]
struct Config {
    allowed_payload_size: u64,
    size_unit: String,
    require_content_length: bool,
}

impl Plugin for RequestSizeLimiting {
    fn name(&self) -> &'static str {
        "request-size-limiting"
    }

    fn priority(&self) -> i32 {
        951
    }

    fn schema(&self) -> Schema {
        subschema(
            ConsumerScope::Allowed,
            t::protocols_http(),
            vec![
                ("allowed_payload_size", Field::integer().required().default(json!(128)).describe("Allowed request payload size in megabytes. Default is `128` megabytes (128000000 bytes).")),
                ("size_unit", Field::string().required().default(json!("megabytes")).one_of(&["megabytes", "kilobytes", "bytes"]).describe("Size unit can be set either in `bytes`, `kilobytes`, or `megabytes` (default). This configuration is not available in versions prior to Kong Gateway 1.3 and Kong Gateway (OSS) 2.0.")),
                ("require_content_length", boolean(false).describe("Set to `true` to ensure a valid `Content-Length` header exists before reading the request body.")),
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
        let factor: u64 = match config.size_unit.as_str() {
            "megabytes" => 1 << 20,
            "kilobytes" => 1 << 10,
            _ => 1,
        };
        Ok(Box::new(Handler {
            allowed: config.allowed_payload_size.saturating_mul(factor),
            require_content_length: config.require_content_length,
        }))
    }
}

struct Handler {
    allowed: u64,
    require_content_length: bool,
}

const TOO_BIG: &str = "Request size limit exceeded";

fn content_length(ctx: &RequestCtx) -> Option<u64> {
    ctx.headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Kong's test is `headers["Transfer-Encoding"] ~= "chunked"`: one header whose value is
/// exactly `chunked` (case-sensitive; two headers make a Lua table, which never equals).
fn chunked(ctx: &RequestCtx) -> bool {
    let mut all = ctx.headers.get_all(TRANSFER_ENCODING).iter();
    matches!((all.next(), all.next()), (Some(v), None) if v.as_bytes() == b"chunked")
}

impl Handler {
    fn check(&self, ctx: &RequestCtx, len: u64) -> Decision {
        if len <= self.allowed {
            return Decision::Continue;
        }
        let expect_continue = ctx
            .headers
            .get(EXPECT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"));
        let status = if expect_continue {
            StatusCode::EXPECTATION_FAILED
        } else {
            StatusCode::PAYLOAD_TOO_LARGE
        };
        ctx.reject(status, TOO_BIG)
    }
}

impl PluginHandler for Handler {
    fn phases(&self) -> Phases {
        Phases::ACCESS
    }

    fn needs_request_body(&self, ctx: &RequestCtx) -> bool {
        content_length(ctx).is_none()
    }

    fn request_body_cap(&self) -> Option<u64> {
        Some(self.allowed)
    }

    fn access(&self, ctx: &mut RequestCtx) -> Decision {
        if let Some(len) = content_length(ctx) {
            return self.check(ctx, len);
        }
        if self.require_content_length && !chunked(ctx) {
            return ctx.reject(
                StatusCode::LENGTH_REQUIRED,
                "A valid Content-Length header is required",
            );
        }
        let len = ctx.body.as_ref().map_or(0, |b| b.len() as u64);
        self.check(ctx, len)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use http::Method;
    use serde_json::json;

    use crate::plugins::testkit::*;

    fn run(
        config: serde_json::Value,
        headers: &[(&'static str, &str)],
        body: Option<&'static [u8]>,
    ) -> crate::respond::Decision {
        let mut f = Fixture::default();
        f.global("request-size-limiting", config);
        let mut ctx = req(Method::POST, "/");
        for (k, v) in headers {
            ctx = with_header(ctx, k, v);
        }
        ctx.body = body.map(bytes::Bytes::from_static);
        run_access(&f.build(), &mut ctx)
    }

    #[test]
    fn content_length_checks() {
        let c = json!({ "allowed_payload_size": 10, "size_unit": "bytes" });
        assert!(run(c.clone(), &[("content-length", "10")], None).is_continue());
        assert_error(
            run(c.clone(), &[("content-length", "11")], None),
            413,
            "Request size limit exceeded",
        );
        assert_error(
            run(
                c.clone(),
                &[("content-length", "11"), ("expect", "100-Continue")],
                None,
            ),
            417,
            "Request size limit exceeded",
        );
        let kb = json!({ "allowed_payload_size": 1, "size_unit": "kilobytes" });
        assert!(run(kb.clone(), &[("content-length", "1024")], None).is_continue());
        assert_error(
            run(kb, &[("content-length", "1025")], None),
            413,
            "Request size limit exceeded",
        );
        assert!(run(json!({}), &[("content-length", "134217728")], None).is_continue());
        assert_error(
            run(json!({}), &[("content-length", "134217729")], None),
            413,
            "Request size limit exceeded",
        );
    }

    #[test]
    fn body_without_content_length() {
        let c = json!({ "allowed_payload_size": 3, "size_unit": "bytes" });
        assert!(run(c.clone(), &[("transfer-encoding", "chunked")], Some(b"abc")).is_continue());
        assert_error(
            run(
                c.clone(),
                &[("transfer-encoding", "chunked")],
                Some(b"abcd"),
            ),
            413,
            "Request size limit exceeded",
        );
        let r = json!({ "allowed_payload_size": 3, "size_unit": "bytes", "require_content_length": true });
        assert_error(
            run(r.clone(), &[], None),
            411,
            "A valid Content-Length header is required",
        );
        assert_error(
            run(r.clone(), &[("content-length", "x")], None),
            411,
            "A valid Content-Length header is required",
        );
        assert!(run(r.clone(), &[("transfer-encoding", "chunked")], Some(b"ab")).is_continue());
        for te in ["Chunked", "gzip, chunked"] {
            assert_error(
                run(r.clone(), &[("transfer-encoding", te)], Some(b"ab")),
                411,
                "A valid Content-Length header is required",
            );
        }
        let mut f = Fixture::default();
        f.global("request-size-limiting", c);
        let set = f.build();
        let run = set.begin();
        assert_eq!(run.request_body_cap(&req(Method::POST, "/")), Some(3));
    }

    #[test]
    fn config_validation() {
        let e = config_errors("request-size-limiting", json!({ "size_unit": "gigabytes" }));
        assert_eq!(
            e["size_unit"],
            "expected one of: megabytes, kilobytes, bytes"
        );
        assert_eq!(
            filled("request-size-limiting", json!({})),
            json!({ "allowed_payload_size": 128, "size_unit": "megabytes", "require_content_length": false })
        );
    }
}
