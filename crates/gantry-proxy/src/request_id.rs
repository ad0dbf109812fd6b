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

fn hex_id() -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(16).zip([next_u64(), next_u64()]) {
        let (lo, hi) = chunk.split_at_mut(8);
        lo.copy_from_slice(&hex8(word as u32).to_le_bytes());
        hi.copy_from_slice(&hex8((word >> 32) as u32).to_le_bytes());
    }
    out
}

/// The eight nibbles of `x` as eight lowercase hex digits, one per byte (lowest
/// nibble first: the bits are random, their order is not). A few shifts and adds
/// instead of a table lookup per digit.
fn hex8(x: u32) -> u64 {
    let mut v = u64::from(x);
    v = (v | (v << 16)) & 0x0000_ffff_0000_ffff;
    v = (v | (v << 8)) & 0x00ff_00ff_00ff_00ff;
    v = (v | (v << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    // 1 in each byte whose nibble is 10..=15: those go to 'a'..='f' (39 past '9'+1).
    let letters = ((v + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    v + 0x3030_3030_3030_3030 + letters * 39
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

    #[test]
    fn hex8_writes_every_nibble_as_its_digit() {
        let digits = super::hex8(0xfedc_ba98).to_le_bytes();
        assert_eq!(&digits, b"89abcdef");
        assert_eq!(&super::hex8(0x7654_3210).to_le_bytes(), b"01234567");
        assert_eq!(&super::hex8(0).to_le_bytes(), b"00000000");
        assert_eq!(&super::hex8(u32::MAX).to_le_bytes(), b"ffffffff");
    }
}
