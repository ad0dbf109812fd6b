//! Transport pieces shared by both sides: the upstream stream (plain TCP or TLS), a
//! stream that replays bytes already read (to hand a connection to hyper's HTTP/2
//! server), and a timer that is only armed when an operation actually has to wait.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
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
#[derive(Default)]
pub struct IdleTimer {
    sleep: Option<Pin<Box<Sleep>>>,
    /// The deadline the sleep is registered for.
    at: Option<Instant>,
    /// The deadline of the current wait, once armed.
    want: Option<Instant>,
}

impl IdleTimer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Progress was made: the next wait starts a fresh timeout.
    pub fn disarm(&mut self) {
        self.want = None;
    }

    /// Called when an operation is about to wait: arms the timer if it is not, and
    /// tells whether `timeout` has passed since it was armed.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>, timeout: Duration) -> bool {
        let want = match self.want {
            Some(w) => w,
            None => {
                let w = Instant::from_std(crate::clock::this_poll()) + timeout;
                self.want = Some(w);
                let close_enough = self
                    .at
                    .is_some_and(|at| at <= w && w.duration_since(at) < timeout / 8);
                if !close_enough {
                    self.register(w);
                }
                w
            }
        };
        loop {
            let Some(sleep) = self.sleep.as_mut() else {
                return false;
            };
            if sleep.as_mut().poll(cx).is_pending() {
                return false;
            }
            if Instant::from_std(crate::clock::this_poll()) >= want {
                return true;
            }
            // Fired at an earlier registration: wait on for the real deadline.
            self.register(want);
        }
    }

    fn register(&mut self, deadline: Instant) {
        self.at = Some(deadline);
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

#[cfg(test)]
mod tests {
    use super::*;

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
