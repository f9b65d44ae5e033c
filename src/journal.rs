//! The request journal: a bounded ring buffer of the exchanges the mock has seen.
//!
//! Each entry records what a user debugging a test wants to see: when, which vendor,
//! the request line, selected headers, the body (capped at [`BODY_CAP`] bytes), which
//! scenario and step answered, the status and the answer's body (capped the same way).
//! Outbound calls the mock makes itself (webhook deliveries) are journaled too, with
//! `direction = "outbound"`; assignments made through the admin API with
//! `direction = "admin"`. The oldest entry is dropped once `--journal-limit` entries are
//! held, so a sidecar left running for days stays small. The root server and every
//! sandbox have a journal of their own, each keeping its own `--journal-limit` entries:
//! no instance's traffic ever shortens another's journal. What all of them hold together
//! is bounded by dropping whole sandboxes ([`Journal::approx_bytes`] reports what one
//! journal holds), not by squeezing journals.
//!
//! Recording is on every request's path, reading is rare: an entry is stored as its
//! fixed fields plus one packed byte buffer (path, query, headers, body, entity, note),
//! and a full journal writes each new entry into the buffer of the entry it evicts.
//! In steady state recording allocates and frees nothing.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hyper::header::HeaderName;
use hyper::{HeaderMap, Method};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::clock::rfc3339;

/// Request and answer bodies are kept up to this many bytes each: enough to read any
/// JSON request the vendors document and the start of any answer, small enough that
/// 10 000 entries stay within a few tens of MB.
pub const BODY_CAP: usize = 4096;
/// Header values are shown up to this many characters.
const HEADER_CAP: usize = 256;

/// Selected request headers, packed in one buffer (`name NUL value LF` each): one
/// allocation per entry instead of two per header.
#[derive(Debug, Clone, Default)]
pub struct Headers(Vec<u8>);

impl Headers {
    /// Add a header. Valid header names and values never contain NUL or LF.
    pub fn push(&mut self, name: &str, value: &[u8]) {
        Self::write(&mut self.0, name, value);
    }

    fn write(out: &mut Vec<u8>, name: &str, value: &[u8]) {
        out.reserve(name.len() + value.len() + 2);
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.extend_from_slice(value);
        out.push(b'\n');
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

/// One exchange, as [`Journal::query`] returns it (and as outbound calls hand it to
/// [`Journal::push`]).
#[derive(Debug, Clone)]
pub struct Entry {
    /// Assigned by [`Journal::push`].
    pub seq: u64,
    pub time: DateTime<Utc>,
    /// `inbound` (a client's request), `outbound` (a call the mock made, e.g. a webhook)
    /// or `admin` (an admin call that shaped later answers: a scenario assignment).
    pub direction: &'static str,
    pub vendor: Option<&'static str>,
    pub method: Method,
    /// The path, or the URL of an outbound call.
    pub path: String,
    pub query: Option<String>,
    /// The client's address; `None` for calls the mock made itself.
    pub client: Option<IpAddr>,
    pub headers: Headers,
    /// Capped at [`BODY_CAP`] bytes when stored.
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
        self.write_fields(&mut m)?;
        m.end()
    }
}

impl Entry {
    fn write_fields<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
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
        Ok(())
    }
}

/// One exchange as [`Journal::query`] returns it: the [`Entry`] and, for answers the
/// mock sent, the start of the answer's body.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub entry: Entry,
    /// Up to [`BODY_CAP`] bytes; `None` when no answer was sent or for outbound calls.
    pub response_body: Option<Bytes>,
    pub response_body_truncated: bool,
}

impl std::ops::Deref for Exchange {
    type Target = Entry;
    fn deref(&self) -> &Entry {
        &self.entry
    }
}

impl Serialize for Exchange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        self.entry.write_fields(&mut m)?;
        if let Some(b) = &self.response_body {
            m.serialize_entry("response_body", &body_text(b))?;
            if self.response_body_truncated {
                m.serialize_entry("response_body_truncated", &true)?;
            }
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
    entries: VecDeque<Stored>,
    /// What `entries` hold, as [`Stored::bytes`] counts it.
    bytes: usize,
}

