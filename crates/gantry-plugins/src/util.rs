//! Small helpers shared by plugins: constant-time comparison, digests, and
//! turning a plugin's validated `config` JSON into its typed configuration.

use gantry_core::schema::{Schema, ValidateOptions};
use http::HeaderName;
use serde::de::DeserializeOwned;
use serde_json::Value;
use subtle::ConstantTimeEq;

/// Constant-time equality of two byte strings (length is not secret). Every byte is
/// compared, 8 at a time, and the differences OR-ed together, with no branch on them;
/// the one test at the end goes through an optimisation barrier and `subtle`. (Byte by
/// byte through `subtle` cost ~10 instructions a byte: a 40-byte basic-auth digest
/// was ~400 instructions.)
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |c: &[u8]| <[u8; 8]>::try_from(c).map_or(0, u64::from_le_bytes);
    let (words_a, words_b) = (a.chunks_exact(8), b.chunks_exact(8));
    let (rest_a, rest_b) = (words_a.remainder(), words_b.remainder());
    let mut diff = 0u64;
    for (x, y) in words_a.zip(words_b) {
        diff |= word(x) ^ word(y);
    }
    for (x, y) in rest_a.iter().zip(rest_b) {
        diff |= u64::from(x ^ y);
    }
    bool::from(std::hint::black_box(diff).ct_eq(&0))
}

/// SHA-256 digest.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Lowercase hex of SHA-1 (basic-auth password hashing).
pub fn sha1_hex(data: &[u8]) -> String {
    // By table, not `Display`: basic-auth hashes on every request, and the formatter
    // cost more than the digest.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = sha1_smol::Sha1::from(data).digest().bytes();
    let mut out = String::with_capacity(2 * digest.len());
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// PCRE's `\s` (Kong's `ngx.re` patterns): space, tab, newline, VT, FF, CR.
pub(crate) fn is_pcre_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `ngx.decode_base64`: the standard alphabet, stops at the first `=` (what
/// follows is ignored), trailing bits ignored, a length of 1 mod 4 rejected.
pub(crate) fn ngx_decode_base64(input: &[u8]) -> Option<Vec<u8>> {
    let data = input.split(|&b| b == b'=').next().unwrap_or(input);
    if data.iter().any(|&b| b == b'-' || b == b'_') {
        return None;
    }
    crate::plugins::jwt::base64_decode(input)
}

/// A header name as Kong's `get_headers()` keys and `ngx.header` read it
/// (case-insensitive, `_` as `-`); `None` when it is not a valid name.
pub(crate) fn kong_header_name(name: &str) -> Option<HeaderName> {
    // `from_bytes` lowercases by itself; only an underscore needs a rewritten copy
    // (hmac-auth looks up every signed header per request).
    if !name.contains('_') {
        return HeaderName::from_bytes(name.as_bytes()).ok();
    }
    HeaderName::from_bytes(name.replace('_', "-").as_bytes()).ok()
}

/// The `config` record of a plugin subschema.
pub fn config_record(subschema: &Schema) -> Option<&Schema> {
    subschema.field("config").and_then(|f| f.record.as_deref())
}

/// Validates `config` against the plugin's config record (filling Kong's
/// defaults) and deserializes it into the typed configuration.
pub fn parse_config<T: DeserializeOwned>(subschema: &Schema, config: &Value) -> Result<T, String> {
    let value = match config_record(subschema) {
        Some(record) => {
            let opts = ValidateOptions {
                generate_auto: false,
                ..ValidateOptions::default()
            };
            let input = if config.is_null() {
                Value::Object(Default::default())
            } else {
                config.clone()
            };
            record
                .validate(&input, &opts)
                .map_err(|t| gantry_core::error::schema_violation_message(&t))?
        }
        None => config.clone(),
    };
    serde_json::from_value(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_eq_and_digests() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
        // A difference in any byte, in the words and in the tail, at every length.
        for n in 1..=41usize {
            let a: Vec<u8> = (0..n).map(|i| (i * 37 % 251) as u8).collect();
            assert!(ct_eq(&a, &a.clone()));
            for at in 0..n {
                for flip in [1u8, 0x80, 0xff] {
                    let mut b = a.clone();
                    b[at] ^= flip;
                    assert!(!ct_eq(&a, &b), "n={n} at={at} flip={flip}");
                }
            }
        }
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn header_names_as_kong_normalises_them() {
        let name = |n: &str| kong_header_name(n).map(|h| h.as_str().to_string());
        assert_eq!(name("Content-Type").as_deref(), Some("content-type"));
        assert_eq!(name("X_Custom_Name").as_deref(), Some("x-custom-name"));
        assert_eq!(name("X-MiXeD").as_deref(), Some("x-mixed"));
        assert_eq!(name("bad name"), None);
        assert_eq!(name(""), None);
    }
}
