//! The `Date` header value, formatted once per second per thread (every response
//! without an upstream `Date` carries one, as nginx adds it). The time comes from the
//! request's own clock reading ([`crate::clock::recent`]) projected onto the wall
//! clock, so a response costs no clock call; the wall clock is read again once a
//! second, when the text changes.

use std::cell::RefCell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Cached {
    /// A monotonic reading and the wall-clock second it falls in, taken together.
    base: Option<(Instant, Duration)>,
    second: Option<u64>,
    text: [u8; 29],
}

thread_local! {
    static CACHE: RefCell<Cached> = const {
        RefCell::new(Cached { base: None, second: None, text: [b' '; 29] })
    };
}

/// Appends the current time in IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn append(out: &mut Vec<u8>) {
    let at = crate::clock::recent();
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let wall = c.project(at);
        if c.second != Some(wall.as_secs()) {
            let now = UNIX_EPOCH + wall;
            let text = httpdate::fmt_http_date(now);
            if let Ok(fixed) = <[u8; 29]>::try_from(text.as_bytes()) {
                c.text = fixed;
            }
            c.second = Some(wall.as_secs());
        }
        out.extend_from_slice(&c.text);
    });
}

/// The wall-clock time of the monotonic reading `at` (a request's time for plugins:
/// expiry checks and the like), without reading the wall clock per request.
pub fn wall(at: Instant) -> SystemTime {
    UNIX_EPOCH + CACHE.with(|c| c.borrow_mut().project(at))
}

impl Cached {
    /// `at` on the wall clock (since the epoch). The wall clock is read again when the
    /// base is a second old, so steps of the system clock show within a second.
    fn project(&mut self, at: Instant) -> Duration {
        if let Some((i, wall)) = self.base {
            // A reading older than the base (an earlier request's) counts as the base.
            let since = at.saturating_duration_since(i);
            if since < Duration::from_secs(1) {
                return wall + since;
            }
        }
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.base = Some((Instant::now(), wall));
        wall
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    #[test]
    fn is_an_http_date() {
        let mut out = Vec::new();
        super::append(&mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(httpdate::parse_http_date(&s).is_ok(), "{s}");
        assert!(s.ends_with(" GMT"));
    }
}
