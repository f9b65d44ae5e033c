//! [`MockRequest`]: the request as the pipeline owns it, body read once under a cap.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use hyper::{HeaderMap, Method};

/// A request, with its body collected.
#[derive(Debug, Clone)]
pub struct MockRequest {
    pub method: Method,
    /// The path as received (`/credeau/api/insights`).
    pub full_path: String,
    /// The path below the vendor's prefix (`/api/insights`); the full path on a
    /// `--vendor-listen` port.
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub peer: SocketAddr,
}

impl MockRequest {
    /// A `POST /` from 127.0.0.1 with `body` and an optional content type, for unit tests
    /// of body parsers.
    #[cfg(test)]
    pub(crate) fn test_post(body: &str, content_type: Option<&str>) -> Self {
        let mut headers = HeaderMap::new();
        if let Some(c) = content_type {
            headers.insert(
                hyper::header::CONTENT_TYPE,
                c.parse().expect("a test content type is valid"),
            );
        }
        Self {
            method: Method::POST,
            full_path: "/".into(),
            path: "/".into(),
            query: None,
            headers,
            body: Bytes::from(body.to_string()),
            peer: ([127, 0, 0, 1], 1).into(),
        }
    }

    /// A header as text; `None` when absent or not visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Decoded query pairs, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .as_deref()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default()
    }

    /// The first value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The media type of the body, lower-cased, without parameters.
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }
}

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// Larger than the cap (known from `Content-Length` or found while reading).
    TooLarge,
    /// The client went away or sent a broken body.
    Broken,
}

/// Collect `body`, refusing before reading anything when `Content-Length` already
/// exceeds `cap`, and stopping as soon as a chunked body passes it.
pub async fn read_body(
    headers: &HeaderMap,
    body: Incoming,
    cap: usize,
) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap as u64) {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(body, cap).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(BodyError::TooLarge)
        }
        Err(_) => Err(BodyError::Broken),
    }
}
