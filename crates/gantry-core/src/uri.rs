//! Kong's URI path normalization (`kong/tools/uri.lua`), shared by route
//! validation and the router.

const RESERVED: &[u8] = b"!#$%&'()*+,/:;=?@[]";

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` triplets of unreserved characters; reserved ones are kept
/// and upper-cased (`%2f` → `%2F`).
pub fn decode_unreserved(path: &str) -> Vec<u8> {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b.get(i).copied().unwrap_or(0);
        if c == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            )
        {
            let n = h * 16 + l;
            if RESERVED.contains(&n) {
                out.push(b'%');
                out.extend(b.get(i + 1..i + 3).unwrap_or_default().to_ascii_uppercase());
            } else {
                out.push(n);
            }
            i += 3;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// `normalize(uri, merge_slashes)`: percent-decodes unreserved characters,
/// removes dot segments (RFC 3986 §5.2.4) and optionally merges `//`.
pub fn normalize(uri: &str, merge_slashes: bool) -> String {
    let out = remove_dot_segments(&decode_unreserved(uri), merge_slashes);
    String::from_utf8_lossy(&out).into_owned()
}

/// nginx's `$uri` of a request path: every `%XX` decoded (reserved bytes too;
/// a `%` not followed by two hex digits stays), dot segments removed, `//`
/// merged (`merge_slashes on`, nginx's default).
pub fn nginx_uri(path: &str) -> Vec<u8> {
    let b = path.as_bytes();
    let mut decoded = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            )
        {
            decoded.push(h * 16 + l);
            i += 3;
            continue;
        }
        decoded.push(c);
        i += 1;
    }
    remove_dot_segments(&decoded, true)
}

/// RFC 3986 §5.2.4 on bytes, optionally merging `//`.
pub fn remove_dot_segments(path: &[u8], merge_slashes: bool) -> Vec<u8> {
    let mut input: &[u8] = path;
    let mut out: Vec<&[u8]> = Vec::new();
    while !input.is_empty() {
        let at = |i: usize| input.get(i).copied();
        if input == b"/." {
            input = b"/";
        } else if input == b"/.." {
            input = b"/";
            out.pop();
        } else if input == b"." || input == b".." {
            input = b"";
        } else if at(0) == Some(b'.') && at(1) == Some(b'.') && at(2) == Some(b'/') {
            input = input.get(3..).unwrap_or_default();
        } else if (at(0) == Some(b'.') && at(1) == Some(b'/'))
            || (at(0) == Some(b'/') && at(1) == Some(b'.') && at(2) == Some(b'/'))
        {
            input = input.get(2..).unwrap_or_default();
        } else if at(0) == Some(b'/')
            && at(1) == Some(b'.')
            && at(2) == Some(b'.')
            && at(3) == Some(b'/')
        {
            input = input.get(3..).unwrap_or_default();
            out.pop();
        } else if merge_slashes && at(0) == Some(b'/') && at(1) == Some(b'/') {
            input = input.get(1..).unwrap_or_default();
        } else {
            let next = input
                .get(1..)
                .and_then(|r| r.iter().position(|c| *c == b'/'))
                .map(|p| p + 1);
            match next {
                Some(i) => {
                    out.push(input.get(..i).unwrap_or_default());
                    input = input.get(i..).unwrap_or_default();
                }
                None => {
                    out.push(input);
                    input = b"";
                }
            }
        }
    }
    out.concat()
}

#[cfg(test)]
mod tests {
    use super::{nginx_uri, normalize};

    #[test]
    fn nginx_uri_decodes_everything_then_resolves_dots() {
        assert_eq!(nginx_uri("/a%20b"), b"/a b");
        assert_eq!(nginx_uri("/a%2Fb%2f%2fc"), b"/a/b/c");
        assert_eq!(nginx_uri("/a/%2e%2e/b//c/."), b"/b/c/");
        assert_eq!(nginx_uri("/100%"), b"/100%");
        assert_eq!(nginx_uri("/%zz%4"), b"/%zz%4");
        assert_eq!(nginx_uri("/%ff"), b"/\xff");
    }

    #[test]
    fn removes_dot_segments_and_merges_slashes() {
        assert_eq!(normalize("/a/./b/../c", true), "/a/c");
        assert_eq!(normalize("/a//b", true), "/a/b");
        assert_eq!(normalize("/a//b", false), "/a//b");
        assert_eq!(normalize("/..", true), "/");
        assert_eq!(normalize("/", true), "/");
    }

    #[test]
    fn decodes_only_unreserved_triplets() {
        assert_eq!(normalize("/%61b", true), "/ab");
        assert_eq!(normalize("/a%2fb", true), "/a%2Fb");
        assert_eq!(normalize("/a%2e%2e/b", true), "/a../b");
        assert_eq!(normalize("/a/%2e%2e/b", true), "/b");
    }
}
