//! Kong's `typedefs`: reusable field definitions and their validators.

use serde_json::{Value, json};

use super::net::{self, HostKind};
use super::{EntityCheck, Field, FieldType, Pattern, Schema, Validator};

/// The protocols Kong knows, sorted as Kong lists them.
pub const PROTOCOLS: [&str; 8] = [
    "grpc",
    "grpcs",
    "http",
    "https",
    "tcp",
    "tls",
    "tls_passthrough",
    "udp",
];

/// Protocols served by the HTTP subsystem (plugin `protocols` default).
pub const HTTP_PROTOCOLS: [&str; 4] = ["grpc", "grpcs", "http", "https"];

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// `{vault://...}` secret reference.
pub fn is_reference(s: &str) -> bool {
    s.starts_with("{vault://") && s.ends_with('}') && s.len() > 10
}

/// `typedefs.uuid`: auto-generated UUID string.
pub fn uuid() -> Field {
    Field::string().v(Validator::Uuid).auto()
}

/// `typedefs.auto_timestamp_s`.
pub fn auto_timestamp_s() -> Field {
    Field::integer().v(Validator::Timestamp).auto()
}

/// `typedefs.auto_timestamp_ms` (float seconds, targets).
pub fn auto_timestamp_ms() -> Field {
    Field::number().v(Validator::Timestamp).auto()
}

fn validate_utf8_name(v: &Value) -> Result<(), String> {
    let name = s(v);
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~' | 128..=244))
    {
        Ok(())
    } else {
        Err(format!(
            "invalid value '{name}': the only accepted ascii characters are alphanumerics or ., -, _, and ~"
        ))
    }
}

/// `typedefs.utf8_name`: unique name of ASCII alphanumerics, `. - _ ~` and UTF-8.
pub fn utf8_name() -> Field {
    Field::string().unique().custom(validate_utf8_name)
}

fn validate_tag(v: &Value) -> Result<(), String> {
    let tag = s(v);
    let ok = tag
        .bytes()
        .all(|b| matches!(b, b' ' | 0x21..=0x2B | 0x2D | 0x2E | 0x30..=0x7E | 0x80..=0xF4));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid tag '{tag}': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"
        ))
    }
}

/// `typedefs.tags`: a set of tags.
pub fn tags() -> Field {
    Field::set(Field::string().required().custom(validate_tag))
}

/// `typedefs.protocol`.
pub fn protocol() -> Field {
    Field::string().one_of(&PROTOCOLS)
}

/// `typedefs.protocols`: required set, default the HTTP protocols.
pub fn protocols() -> Field {
    Field::set(protocol())
        .required()
        .default(json!(HTTP_PROTOCOLS))
}

/// `typedefs.protocols_http`: like `protocols` but only HTTP ones allowed.
pub fn protocols_http() -> Field {
    Field::set(Field::string().one_of(&HTTP_PROTOCOLS))
        .required()
        .default(json!(HTTP_PROTOCOLS))
}

fn validate_host(v: &Value) -> Result<(), String> {
    let host = s(v);
    match net::normalize_ip(host) {
        Err(e) if e == "invalid port number" => Err("must not have a port".into()),
        Err(_) => Err(format!("invalid value: {host}")),
        Ok(h) if h.port.is_some() => Err("must not have a port".into()),
        Ok(_) => Ok(()),
    }
}

/// `typedefs.host`: hostname or IP, no port.
pub fn host() -> Field {
    Field::string().custom(validate_host)
}

fn validate_host_with_optional_port(v: &Value) -> Result<(), String> {
    net::normalize_ip(s(v)).map(|_| ())
}

/// `typedefs.host_with_optional_port`.
pub fn host_with_optional_port() -> Field {
    Field::string().custom(validate_host_with_optional_port)
}

fn check_sni_like(host: &str, shown: &str) -> Result<(), String> {
    match net::normalize_ip(host) {
        Err(e) if e == "invalid port number" => Err("must not have a port".into()),
        Err(_) => Err(format!("invalid value: {shown}")),
        Ok(h) if h.kind != HostKind::Name => Err("must not be an IP".into()),
        Ok(h) if h.port.is_some() => Err("must not have a port".into()),
        Ok(_) => Ok(()),
    }
}

fn validate_sni(v: &Value) -> Result<(), String> {
    check_sni_like(s(v), s(v))
}

/// `typedefs.sni`: a hostname, no IP, no port.
pub fn sni() -> Field {
    Field::string().custom(validate_sni)
}

fn validate_wildcard_host(v: &Value) -> Result<(), String> {
    let host = s(v);
    let mut mock = host.to_string();
    if let Some(idx) = host.find('*') {
        if idx != 0 && idx + 1 != host.len() {
            return Err("wildcard must be leftmost or rightmost character".into());
        }
        if host.matches('*').count() > 1 {
            return Err("only one wildcard must be specified".into());
        }
        mock = host.replace('*', "wildcard");
    }
    check_sni_like(&mock, &mock)
}

