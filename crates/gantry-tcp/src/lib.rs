//! [`Tcp`]: a `tokio::net::TcpStream` whose reads and writes are direct system calls.
//!
//! tokio reads a socket through `std`, which calls glibc's `recv`/`send`/`writev`.
//! In a multi-threaded process those wrappers are thread-cancellation points: each
//! call enables and disables asynchronous cancellation around the system call (two
//! atomic read-modify-writes). nginx workers are single-threaded and skip that; for
//! Gantry it was ~1 % of all CPU per proxied request (perf, plain proxying). Here the
//! same tokio readiness drives `rustix`'s raw system calls instead, with tokio's own
//! rule kept: a read or write that does less than asked clears the readiness, so the
//! next one waits for epoll instead of costing an `EAGAIN` round trip.
//!
//! Writes go first: a proxy's writes almost always fit the socket buffer, so a write
//! is tried straight away, without tokio's readiness bookkeeping (~250 instructions a
//! call, two calls per proxied request). Only after one was cut short or refused does
//! the next go through readiness, until one completes whole again.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// A TCP connection, either side of the proxy.
#[derive(Debug)]
pub struct Tcp {
    stream: TcpStream,
    /// The last write was cut short or refused: the socket buffer may be full, so
    /// writes wait for tokio's readiness until one completes whole.
    write_blocked: AtomicBool,
}

impl From<TcpStream> for Tcp {
    fn from(stream: TcpStream) -> Self {
        Self {
            stream,
            write_blocked: AtomicBool::new(false),
        }
    }
}

impl Tcp {
    /// The tokio stream, for what this type does not wrap (addresses, options,
    /// readiness probes).
    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }

    /// Runs one non-blocking operation once the socket is ready for `interest`.
    /// `op` returns how much it did and how much it was asked to do; a short result
    /// is reported to tokio as "would block" so the readiness is cleared (with the
    /// readiness tick, so an event that came in meanwhile is not lost).
    /// A write (`op`): tried at once unless the last one was cut short or refused,
    /// else (and then) through [`Tcp::poll_op`].
    #[cfg(target_os = "linux")]
    fn poll_write_op(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut() -> io::Result<(usize, usize)>,
    ) -> Poll<io::Result<usize>> {
        // Relaxed: only this connection's task touches the flag; the atomic just keeps
        // `Tcp` `Sync` like the stream it wraps.
        if !self.write_blocked.load(Ordering::Relaxed) {
            loop {
                match op() {
                    Ok((done, asked)) => {
                        if done < asked {
                            self.write_blocked.store(true, Ordering::Relaxed);
                        }
                        return Poll::Ready(Ok(done));
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            self.write_blocked.store(true, Ordering::Relaxed);
        }
        let mut whole = false;
        let r = self.poll_op(cx, Interest::WRITABLE, || {
            let (done, asked) = op()?;
            whole = done == asked;
            Ok((done, asked))
        });
        if whole && matches!(r, Poll::Ready(Ok(_))) {
            self.write_blocked.store(false, Ordering::Relaxed);
        }
        r
    }

    #[cfg(target_os = "linux")]
    fn poll_op(
        &self,
        cx: &mut Context<'_>,
        interest: Interest,
        mut op: impl FnMut() -> io::Result<(usize, usize)>,
    ) -> Poll<io::Result<usize>> {
        loop {
            if interest == Interest::READABLE {
                ready!(self.stream.poll_read_ready(cx))?;
            } else {
                ready!(self.stream.poll_write_ready(cx))?;
            }
            let mut short = None;
            let r = self.stream.try_io(interest, || {
                let (done, asked) = op()?;
                if done > 0 && done < asked {
                    short = Some(done);
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(done)
            });
            match r {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Some(n) = short {
                        return Poll::Ready(Ok(n));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

#[cfg(target_os = "linux")]
mod sys {
    use std::io::{self, IoSlice};
    use std::os::fd::BorrowedFd;

    use rustix::net::{RecvFlags, SendFlags};
    use tokio::io::ReadBuf;

    /// `recv` into the unfilled part of `buf`: (bytes read, bytes asked for).
    pub fn recv(fd: BorrowedFd<'_>, buf: &mut ReadBuf<'_>) -> io::Result<(usize, usize)> {
        #[allow(unsafe_code)]
        // SAFETY: the kernel only writes into these bytes; none is read or
        // de-initialized here.
        let unfilled = unsafe { buf.unfilled_mut() };
        let asked = unfilled.len();
        let ((filled, _), _) = rustix::net::recv(fd, unfilled, RecvFlags::empty())?;
        let n = filled.len();
        #[allow(unsafe_code)]
        // SAFETY: `recv` initialized the first `n` unfilled bytes.
        unsafe {
            buf.assume_init(n);
        }
        buf.advance(n);
        Ok((n, asked))
    }

    /// `send` with `MSG_NOSIGNAL` (a closed peer is an error, not a signal).
    pub fn send(fd: BorrowedFd<'_>, data: &[u8]) -> io::Result<(usize, usize)> {
        let n = rustix::net::send(fd, data, SendFlags::NOSIGNAL)?;
        Ok((n, data.len()))
    }

    /// `writev` (Rust programs ignore `SIGPIPE`, so a closed peer is `EPIPE`).
    pub fn writev(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<(usize, usize)> {
        let n = rustix::io::writev(fd, bufs)?;
        Ok((n, bufs.iter().map(|b| b.len()).sum()))
    }
}

// Elsewhere tokio's own calls do the work.
impl AsyncRead for Tcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsFd;
            let this = self.get_mut();
            let fd = this.stream.as_fd();
            this.poll_op(cx, Interest::READABLE, || sys::recv(fd, buf))
                .map_ok(|_| ())
        }
        #[cfg(not(target_os = "linux"))]
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsFd;
            let this = self.get_mut();
            let fd = this.stream.as_fd();
            this.poll_write_op(cx, || sys::send(fd, data))
        }
        #[cfg(not(target_os = "linux"))]
        Pin::new(&mut self.get_mut().stream).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsFd;
            let this = self.get_mut();
            let fd = this.stream.as_fd();
            this.poll_write_op(cx, || sys::writev(fd, bufs))
        }
        #[cfg(not(target_os = "linux"))]
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        cfg!(target_os = "linux") || self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing is buffered here: writes go straight to the socket.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
