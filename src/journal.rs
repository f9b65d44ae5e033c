//! The request journal: a bounded ring buffer of the exchanges the mock has seen.
//!
//! Each entry records what a user debugging a test wants to see: when, which vendor,
//! the request line, selected headers, the body, which scenario and step answered, the
//! status and the answer's body. Each of those parts is kept up to the part cap
//! ([`Budgets::part`], 4 KiB: [`BODY_CAP`]), a part cut there is marked
//! (`body_truncated`, `query_truncated`, …), and the entries together stay within the
//! journal's byte budget ([`Budgets::journal`]) as well as its count.
//! Outbound calls the mock makes itself (webhook deliveries) are journaled too, with
//! `direction = "outbound"`; assignments made through the admin API with
//! `direction = "admin"`. The oldest entry is dropped once `--journal-limit` entries are
//! held, or once the entries' bytes pass the budget, so a sidecar left running for days
//! stays small. The root server and every sandbox have a journal of their own, each
//! keeping its own `--journal-limit` entries within its own byte budget: no instance's
//! traffic ever shortens another's journal. What all of them hold together is bounded by
//! dropping whole sandboxes ([`Journal::approx_bytes`] reports what one journal holds),
//! not by squeezing journals.
//!
//! Recording is on every request's path, reading is rare: an entry is stored as its
//! fixed fields plus one packed byte buffer (method, path, query, headers, body, entity,
//! note, answer) of exactly its size, packed in one pass in a thread's spare buffer and
//! copied once, into the buffer of the entry it evicts when that has the same length
//! (under traffic mostly to one endpoint its entries mostly do: nothing allocated or
//! freed), else into a new one;
//! formatting (UTF-8 text, header values shown, the method as a `Method`) waits until
//! `/__admin/requests` reads it.
//! The entries' fixed fields sit in a ring that grows by doubling up to the limit and
//! then holds exactly the limit, so a full journal writes each new entry into the slot
//! its oldest just left (in cache: it was read to evict it).
//! An answer sent in one chunk of moderate size (512 bytes up to twice the part cap) is
//! not copied: the entry keeps a reference to the chunk itself and is weighed for all of
//! it ([`by_reference`]), so the byte budget still bounds what the journal keeps alive.
//! When that chunk was filled from a cached template ([`crate::memo::Filled`]), the
//! entry keeps the template (shared) and copies the holes' values instead, weighed as the
//! chunk: the chunk's buffer is then freed once sent, and the next answer is written
//! into it while it is in cache rather than into memory last written a journal ago.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hyper::header::HeaderName;
use hyper::{HeaderMap, Method};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::budget::{heap, Budgets, Gauge, DEFAULT_PART_BYTES};
use crate::clock::rfc3339;
use crate::memo::{Filled, Template};

/// The default part cap ([`Budgets::part`]): request and answer bodies, paths, query
/// strings, headers, entity ids and notes are each kept up to this many bytes.
pub const BODY_CAP: usize = DEFAULT_PART_BYTES;
/// Header values are shown up to this many characters.
const HEADER_CAP: usize = 256;
/// Header values are stored up to this many bytes: every character shown fits.
const HEADER_STORED: usize = 4 * HEADER_CAP;
/// What one entry costs besides its fields and its buffer: its share of the ring's
/// slack (the ring grows by doubling up to the limit) and the allocator's, measured against the
/// resident set (BENCHMARKS.md, "What an entry costs").
const ENTRY_OVERHEAD: usize = 64;

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
        out.extend_from_slice(b"\0");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\n");
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
    /// Capped at the part cap when stored.
    pub body: Bytes,
    pub body_truncated: bool,
    /// Which other parts were cut at the part cap when stored.
    pub cut: Cut,
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
        if self.cut.has(Part::Method) {
            m.serialize_entry("method_truncated", &true)?;
        }
        m.serialize_entry("path", &self.path)?;
        if self.cut.has(Part::Path) {
            m.serialize_entry("path_truncated", &true)?;
        }
        if let Some(q) = &self.query {
            m.serialize_entry("query", q)?;
            if self.cut.has(Part::Query) {
                m.serialize_entry("query_truncated", &true)?;
            }
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
        if self.cut.has(Part::Headers) {
            m.serialize_entry("headers_truncated", &true)?;
        }
        m.serialize_entry("body", &body_text(&self.body, self.body_truncated))?;
        if self.body_truncated {
            m.serialize_entry("body_truncated", &true)?;
        }
        m.serialize_entry("entity", &self.entity)?;
        if self.cut.has(Part::Entity) {
            m.serialize_entry("entity_truncated", &true)?;
        }
        m.serialize_entry("scenario", &*self.scenario)?;
        m.serialize_entry("step", &self.step)?;
        m.serialize_entry("status", &self.status)?;
        if let Some(n) = &self.note {
            m.serialize_entry("note", n)?;
            if self.cut.has(Part::Note) {
                m.serialize_entry("note_truncated", &true)?;
            }
        }
        Ok(())
    }
}

/// One exchange as [`Journal::query`] returns it: the [`Entry`] and, for answers the
/// mock sent, the start of the answer's body.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub entry: Entry,
    /// Up to the part cap; `None` when no answer was sent or for outbound calls.
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
            m.serialize_entry("response_body", &body_text(b, self.response_body_truncated))?;
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
fn body_text(body: &[u8], cut: bool) -> String {
    let mut text = String::from_utf8_lossy(body).into_owned();
    if cut && text.ends_with('\u{FFFD}') {
        text.pop();
    }
    text
}

/// The longest start of `s` of at most `cap` bytes that ends on a character boundary.
fn cut_text(s: &str, cap: usize) -> &str {
    if s.len() <= cap {
        return s;
    }
    let end = (0..=cap)
        .rev()
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(0);
    &s[..end]
}

/// The ring buffer.
#[derive(Debug)]
pub struct Journal {
    limit: usize,
    /// The entries' bytes together ([`Budgets::journal`]).
    max_bytes: usize,
    /// Each part's cap ([`Budgets::part`]).
    part: usize,
    /// Std mutex: pushes and reads are short copies, never held across `.await`. On
    /// cache lines of its own: the fields above are read on every store without the
    /// lock, by each worker, and the lock's line moves between the workers' cores with
    /// every store; sharing a line, each store would fetch it twice (to read, then to
    /// write), and the other fields of the instance next to the journal would bounce
    /// with it. A store copies its whole packed entry under it (into the evicted
    /// entry's buffer or a new one).
    inner: OwnLines<Mutex<Inner>>,
    /// `inner.bytes`, readable without the lock.
    gauge: Gauge,
}

/// A value alone on its cache line(s).
#[derive(Debug, Default)]
#[repr(align(64))]
struct OwnLines<T>(T);

