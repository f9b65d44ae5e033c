//! The request pipeline: find the instance (the root, or the sandbox a leading `/~NAME`
//! names), route, read the body under the cap, let the vendor answer, mark the answer as
//! the mock's, journal it and count it for coverage, log it, then delay or drop as told.

use std::cell::{Cell, RefCell};
use std::future::{ready, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::future::Either;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONNECTION, DATE};
use hyper::http::request::Parts;
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use serde_json::json;

use super::request::{read_body, BodyError, MockRequest, BROKEN_BODY};
use super::response::{keep_headers, Body, MockResponse, OutBody};
use super::tracked::Tracked;
use crate::app::App;
use crate::journal::Record;
use crate::sandbox;
use crate::scenario::Pick;
use crate::vendors::{Ctx, Scenarios};

/// Header naming the scenario that answered (or `default`); on a request, it picks the
/// scenario for that call's entity.
pub const SCENARIO_HEADER: HeaderName = HeaderName::from_static("x-vendor-mock-scenario");
/// The [`SCENARIO_HEADER`] of an answer no scenario made (a constant: checked once, when
/// compiled, not per answer).
const DEFAULT_SCENARIO: HeaderValue = HeaderValue::from_static("default");
/// Header explaining why an answer deviates from the vendor's.
pub const WARNING_HEADER: HeaderName = HeaderName::from_static("x-vendor-mock-warning");

/// Returned to hyper to close a connection without answering (the `reset` fault).
#[derive(Debug, thiserror::Error)]
#[error("connection closed without an answer, as the scenario asked")]
pub struct Dropped;

/// Answer `req`; `conn` is told when its body has been read (see `server::tracked`).
/// `root` is the connection's own handle on the server: cloning it per request touches
/// only that connection's count, where cloning the [`App`] would bump a count every
/// runtime worker writes on every request (a cache line bounced between cores).
///
/// Called by hyper as soon as it has parsed the request's head, before it reads the
/// socket again. A request without a body (nearly every `GET`) that a vendor answers is
/// answered right here, and its head let go: hyper's next read then finds its read
/// buffer no longer shared with the head and reuses it in place, where a head still held
/// by a pending future made it allocate a new buffer (and the head's last drop free the
/// old one) on every request. What needs to wait (a body, the admin API, a delay) is the
/// future returned.
///
/// hyper keeps the returned future inline in its dispatcher and moves it into place for
/// every request, so only what the body's read needs is held across an `.await`: the
/// request head and where it goes. The answer is made by a plain function after the read
/// ([`answer`]); the admin API and delayed answers (rare) are boxed futures of their own.
pub fn call(
    root: &Arc<App>,
    req: Request<Incoming>,
    peer: SocketAddr,
    fixed: Option<&'static str>,
    conn: &Arc<Tracked>,
) -> impl Future<Output = Result<Response<OutBody>, Dropped>> + Send + 'static {
    // Read only when the log line will be written.
    let started =
        tracing::enabled!(target: "vendor_mock::request", tracing::Level::INFO).then(Instant::now);
    let (parts, body) = req.into_parts();
    let boxed: Boxed = match route(root, parts.uri.path(), fixed) {
        Route::Answered(resp) => return Either::Left(ready(counted(Ok(resp), conn.clone()))),
        // No frame will come: the body is read, as `read_body` reads an empty one.
        Route::Vendor(target) if hyper::body::Body::is_end_stream(&body) => {
            let done = answer(root, &target, parts, Ok(Bytes::new()), peer, started, conn);
            match done.delay {
                None => return Either::Left(ready(counted(done.result, conn.clone()))),
                Some(delay) => Box::pin(delayed(delay, done)),
            }
        }
        Route::Vendor(target) => {
            let later = handle(
                root.clone(),
                target,
                parts,
                body,
                peer,
                started,
                conn.clone(),
            );
            return Either::Right(Either::Left(later));
        }
        Route::Admin(sandbox, local_at) => {
            Box::pin(admin(root.clone(), sandbox, local_at, parts, body, peer))
        }
    };
    Either::Right(Either::Right(Counted {
        boxed,
        conn: Some(conn.clone()),
    }))
}