/// A journal query, from `GET /__admin/requests` and `/__admin/requests/count`.
#[derive(Debug, Default)]
pub struct Filter {
    pub vendor: Option<String>,
    /// Matches entries whose path starts with this.
    pub path: Option<String>,
    /// The entity id, exactly.
    pub entity: Option<String>,
    pub status: Option<StatusFilter>,
    /// The scenario name as entries show it (`default` when none applied).
    pub scenario: Option<String>,
    /// `inbound`, `outbound` or `admin`.
    pub direction: Option<String>,
    /// Only the newest `limit` matches.
    pub limit: Option<usize>,
}

/// Which answers a `status=` filter keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// One status (`404`).
    Exact(u16),
    /// A class: `4xx` is `Class(4)`.
    Class(u16),
    /// Exchanges that got no answer (a `reset` fault, a failed outbound call): `none`.
    NoAnswer,
}

impl StatusFilter {
    /// `404`, `4xx` (or `4XX`) or `none`.
    pub fn parse(s: &str) -> Option<Self> {
        if s == "none" {
            return Some(Self::NoAnswer);
        }
        let b = s.as_bytes();
        if b.len() == 3 && (1..=5).contains(&(b[0].wrapping_sub(b'0'))) {
            if b[1..].eq_ignore_ascii_case(b"xx") {
                return Some(Self::Class(u16::from(b[0] - b'0')));
            }
            if let Ok(n) = s.parse::<u16>() {
                return Some(Self::Exact(n));
            }
        }
        None
    }

    fn matches(self, status: Option<u16>) -> bool {
        match (self, status) {
            (Self::Exact(n), Some(s)) => s == n,
            (Self::Class(c), Some(s)) => s / 100 == c,
            (Self::NoAnswer, None) => true,
            _ => false,
        }
    }
}

/// The request headers worth keeping: the standard content headers, `authorization`
/// (shown as its scheme only) and every `x-` header (where vendors put credentials).
pub fn kept_header(n: &HeaderName) -> bool {
    use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, USER_AGENT};
    // Standard names compare as enum tags; only custom names are compared as text.
    n == CONTENT_TYPE
        || n == CONTENT_LENGTH
        || n == ACCEPT
        || n == USER_AGENT
        || n == HOST
        || n == AUTHORIZATION
        || n.as_str().starts_with("x-")
}

/// An exchange to record, borrowed from whoever saw it: the journal copies what it
/// keeps into its own storage.
#[derive(Debug)]
pub struct Record<'a> {
    pub time: DateTime<Utc>,
    pub direction: &'static str,
    pub vendor: Option<&'static str>,
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub client: Option<IpAddr>,
    /// All request headers; the journal keeps those [`kept_header`] selects.
    pub headers: &'a HeaderMap,
    /// Capped at [`BODY_CAP`] bytes when stored.
    pub body: &'a [u8],
    pub entity: Option<&'a str>,
    /// `None` when no scenario chose the answer (shown as `default`).
    pub scenario: Option<&'a Arc<str>>,
    pub step: Option<usize>,
    pub status: Option<u16>,
    pub note: Option<&'a str>,
    /// The answer's body, in the parts it is sent in; kept up to [`BODY_CAP`] bytes.
    /// `None` when no answer was sent.
    pub response: Option<&'a [Bytes]>,
}

/// The packed parts of a stored entry, in buffer order.
#[derive(Debug, Clone, Copy)]
enum Part {
    Path,
    Query,
    Headers,
    Body,
    Entity,
    Note,
    Response,
}
const PARTS: usize = 7;

/// An entry as the journal holds it.
#[derive(Debug)]
struct Stored {
    seq: u64,
    time: DateTime<Utc>,
    direction: &'static str,
    vendor: Option<&'static str>,
    method: Method,
    client: Option<IpAddr>,
    scenario: Option<Arc<str>>,
    step: Option<usize>,
    status: Option<u16>,
    body_truncated: bool,
    response_truncated: bool,
    /// Every part back to back; `ends[i]` is where part `i` ends.
    buf: Vec<u8>,
    ends: [u32; PARTS],
    /// Which optional parts (query, entity, note, response) are present, by part index.
    present: u8,
}

