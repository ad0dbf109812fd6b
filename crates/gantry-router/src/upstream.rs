//! Building the upstream request path from the service path and the matched route,
//! ported from Kong's `get_upstream_uri_v0` / `sanitize_uri_postfix` (kong-reference §4.7,
//! `path_handling = v0`, the only mode of the `traditional_compatible` flavor).

use std::borrow::Cow;

/// Kong's `sanitize_uri_postfix`: a postfix of `.` or `..` becomes empty, and one leading
/// `./` or `../` is dropped.
fn sanitize_postfix(postfix: &[u8]) -> &[u8] {
    if postfix == b"." || postfix == b".." {
        return &[];
    }
    if let Some(rest) = postfix.strip_prefix(b"./") {
        return rest;
    }
    if let Some(rest) = postfix.strip_prefix(b"../") {
        return rest;
    }
    postfix
}

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

/// `head` followed by the tail of `whole` from `at`: borrowed from `whole` when `head`
/// is what stands in it just before `at` (the usual case: a service without a path,
/// where the upstream path is the request's own, or its part after the stripped prefix).
fn join<'p>(head: &[u8], whole: &'p [u8], at: usize) -> Cow<'p, [u8]> {
    let tail = whole.get(at..).unwrap_or_default();
    match at
        .checked_sub(head.len())
        .and_then(|from| whole.get(from..))
    {
        Some(joined) if whole.get(at - head.len()..at) == Some(head) => Cow::Borrowed(joined),
        _ => Cow::Owned(concat(&[head, tail])),
    }
}

/// Computes the upstream path (not yet escaped; see [`crate::escape_path`]) the way Kong's
/// `traditional_compatible` router does.
///
/// * `service_path`: the service's `path` (`None` — also for serviceless routes — means `/`);
/// * `strip_path`: the route's `strip_path`;
/// * `matched_path`: the part of the path the route matched (the literal prefix, or the
///   whole regex match), `None` when the route has no `paths`;
/// * `request_path`: the normalized request path, without query string.
///
/// When stripping, the postfix is the request path minus the matched prefix (or minus the
/// leading `/` when the route matched no path); without stripping, the whole request path
/// is appended to the service path.
pub fn upstream_path_v0(
    service_path: Option<&str>,
    strip_path: bool,
    matched_path: Option<&[u8]>,
    request_path: &[u8],
) -> Vec<u8> {
    upstream_path_v0_cow(service_path, strip_path, matched_path, request_path).into_owned()
}

