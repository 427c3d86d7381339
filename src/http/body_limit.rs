//! Reading a body within `MAX_BODY_BYTES`: the whole of it, or the 413 after draining what the
//! client is still writing.

use std::{pin::Pin, time::Duration};

use axum::{
    body::{Body, Bytes, HttpBody},
    http::{HeaderMap, header},
};

use crate::error::ApiError;

/// How much of an oversized body is read and thrown away before the 413, and for how long at
/// most. A server that answers while the client is still writing, then closes, makes the client's
/// kernel see a reset: the client gets EPIPE or ECONNRESET instead of the answer.
const DRAIN_MAX_BYTES: usize = 1024 * 1024;
const DRAIN_MAX_TIME: Duration = Duration::from_secs(2);

pub(super) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
}

/// The whole body if it is at most `limit` bytes, else 413 `PAYLOAD_TOO_LARGE` (declared or found
/// while reading; see [`too_large`]).
pub async fn read_limited(headers: &HeaderMap, mut body: Body, limit: usize) -> Result<Bytes, ApiError> {
    if declared_length(headers).is_some_and(|n| n > limit as u64) {
        return Err(too_large(headers, body, 0).await);
    }
    let mut bytes = Vec::new();
    // A body that breaks off (client gone, bad chunk) has always answered 413 here.
    while let Some(data) = next_data(&mut body).await.map_err(|_| ApiError::PayloadTooLarge)? {
        if bytes.len() + data.len() > limit {
            return Err(too_large(headers, body, bytes.len() + data.len()).await);
        }
        bytes.extend_from_slice(&data);
    }
    Ok(Bytes::from(bytes))
}

/// The 413 for a body over the limit, after reading (and dropping) the rest of it, up to
/// [`DRAIN_MAX_BYTES`] in all (`seen` already read) and for at most [`DRAIN_MAX_TIME`], so the
/// client can finish writing and read the answer. The answer closes the connection
/// (`Connection: close`, see `ApiError`). A client waiting on `Expect: 100-continue` has sent
/// nothing yet: it is answered at once.
pub(super) async fn too_large(headers: &HeaderMap, mut body: Body, mut seen: usize) -> ApiError {
    let waits_for_continue =
        headers.get(header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if !waits_for_continue {
        let drain = async {
            while seen < DRAIN_MAX_BYTES {
                match next_data(&mut body).await {
                    Ok(Some(data)) => seen += data.len(),
                    _ => break,
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_MAX_TIME, drain).await;
    }
    ApiError::PayloadTooLarge
}

/// The body's next data (`None` at its end; trailers are skipped).
async fn next_data(body: &mut Body) -> Result<Option<Bytes>, axum::Error> {
    loop {
        match std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
            None => return Ok(None),
            Some(Err(e)) => return Err(e),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}
