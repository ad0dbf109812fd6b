//! Kong's request id: 16 random bytes as 32 lowercase hex characters. Like nginx's
//! `ngx_random()` behind Kong's `$kong_request_id`, the generator is fast and not
//! cryptographic: a per-thread wyrand stream seeded from the OS generator.

use std::cell::Cell;

/// A fresh request id.
pub fn new() -> String {
    String::from_utf8_lossy(&hex_id()).into_owned()
}

/// A fresh request id as a header value (built without an intermediate `String`).
pub fn new_header() -> http::HeaderValue {
    let id = hex_id();
    http::HeaderValue::from_bytes(&id).unwrap_or(http::HeaderValue::from_static("0"))
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
