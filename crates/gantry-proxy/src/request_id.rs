//! Kong's request id: 16 random bytes as 32 lowercase hex characters.

/// A fresh request id.
pub fn new() -> String {
    String::from_utf8_lossy(&hex_id()).into_owned()
}

/// A fresh request id as a header value (built without an intermediate `String`).
pub fn new_header() -> http::HeaderValue {
    let id = hex_id();
    http::HeaderValue::from_bytes(&id).unwrap_or(http::HeaderValue::from_static("0"))
}

fn hex_id() -> [u8; 32] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes: [u8; 16] = rand::random();
    let mut out = [b'0'; 32];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        if let [hi, lo] = pair {
            *hi = HEX[usize::from(b >> 4)];
            *lo = HEX[usize::from(b & 0x0f)];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_32_lowercase_hex_and_unique() {
        let a = super::new();
        let b = super::new();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert_ne!(a, b);
    }
}
