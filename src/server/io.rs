//! [`Io`]: a client's socket as hyper sees it, counting what is read and, once the
//! connection is asked to close or shutdown has begun, reading what the client already
//! sent without waiting for the runtime.
//!
//! Why the second part: tokio reads a socket only after its event loop has reported it
//! readable. A request written just before shutdown, or just as its connection was
//! chosen to close for a new one, can be in the socket already while that report is
//! still on its way; the connection would then look idle and be closed with the request
//! unanswered. So once asked, a read that tokio would park asks the socket itself once
//! (non-blocking) before giving up.

use std::io::{self, IoSlice, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use socket2::SockRef;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::tracked::Tracked;

/// At most this much is read straight from the socket at once.
const DIRECT_READ: usize = 16 * 1024;

pub struct Io {
    stream: TcpStream,
    conn: Arc<Tracked>,
}

impl Io {
    pub fn new(stream: TcpStream, conn: Arc<Tracked>) -> Self {
        Self { stream, conn }
    }

    /// A non-blocking read straight from the socket.
    fn read_now(&self, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let want = buf.remaining().min(DIRECT_READ);
        let dst = buf.initialize_unfilled_to(want);
        loop {
            return match (&*SockRef::from(&self.stream)).read(dst) {
                Ok(n) => {
                    buf.advance(n);
                    self.conn.bytes_read(n);
                    Poll::Ready(Ok(()))
                }
                // Nothing there: tokio's own read has registered for the next event.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Poll::Ready(Err(e)),
            };
        }
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.conn.bytes_read(buf.filled().len() - before);
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.conn.asked() && buf.remaining() > 0 => this.read_now(buf),
            other => other,
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
