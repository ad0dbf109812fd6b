//! Responses Gantry produces itself (Kong's `kong.response.error` and
//! `kong.response.exit` helpers) and Kong's headers on every response to the client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::body::ProxyBody;
use crate::error_page::{self, ErrorSource};
use crate::h1::client::BodyBox;
use crate::h1::head::ResponseHead;
use crate::h1::raw::{HeaderLines, Known, KongHeaders, Relayed};
use crate::handler::ProxyOptions;
use crate::headers;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode, Version};

/// Per-request facts every response needs.
pub struct Ctx<'a> {
    pub start: Instant,
    /// `X-Kong-Request-Id` (32 lowercase hex characters).
    pub request_id: crate::request_id::RequestId,
    /// The request's `Accept` and `Content-Type`, for error-body negotiation.
    pub accept: Option<HeaderValue>,
    pub content_type: Option<HeaderValue>,
    pub opts: &'a ProxyOptions,
    /// Microseconds the upstream took to answer (`u64::MAX` until it has), for
    /// plugins' `log`.
    upstream_micros: AtomicU64,
}

impl<'a> Ctx<'a> {
    pub fn new(start: Instant, request_headers: &HeaderMap, opts: &'a ProxyOptions) -> Self {
        Self::with_negotiation(
            start,
            request_headers.get(header::ACCEPT).cloned(),
            request_headers.get(header::CONTENT_TYPE).cloned(),
            opts,
        )
    }

    /// With the request's `Accept` and `Content-Type` already found.
    pub fn with_negotiation(
        start: Instant,
        accept: Option<HeaderValue>,
        content_type: Option<HeaderValue>,
        opts: &'a ProxyOptions,
    ) -> Self {
        Ctx {
            start,
            request_id: crate::request_id::RequestId::generate(),
            accept,
            content_type,
            opts,
            upstream_micros: AtomicU64::new(u64::MAX),
        }
    }

    /// Records how long the upstream took to answer.
    pub fn set_upstream_latency(&self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX - 1);
        self.upstream_micros.store(micros, Ordering::Relaxed);
    }

    /// How long the upstream took to answer, if it was reached.
    pub fn upstream_latency(&self) -> Option<Duration> {
        match self.upstream_micros.load(Ordering::Relaxed) {
            u64::MAX => None,
            m => Some(Duration::from_micros(m)),
        }
    }

    fn request_id_str(&self) -> &str {
        self.request_id.as_str()
    }

    /// A response via Kong's `kong.response.error` helper (templated body).
    pub fn error(
        &self,
        status: StatusCode,
        message: &str,
        source: ErrorSource,
    ) -> Response<ProxyBody> {
        let format = error_page::negotiate(
            self.accept.as_ref(),
            self.content_type.as_ref(),
            source,
            self.opts.error_default_type,
        );
        let (ct, body) = error_page::render(format, message, self.request_id_str());
        let mut resp = Response::new(ProxyBody::full(body));
        *resp.status_mut() = status;
        resp.headers_mut().insert(header::CONTENT_TYPE, ct);
        self.finish_own(resp)
    }

    /// A response via Kong's `kong.response.exit` helper: compact JSON.
    pub fn exit_json(&self, status: StatusCode, message: &str) -> Response<ProxyBody> {
        let body = serde_json::json!({ "message": message }).to_string();
        let mut resp = Response::new(ProxyBody::full(Bytes::from(body)));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        self.finish_own(resp)
    }

    /// Kong's headers on a response it generated.
    pub fn finish_own(&self, mut resp: Response<ProxyBody>) -> Response<ProxyBody> {
        let h = resp.headers_mut();
        let o = &self.opts.headers;
        if o.server {
            h.insert(
                header::SERVER,
                HeaderValue::from_static(headers::SERVER_TOKEN),
            );
        }
        if o.response_latency {
            h.insert(
                headers::X_KONG_RESPONSE_LATENCY.clone(),
                headers::millis_value(self.start.elapsed().as_millis()),
            );
        }
        if o.request_id {
            h.insert(
                headers::X_KONG_REQUEST_ID.clone(),
                self.request_id.header_value(),
            );
        }
        resp
    }

    /// The upstream's response as relayed to the client, with Kong's headers. The
    /// upstream's own lines ride along unparsed (see [`crate::h1::raw`]); the
    /// response's `HeaderMap` holds what Gantry sets. [`merge_relayed`] makes one map
    /// of both where a full view is needed.
    pub fn relay(
        &self,
        head: ResponseHead,
        mut body: BodyBox,
        proxy_latency: u128,
        upstream_latency: u128,
        client_version: Version,
    ) -> Response<ProxyBody> {
        let upstream_status = head.status;
        let raw = head.headers;
        let o = &self.opts.headers;
        let via = o.via.then(|| {
            let mine = headers::via_bytes(client_version);
            if !raw.has_known(Known::Via) {
                return std::borrow::Cow::Borrowed(mine);
            }
            let mut prev = raw.values_of("via").filter(|v| !v.is_empty()).peekable();
            if prev.peek().is_none() {
                return std::borrow::Cow::Borrowed(mine);
            }
            let mut joined = Vec::with_capacity(64);
            for v in prev {
                joined.extend_from_slice(v);
                joined.extend_from_slice(b", ");
            }
            joined.extend_from_slice(mine);
            std::borrow::Cow::Owned(joined)
        });
        let kong = KongHeaders {
            via,
            server: o.server && !raw.has_known(Known::Server),
            upstream_latency: o
                .upstream_latency
                .then(|| u64::try_from(upstream_latency).unwrap_or(u64::MAX)),
            proxy_latency: o
                .proxy_latency
                .then(|| u64::try_from(proxy_latency).unwrap_or(u64::MAX)),
            upstream_status: o.upstream_status.then(|| upstream_status.as_u16()),
            request_id: o.request_id.then_some(self.request_id),
        };
        body.set_relayed(Relayed::new(raw, kong));
        let mut resp = Response::new(ProxyBody::Upstream { inner: body });
        *resp.status_mut() = upstream_status;
        resp
    }
}
/// Folds a relayed response's upstream lines into its `HeaderMap`, for code that reads
/// or changes the whole header set (plugins, the HTTP/2 server).
pub fn merge_relayed(resp: &mut Response<ProxyBody>) {
    if let Some(r) = resp.body_mut().take_relayed() {
        let own = std::mem::take(resp.headers_mut());
        *resp.headers_mut() = r.merged_into(own);
    }
}
