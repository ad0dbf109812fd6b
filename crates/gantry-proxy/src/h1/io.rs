//! Transport pieces shared by both sides: the upstream stream (plain TCP or TLS), a
//! stream that replays bytes already read (to hand a connection to hyper's HTTP/2
//! server), and a timer that is only armed when an operation actually has to wait.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use gantry_tcp::Tcp;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A connection to an upstream.
pub enum UpstreamIo {
    Tcp(Tcp),
    Tls(Box<tokio_rustls::client::TlsStream<Tcp>>),
}

impl AsyncRead for UpstreamIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamIo::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            UpstreamIo::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamIo::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            UpstreamIo::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamIo::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            UpstreamIo::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            UpstreamIo::Tcp(s) => s.is_write_vectored(),
            UpstreamIo::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamIo::Tcp(s) => Pin::new(s).poll_flush(cx),
            UpstreamIo::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamIo::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            UpstreamIo::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A stream whose first reads return `prefix` (bytes read before deciding who serves
/// the connection).
pub struct Rewind<S> {
    prefix: Bytes,
    inner: S,
}

impl<S> Rewind<S> {
    pub fn new(prefix: Bytes, inner: S) -> Self {
        Self { prefix, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(this.prefix.get(..n).unwrap_or(&[]));
            this.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The operation waited longer than its timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timed out")]
pub struct Elapsed;

/// A timeout between two successive operations (nginx's `proxy_read_timeout` and
/// friends). It is armed only once an operation has to wait, so exchanges that never
/// block never touch the timer wheel; the timer is allocated once and reused, and a
/// registered deadline that is close enough (within an eighth of the timeout) is kept
/// instead of moved in the wheel on every wait — when it fires early, the real
/// deadline is checked and the timer moved then. Timeouts never fire early.
///
/// A wait on a kept registration does not poll the sleep again when the task that
/// polled it last is the one waiting (its waker is in the wheel already) and the
/// deadline is still ahead: most waits are a keep-alive connection's between two
/// requests, and skipping tokio's `Sleep::poll` there saved ~160 instructions per request.
#[derive(Default)]
pub struct IdleTimer {
    sleep: Option<Pin<Box<Sleep>>>,
    /// What the sleep is registered for, once it is.
    reg: Option<Registration>,
    /// When the current wait started, once armed.
    started: Option<Instant>,
    /// The waker the sleep was polled with since it was last registered.
    polled_with: Option<Waker>,
}

/// A deadline in the timer wheel, and which wait starts may keep it.
#[derive(Clone, Copy)]
struct Registration {
    at: Instant,
    /// The timeout it was computed for, and the wait starts [from, until) whose own
    /// deadline is at or after it by less than an eighth of that timeout.
    timeout: Duration,
    keep_from: Instant,
    keep_until: Instant,
}

impl IdleTimer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Progress was made: the next wait starts a fresh timeout.
    pub fn disarm(&mut self) {
        self.started = None;
    }

    /// Called when an operation is about to wait: arms the timer if it is not, and
    /// tells whether `timeout` has passed since it was armed.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>, timeout: Duration) -> bool {
        let now = Instant::from_std(crate::clock::this_poll());
        let started = match self.started {
            Some(s) => s,
            None => {
                self.started = Some(now);
                let keep = self.reg.is_some_and(|r| {
                    if r.timeout == timeout {
                        r.keep_from <= now && now < r.keep_until
                    } else {
                        let want = now + timeout;
                        r.at <= want && want.duration_since(r.at) < timeout / 8
                    }
                });
                if !keep {
                    self.register(now, timeout);
                }
                now
            }
        };
        let Some(reg) = self.reg else {
            return false;
        };
        if now < reg.at
            && self
                .polled_with
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
        {
            return false;
        }
        loop {
            let Some(sleep) = self.sleep.as_mut() else {
                return false;
            };
            if sleep.as_mut().poll(cx).is_pending() {
                if !self
                    .polled_with
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    self.polled_with = Some(cx.waker().clone());
                }
                return false;
            }
            if now >= started + timeout {
                return true;
            }
            // Fired at an earlier registration: wait on for the real deadline.
            self.register(started, timeout);
        }
    }

    /// Registers the deadline of a wait that started at `start`.
    fn register(&mut self, start: Instant, timeout: Duration) {
        let deadline = start + timeout;
        self.reg = Some(Registration {
            at: deadline,
            timeout,
            keep_from: start,
            keep_until: start + timeout / 8,
        });
        self.polled_with = None;
        match self.sleep.as_mut() {
            Some(s) => s.as_mut().reset(deadline),
            None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
    }

    /// Runs `fut`, failing with [`Elapsed`] if it waits longer than `timeout`.
    pub async fn run<F: Future>(
        &mut self,
        timeout: Duration,
        fut: F,
    ) -> Result<F::Output, Elapsed> {
        let mut fut = pin!(fut);
        poll_fn(|cx| match fut.as_mut().poll(cx) {
            Poll::Ready(v) => {
                self.disarm();
                Poll::Ready(Ok(v))
            }
            Poll::Pending if self.poll_expired(cx, timeout) => {
                self.disarm();
                Poll::Ready(Err(Elapsed))
            }
            Poll::Pending => Poll::Pending,
        })
        .await
    }
}

/// Read buffer size of a connection, either side.
pub const READ_BUF: usize = 8 * 1024;

/// Below this much free room a read makes room first. Messages are split off the
/// front of the buffer, so its free room shrinks with each; at 1 KiB, a 1.2 KiB
/// response (head and a 1 KiB body, sent in one segment) often took two reads and
/// went to the client in two writes. Making room is cheap once the earlier messages'
/// bytes are dropped: the buffer is reused in place.
const MIN_READ_ROOM: usize = READ_BUF / 2;

/// Polls one read of what is available into `buf`, making room first.
pub fn poll_read_some<R: AsyncRead + Unpin + ?Sized>(
    io: &mut R,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
) -> Poll<io::Result<usize>> {
    if buf.capacity() - buf.len() < MIN_READ_ROOM {
        buf.reserve(READ_BUF);
    }
    tokio_util::io::poll_read_buf(Pin::new(io), cx, buf)
}

/// Reads what is available into `buf`.
pub async fn read_some<R: AsyncRead + Unpin + ?Sized>(
    io: &mut R,
    buf: &mut BytesMut,
) -> io::Result<usize> {
    poll_fn(|cx| poll_read_some(&mut *io, cx, buf)).await
}

/// Writes all of `head` then all of `body` with as few syscalls as the stream allows
/// (one `writev` when it takes both).
pub async fn write_two<W: AsyncWrite + Unpin + ?Sized>(
    w: &mut W,
    mut head: &[u8],
    mut body: &[u8],
) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    while !head.is_empty() || !body.is_empty() {
        let n = if head.is_empty() {
            w.write(body).await?
        } else if body.is_empty() {
            w.write(head).await?
        } else {
            let slices = [io::IoSlice::new(head), io::IoSlice::new(body)];
            w.write_vectored(&slices).await?
        };
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let from_head = n.min(head.len());
        head = head.get(from_head..).unwrap_or(&[]);
        body = body.get(n - from_head..).unwrap_or(&[]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Runs `fut` but fails the test (instead of hanging it) when no timer wakes it.
    async fn within_a_minute<F: Future>(fut: F) -> F::Output {
        tokio::time::timeout(Duration::from_secs(60), fut)
            .await
            .expect("nothing woke the wait")
    }

    #[tokio::test(start_paused = true)]
    async fn a_kept_registration_times_out_for_the_task_that_waits() {
        let ten = Duration::from_secs(10);
        let mut t = IdleTimer::new();
        // Waits that end in time keep the first registration (a keep-alive connection).
        for _ in 0..3 {
            let quick = tokio::time::sleep(Duration::from_millis(100));
            assert!(t.run(ten, quick).await.is_ok());
        }
        // The same task waits on it: the sleep is not polled again, its waker is in
        // the wheel already; the early firing moves it to the real deadline.
        let start = Instant::now();
        let r = within_a_minute(t.run(ten, std::future::pending::<()>())).await;
        assert_eq!(r, Err(Elapsed));
        let waited = start.elapsed();
        assert!(waited >= ten && waited < ten * 2, "{waited:?}");
        // Registered and polled by this task, then waited on by another one (a pooled
        // upstream connection changes hands): the other task is the one woken.
        let quick = tokio::time::sleep(Duration::from_millis(100));
        assert!(t.run(ten, quick).await.is_ok());
        let other = tokio::spawn(async move {
            let start = Instant::now();
            let r = t.run(ten, std::future::pending::<()>()).await;
            (r, start.elapsed())
        });
        let (r, waited) = within_a_minute(other).await.unwrap();
        assert_eq!(r, Err(Elapsed));
        assert!(waited >= ten && waited < ten * 2, "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_after_the_timeout_never_before() {
        let mut t = IdleTimer::new();
        let never = std::future::pending::<()>();
        let start = Instant::now();
        assert_eq!(t.run(Duration::from_secs(10), never).await, Err(Elapsed));
        assert!(start.elapsed() >= Duration::from_secs(10));
        // Re-armed soon after, with the old registration kept: still a full timeout.
        tokio::time::advance(Duration::from_millis(300)).await;
        let start = Instant::now();
        assert_eq!(
            t.run(Duration::from_secs(10), std::future::pending::<()>())
                .await,
            Err(Elapsed)
        );
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs(10), "{waited:?}");
        // A shorter timeout than the registered one moves the timer earlier.
        let start = Instant::now();
        assert_eq!(
            t.run(Duration::from_secs(1), std::future::pending::<()>())
                .await,
            Err(Elapsed)
        );
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(1) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
    }

    #[tokio::test]
    async fn a_read_after_many_messages_still_takes_a_whole_response() {
        // A keep-alive connection's buffer after messages were split off its front:
        // 1.1 KiB of free room left.
        let mut buf = BytesMut::with_capacity(READ_BUF);
        buf.resize(READ_BUF - 1100, b'x');
        let _earlier = buf.split_to(buf.len());
        assert!(buf.capacity() - buf.len() < 1200);
        // A head and a 1 KiB body that arrived together.
        let response = vec![b'r'; 1300];
        let mut wire: &[u8] = &response;
        let n = read_some(&mut wire, &mut buf).await.unwrap();
        assert_eq!(n, 1300, "the response took more than one read");
        assert_eq!(&buf[..], &response[..]);
    }

    #[tokio::test(start_paused = true)]
    async fn progress_resets_the_timeout() {
        let mut t = IdleTimer::new();
        for _ in 0..5 {
            let r = t
                .run(
                    Duration::from_secs(10),
                    tokio::time::sleep(Duration::from_secs(6)),
                )
                .await;
            assert!(r.is_ok());
        }
    }
}
