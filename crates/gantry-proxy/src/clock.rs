//! Clock readings shared where "about now" is exact enough.
//!
//! - [`this_poll`]: one reading per poll of a connection task. Everything a request does
//!   in one poll (its start, the upstream send, arming a timeout) happens within
//!   microseconds, so it shares the first reading taken in that poll: a proxied request
//!   reads the clock twice (once when its head is read, once when the response head
//!   arrives) instead of at each of those points. The reading is dropped when the poll
//!   ends, so it never spans a wait; it is at most the CPU time of one poll old (nginx
//!   caches one reading per event-loop turn for the same reason, and Kong's latency
//!   figures come from that cache). Only tasks wrapped in [`PollClock`] share readings;
//!   elsewhere [`this_poll`] reads the clock each time.
//! - [`recent`]: the thread's last reading, for what only needs a rough age (the
//!   keep-alive pool's idle ages and the `Date` header).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

thread_local! {
    static RECENT: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The reading of the current poll of a [`PollClock`] task, once taken.
    static THIS_POLL: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Whether a [`PollClock`] task is being polled on this thread.
    static IN_POLL: Cell<bool> = const { Cell::new(false) };
}

fn read() -> Instant {
    // tokio's clock: the same as std's, except in tests that pause time.
    let n = tokio::time::Instant::now().into_std();
    RECENT.set(Some(n));
    if IN_POLL.get() {
        THIS_POLL.set(Some(n));
    }
    n
}

/// The reading of this poll (taken now if this poll has none yet).
pub fn this_poll() -> Instant {
    THIS_POLL.get().unwrap_or_else(read)
}

/// The last reading taken on this thread, or a fresh one.
pub fn recent() -> Instant {
    RECENT.get().unwrap_or_else(read)
}

pin_project_lite::pin_project! {
    /// A connection task whose polls each share one clock reading ([`this_poll`]).
    pub struct PollClock<F> {
        #[pin]
        inner: F,
    }
}

impl<F> PollClock<F> {
    pub fn new(inner: F) -> Self {
        Self { inner }
    }
}

/// Marks a poll in progress; forgets its reading when the poll ends (also on unwind).
struct InPoll;

impl InPoll {
    fn enter() -> Self {
        IN_POLL.set(true);
        THIS_POLL.set(None);
        InPoll
    }
}

impl Drop for InPoll {
    fn drop(&mut self) {
        IN_POLL.set(false);
        THIS_POLL.set(None);
    }
}

impl<F: Future> Future for PollClock<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _in_poll = InPoll::enter();
        self.project().inner.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_poll_shares_one_reading_and_the_next_poll_takes_a_new_one() {
        let first = PollClock::new(async {
            let a = this_poll();
            std::thread::sleep(std::time::Duration::from_millis(5));
            let b = this_poll();
            assert_eq!(a, b, "one poll, one reading");
            tokio::task::yield_now().await;
            let c = this_poll();
            assert!(c.duration_since(a) >= std::time::Duration::from_millis(5));
            c
        })
        .await;
        // Outside a wrapped task every call reads the clock.
        std::thread::sleep(std::time::Duration::from_millis(2));
        let outside = this_poll();
        assert!(outside.duration_since(first) >= std::time::Duration::from_millis(2));
        assert!(THIS_POLL.get().is_none());
    }
}
