//! The latest written value of each (entity type, entity, feature), kept compactly and
//! bounded by count ([`MAX_ROWS`] entities) and by bytes
//! ([`Budgets::rows`](crate::budget::Budgets::rows)): past either, the entity first
//! written longest ago is forgotten first (writing an entity again keeps its place; the
//! entity just written is never the one forgotten), and a read then finds no value for
//! it. This is the mock's own bound, by count and size: Google's online store keeps
//! every value until its age passes the entity type's `onlineStorageTtlDays`, however
//! many there are.
//!
//! A value is kept as the bytes a read answers for its data and its generate time
//! ([`Stored`]): read from the canonical JSON it was written as
//! ([`super::values::Parsed`]) into a small enum ([`Compact`]) and rendered once, when
//! written, rather than kept as a JSON tree (which costs several times its text) or
//! rendered again on every read. An entity's row keeps its values' data in one buffer,
//! followed by their generate times' closings, each once ([`Row`]), and weighs what that
//! buffer and its index hold; the dress around them (`{"value":{"<field>":` and the
//! metadata's key), the same for every value of a kind, is not kept but written by a read
//! from static pieces. Entity type names and feature ids are shared between rows
//! (`Arc<str>`), so an entity's row holds little besides its values.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::values::{Parsed, ValueType};
use crate::budget::heap;
use crate::clock::rfc3339;
use crate::generate::put_iso_time;
use crate::memo::{json_str, special};
use crate::{FastHash, FastMap};

/// Entities with values kept at most (the oldest written is forgotten first).
pub const MAX_ROWS: usize = 100_000;
/// Feature ids shared between rows at most; past it the table of shared ids starts
/// afresh (rows keep theirs, no longer counted in the store's total). Features are
/// resources, at most 10 000 of them at once; the ids of deleted ones stay until then.
const MAX_SHARED_IDS: usize = 30_000;