/// A boxed answer still to come (the admin API's, or a delayed one).
type Boxed = Pin<Box<dyn Future<Output = Result<Response<OutBody>, Dropped>> + Send>>;

/// A boxed answer, [`counted`] when it comes.
struct Counted {
    boxed: Boxed,
    /// Taken when the answer comes.
    conn: Option<Arc<Tracked>>,
}

impl Future for Counted {
    type Output = Result<Response<OutBody>, Dropped>;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let result = std::task::ready!(self.boxed.as_mut().poll(cx));
        let conn = self
            .conn
            .take()
            .expect("a future is not polled once it has answered");
        std::task::Poll::Ready(counted(result, conn))
    }
}

/// Read the body of a request to a vendor, then answer it.
///
/// An `async` block, not an `async fn`: an `async fn` keeps its arguments twice in its
/// future (as they were passed, and as the locals its body moves them into: rustc
/// issue 62958), where the block keeps what it captures once. hyper moves this future
/// once per request: 872 bytes as an `async fn`, in a release build.
#[allow(clippy::manual_async_fn)] // on purpose, as said above
fn handle(
    root: Arc<App>,
    target: Target,
    parts: Parts,
    body: Incoming,
    peer: SocketAddr,
    started: Option<Instant>,
    conn: Arc<Tracked>,
) -> impl Future<Output = Result<Response<OutBody>, Dropped>> + Send + 'static {
    async move {
        let cap = target.app(&root).config.max_body_bytes;
        let body = read_body(&parts.headers, body, cap).await;
        let done = answer(&root, &target, parts, body, peer, started, &conn);
        match done.delay {
            None => counted(done.result, conn),
            Some(delay) => counted(Box::pin(delayed(delay, done)).await, conn),
        }
    }
}

/// The answer, its body set to tell the connection when it is done, with
/// `Connection: close` once shutdown has begun (read when the answer leaves: after its
/// delay). Done here rather than by a `map` around the pipeline's future, which moved
/// the answer once more per request and cloned `conn` once more.
fn counted(
    answer: Result<Response<OutBody>, Dropped>,
    conn: Arc<Tracked>,
) -> Result<Response<OutBody>, Dropped> {
    match answer {
        Ok(mut resp) => {
            // Paths that answer without reading the body (admin calls read theirs
            // inside) are being answered from here.
            conn.body_received();
            if conn.shutting_down() {
                resp.headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            resp.body_mut().report_done_to(conn);
            Ok(resp)
        }
        Err(dropped) => {
            conn.request_finished();
            Err(dropped)
        }
    }
}

/// Where a request goes, found from its path before its body is read.
enum Route {
    /// Answered from the path alone (a bad sandbox name, no such vendor).
    Answered(Response<OutBody>),
    /// The admin API of the root (`None`) or of a sandbox; the path inside the instance
    /// starts at the `usize`.
    Admin(Option<App>, usize),
    Vendor(Target),
}

/// The vendor a request goes to, and in which instance.
struct Target {
    /// The sandbox the path names, `None` for the root.
    sandbox: Option<App>,
    /// Where the path inside the instance starts.
    local_at: usize,
    /// The vendor's place in the registry.
    index: usize,
    /// Where the path below the vendor's prefix starts (without its leading `/`), as
    /// routing found it.
    rest_at: usize,
    /// Served at the root of a `--vendor-listen` port: the vendor sees the whole path.
    whole: bool,
}

impl Target {
    fn app<'a>(&'a self, root: &'a App) -> &'a App {
        self.sandbox.as_ref().unwrap_or(root)
    }
}

/// The path inside the instance: `/~NAME` alone is the sandbox's `/`.
fn local_path(full_path: &str, local_at: usize) -> &str {
    match &full_path[local_at..] {
        "" => "/",
        p => p,
    }
}

/// Find the instance (`/~NAME/…` is the rest of the path, answered by sandbox NAME) and
/// the vendor, or the admin API, for `full_path`.
fn route(root: &App, full_path: &str, fixed: Option<&'static str>) -> Route {
    let (sandbox, local_at) = match sandbox::split_name(full_path) {
        None => (None, 0),
        // A live sandbox's name was checked when the sandbox was made: only a name not
        // found is checked (and the sandbox made).
        Some((name, at)) => match root.live_sandbox(name) {
            Some(app) => (Some(app), at),
            None => match sandbox::check_name(name) {
                Err(rule) => return Route::Answered(bad_sandbox_name(root, rule)),
                Ok(()) => match root.sandbox(name) {
                    Some(app) => (Some(app), at),
                    None => unreachable!("the server's root holds the sandboxes"),
                },
            },
        },
    };
    let app = sandbox.as_ref().unwrap_or(root);
    let local = local_path(full_path, local_at);
    if fixed.is_none() && (local == "/__admin" || local.starts_with("/__admin/")) {
        return Route::Admin(sandbox, local_at);
    }
    let (index, rest_at) = match fixed {
        Some(v) => (app.vendor_index(v), full_path.len()),
        None => {
            let (segment, rest_at) = vendor_and_rest(full_path, local);
            (app.vendor_index(segment), rest_at)
        }
    };
    match index {
        Some(index) => Route::Vendor(Target {
            sandbox,
            local_at,
            index,
            rest_at,
            whole: fixed.is_some(),
        }),
        None => Route::Answered(no_vendor(app, full_path)),
    }
}

/// The first segment of `local` (the vendor's name) and what follows it (the path below
/// the vendor's prefix, without its leading `/`).
/// By byte scans (`/` is ASCII: a char boundary): a `char` pattern's searcher cost more
/// than the rest of the routing.
fn vendor_segment(local: &str) -> (&str, &str) {
    let start = local.bytes().position(|b| b != b'/').unwrap_or(local.len());
    let rest = &local[start..];
    match rest.bytes().position(|b| b == b'/') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, ""),
    }
}