#[derive(Debug, Default)]
struct Inner {
    next_seq: u64,
    entries: VecDeque<Stored>,
    /// What `entries` hold, as [`Stored::weight`] counts it.
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
/// (kept and shown as its scheme only) and every `x-` header (where vendors put credentials).
pub fn kept_header(n: &HeaderName) -> bool {
    kept_name(n.as_str()).is_some()
}

/// Whether [`kept_header`] keeps a header of this (lowercase) name, and if so whether it
/// is `authorization`: the name's text, which the journal copies anyway, is compared
/// rather than the name against each standard one.
#[inline]
fn kept_name(name: &str) -> Option<bool> {
    let b = name.as_bytes();
    // By length first: each comparison is then with a constant of that length, made
    // without a call.
    let kept = b.starts_with(b"x-")
        || match b.len() {
            4 => b == b"host",
            6 => b == b"accept",
            10 => b == b"user-agent",
            12 => b == b"content-type",
            13 => return (b == b"authorization").then_some(true),
            14 => b == b"content-length",
            _ => false,
        };
    kept.then_some(false)
}

/// An exchange to record, borrowed from whoever saw it: the journal copies what it
/// keeps into its own storage, but for an answer's chunk it may keep by reference
/// ([`by_reference`]).
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
    /// The answer as filled from a template, when it was (its bytes are `response`'s one
    /// chunk): an answer kept by reference keeps the template and the holes' values
    /// instead of the chunk ([`Answer::Filled`]).
    pub filled: Option<&'a Filled>,
}

/// The packed parts of a stored entry, in buffer order.
#[derive(Debug, Clone, Copy)]
pub enum Part {
    Path,
    Query,
    Headers,
    Body,
    Entity,
    Note,
    Response,
    /// The method's name: hyper takes names up to the whole head (32 KiB), so it is
    /// capped like the other parts. The last part (`PARTS` counts up to it).
    Method,
}
/// How many parts an entry has: [`Part::Method`] is the last.
const PARTS: usize = Part::Method as usize + 1;
// [`Cut`] and [`Stored::present`] keep a bit per part in a `u8`: a part past the eighth
// needs them widened.
const _: () = assert!(PARTS <= u8::BITS as usize, "a bit per part in a u8");

/// Which parts of an entry were cut at the part cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cut(u8);

impl Cut {
    pub fn has(self, p: Part) -> bool {
        self.0 & (1 << p as u8) != 0
    }

    pub fn set(&mut self, p: Part) {
        self.0 |= 1 << p as u8;
    }
}

/// An entry as the journal holds it: a slot of the ring, three cache lines. Recording
/// writes a slot last used many requests ago (cold memory) and drops the oldest entry
/// (cold too), so the fields are laid out for that: dropping an entry reads its first
/// line only (its weight, `status`, where `Option<Stored>` keeps its niche, and what it
/// owns; a scenario name's length lies past it, read only to free the name's last
/// holder).
#[derive(Debug)]
#[repr(C, align(64))]
struct Stored {
    /// What this entry holds in memory, as [`Journal::store`] weighed it: its fixed
    /// fields, its buffer, the whole answer chunk it keeps alive and the measured overhead.
    weight: u32,
    status: Option<u16>,
    /// Every part back to back; `ends[i]` is where part `i` ends. The answer's part is
    /// empty here when `answer` holds it.
    buf: Box<[u8]>,
    /// The answer kept by reference ([`by_reference`]), if it was.
    answer: Answer,
    scenario: Option<Arc<str>>,
    seq: u64,
    time: DateTime<Utc>,
    /// The step's index in its scenario (a scenario file lists far fewer than 2^32), or
    /// [`NO_STEP`]: not an `Option`, so that `Option<Stored>`'s niche is `status`, on the
    /// first line (`pop_front` reads it).
    step: u32,
    ends: [u32; PARTS],
    direction: &'static str,
    vendor: Option<&'static str>,
    client: Option<IpAddr>,
    /// Which optional parts (query, entity, note, response) are present, by part index.
    present: u8,
    cut: Cut,
    body_truncated: bool,
    response_truncated: bool,
}

const _: () = assert!(
    std::mem::size_of::<Stored>() == 192,
    "a ring slot is three cache lines"
);

/// [`Stored::step`] when no step answered.
const NO_STEP: u32 = u32::MAX;

/// What dropping an evicted entry frees, taken out of its slot under the lock and
/// dropped after it (its first cache line: see [`Stored`]).
/// (A scenario's name is let go under the lock: most entries hold none, and reading one
/// whole would read the second line.)
type Freed = (Box<[u8]>, Answer);

/// How an entry keeps an answer kept by reference ([`by_reference`]).
#[derive(Debug)]
enum Answer {
    /// Copied into the buffer (its start), or none was sent.
    None,
    /// A view of the answer's own chunk, up to the part cap.
    Chunk(Bytes),
    /// The template the answer was filled from; the buffer's answer part holds where
    /// each cut's value ends in the answer (a little-endian `u32` each), then the values.
    Filled(Template),
}

impl Answer {
    /// This answer's template when it is `t` (another handle on the same bytes), taken
    /// out (leaving [`Answer::None`]) rather than cloned: nothing is written to the
    /// template's shared count.
    fn take_template(&mut self, t: &Template) -> Option<Template> {
        match self {
            Answer::Filled(old) if old.same(t) => match std::mem::replace(self, Answer::None) {
                Answer::Filled(old) => Some(old),
                _ => None,
            },
            _ => None,
        }
    }

    /// The answer's start, up to `cap`, from the holes' ends and values in `holes`.
    fn filled(t: &Template, holes: &[u8], cap: usize) -> Bytes {
        let parts = t.parts();
        let (ends, mut values) = holes.split_at(4 * (parts.len() - 1));
        let mut out = Vec::with_capacity(t.len() + values.len());
        for (part, end) in parts.iter().zip(ends.chunks_exact(4)) {
            let end = u32::from_le_bytes(end.try_into().expect("4 bytes")) as usize;
            out.extend_from_slice(part);
            let (value, rest) = values.split_at(end - out.len());
            out.extend_from_slice(value);
            values = rest;
        }
        out.extend_from_slice(parts.last().expect("a template has a last part"));
        out.truncate(cap);
        Bytes::from(out)
    }
}

impl Stored {
    /// Roughly what this entry holds in memory (see `weight`).
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.weight as usize
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

    /// The method as stored (cut at the part cap when longer).
    fn method(&self) -> Method {
        Method::from_bytes(self.part(Part::Method).unwrap_or_default())
            .expect("a stored method is a non-empty start of a valid one (METHOD_MIN)")
    }

    /// The entry as stored by a journal whose part cap is `cap`.
    fn to_exchange(&self, cap: usize) -> Exchange {
        Exchange {
            entry: self.to_entry(),
            response_body: match &self.answer {
                Answer::Chunk(a) => Some(a.clone()),
                Answer::Filled(t) => Some(Answer::filled(
                    t,
                    self.part(Part::Response).unwrap_or_default(),
                    cap,
                )),
                Answer::None => self.part(Part::Response).map(Bytes::copy_from_slice),
            },
            response_body_truncated: self.response_truncated,
        }
    }

