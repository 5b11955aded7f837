//! The api's accept loop, plain or TLS, and the lingering close of a connection answered before
//! its request body was read.
//!
//! An early answer (a body over the size limit, a refused token) leaves the rest of the body on
//! its way. Closing the socket with unread data makes the kernel send a reset, and a client still
//! writing that body then sees a broken pipe instead of the answer waiting in its receive buffer.
//! So such a connection, once answered, stops writing (FIN) and reads and discards what the client
//! still sends, until the client closes or [`LINGER_TIME`] or [`LINGER_BYTES`] is reached, as
//! nginx's `lingering_close` does. Every other connection closes at once.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// A TLS client that connects and says nothing is dropped after this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Same bound for the request head of a TLS connection (hyper's default is 30 s).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an early-answered connection keeps reading what its client still sends.
pub const LINGER_TIME: Duration = Duration::from_secs(2);
/// How much of it is read and discarded at most: twice the largest body the api takes, so a
/// client that sent a body a little over the limit reads its 413, and one that streams without
/// end is cut off.
pub const LINGER_BYTES: usize = 8 * 1024 * 1024;

/// Set on a connection whose answer went out before its request body was read to the end
/// (`unread_body`), so that its close lingers. A request extension of every served request.
#[derive(Debug, Clone, Default)]
pub struct Linger(Arc<AtomicBool>);

impl Linger {
    pub fn request(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Serves `app` until shutdown, then waits for the open connections to finish their requests,
/// as `axum::serve(..).with_graceful_shutdown` does. With `tls`, each connection is a TLS one.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    shutdown: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let linger = Linger::default();
        let io = LingeringClose::new(tcp, linger.clone());
        let app = app.clone();
        let watcher = graceful.watcher();
        match tls.clone() {
            None => {
                tokio::spawn(serve_connection(io, peer, linger, app, watcher, None));
            }
            Some(acceptor) => {
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
                        Ok(Ok(stream)) => {
                            let timeout = Some(HEADER_READ_TIMEOUT);
                            serve_connection(stream, peer, linger, app, watcher, timeout).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    linger: Linger,
    app: Router,
    watcher: Watcher,
    header_read_timeout: Option<Duration>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // What `into_make_service_with_connect_info` gives: the admission line and the admin
    // throttle key on the peer address.
    let svc = app.map_request(move |mut req: Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(linger.clone());
        req
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    if let Some(timeout) = header_read_timeout {
        builder.timer(TokioTimer::new()).header_read_timeout(timeout);
    }
    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(svc));
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// The accepted socket. Its `poll_shutdown`, which hyper calls when it closes the connection
/// (under TLS, after the close_notify), lingers when [`Linger`] was requested.
pub struct LingeringClose {
    inner: TcpStream,
    linger: Linger,
    draining: Option<Draining>,
}

struct Draining {
    deadline: Pin<Box<Sleep>>,
    left: usize,
}

impl LingeringClose {
    pub fn new(inner: TcpStream, linger: Linger) -> Self {
        Self {
            inner,
            linger,
            draining: None,
        }
    }
}

impl AsyncRead for LingeringClose {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for LingeringClose {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.draining.is_none() {
            // The answer is flushed; FIN tells the client nothing more comes.
            ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
            if !this.linger.requested() {
                return Poll::Ready(Ok(()));
            }
            this.draining = Some(Draining {
                deadline: Box::pin(tokio::time::sleep(LINGER_TIME)),
                left: LINGER_BYTES,
            });
        }
        let Some(draining) = this.draining.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let mut scratch = [0u8; 8192];
        while draining.left > 0 {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                // The client closed (or reset): nothing is left to spare it from.
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => draining.left = draining.left.saturating_sub(buf.filled().len()),
                Poll::Pending => {
                    ready!(draining.deadline.as_mut().poll(cx));
                    return Poll::Ready(Ok(()));
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}
