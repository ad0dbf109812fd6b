//! Kong's request id: 16 random bytes as 32 lowercase hex characters. Like nginx's
//! `ngx_random()` behind Kong's `$kong_request_id`, the generator is fast and not
//! cryptographic: a per-thread wyrand stream seeded from the OS generator.

use std::cell::Cell;

/// A request id: 32 lowercase hex characters, kept inline (no allocation; headers
/// copy its bytes when they are written).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId([u8; 32]);

impl RequestId {
    /// A fresh request id.
    pub fn generate() -> Self {
        RequestId(hex_id())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// As a header value (allocates: for `HeaderMap`s only).
    pub fn header_value(&self) -> http::HeaderValue {
        http::HeaderValue::from_bytes(&self.0).unwrap_or(http::HeaderValue::from_static("0"))
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fresh request id as a `String`.
pub fn new() -> String {
    RequestId::generate().as_str().to_string()
}

thread_local! {
    static STATE: Cell<u64> = Cell::new(rand::random::<u64>() | 1);
}

/// wyrand: one multiply per 64 bits, full period, passes PractRand/BigCrush.
fn next_u64() -> u64 {
    STATE.with(|s| {
        let x = s.get().wrapping_add(0xa076_1d64_78bd_642f);
        s.set(x);
        let t = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

fn random_16() -> [u8; 16] {
    let mut out = [0u8; 16];
    let (a, b) = out.split_at_mut(8);
    a.copy_from_slice(&next_u64().to_le_bytes());
    b.copy_from_slice(&next_u64().to_le_bytes());
    out
}

fn hex_id() -> [u8; 32] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = random_16();
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