impl Stored {
    /// Roughly what this entry holds in memory: its fixed fields and its buffer.
    fn bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.buf.capacity()
    }

    fn part(&self, p: Part) -> Option<&[u8]> {
        let i = p as usize;
        if matches!(p, Part::Query | Part::Entity | Part::Note | Part::Response)
            && self.present & (1 << i) == 0
        {
            return None;
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        Some(&self.buf[start..self.ends[i] as usize])
    }

    fn text(&self, p: Part) -> Option<String> {
        self.part(p)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    fn to_exchange(&self) -> Exchange {
        Exchange {
            entry: self.to_entry(),
            response_body: self.part(Part::Response).map(Bytes::copy_from_slice),
            response_body_truncated: self.response_truncated,
        }
    }

    fn to_entry(&self) -> Entry {
        Entry {
            seq: self.seq,
            time: self.time,
            direction: self.direction,
            vendor: self.vendor,
            method: self.method.clone(),
            path: self.text(Part::Path).unwrap_or_default(),
            query: self.text(Part::Query),
            client: self.client,
            headers: Headers(self.part(Part::Headers).unwrap_or_default().to_vec()),
            body: Bytes::copy_from_slice(self.part(Part::Body).unwrap_or_default()),
            body_truncated: self.body_truncated,
            entity: self.text(Part::Entity),
            scenario: self
                .scenario
                .clone()
                .unwrap_or_else(|| Arc::from(DEFAULT_SCENARIO)),
            step: self.step,
            status: self.status,
            note: self.text(Part::Note),
        }
    }
}

thread_local! {
    /// The buffer of the entry this thread last evicted, for its next record.
    static SPARE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The scenario name shown when none applied.
const DEFAULT_SCENARIO: &str = "default";

impl Filter {
    fn matches(&self, e: &Stored) -> bool {
        let text = |want: &Option<String>, part: Part| {
            want.as_deref()
                .is_none_or(|w| e.part(part) == Some(w.as_bytes()))
        };
        self.vendor.as_deref().is_none_or(|v| e.vendor == Some(v))
            && self.path.as_deref().is_none_or(|p| {
                e.part(Part::Path)
                    .unwrap_or_default()
                    .starts_with(p.as_bytes())
            })
            && text(&self.entity, Part::Entity)
            // Admin entries got no vendor's answer: no status filter keeps them.
            && self
                .status
                .is_none_or(|s| e.direction != "admin" && s.matches(e.status))
            && self
                .scenario
                .as_deref()
                .is_none_or(|s| e.scenario.as_deref().unwrap_or(DEFAULT_SCENARIO) == s)
            && self.direction.as_deref().is_none_or(|d| e.direction == d)
    }
}

/// How the headers of a record arrive.
enum HeaderSource<'a> {
    Map(&'a HeaderMap),
    Packed(&'a Headers),
}

impl HeaderSource<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            HeaderSource::Map(m) => {
                for (n, v) in m.iter().filter(|(n, _)| kept_header(n)) {
                    Headers::write(out, n.as_str(), v.as_bytes());
                }
            }
            HeaderSource::Packed(h) => out.extend_from_slice(&h.0),
        }
    }
}

impl Journal {
    /// A journal keeping the newest `limit` entries (none when `limit` is 0).
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Append an owned entry (outbound calls build one); see [`Journal::record`].
    pub fn push(&self, entry: Entry) {
        let scenario = (&*entry.scenario != DEFAULT_SCENARIO).then_some(&entry.scenario);
        self.store(
            &Record {
                time: entry.time,
                direction: entry.direction,
                vendor: entry.vendor,
                method: &entry.method,
                path: &entry.path,
                query: entry.query.as_deref(),
                client: entry.client,
                headers: &HeaderMap::new(),
                body: &entry.body,
                entity: entry.entity.as_deref(),
                scenario,
                step: entry.step,
                status: entry.status,
                note: entry.note.as_deref(),
                response: None,
            },
            HeaderSource::Packed(&entry.headers),
            entry.body_truncated,
        );
    }

    /// Append an exchange, assigning its sequence number and capping its body; drops
    /// the oldest past the limit.
    pub fn record(&self, r: &Record<'_>) {
        self.store(r, HeaderSource::Map(r.headers), false);
    }