/// `typedefs.wildcard_host`: one `*` as leftmost or rightmost character.
pub fn wildcard_host() -> Field {
    Field::string().custom(validate_wildcard_host)
}

/// `typedefs.port`.
pub fn port() -> Field {
    Field::integer().between(0.0, 65535.0)
}

/// RFC 3986 path check; the error code tells `rfc3986` from `percent` failures.
fn check_path(path: &str) -> Result<(), (String, &'static str)> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"._-~/%:@!$&'()*+,;=".contains(&b);
    if !path.starts_with('/') || !path.bytes().all(allowed) {
        return Err((
            format!(
                "invalid path: '{path}' (characters outside of the reserved list of RFC 3986 found)"
            ),
            "rfc3986",
        ));
    }
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b.get(i) == Some(&b'%') {
            let ok = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                let end = (i + 3).min(b.len());
                let bad = String::from_utf8_lossy(b.get(i..end).unwrap_or_default()).into_owned();
                return Err((format!("invalid url-encoded value: '{bad}'"), "percent"));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

fn validate_path(v: &Value) -> Result<(), String> {
    check_path(s(v)).map_err(|(m, _)| m)
}

fn has_empty_segment(p: &str) -> bool {
    p.contains("//")
}

/// `typedefs.path`: starts with `/`, no empty segment, RFC 3986 characters.
pub fn path() -> Field {
    Field::string()
        .v(Validator::StartsWith("/"))
        .v(Validator::MatchNone(vec![(
            Pattern {
                lua: "//",
                test: has_empty_segment,
            },
            "must not have empty segments",
        )]))
        .custom(validate_path)
}

/// `typedefs.timeout`: 0 .. 2^31-2 milliseconds.
pub fn timeout() -> Field {
    Field::integer().between(0.0, 2_147_483_646.0)
}

fn validate_header_name(v: &Value) -> Result<(), String> {
    let name = s(v);
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(format!(
            "bad header name '{name}', allowed characters are A-Z, a-z, 0-9, '_', and '-'"
        ))
    }
}

/// `typedefs.header_name`.
pub fn header_name() -> Field {
    Field::string().custom(validate_header_name)
}

fn validate_cookie_name(v: &Value) -> Result<(), String> {
    let name = s(v);
    if name.is_empty() {
        return Err("no token provided".into());
    }
    let bad = |b: u8| !(32..127).contains(&b) || b" \t()<>@,;:\\\"/?={}[]".contains(&b);
    if name.bytes().any(bad) {
        return Err(r#"contains one or more invalid characters. ASCII control characters (0-31;127), space, tab and the characters ()<>@,;:\"/?={}[] are not allowed."#.into());
    }
    Ok(())
}

/// `typedefs.cookie_name`: an RFC 2616 token.
pub fn cookie_name() -> Field {
    Field::string().custom(validate_cookie_name)
}

/// `typedefs.headers`: map of header name to list of values.
pub fn headers() -> Field {
    Field::map(header_name(), Field::array(Field::string()))
}

fn validate_ip_or_cidr(v: &Value) -> Result<(), String> {
    if net::is_ip_or_cidr(s(v)) {
        Ok(())
    } else {
        Err(format!("invalid ip or cidr range: '{}'", s(v)))
    }
}

/// `typedefs.sources` / `typedefs.destinations`: set of `{ip?, port?}`.
pub fn sources() -> Field {
    let mut rec = Schema::record(vec![
        ("ip", Field::string().custom(validate_ip_or_cidr)),
        ("port", port()),
    ]);
    rec.entity_checks = vec![EntityCheck::AtLeastOneOf(vec!["ip", "port"])];
    Field::set(Field::record(rec))
}

fn all_upper(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// `typedefs.methods`: set of upper-case method names.
pub fn methods() -> Field {
    Field::set(Field::string().v(Validator::Match(Pattern {
        lua: "^%u+$",
        test: all_upper,
    })))
}

fn at_most_one_star(s: &str) -> bool {
    s.matches('*').count() <= 1
}
fn starts_star_dot(s: &str) -> bool {
    s.starts_with("*.")
}
fn ends_dot_star(s: &str) -> bool {
    s.ends_with(".*")
}
fn no_star(s: &str) -> bool {
    !s.contains('*')
}

fn validate_host_with_wildcards(v: &Value) -> Result<(), String> {
    net::normalize_ip(&s(v).replace('*', "abc")).map(|_| ())
}

/// `typedefs.hosts`: route hosts, one wildcard at most, leftmost or rightmost.
pub fn hosts() -> Field {
    Field::array(
        Field::string()
            .v(Validator::MatchAll(vec![(
                Pattern {
                    lua: "^[^*]*%*?[^*]*$",
                    test: at_most_one_star,
                },
                "invalid wildcard: must have at most one wildcard",
            )]))
            .v(Validator::MatchAny {
                patterns: vec![
                    Pattern {
                        lua: "^%*%.",
                        test: starts_star_dot,
                    },
                    Pattern {
                        lua: "%.%*$",
                        test: ends_dot_star,
                    },
                    Pattern {
                        lua: "^[^*]*$",
                        test: no_star,
                    },
                ],
                err: "invalid wildcard: must be placed at leftmost or rightmost label",
            })
            .custom(validate_host_with_wildcards),
    )
}

fn starts_slash(s: &str) -> bool {
    s.starts_with('/')
}
fn starts_tilde_slash(s: &str) -> bool {
    s.starts_with("~/")
}

/// Compiles a route regex path the way the traditional_compatible router
/// does: anchored with `^`, Rust `regex` syntax.
pub fn compile_route_regex(re: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(&format!("^{re}"))
        .size_limit(1 << 22)
        .build()
        .map_err(|e| match e {
            regex::Error::Syntax(msg) => msg
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix("error: "))
                .unwrap_or(msg.as_str())
                .to_string(),
            regex::Error::CompiledTooBig(_) => "regular expression is too large".to_string(),
            other => other.to_string(),
        })
}

fn validate_router_path(v: &Value) -> Result<(), String> {
    let path = s(v);
    if let Err((m, "percent")) = check_path(path) {
        return Err(m);
    }
    let Some(re) = path.strip_prefix('~') else {
        let normalized = crate::uri::normalize(path, true);
        if normalized != path {
            return Err(format!(
                "non-normalized path, consider use '{normalized}' instead"
            ));
        }
        return Ok(());
    };
    compile_route_regex(re)
        .map(|_| ())
        .map_err(|e| format!("invalid regex: '{re}' (PCRE returned: {e})"))
}

/// `typedefs.router_paths`: prefix (`/`) or regex (`~/`) route paths.
pub fn router_paths() -> Field {
    Field::array(
        Field::string()
            .v(Validator::MatchAny {
                patterns: vec![
                    Pattern {
                        lua: "^/",
                        test: starts_slash,
                    },
                    Pattern {
                        lua: "^~/",
                        test: starts_tilde_slash,
                    },
                ],
                err: "should start with: / (fixed path) or ~/ (regex path)",
            })
            .v(Validator::MatchNone(vec![(
                Pattern {
                    lua: "//",
                    test: has_empty_segment,
                },
                "must not have empty segments",
            )]))
            .custom(validate_router_path),
    )
}

/// Base64 body of every PEM block labelled by `accept`, or `None` if there is
/// no well-formed block.
pub fn pem_blocks(text: &str, accept: fn(&str) -> bool) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = rest.get(start + 11..)?;
        let label_end = after.find("-----")?;
        let label = after.get(..label_end)?;
        let body_start = after.get(label_end + 5..)?;
        let end_marker = format!("-----END {label}-----");
        let end = body_start.find(&end_marker)?;
        let body: String = body_start
            .get(..end)?
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let b64 = !body.is_empty()
            && body.len().is_multiple_of(4)
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        if !b64 {
            return None;
        }
        if accept(label) {
            out.push(body);
        }
        rest = body_start.get(end + end_marker.len()..)?;
    }
    if out.is_empty() { None } else { Some(out) }
}

