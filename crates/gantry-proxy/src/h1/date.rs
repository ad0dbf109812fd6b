//! The `Date` header value, formatted once per second per thread (every response
//! without an upstream `Date` carries one, as nginx adds it).

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

struct Cached {
    second: u64,
    text: [u8; 29],
}

thread_local! {
    static CACHE: RefCell<Cached> = const { RefCell::new(Cached { second: u64::MAX, text: [b' '; 29] }) };
}

/// Appends the current time in IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn append(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.second != second {
            let text = httpdate::fmt_http_date(now);
            if let Ok(fixed) = <[u8; 29]>::try_from(text.as_bytes()) {
                c.text = fixed;
            }
            c.second = second;
        }
        out.extend_from_slice(&c.text);
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn is_an_http_date() {
        let mut out = Vec::new();
        super::append(&mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(httpdate::parse_http_date(&s).is_ok(), "{s}");
        assert!(s.ends_with(" GMT"));
    }
}
