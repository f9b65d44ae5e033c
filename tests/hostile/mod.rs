//! Hostile requests, shared by the property tests (`tests/fuzzing.rs`) and the libFuzzer
//! targets (`fuzz/`, which include this folder by path): each vendor's documented
//! requests ([`targets`]), ways to break them ([`Mutation`], applied by [`Case::build`]),
//! an in-process server to send them to ([`Harness`]), and what every answer must look
//! like ([`oracle`]).
//!
//! Nothing here opens a socket: [`Harness::send`] serves one connection of the real
//! pipeline (`vendor_mock::server::serve_stream`) over an in-memory pipe and talks to it
//! with hyper's client, in the calling task, so a panic anywhere in the server surfaces
//! as a panic of the caller (a failing, shrinking proptest case; a libFuzzer crash).
//!
//! This folder must not depend on the test binary's `support` module or on proptest:
//! the fuzz crate compiles it too.

#![allow(dead_code)]

pub mod oracle;
pub mod scenario_files;
pub mod targets;

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, Method, Request, Uri};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use vendor_mock::{App, Config};

pub use targets::Target;

/// The frozen instant and seed of the in-process server (as the integration tests').
pub const FROZEN: &str = "2026-01-15T10:00:00Z";
pub const SEED: u64 = 42;

/// A request as sent: raw enough to carry what a careless or hostile client sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub method: Vec<u8>,
    /// Path and query, exactly as on the request line (already percent-encoded).
    pub target: String,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub body: Vec<u8>,
}

/// What came back.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The deepest answer [`Answer::json`] reads: far past any echo of a request the mock
/// read (128 levels at most, a few more in the answer), within a test thread's 2 MiB stack
/// in a debug build (1024 levels overflowed it).
pub const ANSWER_DEPTH_MAX: usize = 256;