    fn to_entry(&self) -> Entry {
        Entry {
            seq: self.seq,
            time: self.time,
            direction: self.direction,
            vendor: self.vendor,
            method: self.method(),
            path: self.text(Part::Path).unwrap_or_default(),
            query: self.text(Part::Query),
            client: self.client,
            headers: Headers(self.part(Part::Headers).unwrap_or_default().to_vec()),
            body: Bytes::copy_from_slice(self.part(Part::Body).unwrap_or_default()),
            body_truncated: self.body_truncated,
            cut: self.cut,
            entity: self.text(Part::Entity),
            scenario: self
                .scenario
                .clone()
                .unwrap_or_else(|| Arc::from(DEFAULT_SCENARIO)),
            step: (self.step != NO_STEP).then_some(self.step as usize),
            status: self.status,
            note: self.text(Part::Note),
        }
    }
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

impl<'a> HeaderSource<'a> {
    /// Hand `keep` each kept header, its value cut at [`HEADER_STORED`] bytes (and an
    /// `authorization` value at its [`scheme`]), all of them up to `cap` bytes as
    /// [`Headers`] packs them (whole headers only, each counted at its length cut at
    /// [`HEADER_STORED`], so that the same headers are kept whatever `authorization`
    /// holds). Returns `true` when some were left out or cut.
    fn each(&self, cap: usize, mut keep: impl FnMut(&'a str, &'a [u8])) -> bool {
        let mut fit = Fit {
            cap,
            counted: 0,
            cut: false,
        };
        match *self {
            HeaderSource::Map(m) => {
                for (n, v) in m {
                    let name = n.as_str();
                    if let Some(auth) = kept_name(name) {
                        fit.one(name, v.as_bytes(), auth, &mut keep);
                    }
                }
            }
            HeaderSource::Packed(h) => {
                for (n, v) in h.iter() {
                    fit.one(n, v, n == "authorization", &mut keep);
                }
            }
        }
        fit.cut
    }
}

/// Which headers [`HeaderSource::each`] keeps, as they come.
struct Fit {
    cap: usize,
    /// What the headers kept so far pack to.
    counted: usize,
    /// Some were left out or cut.
    cut: bool,
}

impl Fit {
    /// Hand `keep` one header if it fits (`auth`: it is `authorization`). Inlined into
    /// the loop over a request's headers: called as a function, its entry and exit were
    /// a fifth of what keeping a header costs.
    #[inline(always)]
    fn one<'a>(
        &mut self,
        name: &'a str,
        value: &'a [u8],
        auth: bool,
        keep: &mut impl FnMut(&'a str, &'a [u8]),
    ) {
        // Shown up to HEADER_CAP characters (at most 4 bytes each): a longer value
        // is marked as cut (not `authorization`, shown as its scheme only).
        if value.len() > HEADER_CAP && !auth {
            self.cut |= value.len() > HEADER_STORED || shown_chars(value) > HEADER_CAP;
        }
        let value = &value[..value.len().min(HEADER_STORED)];
        // Which headers fit is decided on their stored lengths as they arrive...
        let packed = name.len() + value.len() + 2;
        if self.counted + packed > self.cap {
            self.cut = true;
            return;
        }
        self.counted += packed;
        // ...but `authorization` keeps only what is shown of it, its scheme.
        keep(name, if auth { scheme(value) } else { value });
    }
}

/// The start of an `authorization` value that [`show_header`] shows the same as the
/// whole value: up to the end of its first word (the scheme). The credentials after it
/// are never shown, so they are not kept.
fn scheme(value: &[u8]) -> &[u8] {
    // `char::is_whitespace` among ASCII characters.
    let space = |b: u8| b.is_ascii_whitespace() || b == 0x0b;
    // Nearly always ASCII up to the scheme's end: found without decoding the rest.
    let mut at = 0;
    while at < value.len() && space(value[at]) {
        at += 1;
    }
    while at < value.len() {
        let b = value[at];
        if space(b) {
            return &value[..at];
        }
        if !b.is_ascii() {
            return scheme_decoded(value);
        }
        at += 1;
    }
    value
}

/// [`scheme`] past a byte that is not ASCII: the words as [`show_header`] sees them in
/// the lossy decoding, where an invalid sequence is one U+FFFD, a letter of a word. A
/// cut at a whitespace character leaves the sequences before it as they were.
#[cold]
fn scheme_decoded(value: &[u8]) -> &[u8] {
    let mut started = false;
    let mut offset = 0;
    for chunk in value.utf8_chunks() {
        for (at, c) in chunk.valid().char_indices() {
            if !c.is_whitespace() {
                started = true;
            } else if started {
                return &value[..offset + at];
            }
        }
        started |= !chunk.invalid().is_empty();
        offset += chunk.valid().len() + chunk.invalid().len();
    }
    value
}

/// How many characters [`show_header`] sees in `value`: its characters, with each
/// invalid sequence one U+FFFD (as `String::from_utf8_lossy` has it), without building
/// the string.
fn shown_chars(value: &[u8]) -> usize {
    value
        .utf8_chunks()
        .map(|c| c.valid().chars().count() + usize::from(!c.invalid().is_empty()))
        .sum()
}

/// The shortest answer kept by reference rather than copied: a shorter one copies in
/// fewer instructions than the reference costs (a shared header allocated for a `Bytes`
/// made from a `Vec`, two atomic counts), and a buffer serde_json writes starts at 128
/// bytes of capacity, which [`REFERENCED_SLACK`] only covers from 128 bytes of length on.
pub const REFERENCED_MIN: usize = 512;

/// A referenced chunk is weighed at this many times its length: it keeps its whole
/// buffer alive, and a buffer written by appending (serde_json, the answer templates)
/// may have up to twice its length allocated (a `Vec` doubles its capacity as it grows;
/// a template's 96 spare bytes are less than the length from [`REFERENCED_MIN`] on).
const REFERENCED_SLACK: usize = 2;

/// The answer's chunk to keep by reference instead of copying its start: an answer in
/// one chunk of [`REFERENCED_MIN`] bytes up to twice the part cap `cap`. Past that, a
/// reference would keep alive (and weigh) much more than the cap shows, and shrink how
/// many entries the byte budget keeps (Credeau's 92 KB insights in three chunks), so the
/// start is copied. No answer chunk is a slice of a larger buffer (each is a whole
/// `Vec` turned into `Bytes`, a cached one, or static), and none holds more than twice
/// its length (the Feature Store's reads, reserved for long values, are shrunk when
/// mostly empty: `featurestore::store::fitted`), so [`REFERENCED_SLACK`] covers what it
/// keeps.
fn by_reference(chunks: &[Bytes], cap: usize) -> Option<&Bytes> {
    match chunks {
        [one] if (REFERENCED_MIN..=2 * cap).contains(&one.len()) => Some(one),
        _ => None,
    }
}

