//! Building the upstream request path from the service path and the matched route,
//! ported from Kong's `get_upstream_uri_v0` / `sanitize_uri_postfix` (kong-reference §4.7,
//! `path_handling = v0`, the only mode of the `traditional_compatible` flavor).

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
