//! `Connection: close` on a response sent before the request body was read to its end: an error
//! answered early (body over the size limit, authentication, database down) leaves the rest of
//! the body on the connection, so the server closes the connection after responding. Without
//! the header a client may reuse that keep-alive connection for its next request, which then
//! fails with a broken pipe and no answer at all. The close itself lingers
//! (`connections::Linger`), so that a client still writing the body gets to read the answer.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Body as _, Frame, SizeHint};

use crate::connections::Linger;

/// A request body that records when it has been read to its end.
struct Tracked {
    inner: Body,
    finished: Arc<AtomicBool>,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.finished.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Middleware, outermost, so it sees the final response.
pub async fn close_if_unread(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    if body.is_end_stream() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let linger = parts.extensions.get::<Linger>().cloned();
    let finished = Arc::new(AtomicBool::new(false));
    let tracked = Tracked {
        inner: body,
        finished: finished.clone(),
    };
    let mut resp = next.run(Request::from_parts(parts, Body::new(tracked))).await;
    if !finished.load(Ordering::Relaxed) {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        if let Some(linger) = linger {
            linger.request();
        }
    }
    resp
}