/// The vendor's name in `local` (the path inside the instance, a tail of `full_path` or
/// `/` when that is empty) and where in `full_path` the path below its prefix starts:
/// `&full_path[at..]` is [`vendor_segment`]'s second part, found once, when routing.
fn vendor_and_rest<'a>(full_path: &str, local: &'a str) -> (&'a str, usize) {
    let (segment, rest) = vendor_segment(local);
    // `rest` ends where `local` does, and so where `full_path` does (or it is empty).
    (segment, full_path.len() - rest.len())
}

/// Text buffers longer than this are freed after their request, not kept for the next.
const SPARE_TEXT_MAX: usize = 1024;

thread_local! {
    /// The buffers of this thread's last request's `full_path`, `path` and `query`, taken
    /// by its next request: three allocations and frees fewer per request. Short ones
    /// only ([`SPARE_TEXT_MAX`]), three per thread.
    static SPARE_TEXT: Cell<[String; 3]> =
        const { Cell::new([String::new(), String::new(), String::new()]) };
}

/// Three empty buffers, those of the thread's last request if it left them.
fn text_buffers() -> [String; 3] {
    crate::spare::take(&SPARE_TEXT)
}

/// Keep `buffers` (emptied) for the thread's next request; any grown past
/// [`SPARE_TEXT_MAX`] is freed.
fn keep_text_buffers(buffers: [String; 3]) {
    crate::spare::keep(&SPARE_TEXT, buffers, SPARE_TEXT_MAX);
}

/// The request's first `x-vendor-mock-scenario` value, as `HeaderMap::get` finds it: by a
/// walk over a request's handful of headers (standard names compare as tags), which
/// costs less than hashing the name; a map of many headers is looked up by hash.
fn scenario_header(headers: &HeaderMap) -> Option<&HeaderValue> {
    if headers.len() > 16 {
        return headers.get(SCENARIO_HEADER);
    }
    headers
        .iter()
        .find(|(n, _)| **n == SCENARIO_HEADER)
        .map(|(_, v)| v)
}