    fn store(&self, r: &Record<'_>, headers: HeaderSource<'_>, truncated: bool) {
        if self.limit == 0 {
            return;
        }
        // Packed outside the lock, into the buffer of an entry this thread evicted
        // earlier: the lock is held only to link the entry in.
        let mut buf = SPARE.take();
        buf.clear();
        let body = &r.body[..r.body.len().min(BODY_CAP)];
        let parts: [Option<&[u8]>; PARTS] = [
            Some(r.path.as_bytes()),
            r.query.map(str::as_bytes),
            None, // headers: written from their source
            Some(body),
            r.entity.map(str::as_bytes),
            r.note.map(str::as_bytes),
            None, // the response: written from its parts
        ];
        let mut ends = [0u32; PARTS];
        let mut present = 0u8;
        let mut response_truncated = false;
        for (i, part) in parts.iter().enumerate() {
            if i == Part::Headers as usize {
                headers.write(&mut buf);
            } else if i == Part::Response as usize {
                if let Some(chunks) = r.response {
                    let mut room = BODY_CAP;
                    for c in chunks {
                        let take = c.len().min(room);
                        buf.extend_from_slice(&c[..take]);
                        room -= take;
                        response_truncated |= take < c.len();
                    }
                    present |= 1 << i;
                }
            } else if let Some(p) = part {
                buf.extend_from_slice(p);
                present |= 1 << i;
            }
            // Parts are capped well below 4 GiB: the body at BODY_CAP, the rest by the
            // server's header and URI limits.
            ends[i] = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        }
        // A buffer inherited from a much larger entry is not kept at that size.
        if buf.capacity() > 2 * buf.len() + 256 {
            buf.shrink_to_fit();
        }
        let mut stored = Stored {
            seq: 0,
            time: r.time,
            direction: r.direction,
            vendor: r.vendor,
            method: r.method.clone(),
            client: r.client,
            scenario: r.scenario.cloned(),
            step: r.step,
            status: r.status,
            body_truncated: truncated || r.body.len() > BODY_CAP,
            response_truncated,
            buf,
            ends,
            present,
        };
        let evicted = {
            let mut inner = crate::lock::lock(&self.inner);
            inner.next_seq += 1;
            stored.seq = inner.next_seq;
            let evicted = if inner.entries.len() >= self.limit {
                inner.entries.pop_front()
            } else {
                None
            };
            if let Some(e) = &evicted {
                inner.bytes -= e.bytes();
            }
            inner.bytes += stored.bytes();
            inner.entries.push_back(stored);
            evicted
        };
        if let Some(e) = evicted {
            SPARE.set(e.buf);
        }
    }

    /// Matching entries, oldest first (newest last).
    pub fn query(&self, filter: &Filter) -> Vec<Exchange> {
        let inner = crate::lock::lock(&self.inner);
        let mut out: Vec<Exchange> = inner
            .entries
            .iter()
            .rev()
            .filter(|e| filter.matches(e))
            .take(filter.limit.unwrap_or(usize::MAX))
            .map(Stored::to_exchange)
            .collect();
        out.reverse();
        out
    }

    /// How many entries [`query`](Self::query) would return.
    pub fn count(&self, filter: &Filter) -> usize {
        let inner = crate::lock::lock(&self.inner);
        let n = inner.entries.iter().filter(|e| filter.matches(e)).count();
        n.min(filter.limit.unwrap_or(usize::MAX))
    }

    pub fn clear(&self) {
        let mut inner = crate::lock::lock(&self.inner);
        inner.entries.clear();
        inner.bytes = 0;
    }

