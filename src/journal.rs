//! The request journal: a bounded ring buffer of the exchanges the mock has seen.
//!
//! Each entry records what a user debugging a test wants to see: when, which vendor,
//! the request line, selected headers, the body (capped at [`BODY_CAP`] bytes), which
//! scenario and step answered, and the status. Outbound calls the mock makes itself
//! (webhook deliveries) are journaled too, with `direction = "outbound"`. The oldest
//! entry is dropped once `--journal-limit` entries are held, so a sidecar left running
//! for days stays small.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

/// Request bodies are kept up to this many bytes: enough to read any JSON request the
/// vendors document, small enough that 10 000 entries stay within a few tens of MB.
pub const BODY_CAP: usize = 4096;

/// One exchange.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub seq: u64,
    pub time: String,
    pub direction: &'static str,
    pub vendor: Option<String>,
    pub method: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    pub client: String,
    pub headers: serde_json::Map<String, serde_json::Value>,
    pub body: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub body_truncated: bool,
    pub entity: Option<String>,
    pub scenario: String,
    pub step: Option<usize>,
    /// `None` when no answer was sent (a `reset` fault, or an outbound call that failed).
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Cap `body` at [`BODY_CAP`] bytes on a character boundary; returns (text, truncated).
pub fn cap_body(body: &[u8]) -> (String, bool) {
    if body.len() <= BODY_CAP {
        return (String::from_utf8_lossy(body).into_owned(), false);
    }
    let mut text = String::from_utf8_lossy(&body[..BODY_CAP]).into_owned();
    // A cut through a multi-byte character leaves a replacement char; drop it.
    if text.ends_with('\u{FFFD}') {
        text.pop();
    }
    (text, true)
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

    /// Append an entry, assigning its sequence number; drops the oldest past the limit.
    pub fn push(&self, mut entry: Entry) {
        if self.limit == 0 {
            return;
        }
        let mut inner = self
            .inner
            .lock()
            .expect("journal lock poisoned: a push panicked");
        inner.next_seq += 1;
        entry.seq = inner.next_seq;
        if inner.entries.len() == self.limit {
            inner.entries.pop_front();
        }
        inner.entries.push_back(entry);
    }

    /// Matching entries, oldest first (newest last).
    pub fn query(&self, filter: &Filter) -> Vec<Entry> {
        let inner = self
            .inner
            .lock()
            .expect("journal lock poisoned: a push panicked");
        let matches = |e: &&Entry| {
            filter
                .vendor
                .as_deref()
                .is_none_or(|v| e.vendor.as_deref() == Some(v))
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
        let mut inner = self
            .inner
            .lock()
            .expect("journal lock poisoned: a push panicked");
        inner.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .expect("journal lock poisoned: a push panicked")
            .entries
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(vendor: &str, path: &str) -> Entry {
        Entry {
            seq: 0,
            time: String::new(),
            direction: "inbound",
            vendor: Some(vendor.into()),
            method: "POST".into(),
            path: path.into(),
            query: None,
            client: "127.0.0.1".into(),
            headers: Default::default(),
            body: String::new(),
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
        let body = "é".repeat(BODY_CAP);
        let (text, truncated) = cap_body(body.as_bytes());
        assert!(truncated);
        assert!(text.len() <= BODY_CAP && !text.contains('\u{FFFD}'));
    }
}