#[cold]
fn bad_sandbox_name(root: &App, rule: String) -> Response<OutBody> {
    let resp = MockResponse::json(StatusCode::BAD_REQUEST, json!({ "error": rule }))
        .with_header(SCENARIO_HEADER, "default");
    finish(resp, root.clock.now())
}

#[cold]
fn no_vendor(app: &App, full_path: &str) -> Response<OutBody> {
    let names: Vec<String> = app
        .registry()
        .iter()
        .map(|v| format!("/{}", v.name()))
        .collect();
    let resp = MockResponse::json(StatusCode::NOT_FOUND, json!({"error": format!("no vendor is served at {full_path}; vendors are under {}; the admin API is under /__admin", names.join(", "))}))
        .with_header(SCENARIO_HEADER, "default");
    finish(resp, app.clock.now())
}

/// The admin API of the instance (`sandbox`, or the root).
async fn admin(
    root: Arc<App>,
    sandbox: Option<App>,
    local_at: usize,
    parts: Parts,
    body: Incoming,
    peer: SocketAddr,
) -> Result<Response<OutBody>, Dropped> {
    let app = sandbox.as_ref().unwrap_or(&root);
    let full_path = parts.uri.path().to_string();
    let local = local_path(&full_path, local_at);
    let mut resp = crate::admin::handle(app, local, parts, body, peer).await;
    if let Some(w) = app.take_warning() {
        resp.set_header(WARNING_HEADER, w.as_str());
    }
    app.account(&root);
    Ok(finish(resp, app.clock.now()))
}

/// An answer made, to be sent (or the connection dropped) once its delay is over.
struct Done {
    result: Result<Response<OutBody>, Dropped>,
    delay: Option<Duration>,
    /// The log line, written when the answer leaves: `None` when it is not logged.
    log: Option<LogLine>,
}

/// What the request log line says of an answer that is delayed.
struct LogLine {
    started: Instant,
    method: Method,
    full_path: String,
    vendor: &'static str,
    scenario: Option<Arc<str>>,
    status: Option<u16>,
}

impl LogLine {
    fn write(&self) {
        write_log(
            &self.method,
            &self.full_path,
            self.vendor,
            self.scenario.as_ref(),
            self.status,
            self.started,
        );
    }
}

fn write_log(
    method: &Method,
    full_path: &str,
    vendor: &str,
    scenario: Option<&Arc<str>>,
    status: Option<u16>,
    started: Instant,
) {
    tracing::info!(
        target: "vendor_mock::request",
        "{} {} vendor={vendor} scenario={} status={} latency_ms={:.1}",
        method,
        full_path,
        scenario.map_or("default", |s| &**s),
        status.map_or_else(|| "reset".to_string(), |s| s.to_string()),
        started.elapsed().as_secs_f64() * 1000.0
    );
}

/// Wait out the answer's delay, then log it and let it go.
async fn delayed(delay: Duration, done: Done) -> Result<Response<OutBody>, Dropped> {
    tokio::time::sleep(delay).await;
    if let Some(line) = &done.log {
        line.write();
    }
    done.result
}

