//! Penlight's `pl.pretty.write` for error trees: Kong embeds it in messages.

use super::tree::{ErrKey, ErrorTree};

/// Renders an error tree exactly as `require("pl.pretty").write(t, space)` does
/// for the equivalent Lua table. Kong uses `space = ""` for
/// `declarative config is invalid: {...}` and the default `"  "` for nested
/// values in schema-violation messages.
pub fn write(tree: &ErrorTree, space: &str) -> String {
    let mut w = Writer {
        lines: Vec::new(),
        line: String::new(),
        space,
        set: if space.is_empty() { "=" } else { " = " },
    };
    w.write_it(tree, "", space);
    w.eat_last_comma();
    w.lines.join(if space.is_empty() { "" } else { "\n" })
}

struct Writer<'a> {
    lines: Vec<String>,
    line: String,
    space: &'a str,
    set: &'static str,
}

impl Writer<'_> {
    fn put(&mut self, s: &str) {
        self.line.push_str(s);
    }

    fn putln(&mut self, s: &str) {
        if self.line.is_empty() {
            self.lines.push(s.to_string());
        } else {
            self.line.push_str(s);
            self.lines.push(std::mem::take(&mut self.line));
        }
    }

    fn eat_last_comma(&mut self) {
        if let Some(last) = self.lines.last_mut()
            && last.ends_with(',')
        {
            last.pop();
        }
    }

    fn write_it(&mut self, t: &ErrorTree, old_indent: &str, indent: &str) {
        match t {
            ErrorTree::Message(s) => {
                let q = quote_string(s);
                self.putln(&format!("{q},"));
            }
            ErrorTree::List(items) => {
                let new_indent = format!("{indent}{}", self.space);
                self.putln("{");
                for s in items {
                    self.put(indent);
                    self.write_it(&ErrorTree::Message(s.clone()), indent, &new_indent);
                }
                self.eat_last_comma();
                self.putln(&format!("{old_indent}}},"));
            }
            ErrorTree::Node(map) => {
                let new_indent = format!("{indent}{}", self.space);
                self.putln("{");
                // the "ipairs" part: 1..n without holes
                let mut n = 0usize;
                while let Some(v) = map.get(&ErrKey::Index(n + 1)) {
                    self.put(indent);
                    self.write_it(v, indent, &new_indent);
                    n += 1;
                }
                // string keys, sorted
                for (k, v) in map {
                    if let ErrKey::Field(name) = k {
                        let key = if is_identifier(name) {
                            name.clone()
                        } else {
                            let q = quote_string(name);
                            if q.starts_with('[') {
                                format!("[ {q} ]")
                            } else {
                                format!("[{q}]")
                            }
                        };
                        self.put(&format!("{indent}{key}{}", self.set));
                        self.write_it(v, indent, &new_indent);
                    }
                }
                // remaining numeric keys
                for (k, v) in map {
                    if let ErrKey::Index(i) = k
                        && *i > n
                    {
                        self.put(&format!("{indent}[{i}]{}", self.set));
                        self.write_it(v, indent, &new_indent);
                    }
                }
                self.eat_last_comma();
                self.putln(&format!("{old_indent}}},"));
            }
        }
    }
}

const LUA_KEYWORDS: [&str; 22] = [
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
];

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !LUA_KEYWORDS.contains(&s)
}

/// Longest run of `=` in a Lua long-bracket delimiter found in `s`, if any.
fn long_quote_level(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut best: Option<usize> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b.get(i).copied().unwrap_or(0);
        if c == b'[' || c == b']' {
            let mut j = i + 1;
            while b.get(j) == Some(&b'=') {
                j += 1;
            }
            if b.get(j) == Some(&c) {
                let level = j - i - 1;
                best = Some(best.map_or(level, |x| x.max(level)));
                i = j;
                continue;
            }
        }
        i += 1;
    }
    best
}

/// `pl.stringx.quote_string`: `%q` quoting, or a long bracket for multi-line text.
fn quote_string(s: &str) -> String {
    let level = long_quote_level(s);
    if s.contains('\n') || level.is_some() {
        let eq = "=".repeat(level.map_or(0, |l| l + 1));
        let body = if s.starts_with('\n') {
            format!("\n{s}")
        } else {
            s.to_string()
        };
        return format!("[{eq}[{body}]{eq}]");
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if (c as u32) < 32 || c as u32 == 127 => out.push_str(&format!("\\{}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(items: Vec<(ErrKey, ErrorTree)>) -> ErrorTree {
        ErrorTree::Node(items.into_iter().collect())
    }

    #[test]
    fn compact_form_matches_penlight() {
        let t = node(vec![(
            ErrKey::field("services"),
            node(vec![(
                ErrKey::Index(1),
                node(vec![(ErrKey::field("name"), ErrorTree::msg("x"))]),
            )]),
        )]);
        assert_eq!(write(&t, ""), r#"{services={{name="x"}}}"#);
    }

    #[test]
    fn non_identifier_keys_are_bracketed_and_holes_indexed() {
        let t = node(vec![
            (ErrKey::Index(2), ErrorTree::msg("b")),
            (
                ErrKey::field("my-route"),
                ErrorTree::List(vec!["m\"q".into()]),
            ),
            (ErrKey::field("@entity"), ErrorTree::List(vec!["e".into()])),
        ]);
        assert_eq!(
            write(&t, ""),
            r#"{["@entity"]={"e"},["my-route"]={"m\"q"},[2]="b"}"#
        );
    }

    #[test]
    fn indented_form_matches_penlight() {
        let t = node(vec![(ErrKey::field("timeout"), ErrorTree::msg("bad"))]);
        assert_eq!(write(&t, "  "), "{\n  timeout = \"bad\"\n}");
        assert_eq!(write(&ErrorTree::new(), "  "), "{\n}");
        assert_eq!(write(&ErrorTree::new(), ""), "{}");
    }
}
