//! [`MockResponse`]: what a vendor answers, before it becomes a hyper response.
//!
//! JSON bodies stay a [`serde_json::Value`] until the edge so a scenario `patch` can
//! apply to them; the delay and the `reset` fault travel with the answer and are carried
//! out by the pipeline after every lock is released.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{HeaderMap, Response, StatusCode};
use serde_json::Value;

use super::tracked::Tracked;
use crate::memo::Filled;
use crate::scenario::merge_patch;

#[derive(Debug, Clone)]
pub enum Body {
    Empty,
    Bytes(Bytes),
    /// Sent one after another: lets a vendor answer with a cached part without copying it.
    Parts(Vec<Bytes>),
    /// Filled from a cached template: sent as its bytes; the journal keeps the template
    /// and the holes' values instead of the bytes ([`crate::memo::Filled`]).
    Filled(Filled),
    Json(Value),
}

/// The body hyper sends: the parts of an answer, with their exact total length.
/// The next part waits in `next`; any further ones are kept in reverse so they pop off
/// the end. A single part (the common case) needs no allocation at all.
#[derive(Debug, Default)]
pub struct OutBody {
    next: Option<Bytes>,
    reversed: Vec<Bytes>,
    remaining: u64,
    /// The connection told when hyper is done with this body (sent whole or dropped
    /// with the connection): its request is then no longer in flight. Kept here rather
    /// than in a wrapper body so the answer is not moved once more per request.
    done: Option<Arc<Tracked>>,
}

impl Drop for OutBody {
    fn drop(&mut self) {
        if let Some(conn) = &self.done {
            conn.request_finished();
        }
    }
}

impl OutBody {
    /// The parts, sent one after another.
    pub fn parts(mut parts: Vec<Bytes>) -> Self {
        parts.retain(|p| !p.is_empty());
        parts.reverse();
        let remaining = parts.iter().map(|p| p.len() as u64).sum();
        let next = parts.pop();
        Self {
            next,
            reversed: parts,
            remaining,
            done: None,
        }
    }

    fn one(part: Bytes) -> Self {
        Self {
            remaining: part.len() as u64,
            next: (!part.is_empty()).then_some(part),
            reversed: Vec::new(),
            done: None,
        }
    }

    /// Tell `conn` when hyper is done with this body.
    pub(crate) fn report_done_to(&mut self, conn: Arc<Tracked>) {
        self.done = Some(conn);
    }
}

impl hyper::body::Body for OutBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let current = this.next.take();
        if let Some(p) = &current {
            this.remaining -= p.len() as u64;
            this.next = this.reversed.pop();
        }
        std::task::Poll::Ready(current.map(|p| Ok(hyper::body::Frame::data(p))))
    }

    fn is_end_stream(&self) -> bool {
        self.next.is_none()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.remaining)
    }
}

/// `application/json`, as a header value made at compile time.
pub const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A `Content-Type` for [`MockResponse::bytes`]. A `&'static str` is checked as a header
/// value on every call ([`HeaderValue::from_static`] looks at each byte when its text is
/// not a constant), except `application/json`, which is found by one comparison; a
/// [`HeaderValue`] constant (`const X: HeaderValue = HeaderValue::from_static(..)`, made
/// at compile time) costs nothing.
pub trait ContentType {
    fn header_value(self) -> HeaderValue;
}

impl ContentType for &'static str {
    #[inline]
    fn header_value(self) -> HeaderValue {
        if self == "application/json" {
            APPLICATION_JSON
        } else {
            HeaderValue::from_static(self)
        }
    }
}

impl ContentType for HeaderValue {
    #[inline]
    fn header_value(self) -> HeaderValue {
        self
    }
}

#[derive(Debug, Clone)]
pub struct MockResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Body,
    /// Wait this long before answering.
    pub delay: Option<Duration>,
    /// Close the connection instead of answering.
    pub reset: bool,
    /// The vendor's named outcome this answer renders (its place in the vendor's
    /// outcome list): set by `Turn::respond`, counted for coverage by the pipeline.
    pub outcome: Option<usize>,
}

thread_local! {
    /// A request's header map, emptied, for the thread's next answer: see [`keep_headers`].
    /// An `Option`, not an empty map: taking it leaves `None`, so keeping the next one has
    /// no empty map to drop.
    static SPARE_HEADERS: Cell<Option<HeaderMap>> = const { Cell::new(None) };
}

/// The most headers a kept map may hold without growing (hyper sizes a request's map to
/// its headers): one grown past this by a request with many headers is freed, so clearing
/// a kept map stays a few stores.
const SPARE_HEADERS_MAX: usize = 12;

