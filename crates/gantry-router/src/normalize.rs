//! Request-path normalization and re-escaping, ported from Kong's `kong.tools.uri`
//! (`normalize`, `escape`) and `kong.router.utils.strip_uri_args` (kong-reference §4.2).
//!
//! Paths are handled as bytes: percent-decoding may produce bytes that are not UTF-8
//! (`%FF`), and Kong forwards those bytes (re-escaped) rather than rejecting them.

use std::borrow::Cow;

/// Kong's reserved set (`!*'();:@&=+$,/?%#[]`): percent-triplets of these are kept
/// (upper-cased) instead of being decoded.
const fn is_reserved(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'*'
            | b'\''
            | b'('
            | b')'
            | b';'
            | b':'
            | b'@'
            | b'&'
            | b'='
            | b'+'
            | b'$'
            | b','
            | b'/'
            | b'?'
            | b'%'
            | b'#'
            | b'['
            | b']'
    )
}

/// Bytes Kong forwards unescaped (`[!#$&'()*+,/:;=?@\[\]A-Za-z0-9\-_.~%]`).
const fn is_forwarded_raw(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'/'
                | b':'
                | b';'
                | b'='
                | b'?'
                | b'@'
                | b'['
                | b']'
                | b'-'
                | b'_'
                | b'.'
                | b'~'
                | b'%'
        )
}

const fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Removes the query string the way Kong's `strip_uri_args` does: everything from the
/// first `?` found at or after the second byte.
pub fn strip_query(raw: &[u8]) -> &[u8] {
    match raw.iter().skip(1).position(|b| *b == b'?') {
        Some(pos) => raw.get(..pos + 1).unwrap_or(raw),
        None => raw,
    }
}

/// Normalizes a request path exactly as Kong's router does before matching
/// (`kong.tools.uri.normalize(path, true)`):
///
/// 1. percent-triplets (hex digits in either case) of bytes outside the reserved set are
///    decoded; reserved ones are kept but upper-cased (`%2f` → `%2F`); one pass only;
/// 2. dot segments are removed per RFC 3986 (also those produced by decoding `%2E`);
/// 3. runs of `/` are merged.
///
/// The input must not contain the query string (see [`strip_query`]). Returns the input
/// unchanged (borrowed) when nothing needs rewriting.
pub fn normalize_path(path: &[u8]) -> Cow<'_, [u8]> {
    if path.is_empty() || path == b"/" {
        return Cow::Borrowed(path);
    }
    let decoded: Cow<'_, [u8]> = if path.contains(&b'%') {
        Cow::Owned(percent_decode_unreserved(path))
    } else {
        Cow::Borrowed(path)
    };
    let needs_segments = decoded.contains(&b'.') || decoded.windows(2).any(|w| w == b"//");
    if !needs_segments {
        return decoded;
    }
    Cow::Owned(remove_dot_segments(&decoded))
}

/// Step 1 of [`normalize_path`]: decode `%XX` unless `XX` is a reserved byte.
fn percent_decode_unreserved(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut rest = input;
    loop {
        match rest {
            [b'%', hi, lo, tail @ ..] => {
                if let (Some(h), Some(l)) = (hex_value(*hi), hex_value(*lo)) {
                    let value = h * 16 + l;
                    if is_reserved(value) {
                        out.extend_from_slice(&[
                            b'%',
                            hi.to_ascii_uppercase(),
                            lo.to_ascii_uppercase(),
                        ]);
                    } else {
                        out.push(value);
                    }
                    rest = tail;
                } else {
                    out.push(b'%');
                    rest = rest.get(1..).unwrap_or_default();
                }
            }
            [b, tail @ ..] => {
                out.push(*b);
                rest = tail;
            }
            [] => break,
        }
    }
    out
}

/// Steps 2 and 3 of [`normalize_path`], a byte-for-byte port of Kong's loop: the output
/// is a stack of segments, each starting with `/` (except a leading relative one).
fn remove_dot_segments(input: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(input.len());
    let mut starts: Vec<usize> = Vec::new();
    let pop = |out: &mut Vec<u8>, starts: &mut Vec<usize>| {
        if let Some(start) = starts.pop() {
            out.truncate(start);
        }
    };
    let mut rest = input;
    while !rest.is_empty() {
        if rest == b"/." {
            starts.push(out.len());
            out.push(b'/');
            break;
        }
        if rest == b"/.." {
            pop(&mut out, &mut starts);
            starts.push(out.len());
            out.push(b'/');
            break;
        }
        if rest == b"." || rest == b".." {
            break;
        }
        if let Some(r) = rest.strip_prefix(b"../") {
            rest = r;
        } else if let Some(r) = rest.strip_prefix(b"./") {
            rest = r;
        } else if rest.starts_with(b"/./") {
            rest = rest.get(2..).unwrap_or_default();
        } else if rest.starts_with(b"/../") {
            rest = rest.get(3..).unwrap_or_default();
            pop(&mut out, &mut starts);
        } else if rest.starts_with(b"//") {
            rest = rest.get(1..).unwrap_or_default();
        } else {
            let end = rest
                .iter()
                .skip(1)
                .position(|b| *b == b'/')
                .map_or(rest.len(), |p| p + 1);
            let (segment, tail) = rest.split_at_checked(end).unwrap_or((rest, &[]));
            starts.push(out.len());
            out.extend_from_slice(segment);
            rest = tail;
        }
    }
    out
}