    /// Roughly how many bytes the entries hold (fixed fields plus packed buffers), for
    /// server-wide memory budgets.
    pub fn approx_bytes(&self) -> usize {
        crate::lock::lock(&self.inner).bytes
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
    fn a_journal_keeps_its_own_limit_and_counts_what_it_holds() {
        let a = Journal::new(2);
        let b = Journal::new(2);
        assert_eq!(a.approx_bytes(), 0);
        for p in ["/1", "/2", "/3"] {
            a.push(entry("credeau", p));
        }
        b.push(entry("finbox", "/x"));
        // Each journal holds its own limit, whatever the other does.
        assert_eq!((a.len(), b.len()), (2, 1));
        let held = a.approx_bytes();
        assert!(held >= 2 * std::mem::size_of::<Stored>(), "{held}");
        a.push(Entry {
            body: Bytes::from(vec![b'x'; 3000]),
            ..entry("credeau", "/big")
        });
        assert!(a.approx_bytes() >= held + 2500, "the big body is counted");
        a.clear();
        assert_eq!((a.len(), a.approx_bytes()), (0, 0));
        let none = Journal::new(0);
        none.push(entry("credeau", "/"));
        assert_eq!(
            (none.len(), none.approx_bytes()),
            (0, 0),
            "limit 0 keeps nothing"
        );
    }

    #[test]
    fn status_filters_take_a_status_a_class_or_none() {
        let cases = [
            ("404", Some(StatusFilter::Exact(404))),
            ("4xx", Some(StatusFilter::Class(4))),
            ("5XX", Some(StatusFilter::Class(5))),
            ("none", Some(StatusFilter::NoAnswer)),
            ("4x", None),
            ("600", None),
            ("40", None),
            ("abc", None),
            ("xxx", None),
        ];
        for (text, want) in cases {
            assert_eq!(StatusFilter::parse(text), want, "{text}");
        }
        assert!(StatusFilter::Class(4).matches(Some(429)));
        assert!(!StatusFilter::Class(4).matches(None));
        assert!(StatusFilter::NoAnswer.matches(None));
    }

    #[test]
    fn answers_are_kept_up_to_the_cap_across_their_parts() {
        let j = Journal::new(2);
        let record = |response: Option<&[Bytes]>| {
            j.record(&Record {
                time: DateTime::UNIX_EPOCH,
                direction: "inbound",
                vendor: Some("credeau"),
                method: &Method::POST,
                path: "/",
                query: None,
                client: None,
                headers: &HeaderMap::new(),
                body: b"",
                entity: None,
                scenario: None,
                step: None,
                status: response.map(|_| 200),
                note: None,
                response,
            })
        };
        let parts = [Bytes::from("a".repeat(3000)), Bytes::from("b".repeat(3000))];
        record(Some(&parts));
        record(None);
        let all = j.query(&Filter::default());
        let kept = all[0].response_body.as_ref().unwrap();
        assert_eq!(kept.len(), BODY_CAP);
        assert!(all[0].response_body_truncated);
        assert_eq!(&kept[2999..3001], b"ab");
        assert!(all[1].response_body.is_none(), "no answer sent");
        let v = serde_json::to_value(&all[1]).unwrap();
        assert!(v.get("response_body").is_none());
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
            ..Filter::default()
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

    #[test]
    fn a_full_journal_reuses_buffers_without_mixing_entries() {
        let j = Journal::new(2);
        let long = "x".repeat(3000);
        j.push(Entry {
            body: Bytes::from(long.clone()),
            query: Some("a=1".into()),
            entity: Some("user-long".into()),
            note: Some("n".into()),
            ..entry("credeau", "/long")
        });
        j.push(entry("credeau", "/two"));
        // Evicts /long and is written into its (much larger) buffer, then /four into /two's.
        j.push(Entry {
            entity: Some(String::new()),
            ..entry("finbox", "/three")
        });
        j.push(Entry {
            body: Bytes::from_static(b"{}"),
            ..entry("credeau", "/four")
        });
        let all = j.query(&Filter::default());
        let summary: Vec<_> = all
            .iter()
            .map(|e| {
                (
                    e.seq,
                    e.path.as_str(),
                    e.query.clone(),
                    e.entity.clone(),
                    e.note.clone(),
                    e.body.len(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (3, "/three", None, Some(String::new()), None, 0),
                (4, "/four", None, None, None, 2),
            ]
        );
    }

    #[test]
    fn recorded_requests_keep_only_the_selected_headers_and_name_default_scenarios() {
        let j = Journal::new(4);
        let mut headers = HeaderMap::new();
        for (n, v) in [
            ("content-type", "application/json"),
            ("x-auth-token", "t"),
            ("cookie", "secret"),
            ("accept-encoding", "gzip"),
        ] {
            headers.insert(HeaderName::from_static(n), v.parse().unwrap());
        }
        let named: Arc<str> = Arc::from("pending");
        for scenario in [None, Some(&named)] {
            j.record(&Record {
                time: DateTime::UNIX_EPOCH,
                direction: "inbound",
                vendor: Some("credeau"),
                method: &Method::POST,
                path: "/credeau/api/insights",
                query: Some(""),
                client: Some([127, 0, 0, 1].into()),
                headers: &headers,
                body: b"{}",
                entity: Some("u1"),
                scenario,
                step: Some(0),
                status: Some(202),
                note: None,
                response: None,
            });
        }
        let all = j.query(&Filter::default());
        let v = serde_json::to_value(&all[0]).unwrap();
        assert_eq!(
            v["headers"],
            serde_json::json!({"content-type": "application/json", "x-auth-token": "t"})
        );
        assert_eq!(
            (v["query"].clone(), v["entity"].clone()),
            ("".into(), "u1".into())
        );
        assert_eq!(v["scenario"], "default");
        assert_eq!(
            serde_json::to_value(&all[1]).unwrap()["scenario"],
            "pending"
        );
    }
}