/// The vendor's answer to a request whose body has been read (or refused): mark it as
/// the mock's, journal it, count it for coverage and log it (unless it is delayed: then
/// the log line waits for the delay).
fn answer(
    root: &App,
    target: &Target,
    parts: Parts,
    body: Result<Bytes, BodyError>,
    peer: SocketAddr,
    started: Option<Instant>,
    conn: &Tracked,
) -> Done {
    let app = target.app(root);
    let index = target.index;
    let vendor = app.vendor_at(index);
    let name = app.vendor_name(index);
    let set = app.scenario_set(index);
    let full_path = parts.uri.path();
    let body = match body {
        Ok(b) => Ok(b),
        Err(BodyError::TooLarge) => Err(vendor.payload_too_large(app, app.config.max_body_bytes)),
        Err(BodyError::Broken(why)) => return broken_body(app, &parts, name, &why, started),
    };
    // The whole request is in: from here it is being answered (see `server::tracked`).
    conn.body_received();
    let local = local_path(full_path, target.local_at);
    // On a `--vendor-listen` port the vendor sees the whole path; else the path below its
    // prefix.
    let [mut full, mut path, mut query_buf] = text_buffers();
    full.push_str(full_path);
    if target.whole {
        path.push_str(local);
    } else {
        path.push('/');
        path.push_str(&full_path[target.rest_at..]);
    }
    let query = parts.uri.query().map(|q| {
        let mut buf = std::mem::take(&mut query_buf);
        buf.push_str(q);
        buf
    });
    // Inside a sandbox the journal shows paths as the sandbox sees them; the vendor gets
    // the full path, so the links it hands out keep the `/~NAME` segment.
    let req = MockRequest {
        method: parts.method,
        full_path: full,
        path,
        query,
        headers: parts.headers,
        body: body.clone().unwrap_or_default(),
        peer,
    };

    let pick = match scenario_header(&req.headers) {
        None => Ok(Pick::Unset),
        Some(v) => set
            .pick(name, &String::from_utf8_lossy(v.as_bytes()))
            .map_err(|unknown| {
                MockResponse::json(
                    StatusCode::BAD_REQUEST,
                    unknown.body("x-vendor-mock-scenario: "),
                )
            }),
    };
    let scenarios = Scenarios::new(
        set,
        name,
        &app.state,
        *pick.as_ref().unwrap_or(&Pick::Unset),
    );
    let mut ctx = Ctx::new(app, name, vendor.outcomes(), scenarios);
    let (mut resp, answered_by_vendor) = match (body, pick) {
        (_, Err(refused)) => (refused, false),
        (Ok(_), Ok(_)) => (vendor.handle(&mut ctx, &req), true),
        (Err(too_large), Ok(_)) => (too_large, true),
    };

    match &ctx.scenario {
        None => resp.set_header(SCENARIO_HEADER, DEFAULT_SCENARIO),
        Some(s) => resp.set_header(SCENARIO_HEADER, &*s.name),
    }
    // A sandbox made again after the memory budget dropped it says so first.
    let warning = match (app.take_warning(), ctx.warning.take()) {
        (Some(dropped), Some(w)) => Some(format!("{dropped}; {w}")),
        (dropped, w) => dropped.or(w),
    };
    if let Some(w) = &warning {
        resp.set_header(WARNING_HEADER, w.as_str());
    }

    let status = (!resp.reset).then_some(resp.status.as_u16());
    let scenario = ctx.scenario.as_ref().map(|s| &s.name);
    if answered_by_vendor {
        if let Some(s) = status {
            app.coverage.status(index, s);
        }
        if let Some(o) = resp.outcome {
            app.coverage.outcome(index, o);
        }
        if let Some(i) = ctx.scenario.as_ref().and_then(|s| {
            set.scenarios
                .iter()
                .position(|c| std::sync::Arc::ptr_eq(c, s))
        }) {
            app.coverage.scenario(index, i);
        }
    }
    resp.serialize_body();
    let (response, filled): (Option<&[Bytes]>, _) = match (&resp.body, resp.reset) {
        (_, true) => (None, None),
        // Borrowed, not cloned: cloning a `Bytes` made from a `Vec` allocates.
        (Body::Bytes(b), _) => (Some(std::slice::from_ref(b)), None),
        (Body::Parts(p), _) => (Some(&p[..]), None),
        (Body::Filled(f), _) => (Some(std::slice::from_ref(&f.bytes)), Some(f)),
        _ => (Some(&[][..]), None),
    };
    app.journal.record(&Record {
        time: ctx.now,
        direction: "inbound",
        vendor: Some(name),
        method: &req.method,
        path: local_path(&req.full_path, target.local_at),
        query: req.query.as_deref(),
        client: Some(req.peer.ip()),
        headers: &req.headers,
        body: &req.body,
        entity: ctx.entity.as_deref(),
        scenario,
        step: ctx.step,
        status,
        note: ctx.note.as_deref(),
        response,
        filled,
    });
    // What this request added (or evicted) counts into the server's total; past the
    // server-wide budget, least recently used sandboxes are dropped (never this one).
    app.account(root);

    let delay = resp.delay;
    let log = started.and_then(|started| {
        if delay.is_none() {
            write_log(&req.method, &req.full_path, name, scenario, status, started);
            return None;
        }
        Some(LogLine {
            started,
            method: req.method.clone(),
            full_path: req.full_path.clone(),
            vendor: name,
            scenario: scenario.cloned(),
            status,
        })
    });
    let result = if resp.reset {
        Err(Dropped)
    } else {
        Ok(finish(resp, ctx.now))
    };
    let MockRequest {
        full_path,
        path,
        query,
        headers,
        ..
    } = req;
    keep_text_buffers([full_path, path, query.unwrap_or(query_buf)]);
    keep_headers(headers);
    Done { result, delay, log }
}

