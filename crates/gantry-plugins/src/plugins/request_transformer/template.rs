//! request-transformer value templates: Kong renders each value with Penlight's
//! `pl.template` (`$(...)` holds a Lua expression evaluated in a sandbox whose
//! `headers`, `query_params`, `uri_captures` and `shared` tables are loaded
//! lazily from the request). Gantry has no Lua: it parses the expression subset
//! people write in these templates and rejects the rest when the configuration is
//! validated.
//!
//! Supported inside `$(...)`:
//! - lookups: `headers.x_y`, `headers["x-y"]`, `query_params.q`,
//!   `query_params["q"]`, `uri_captures.name`, `uri_captures[1]`, `shared.k`,
//!   and `[n]` on a multi-valued header or query argument (1-based);
//! - string literals (`'…'`, `"…"` with Lua's escapes), integer literals,
//!   `nil`, `true`, `false`;
//! - `or`, `and`, `not` and parentheses, with Lua's truthiness (only `nil` and
//!   `false` are false) and values (`a or b` is `a` when `a` is true).
//!
//! Rendering follows Penlight: literal text is copied, each `$(e)` becomes
//! `tostring(e or '')`. A `$(` without its balanced `)` is literal text.
//! Differences: a value that is a Lua table (a repeated header or query
//! argument) renders as its values joined with `", "` (Kong prints the table's
//! address); `shared` is always empty (Gantry has no `kong.ctx.shared`); indexing
//! a missing value gives `nil` instead of a Lua error; whole tables such as
//! `$(headers)` render as an empty string.

use http::HeaderMap;

use super::args::{ArgTable, ArgVal};
use crate::ctx::RequestCtx;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Expr(Expr),
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Nil,
    Bool(bool),
    Str(Vec<u8>),
    Num(String),
    Var(String, Vec<Index>),
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
enum Index {
    Name(Vec<u8>),
    Int(i64),
}

/// The lazily loaded template environment of one request (Kong's
/// `__meta_environment`): `headers` and `query_params` are read from the
/// request the first time a template uses them and kept for the rest of the
/// plugin run, so later changes are not seen.
#[derive(Debug, Default)]
pub struct Env {
    headers: Option<HeaderMap>,
    query: Option<ArgTable>,
}

impl Env {
    /// `template_env.query_params`, loading it now if no template used it yet.
    pub fn query(&mut self, ctx: &RequestCtx) -> &ArgTable {
        self.query
            .get_or_insert_with(|| ArgTable::decode(ctx.query.as_deref().unwrap_or("").as_bytes()))
    }

    fn headers(&mut self, ctx: &RequestCtx) -> &HeaderMap {
        self.headers.get_or_insert_with(|| (*ctx.headers).clone())
    }
}

impl Template {
    /// Parses a template; `Err` says what is not supported.
    pub fn parse(src: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = src;
        while let Some(pos) = rest.find("$(") {
            let open = pos + 1;
            match balanced_close(&rest[open..]) {
                Some(len) => {
                    lit.push_str(&rest[..pos]);
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    let inner = &rest[open + 1..open + len - 1];
                    parts.push(Part::Expr(parse_expr(inner)?));
                    rest = &rest[open + len..];
                }
                None => {
                    // no balanced `)`: the `$` is literal, keep scanning after it
                    lit.push_str(&rest[..open]);
                    rest = &rest[open..];
                }
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template { parts })
    }

    /// Whether the template has no `$(...)` at all.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    /// Renders against the request.
    pub fn render(&self, env: &mut Env, ctx: &RequestCtx) -> Vec<u8> {
        let mut out = Vec::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.extend_from_slice(s.as_bytes()),
                Part::Expr(e) => {
                    let v = eval(e, env, ctx);
                    if v.truthy() {
                        v.write_to(&mut out);
                    }
                }
            }
        }
        out
    }
}

/// Length of the balanced `(...)` group at the start of `s` (Lua's `%b()`).
fn balanced_close(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(Vec<u8>),
    Num(String),
    Dot,
    LBracket,
    RBracket,
    LParen,
    RParen,
}

const UNSUPPORTED: &str = "only lookups in headers, query_params, uri_captures and shared, \
     string and integer literals, nil, true, false, 'or', 'and', 'not' and parentheses \
     are supported";

