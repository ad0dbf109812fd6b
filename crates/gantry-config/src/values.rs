//! Parsers for kong.conf value syntaxes: booleans, lists, sizes, numbers.
//!
//! Each parser returns `Err(message)` with a complete, Kong-style message that
//! names the key and the offending value.

/// Kong's placeholder for "no value" in `kong_defaults.lua`.
pub const NONE: &str = "NONE";

/// True when a raw value means "unset": empty (`key =`) or Kong's `NONE`.
pub fn is_unset(value: &str) -> bool {
    let v = value.trim();
    v.is_empty() || v == NONE
}

/// Parses a boolean: `on`/`off`/`true`/`false` (case-insensitive).
///
/// Kong silently turns anything else into `false`; Gantry rejects it.
pub fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "on" | "true" => Ok(true),
        "off" | "false" => Ok(false),
        _ => Err(format!("{key} is not a boolean: '{}'", value.trim())),
    }
}

/// Splits a comma-separated list, trimming entries and dropping empty ones.
pub fn parse_list(value: &str) -> Vec<String> {
    if is_unset(value) {
        return Vec::new();
    }
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parses a non-negative integer (Kong: `<key> is not a number: '<v>'`,
/// `<key> must be 0 or greater`).
pub fn parse_u64(key: &str, value: &str) -> Result<u64, String> {
    let v = value.trim();
    if let Ok(n) = v.parse::<u64>() {
        return Ok(n);
    }
    match v.parse::<f64>() {
        Ok(f) if f.is_finite() && f < 0.0 => Err(format!("{key} must be 0 or greater")),
        Ok(f) if f.is_finite() && f.fract() == 0.0 && f <= u64::MAX as f64 => Ok(f as u64),
        Ok(f) if f.is_finite() && f.fract() != 0.0 => {
            Err(format!("{key} must be an integer: '{v}'"))
        }
        _ => Err(format!("{key} is not a number: '{v}'")),
    }
}

/// Parses a TCP port (1-65535).
pub fn parse_port(key: &str, value: &str) -> Result<u16, String> {
    let n = parse_u64(key, value)?;
    match u16::try_from(n) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!(
            "{key} must be a port between 1 and 65535: '{}'",
            value.trim()
        )),
    }
}

/// Parses an nginx size: digits with an optional `k`, `m` or `g` suffix
/// (case-insensitive), e.g. `8k`, `10m`, `1g`, `1048576`. Returns bytes.
pub fn parse_size(key: &str, value: &str) -> Result<u64, String> {
    let v = value.trim();
    let bad = || {
        format!(
            "{key} is not a valid size: '{v}' (expected a number of bytes with an optional k, m or g suffix)"
        )
    };
    let (digits, multiplier) = match v.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_lowercase() {
                'k' => 1 << 10,
                'm' => 1 << 20,
                'g' => 1 << 30,
                _ => return Err(bad()),
            };
            (v.get(..i).unwrap_or(""), m)
        }
        Some(_) => (v, 1),
        None => return Err(bad()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(bad)
}

/// Checks a value against a fixed set (Kong:
/// `<key> has an invalid value: '<v>' (a, b, c)`).
pub fn parse_enum<'a>(key: &str, value: &str, allowed: &[&'a str]) -> Result<&'a str, String> {
    let v = value.trim();
    allowed
        .iter()
        .find(|a| **a == v)
        .copied()
        .ok_or_else(|| format!("{key} has an invalid value: '{v}' ({})", allowed.join(", ")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn unset_values() {
        assert!(is_unset(""));
        assert!(is_unset("  "));
        assert!(is_unset("NONE"));
        assert!(!is_unset("none"));
        assert!(!is_unset("off"));
    }

    #[test]
    fn booleans() {
        for v in ["on", "ON", "true", " True "] {
            assert!(parse_bool("k", v).unwrap());
        }
        for v in ["off", "false", "OFF"] {
            assert!(!parse_bool("k", v).unwrap());
        }
        assert_eq!(
            parse_bool("allow_debug_header", "yes").unwrap_err(),
            "allow_debug_header is not a boolean: 'yes'"
        );
        assert!(parse_bool("k", "").is_err());
    }

    #[test]
    fn lists() {
        assert_eq!(parse_list("a, b ,c"), ["a", "b", "c"]);
        assert_eq!(parse_list("a,,b,"), ["a", "b"]);
        assert!(parse_list("").is_empty());
        assert!(parse_list("NONE").is_empty());
        assert_eq!(parse_list("single"), ["single"]);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u64("k", "512").unwrap(), 512);
        assert_eq!(parse_u64("k", " 0 ").unwrap(), 0);
        assert_eq!(parse_u64("k", "60.0").unwrap(), 60);
        assert_eq!(parse_u64("k", "-1").unwrap_err(), "k must be 0 or greater");
        assert_eq!(
            parse_u64("k", "abc").unwrap_err(),
            "k is not a number: 'abc'"
        );
        assert_eq!(
            parse_u64("k", "1.5").unwrap_err(),
            "k must be an integer: '1.5'"
        );
        assert!(parse_u64("k", "").is_err());
        assert!(parse_u64("k", "inf").is_err());
        assert!(parse_u64("k", "NaN").is_err());
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("pg_port", "5432").unwrap(), 5432);
        assert!(parse_port("pg_port", "0").is_err());
        assert!(parse_port("pg_port", "65536").is_err());
        assert!(parse_port("pg_port", "x").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("k", "0").unwrap(), 0);
        assert_eq!(parse_size("k", "1024").unwrap(), 1024);
        assert_eq!(parse_size("k", "8k").unwrap(), 8192);
        assert_eq!(parse_size("k", "8K").unwrap(), 8192);
        assert_eq!(parse_size("k", "10m").unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse_size("k", "2G").unwrap(), 2 * 1024 * 1024 * 1024);
        for bad in [
            "",
            "m",
            "10x",
            "-1",
            "1.5m",
            "10 m",
            "k10",
            "99999999999999999999g",
        ] {
            let err = parse_size("nginx_http_client_max_body_size", bad).unwrap_err();
            assert!(err.starts_with("nginx_http_client_max_body_size is not a valid size"));
        }
        // overflow on multiplication
        assert!(parse_size("k", "18446744073709551615k").is_err());
    }

    #[test]
    fn enums() {
        assert_eq!(parse_enum("k", "b", &["a", "b"]).unwrap(), "b");
        assert_eq!(
            parse_enum("k", "c", &["a", "b"]).unwrap_err(),
            "k has an invalid value: 'c' (a, b)"
        );
    }
}