/// The 400 for a body whose framing is broken.
#[cold]
fn broken_body(app: &App, parts: &Parts, name: &str, why: &str, started: Option<Instant>) -> Done {
    let resp = MockResponse::protocol_error(StatusCode::BAD_REQUEST, BROKEN_BODY)
        .with_header(SCENARIO_HEADER, "default");
    if let Some(started) = started {
        tracing::info!(
            target: "vendor_mock::request",
            "{} {} vendor={name} scenario=default status=400 latency_ms={:.1} ({why})",
            parts.method,
            parts.uri.path(),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    Done {
        result: Ok(finish(resp, app.clock.now())),
        delay: None,
        log: None,
    }
}

/// The hyper response, with the `Date` header read from the mock clock at `now` (unless
/// a raw scenario step wrote its own).
fn finish(mut resp: MockResponse, now: DateTime<Utc>) -> Response<OutBody> {
    // An answer's handful of headers is walked (a standard name compares as a tag) rather
    // than looked up by hash, and the date appended when none was found: what
    // `entry(DATE).or_insert_with(..)` does, with one hash-table walk instead of two.
    let dated = if resp.headers.len() > 16 {
        resp.headers.contains_key(DATE)
    } else {
        resp.headers.keys().any(|n| *n == DATE)
    };
    if !dated {
        resp.headers.append(DATE, http_date(now));
    }
    resp.into_hyper()
}

thread_local! {
    /// The last `Date` value this thread formatted, by second: answers within one
    /// second (or on a frozen clock) reuse it instead of formatting again.
    static LAST_DATE: RefCell<Option<(i64, HeaderValue)>> = const { RefCell::new(None) };
}

/// `now` as an HTTP date (RFC 9110 IMF-fixdate): `Thu, 15 Jan 2026 10:00:00 GMT`.
pub fn http_date(now: DateTime<Utc>) -> HeaderValue {
    let secs = now.timestamp();
    LAST_DATE.with_borrow_mut(|last| {
        if let Some((s, v)) = last {
            if *s == secs {
                return v.clone();
            }
        }
        let text = now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let v = HeaderValue::from_maybe_shared(Bytes::from(text))
            .expect("a formatted date is valid header text");
        *last = Some((secs, v.clone()));
        v
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_are_imf_fixdate_and_follow_the_given_instant() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        assert_eq!(
            http_date(t("2026-01-15T10:00:00Z")),
            "Thu, 15 Jan 2026 10:00:00 GMT"
        );
        assert_eq!(
            http_date(t("2026-01-15T10:00:00.900Z")),
            "Thu, 15 Jan 2026 10:00:00 GMT"
        );
        assert_eq!(
            http_date(t("2026-02-01T09:05:07Z")),
            "Sun, 01 Feb 2026 09:05:07 GMT"
        );
    }

    #[test]
    fn the_vendor_segment_is_what_the_char_searches_found() {
        fn old(local: &str) -> (&str, &str) {
            let rest = local.trim_start_matches('/');
            rest.split_once('/').map_or((rest, ""), |(a, b)| (a, b))
        }
        for local in [
            "/",
            "",
            "//",
            "/finbox",
            "/finbox/",
            "/finbox/v2/risk/predictors",
            "//finbox//v2/",
            "///",
            "/é/ü/ß",
            "/%7E/x",
            "/credeau/api/insights?x=/",
            "no-slash",
        ] {
            assert_eq!(vendor_segment(local), old(local), "{local:?}");
        }
    }

    #[test]
    fn the_path_below_the_vendor_found_when_routing_is_the_one_the_segment_split_gives() {
        for full in [
            "/",
            "/~s",
            "/~s/",
            "/%7Es/finx/rest/risk-reports/r1",
            "/finbox",
            "/finbox/",
            "/finbox/v2/risk/predictors",
            "//finbox//v2/",
            "/~sandbox-1/credeau/api/insights",
            "/~s//finx",
            "/é/ü/ß",
        ] {
            let local_at = match sandbox::split_path(full) {
                Some(Ok((_, at))) => at,
                _ => 0,
            };
            let local = local_path(full, local_at);
            let (segment, at) = vendor_and_rest(full, local);
            assert_eq!((segment, &full[at..]), vendor_segment(local), "{full:?}");
        }
    }

    #[test]
    fn the_scenario_header_is_the_first_value_hashing_finds() {
        let value = |v: &str| HeaderValue::from_str(v).expect("a valid value");
        let mut maps = Vec::new();
        maps.push(HeaderMap::new());
        let mut one = HeaderMap::new();
        one.insert(hyper::header::CONTENT_TYPE, value("application/json"));
        maps.push(one.clone());
        one.insert(SCENARIO_HEADER, value("pending"));
        maps.push(one.clone());
        one.append(SCENARIO_HEADER, value("second"));
        one.insert(hyper::header::AUTHORIZATION, value("Bearer t"));
        maps.push(one.clone());
        let mut many = one.clone();
        for i in 0..20 {
            many.insert(
                HeaderName::from_bytes(format!("x-h{i}").as_bytes()).expect("a valid name"),
                value("v"),
            );
        }
        maps.push(many.clone());
        many.remove(SCENARIO_HEADER);
        maps.push(many);
        for m in &maps {
            assert_eq!(scenario_header(m), m.get(SCENARIO_HEADER), "{m:?}");
        }
        assert_eq!(scenario_header(&maps[3]), Some(&value("pending")));
    }

    #[test]
    fn text_buffers_come_back_empty_and_long_ones_are_not_kept() {
        let [mut a, mut b, c] = text_buffers();
        a.push_str("/~sandbox/finbox/v2/risk/predictors");
        b.push_str(&"é".repeat(SPARE_TEXT_MAX));
        let kept_a = a.as_ptr();
        keep_text_buffers([a, b, c]);
        let [a, b, c] = text_buffers();
        assert_eq!((a.as_str(), b.as_str(), c.as_str()), ("", "", ""));
        assert_eq!(a.as_ptr(), kept_a, "a short buffer is reused");
        assert_eq!(b.capacity(), 0, "a long one was freed");
        // Taken: a second request on the thread meanwhile gets fresh ones.
        let [d, _, _] = text_buffers();
        assert_eq!(d.capacity(), 0);
        keep_text_buffers([a, b, c]);
    }

    /// The type of the future `f` returns, measured without calling it.
    fn future_size<F, Fut>(_: F) -> usize
    where
        F: Fn(&Arc<App>, Request<Incoming>, SocketAddr, Option<&'static str>, &Arc<Tracked>) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// What this measures is the build the tests run in, an unoptimised debug build
    /// (`cargo test`): the release binary lays its futures out on its own, so the limit
    /// is a tripwire for state held across the body's `.await`, not the release size.
    #[test]
    fn the_pipeline_future_hyper_moves_per_request_stays_small() {
        // hyper keeps the service's future inline and moves it per request: only the
        // head and the route wait on the body. In a debug build (and the release build):
        // 504 bytes; 832 (872) while `handle` and `read_body` were `async fn`s, which keep
        // their arguments twice; 1,976 when the whole answer was made inside it.
        const LIMIT: usize = 640;
        let size = future_size(call);
        let build = if cfg!(debug_assertions) {
            "debug"
        } else {
            "optimised"
        };
        assert!(size <= LIMIT, "{size} bytes in a {build} build");
    }
}
