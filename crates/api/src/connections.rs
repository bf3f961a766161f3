//! Connection limits for a port: how many connections may be open at once, and how long one
//! may sit idle.
//!
//! The request limits (concurrency, body size, timeout) do not bound connections: an HTTP/2
//! connection (or an HTTP/1 one between requests) costs a task and a file descriptor while
//! doing nothing, and hyper's HTTP/2 server has no idle timeout. Without these limits anyone
//! who can reach the public port could hold connections open until the process runs out of
//! file descriptors, which also stops the storage backend from opening its files.
//!
//! [`Guarded`] is an `axum_server` acceptor that runs before TLS: past the limit a new
//! connection is closed at once, and every accepted stream carries its slot until it closes
//! and fails once no byte has moved either way for the idle timeout. (tokio-io-timeout's
//! streams time reads and writes separately, and hyper keeps a read pending while it
//! writes, so a read timeout would cut off a slow download that is still progressing.)

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// The error a connection past the limit is closed with (so the accept-error handler can
/// tell it from a failed TLS handshake).
#[derive(Debug, thiserror::Error)]
#[error("connection limit ({limit}) reached; connection closed")]
pub struct ConnectionLimitReached {
    pub limit: usize,
}

/// Caps open connections and closes idle ones, then hands the stream to `inner` (TLS, or
/// nothing).
#[derive(Clone)]
pub struct Guarded<A> {
    inner: A,
    slots: Arc<Semaphore>,
    limit: usize,
    idle: Duration,
}

impl<A> Guarded<A> {
    pub fn new(inner: A, limit: usize, idle: Duration) -> Self {
        Guarded {
            inner,
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            idle,
        }
    }
}

/// An accepted connection: its slot, and its stream with the idle deadline, which every
/// byte read or written pushes back.
pub struct GuardedStream {
    io: TcpStream,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    _slot: OwnedSemaphorePermit,
}

impl GuardedStream {
    fn new(io: TcpStream, idle: Duration, slot: OwnedSemaphorePermit) -> Self {
        GuardedStream {
            io,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            _slot: slot,
        }
    }

    fn progressed(&mut self) {
        let next = Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }

    /// A write's outcome: bytes written push the deadline back; a write still waiting
    /// fails once nothing has moved either way for the idle timeout.
    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    self.progressed();
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.idle_out(cx),
        }
    }

    /// For an operation that is waiting: an error once nothing has moved either way for
    /// the idle timeout.
    fn idle_out<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<A, S> Accept<TcpStream, S> for Guarded<A>
where
    A: Accept<GuardedStream, S> + Clone + Send + 'static,
    A::Future: Send,
    S: Send + 'static,
{
    type Stream = A::Stream;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(A::Stream, A::Service)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let slot = self.slots.clone().try_acquire_owned();
        let (inner, limit, idle) = (self.inner.clone(), self.limit, self.idle);
        Box::pin(async move {
            let Ok(slot) = slot else {
                metrics::counter!("cairn_connections_refused_total").increment(1);
                return Err(io::Error::other(ConnectionLimitReached { limit }));
            };
            inner
                .accept(GuardedStream::new(stream, idle, slot), service)
                .await
        })
    }
}

// hyper keeps a read pending while it writes a response (to notice a client that goes
// away), so a read timeout alone would cut off a slow download; the deadline is idleness in
// both directions.
impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.progressed();
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.idle_out(cx),
        }
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.wrote(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