/// [`upstream_path_v0`], borrowed from `request_path` where the result is a stretch of
/// it (no allocation per request for a service without a path).
pub fn upstream_path_v0_cow<'p>(
    service_path: Option<&str>,
    strip_path: bool,
    matched_path: Option<&[u8]>,
    request_path: &'p [u8],
) -> Cow<'p, [u8]> {
    let base: &[u8] = service_path.map_or(b"/", str::as_bytes);
    let prefix: &[u8] = match (strip_path, matched_path) {
        (true, Some(p)) => p,
        _ => b"/",
    };
    let postfix = sanitize_postfix(request_path.get(prefix.len()..).unwrap_or_default());
    // `sanitize_postfix` gives a tail of its input, so the postfix is a tail of the path.
    let postfix_at = request_path.len() - postfix.len();
    let request_ends_with_slash = request_path.last() == Some(&b'/');

    if let Some(base_no_slash) = base.strip_suffix(b"/") {
        if !strip_path {
            // keep the incoming path, minus its leading slash
            return join(base, request_path, 1.min(request_path.len()));
        }
        if postfix.is_empty() {
            if base == b"/" || request_ends_with_slash {
                return Cow::Owned(base.to_vec());
            }
            return Cow::Owned(base_no_slash.to_vec());
        }
        if postfix.first() == Some(&b'/') {
            return join(base_no_slash, request_path, postfix_at);
        }
        return join(base, request_path, postfix_at);
    }

    if !strip_path {
        if request_path == b"/" {
            return Cow::Owned(base.to_vec());
        }
        return Cow::Owned(concat(&[base, request_path]));
    }
    if postfix.is_empty() {
        if request_path.len() > 1 && request_ends_with_slash {
            return Cow::Owned(concat(&[base, b"/"]));
        }
        return Cow::Owned(base.to_vec());
    }
    if postfix.first() == Some(&b'/') {
        return join(base, request_path, postfix_at);
    }
    Cow::Owned(concat(&[base, b"/", postfix]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn up(svc: &str, strip: bool, matched: Option<&str>, req: &str) -> String {
        String::from_utf8(upstream_path_v0(
            Some(svc),
            strip,
            matched.map(str::as_bytes),
            req.as_bytes(),
        ))
        .unwrap()
    }

    /// The implementation before results were borrowed: every case copied.
    fn concat_only(
        service_path: Option<&str>,
        strip_path: bool,
        matched_path: Option<&[u8]>,
        request_path: &[u8],
    ) -> Vec<u8> {
        let base: &[u8] = service_path.map_or(b"/", str::as_bytes);
        let prefix: &[u8] = match (strip_path, matched_path) {
            (true, Some(p)) => p,
            _ => b"/",
        };
        let postfix = sanitize_postfix(request_path.get(prefix.len()..).unwrap_or_default());
        let request_ends_with_slash = request_path.last() == Some(&b'/');

        if let Some(base_no_slash) = base.strip_suffix(b"/") {
            if !strip_path {
                // keep the incoming path, minus its leading slash
                return concat(&[base, request_path.get(1..).unwrap_or_default()]);
            }
            if postfix.is_empty() {
                if base == b"/" || request_ends_with_slash {
                    return base.to_vec();
                }
                return base_no_slash.to_vec();
            }
            if postfix.first() == Some(&b'/') {
                return concat(&[base_no_slash, postfix]);
            }
            return concat(&[base, postfix]);
        }

        if !strip_path {
            if request_path == b"/" {
                return base.to_vec();
            }
            return concat(&[base, request_path]);
        }
        if postfix.is_empty() {
            if request_path.len() > 1 && request_ends_with_slash {
                return concat(&[base, b"/"]);
            }
            return base.to_vec();
        }
        if postfix.first() == Some(&b'/') {
            return concat(&[base, postfix]);
        }
        concat(&[base, b"/", postfix])
    }

    /// Borrowed or copied, every combination gives what the copying implementation did,
    /// and a service without a path borrows the request's path (or its stripped tail).
    #[test]
    fn borrowed_paths_are_the_copied_ones() {
        let services = [None, Some("/"), Some("/s"), Some("/s/"), Some("/a")];
        let requests = [
            "", "/", "/a", "/a/", "/a/b", "/ab", "/./x", "/../x", "/a/./b", "/a/../b", "//a",
        ];
        let matches = [None, Some("/"), Some("/a"), Some("/a/"), Some("/ab")];
        for svc in services {
            for strip in [false, true] {
                for req in requests {
                    for m in matches {
                        let got =
                            upstream_path_v0_cow(svc, strip, m.map(str::as_bytes), req.as_bytes());
                        let want = concat_only(svc, strip, m.map(str::as_bytes), req.as_bytes());
                        assert_eq!(
                            &*got,
                            &want[..],
                            "{svc:?} strip={strip} {req:?} matched {m:?}"
                        );
                    }
                }
            }
        }
        let borrowed = |svc, strip, m: Option<&str>, req: &'static str| {
            matches!(
                upstream_path_v0_cow(svc, strip, m.map(str::as_bytes), req.as_bytes()),
                Cow::Borrowed(_)
            )
        };
        assert!(borrowed(None, false, Some("/"), "/a/b"));
        assert!(borrowed(None, true, Some("/a"), "/a/b"));
        assert!(borrowed(Some("/"), true, Some("/"), "/a/b"));
        assert!(!borrowed(Some("/s"), false, Some("/"), "/a/b"));
    }

    #[test]
    fn sanitizes_postfix() {
        assert_eq!(sanitize_postfix(b"."), b"");
        assert_eq!(sanitize_postfix(b".."), b"");
        assert_eq!(sanitize_postfix(b"./x"), b"x");
        assert_eq!(sanitize_postfix(b"../x"), b"x");
        assert_eq!(sanitize_postfix(b".../x"), b".../x");
    }

    #[test]
    fn host_only_route_strip_uses_leading_slash() {
        assert_eq!(up("/service", true, None, "/route"), "/service/route");
        assert_eq!(up("/service/", true, None, "/"), "/service/");
        assert_eq!(up("/", true, None, "/a/b"), "/a/b");
    }

    #[test]
    fn none_service_path_is_root() {
        let p = upstream_path_v0(None, true, Some(b"/route"), b"/route/x");
        assert_eq!(p, b"/x");
    }
}