/// [`escape_path`] of an owned path: when nothing needs escaping the bytes become the
/// string as they are (one UTF-8 check, no copy).
pub fn escape_path_owned(path: Vec<u8>) -> String {
    if path.iter().all(|b| is_forwarded_raw(*b)) {
        match String::from_utf8(path) {
            Ok(s) => s,
            Err(e) => escape_path(e.as_bytes()).into_owned(),
        }
    } else {
        escape_path(&path).into_owned()
    }
}

/// Re-escapes a (normalized) path for forwarding upstream, as Kong's `escape` does:
/// every byte outside `A-Za-z0-9` and `!#$&'()*+,/:;=?@[]-_.~%` becomes `%XX`
/// (upper-case hex). The result is always ASCII.
pub fn escape_path(path: &[u8]) -> Cow<'_, str> {
    if path.iter().all(|b| is_forwarded_raw(*b)) {
        // All bytes are ASCII, so this cannot fail; fall through defensively if it does.
        if let Ok(s) = std::str::from_utf8(path) {
            return Cow::Borrowed(s);
        }
    }
    let hex = |n: u8| char::from(if n < 10 { b'0' + n } else { b'A' + n - 10 });
    let mut out = String::with_capacity(path.len() + 8);
    for &b in path {
        if is_forwarded_raw(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(hex(b >> 4));
            out.push(hex(b & 0x0f));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        String::from_utf8(normalize_path(s.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn decodes_unreserved_and_uppercases_reserved() {
        assert_eq!(norm("/%61%62c"), "/abc");
        assert_eq!(norm("/a%2fb"), "/a%2Fb");
        assert_eq!(norm("/a%2Fb"), "/a%2Fb");
        assert_eq!(norm("/%7e%7E"), "/~~");
        assert_eq!(norm("/%3a%40"), "/%3A%40");
        assert_eq!(norm("/%20x"), "/ x");
        // single pass: %25 stays encoded and is not decoded again
        assert_eq!(norm("/%2541"), "/%2541");
        // incomplete triplets are kept verbatim
        assert_eq!(norm("/%4"), "/%4");
        assert_eq!(norm("/%zz%"), "/%zz%");
    }

    #[test]
    fn resolves_dot_segments() {
        assert_eq!(norm("/a/b/../c"), "/a/c");
        assert_eq!(norm("/a/./b"), "/a/b");
        assert_eq!(norm("/a/%2E%2E/b"), "/b");
        assert_eq!(norm("/a/%2e/b"), "/a/b");
        assert_eq!(norm("/a/.%2e/b"), "/b");
        assert_eq!(norm("/.."), "/");
        assert_eq!(norm("/../../a"), "/a");
        assert_eq!(norm("/a/.."), "/");
        assert_eq!(norm("/a/b/."), "/a/b/");
        assert_eq!(norm("/a/b/.."), "/a/");
        assert_eq!(norm("/route./req"), "/route./req");
        assert_eq!(norm("/route%2E/req"), "/route./req");
        assert_eq!(norm("/route../req"), "/route../req");
        assert_eq!(norm("/.hidden"), "/.hidden");
    }

    #[test]
    fn merges_slashes() {
        assert_eq!(norm("//a///b//"), "/a/b/");
        assert_eq!(norm("/a//../b"), "/b");
        assert_eq!(norm("/a%2F%2Fb"), "/a%2F%2Fb");
        assert_eq!(norm("/"), "/");
        assert_eq!(norm(""), "");
    }

    #[test]
    fn keeps_simple_paths_borrowed() {
        assert!(matches!(normalize_path(b"/a/b/c"), Cow::Borrowed(_)));
    }

    #[test]
    fn non_utf8_bytes_survive() {
        assert_eq!(normalize_path(b"/%FF").as_ref(), b"/\xff");
        assert_eq!(escape_path(b"/\xff x"), "/%FF%20x");
    }

    #[test]
    fn strips_query_from_second_byte() {
        assert_eq!(strip_query(b"/a?b=c"), b"/a");
        assert_eq!(strip_query(b"/a?"), b"/a");
        assert_eq!(strip_query(b"?a?b"), b"?a");
        assert_eq!(strip_query(b""), b"");
    }

    #[test]
    fn escapes_like_kong() {
        assert_eq!(
            escape_path(b"/a b\"<>{}|\\^`"),
            "/a%20b%22%3C%3E%7B%7D%7C%5C%5E%60"
        );
        assert_eq!(
            escape_path(b"/!#$&'()*+,/:;=?@[]-_.~%"),
            "/!#$&'()*+,/:;=?@[]-_.~%"
        );
    }
}
