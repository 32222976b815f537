//! Reads what is left of a request body after an answer that did not need it.
//!
//! Many refusals are decided before the body is read: a bad token, a wrong media type, a caller
//! without the role. Over HTTP/1.1 the server then cannot reuse the connection, and closing a
//! socket with unread data in it makes the kernel send a reset, which discards the answer the
//! client has not read yet: the client sees a dropped connection instead of its 401. So the
//! unread rest of a body is read and thrown away before answering, up to [`DRAIN_MAX_BYTES`]
//! within [`DRAIN_TIME`]; a larger or slower body gets `Connection: close` instead. HTTP/2 ends
//! a stream cleanly without this, so it is left alone.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, Version, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt as _;

/// Most of an unread body read to keep the connection: more than the largest body any endpoint
/// accepts, so that a client refused with 413 for sending too much reads its 413 too.
pub const DRAIN_MAX_BYTES: usize = 32 * 1024 * 1024;
/// Longest spent reading an unread body (a slow sender gets `Connection: close` after it).
pub const DRAIN_TIME: Duration = Duration::from_secs(10);

/// The request body, shared between the handler (which may drop its end unread) and this layer.
#[derive(Default)]
struct Shared {
    body: Option<Body>,
    finished: bool,
}

struct TrackedBody(Arc<Mutex<Shared>>);

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let mut shared = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let Some(body) = shared.body.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            shared.finished = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let shared = self.0.lock().unwrap_or_else(|p| p.into_inner());
        shared.finished || shared.body.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let shared = self.0.lock().unwrap_or_else(|p| p.into_inner());
        shared
            .body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

/// Middleware: see the module documentation.
pub async fn drain_unread_body(req: Request, next: Next) -> Response {
    if req.version() >= Version::HTTP_2 {
        return next.run(req).await;
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (parts, body) = req.into_parts();
    let shared = Arc::new(Mutex::new(Shared {
        body: Some(body),
        finished: false,
    }));
    let req = Request::from_parts(parts, Body::new(TrackedBody(shared.clone())));
    let mut response = next.run(req).await;
    let rest = {
        let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
        if shared.finished {
            None
        } else {
            shared.body.take()
        }
    };
    let Some(rest) = rest else {
        return response;
    };
    if rest.is_end_stream() {
        return response;
    }
    let small_enough = declared.is_none_or(|n| n <= DRAIN_MAX_BYTES as u64);
    if !(small_enough && drain(rest).await) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Reads and drops `body`; whether it ended within the bounds.
async fn drain(mut body: Body) -> bool {
    let read_all = async {
        let mut read = 0usize;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            if let Some(data) = frame.data_ref() {
                read += data.len();
                if read > DRAIN_MAX_BYTES {
                    return false;
                }
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_TIME, read_all)
        .await
        .unwrap_or(false)
}
