//! Facts about the downstream side: the client address after Kong's real-IP rules
//! (`trusted_ips`, `real_ip_header`, `real_ip_recursive`) and the request's host.

use std::net::IpAddr;

use http::Uri;
use http::header::{self, HeaderMap, HeaderValue};

use crate::h1::raw::eq_folded;
use crate::handler::ProxyOptions;
use gantry_plugins::RequestHeaders;

/// The request headers the pipeline consults, found in one pass over the map: a loop
/// over a handful of entries costs less than a hash lookup for each of these.
#[derive(Debug, Default)]
pub struct HeaderScan {
    pub host: Option<http::HeaderValue>,
    pub accept: Option<http::HeaderValue>,
    pub content_type: Option<http::HeaderValue>,
    pub content_length: Option<u64>,
    pub forwarded_for: Option<http::HeaderValue>,
    pub via: Option<http::HeaderValue>,
    /// A `Connection` header is present (it may list more hop-by-hop names).
    pub connection: bool,
    /// A `TE` header is present.
    pub te: bool,
}

impl HeaderScan {
    /// The first value of each (as `HeaderMap::get` would answer), from the lines as
    /// they are (no map is built).
    pub fn of(h: &RequestHeaders) -> Self {
        let mut scan = HeaderScan::default();
        h.for_each_line(|line| {
            let name = line.name;
            let slot = if eq_folded(name, b"host") {
                &mut scan.host
            } else if eq_folded(name, b"accept") {
                &mut scan.accept
            } else if eq_folded(name, b"content-type") {
                &mut scan.content_type
            } else if eq_folded(name, b"via") {
                &mut scan.via
            } else if eq_folded(name, b"connection") {
                scan.connection = true;
                return;
            } else if eq_folded(name, b"te") {
                scan.te = true;
                return;
            } else if eq_folded(name, b"content-length") {
                if scan.content_length.is_none() {
                    scan.content_length = std::str::from_utf8(line.value)
                        .ok()
                        .and_then(|v| v.parse().ok());
                }
                return;
            } else if eq_folded(name, b"x-forwarded-for") {
                &mut scan.forwarded_for
            } else {
                return;
            };
            if slot.is_none() {
                *slot = Some(line.header_value());
            }
        });
        scan
    }

    /// Host as the client gave it (`:authority` for HTTP/2 and absolute targets, else
    /// `Host`), port included, as a header value. Its text is [`host_text`].
    pub fn host_value(&self, uri: &Uri) -> Option<HeaderValue> {
        match uri.authority() {
            Some(a) => HeaderValue::from_str(a.as_str()).ok(),
            None => self.host.clone(),
        }
    }
}

/// The text of the host from [`HeaderScan::host_value`] (empty when it is not visible
/// ASCII). Taken once per request: each reading checks every byte again.
pub fn host_text<'a>(uri: &'a Uri, value: Option<&'a HeaderValue>) -> &'a str {
    match uri.authority() {
        Some(a) => a.as_str(),
        None => value.and_then(|v| v.to_str().ok()).unwrap_or(""),
    }
}

pub fn is_trusted(opts: &ProxyOptions, ip: IpAddr) -> bool {
    opts.trusted_ips.iter().any(|n| n.contains(&ip))
}

/// `$remote_addr` after the realip module: the header's address when the peer is
/// trusted; `None` means "the TCP peer".
pub fn forwarded_ip(opts: &ProxyOptions, trusted: bool, h: &RequestHeaders) -> Option<IpAddr> {
    if !trusted {
        return None;
    }
    let value = h.get(&opts.real_ip_header).and_then(|v| v.to_str().ok())?;
    let addrs: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if opts.real_ip_recursive {
        // Rightmost address that is not itself trusted.
        addrs
            .iter()
            .rev()
            .filter_map(|a| a.parse::<IpAddr>().ok())
            .find(|ip| !is_trusted(opts, *ip))
            .or_else(|| addrs.first().and_then(|a| a.parse().ok()))
    } else {
        addrs.last().and_then(|a| a.parse().ok())
    }
}

/// Host as the client gave it (`:authority` for HTTP/2, else `Host`), port included.
pub fn request_host<'a>(uri: &'a Uri, h: &'a HeaderMap) -> &'a str {
    if let Some(a) = uri.authority() {
        return a.as_str();
    }
    h.get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

pub fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(i) => host.get(..=i).unwrap_or(host),
            None => host,
        };
    }
    // The digits after the last `:` (none at all counts too: `host:`).
    let b = host.as_bytes();
    let mut end = b.len();
    while end > 0 && b[end - 1].is_ascii_digit() {
        end -= 1;
    }
    match end.checked_sub(1) {
        Some(colon) if b[colon] == b':' => host.get(..colon).unwrap_or(host),
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use http::{HeaderMap, HeaderName, HeaderValue};
    use ipnet::IpNet;

    use super::*;

    #[test]
    fn strip_port_variants() {
        assert_eq!(strip_port("a.com:8000"), "a.com");
        assert_eq!(strip_port("a.com"), "a.com");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(strip_port("a.com:"), "a.com");
        assert_eq!(strip_port("a:b:12"), "a:b");
        assert_eq!(strip_port("a.com:80x"), "a.com:80x");
        assert_eq!(strip_port("8000"), "8000");
        assert_eq!(strip_port(":1"), "");
        assert_eq!(strip_port(""), "");
    }

    #[test]
    fn real_ip_only_from_trusted_peers() {
        let mut opts = ProxyOptions {
            trusted_ips: vec!["10.0.0.0/8".parse().unwrap_or_else(|_| IpNet::default())],
            ..ProxyOptions::default()
        };
        let mut h = HeaderMap::new();
        h.insert("x-real-ip", HeaderValue::from_static("1.2.3.4"));
        let h = RequestHeaders::from(h);
        assert_eq!(
            forwarded_ip(&opts, true, &h),
            Some(IpAddr::from([1, 2, 3, 4]))
        );
        assert_eq!(forwarded_ip(&opts, false, &h), None);
        opts.real_ip_header = HeaderName::from_static("x-forwarded-for");
        opts.real_ip_recursive = true;
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("5.5.5.5, 1.2.3.4, 10.2.2.2"),
        );
        let h = RequestHeaders::from(h);
        assert_eq!(
            forwarded_ip(&opts, true, &h),
            Some(IpAddr::from([1, 2, 3, 4]))
        );
        opts.real_ip_recursive = false;
        assert_eq!(
            forwarded_ip(&opts, true, &h),
            Some(IpAddr::from([10, 2, 2, 2]))
        );
    }
}