fn tokenize(src: &str) -> Result<Vec<Tok>, String> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => i += 1,
            b'.' => {
                if b.get(i + 1) == Some(&b'.') {
                    return Err(format!("'..' is not supported: {UNSUPPORTED}"));
                }
                out.push(Tok::Dot);
                i += 1;
            }
            b'[' => {
                if matches!(b.get(i + 1), Some(b'[' | b'=')) {
                    return Err(format!("long strings are not supported: {UNSUPPORTED}"));
                }
                out.push(Tok::LBracket);
                i += 1;
            }
            b']' => {
                out.push(Tok::RBracket);
                i += 1;
            }
            b'(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            b')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            b'\'' | b'"' => {
                let (s, next) = lua_string(b, i)?;
                out.push(Tok::Str(s));
                i = next;
            }
            b'0'..=b'9' => {
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                    return Err(format!(
                        "only integer literals are supported: {UNSUPPORTED}"
                    ));
                }
                out.push(Tok::Num(src[start..i].to_string()));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                out.push(Tok::Ident(src[start..i].to_string()));
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(format!("unexpected '{ch}': {UNSUPPORTED}"));
            }
        }
    }
    Ok(out)
}

/// A Lua short string literal starting at `b[start]` (a quote); returns its
/// bytes and the index after the closing quote.
fn lua_string(b: &[u8], start: usize) -> Result<(Vec<u8>, usize), String> {
    let quote = b[start];
    let mut out = Vec::new();
    let mut i = start + 1;
    while i < b.len() {
        let c = b[i];
        if c == quote {
            return Ok((out, i + 1));
        }
        if c == b'\n' || c == b'\r' {
            return Err("unfinished string".into());
        }
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        let Some(&e) = b.get(i) else {
            return Err("unfinished string".into());
        };
        i += 1;
        match e {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'v' => out.push(0x0b),
            b'\\' | b'"' | b'\'' | b'\n' => out.push(e),
            b'x' => {
                let hex = b.get(i..i + 2).and_then(|h| std::str::from_utf8(h).ok());
                let v = hex
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("invalid escape sequence")?;
                out.push(v);
                i += 2;
            }
            b'0'..=b'9' => {
                let mut v: u32 = u32::from(e - b'0');
                for _ in 0..2 {
                    match b.get(i) {
                        Some(d) if d.is_ascii_digit() => {
                            v = v * 10 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(u8::try_from(v).map_err(|_| "escape sequence too large")?);
            }
            _ => return Err("invalid escape sequence".into()),
        }
    }
    Err("unfinished string".into())
}

fn parse_expr(src: &str) -> Result<Expr, String> {
    let toks = tokenize(src)?;
    if toks.is_empty() {
        return Err("empty expression".into());
    }
    let mut p = Parser { toks, pos: 0 };
    let e = p.or_expr()?;
    if p.pos != p.toks.len() {
        return Err(format!("unexpected symbol: {UNSUPPORTED}"));
    }
    Ok(e)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == kw)
    }

    fn or_expr(&mut self) -> Result<Expr, String> {
        let mut e = self.and_expr()?;
        while self.keyword("or") {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and_expr()?));
        }
        Ok(e)
    }

    fn and_expr(&mut self) -> Result<Expr, String> {
        let mut e = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Expr::Str(s)),
            Some(Tok::Num(n)) => Ok(Expr::Num(n)),
            Some(Tok::LParen) => {
                let e = self.or_expr()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err("')' expected".into()),
                }
            }
            Some(Tok::Ident(id)) => match id.as_str() {
                "nil" => Ok(Expr::Nil),
                "true" => Ok(Expr::Bool(true)),
                "false" => Ok(Expr::Bool(false)),
                "or" | "and" | "not" | "function" | "local" | "return" | "end" | "if" | "then"
                | "else" | "elseif" | "while" | "do" | "for" | "in" | "repeat" | "until"
                | "break" | "goto" => Err(format!("unexpected '{id}': {UNSUPPORTED}")),
                _ => {
                    let mut idx = Vec::new();
                    loop {
                        match self.peek() {
                            Some(Tok::Dot) => {
                                self.pos += 1;
                                match self.next() {
                                    Some(Tok::Ident(name)) => {
                                        idx.push(Index::Name(name.into_bytes()))
                                    }
                                    _ => return Err("name expected after '.'".into()),
                                }
                            }
                            Some(Tok::LBracket) => {
                                self.pos += 1;
                                let key = match self.next() {
                                    Some(Tok::Str(s)) => Index::Name(s),
                                    Some(Tok::Num(n)) => {
                                        Index::Int(n.parse().map_err(|_| "number too large")?)
                                    }
                                    _ => {
                                        return Err(format!(
                                            "only string or integer keys are supported: {UNSUPPORTED}"
                                        ));
                                    }
                                };
                                if self.next() != Some(Tok::RBracket) {
                                    return Err("']' expected".into());
                                }
                                idx.push(key);
                            }
                            Some(Tok::LParen | Tok::Str(_)) => {
                                return Err(format!(
                                    "function calls are not supported: {UNSUPPORTED}"
                                ));
                            }
                            _ => break,
                        }
                    }
                    Ok(Expr::Var(id, idx))
                }
            },
            _ => Err(format!("unexpected symbol: {UNSUPPORTED}")),
        }
    }
}

