//! The `headers` and `headers_upstream` token lists.

use std::fmt;

/// Which informational headers Gantry adds to responses (`headers` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ResponseHeaders {
    /// `Server: kong/<version>` (token `Server`, or `server_tokens`).
    pub server: bool,
    /// `Via: <http version> kong/<version>` (token `Via`, or `server_tokens`).
    pub via: bool,
    /// `X-Kong-Proxy-Latency` (or `latency_tokens`).
    pub proxy_latency: bool,
    /// `X-Kong-Response-Latency` (or `latency_tokens`).
    pub response_latency: bool,
    /// `X-Kong-Admin-Latency` (or `latency_tokens`).
    pub admin_latency: bool,
    /// `X-Kong-Upstream-Latency` (or `latency_tokens`).
    pub upstream_latency: bool,
    /// `X-Kong-Upstream-Status` (only when listed explicitly).
    pub upstream_status: bool,
    /// `X-Kong-Request-Id`.
    pub request_id: bool,
}

impl ResponseHeaders {
    /// Kong's default: `server_tokens, latency_tokens, X-Kong-Request-Id`.
    pub const KONG_DEFAULT: ResponseHeaders = ResponseHeaders {
        server: true,
        via: true,
        proxy_latency: true,
        response_latency: true,
        admin_latency: true,
        upstream_latency: true,
        upstream_status: false,
        request_id: true,
    };

    /// Parses the `headers` token list (tokens are case-insensitive; `off`
    /// as the first token disables everything). Unknown tokens fail with
    /// Kong's message `headers: invalid entry '<token>'`.
    pub fn parse(tokens: &[String]) -> Result<Self, String> {
        let mut h = ResponseHeaders::default();
        for token in tokens {
            match token.to_ascii_lowercase().as_str() {
                "off" => {}
                "server_tokens" => {
                    h.server = true;
                    h.via = true;
                }
                "latency_tokens" => {
                    h.proxy_latency = true;
                    h.response_latency = true;
                    h.admin_latency = true;
                    h.upstream_latency = true;
                }
                "server" => h.server = true,
                "via" => h.via = true,
                "x-kong-proxy-latency" => h.proxy_latency = true,
                "x-kong-response-latency" => h.response_latency = true,
                "x-kong-admin-latency" => h.admin_latency = true,
                "x-kong-upstream-latency" => h.upstream_latency = true,
                "x-kong-upstream-status" => h.upstream_status = true,
                "x-kong-request-id" => h.request_id = true,
                _ => return Err(format!("headers: invalid entry '{token}'")),
            }
        }
        if tokens
            .first()
            .is_some_and(|t| t.eq_ignore_ascii_case("off"))
        {
            return Ok(ResponseHeaders::default());
        }
        Ok(h)
    }

    /// True when no header is enabled.
    pub fn is_off(&self) -> bool {
        *self == ResponseHeaders::default()
    }
}

impl fmt::Display for ResponseHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (self.server, "Server"),
            (self.via, "Via"),
            (self.proxy_latency, "X-Kong-Proxy-Latency"),
            (self.response_latency, "X-Kong-Response-Latency"),
            (self.admin_latency, "X-Kong-Admin-Latency"),
            (self.upstream_latency, "X-Kong-Upstream-Latency"),
            (self.upstream_status, "X-Kong-Upstream-Status"),
            (self.request_id, "X-Kong-Request-Id"),
        ];
        let on: Vec<&str> = names.iter().filter(|(b, _)| *b).map(|(_, n)| *n).collect();
        if on.is_empty() {
            f.write_str("off")
        } else {
            f.write_str(&on.join(", "))
        }
    }
}

/// Which headers Gantry adds to upstream requests (`headers_upstream`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct UpstreamHeaders {
    /// `X-Kong-Request-Id`.
    pub request_id: bool,
}

impl UpstreamHeaders {
    /// Kong's default: `X-Kong-Request-Id`.
    pub const KONG_DEFAULT: UpstreamHeaders = UpstreamHeaders { request_id: true };

    /// Parses the `headers_upstream` token list (`off` or `X-Kong-Request-Id`).
    pub fn parse(tokens: &[String]) -> Result<Self, String> {
        let mut h = UpstreamHeaders::default();
        for token in tokens {
            match token.to_ascii_lowercase().as_str() {
                "off" => {}
                "x-kong-request-id" => h.request_id = true,
                _ => return Err(format!("headers_upstream: invalid entry '{token}'")),
            }
        }
        if tokens
            .first()
            .is_some_and(|t| t.eq_ignore_ascii_case("off"))
        {
            return Ok(UpstreamHeaders::default());
        }
        Ok(h)
    }
}

impl fmt::Display for UpstreamHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.request_id {
            "X-Kong-Request-Id"
        } else {
            "off"
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        crate::values::parse_list(s)
    }

    #[test]
    fn kong_default() {
        let h = ResponseHeaders::parse(&toks("server_tokens, latency_tokens, x-kong-request-id"))
            .unwrap();
        assert_eq!(h, ResponseHeaders::KONG_DEFAULT);
        assert!(!h.upstream_status);
    }

    #[test]
    fn individual_tokens() {
        let h = ResponseHeaders::parse(&toks("Server, X-Kong-Upstream-Status")).unwrap();
        assert!(h.server && h.upstream_status);
        assert!(!h.via && !h.request_id && !h.proxy_latency);
        assert_eq!(h.to_string(), "Server, X-Kong-Upstream-Status");
        let h = ResponseHeaders::parse(&toks("via,X-KONG-PROXY-LATENCY")).unwrap();
        assert!(h.via && h.proxy_latency && !h.server);
        let h = ResponseHeaders::parse(&toks(
            "x-kong-response-latency, x-kong-admin-latency, x-kong-upstream-latency",
        ))
        .unwrap();
        assert!(h.response_latency && h.admin_latency && h.upstream_latency);
    }

    #[test]
    fn off() {
        let h = ResponseHeaders::parse(&toks("off")).unwrap();
        assert!(h.is_off());
        assert_eq!(h.to_string(), "off");
        assert!(
            ResponseHeaders::parse(&toks("off, server_tokens"))
                .unwrap()
                .is_off()
        );
        // `off` after other tokens is ignored, as in Kong
        assert!(
            ResponseHeaders::parse(&toks("server_tokens, off"))
                .unwrap()
                .server
        );
        assert!(ResponseHeaders::parse(&[]).unwrap().is_off());
    }

    #[test]
    fn invalid() {
        assert_eq!(
            ResponseHeaders::parse(&toks("server_tokens, X-Powered-By")).unwrap_err(),
            "headers: invalid entry 'X-Powered-By'"
        );
        assert_eq!(
            UpstreamHeaders::parse(&toks("Server")).unwrap_err(),
            "headers_upstream: invalid entry 'Server'"
        );
    }

    #[test]
    fn upstream() {
        assert_eq!(
            UpstreamHeaders::parse(&toks("x-kong-request-id")).unwrap(),
            UpstreamHeaders::KONG_DEFAULT
        );
        assert!(!UpstreamHeaders::parse(&toks("off")).unwrap().request_id);
        assert_eq!(
            UpstreamHeaders::KONG_DEFAULT.to_string(),
            "X-Kong-Request-Id"
        );
        assert_eq!(UpstreamHeaders::default().to_string(), "off");
    }
}
