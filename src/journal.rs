//! The request journal: a bounded ring buffer of the exchanges the mock has seen.
//!
//! Each entry records what a user debugging a test wants to see: when, which vendor,
//! the request line, selected headers, the body (capped at [`BODY_CAP`] bytes), which
//! scenario and step answered, and the status. Outbound calls the mock makes itself
//! (webhook deliveries) are journaled too, with `direction = "outbound"`. The oldest
//! entry is dropped once `--journal-limit` entries are held, so a sidecar left running
//! for days stays small.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hyper::Method;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::clock::rfc3339;

/// Request bodies are kept up to this many bytes: enough to read any JSON request the
/// vendors document, small enough that 10 000 entries stay within a few tens of MB.
pub const BODY_CAP: usize = 4096;
/// Header values are shown up to this many characters.
const HEADER_CAP: usize = 256;

/// Selected request headers, packed in one buffer (`name NUL value LF` each): one
/// allocation per entry instead of two per header.
#[derive(Debug, Clone, Default)]
pub struct Headers(Vec<u8>);

impl Headers {
    pub fn with_capacity(bytes: usize) -> Self {
        Self(Vec::with_capacity(bytes))
    }

    /// Add a header. Valid header names and values never contain NUL or LF.
    pub fn push(&mut self, name: &str, value: &[u8]) {
        self.0.extend_from_slice(name.as_bytes());
        self.0.push(0);
        self.0.extend_from_slice(value);
        self.0.push(b'\n');
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|line| {
                let at = line.iter().position(|b| *b == 0)?;
                Some((std::str::from_utf8(&line[..at]).ok()?, &line[at + 1..]))
            })
    }
}

/// One exchange. It holds cheap raw values (the body is a shared `Bytes`, headers are
/// the request's own values): recording happens on every request, JSON rendering only
/// when someone reads the journal.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Assigned by [`Journal::push`].
    pub seq: u64,
    pub time: DateTime<Utc>,
    /// `inbound` (a client's request) or `outbound` (a call the mock made, e.g. a webhook).
    pub direction: &'static str,
    pub vendor: Option<&'static str>,
    pub method: Method,
    /// The path, or the URL of an outbound call.
    pub path: String,
    pub query: Option<String>,
    /// The client's address; `None` for calls the mock made itself.
    pub client: Option<IpAddr>,
    pub headers: Headers,
    /// Copied and capped at [`BODY_CAP`] bytes by [`Journal::push`].
    pub body: Bytes,
    pub body_truncated: bool,
    pub entity: Option<String>,
    pub scenario: Arc<str>,
    pub step: Option<usize>,
    /// `None` when no answer was sent (a `reset` fault, or an outbound call that failed).
    pub status: Option<u16>,
    pub note: Option<String>,
}

impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("seq", &self.seq)?;
        m.serialize_entry("time", &rfc3339(self.time))?;
        m.serialize_entry("direction", self.direction)?;
        m.serialize_entry("vendor", &self.vendor)?;
        m.serialize_entry("method", self.method.as_str())?;
        m.serialize_entry("path", &self.path)?;
        if let Some(q) = &self.query {
            m.serialize_entry("query", q)?;
        }
        match self.client {
            Some(ip) => m.serialize_entry("client", &ip)?,
            None => m.serialize_entry("client", "vendor-mock")?,
        }
        let headers: serde_json::Map<String, serde_json::Value> = self
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), serde_json::Value::String(show_header(n, v))))
            .collect();
        m.serialize_entry("headers", &headers)?;
        m.serialize_entry("body", &body_text(&self.body))?;
        if self.body_truncated {
            m.serialize_entry("body_truncated", &true)?;
        }
        m.serialize_entry("entity", &self.entity)?;
        m.serialize_entry("scenario", &*self.scenario)?;
        m.serialize_entry("step", &self.step)?;
        m.serialize_entry("status", &self.status)?;
        if let Some(n) = &self.note {
            m.serialize_entry("note", n)?;
        }
        m.end()
    }
}

/// `Authorization` keeps its scheme only; other values are cut at [`HEADER_CAP`] characters.
fn show_header(name: &str, value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    if name == "authorization" {
        format!("{} …", text.split_whitespace().next().unwrap_or(""))
    } else {
        text.chars().take(HEADER_CAP).collect()
    }
}

/// The body as text; a cut through a multi-byte character is dropped, not shown as U+FFFD.
fn body_text(body: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(body).into_owned();
    if body.len() == BODY_CAP && text.ends_with('\u{FFFD}') {
        text.pop();
    }
    text
}

/// The ring buffer.
#[derive(Debug)]
pub struct Journal {
    limit: usize,
    /// Std mutex: pushes and reads are short copies, never held across `.await`.
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_seq: u64,
    entries: VecDeque<Entry>,
}