/// A Lua value as far as templates can see one.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Nil,
    Bool(bool),
    Bytes(Vec<u8>),
    Num(String),
    /// A repeated header or query argument (a Lua array).
    List(Vec<Val>),
    /// One of the environment tables itself.
    Root(Root),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Root {
    Headers,
    Query,
    Captures,
    Shared,
}

impl Val {
    fn truthy(&self) -> bool {
        !matches!(self, Val::Nil | Val::Bool(false))
    }

    /// Lua's `tostring` (tables: see the module docs).
    fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Val::Nil => out.extend_from_slice(b"nil"),
            Val::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Val::Bytes(b) => out.extend_from_slice(b),
            Val::Num(n) => out.extend_from_slice(n.as_bytes()),
            Val::List(items) => {
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    v.write_to(out);
                }
            }
            Val::Root(_) => {}
        }
    }
}

fn eval(e: &Expr, env: &mut Env, ctx: &RequestCtx) -> Val {
    match e {
        Expr::Nil => Val::Nil,
        Expr::Bool(b) => Val::Bool(*b),
        Expr::Str(s) => Val::Bytes(s.clone()),
        Expr::Num(n) => Val::Num(n.clone()),
        Expr::Or(a, b) => {
            let v = eval(a, env, ctx);
            if v.truthy() { v } else { eval(b, env, ctx) }
        }
        Expr::And(a, b) => {
            let v = eval(a, env, ctx);
            if v.truthy() { eval(b, env, ctx) } else { v }
        }
        Expr::Not(a) => Val::Bool(!eval(a, env, ctx).truthy()),
        Expr::Var(root, idx) => {
            let mut v = match root.as_str() {
                "headers" => Val::Root(Root::Headers),
                "query_params" => Val::Root(Root::Query),
                "uri_captures" => Val::Root(Root::Captures),
                "shared" => Val::Root(Root::Shared),
                _ => Val::Nil,
            };
            for i in idx {
                v = index(v, i, env, ctx);
            }
            v
        }
    }
}

fn index(v: Val, i: &Index, env: &mut Env, ctx: &RequestCtx) -> Val {
    match (v, i) {
        (Val::Root(Root::Headers), i) => {
            let key = match i {
                Index::Name(n) => String::from_utf8_lossy(n).to_ascii_lowercase(),
                Index::Int(n) => n.to_string(),
            };
            header_value(env.headers(ctx), &key)
        }
        (Val::Root(Root::Query), Index::Name(n)) => match env.query(ctx).get(n) {
            None => Val::Nil,
            Some(a) => arg_value(a),
        },
        (Val::Root(Root::Captures), i) => {
            let key = match i {
                Index::Name(n) => String::from_utf8_lossy(n).into_owned(),
                Index::Int(n) => n.to_string(),
            };
            ctx.uri_captures
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(Val::Nil, |(_, v)| Val::Bytes(v.clone().into_bytes()))
        }
        (Val::List(items), Index::Int(n)) => usize::try_from(*n)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|n| items.get(n).cloned())
            .unwrap_or(Val::Nil),
        _ => Val::Nil,
    }
}

/// `ngx.req.get_headers()[key]`: exact (lower-case) name first, then with
/// underscores as dashes (the table's `__index`).
fn header_value(headers: &HeaderMap, key: &str) -> Val {
    let mut vals: Vec<Val> = headers
        .get_all(key)
        .iter()
        .map(|v| Val::Bytes(v.as_bytes().to_vec()))
        .collect();
    if vals.is_empty() && key.contains('_') {
        vals = headers
            .get_all(key.replace('_', "-").as_str())
            .iter()
            .map(|v| Val::Bytes(v.as_bytes().to_vec()))
            .collect();
    }
    match vals.len() {
        0 => Val::Nil,
        1 => vals.pop().unwrap_or(Val::Nil),
        _ => Val::List(vals),
    }
}