/// How deep `[` and `{` nest in `body`, outside strings.
fn nesting(body: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for &b in body {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON, at any depth: an answer that echoes what it was sent (Credeau's
    /// 422 `input`) nests a request's value a few levels deeper than the request, which
    /// the mock read within serde_json's default limit of 128 levels.
    /// Deeper than [`ANSWER_DEPTH_MAX`] is read as not JSON (a failed check, where the
    /// unbounded reader's recursion would overflow the thread's stack).
    pub fn json(&self) -> Option<Value> {
        if nesting(&self.body) > ANSWER_DEPTH_MAX {
            return None;
        }
        let mut de = serde_json::Deserializer::from_slice(&self.body);
        de.disable_recursion_limit();
        let mut values = de.into_iter::<Value>();
        let value = values.next()?.ok()?;
        values.next().is_none().then_some(value)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One server (the shipped scenarios, [`SEED`], clock frozen at [`FROZEN`]) answering
/// in-process.
pub struct Harness {
    pub app: App,
    peer: SocketAddr,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    pub fn new() -> Self {
        let config = Config {
            seed: SEED,
            frozen_clock: Some(
                chrono::DateTime::parse_from_rfc3339(FROZEN)
                    .expect("FROZEN is RFC 3339")
                    .to_utc(),
            ),
            ..Config::default()
        };
        let app = App::new(config).expect("the shipped scenarios compile");
        Self {
            app,
            peer: ([127, 0, 0, 1], 40000).into(),
        }
    }

    /// Forget everything the earlier cases did (state, tokens, rate-limit windows,
    /// sandboxes), so each case starts from the same server.
    pub fn reset(&self) {
        self.app.reset();
    }

    /// Send `req` over a fresh in-memory connection. `Err` when the request cannot be
    /// written as HTTP/1.1 (the caller made it so; hyper's client refuses it), or when the
    /// server closed the connection without an answer.
    pub async fn send(&self, req: &Exchange) -> Result<Answer, SendError> {
        let request = build(req).ok_or(SendError::Unsendable)?;
        let (client_io, server_io) = tokio::io::duplex(256 * 1024);
        let server =
            vendor_mock::server::serve_stream(server_io, self.peer, None, self.app.clone());
        let client = async move {
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(client_io))
                    .await
                    .map_err(|e| SendError::NoAnswer(e.to_string()))?;
            let ask = async move {
                let resp = sender
                    .send_request(request)
                    .await
                    .map_err(|e| SendError::NoAnswer(e.to_string()))?;
                let (parts, body) = resp.into_parts();
                let body = body
                    .collect()
                    .await
                    .map_err(|e| SendError::NoAnswer(e.to_string()))?
                    .to_bytes();
                Ok(Answer {
                    status: parts.status.as_u16(),
                    headers: parts.headers,
                    body,
                })
                // `sender` is dropped here: the client closes, and so does the server.
            };
            let (_, answer) = tokio::join!(conn, ask);
            answer
        };
        let (_, answer) = tokio::join!(server, client);
        answer
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    Unsendable,
    NoAnswer(String),
}

fn build(req: &Exchange) -> Option<Request<Full<Bytes>>> {
    let method = Method::from_bytes(&req.method).ok()?;
    let uri: Uri = req.target.parse().ok()?;
    uri.path_and_query()?;
    let mut builder = Request::builder().method(method).uri(uri);
    let headers = builder.headers_mut()?;
    for (name, value) in &req.headers {
        let name = HeaderName::from_bytes(name).ok()?;
        let value = HeaderValue::from_bytes(value).ok()?;
        headers.append(name, value);
    }
    builder.body(Full::new(Bytes::from(req.body.clone()))).ok()
}

/// Percent-encode every byte outside RFC 3986's unreserved set and `/`.
pub fn encode_path(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for &b in raw {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encode every byte outside the unreserved set (for query keys and values).
pub fn encode_component(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for &b in raw {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A JSON text a careless or hostile client might put where a value belongs: each a
/// different type, a boundary number, or something `serde_json` refuses or bends.
pub const ODD_VALUES: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1.5",
    "-0",
    "6.0",
    "1e400",
    "-1e400",
    "18446744073709551616",
    "-9223372036854775809",
    "123456789012345678901234567890123456789",
    "9007199254740993",
    "4294967296",
    "1e-400",
    "\"\"",
    "\" \"",
    "\"0\"",
    "\"-1\"",
    "\"1e400\"",
    "\"true\"",
    "\"null\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"\\udfff\\ud800\"",
    "\"\\u202e\\u0301\"",
    "\"\u{1F600}\"",
    "\"%00%ff\"",
    "\"../../etc/passwd\"",
    "\"\\r\\nx-injected: 1\"",
    "[]",
    "[null]",
    "[\"sms\",\"sms\",\"sms\"]",
    "{}",
    "{\"\":null}",
    "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]",
];

/// Methods a request may be sent with instead.
pub const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "post", "M-SEARCH",
];

/// What a path may have inserted (in request-line form).
pub const PATH_INSERTS: &[&str] = &[
    "/..", "/../..", "//", "/.", "%2e%2e/", "%2F", "%00", "%ff", "%", "%zz", ";x", ":", "%3A", "~",
    "/~", "/~x/", "%7E", "/v2", "/v6.0", "/V1",
];

/// What a very long path segment is made of.
pub const LONG_SEGMENT_CHARS: &[char] = &['a', '.', '%', '\u{e9}', '/'];

/// Sandbox names that break the rule.
pub const ODD_SANDBOXES: &[&str] = &["", ".", "..", "a b", "\u{e9}", "x/y"];

/// Query strings as careless clients write them.
pub const QUERY_BITS: &[&str] = &[
    "%",
    "%zz",
    "&&",
    "=",
    "a=1&a=2",
    "count=-1",
    "count=99999999999999999999",
    "offset=1e3",
    "cents=maybe",
    "pageSize=-5",
    "filter=((",
    "filter=labels.a%3D",
    "orderBy=%20desc",
    "source=webhook",
];

/// Content types a body may be sent with instead.
pub const CONTENT_TYPES: &[&str] = &[
    "text/plain",
    "application/json; charset=latin1",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "",
    "application/problem+json",
    "APPLICATION/JSON",
];

/// `x-vendor-mock-scenario` values: shipped names, `default`, unknown ones.
pub const SCENARIO_PICKS: &[&str] = &["flaky", "pending", "slow", "nope", "default", ""];

/// One way to break a documented request.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation {
    /// Another method (any token: `GET`, `PATCH`, `M-SEARCH`, …).
    Method(String),
    /// Send the request inside sandbox `/~NAME` (a valid or invalid name).
    Sandbox(String),
    Path(PathEdit),
    /// Append `raw` to the query (already in request-line form: may hold `%zz`, `&&`,
    /// repeated keys).
    Query(String),
    /// Append `key=value`, both percent-encoded from arbitrary bytes.
    QueryPair(Vec<u8>, Vec<u8>),
    /// Drop the query string.
    NoQuery,
    Header(HeaderEdit),
    Body(BodyEdit),
}

#[derive(Debug, Clone, PartialEq)]
pub enum PathEdit {
    /// Flip the letter case of the character at this position (modulo the length).
    FlipCase(usize),
    /// Insert this (request-line form, e.g. `/..`, `//`, `%2e%2e`, `%00`) at a position.
    Insert(usize, String),
    /// Percent-encode the character at this position (`a` → `%61`).
    Encode(usize),
    /// Cut the path at this position.
    Truncate(usize),
    /// Insert a segment of `n` copies of `c` at a position.
    LongSegment(usize, char, usize),
    /// Replace a segment (by index) with these bytes, percent-encoded.
    Segment(usize, Vec<u8>),
    TrailingSlash,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HeaderEdit {
    /// Remove every header of this name (the template's own names, by index).
    Drop(usize),
    /// Send the template header at this index twice, the second with this value.
    Duplicate(usize, Vec<u8>),
    /// Replace the value of the template header at this index.
    Set(usize, Vec<u8>),
    /// Add any header.
    Add(Vec<u8>, Vec<u8>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum BodyEdit {
    /// Replace the body by these bytes (invalid UTF-8 included).
    Raw(Vec<u8>),
    /// Replace the body by this JSON text.
    Json(String),
    /// Put this JSON text at the field with this index (in the template body's
    /// depth-first order of object members, modulo their count).
    SetField(usize, String),
    /// Remove the field with this index.
    RemoveField(usize),
    /// Add a member to the top-level object (JSON text value).
    AddField(String, String),
    /// Wrap the field with this index in `depth` arrays (`[[[…]]]`).
    Nest(usize, usize),
    /// Change the byte at this position (modulo the length) to this one.
    FlipByte(usize, u8),
    /// Insert bytes at a position.
    InsertBytes(usize, Vec<u8>),
    /// Cut the body at a position.
    Truncate(usize),
    /// Send the body as this content type instead.
    ContentType(String),
}

/// One hostile request: a vendor's documented request, then the mutations in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Which of the target's templates (modulo their count).
    pub template: usize,
    pub mutations: Vec<Mutation>,
}

/// Values a template refers to as `{name}`: tokens and ids a setup call handed out.
pub type Vars = Vec<(&'static str, String)>;

fn fill(text: &str, vars: &Vars) -> String {
    let mut out = text.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// Member paths of a JSON value, depth first (objects only; arrays' elements by index).
fn field_paths(v: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                prefix.push(PathStep::Key(k.clone()));
                out.push(prefix.clone());
                field_paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                prefix.push(PathStep::Index(i));
                out.push(prefix.clone());
                field_paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn at_path<'v>(v: &'v mut Value, path: &[PathStep]) -> Option<&'v mut Value> {
    let mut cur = v;
    for step in path {
        cur = match (step, cur) {
            (PathStep::Key(k), Value::Object(m)) => m.get_mut(k)?,
            (PathStep::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// A marker no template contains: replaced by raw JSON text after serializing.
const MARK: &str = "\u{1}raw-json-here\u{1}";

impl Case {
    /// The request this case sends to `target`, with `vars` filled into the template.
    pub fn build(&self, target: &Target, vars: &Vars) -> Exchange {
        let t = &target.templates[self.template % target.templates.len()];
        let mut method = t.method.as_bytes().to_vec();
        let full = fill(&format!("/{}{}", target.vendor, t.path), vars);
        let (path, query) = match full.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (full, None),
        };
        let mut path: Vec<u8> = path.into_bytes();
        let mut query = query;
        let mut sandbox: Option<String> = None;
        let mut headers: Vec<(Vec<u8>, Vec<u8>)> = t
            .headers
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), fill(v, vars).into_bytes()))
            .collect();
        let template_names: Vec<Vec<u8>> = headers.iter().map(|(k, _)| k.clone()).collect();
        // JSON bodies stay a value while field edits apply; raw text for the marker.
        let mut json: Option<Value> = t
            .json
            .as_ref()
            .map(|j| serde_json::from_str(&fill(j, vars)).expect("template bodies are JSON"));
        let mut raw_field: Option<String> = None;
        let mut body: Option<Vec<u8>> = t.raw.map(|r| fill(r, vars).into_bytes());

        // Renders the JSON value (with any raw field) into bytes, ending JSON edits.
        let flush = |json: &mut Option<Value>,
                     raw: &mut Option<String>,
                     body: &mut Option<Vec<u8>>| {
            if let Some(v) = json.take() {
                let text = serde_json::to_string(&v).expect("a Value serializes");
                let text = match raw.take() {
                    Some(r) => {
                        text.replacen(&format!("\"{}\"", MARK.replace('\u{1}', "\\u0001")), &r, 1)
                    }
                    None => text,
                };
                *body = Some(text.into_bytes());
            }
        };

        for m in &self.mutations {
            match m {
                Mutation::Method(m) => method = m.as_bytes().to_vec(),
                Mutation::Sandbox(name) => sandbox = Some(name.clone()),
                Mutation::Path(edit) => edit_path(&mut path, edit),
                Mutation::Query(raw) => {
                    let q = query.get_or_insert_with(String::new);
                    if !q.is_empty() && !raw.starts_with('&') {
                        q.push('&');
                    }
                    q.push_str(raw);
                }
                Mutation::QueryPair(k, v) => {
                    let q = query.get_or_insert_with(String::new);
                    if !q.is_empty() {
                        q.push('&');
                    }
                    q.push_str(&encode_component(k));
                    q.push('=');
                    q.push_str(&encode_component(v));
                }
                Mutation::NoQuery => query = None,
                Mutation::Header(edit) => edit_headers(&mut headers, &template_names, edit),
                Mutation::Body(edit) => match edit {
                    BodyEdit::SetField(i, _) | BodyEdit::Nest(i, _)
                        if json.is_some() && raw_field.is_none() =>
                    {
                        let v = json.as_mut().expect("checked");
                        let mut paths = Vec::new();
                        field_paths(v, &mut Vec::new(), &mut paths);
                        if paths.is_empty() {
                            continue;
                        }
                        let path = &paths[i % paths.len()];
                        let slot = at_path(v, path).expect("a path just listed");
                        let replacement = match edit {
                            BodyEdit::Nest(_, depth) => {
                                let inner = serde_json::to_string(slot).expect("serializes");
                                let d = (*depth).min(100_000);
                                format!("{}{inner}{}", "[".repeat(d), "]".repeat(d))
                            }
                            BodyEdit::SetField(_, text) => text.clone(),
                            _ => unreachable!("matched above"),
                        };
                        *slot = Value::String(MARK.to_string());
                        raw_field = Some(replacement);
                    }
                    BodyEdit::RemoveField(i) if json.is_some() => {
                        let v = json.as_mut().expect("checked");
                        let mut paths = Vec::new();
                        field_paths(v, &mut Vec::new(), &mut paths);
                        if let Some(path) = paths.get(i % paths.len().max(1)).cloned() {
                            let (last, parent) = path.split_last().expect("paths are not empty");
                            match (at_path(v, parent), last) {
                                (Some(Value::Object(m)), PathStep::Key(k)) => {
                                    m.shift_remove(k);
                                }
                                (Some(Value::Array(a)), PathStep::Index(i)) => {
                                    a.remove(*i);
                                }
                                _ => {}
                            }
                        }
                    }
                    BodyEdit::AddField(k, text) if json.is_some() && raw_field.is_none() => {
                        if let Some(Value::Object(m)) = json.as_mut() {
                            m.insert(k.clone(), Value::String(MARK.to_string()));
                            raw_field = Some(text.clone());
                        }
                    }
                    BodyEdit::ContentType(ct) => {
                        headers.retain(|(k, _)| !k.eq_ignore_ascii_case(b"content-type"));
                        headers.push((b"content-type".to_vec(), ct.as_bytes().to_vec()));
                    }
                    other => {
                        flush(&mut json, &mut raw_field, &mut body);
                        let b = body.get_or_insert_with(Vec::new);
                        match other {
                            BodyEdit::Raw(bytes) => *b = bytes.clone(),
                            BodyEdit::Json(text) => *b = text.as_bytes().to_vec(),
                            BodyEdit::FlipByte(at, byte) if !b.is_empty() => {
                                let n = b.len();
                                b[at % n] = *byte;
                            }
                            BodyEdit::InsertBytes(at, bytes) => {
                                let at = at % (b.len() + 1);
                                b.splice(at..at, bytes.iter().copied());
                            }
                            BodyEdit::Truncate(at) => {
                                let at = at % (b.len() + 1);
                                b.truncate(at);
                            }
                            _ => {}
                        }
                    }
                },
            }
        }
        flush(&mut json, &mut raw_field, &mut body);

        let mut target_line = String::new();
        if let Some(name) = &sandbox {
            target_line.push_str("/~");
            target_line.push_str(&encode_component(name.as_bytes()));
        }
        let path_text = String::from_utf8_lossy(&path).into_owned();
        if !path_text.starts_with('/') {
            target_line.push('/');
        }
        target_line.push_str(&path_text);
        if let Some(q) = query {
            target_line.push('?');
            target_line.push_str(&q);
        }
        Exchange {
            method,
            target: target_line,
            headers,
            body: body.unwrap_or_default(),
        }
    }
}

fn edit_path(path: &mut Vec<u8>, edit: &PathEdit) {
    let n = path.len().max(1);
    match edit {
        PathEdit::FlipCase(at) => {
            if let Some(b) = path.get_mut(at % n) {
                if b.is_ascii_lowercase() {
                    b.make_ascii_uppercase()
                } else {
                    b.make_ascii_lowercase()
                }
            }
        }
        PathEdit::Insert(at, text) => {
            let at = at % (path.len() + 1);
            path.splice(at..at, text.bytes());
        }
        PathEdit::Encode(at) => {
            let at = at % n;
            if let Some(&b) = path.get(at) {
                let enc = format!("%{b:02X}");
                path.splice(at..at + 1, enc.bytes());
            }
        }
        PathEdit::Truncate(at) => path.truncate(at % (path.len() + 1)),
        PathEdit::LongSegment(at, c, len) => {
            let at = at % (path.len() + 1);
            let mut seg = vec![b'/'];
            let enc = encode_path(c.to_string().as_bytes());
            for _ in 0..(*len).min(40_000) {
                seg.extend_from_slice(enc.as_bytes());
            }
            path.splice(at..at, seg);
        }
        PathEdit::Segment(i, bytes) => {
            let text = String::from_utf8_lossy(path).into_owned();
            let mut segs: Vec<String> = text.split('/').map(str::to_string).collect();
            if segs.len() > 1 {
                let i = 1 + i % (segs.len() - 1);
                segs[i] = encode_component(bytes);
            }
            *path = segs.join("/").into_bytes();
        }
        PathEdit::TrailingSlash => path.push(b'/'),
    }
}

fn edit_headers(headers: &mut Vec<(Vec<u8>, Vec<u8>)>, names: &[Vec<u8>], edit: &HeaderEdit) {
    let name = |i: &usize| names.get(i % names.len().max(1)).cloned();
    match edit {
        HeaderEdit::Drop(i) => {
            if let Some(n) = name(i) {
                headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&n));
            }
        }
        HeaderEdit::Duplicate(i, v) => {
            if let Some(n) = name(i) {
                headers.push((n, v.clone()));
            }
        }
        HeaderEdit::Set(i, v) => {
            if let Some(n) = name(i) {
                headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&n));
                headers.push((n, v.clone()));
            }
        }
        HeaderEdit::Add(k, v) => headers.push((k.clone(), v.clone())),
    }
}
