//! xxHash32 (seed 0) as Kong's `luaxxhash` computes it, including its signed result,
//! which decides where keys and targets land on the consistent-hashing ring.

const P1: u32 = 2_654_435_761;
const P2: u32 = 2_246_822_519;
const P3: u32 = 3_266_489_917;
const P4: u32 = 668_265_263;
const P5: u32 = 374_761_393;

fn read_u32(chunk: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    for (dst, src) in b.iter_mut().zip(chunk) {
        *dst = *src;
    }
    u32::from_le_bytes(b)
}

fn round(acc: u32, lane: u32) -> u32 {
    acc.wrapping_add(lane.wrapping_mul(P2))
        .rotate_left(13)
        .wrapping_mul(P1)
}

/// Standard xxHash32 of `data` with seed 0.
pub fn xxh32(data: &[u8]) -> u32 {
    let len = data.len();
    let mut rest = data;
    let mut h: u32;
    if len >= 16 {
        let mut v1 = P1.wrapping_add(P2);
        let mut v2 = P2;
        let mut v3 = 0u32;
        let mut v4 = 0u32.wrapping_sub(P1);
        while rest.len() >= 16 {
            let (block, tail) = rest.split_at(16);
            let mut lanes = block.chunks_exact(4).map(read_u32);
            v1 = round(v1, lanes.next().unwrap_or(0));
            v2 = round(v2, lanes.next().unwrap_or(0));
            v3 = round(v3, lanes.next().unwrap_or(0));
            v4 = round(v4, lanes.next().unwrap_or(0));
            rest = tail;
        }
        h = v1
            .rotate_left(1)
            .wrapping_add(v2.rotate_left(7))
            .wrapping_add(v3.rotate_left(12))
            .wrapping_add(v4.rotate_left(18));
    } else {
        h = P5;
    }
    h = h.wrapping_add(len as u32);
    while rest.len() >= 4 {
        let (word, tail) = rest.split_at(4);
        h = h.wrapping_add(read_u32(word).wrapping_mul(P3));
        h = h.rotate_left(17).wrapping_mul(P4);
        rest = tail;
    }
    for byte in rest {
        h = h.wrapping_add(u32::from(*byte).wrapping_mul(P5));
        h = h.rotate_left(11).wrapping_mul(P1);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(P2);
    h ^= h >> 13;
    h = h.wrapping_mul(P3);
    h ^= h >> 16;
    h
}

/// `luaxxhash` returns LuaJIT's signed 32-bit `bit` result.
pub fn lua_xxhash32(data: &[u8]) -> i32 {
    xxh32(data) as i32
}

/// Kong's `get_continuum_index`: `(xxhash32(value) % points) + 1` with Lua's floored
/// modulo, so the result is in `1..=points`. `points` must be non-zero.
pub fn continuum_index(value: &[u8], points: u32) -> u32 {
    let points = i64::from(points.max(1));
    (i64::from(lua_xxhash32(value)).rem_euclid(points) + 1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of luaxxhash's own test suite (signed, as Lua sees them).
    #[test]
    fn matches_luaxxhash_vectors() {
        let cats = "Cats are interesting.";
        let a = "a";
        let cases: Vec<(String, i32)> = vec![
            (a.repeat(4), -631_806_169),
            (a.repeat(16), 1_571_609_996),
            (a.repeat(32), -1_557_966_914),
            (
                format!("{}{}{}", a.repeat(32), a, a.repeat(4)),
                1_065_833_563,
            ),
            (cats.repeat(256), -237_286_296),
            (String::new(), 46_947_589),
            ("dupa".into(), 0x1A47_C09D),
            (cats.into(), 1_710_037_756),
            (a.into(), 1_426_945_110),
        ];
        for (input, want) in cases {
            assert_eq!(lua_xxhash32(input.as_bytes()), want, "{input:?}");
        }
    }

    #[test]
    fn continuum_index_uses_floored_modulo() {
        // -631806169 % 10000 in Lua is 3831 (sign of the divisor), +1.
        assert_eq!(continuum_index(b"aaaa", 10_000), 3832);
        assert_eq!(continuum_index(b"a", 10_000), 5111);
        for key in ["", "x", "consumer-1", "10.0.0.1"] {
            let i = continuum_index(key.as_bytes(), 1000);
            assert!((1..=1000).contains(&i));
        }
    }
}
