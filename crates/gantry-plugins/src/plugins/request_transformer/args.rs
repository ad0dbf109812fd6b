//! Query strings and url-encoded bodies as Kong's Lua sees them: the table of
//! `ngx.decode_args` / `kong.request.get_query()` (a flag, a string, or an
//! array of both per name), and the two encoders request-transformer uses:
//! `ngx.encode_args` for bodies and `kong.service.request.set_query` (each
//! name's pairs, sorted lexicographically) for the query string.

use percent_encoding::percent_decode;

/// One argument's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgVal {
    /// Present without `=` (Lua `true`).
    Flag,
    /// One value.
    Str(Vec<u8>),
    /// Repeated (a Lua array); `None` items are flags.
    Many(Vec<Option<Vec<u8>>>),
}

/// Decoded arguments in first-seen order, one entry per name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArgTable(Vec<(Vec<u8>, ArgVal)>);

fn unescape(s: &[u8]) -> Vec<u8> {
    let plus: Vec<u8> = s
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&plus).collect()
}

/// Kong's `append_value`: a string becomes `{old, new}`, an array gets `new`
/// appended, anything else (absent, a flag) is replaced by `{new}`.
pub fn append_value(current: Option<ArgVal>, value: Vec<u8>) -> ArgVal {
    match current {
        Some(ArgVal::Str(s)) => ArgVal::Many(vec![Some(s), Some(value)]),
        Some(ArgVal::Many(mut items)) => {
            items.push(Some(value));
            ArgVal::Many(items)
        }
        Some(ArgVal::Flag) | None => ArgVal::Many(vec![Some(value)]),
    }
}

/// `ngx.escape_uri` (URI component): everything but `A-Za-z0-9-._~!'()*` is
/// percent-encoded.
pub fn escape_component(s: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        if b.is_ascii_alphanumeric() || b"-._~!'()*".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

impl ArgTable {
    /// `ngx.decode_args`: `&`-separated, `+` is a space, percent-decoded; a
    /// name without `=` is a flag; pairs with an empty name are dropped.
    pub fn decode(raw: &[u8]) -> ArgTable {
        let mut t = ArgTable::default();
        for part in raw.split(|&b| b == b'&') {
            if part.is_empty() {
                continue;
            }
            let (k, v) = match part.iter().position(|&b| b == b'=') {
                Some(i) => (&part[..i], Some(&part[i + 1..])),
                None => (part, None),
            };
            let k = unescape(k);
            if k.is_empty() {
                continue;
            }
            let v = v.map(unescape);
            match t.0.iter_mut().find(|(name, _)| *name == k) {
                Some((_, cur)) => {
                    let prev = std::mem::replace(cur, ArgVal::Flag);
                    *cur = match prev {
                        ArgVal::Flag => ArgVal::Many(vec![None, v]),
                        ArgVal::Str(s) => ArgVal::Many(vec![Some(s), v]),
                        ArgVal::Many(mut items) => {
                            items.push(v);
                            ArgVal::Many(items)
                        }
                    };
                }
                None => t.0.push((
                    k,
                    match v {
                        Some(v) => ArgVal::Str(v),
                        None => ArgVal::Flag,
                    },
                )),
            }
        }
        t
    }

    /// Whether there is no argument.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `t[name]`.
    pub fn get(&self, name: &[u8]) -> Option<&ArgVal> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// `t[name] = value` (in place when present, else appended).
    pub fn set(&mut self, name: &[u8], value: ArgVal) {
        match self.0.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = value,
            None => self.0.push((name.to_vec(), value)),
        }
    }

    /// `t[name] = nil`, returning the old value.
    pub fn remove(&mut self, name: &[u8]) -> Option<ArgVal> {
        let i = self.0.iter().position(|(k, _)| k == name)?;
        Some(self.0.remove(i).1)
    }

    /// Kong's `rename(tbl, old, new)`: moves a present value unless the names
    /// are equal; `true` when something moved.
    pub fn rename(&mut self, old: &[u8], new: &[u8]) -> bool {
        if old == new {
            return false;
        }
        match self.remove(old) {
            Some(v) => {
                self.set(new, v);
                true
            }
            None => false,
        }
    }

    /// The entries.
    pub fn iter(&self) -> impl Iterator<Item = &(Vec<u8>, ArgVal)> {
        self.0.iter()
    }

    fn encode_one(name: &[u8], value: &ArgVal, out: &mut String) {
        let pair = |v: Option<&[u8]>, out: &mut String| {
            escape_component(name, out);
            if let Some(v) = v {
                out.push('=');
                escape_component(v, out);
            }
        };
        match value {
            ArgVal::Flag => pair(None, out),
            ArgVal::Str(s) => pair(Some(s), out),
            ArgVal::Many(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push('&');
                    }
                    pair(item.as_deref(), out);
                }
            }
        }
    }

    /// `ngx.encode_args` (Lua's table order is unspecified; this keeps the
    /// table's order).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            Self::encode_one(k, v, &mut out);
        }
        out
    }

    /// `kong.service.request.set_query`: each name encoded by
    /// `ngx.encode_args`, the pieces sorted and joined with `&`.
    pub fn encode_sorted(&self) -> String {
        let mut pieces: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| {
                let mut s = String::new();
                Self::encode_one(k, v, &mut s);
                s
            })
            .collect();
        pieces.sort();
        pieces.join("&")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn decode_like_ngx() {
        let t = ArgTable::decode(b"a=1&b&a=2&c=&=x&d=x%20y+z&&e=1=2&b=3");
        assert_eq!(
            t.get(b"a"),
            Some(&ArgVal::Many(vec![
                Some(b"1".to_vec()),
                Some(b"2".to_vec())
            ]))
        );
        assert_eq!(
            t.get(b"b"),
            Some(&ArgVal::Many(vec![None, Some(b"3".to_vec())]))
        );
        assert_eq!(t.get(b"c"), Some(&ArgVal::Str(Vec::new())));
        assert_eq!(t.get(b"d"), Some(&ArgVal::Str(b"x y z".to_vec())));
        assert_eq!(t.get(b"e"), Some(&ArgVal::Str(b"1=2".to_vec())));
        assert_eq!(t.get(b""), None);
        assert_eq!(t.iter().count(), 5);
    }

    #[test]
    fn encoders() {
        let t = ArgTable::decode(b"z=1&b=x%20y&flag&a=2&a&e=&u=%C3%A9%2F*");
        assert_eq!(t.encode(), "z=1&b=x%20y&flag&a=2&a&e=&u=%C3%A9%2F*");
        assert_eq!(t.encode_sorted(), "a=2&a&b=x%20y&e=&flag&u=%C3%A9%2F*&z=1");
        assert_eq!(ArgTable::default().encode_sorted(), "");
    }

    #[test]
    fn append_and_rename() {
        assert_eq!(
            append_value(None, b"v".to_vec()),
            ArgVal::Many(vec![Some(b"v".to_vec())])
        );
        assert_eq!(
            append_value(Some(ArgVal::Flag), b"v".to_vec()),
            ArgVal::Many(vec![Some(b"v".to_vec())])
        );
        assert_eq!(
            append_value(Some(ArgVal::Str(b"o".to_vec())), b"v".to_vec()),
            ArgVal::Many(vec![Some(b"o".to_vec()), Some(b"v".to_vec())])
        );
        let mut t = ArgTable::decode(b"a=1&b=2");
        assert!(!t.rename(b"a", b"a"));
        assert!(!t.rename(b"x", b"y"));
        assert!(t.rename(b"a", b"b"));
        assert_eq!(t.encode(), "b=1");
    }
}
