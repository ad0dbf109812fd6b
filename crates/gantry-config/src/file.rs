//! Line parser for kong.conf text: `key = value`, `#` comments, `\#` escapes.

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key, trimmed (case preserved).
    pub key: String,
    /// The value: trailing comment removed, `\#` unescaped, trimmed.
    pub value: String,
    /// 1-based line number.
    pub line: usize,
}

/// A line that is neither blank, a comment, nor a valid `key = value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// 1-based line number.
    pub line: usize,
    /// Why the line was skipped.
    pub reason: String,
}

/// Parses kong.conf text. Never fails: malformed lines are reported and skipped.
///
/// Rules (as Kong's loader): blank lines and lines whose first non-blank
/// character is `#` are ignored; otherwise the text before the first `=` is
/// the key and the rest the value; in the value, everything from the first
/// `#` not preceded by `\` is a comment (along with the whitespace before it),
/// then `\#` becomes `#`; key and value are trimmed. A later line for the same
/// key overrides an earlier one.
pub fn parse_conf(text: &str) -> (Vec<Entry>, Vec<Malformed>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut entries = Vec::new();
    let mut malformed = Vec::new();
    for (idx, raw_line) in text.lines().enumerate() {
        let line = idx + 1;
        let trimmed = raw_line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            malformed.push(Malformed {
                line,
                reason: format!("ignoring line without '=': '{}'", shorten(trimmed)),
            });
            continue;
        };
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            malformed.push(Malformed {
                line,
                reason: format!("ignoring line with an invalid key: '{}'", shorten(key)),
            });
            continue;
        }
        entries.push(Entry {
            key: key.to_owned(),
            value: strip_comment(value).trim().to_owned(),
            line,
        });
    }
    (entries, malformed)
}

/// Removes a trailing comment (first `#` not preceded by `\`, plus the
/// whitespace before it) and unescapes `\#`.
pub fn strip_comment(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut cut = value.len();
    let mut prev: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && prev != Some(b'\\') {
            cut = i;
            break;
        }
        prev = Some(b);
    }
    // `cut` is at a '#' (ASCII) or at the end: always a char boundary.
    let kept = value.get(..cut).unwrap_or(value);
    let kept = if cut < value.len() {
        kept.trim_end()
    } else {
        kept
    };
    kept.replace("\\#", "#")
}

/// Truncates long text for messages (on a char boundary).
fn shorten(s: &str) -> String {
    const MAX: usize = 60;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", s.get(..i).unwrap_or("")),
        None => s.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn kv(text: &str) -> Vec<(String, String)> {
        parse_conf(text)
            .0
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect()
    }

    #[test]
    fn basic_lines() {
        let text = "\n# comment\n   # indented comment\nlog_level = debug\n  proxy_listen=0.0.0.0:80  \n\n";
        let (entries, bad) = parse_conf(text);
        assert!(bad.is_empty());
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].key, "log_level");
        assert_eq!(entries[0].value, "debug");
        assert_eq!(entries[0].line, 4);
        assert_eq!(entries[1].key, "proxy_listen");
        assert_eq!(entries[1].value, "0.0.0.0:80");
        assert_eq!(entries[1].line, 5);
    }

    #[test]
    fn trailing_comments_and_escapes() {
        assert_eq!(
            kv("log_level = debug # very verbose"),
            [("log_level".into(), "debug".into())]
        );
        assert_eq!(
            kv("log_level = debug# x"),
            [("log_level".into(), "debug".into())]
        );
        assert_eq!(
            kv(r"pg_password = abc\#def # the password"),
            [("pg_password".into(), "abc#def".into())]
        );
        assert_eq!(kv(r"x = \#\#"), [("x".into(), "##".into())]);
        assert_eq!(kv("x = # only comment"), [("x".into(), String::new())]);
    }

    #[test]
    fn empty_value_and_equals_in_value() {
        assert_eq!(kv("trusted_ips ="), [("trusted_ips".into(), String::new())]);
        assert_eq!(
            kv("nginx_http_x = a=b"),
            [("nginx_http_x".into(), "a=b".into())]
        );
    }

    #[test]
    fn malformed_lines() {
        let (entries, bad) = parse_conf("just words\n= value\nbad key = 1\nok = 1\n");
        assert_eq!(entries.len(), 1);
        assert_eq!(bad.len(), 3);
        assert_eq!(bad[0].line, 1);
        assert!(bad[0].reason.contains("without '='"));
        assert_eq!(bad[1].line, 2);
        assert_eq!(bad[2].line, 3);
        assert!(bad[2].reason.contains("invalid key"));
    }

    #[test]
    fn crlf_bom_and_duplicates() {
        let (entries, bad) = parse_conf("\u{feff}a = 1\r\nb = 2\r\na = 3\r\n");
        assert!(bad.is_empty());
        let vals: Vec<_> = entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(vals, [("a", "1"), ("b", "2"), ("a", "3")]);
    }

    #[test]
    fn unicode_is_safe() {
        let (entries, _) = parse_conf("k = é#ü\nk2 = \\é");
        assert_eq!(entries[0].value, "é");
        assert_eq!(entries[1].value, "\\é");
        let long: String = "é".repeat(200);
        let (_, bad) = parse_conf(&long);
        assert!(bad[0].reason.ends_with("...'"));
    }
}