/// Leave a request's header map (emptied) for the thread's next [`MockResponse`].
///
/// hyper hands each connection's last answer's header map back as the next request's
/// (`cached_headers`), so a map made for an answer comes back as a request's: kept here
/// once the request is answered, it is the next answer's, and a steady stream of requests
/// allocates and frees no header map at all. Only the allocation is reused: the map is
/// emptied, and a map's order is that of its inserts whatever its capacity, so the
/// answer's head is the same bytes.
pub fn keep_headers(mut headers: HeaderMap) {
    // `capacity` does not count the map's list of repeated values (`extra_values`), but
    // that list is bounded too: hyper takes at most 100 request headers, and a map that
    // held more than 12 was reserved past the limit and is freed here; answers only insert.
    if headers.capacity() > SPARE_HEADERS_MAX {
        return;
    }
    headers.clear();
    let _ = SPARE_HEADERS.try_with(|spare| spare.set(Some(headers)));
}

/// An empty header map: the thread's spare, or a new one.
fn spare_headers() -> HeaderMap {
    SPARE_HEADERS
        .try_with(Cell::take)
        .ok()
        .flatten()
        .unwrap_or_default()
}

impl MockResponse {
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            headers: spare_headers(),
            body: Body::Empty,
            delay: None,
            reset: false,
            outcome: None,
        }
    }

    /// `application/json`, serialized compactly at the edge.
    pub fn json(status: StatusCode, body: Value) -> Self {
        Self {
            body: Body::Json(body),
            ..Self::new(status)
        }
        .with_header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
    }

    /// Literal bytes with a content type.
    /// Bytes already written, of `content_type`: a `&'static str` or, cheaper, a
    /// [`HeaderValue`] made once (see [`ContentType`]).
    pub fn bytes(
        status: StatusCode,
        content_type: impl ContentType,
        body: impl Into<Bytes>,
    ) -> Self {
        let mut r = Self::new(status);
        r.body = Body::Bytes(body.into());
        r.headers.insert(CONTENT_TYPE, content_type.header_value());
        r
    }

    /// An answer filled from a template, of `content_type` ([`MockResponse::bytes`]).
    pub fn filled(status: StatusCode, content_type: impl ContentType, body: Filled) -> Self {
        let mut r = Self::new(status);
        r.body = Body::Filled(body);
        r.headers.insert(CONTENT_TYPE, content_type.header_value());
        r
    }

    pub fn html(status: StatusCode, body: &'static str) -> Self {
        Self::bytes(status, "text/html", Bytes::from_static(body.as_bytes()))
    }

    /// An error below any vendor, in the HTTP framing itself (a broken chunked body):
    /// a short `{"error": ...}`, and the connection closed after it since the rest of
    /// what the client sent cannot be read reliably.
    pub fn protocol_error(status: StatusCode, message: impl Into<String>) -> Self {
        Self::json(status, serde_json::json!({ "error": message.into() }))
            .with_header(hyper::header::CONNECTION, HeaderValue::from_static("close"))
    }

    /// An answer that is never sent: the connection is closed instead.
    pub fn reset() -> Self {
        Self {
            reset: true,
            ..Self::new(StatusCode::OK)
        }
    }

    /// Set (replace) a header. Values that are not valid header text are skipped: they
    /// only ever come from generated data, never from user input.
    pub fn with_header(
        mut self,
        name: impl TryInto<HeaderName>,
        value: impl TryInto<HeaderValue>,
    ) -> Self {
        self.set_header(name, value);
        self
    }

    pub fn set_header(&mut self, name: impl TryInto<HeaderName>, value: impl TryInto<HeaderValue>) {
        if let (Ok(n), Ok(v)) = (name.try_into(), value.try_into()) {
            self.headers.insert(n, v);
        }
    }

    /// Apply an RFC 7396 merge patch to a JSON body (other bodies are left alone).
    pub fn patch(&mut self, patch: &Value) {
        if let Body::Json(v) = &mut self.body {
            merge_patch(v, patch);
        }
    }

    /// The JSON body, if it is one.
    pub fn json_body(&self) -> Option<&Value> {
        match &self.body {
            Body::Json(v) => Some(v),
            _ => None,
        }
    }

    /// Serialize a JSON body now (compactly, as it is sent), so its bytes can be kept
    /// before the answer leaves; other bodies are left as they are.
    pub fn serialize_body(&mut self) {
        if let Body::Json(v) = &self.body {
            let bytes = serde_json::to_vec(v).expect("a serde_json::Value always serializes");
            self.body = Body::Bytes(Bytes::from(bytes));
        }
    }

    pub fn into_hyper(self) -> Response<OutBody> {
        let body = match self.body {
            Body::Empty => OutBody::default(),
            Body::Bytes(b) => OutBody::one(b),
            Body::Parts(parts) => OutBody::parts(parts),
            Body::Filled(f) => OutBody::one(f.bytes),
            Body::Json(v) => OutBody::one(Bytes::from(
                serde_json::to_vec(&v).expect("a serde_json::Value always serializes"),
            )),
        };
        let mut resp = Response::new(body);
        *resp.status_mut() = self.status;
        // The map `Response::new` made is empty and never allocated (`HeaderMap::new`
        // does not allocate): forgetting it leaks nothing, where dropping it called the
        // drops of its two empty lists on every answer.
        let empty = std::mem::replace(resp.headers_mut(), self.headers);
        debug_assert_eq!(empty.capacity(), 0, "a new response's map holds nothing");
        std::mem::forget(empty);
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Body as _;

    fn frames(mut body: OutBody) -> Vec<Bytes> {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut out: Vec<Bytes> = Vec::new();
        let total = body.size_hint().exact().expect("an exact length");
        loop {
            let sent: u64 = out.iter().map(|b| b.len() as u64).sum();
            assert_eq!(
                body.size_hint().exact(),
                Some(total - sent),
                "the length left"
            );
            match std::pin::Pin::new(&mut body).poll_frame(&mut cx) {
                std::task::Poll::Ready(Some(Ok(f))) => out.push(f.into_data().expect("data")),
                std::task::Poll::Ready(None) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(body.is_end_stream());
        out
    }

    fn request_headers(n: usize) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(hyper::header::HOST, HeaderValue::from_static("mock:1"));
        h.append(hyper::header::ACCEPT, HeaderValue::from_static("*/*"));
        for i in 0..n {
            let name = HeaderName::from_bytes(format!("x-request-{i}").as_bytes()).unwrap();
            h.append(name, HeaderValue::from_static("v"));
        }
        h
    }

    /// An answer's headers as hyper writes them: in the map's order.
    fn head(resp: &MockResponse) -> Vec<(String, Vec<u8>)> {
        resp.headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    fn answer() -> MockResponse {
        let mut resp = MockResponse::json(StatusCode::OK, serde_json::json!({"a": 1}));
        resp.set_header(
            HeaderName::from_static("x-vendor-mock-scenario"),
            HeaderValue::from_static("default"),
        );
        resp.set_header(hyper::header::DATE, "Thu, 15 Jan 2026 10:00:00 GMT");
        resp.set_header(CONTENT_TYPE, "text/plain");
        resp.set_header(hyper::header::LOCATION, "/next");
        resp
    }

    #[test]
    fn an_answer_on_a_kept_request_map_has_the_head_of_one_on_a_new_map() {
        let fresh = head(&answer());
        assert_eq!(
            fresh.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["content-type", "x-vendor-mock-scenario", "date", "location"]
        );
        for n in [0, 3, 5, 8, 10, 40] {
            let request = request_headers(n);
            let capacity = request.capacity();
            keep_headers(request);
            // A small map is kept, emptied, with its room; a grown one was freed.
            let spare = spare_headers();
            assert!(spare.is_empty());
            let kept = capacity <= SPARE_HEADERS_MAX;
            assert_eq!(spare.capacity(), if kept { capacity } else { 0 }, "{n}");
            keep_headers(spare);
            assert_eq!(
                head(&answer()),
                fresh,
                "after a request of {} headers",
                n + 2
            );
        }
        // Taken: the next answer gets a new map.
        keep_headers(request_headers(3));
        let _taken = spare_headers();
        assert_eq!(spare_headers().capacity(), 0);
    }

    #[test]
    fn parts_are_sent_in_order_without_empty_ones() {
        let parts = ["head,", "", "middle,", "tail"].map(|p| Bytes::from_static(p.as_bytes()));
        let body = OutBody::parts(parts.to_vec());
        assert_eq!(body.size_hint().exact(), Some(16));
        assert!(!body.is_end_stream());
        assert_eq!(frames(body), vec!["head,", "middle,", "tail"]);
    }

    #[test]
    fn one_part_and_no_part() {
        let body = OutBody::one(Bytes::from_static(b"only"));
        assert_eq!(body.size_hint().exact(), Some(4));
        assert_eq!(frames(body), vec!["only"]);
        let empty = OutBody::one(Bytes::new());
        assert!(empty.is_end_stream());
        assert_eq!(empty.size_hint().exact(), Some(0));
        assert!(frames(OutBody::default()).is_empty());
    }
}