thread_local! {
    /// This thread's buffer that [`Journal::store`] packs an entry in before copying it
    /// into the entry's own, of exactly its size.
    static SPARE_PACKED: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The largest packing buffer kept for a thread's next entry: a request's entry packs a
/// few hundred bytes, and a buffer a larger one grew is let go.
const SPARE_PACKED_MAX: usize = 16 * 1024;

/// The shortest part cap the method is kept under: every standard method, and any
/// method's start, fits, so a stored method is never empty.
const METHOD_MIN: usize = 16;

impl Journal {
    /// A journal keeping the newest `limit` entries (none when `limit` is 0), within
    /// `budgets.journal` bytes, each part up to `budgets.part` bytes.
    pub fn new(limit: usize, budgets: &Budgets) -> Self {
        Self {
            limit,
            max_bytes: budgets.journal,
            part: budgets.part,
            inner: OwnLines(Mutex::new(Inner::default())),
            gauge: Gauge::default(),
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
                filled: None,
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

    fn store<'a>(&self, r: &Record<'a>, headers: HeaderSource<'_>, truncated: bool) {
        if self.limit == 0 {
            return;
        }
        let cap = self.part;
        let mut cut = Cut::default();
        let mut text = |p: Part, s: Option<&'a str>, cap: usize| -> Option<&'a [u8]> {
            let s = s?;
            let kept = cut_text(s, cap);
            if kept.len() < s.len() {
                cut.set(p);
            }
            Some(kept.as_bytes())
        };
        // The text parts are cut on a character boundary; the body at the cap.
        let path = text(Part::Path, Some(r.path), cap);
        let query = text(Part::Query, r.query, cap);
        let entity = text(Part::Entity, r.entity, cap);
        let note = text(Part::Note, r.note, cap);
        let method =
            text(Part::Method, Some(r.method.as_str()), cap.max(METHOD_MIN)).unwrap_or_default();
        let body = &r.body[..r.body.len().min(cap)];
        // Packed outside the lock, in one pass (the header map is walked once), into
        // this thread's spare buffer, in cache; under the lock it is copied into a
        // buffer of exactly its size (the evicted entry's when of the same length): an
        // entry's weight is then a function of its content alone, and nothing is
        // reallocated. (Keeping an evicted entry's buffer past the lock, as this did
        // once, kept one buffer per thread alive across a reset, high in the heap, where
        // it stopped the allocator from giving the freed memory back; the spare is
        // bounded (at most 16 KiB kept, emptied when taken back), and an evicted buffer
        // is reused in place or freed.)
        let mut buf = crate::spare::take(&SPARE_PACKED);
        let mut ends = [0u32; PARTS];
        let mut present = 0u8;
        // Each part is at most the part cap, far below 4 GiB.
        let end = |buf: &Vec<u8>| u32::try_from(buf.len()).unwrap_or(u32::MAX);
        if let Some(p) = path {
            buf.extend_from_slice(p);
        }
        ends[Part::Path as usize] = end(&buf);
        if let Some(q) = query {
            buf.extend_from_slice(q);
            present |= 1 << Part::Query as u8;
        }
        ends[Part::Query as usize] = end(&buf);
        if headers.each(cap, |n, v| Headers::write(&mut buf, n, v)) {
            cut.set(Part::Headers);
        }
        ends[Part::Headers as usize] = end(&buf);
        buf.extend_from_slice(body);
        ends[Part::Body as usize] = end(&buf);
        if let Some(e) = entity {
            buf.extend_from_slice(e);
            present |= 1 << Part::Entity as u8;
        }
        ends[Part::Entity as usize] = end(&buf);
        if let Some(n) = note {
            buf.extend_from_slice(n);
            present |= 1 << Part::Note as u8;
        }
        ends[Part::Note as usize] = end(&buf);
        // One chunk of a moderate size is kept by reference (no copy); its whole length
        // is weighed, as it stays alive while the entry does.
        let referenced = r.response.and_then(|c| by_reference(c, cap));
        let answer = match (r.response, referenced) {
            (Some(c), None) => c.iter().map(Bytes::len).sum::<usize>().min(cap),
            _ => 0,
        };
        // What the buffer holds without the holes of a filled answer.
        let unshared = buf.len() + answer + method.len();
        let h_unshared = heap(unshared);
        let h_chunk = referenced.map_or(0, |c| heap(REFERENCED_SLACK * c.len()));
        // An answer filled from a template keeps the template and its holes' values
        // instead of the chunk, so that the chunk's buffer is freed once sent (and the
        // next answer is written into it while it is in cache, not into one last written
        // a journal ago): where each hole's value ends (a `u32` each) and the values, in
        // the buffer. The weight counts the buffer without the holes, and the chunk as
        // before: an entry weighs what it did when it kept the chunk (the byte budget
        // keeps as many entries), and the template is kept only where the chunk's weight
        // covers what the entry then keeps alive instead: the holes in its buffer and the
        // template (whole, as if nothing else held it).
        let shared = referenced
            .and(r.filled)
            .and_then(|f| Some((f.template.as_ref()?, f)))
            .filter(|(t, f)| {
                let holes = 4 * (t.parts().len() - 1) + f.bytes.len() - t.len();
                heap(unshared + holes) - h_unshared + t.heap_bytes() <= h_chunk
            });
        let mut response_truncated = false;
        if let Some(chunk) = referenced {
            response_truncated = chunk.len() > cap;
            present |= 1 << Part::Response as u8;
            if let Some((hole_ends, values)) = shared.and_then(|(_, f)| f.holes()) {
                for end in hole_ends {
                    buf.extend_from_slice(&end.to_le_bytes());
                }
                for v in values {
                    buf.extend_from_slice(v);
                }
            }
        } else if let Some(chunks) = r.response {
            let mut room = cap;
            for c in chunks {
                let take = c.len().min(room);
                buf.extend_from_slice(&c[..take]);
                room -= take;
                response_truncated |= take < c.len();
            }
            present |= 1 << Part::Response as u8;
        }
        ends[Part::Response as usize] = end(&buf);
        buf.extend_from_slice(method);
        ends[Part::Method as usize] = end(&buf);
        let packed = buf;
        let weight = std::mem::size_of::<Stored>() + h_unshared + h_chunk + ENTRY_OVERHEAD;
        // An entry holds at most 8 parts of the part cap and one referenced chunk of
        // twice it ([`by_reference`]), far below 4 GiB.
        let weight = u32::try_from(weight).unwrap_or(u32::MAX);
        let scenario = r.scenario.cloned();
        let step = r
            .step
            .map_or(NO_STEP, |s| u32::try_from(s).unwrap_or(NO_STEP - 1));
        let body_truncated = truncated || r.body.len() > cap;
        let chunk = match (shared, referenced) {
            (None, Some(c)) => Some(c.slice(..c.len().min(cap))),
            _ => None,
        };
        // Dropped after the lock is let go. One entry goes at a time in steady state:
        // it is held without allocating a list for it.
        let mut evicted: (Option<Freed>, Option<Vec<Freed>>) = (None, None);
        {
            let mut inner = crate::lock::lock(&self.inner.0);
            inner.next_seq += 1;
            let seq = inner.next_seq;
            // The oldest go past the count or the byte budget; the newest always stays.
            while !inner.entries.is_empty()
                && (inner.entries.len() >= self.limit
                    || inner.bytes + weight as usize > self.max_bytes)
            {
                let Some(Stored {
                    weight,
                    buf,
                    answer,
                    scenario,
                    ..
                }) = inner.entries.pop_front()
                else {
                    break;
                };
                inner.bytes -= weight as usize;
                drop(scenario);
                let freed = (buf, answer);
                match evicted.0 {
                    None => evicted.0 = Some(freed),
                    Some(_) => evicted.1.get_or_insert_with(Vec::new).push(freed),
                }
            }
            // The entry takes over what the oldest one held where it can: its buffer
            // when of the same length (entries of one endpoint mostly are; the buffer
            // is then exactly the entry's size, and neither allocated nor freed), and
            // its handle on the same template (nothing written to the template's
            // shared count, which both runtime workers would otherwise write on each
            // answer they keep). Else the buffer is allocated here: the allocator's
            // thread cache answers that in a few dozen instructions.
            let mut old = evicted.0.as_mut();
            let buf = match old.as_mut() {
                Some((old, _)) if old.len() == packed.len() => {
                    let mut buf = std::mem::take(old);
                    buf.copy_from_slice(&packed);
                    buf
                }
                _ => Box::from(&packed[..]),
            };
            let answer = match (shared, chunk) {
                (Some((t, _)), _) => Answer::Filled(
                    old.and_then(|(_, a)| a.take_template(t))
                        .unwrap_or_else(|| t.clone()),
                ),
                (None, Some(c)) => Answer::Chunk(c),
                (None, None) => Answer::None,
            };
            // Grown by doubling up to the limit, then to the limit exactly: once full,
            // each new entry goes into the slot the oldest just left (its first line
            // read to evict it: in cache), not into one last written a whole capacity
            // of entries ago.
            let (len, capacity) = (inner.entries.len(), inner.entries.capacity());
            if len == capacity {
                // After the evictions above, `len` is below the limit.
                inner
                    .entries
                    .reserve_exact(capacity.max(4).min(self.limit - len));
            }
            inner.bytes += weight as usize;
            inner.entries.push_back(Stored {
                weight,
                status: r.status,
                buf,
                answer,
                scenario,
                seq,
                time: r.time,
                step,
                ends,
                direction: r.direction,
                vendor: r.vendor,
                client: r.client,
                present,
                cut,
                body_truncated,
                response_truncated,
            });
            self.gauge.set(inner.bytes);
        }
        crate::spare::keep(&SPARE_PACKED, packed, SPARE_PACKED_MAX);
        drop(evicted);
    }

    /// Matching entries, oldest first (newest last).
    pub fn query(&self, filter: &Filter) -> Vec<Exchange> {
        let inner = crate::lock::lock(&self.inner.0);
        let mut out: Vec<Exchange> = inner
            .entries
            .iter()
            .rev()
            .filter(|e| filter.matches(e))
            .take(filter.limit.unwrap_or(usize::MAX))
            .map(|e| e.to_exchange(self.part))
            .collect();
        out.reverse();
        out
    }

    /// How many entries [`query`](Self::query) would return.
    pub fn count(&self, filter: &Filter) -> usize {
        let inner = crate::lock::lock(&self.inner.0);
        let n = inner.entries.iter().filter(|e| filter.matches(e)).count();
        n.min(filter.limit.unwrap_or(usize::MAX))
    }

    pub fn clear(&self) {
        let mut inner = crate::lock::lock(&self.inner.0);
        // Freed, not kept empty at its largest: a reset gives the memory back.
        inner.entries = VecDeque::new();
        inner.bytes = 0;
        self.gauge.set(0);
    }

    /// Roughly how many bytes the entries hold (fixed fields, packed buffers and the
    /// measured overhead), for the memory budgets. No lock.
    pub fn approx_bytes(&self) -> usize {
        self.gauge.get()
    }

    pub fn len(&self) -> usize {
        crate::lock::lock(&self.inner.0).entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An inbound `GET /` to Credeau at the epoch, answered 200, with no query, body,
    /// entity, note or answer kept: each test sets what it looks at over it.
    fn inbound(headers: &HeaderMap) -> Record<'_> {
        Record {
            time: DateTime::UNIX_EPOCH,
            direction: "inbound",
            vendor: Some("credeau"),
            method: &Method::GET,
            path: "/",
            query: None,
            client: None,
            headers,
            body: b"",
            entity: None,
            scenario: None,
            step: None,
            status: Some(200),
            note: None,
            response: None,
            filled: None,
        }
    }

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
            cut: Cut::default(),
            entity: None,
            scenario: "default".into(),
            step: None,
            status: Some(200),
            note: None,
        }
    }

    #[test]
    fn a_journal_keeps_its_own_limit_and_counts_what_it_holds() {
        let a = Journal::new(2, &Budgets::default());
        let b = Journal::new(2, &Budgets::default());
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
        let none = Journal::new(0, &Budgets::default());
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
        let j = Journal::new(2, &Budgets::default());
        let record = |response: Option<&[Bytes]>| {
            j.record(&Record {
                method: &Method::POST,
                status: response.map(|_| 200),
                response,
                ..inbound(&HeaderMap::new())
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
    fn an_answer_kept_by_reference_reads_back_as_a_copied_one() {
        // One chunk may be kept by reference; the same bytes in two chunks are always
        // copied: every entry must read back the same, whatever the size and the cut.
        let text: String = "ab€c😀é\"\n".chars().cycle().take(12_000).collect();
        for part in [64, 300, 1000, 4096] {
            let budgets = Budgets {
                part,
                ..Budgets::default()
            };
            for len in [
                0, 1, 200, 511, 512, 513, 999, 1000, 1001, 2000, 4095, 4096, 4097,
            ]
            .into_iter()
            .chain([6000, 8191, 8192, 8193, 12_000])
            {
                let bytes = Bytes::copy_from_slice(&text.as_bytes()[..len]);
                let one = [bytes.clone()];
                let split = [bytes.slice(..len.min(1)), bytes.slice(len.min(1)..)];
                let shown = |chunks: &[Bytes]| {
                    let j = Journal::new(2, &budgets);
                    j.record(&Record {
                        response: Some(chunks),
                        ..inbound(&HeaderMap::new())
                    });
                    let e = &j.query(&Filter::default())[0];
                    (
                        serde_json::to_string(e).unwrap(),
                        e.response_body.clone(),
                        e.response_body_truncated,
                    )
                };
                let (by_one, kept, truncated) = shown(&one);
                assert_eq!(by_one, shown(&split).0, "part {part}, {len} bytes");
                assert_eq!(kept.as_deref(), Some(&bytes[..len.min(part)]));
                assert_eq!(truncated, len > part, "part {part}, {len} bytes");
            }
        }
    }

    /// A template of `len` bytes or so with three holes (the middle one near the end).
    fn template(len: usize) -> Template {
        let pad: String = "ab€c😀é\"\n".chars().cycle().take(len / 2).collect();
        let v = serde_json::json!({
            "id": Template::hole(2),
            "pad": pad,
            "at": Template::hole(0),
            "tail": "x".repeat(len / 4),
            "end": Template::hole(1),
        });
        Template::from_json(&v, 3).expect("each hole once")
    }

    /// What `j` shows of its newest entry's answer, and whether it keeps the answer as a
    /// template.
    fn newest_answer(j: &Journal) -> (String, Option<Bytes>, bool, bool) {
        let e = j.query(&Filter::default()).pop().expect("an entry");
        let inner = crate::lock::lock(&j.inner.0);
        let shared = matches!(
            inner.entries.back().expect("an entry").answer,
            Answer::Filled(_)
        );
        (
            serde_json::to_string(&e).unwrap(),
            e.response_body.clone(),
            e.response_body_truncated,
            shared,
        )
    }

    #[test]
    fn an_answer_kept_as_its_template_reads_back_as_a_copied_one() {
        let values: [&[u8]; 4] = [
            b"",
            b"\"2026-01-15T10:00:00Z\"",
            "\"é€😀\"".as_bytes(),
            &[b'7'; 700],
        ];
        let mut shared = 0;
        for part in [64, 300, 1000, 4096] {
            let budgets = Budgets {
                part,
                ..Budgets::default()
            };
            for len in [0, 300, 600, 1000, 2000, 4000, 7000, 9000] {
                let t = template(len);
                for (a, b) in [(0, 1), (1, 2), (3, 0), (2, 3)] {
                    let filled = t.filled(0, |hole, out| {
                        out.extend_from_slice(values[[a, b, (a + b) % 4][hole]])
                    });
                    let bytes = filled.bytes.clone();
                    let shown = |chunks: &[Bytes], filled: Option<&Filled>| {
                        let j = Journal::new(2, &budgets);
                        j.record(&Record {
                            response: Some(chunks),
                            filled,
                            ..inbound(&HeaderMap::new())
                        });
                        (newest_answer(&j), j.approx_bytes())
                    };
                    let one = [bytes.clone()];
                    let (from_template, weight) = shown(&one, Some(&filled));
                    let (copied, copied_weight) = shown(&one, None);
                    let split = [bytes.slice(..1), bytes.slice(1..)];
                    let (split, _) = shown(&split, Some(&filled));
                    let what = format!("part {part}, {} bytes", bytes.len());
                    assert_eq!(from_template.0, copied.0, "{what}");
                    assert_eq!(from_template.1, copied.1, "{what}");
                    assert_eq!(from_template.0, split.0, "{what}");
                    assert_eq!(
                        from_template.1.as_deref(),
                        Some(&bytes[..bytes.len().min(part)])
                    );
                    assert_eq!(from_template.2, bytes.len() > part, "{what}");
                    // Kept as its template exactly when the chunk would be kept by
                    // reference; weighed as the chunk.
                    let by_ref = by_reference(&one, part).is_some();
                    assert_eq!(from_template.3, by_ref, "{what}");
                    assert!(!copied.3 && !split.3, "{what}");
                    assert_eq!(weight, copied_weight, "{what}");
                    shared += usize::from(from_template.3);
                }
            }
        }
        assert!(shared > 20, "{shared}");
    }

    #[test]
    fn an_answer_kept_as_its_template_weighs_what_it_keeps_alive() {
        for len in [600, 1000, 2000, 3000] {
            let t = template(len);
            let j = Journal::new(2, &Budgets::default());
            let filled = t.filled(0, |_, out| out.extend_from_slice(b"\"2026-01-15\""));
            j.record(&Record {
                response: Some(std::slice::from_ref(&filled.bytes)),
                filled: Some(&filled),
                ..inbound(&HeaderMap::new())
            });
            let inner = crate::lock::lock(&j.inner.0);
            let e = inner.entries.back().expect("an entry");
            assert!(matches!(e.answer, Answer::Filled(_)), "{len}");
            // Its buffer (with the holes) and the whole template, were nothing else
            // keeping the template alive.
            let kept = std::mem::size_of::<Stored>() + heap(e.buf.len()) + t.heap_bytes();
            assert!(
                e.bytes() >= kept + ENTRY_OVERHEAD,
                "{len}: {} < {kept}",
                e.bytes()
            );
        }
    }

    #[test]
    fn an_evicted_or_reset_entry_lets_its_template_go() {
        let t = template(2000);
        let j = Journal::new(3, &Budgets::default());
        let record = |j: &Journal| {
            let filled = t.filled(0, |_, out| out.extend_from_slice(b"1"));
            j.record(&Record {
                response: Some(std::slice::from_ref(&filled.bytes)),
                filled: Some(&filled),
                ..inbound(&HeaderMap::new())
            });
        };
        for n in 1..=5 {
            record(&j);
            // Ours and one per entry kept (the filled answer's own was dropped).
            assert_eq!(t.holders(), 1 + n.min(3), "{n}");
        }
        // Evicted by the byte budget too.
        let small = Journal::new(
            100,
            &Budgets {
                journal: 20_000,
                ..Budgets::default()
            },
        );
        for _ in 0..50 {
            record(&small);
        }
        assert!(small.len() < 10, "{}", small.len());
        assert_eq!(t.holders(), 1 + 3 + small.len());
        j.clear();
        small.clear();
        assert_eq!(t.holders(), 1);
        assert!(j.is_empty() && j.approx_bytes() == 0);
    }

    #[test]
    fn an_entry_that_takes_over_the_oldest_ones_buffer_or_template_reads_back_the_same() {
        // A full journal's new entry reuses the evicted entry's buffer when it has the
        // same length, and its template handle when it is the same template: each
        // journal must show and weigh exactly what a journal that only ever held the
        // same newest entries does.
        let (a, b) = (template(2000), template(3000));
        let paths = ["/aa", "/bb", "/ccc", "/dd", "/e"];
        // Of one length: the same shape of entry then differs in its holes only.
        let values: [&[u8]; 3] = [b"1", b"2", b"3"];
        let record = |j: &Journal, i: usize| {
            let t = if i % 3 == 0 { &b } else { &a };
            let filled = t.filled(0, |hole, out| {
                out.extend_from_slice(values[(i + hole) % values.len()])
            });
            let small = [Bytes::from_static(b"{}")];
            j.record(&Record {
                path: paths[i % paths.len()],
                entity: (i % 2 == 0).then_some("someone"),
                response: Some(if i % 7 == 6 {
                    &small[..]
                } else {
                    std::slice::from_ref(&filled.bytes)
                }),
                filled: (i % 7 != 6).then_some(&filled),
                ..inbound(&HeaderMap::new())
            });
        };
        let long = Journal::new(2, &Budgets::default());
        for i in 0..40 {
            record(&long, i);
            let fresh = Journal::new(2, &Budgets::default());
            for k in i.saturating_sub(1)..=i {
                record(&fresh, k);
            }
            let shown = |j: &Journal| {
                j.query(&Filter::default())
                    .iter()
                    .map(|e| {
                        let mut v = serde_json::to_value(e).unwrap();
                        v["seq"] = 0.into();
                        v
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(shown(&long), shown(&fresh), "{i}");
            assert_eq!(long.approx_bytes(), fresh.approx_bytes(), "{i}");
            drop(fresh);
            // Ours and one per entry keeping each template.
            let kept = |t: &Template| {
                let inner = crate::lock::lock(&long.inner.0);
                inner
                    .entries
                    .iter()
                    .filter(|e| matches!(&e.answer, Answer::Filled(k) if k.same(t)))
                    .count()
            };
            assert_eq!(a.holders(), 1 + kept(&a), "{i}");
            assert_eq!(b.holders(), 1 + kept(&b), "{i}");
        }
        long.clear();
        assert_eq!((a.holders(), b.holders()), (1, 1));
    }

    #[test]
    fn an_answer_kept_by_reference_weighs_the_whole_buffer_it_keeps_alive() {
        let weigh = |len: usize| {
            let j = Journal::new(2, &Budgets::default());
            j.record(&Record {
                response: Some(&[Bytes::from(vec![b'x'; len])]),
                ..inbound(&HeaderMap::new())
            });
            j.approx_bytes()
        };
        let none = weigh(0);
        // Kept by reference: the whole chunk, at twice its length (its buffer's spare
        // capacity), although only the cap is shown.
        assert!(by_reference(&[Bytes::from(vec![0; 8000])], BODY_CAP).is_some());
        assert!(weigh(8000) - none >= 16_000, "{}", weigh(8000) - none);
        assert!(weigh(1000) - none >= 2000);
        // Much larger than the cap: its start is copied, and only that is weighed.
        assert!(by_reference(&[Bytes::from(vec![0; 9000])], BODY_CAP).is_none());
        let big = weigh(90_000) - none;
        assert!((BODY_CAP..BODY_CAP + 1024).contains(&big), "{big}");
        // Small answers are copied.
        assert!(by_reference(&[Bytes::from(vec![0; 511])], BODY_CAP).is_none());
    }

    #[test]
    fn the_oldest_entry_goes_once_the_limit_is_reached() {
        let j = Journal::new(2, &Budgets::default());
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
        let j = Journal::new(10, &Budgets::default());
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
        let j = Journal::new(1, &Budgets::default());
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
        let j = Journal::new(1, &Budgets::default());
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
        let j = Journal::new(2, &Budgets::default());
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
        let j = Journal::new(4, &Budgets::default());
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
                method: &Method::POST,
                path: "/credeau/api/insights",
                query: Some(""),
                client: Some([127, 0, 0, 1].into()),
                body: b"{}",
                entity: Some("u1"),
                scenario,
                step: Some(0),
                status: Some(202),
                ..inbound(&headers)
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

    #[test]
    fn every_part_is_kept_up_to_the_cap_and_marked_when_cut() {
        let budgets = Budgets {
            part: 64,
            ..Budgets::default()
        };
        let j = Journal::new(4, &budgets);
        let mut headers = HeaderMap::new();
        headers.insert("x-small", "a".parse().unwrap());
        headers.insert("x-big", "b".repeat(100).parse().unwrap());
        let long = "é".repeat(100);
        j.record(&Record {
            vendor: Some("finbox"),
            method: &Method::POST,
            path: &format!("/{long}"),
            query: Some(&long),
            body: long.as_bytes(),
            entity: Some(&long),
            note: Some(&format!("metadata: {long}")),
            response: Some(&[Bytes::from(long.clone())]),
            ..inbound(&headers)
        });
        j.push(entry("finbox", "/short"));
        let all = j.query(&Filter::default());
        let v = serde_json::to_value(&all[0]).unwrap();
        for key in ["path", "query", "body", "entity", "note", "response_body"] {
            let text = v[key].as_str().unwrap();
            assert!(
                text.len() <= 64 && text.len() >= 60,
                "{key}: {}",
                text.len()
            );
            assert!(
                !text.contains('\u{FFFD}'),
                "{key} cut on a character boundary"
            );
            assert_eq!(v[format!("{key}_truncated")], true, "{key}");
        }
        assert_eq!(v["headers"], serde_json::json!({"x-small": "a"}));
        assert_eq!(v["headers_truncated"], true);
        let short = serde_json::to_value(&all[1]).unwrap();
        for key in ["path", "headers", "body", "entity"] {
            assert!(short.get(format!("{key}_truncated")).is_none(), "{key}");
        }
    }

    #[test]
    fn a_long_method_is_kept_up_to_the_cap_marked_and_counted() {
        let budgets = Budgets {
            part: 64,
            ..Budgets::default()
        };
        let j = Journal::new(4, &budgets);
        let long = Method::from_bytes("M".repeat(30_000).as_bytes()).unwrap();
        let record = |method: &Method| {
            j.record(&Record {
                method,
                status: Some(405),
                ..inbound(&HeaderMap::new())
            })
        };
        record(&Method::GET);
        let short = j.approx_bytes();
        record(&long);
        assert!(
            j.approx_bytes() - short >= short + 60,
            "the kept method is counted: {short} then {}",
            j.approx_bytes()
        );
        let all = j.query(&Filter::default());
        let v: Vec<_> = all
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect();
        assert_eq!(
            (v[0]["method"].clone(), v[0].get("method_truncated")),
            ("GET".into(), None)
        );
        assert_eq!(v[1]["method"], "M".repeat(64));
        assert_eq!(v[1]["method_truncated"], true);
        // Under a part cap shorter than a method name, any method keeps its name.
        let tiny = Journal::new(2, &Budgets { part: 0, ..budgets });
        tiny.push(Entry {
            method: Method::OPTIONS,
            ..entry("credeau", "/")
        });
        assert_eq!(tiny.query(&Filter::default())[0].method, Method::OPTIONS);
    }

    #[test]
    fn a_buffer_is_sized_exactly_whatever_the_headers_and_the_cuts() {
        // `store` debug-asserts that nothing was reallocated; this drives it through
        // headers kept, cut at the stored length, left out past the cap, and parts cut.
        for part in [0, 10, 64, 300, 4096] {
            let j = Journal::new(
                2,
                &Budgets {
                    part,
                    ..Budgets::default()
                },
            );
            let mut headers = HeaderMap::new();
            headers.insert("x-a", "a".parse().unwrap());
            headers.insert("x-long", "é".repeat(600).parse().unwrap());
            headers.insert("authorization", "Bearer t".parse().unwrap());
            headers.insert("cookie", "left out".parse().unwrap());
            j.record(&Record {
                method: &Method::PATCH,
                path: "/p/ä",
                query: Some("q=1"),
                body: &[b'b'; 100],
                entity: Some("e"),
                note: Some("n"),
                response: Some(&[Bytes::from_static(b"ab"), Bytes::from(vec![b'c'; 200])]),
                ..inbound(&headers)
            });
            let e = &j.query(&Filter::default())[0];
            assert_eq!(e.method, Method::PATCH, "part {part}");
            assert!(e.response_body.as_ref().unwrap().len() <= part);
        }
    }

    #[test]
    fn many_kept_headers_are_all_kept_in_order() {
        let j = Journal::new(2, &Budgets::default());
        let mut headers = HeaderMap::new();
        for i in 0..12 {
            headers.insert(
                HeaderName::from_bytes(format!("x-h{i:02}").as_bytes()).unwrap(),
                i.to_string().parse().unwrap(),
            );
        }
        headers.insert("cookie", "left out".parse().unwrap());
        j.record(&Record {
            ..inbound(&headers)
        });
        let e = &j.query(&Filter::default())[0];
        let got: Vec<(String, Vec<u8>)> = e
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_vec()))
            .collect();
        let want: Vec<(String, Vec<u8>)> = headers
            .iter()
            .filter(|(n, _)| kept_header(n))
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect();
        assert_eq!(got.len(), 12);
        assert_eq!(got, want);
    }

    #[test]
    fn the_kept_headers_are_found_by_their_names_text() {
        use hyper::header;
        // The rule as it was written against the standard names' tags.
        let by_tag = |n: &HeaderName| {
            [
                header::CONTENT_TYPE,
                header::CONTENT_LENGTH,
                header::ACCEPT,
                header::USER_AGENT,
                header::HOST,
                header::AUTHORIZATION,
            ]
            .contains(n)
                || n.as_str().starts_with("x-")
        };
        for name in [
            "content-type",
            "content-length",
            "accept",
            "accept-encoding",
            "user-agent",
            "host",
            "authorization",
            "proxy-authorization",
            "cookie",
            "x-api-key",
            "x-",
            "x",
            "xx-a",
            "content-typo",
            "hosts",
            "date",
            "a",
        ] {
            let n = HeaderName::from_bytes(name.as_bytes()).unwrap();
            assert_eq!(kept_header(&n), by_tag(&n), "{name}");
            assert_eq!(
                kept_name(name) == Some(true),
                n == header::AUTHORIZATION,
                "{name}"
            );
        }
    }

    #[test]
    fn authorization_is_shown_the_same_from_its_scheme_alone() {
        for value in [
            &b""[..],
            b"   ",
            b"Bearer secret-token",
            b"Basic dXNlcjpwYXNz",
            b"  Bearer\tsecret  more",
            b"Token",
            "Bearer\u{a0}secret".as_bytes(),
            "\u{3000}Bearer secret".as_bytes(),
            "Bé\u{2003}x".as_bytes(),
            b"Bearer \xff\xfesecret",
            b"\xffBearer secret",
        ] {
            let kept = scheme(value);
            assert!(value.starts_with(kept));
            assert_eq!(
                show_header("authorization", kept),
                show_header("authorization", value),
                "{value:?}"
            );
            assert!(
                !kept.ends_with(b"secret") && !kept.ends_with(b"more"),
                "{value:?}"
            );
        }
        // Every value of up to four of these pieces: ASCII and Unicode whitespace (and
        // ASCII that is not), words, bytes that are not UTF-8.
        let pieces: [&[u8]; 13] = [
            b"",
            b" ",
            b"\t",
            b"\x0b",
            b"\x1c",
            b"a",
            b"Bearer",
            "é".as_bytes(),
            "\u{a0}".as_bytes(),
            "\u{85}".as_bytes(),
            "\u{2003}".as_bytes(),
            b"\xff",
            b"\xe2\x82",
        ];
        for n in 0..pieces.len().pow(4) {
            let value: Vec<u8> = (0..4)
                .flat_map(|k| {
                    pieces[n / pieces.len().pow(k) % pieces.len()]
                        .iter()
                        .copied()
                })
                .collect();
            let kept = scheme(&value);
            assert_eq!(
                show_header("authorization", kept),
                show_header("authorization", &value),
                "{value:?}"
            );
            // Nothing past the first word is kept, valid UTF-8 or not.
            let text = String::from_utf8_lossy(kept);
            assert!(text.split_whitespace().count() <= 1, "{value:?}");
            assert!(
                kept.len() == value.len() || text.trim_end() == text,
                "{value:?}"
            );
        }
    }

    #[test]
    fn the_credentials_after_the_scheme_are_not_kept_and_the_same_headers_fit() {
        // The part cap is counted on the whole value: an `x-` header after a long
        // `authorization` is left out as before, although the scheme alone would fit.
        let budgets = Budgets {
            part: 300,
            ..Budgets::default()
        };
        let j = Journal::new(2, &budgets);
        for token_len in [10, 275] {
            let mut headers = HeaderMap::new();
            let token = "t".repeat(token_len);
            headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
            headers.insert("x-after", "v".parse().unwrap());
            j.record(&inbound(&headers));
            let e = &j.query(&Filter::default()).pop().unwrap();
            let held: Vec<_> = e.headers.iter().map(|(n, v)| (n, v.to_vec())).collect();
            let v = serde_json::to_value(e).unwrap();
            assert_eq!(held[0], ("authorization", b"Bearer".to_vec()));
            assert_eq!(v["headers"]["authorization"], "Bearer …");
            if token_len == 10 {
                assert_eq!(held.len(), 2);
                assert!(v.get("headers_truncated").is_none());
            } else {
                assert_eq!(held.len(), 1, "x-after left out at the cap");
                assert_eq!(v["headers_truncated"], true);
            }
        }
    }

    #[test]
    fn a_full_ring_holds_the_limit_exactly_and_a_young_one_little() {
        let j = Journal::new(100, &Budgets::default());
        for i in 0..5 {
            j.push(entry("credeau", &format!("/{i}")));
        }
        assert!(crate::lock::lock(&j.inner.0).entries.capacity() <= 8);
        for i in 5..250 {
            j.push(entry("credeau", &format!("/{i}")));
            let inner = crate::lock::lock(&j.inner.0);
            assert!(inner.entries.capacity() <= 100, "{i}");
        }
        let inner = crate::lock::lock(&j.inner.0);
        assert_eq!((inner.entries.len(), inner.entries.capacity()), (100, 100));
        drop(inner);
        let all = j.query(&Filter::default());
        assert_eq!(all[0].path, "/150");
        assert_eq!(all[99].path, "/249");
        assert!(all.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
    }

    #[test]
    fn shown_characters_count_each_invalid_sequence_once() {
        for value in [
            &b""[..],
            b"abc",
            "é€😀".as_bytes(),
            b"\xff\xfe",
            b"a\xe2\x82",
            b"\xf0\x9f\x98a\xc3",
        ] {
            assert_eq!(
                shown_chars(value),
                String::from_utf8_lossy(value).chars().count(),
                "{value:?}"
            );
        }
    }

    #[test]
    fn the_oldest_entries_go_once_the_byte_budget_is_reached() {
        let one = {
            let j = Journal::new(10, &Budgets::default());
            j.push(Entry {
                body: Bytes::from(vec![b'x'; 1000]),
                ..entry("credeau", "/0")
            });
            j.approx_bytes()
        };
        let budgets = Budgets {
            journal: 3 * one,
            ..Budgets::default()
        };
        let j = Journal::new(10, &budgets);
        for i in 0..5 {
            j.push(Entry {
                body: Bytes::from(vec![b'x'; 1000]),
                ..entry("credeau", &format!("/{i}"))
            });
        }
        let paths: Vec<_> = j
            .query(&Filter::default())
            .into_iter()
            .map(|e| e.path.clone())
            .collect();
        assert_eq!(paths, ["/2", "/3", "/4"]);
        assert!(j.approx_bytes() <= 3 * one);
        // An entry alone over the budget is still kept (the newest always is).
        let tiny = Journal::new(
            10,
            &Budgets {
                journal: 10,
                ..Budgets::default()
            },
        );
        tiny.push(entry("credeau", "/a"));
        tiny.push(entry("credeau", "/b"));
        assert_eq!(tiny.query(&Filter::default())[0].path, "/b");
        assert_eq!(tiny.len(), 1);
    }
}