fn arg_value(a: &ArgVal) -> Val {
    match a {
        ArgVal::Flag => Val::Bool(true),
        ArgVal::Str(s) => Val::Bytes(s.clone()),
        ArgVal::Many(items) => Val::List(
            items
                .iter()
                .map(|i| match i {
                    None => Val::Bool(true),
                    Some(s) => Val::Bytes(s.clone()),
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use http::{HeaderValue, Method};

    fn ctx() -> RequestCtx {
        let mut c = RequestCtx::new(Method::GET, "/p?q=1&flag&m=a&m=b&e=");
        c.headers
            .insert("x-user", HeaderValue::from_static("alice"));
        c.headers.append("x-multi", HeaderValue::from_static("1"));
        c.headers.append("x-multi", HeaderValue::from_static("2"));
        c.uri_captures = vec![("user".into(), "bob".into()), ("1".into(), "first".into())];
        c
    }

    fn r(src: &str) -> String {
        let t = Template::parse(src).unwrap();
        String::from_utf8(t.render(&mut Env::default(), &ctx())).unwrap()
    }

    #[test]
    fn lookups_and_literals() {
        assert_eq!(r("plain"), "plain");
        assert_eq!(r("$(headers.x_user)"), "alice");
        assert_eq!(r("$(headers['X-User'])!"), "alice!");
        assert_eq!(r("$(headers[\"x-user\"])"), "alice");
        assert_eq!(r("<$(headers.missing)>"), "<>");
        assert_eq!(r("$(query_params.q)-$(query_params[\"flag\"])"), "1-true");
        assert_eq!(r("$(query_params.e)|"), "|");
        assert_eq!(r("$(uri_captures.user)/$(uri_captures[1])"), "bob/first");
        assert_eq!(r("$(headers.x_multi)"), "1, 2");
        assert_eq!(r("$(headers.x_multi[2])"), "2");
        assert_eq!(r("$(query_params.m[1])"), "a");
        assert_eq!(r("$(shared.anything)"), "");
        assert_eq!(r("$(headers)"), "");
        assert_eq!(r("$(unknown_global)"), "");
    }

    #[test]
    fn lua_operators() {
        assert_eq!(r("$(headers.nope or 'default')"), "default");
        assert_eq!(r("$(headers.x_user or 'default')"), "alice");
        assert_eq!(
            r("$(uri_captures[\"user-id\"] or query_params[\"user\"] or \"unknown\")"),
            "unknown"
        );
        assert_eq!(r("$(headers.x_user and 'yes' or 'no')"), "yes");
        assert_eq!(r("$(headers.nope and 'yes' or 'no')"), "no");
        assert_eq!(r("$(not headers.nope)"), "true");
        assert_eq!(r("$(not not headers.x_user)"), "true");
        assert_eq!(r("$((headers.nope or nil) or 7)"), "7");
        assert_eq!(r("$(false)"), "");
        assert_eq!(r("$('a\\tb\\65\\x41')"), "a\tbAA");
        // only `nil`/`false` are false in Lua: an empty string wins `or`
        assert_eq!(r("$(query_params.e or 'x')"), "");
    }

    #[test]
    fn unbalanced_and_text() {
        assert_eq!(r("$(a $(headers.x_user)"), "$(a alice");
        assert_eq!(r("cost: $5 $(headers.x_user)"), "cost: $5 alice");
        assert_eq!(r("$("), "$(");
        assert!(Template::parse("x").unwrap().is_literal());
        assert!(!Template::parse("$(headers.a)").unwrap().is_literal());
    }

    #[test]
    fn unsupported_expressions_are_rejected() {
        for bad in [
            "$(uri_captures user2)",
            "$()",
            "$(string.upper(headers.x))",
            "$(headers.x .. 'y')",
            "$(headers.x + 1)",
            "$(headers[x])",
            "$(1.5)",
            "$('unfinished)",
            "$(headers.)",
            "$(return 1)",
            "$([[long]])",
            "$(headers.x == 'y')",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn environment_is_loaded_once() {
        let mut c = ctx();
        let t = Template::parse("$(headers.x_user)$(query_params.q)").unwrap();
        let mut env = Env::default();
        assert_eq!(t.render(&mut env, &c), b"alice1");
        c.headers
            .insert("x-user", HeaderValue::from_static("changed"));
        c.query = Some("q=2".into());
        assert_eq!(t.render(&mut env, &c), b"alice1");
        assert_eq!(t.render(&mut Env::default(), &c), b"changed2");
    }
}