/// A journal query, from `GET /__admin/requests`.
#[derive(Debug, Default)]
pub struct Filter {
    pub vendor: Option<String>,
    /// Matches entries whose path starts with this.
    pub path: Option<String>,
    /// Only the newest `limit` matches.
    pub limit: Option<usize>,
}

impl Journal {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Append an entry, assigning its sequence number and capping its body; drops the
    /// oldest past the limit.
    pub fn push(&self, mut entry: Entry) {
        if self.limit == 0 {
            return;
        }
        // Always a copy: a request body is often a slice of hyper's connection read
        // buffer, and holding the slice would pin that whole buffer for as long as the
        // entry lives (and make hyper allocate a new one for every request).
        let keep = entry.body.len().min(BODY_CAP);
        entry.body_truncated |= entry.body.len() > BODY_CAP;
        entry.body = Bytes::copy_from_slice(&entry.body[..keep]);
        let evicted = {
            let mut inner = crate::lock::lock(&self.inner);
            inner.next_seq += 1;
            entry.seq = inner.next_seq;
            let evicted = if inner.entries.len() == self.limit {
                inner.entries.pop_front()
            } else {
                None
            };
            inner.entries.push_back(entry);
            evicted
        };
        // Freed after the lock is released: other requests need not wait for it.
        drop(evicted);
    }

    /// Matching entries, oldest first (newest last).
    pub fn query(&self, filter: &Filter) -> Vec<Entry> {
        let inner = crate::lock::lock(&self.inner);
        let matches = |e: &&Entry| {
            filter.vendor.as_deref().is_none_or(|v| e.vendor == Some(v))
                && filter.path.as_deref().is_none_or(|p| e.path.starts_with(p))
        };
        let mut out: Vec<Entry> = inner
            .entries
            .iter()
            .rev()
            .filter(matches)
            .take(filter.limit.unwrap_or(usize::MAX))
            .cloned()
            .collect();
        out.reverse();
        out
    }

    pub fn clear(&self) {
        let mut inner = crate::lock::lock(&self.inner);
        inner.entries.clear();
    }

    pub fn len(&self) -> usize {
        crate::lock::lock(&self.inner).entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(vendor: &'static str, path: &str) -> Entry {
        Entry {
            seq: 0,
            time: DateTime::UNIX_EPOCH,
            direction: "inbound",
            vendor: Some(vendor),
            method: Method::POST,
            path: path.into(),
            query: None,
            client: Some([127, 0, 0, 1].into()),
            headers: Default::default(),
            body: Bytes::new(),
            body_truncated: false,
            entity: None,
            scenario: "default".into(),
            step: None,
            status: Some(200),
            note: None,
        }
    }

    #[test]
    fn the_oldest_entry_goes_once_the_limit_is_reached() {
        let j = Journal::new(2);
        for p in ["/a", "/b", "/c"] {
            j.push(entry("credeau", p));
        }
        let all = j.query(&Filter::default());
        assert_eq!(
            all.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
            ["/b", "/c"]
        );
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn filters_keep_the_newest_matches_in_order() {
        let j = Journal::new(10);
        j.push(entry("credeau", "/credeau/api/insights"));
        j.push(entry("finbox", "/finbox/v2/risk/predictors"));
        j.push(entry("credeau", "/credeau/api/async_insights"));
        j.push(entry("credeau", "/credeau/api/insights"));
        let f = Filter {
            vendor: Some("credeau".into()),
            path: Some("/credeau/api/".into()),
            limit: Some(2),
        };
        let got: Vec<_> = j.query(&f).into_iter().map(|e| e.seq).collect();
        assert_eq!(got, [3, 4]);
    }

    #[test]
    fn bodies_are_capped_on_a_character_boundary() {
        let j = Journal::new(1);
        j.push(Entry {
            body: Bytes::from("é".repeat(BODY_CAP)),
            ..entry("credeau", "/")
        });
        let v = serde_json::to_value(&j.query(&Filter::default())[0]).unwrap();
        let text = v["body"].as_str().unwrap();
        assert_eq!(v["body_truncated"], true);
        assert!(text.len() <= BODY_CAP && !text.contains('\u{FFFD}'));
    }

    #[test]
    fn authorization_keeps_only_its_scheme() {
        let j = Journal::new(1);
        let mut headers = Headers::default();
        headers.push("authorization", b"Bearer secret-token");
        j.push(Entry {
            headers,
            ..entry("credolab", "/")
        });
        let v = serde_json::to_value(&j.query(&Filter::default())[0]).unwrap();
        assert_eq!(v["headers"]["authorization"], "Bearer …");
    }
}
