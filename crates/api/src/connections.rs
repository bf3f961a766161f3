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
//! and fails a read that waits longer than the idle timeout (tokio-io-timeout).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_io_timeout::TimeoutStream;

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

/// An accepted connection: its slot, and its stream with the idle timeout.
pub struct GuardedStream {
    io: Pin<Box<TimeoutStream<TcpStream>>>,
    _slot: OwnedSemaphorePermit,
}

impl<A, S> Accept<TcpStream, S> for Guarded<A>
where
    A: Accept<GuardedStream, S> + Clone + Send + 'static,
    A::Future: Send,
    S: Send + 'static,
{
    type Stream = A::Stream;
    type Service = A::Service;
    type Future =
        Pin<Box<dyn std::future::Future<Output = io::Result<(A::Stream, A::Service)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let slot = self.slots.clone().try_acquire_owned();
        let (inner, limit, idle) = (self.inner.clone(), self.limit, self.idle);
        Box::pin(async move {
            let Ok(slot) = slot else {
                metrics::counter!("cairn_connections_refused_total").increment(1);
                return Err(io::Error::other(ConnectionLimitReached { limit }));
            };
            let mut io = TimeoutStream::new(stream);
            // Reads only: a read waits as long as the peer says nothing, a write only as long
            // as its buffers are full.
            io.set_read_timeout(Some(idle));
            let stream = GuardedStream {
                io: Box::pin(io),
                _slot: slot,
            };
            inner.accept(stream, service).await
        })
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io.as_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io.as_mut().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_shutdown(cx)
    }
}