fn is_cert_label(l: &str) -> bool {
    l == "CERTIFICATE" || l == "TRUSTED CERTIFICATE"
}
fn is_key_label(l: &str) -> bool {
    l.ends_with("PRIVATE KEY") || l.ends_with("PUBLIC KEY")
}

fn validate_certificate(v: &Value) -> Result<(), String> {
    let parses =
        pem_blocks(s(v), is_cert_label).is_some() && crate::x509::certificate_chain(s(v)).is_some();
    if parses {
        Ok(())
    } else {
        Err("invalid certificate: x509.new: could not parse PEM certificate".into())
    }
}

fn validate_key(v: &Value) -> Result<(), String> {
    let parses = pem_blocks(s(v), is_key_label).is_some() && crate::x509::key_parses(s(v));
    if parses {
        Ok(())
    } else {
        Err("invalid key: pkey.new: could not parse PEM key".into())
    }
}

/// `typedefs.certificate` (basic PEM check).
pub fn certificate() -> Field {
    Field::string().custom(validate_certificate).referenceable()
}

/// `typedefs.key` (basic PEM check).
pub fn key() -> Field {
    let mut f = Field::string().custom(validate_key).referenceable();
    f.encrypted = true;
    f
}

/// A foreign key to `reference`.
pub fn foreign(reference: &'static str) -> Field {
    Field::foreign(reference)
}

/// True when the field is a plain string type.
pub fn is_string(f: &Field) -> bool {
    f.typ == FieldType::String
}
