//! One clock reading per request, shared by what only needs "about now": the
//! keep-alive pool's idle ages and the `Date` header (nginx keeps a cached time per
//! event-loop turn for the same reason). Timeouts and latency figures read the real
//! clock.

use std::cell::Cell;
use std::time::Instant;

thread_local! {
    static RECENT: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Reads the clock and remembers the reading for [`recent`] on this thread.
pub fn now() -> Instant {
    let n = Instant::now();
    RECENT.set(Some(n));
    n
}

/// The last reading taken on this thread by [`now`] (at the latest request's start),
/// or a fresh one.
pub fn recent() -> Instant {
    RECENT.get().unwrap_or_else(now)
}
