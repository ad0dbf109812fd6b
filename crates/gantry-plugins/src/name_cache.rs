//! `HeaderName`s for the names a worker keeps seeing. `HeaderName::from_bytes` finds
//! standard names in a static table, but every other name (`apikey`, `x-request-id`,
//! ...) is validated, lowercased and copied into a fresh allocation, freed again with
//! the request: ~300 instructions per such line, on every request. A clone of a name
//! seen before costs a refcount increment instead.

use std::cell::RefCell;

use http::header::{HeaderName, InvalidHeaderName};

/// Slots per worker thread, direct-mapped by length and first and last byte: the dozen
/// or so names of a browser's request mostly land in different slots (two that share one
/// take turns and miss; the answer is right either way).
const SLOTS: usize = 64;
/// Longer names are not remembered (a hostile client cannot pin big ones).
const MAX_LEN: usize = 40;

/// A name as one client spelled it, and its `HeaderName`. Clients repeat their
/// spelling, so matching the bytes exactly (one short `memcmp`) is enough; another
/// spelling of the same name takes the slot over.
struct Entry {
    len: usize,
    raw: [u8; MAX_LEN],
    name: HeaderName,
}

thread_local! {
    static RECENT: RefCell<[Option<Entry>; SLOTS]> =
        const { RefCell::new([const { None }; SLOTS]) };
}

fn slot_of(raw: &[u8]) -> usize {
    let first = raw.first().map_or(0, |&b| usize::from(b | 0x20));
    let last = raw.last().map_or(0, |&b| usize::from(b | 0x20));
    (raw.len().wrapping_mul(7) ^ first ^ last.wrapping_mul(3)) % SLOTS
}

/// The `HeaderName` of `raw` (any case), as `HeaderName::from_bytes` gives it.
pub fn header_name(raw: &[u8]) -> Result<HeaderName, InvalidHeaderName> {
    if raw.len() > MAX_LEN || raw.is_empty() {
        return HeaderName::from_bytes(raw);
    }
    let at = slot_of(raw);
    RECENT.with(|r| {
        let Ok(mut slots) = r.try_borrow_mut() else {
            return HeaderName::from_bytes(raw);
        };
        let Some(slot) = slots.get_mut(at) else {
            return HeaderName::from_bytes(raw);
        };
        if let Some(e) = slot.as_ref()
            && e.len == raw.len()
            && e.raw.get(..raw.len()) == Some(raw)
        {
            return Ok(e.name.clone());
        }
        let name = HeaderName::from_bytes(raw)?;
        let mut key = [0; MAX_LEN];
        if let Some(k) = key.get_mut(..raw.len()) {
            k.copy_from_slice(raw);
        }
        *slot = Some(Entry {
            len: raw.len(),
            raw: key,
            name: name.clone(),
        });
        Ok(name)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cached_names_equal_what_from_bytes_gives() {
        for raw in [
            &b"apikey"[..],
            b"ApiKey",
            b"APIKEY",
            b"x-request-id",
            b"Host",
            b"host",
        ] {
            for _ in 0..3 {
                assert_eq!(
                    header_name(raw).unwrap(),
                    HeaderName::from_bytes(raw).unwrap()
                );
            }
        }
        assert!(header_name(b"bad name").is_err());
        assert!(header_name(b"").is_err());
        // A name that differs in a non-letter byte is not taken for a cached one.
        header_name(b"x-a").unwrap();
        assert_eq!(header_name(b"x_a").unwrap().as_str(), "x_a");
    }

    #[test]
    fn more_names_than_slots_still_resolve() {
        let names: Vec<String> = (0..SLOTS * 3).map(|i| format!("x-custom-{i}")).collect();
        // Names sharing a slot replace each other and still come out right.
        assert_eq!(slot_of(b"x-ab"), slot_of(b"X-AB"));
        for _ in 0..2 {
            for n in &names {
                assert_eq!(header_name(n.as_bytes()).unwrap().as_str(), n);
            }
        }
        let long = "x-".repeat(MAX_LEN);
        assert_eq!(header_name(long.as_bytes()).unwrap().as_str(), long);
    }
}