/// A value's data, without its JSON dress, read from its canonical JSON (borrowing its
/// strings) to be rendered.
#[derive(Debug, Clone, PartialEq)]
enum Compact<'a> {
    Bool(bool),
    Double(f64),
    Int64(i64),
    /// `stringValue` or `bytesValue` (base64 text) with a byte JSON escapes.
    Text(&'a str),
    /// The same with none ([`special`] finds none): written as it is.
    Plain(&'a str),
    BoolArray(Vec<bool>),
    DoubleArray(Vec<f64>),
    Int64Array(Vec<i64>),
    TextArray(Vec<&'a str>),
}

impl<'a> Compact<'a> {
    /// A string value, [`Compact::Plain`] when it is.
    fn text(t: &'a str) -> Self {
        if special(t.as_bytes()) == t.len() {
            Self::Plain(t)
        } else {
            Self::Text(t)
        }
    }

    /// From the canonical JSON `{"<field>": X}` of a value of `kind`.
    fn from_parsed(p: &'a Parsed) -> Option<Self> {
        let x = p.value.as_object()?.values().next()?;
        let values = || x.get("values").and_then(Value::as_array);
        let text = |v: &'a Value| v.as_str();
        let int = |v: &Value| v.as_str()?.parse::<i64>().ok();
        Some(match p.kind {
            ValueType::Bool => Self::Bool(x.as_bool()?),
            ValueType::Double => Self::Double(x.as_f64()?),
            ValueType::Int64 => Self::Int64(int(x)?),
            ValueType::String | ValueType::Bytes => Self::text(text(x)?),
            ValueType::BoolArray => Self::BoolArray(
                values()?
                    .iter()
                    .map(Value::as_bool)
                    .collect::<Option<_>>()?,
            ),
            ValueType::DoubleArray => {
                Self::DoubleArray(values()?.iter().map(Value::as_f64).collect::<Option<_>>()?)
            }
            ValueType::Int64Array => {
                Self::Int64Array(values()?.iter().map(int).collect::<Option<_>>()?)
            }
            ValueType::StringArray => {
                Self::TextArray(values()?.iter().map(text).collect::<Option<_>>()?)
            }
        })
    }

    /// The canonical JSON of the value's data (what follows its field name): what
    /// [`Compact::write_json`] is held to.
    #[cfg(test)]
    fn to_json(&self) -> Value {
        let int = |i: &i64| Value::String(i.to_string());
        let array = |values: Vec<Value>| json!({ "values": values });
        match self {
            Self::Bool(b) => json!(b),
            Self::Double(d) => json!(d),
            Self::Int64(i) => int(i),
            Self::Text(t) | Self::Plain(t) => json!(t),
            Self::BoolArray(a) => array(a.iter().map(|b| json!(b)).collect()),
            Self::DoubleArray(a) => array(a.iter().map(|d| json!(d)).collect()),
            Self::Int64Array(a) => array(a.iter().map(int).collect()),
            Self::TextArray(a) => array(a.iter().map(|t| json!(t)).collect()),
        }
    }

    /// [`Compact::to_json`] serialized, written straight into `out`: the same bytes as
    /// `serde_json::to_writer(out, &self.to_json())` (a unit test holds them to it).
    /// Numbers and strings go through serde_json's own serializers (ryu for doubles,
    /// `null` for a non-finite one as `json!` gives; itoa for int64, quoted; its string
    /// escapes), so only the dress is ours.
    fn write_json(&self, out: &mut Vec<u8>) {
        fn list<T>(out: &mut Vec<u8>, items: &[T], mut item: impl FnMut(&mut Vec<u8>, &T)) {
            out.extend_from_slice(br#"{"values":["#);
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                item(out, x);
            }
            out.extend_from_slice(b"]}");
        }
        fn boolean(out: &mut Vec<u8>, b: &bool) {
            out.extend_from_slice(if *b { b"true" } else { b"false" });
        }
        fn double(out: &mut Vec<u8>, d: &f64) {
            // `json!(d)` is `null` for NaN and the infinities; serde_json writes an
            // f64 that way too.
            serde_json::to_writer(out, d).expect("writing to a Vec never fails");
        }
        fn int(out: &mut Vec<u8>, i: &i64) {
            out.push(b'"');
            serde_json::to_writer(&mut *out, i).expect("writing to a Vec never fails");
            out.push(b'"');
        }
        match self {
            Self::Bool(b) => boolean(out, b),
            Self::Double(d) => double(out, d),
            Self::Int64(i) => int(out, i),
            Self::Text(t) | Self::Plain(t) => json_str(out, t),
            Self::BoolArray(a) => list(out, a, boolean),
            Self::DoubleArray(a) => list(out, a, double),
            Self::Int64Array(a) => list(out, a, int),
            Self::TextArray(a) => list(out, a, |out, t| json_str(out, t)),
        }
    }

    /// The size of the value's data for the per-value cap: string bytes, 8 per number,
    /// 1 per bool, and for a string array 16 more per element (the slot each string
    /// takes, even an empty one: 340 000 `""` would otherwise count 0 and hold 5 MB).
    fn data_bytes(&self) -> usize {
        match self {
            Self::Bool(_) => 1,
            Self::Double(_) | Self::Int64(_) => 8,
            Self::Text(t) | Self::Plain(t) => t.len(),
            Self::BoolArray(a) => a.len(),
            Self::DoubleArray(a) => 8 * a.len(),
            Self::Int64Array(a) => 8 * a.len(),
            Self::TextArray(a) => a.iter().map(|t| t.len() + 16).sum(),
        }
    }
}

/// One value as written, before it joins its entity's row ([`Row`]): its kind, its data
/// as a read answers it (the JSON text of X in `{"<field>":X}`, escaped, quotes
/// included) and what follows the data, `,"metadata":{"generateTime":"T"}}}` (its
/// closing), shared by the values of one write generated at one moment ([`Times`]).
/// Nothing in either depends on the clock or on the read (the generate time is fixed
/// when the value is written, and the mock keeps a value unchanged until it is
/// overwritten, forgotten or its feature, entity type or featurestore is deleted), so a
/// read copies them as they are, between static pieces ([`put_value`]). The structured
/// value they were rendered from is not kept: the JSON path reads them back
/// ([`read_back`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    kind: ValueType,
    data: Box<[u8]>,
    closing: Arc<[u8]>,
}

impl Stored {
    /// A parsed (and checked) value, generated at `generate_time`, and its data size
    /// ([`Compact::data_bytes`], for the per-value cap); `times` keeps the last generate
    /// time's closing (the values of one write share one) and the buffer a value is
    /// rendered in. `None` only if `p` is not canonical JSON of its kind, which
    /// [`super::values::parse`] never gives.
    pub fn new(
        p: &Parsed,
        generate_time: DateTime<Utc>,
        times: &mut Times,
    ) -> Option<(Self, usize)> {
        let data = Compact::from_parsed(p)?;
        Some((
            Self::render(p.kind, &data, generate_time, times),
            data.data_bytes(),
        ))
    }

    /// The value's data serialized ([`Compact::write_json`]) and its closing.
    fn render(
        kind: ValueType,
        data: &Compact,
        generate_time: DateTime<Utc>,
        times: &mut Times,
    ) -> Self {
        let out = &mut times.buf;
        out.clear();
        match data {
            // A plain string (most values): nothing to escape.
            Compact::Plain(t) => {
                out.push(b'"');
                out.extend_from_slice(t.as_bytes());
                out.push(b'"');
            }
            data => data.write_json(out),
        }
        // Allocated at its length (a buffer shrunk in place costs a reallocation).
        let data = Box::from(&out[..]);
        Self {
            kind,
            data,
            closing: times.closing(generate_time),
        }
    }

    /// `{"value":{…}}` as a read's data holds it, serialized ([`put_value`]).
    #[cfg(test)]
    pub fn fragment(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_value(&mut out, self.kind, &self.data, &self.closing);
        out
    }

    /// `{"<field>": X, "metadata": {"generateTime": T}}`, as a read answers it
    /// ([`read_back`]).
    #[cfg(test)]
    pub fn to_json(&self) -> Value {
        read_back(self.kind, &self.data, &self.closing)
    }
}

/// `{"value":{"<field>":X,"metadata":{"generateTime":"T"}}}` for a value of `kind` with
/// `data` X and `closing` `,"metadata":{"generateTime":"T"}}}`, as a read's data holds
/// it: the same bytes as `{"value": V}` serialized, V the value's JSON (unit tests hold
/// them to it), in three copies, the first static.
#[inline]
fn put_value(out: &mut Vec<u8>, kind: ValueType, data: &[u8], closing: &[u8]) {
    out.extend_from_slice(opening(kind));
    out.extend_from_slice(data);
    out.extend_from_slice(closing);
}

/// `{"<field>": X, "metadata": {"generateTime": T}}`, as a read answers a value of
/// `kind`: its `data` and `closing` ([`Stored`]) read back. Its doubles are read back
/// from their text by the standard library's parser, which gives exactly the double
/// that text was written from (serde_json writes the shortest text that reads back so;
/// its own parser, in its default build, may miss the last bit).
fn read_back(kind: ValueType, data: &[u8], closing: &[u8]) -> Value {
    let double = |t: &str| match t {
        "null" => Value::Null,
        t => json!(t.parse::<f64>().expect("a double serde_json wrote")),
    };
    let ascii = |b: &[u8]| std::str::from_utf8(b).expect("ASCII").to_string();
    let x = match kind {
        ValueType::Double => double(&ascii(data)),
        ValueType::DoubleArray => {
            let text = ascii(data);
            let list = &text[r#"{"values":["#.len()..text.len() - "]}".len()];
            let values: Vec<Value> = match list {
                "" => Vec::new(),
                l => l.split(',').map(double).collect(),
            };
            json!({ "values": values })
        }
        _ => serde_json::from_slice(data).expect("rendered data is JSON"),
    };
    let time = ascii(&closing[METADATA.len()..closing.len() - CLOSING.len()]);
    let mut m = Map::new();
    m.insert(kind.field().to_string(), x);
    m.insert("metadata".into(), json!({ "generateTime": time }));
    Value::Object(m)
}

/// `{"value":{"<field>":` of a value of `kind`.
fn opening(kind: ValueType) -> &'static [u8] {
    match kind {
        ValueType::Bool => br#"{"value":{"boolValue":"#,
        ValueType::BoolArray => br#"{"value":{"boolArrayValue":"#,
        ValueType::Double => br#"{"value":{"doubleValue":"#,
        ValueType::DoubleArray => br#"{"value":{"doubleArrayValue":"#,
        ValueType::Int64 => br#"{"value":{"int64Value":"#,
        ValueType::Int64Array => br#"{"value":{"int64ArrayValue":"#,
        ValueType::String => br#"{"value":{"stringValue":"#,
        ValueType::StringArray => br#"{"value":{"stringArrayValue":"#,
        ValueType::Bytes => br#"{"value":{"bytesValue":"#,
    }
}

/// What a write keeps from one value it renders ([`Stored::new`]) to the next: the last
/// generate time and its closing, `,"metadata":{"generateTime":"T"}}}` (closing the
/// value and its `{"value": …}`), shared by the values generated then, and the buffer a
/// value's data is rendered in before it is copied at its length.
#[derive(Debug, Default)]
pub struct Times {
    last: Option<(DateTime<Utc>, Arc<[u8]>)>,
    buf: Vec<u8>,
}

/// Before the time.
const METADATA: &[u8] = br#","metadata":{"generateTime":""#;
/// After the time.
const CLOSING: &[u8] = br#""}}}"#;

impl Times {
    /// The closing of a value generated at `t`: the last one when `t` is the last time.
    fn closing(&mut self, t: DateTime<Utc>) -> Arc<[u8]> {
        match &self.last {
            Some((at, closing)) if *at == t => closing.clone(),
            _ => {
                let mut text = [0; 80];
                let len = put_closing(&mut text, t);
                let closing: Arc<[u8]> = Arc::from(&text[..len]);
                self.last = Some((t, closing.clone()));
                closing
            }
        }
    }
}

/// Write `,"metadata":{"generateTime":"T"}}}` into `out` and give its length, with T as
/// [`rfc3339`] renders it (seconds, then 0, 3, 6 or 9 fraction digits as needed, `Z`),
/// written digit by digit (chrono's formatter goes through `fmt::Write` a character at
/// a time). Years outside 0..=9999 and leap seconds, which chrono writes its own way, go
/// through [`rfc3339`] itself (at most 33 bytes, chrono's years end at 262 143).
fn put_closing(out: &mut [u8; 80], t: DateTime<Utc>) -> usize {
    use chrono::Timelike;
    let naive = t.naive_utc();
    let nano = naive.nanosecond();
    let digits = if nano == 0 {
        0
    } else if nano % 1_000_000 == 0 {
        3
    } else if nano % 1_000 == 0 {
        6
    } else {
        9
    };
    // 29 digits and `Z`, or chrono's text: at most 33 bytes.
    let mut time = [0; 40];
    let len = if put_iso_time(&mut time, &naive, b'.', digits) {
        let len = if digits == 0 { 19 } else { 20 + digits };
        time[len] = b'Z';
        len + 1
    } else {
        let text = rfc3339(t);
        time[..text.len()].copy_from_slice(text.as_bytes());
        text.len()
    };
    let pieces: [&[u8]; 3] = [METADATA, &time[..len], CLOSING];
    let mut at = 0;
    for piece in pieces {
        out[at..at + piece.len()].copy_from_slice(piece);
        at += piece.len();
    }
    at
}

/// One value of a [`Row`]: its feature and kind, where its data ends in the row's text,
/// and where its closing starts among the closings that follow the data (under 1 MB:
/// at most one per value, under 80 bytes each, and a row holds at most one value per
/// feature of its entity type, 10 000 features at most) and its length.
#[derive(Debug)]
struct Entry {
    feature: Arc<str>,
    end: usize,
    closing_at: u32,
    closing_len: u8,
    kind: ValueType,
}

/// The bytes [`Row::put_all`] copies at once between two values' data: the first's
/// closing (under 80 bytes), a comma and the second's opening (under 30).
const JOINT: usize = 112;
/// A value's data up to this long is copied by [`Row::put_all`] as this many bytes.
const SHORT: usize = 16;

/// `text[start..end]`, a value's data, into `out`: as [`SHORT`] bytes, the excess cut
/// off, when it is that short (and the text goes on so far, as it does before the
/// closings).
#[inline(always)]
fn put_data(out: &mut Vec<u8>, text: &[u8], start: usize, end: usize) {
    let len = end - start;
    match text.get(start..start + SHORT) {
        Some(chunk) if len <= SHORT => {
            let chunk: &[u8; SHORT] = chunk.try_into().expect("SHORT bytes");
            out.extend_from_slice(chunk);
            out.truncate(out.len() - (SHORT - len));
        }
        _ => out.extend_from_slice(&text[start..end]),
    }
}

/// What [`Row::join`] takes for one value: feature, kind, data, closing.
type Part<'a> = (Arc<str>, ValueType, &'a [u8], &'a [u8]);

/// One entity's values ([`Stored`]), in the order their features were first written:
/// `text` holds their data one after another, then their closings, each once (the
/// values of a row were mostly written at one moment: one closing), and `values` each
/// one's feature, kind and where its data and closing are. Not the dress around them
/// (`{"value":{"<field>":` and the metadata's key), which a read writes from static
/// pieces ([`put_value`]). A write of any of an entity's features builds its row anew
/// (copying the values kept and the new ones): O(row), bounded by the features of the
/// entity type (10 000 at most) and the values' sizes.
///
/// Each row built carries a stamp ([`Row::stamp`]) no other row of the store ever had,
/// so a read answer kept with the stamps of the rows it read ([`super::read_memo`]) is
/// answered again only while each of those rows is the very one it was rendered from.
/// The values sit in a boxed slice (built at their count, as the vector was), so the
/// stamp leaves the row's size, and with it what a row weighs and which entities the
/// byte budget forgets, as they were.
#[derive(Debug, Default)]
pub struct Row {
    values: Box<[Entry]>,
    text: Box<[u8]>,
    /// Given from [`Rows`]' count of stamps when the row was built; 0 for none.
    stamp: u64,
}

#[cfg(test)]
thread_local! {
    /// Rows this thread's reads wrote whole ([`Row::put_all`]), for a test to see the
    /// path taken.
    pub static WHOLE_ROWS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl Row {
    /// The values given, their closings kept once each (looked for among the last few
    /// kept, so a row of many times costs no more than a closing per value).
    fn join(parts: &[Part<'_>]) -> Self {
        let data_len = parts.iter().map(|(_, _, d, _)| d.len()).sum::<usize>();
        let mut closings: Vec<u8> = Vec::new();
        let mut kept: Vec<(usize, usize)> = Vec::new();
        let mut values = Vec::with_capacity(parts.len());
        let mut end = 0;
        for (feature, kind, data, closing) in parts {
            end += data.len();
            let found = kept
                .iter()
                .rev()
                .take(8)
                .find(|(at, len)| &closings[*at..*at + *len] == *closing);
            let (at, len) = match found {
                Some(&c) => c,
                None => {
                    let c = (closings.len(), closing.len());
                    closings.extend_from_slice(closing);
                    kept.push(c);
                    c
                }
            };
            values.push(Entry {
                feature: feature.clone(),
                end,
                closing_at: u32::try_from(at).expect("a row's closings are under 1 MB"),
                closing_len: u8::try_from(len).expect("a closing is under 80 bytes"),
                kind: *kind,
            });
        }
        let mut text = Vec::with_capacity(data_len + closings.len());
        for (_, _, data, _) in parts {
            text.extend_from_slice(data);
        }
        text.extend_from_slice(&closings);
        Self {
            values: values.into_boxed_slice(),
            text: text.into_boxed_slice(),
            stamp: 0,
        }
    }

    /// What tells this row from every other the store built, before or after (a row
    /// rebuilt with the same values too): never 0, which stands for no row.
    pub fn stamp(&self) -> u64 {
        self.stamp
    }

    /// The `i`th value's data.
    fn data(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.values[i - 1].end };
        &self.text[start..self.values[i].end]
    }

    /// The `i`th value's closing.
    fn closing(&self, i: usize) -> &[u8] {
        let v = &self.values[i];
        let at = self.values.last().map_or(0, |v| v.end) + v.closing_at as usize;
        &self.text[at..at + usize::from(v.closing_len)]
    }

    /// The values as [`Row::join`] takes them.
    fn parts(&self) -> Vec<Part<'_>> {
        (0..self.values.len())
            .map(|i| {
                let v = &self.values[i];
                (v.feature.clone(), v.kind, self.data(i), self.closing(i))
            })
            .collect()
    }

    /// Where `feature`'s value is, looked for at `at` first (rows mostly hold the
    /// features in the order they are read in, as the same shared ids: found at the
    /// same place, by address), then everywhere.
    pub fn find(&self, at: usize, feature: &Arc<str>) -> Option<usize> {
        let same = |v: &Entry| Arc::ptr_eq(&v.feature, feature) || *v.feature == **feature;
        match self.values.get(at) {
            Some(v) if same(v) => Some(at),
            _ => self.values.iter().position(same),
        }
    }

    /// Write the `i`th value as a read's data holds it ([`put_value`]).
    pub fn put(&self, out: &mut Vec<u8>, i: usize) {
        put_value(out, self.values[i].kind, self.data(i), self.closing(i));
    }

    /// Whether the row holds exactly `features`, in that order (a client writing every
    /// feature at once and reading `*`): [`Row::put_all`] then writes what a read of them
    /// holds.
    pub fn holds_exactly<F: std::borrow::Borrow<Arc<str>>>(&self, features: &[F]) -> bool {
        self.values.len() == features.len()
            && self.values.iter().zip(features).all(|(v, f)| {
                let f = f.borrow();
                Arc::ptr_eq(&v.feature, f) || *v.feature == **f
            })
    }

    /// Every value, in order, a comma between two, without looking any feature up: the
    /// same bytes as [`Row::put`] for each. Between two values' data comes the first's
    /// closing, a comma and the second's opening, put together once for as long as they
    /// repeat (the values of a row mostly share one closing and one kind): two copies a
    /// value, each of a fixed size where it can be ([`JOINT`] bytes of the joint, [`SHORT`]
    /// of a short value's data) and the excess cut off right after: a copy of a fixed
    /// size is a few moves, one of a length known only here a call costing more than the
    /// copy.
    pub fn put_all(&self, out: &mut Vec<u8>) {
        #[cfg(test)]
        WHOLE_ROWS.with(|n| n.set(n.get() + 1));
        let (Some(first), Some(last)) = (self.values.first(), self.values.last()) else {
            return;
        };
        let closings = last.end;
        let text = &self.text[..];
        out.reserve(closings + (self.values.len() + 1) * JOINT);
        out.extend_from_slice(opening(first.kind));
        let alike = |v: &Entry| v.closing_at == first.closing_at && v.kind == first.kind;
        if self.values.iter().all(alike) {
            self.put_alike(out);
            return;
        }
        let mut joint = [0; JOINT];
        let mut joint_len = 0;
        let mut made = None;
        let mut start = 0;
        for (i, v) in self.values.iter().enumerate() {
            put_data(out, text, start, v.end);
            start = v.end;
            let closing_at = closings + v.closing_at as usize;
            let closing = &text[closing_at..closing_at + usize::from(v.closing_len)];
            let Some(next) = self.values.get(i + 1) else {
                out.extend_from_slice(closing);
                break;
            };
            if made != Some((v.closing_at, next.kind)) {
                let open = opening(next.kind);
                joint_len = closing.len() + 1 + open.len();
                joint[..closing.len()].copy_from_slice(closing);
                joint[closing.len()] = b',';
                joint[closing.len() + 1..joint_len].copy_from_slice(open);
                made = Some((v.closing_at, next.kind));
            }
            out.extend_from_slice(&joint);
            out.truncate(out.len() - (JOINT - joint_len));
        }
    }

    /// [`Row::put_all`] after the first opening for the usual row, its values of one kind
    /// and one closing (written at once): one joint between every two, made once, and no
    /// check for another.
    fn put_alike(&self, out: &mut Vec<u8>) {
        let (first, last) = (&self.values[0], &self.values[self.values.len() - 1]);
        let text = &self.text[..];
        let closing_at = last.end + first.closing_at as usize;
        let closing = &text[closing_at..closing_at + usize::from(first.closing_len)];
        let open = opening(first.kind);
        let joint_len = closing.len() + 1 + open.len();
        let mut joint = [0; JOINT];
        joint[..closing.len()].copy_from_slice(closing);
        joint[closing.len()] = b',';
        joint[closing.len() + 1..joint_len].copy_from_slice(open);
        let mut start = 0;
        for v in &self.values[..self.values.len() - 1] {
            put_data(out, text, start, v.end);
            start = v.end;
            out.extend_from_slice(&joint);
            out.truncate(out.len() - (JOINT - joint_len));
        }
        put_data(out, text, start, last.end);
        out.extend_from_slice(closing);
    }

    /// `feature`'s value read back as JSON ([`read_back`]), if written.
    fn to_json(&self, feature: &str) -> Option<Value> {
        let i = self.values.iter().position(|v| &*v.feature == feature)?;
        Some(read_back(
            self.values[i].kind,
            self.data(i),
            self.closing(i),
        ))
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// What a row costs: its map slot (with the table's slack), its order entry, its id
/// and its values.
fn row_bytes(id: &str, row: &Row) -> usize {
    let slot = std::mem::size_of::<(Arc<str>, Row)>();
    slot + slot / 2
        + std::mem::size_of::<(Arc<str>, Arc<str>)>()
        + heap(id.len() + 16)
        + heap(row.values.len() * std::mem::size_of::<Entry>())
        + heap(row.text.len())
}

/// What a shared feature id costs: its slot in the table (with the table's slack, as
/// [`row_bytes`] counts a row's) and its `Arc` (two counts and the text).
fn id_bytes(feature: &str) -> usize {
    let slot = std::mem::size_of::<Arc<str>>();
    slot + slot / 2 + heap(feature.len() + 16)
}

#[derive(Debug)]
pub struct Rows {
    /// Entity type → entity id → values. Looked up by `&str` without allocating.
    rows: FastMap<Arc<str>, FastMap<Arc<str>, Row>>,
    /// Oldest written first; may hold entities already removed (skipped when popped).
    order: VecDeque<(Arc<str>, Arc<str>)>,
    /// Feature ids, shared by the rows that hold them.
    ids: HashSet<Arc<str>, FastHash>,
    /// What `ids` holds, in bytes ([`id_bytes`] each): counted in the store's
    /// published total, not in the rows' budget, so which entities are forgotten
    /// depends on the values written alone, as it always did.
    ids_bytes: usize,
    count: usize,
    bytes: usize,
    max_bytes: usize,
    /// The last stamp given to a row ([`Row::stamp`]), also moved on by every row
    /// forgotten, so it changes with every change of any row ([`Rows::version`]); only
    /// ever grows (a `u64` does not wrap in the life of a store).
    stamps: u64,
}

impl Rows {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            rows: FastMap::default(),
            order: VecDeque::new(),
            ids: HashSet::default(),
            ids_bytes: 0,
            count: 0,
            bytes: 0,
            max_bytes,
            stamps: 0,
        }
    }

    /// Entities with values.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.count
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The stored value of `feature` for `entity`, if any, as JSON
    /// ([`read_back`]).
    pub fn get(&self, entity_type: &str, entity: &str, feature: &str) -> Option<Value> {
        self.rows.get(entity_type)?.get(entity)?.to_json(feature)
    }

    /// The rows of `entity_type`'s entities, for looking up several (the type's name
    /// hashed once).
    pub fn of_type(&self, entity_type: &str) -> Option<&FastMap<Arc<str>, Row>> {
        self.rows.get(entity_type)
    }

    /// Whether `entity` has a row (values of any feature).
    #[cfg(test)]
    pub fn has_row(&self, entity_type: &str, entity: &str) -> bool {
        self.rows
            .get(entity_type)
            .is_some_and(|m| m.contains_key(entity))
    }

    /// The shared feature ids' bytes ([`id_bytes`] each), apart from [`Rows::bytes`]
    /// (see the field).
    pub fn ids_bytes(&self) -> usize {
        self.ids_bytes
    }

    /// The copy of `feature` rows share, made now if there is none.
    pub fn shared_id(&mut self, feature: &str) -> Arc<str> {
        if let Some(id) = self.ids.get(feature) {
            return id.clone();
        }
        if self.ids.len() >= MAX_SHARED_IDS {
            self.ids = HashSet::default();
            self.ids_bytes = 0;
        }
        let id: Arc<str> = Arc::from(feature);
        self.ids_bytes += id_bytes(feature);
        self.ids.insert(id.clone());
        id
    }

    /// What changes whenever any row is built or forgotten (and never comes back): while
    /// it stands, every row's [`Row::stamp`] does.
    pub fn version(&self) -> u64 {
        self.stamps
    }

    /// Write `values` (feature id, value) for `entity`, replacing each feature's
    /// previous value; then forget the entities first written longest ago past the count
    /// or the byte budget (never this one).
    pub fn write(&mut self, entity_type: &str, entity: &str, values: Vec<(String, Stored)>) {
        let values: Vec<(Arc<str>, Stored)> = values
            .into_iter()
            .map(|(f, v)| (self.shared_id(&f), v))
            .collect();
        let et: Arc<str> = match self.rows.get_key_value(entity_type) {
            Some((k, _)) => k.clone(),
            None => Arc::from(entity_type),
        };
        let map = self.rows.entry(et.clone()).or_default();
        let (id, row) = match map.remove_entry(entity) {
            Some((id, row)) => {
                self.bytes -= row_bytes(&id, &row);
                (id, row)
            }
            None => {
                let id: Arc<str> = Arc::from(entity);
                self.order.push_back((et.clone(), id.clone()));
                self.count += 1;
                (id, Row::default())
            }
        };
        let mut parts = row.parts();
        for (f, v) in &values {
            let part = (f.clone(), v.kind, &v.data[..], &v.closing[..]);
            match parts.iter_mut().find(|(g, _, _, _)| g == f) {
                Some(slot) => *slot = part,
                None => parts.push(part),
            }
        }
        let mut row = Row::join(&parts);
        self.stamps += 1;
        row.stamp = self.stamps;
        self.bytes += row_bytes(&id, &row);
        map.insert(id.clone(), row);
        self.evict(&et, &id);
    }

    /// Forget the entities first written longest ago while over the bounds, never `keep`.
    fn evict(&mut self, keep_et: &Arc<str>, keep: &Arc<str>) {
        while (self.count > MAX_ROWS || self.bytes > self.max_bytes) && self.count > 1 {
            let Some((et, id)) = self.order.pop_front() else {
                break;
            };
            if &et == keep_et && &id == keep {
                // Written just now: it moves to the newest end.
                self.order.push_back((et, id));
                continue;
            }
            self.forget(&et, &id);
        }
        if self.order.len() > 2 * self.count + 16 {
            let rows = &self.rows;
            self.order
                .retain(|(et, id)| rows.get(et).is_some_and(|m| m.contains_key(id)));
        }
    }

    fn forget(&mut self, entity_type: &str, entity: &str) {
        let Some(map) = self.rows.get_mut(entity_type) else {
            return;
        };
        if let Some((id, row)) = map.remove_entry(entity) {
            self.bytes -= row_bytes(&id, &row);
            self.count -= 1;
            self.stamps += 1;
        }
        if map.is_empty() {
            self.rows.remove(entity_type);
        }
    }

    /// Forget every value of `feature` of `entity_type` (the feature was deleted).
    pub fn remove_feature(&mut self, entity_type: &str, feature: &str) {
        let Some(map) = self.rows.get_mut(entity_type) else {
            return;
        };
        for (id, row) in map.iter_mut() {
            if row.values.iter().any(|v| &*v.feature == feature) {
                self.bytes -= row_bytes(id, row);
                let mut parts = row.parts();
                parts.retain(|(f, _, _, _)| &**f != feature);
                *row = Row::join(&parts);
                self.stamps += 1;
                row.stamp = self.stamps;
                self.bytes += row_bytes(id, row);
            }
        }
    }

    /// Forget the values of every entity type `gone` says is gone (deleted with its
    /// parent).
    pub fn remove_types(&mut self, gone: impl Fn(&str) -> bool) {
        let types: Vec<Arc<str>> = self.rows.keys().filter(|k| gone(k)).cloned().collect();
        for et in types {
            if let Some(map) = self.rows.remove(&et) {
                for (id, row) in &map {
                    self.bytes -= row_bytes(id, row);
                    self.count -= 1;
                }
                self.stamps += 1;
            }
        }
        let rows = &self.rows;
        self.order
            .retain(|(et, id)| rows.get(et).is_some_and(|m| m.contains_key(id)));
    }

    #[cfg(test)]
    pub fn all_empty(&self) -> bool {
        self.rows.values().all(|m| m.values().all(Row::is_empty))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vendors::featurestore::values::parse;
    use serde_json::Map;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_768_471_200, 0).unwrap()
    }

    /// A row's stamp leaves its size as it was before rows had one (a vector of entries
    /// and a boxed text: 40 bytes), so a row weighs what it did ([`row_bytes`]) and the
    /// byte budget forgets the same entities after the same writes.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_row_is_the_size_it_was_before_stamps() {
        assert_eq!(std::mem::size_of::<Row>(), 40);
        assert_eq!(
            std::mem::size_of::<Row>(),
            std::mem::size_of::<(Vec<Entry>, Box<[u8]>)>()
        );
    }

    #[test]
    fn empty_strings_in_an_array_count_toward_the_value_cap() {
        let p = parse(
            "tags",
            &json!({"stringArrayValue": {"values": vec![""; 1000]}}),
        )
        .unwrap();
        let (_, data_bytes) = Stored::new(&p, t0(), &mut Times::default()).unwrap();
        assert_eq!(data_bytes, 16_000);
    }

    #[test]
    fn compact_values_render_the_canonical_json_they_were_written_as() {
        for input in [
            json!({"stringValue": "0000"}),
            json!({"int64Value": "-7"}),
            json!({"doubleValue": 1.5}),
            json!({"doubleValue": 2.0}),
            json!({"boolValue": true}),
            json!({"bytesValue": "aGk="}),
            json!({"stringArrayValue": {"values": ["a", "b"]}}),
            json!({"int64ArrayValue": {"values": [1, "2"]}}),
            json!({"doubleArrayValue": {"values": [0.1, 3]}}),
            json!({"boolArrayValue": {"values": []}}),
        ] {
            let p = parse("f", &input).unwrap();
            let (stored, _) = Stored::new(&p, t0(), &mut Times::default()).unwrap();
            let mut want = p.value.clone();
            want["metadata"] = json!({"generateTime": rfc3339(t0())});
            assert_eq!(
                serde_json::to_string(&stored.to_json()).unwrap(),
                serde_json::to_string(&want).unwrap(),
                "{input}"
            );
        }
    }

    /// The bytes written straight are `{"value": to_json}` serialized, for every value kind and
    /// edge case (escapes, non-ASCII, empty arrays, extreme and non-finite numbers) and
    /// generate times with 0, 3, 6 and 9 fraction digits, out-of-range years and leap
    /// seconds, one after another through the same [`Times`] (kept or not).
    #[test]
    fn values_written_straight_are_their_json_serialized() {
        let texts = [
            "",
            "0000",
            "a\"b\\c/d",
            "\u{0}\u{1}\u{1f}\u{7f}\n\r\t\u{8}\u{c}",
            "é€𝄞 ✓",
            "\u{2028}\u{2029}</script>",
        ];
        let doubles = [
            0.0,
            -0.0,
            1.0,
            -2.5,
            0.1,
            1e-300,
            f64::MIN_POSITIVE,
            5e-324,
            1.7976931348623157e308,
            -1e21,
            1e21,
            123456789012345680.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let ints = [0, 1, -1, i64::MAX, i64::MIN, 1_000_000_007];
        let mut data = vec![
            Compact::Bool(true),
            Compact::Bool(false),
            Compact::BoolArray(vec![]),
            Compact::BoolArray(vec![true, false, true]),
            Compact::DoubleArray(vec![]),
            Compact::DoubleArray(doubles.to_vec()),
            Compact::Int64Array(vec![]),
            Compact::Int64Array(ints.to_vec()),
            Compact::TextArray(vec![]),
            Compact::TextArray(texts.to_vec()),
        ];
        data.extend(doubles.iter().map(|d| Compact::Double(*d)));
        data.extend(ints.iter().map(|i| Compact::Int64(*i)));
        data.extend(texts.iter().map(|t| Compact::text(t)));
        let kinds = [
            ValueType::Bool,
            ValueType::BoolArray,
            ValueType::Double,
            ValueType::DoubleArray,
            ValueType::Int64,
            ValueType::Int64Array,
            ValueType::String,
            ValueType::StringArray,
            ValueType::Bytes,
        ];
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        let times = [
            t0(),
            t0(),
            at("2026-01-14T09:00:00.5+02:00"),
            at("2026-01-14T09:00:00.5+02:00"),
            at("2026-01-14T07:00:00.120Z"),
            at("2026-01-14T07:00:00.000120Z"),
            at("2026-01-14T07:00:00.123456Z"),
            at("2026-01-14T07:00:00.000000001Z"),
            at("2026-01-14T07:00:00.999999999Z"),
            at("1970-01-01T00:00:00Z"),
            at("0000-01-01T00:00:00Z"),
            at("9999-12-31T23:59:59.999Z"),
            DateTime::from_timestamp(253_402_300_800, 0).unwrap(), // 10000-01-01
            DateTime::from_timestamp(-62_167_219_201, 5_000).unwrap(), // -0001-12-31
            DateTime::<Utc>::MAX_UTC, // chrono's last, nine digits: its longest text
            DateTime::<Utc>::MIN_UTC,
            leap,
            leap,
            t0(),
        ];
        let mut kept = Times::default();
        let mut n = 0;
        let mut read_back = 0;
        for (i, d) in data.iter().enumerate() {
            for (j, kind) in kinds.iter().enumerate() {
                let generate_time = times[(i * kinds.len() + j) % times.len()];
                // From scratch: the JSON tree a value was once kept as, serialized.
                let mut tree = Map::new();
                tree.insert(kind.field().to_string(), d.to_json());
                tree.insert(
                    "metadata".into(),
                    json!({"generateTime": rfc3339(generate_time)}),
                );
                let tree = Value::Object(tree);
                let want = serde_json::to_vec(&json!({ "value": tree })).unwrap();
                let stored = Stored::render(*kind, d, generate_time, &mut kept);
                assert_eq!(
                    String::from_utf8(stored.fragment()).unwrap(),
                    String::from_utf8(want.clone()).unwrap()
                );
                let fresh = Stored::render(*kind, d, generate_time, &mut Times::default());
                assert_eq!(fresh.fragment(), want);
                // Read back (for the JSON answers), a value of its own kind is the
                // tree it was rendered from, to the last bit of every double.
                if serves(*kind, d) {
                    let back = stored.to_json();
                    assert_eq!(back, tree, "{kind:?} {d:?}");
                    assert_eq!(
                        serde_json::to_vec(&back).unwrap(),
                        serde_json::to_vec(&tree).unwrap()
                    );
                    if let (Compact::Double(a), Some(b)) = (d, back[kind.field()].as_f64()) {
                        assert_eq!(a.to_bits(), b.to_bits(), "{a}");
                    }
                    read_back += 1;
                }
                n += 1;
            }
        }
        // Every datum read back as the kinds its variant serves (texts twice).
        assert_eq!(read_back, data.len() + texts.len());
        assert_eq!(n, data.len() * kinds.len());
        assert!(rfc3339(leap).contains(":60.5"), "{}", rfc3339(leap));
    }

    /// Whether `d` is the datum of a value of `kind`.
    fn serves(kind: ValueType, d: &Compact) -> bool {
        matches!(
            (kind, d),
            (ValueType::Bool, Compact::Bool(_))
                | (ValueType::Double, Compact::Double(_))
                | (ValueType::Int64, Compact::Int64(_))
                | (
                    ValueType::String | ValueType::Bytes,
                    Compact::Text(_) | Compact::Plain(_)
                )
                | (ValueType::BoolArray, Compact::BoolArray(_))
                | (ValueType::DoubleArray, Compact::DoubleArray(_))
                | (ValueType::Int64Array, Compact::Int64Array(_))
                | (ValueType::StringArray, Compact::TextArray(_))
        )
    }

    #[test]
    fn each_kind_opens_with_its_field() {
        for kind in [
            ValueType::Bool,
            ValueType::BoolArray,
            ValueType::Double,
            ValueType::DoubleArray,
            ValueType::Int64,
            ValueType::Int64Array,
            ValueType::String,
            ValueType::StringArray,
            ValueType::Bytes,
        ] {
            let want = format!("{{\"value\":{{\"{}\":", kind.field());
            assert_eq!(opening(kind), want.as_bytes());
        }
    }

    fn value(text: &str) -> Stored {
        let p = parse("f", &json!({ "stringValue": text })).unwrap();
        Stored::new(&p, t0(), &mut Times::default()).unwrap().0
    }

    #[test]
    fn the_entities_written_least_recently_go_past_the_byte_budget() {
        let one = {
            let mut r = Rows::new(usize::MAX);
            r.write("et", "e0", vec![("f".into(), value(&"x".repeat(1000)))]);
            r.bytes()
        };
        let mut r = Rows::new(3 * one);
        for i in 0..6 {
            r.write(
                "et",
                &format!("e{i}"),
                vec![("f".into(), value(&"x".repeat(1000)))],
            );
            assert!(r.bytes() <= 3 * one, "{} > {}", r.bytes(), 3 * one);
        }
        assert_eq!(r.len(), 3);
        assert!(r.get("et", "e2", "f").is_none());
        assert!(r.get("et", "e3", "f").is_some() && r.get("et", "e5", "f").is_some());
        // Rewriting an entity keeps it; a value larger than the budget stays alone.
        r.write("et", "e3", vec![("f".into(), value(&"y".repeat(10 * one)))]);
        assert_eq!(r.len(), 1);
        assert!(r.has_row("et", "e3"));
        r.remove_types(|et| et == "et");
        assert_eq!((r.len(), r.bytes()), (0, 0));
    }

    /// A row of one kind and one closing (written at once, the usual row) is written whole
    /// as its values one by one: every kind, data around [`SHORT`] bytes long, one value
    /// or many, and a row of mixed kinds or closings beside it.
    #[test]
    fn a_row_of_one_kind_and_closing_is_written_whole_as_each_value_is() {
        let kinds = [
            |i: usize| json!({ "stringValue": "x".repeat(i) }),
            |i: usize| json!({ "int64Value": (i as i64 * 7919).to_string() }),
            |i: usize| json!({ "boolValue": i % 2 == 0 }),
            |i: usize| json!({ "doubleValue": i as f64 / 3.0 }),
            |i: usize| json!({ "stringArrayValue": { "values": vec!["ab"; i % 5] } }),
        ];
        let later = t0() + chrono::TimeDelta::nanoseconds(123_456_789);
        for (k, kind) in kinds.iter().enumerate() {
            for n in [1, 2, 11, 40] {
                for mixed in [false, true] {
                    let mut times = Times::default();
                    let values: Vec<(String, Stored)> = (0..n)
                        .map(|i| {
                            let json = match (mixed, i % 3) {
                                (true, 1) => kinds[(k + 1) % kinds.len()](i),
                                _ => kind(i),
                            };
                            let at = if mixed && i % 3 == 2 { later } else { t0() };
                            let p = parse("f", &json).unwrap();
                            (format!("f{i}"), Stored::new(&p, at, &mut times).unwrap().0)
                        })
                        .collect();
                    let want: Vec<Vec<u8>> = values.iter().map(|(_, v)| v.fragment()).collect();
                    let mut r = Rows::new(usize::MAX);
                    r.write("et", "e", values);
                    let mut out = b"[".to_vec();
                    r.of_type("et").unwrap()["e"].put_all(&mut out);
                    assert_eq!(
                        String::from_utf8(out).unwrap(),
                        format!("[{}", String::from_utf8(want.join(&b","[..])).unwrap()),
                        "kind {k}, {n} values, mixed {mixed}"
                    );
                }
            }
        }
    }

    /// A row keeps its values in the order first written, each closing once: a read of
    /// exactly those features in that order writes them whole, as each is alone, after an
    /// overwrite (at another generate time) and after a feature is removed; any other
    /// read takes them one by one.
    #[test]
    fn a_row_holds_its_values_in_the_order_written() {
        let mut r = Rows::new(usize::MAX);
        let (f, g, h) = (r.shared_id("f"), r.shared_id("g"), r.shared_id("h"));
        let each = |r: &Rows, ids: &[&Arc<str>]| -> Vec<Vec<u8>> {
            let row = &r.of_type("et").unwrap()["e"];
            ids.iter()
                .enumerate()
                .map(|(i, id)| {
                    let mut out = Vec::new();
                    row.put(&mut out, row.find(i, id).unwrap());
                    out
                })
                .collect()
        };
        let whole = |r: &Rows| {
            let mut out = Vec::new();
            r.of_type("et").unwrap()["e"].put_all(&mut out);
            out
        };
        r.write(
            "et",
            "e",
            vec![("f".into(), value("1")), ("g".into(), value("2"))],
        );
        let later = |text: &str| {
            let p = parse("f", &json!({ "stringValue": text })).unwrap();
            let at = t0() + chrono::TimeDelta::milliseconds(1500);
            Stored::new(&p, at, &mut Times::default()).unwrap().0
        };
        r.write(
            "et",
            "e",
            vec![("h".into(), value("3")), ("f".into(), later("4"))],
        );
        let want = [later("4"), value("2"), value("3")].map(|v| v.fragment());
        assert_eq!(each(&r, &[&f, &g, &h]), want);
        let row = &r.of_type("et").unwrap()["e"];
        assert!(row.holds_exactly(&[&f, &g, &h]));
        assert_eq!(whole(&r), want.join(&b","[..]));
        // Two closings, each once: the data, then the closings.
        let closing = |v: &Stored| v.closing.to_vec();
        assert_eq!(
            row.text[..],
            [
                &b"\"4\"\"2\"\"3\""[..],
                &closing(&later("4")),
                &closing(&value("3"))
            ]
            .concat()
        );
        // By text too: a table of shared ids started afresh gives other copies.
        let other: Arc<str> = Arc::from("g");
        assert!(row.holds_exactly(&[&f, &other, &h]));
        assert!(!row.holds_exactly(&[&f, &h, &g]));
        assert!(!row.holds_exactly(&[&f, &g]));
        assert_eq!(row.find(0, &h), Some(2));
        r.remove_feature("et", "g");
        let row = &r.of_type("et").unwrap()["e"];
        assert!(row.holds_exactly(&[&f, &h]));
        assert_eq!(whole(&r), [&want[0][..], &want[2][..]].join(&b","[..]));
        assert_eq!(row.find(1, &g), None);
        assert_eq!(r.get("et", "e", "h"), Some(value("3").to_json()));
        assert_eq!(r.get("et", "e", "f"), Some(later("4").to_json()));
    }

    /// The shared ids weigh what the table holds: each id once, however many rows and
    /// reads share it, and only the new table's once it starts afresh.
    #[test]
    fn shared_ids_are_counted_once_and_dropped_with_their_table() {
        let mut r = Rows::new(usize::MAX);
        r.write(
            "et",
            "e0",
            vec![("f".into(), value("x")), ("g".into(), value("y"))],
        );
        let two = id_bytes("f") + id_bytes("g");
        assert_eq!(r.ids_bytes(), two);
        r.write("et", "e0", vec![("f".into(), value("z"))]);
        r.write("et2", "e1", vec![("g".into(), value("z"))]);
        r.shared_id("f");
        assert_eq!(r.ids_bytes(), two, "known ids cost nothing more");
        r.shared_id("read-only");
        assert_eq!(r.ids_bytes(), two + id_bytes("read-only"));
        for n in r.ids.len()..MAX_SHARED_IDS {
            r.shared_id(&format!("h{n}"));
        }
        assert_eq!(r.ids.len(), MAX_SHARED_IDS);
        r.shared_id("new");
        assert_eq!(r.ids_bytes(), id_bytes("new"), "the table started afresh");
        assert!(r.get("et", "e0", "f").is_some(), "rows keep their ids");
    }
}
