//! FinBox webhooks, both kinds, through one delivery machinery:
//! - insights webhooks (the older doc generation): when an entity that was answered
//!   `in_progress` on `/risk/predictors` completes, the final insights response is
//!   POSTed to the scenario file's `webhook_url`; the fired result is then kept for
//!   24 h of mock clock for `?source=webhook&request_id=`;
//! - service webhooks (the current transactions/accounts page): when a customer that
//!   was answered `in_progress` on `/device-ids` completes, `{service, device_id,
//!   customer_id, salt}` is POSTed for each of its devices, once for `transactions`
//!   and once for `accounts` (the salt uses WEBHOOK_SECRET), once per update: a
//!   webhook is not queued again while pending, nor after it fired (fired ones are
//!   remembered, bounded); no body is stored.
//!
//! Deliveries wait in a bounded list until their mock-clock moment. They fire when the
//! mock clock passes it: `/__admin/clock/advance` (frozen clock), a timer task per
//! delivery (system clock), or the next FinBox request, whichever comes first. A timer
//! holds its instance weakly, and a reset (or the end of a sandbox) cancels it, so a
//! dropped sandbox is freed at once even with a webhook due years later. Each fire
//! spawns a tokio task, so a slow or dead receiver never delays an API answer.
//! A failed attempt (no answer within [`ATTEMPT_TIMEOUT`], or a non-2xx status) is
//! retried after [`backoff`] seconds of mock clock, up to [`MAX_ATTEMPTS`] attempts in
//! all; every attempt is journaled with direction `outbound`. A webhook sent from a
//! sandbox carries [`SANDBOX_HEADER`] with its name, so one receiver can serve many.
//! The HTTP client (and its connection pool) is one per server ([`Sender`]), shared by
//! the root and every sandbox.
//!
//! Every list is bounded by count ([`MAX_KEPT`]) and by bytes
//! ([`Budgets::store`](crate::budget::Budgets::store) each): the oldest is dropped first.
//! Bodies are kept serialized (the bytes that are sent and answered), not as JSON trees.
//!
//! Limits: plain `http://` only (no TLS client is built in); no signature header
//! (FinBox documents none; the service webhook's body `salt` is its only check).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use http_body_util::Full;
use hyper::header::{HeaderName, CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::task::AbortHandle;

use crate::app::App;
use crate::budget::{heap, Gauge, Locked, Weighed, DEFAULT_STORE_BYTES};
use crate::clock::rfc3339;
use crate::journal::{Entry, Headers};

/// Attempts per delivery, the first included.
pub const MAX_ATTEMPTS: u32 = 4;
/// How long one attempt may take (real time) before it counts as failed.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries waiting for their moment, entities waiting to complete, fired results
/// kept for `source=webhook`, and fired service updates remembered against duplicates:
/// at most this many each, the oldest dropped first.
/// Far above what a test suite creates; bounds a sidecar left running for days.
pub const MAX_KEPT: usize = 10_000;
/// How long a fired result can be fetched with `source=webhook` (the doc's 24 hours).
pub const RESULT_TTL: TimeDelta = TimeDelta::hours(24);

/// On a webhook sent from a sandbox: the sandbox's name (absent from the root's).
pub const SANDBOX_HEADER: HeaderName = HeaderName::from_static("x-vendor-mock-sandbox");

/// The webhook HTTP client: stateless but for its pool of idle connections, so one per
/// server, shared by the root's and every sandbox's FinBox (FinBox's shared slot).
pub struct Sender {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Default for Sender {
    fn default() -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

/// A JSON body as it is sent and kept: serialized compactly, as answers are.
pub fn json_bytes(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).expect("a serde_json::Value always serializes"))
}

/// Mock-clock seconds to wait after failed attempt `attempt` (1-based): 10, 20, 40.
pub fn backoff(attempt: u32) -> i64 {
    10 << (attempt - 1).min(10)
}

/// Which webhook a delivery is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Hook {
    /// The final insights response of the predictor request `request_id`; stored for
    /// `source=webhook` when it fires.
    Insights { request_id: String },
    /// `{service, device_id, customer_id, salt}`: `service` results of `device_id`
    /// were updated.
    Service {
        service: &'static str,
        device_id: String,
        /// The index of the scenario step that completed the customer: with the
        /// customer, the URL and `due`, it names one update of the customer's results
        /// (two updates at one frozen-clock moment are two completing steps).
        update: usize,
    },
}

/// One service webhook of one update, as remembered once it fired: (customer id, URL,
/// due, hook: service, device and completing step). Per webhook, not per update: the
/// webhooks of one update are queued one by one, and a timer may fire the first before
/// the next is queued.
type Fired = (String, String, DateTime<Utc>, Hook);

impl Delivery {
    /// What names this service webhook among fired ones; `None` for an insights webhook.
    fn fired_key(&self) -> Option<Fired> {
        matches!(self.hook, Hook::Service { .. }).then(|| {
            (
                self.customer_id.clone(),
                self.url.clone(),
                self.due,
                self.hook.clone(),
            )
        })
    }
}

/// One POST to make.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub due: DateTime<Utc>,
    pub url: String,
    /// The JSON body, serialized.
    pub body: Bytes,
    pub hook: Hook,
    pub customer_id: String,
    pub scenario: String,
    pub attempt: u32,
}

/// What a waiting request gets when its entity completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// A predictor request's insights webhook.
    Insights {
        request_id: String,
        requested: DateTime<Utc>,
        version: i64,
    },
    /// The service webhooks of every device of the customer (a `/device-ids` request).
    Services,
}

/// A request answered `in_progress` whose entity completes only when called again
/// (its scenario's in-progress step ends by call count, not by time).
#[derive(Debug, Clone)]
pub struct Waiting {
    pub customer_id: String,
    pub url: String,
    pub wanted: Wanted,
}

#[derive(Debug, Clone)]
struct Stored {
    customer_id: String,
    /// The JSON body, serialized.
    body: Bytes,
    fired: DateTime<Utc>,
}

/// What a hook holds on the heap.
fn hook_bytes(h: &Hook) -> usize {
    match h {
        Hook::Insights { request_id } => heap(request_id.len()),
        Hook::Service { device_id, .. } => heap(device_id.len()),
    }
}

/// What each list's entries cost: the entry itself (in its list's buffer, which runs at
/// most half empty) and what it holds on the heap.
fn delivery_bytes(d: &Delivery) -> usize {
    std::mem::size_of::<Delivery>() * 3 / 2
        + heap(d.url.len())
        + heap(d.body.len())
        + hook_bytes(&d.hook)
        + heap(d.customer_id.len())
        + heap(d.scenario.len())
}

fn waiting_bytes(w: &Waiting) -> usize {
    let wanted = match &w.wanted {
        Wanted::Insights { request_id, .. } => heap(request_id.len()),
        Wanted::Services => 0,
    };
    std::mem::size_of::<Waiting>() * 3 / 2 + heap(w.customer_id.len()) + heap(w.url.len()) + wanted
}

fn stored_bytes(request_id: &str, s: &Stored) -> usize {
    let slot = std::mem::size_of::<(String, Stored)>();
    slot * 3 / 2
        + std::mem::size_of::<String>()
        + 2 * heap(request_id.len())
        + heap(s.customer_id.len())
        + heap(s.body.len())
}

/// Held twice: in the set and in its order list.
fn fired_bytes(f: &Fired) -> usize {
    let (customer, url, _, hook) = f;
    2 * (std::mem::size_of::<Fired>() * 3 / 2
        + heap(customer.len())
        + heap(url.len())
        + hook_bytes(hook))
}

/// The bytes each list holds.
#[derive(Debug, Default, Clone, Copy)]
struct Held {
    pending: usize,
    waiting: usize,
    stored: usize,
    fired: usize,
}

impl Held {
    fn total(self) -> usize {
        self.pending + self.waiting + self.stored + self.fired
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Bumped by reset: tasks of an earlier generation neither retry nor store.
    generation: u64,
    pending: VecDeque<Delivery>,
    waiting: VecDeque<Waiting>,
    stored: HashMap<String, Stored>,
    stored_order: VecDeque<String>,
    /// Service webhooks that fired (first attempts), oldest first: a request that read
    /// the clock before they fired and still schedules them finds them here.
    fired: HashSet<Fired>,
    fired_order: VecDeque<Fired>,
    /// The timer tasks (system clock) that may still be waiting, oldest first: cancelled
    /// by a reset. At most [`MAX_KEPT`]: past it, finished ones are let go, and if all
    /// still wait, the oldest is cancelled (its delivery then fires at the next FinBox
    /// request or clock advance after its moment).
    timers: VecDeque<AbortHandle>,
    held: Held,
    /// Each list's byte budget.
    max_bytes: usize,
}

impl Inner {
    fn with_budget(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            ..Self::default()
        }
    }

    /// Queue a delivery, dropping the oldest past the count or the byte budget.
    fn push_pending(&mut self, d: Delivery) {
        let weight = delivery_bytes(&d);
        while !self.pending.is_empty()
            && (self.pending.len() >= MAX_KEPT || self.held.pending + weight > self.max_bytes)
        {
            if let Some(old) = self.pending.pop_front() {
                self.held.pending -= delivery_bytes(&old);
            }
        }
        self.held.pending += weight;
        self.pending.push_back(d);
    }

    /// Keep a fired result for `source=webhook`, dropping the oldest past the bounds.
    fn keep_result(&mut self, request_id: &str, s: Stored) {
        let weight = stored_bytes(request_id, &s);
        if let Some(old) = self.stored.remove(request_id) {
            self.held.stored -= stored_bytes(request_id, &old);
            self.stored_order.retain(|k| k != request_id);
        }
        while !self.stored.is_empty()
            && (self.stored.len() >= MAX_KEPT || self.held.stored + weight > self.max_bytes)
        {
            let Some(old) = self.stored_order.pop_front() else {
                break;
            };
            if let Some(gone) = self.stored.remove(&old) {
                self.held.stored -= stored_bytes(&old, &gone);
            }
        }
        self.held.stored += weight;
        self.stored.insert(request_id.to_string(), s);
        self.stored_order.push_back(request_id.to_string());
    }

    fn keep_timer(&mut self, timer: AbortHandle) {
        if self.timers.len() >= MAX_KEPT {
            self.timers.retain(|t| !t.is_finished());
            if self.timers.len() >= MAX_KEPT {
                if let Some(old) = self.timers.pop_front() {
                    old.abort();
                }
            }
        }
        self.timers.push_back(timer);
    }

    /// Remember a request that waits for its entity to complete. Service webhooks are
    /// remembered once per customer and URL (they name no request).
    fn push_waiting(&mut self, w: Waiting) {
        if w.wanted == Wanted::Services
            && self.waiting.iter().any(|o| {
                o.wanted == Wanted::Services && o.customer_id == w.customer_id && o.url == w.url
            })
        {
            return;
        }
        let weight = waiting_bytes(&w);
        while !self.waiting.is_empty()
            && (self.waiting.len() >= MAX_KEPT || self.held.waiting + weight > self.max_bytes)
        {
            if let Some(old) = self.waiting.pop_front() {
                self.held.waiting -= waiting_bytes(&old);
            }
        }
        self.held.waiting += weight;
        self.waiting.push_back(w);
    }

    /// Remember that a service webhook fired (bounded: the oldest is forgotten first).
    fn remember_fired(&mut self, key: Fired) {
        if self.fired.contains(&key) {
            return;
        }
        let weight = fired_bytes(&key);
        while !self.fired_order.is_empty()
            && (self.fired_order.len() >= MAX_KEPT || self.held.fired + weight > self.max_bytes)
        {
            if let Some(old) = self.fired_order.pop_front() {
                self.fired.remove(&old);
                self.held.fired -= fired_bytes(&old);
            }
        }
        self.held.fired += weight;
        self.fired.insert(key.clone());
        self.fired_order.push_back(key);
    }
}

pub struct Hooks {
    /// Std mutex: every use is a few list operations, never held across `.await`.
    inner: Mutex<Inner>,
    sender: Arc<Sender>,
    /// The lists' bytes, readable without the lock.
    gauge: Gauge,
    /// How many deliveries `inner.pending` holds, written under the lock whenever that
    /// changes: every FinBox request calls [`Hooks::fire_due`], and with nothing queued
    /// (nearly always) it returns after reading this, without taking the lock, whose
    /// word (and the gauge the guard publishes) every worker would otherwise write.
    queued: AtomicUsize,
}

impl Weighed for Inner {
    fn bytes(&self) -> usize {
        self.held.total()
    }
}

impl Default for Hooks {
    /// With a client of its own (tests).
    fn default() -> Self {
        Self::new(Arc::default(), DEFAULT_STORE_BYTES)
    }
}

impl Hooks {
    /// Webhooks of one instance, sent with the server's `sender`; each list holds at
    /// most `max_bytes` bytes.
    pub fn new(sender: Arc<Sender>, max_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::with_budget(max_bytes)),
            sender,
            gauge: Gauge::default(),
            queued: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> Locked<'_, Inner> {
        Locked::new(
            self.inner
                .lock()
                .expect("finbox webhook lock poisoned: a list operation panicked"),
            &self.gauge,
        )
    }

    /// What the lists hold, in bytes. No lock.
    pub fn approx_bytes(&self) -> usize {
        self.gauge.get()
    }

    /// Queue `d` for its moment; with a system clock, also start its timer.
    pub fn schedule(self: &Arc<Self>, app: &App, d: Delivery) {
        self.enqueue(app, d, false);
    }

    /// Queue `d` unless an identical delivery (same moment, URL and body) is already
    /// pending, or its update already fired: one update of a customer's results fires
    /// its service webhooks once, however many requests were answered `in_progress`
    /// before it, and whenever they read the clock (with the system clock a request can
    /// read it just before a timer fires the update, and schedule it after).
    pub fn schedule_once(self: &Arc<Self>, app: &App, d: Delivery) {
        self.enqueue(app, d, true);
    }

    fn enqueue(self: &Arc<Self>, app: &App, d: Delivery, once: bool) {
        let due = d.due;
        {
            let mut inner = self.lock();
            if once
                && (inner.pending.iter().any(|p| {
                    p.attempt == d.attempt
                        && p.due == d.due
                        && p.url == d.url
                        && p.hook == d.hook
                        && p.body == d.body
                }) || d.fired_key().is_some_and(|k| inner.fired.contains(&k)))
            {
                return;
            }
            inner.push_pending(d);
            self.queued.store(inner.pending.len(), Ordering::Release);
        }
        if !app.clock.is_frozen() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let wait = (due - app.clock.now()).to_std().unwrap_or_default();
                // Weak: a timer due in a year must not keep a dropped sandbox alive.
                let (hooks, app) = (Arc::downgrade(self), app.downgrade());
                let timer = rt.spawn(async move {
                    tokio::time::sleep(wait).await;
                    if let (Some(hooks), Some(app)) = (hooks.upgrade(), app.upgrade()) {
                        hooks.fire_due(&app);
                    }
                });
                self.lock().keep_timer(timer.abort_handle());
            }
        }
    }

    /// Remember a request whose entity completes on a later call. Service webhooks
    /// are remembered once per customer and URL (they name no request).
    pub fn wait(&self, w: Waiting) {
        self.lock().push_waiting(w);
    }

    /// Decide, under the lock [`take_waiting`](Self::take_waiting) takes, whether a
    /// request waits: `decide` reads the entity's progress and returns its verdict
    /// with the request to remember if the entity completes on a later call. A
    /// completing call advances the entity before it takes the waiting requests, so a
    /// request decided here either is remembered before that take (and is taken) or
    /// sees the advanced progress (and is not remembered): none is left behind.
    pub fn decide_wait<T>(&self, decide: impl FnOnce() -> (T, Option<Waiting>)) -> T {
        let mut inner = self.lock();
        let (verdict, waiting) = decide();
        if let Some(w) = waiting {
            inner.push_waiting(w);
        }
        verdict
    }

    /// The requests waiting for `customer_id` to complete, removed from the list.
    pub fn take_waiting(&self, customer_id: &str) -> Vec<Waiting> {
        let mut inner = self.lock();
        if inner.waiting.is_empty() {
            return Vec::new();
        }
        let (mine, rest): (VecDeque<Waiting>, VecDeque<Waiting>) = inner
            .waiting
            .drain(..)
            .partition(|w| w.customer_id == customer_id);
        inner.waiting = rest;
        inner.held.waiting -= mine.iter().map(waiting_bytes).sum::<usize>();
        mine.into()
    }

    /// Fire every delivery whose moment has come: store first attempts' results for
    /// `source=webhook`, then hand each POST to its own task.
    pub fn fire_due(self: &Arc<Self>, app: &App) {
        // A delivery queued by another worker at this moment is fired by the next
        // request, clock advance or its timer, as if this one had come a moment earlier.
        if self.queued.load(Ordering::Acquire) == 0 {
            return;
        }
        let now = app.clock.now();
        let (due, generation) = {
            let mut inner = self.lock();
            if inner.pending.is_empty() {
                return;
            }
            let (due, rest): (VecDeque<Delivery>, VecDeque<Delivery>) =
                inner.pending.drain(..).partition(|d| d.due <= now);
            inner.pending = rest;
            self.queued.store(inner.pending.len(), Ordering::Release);
            inner.held.pending -= due.iter().map(delivery_bytes).sum::<usize>();
            for d in due.iter().filter(|d| d.attempt == 1) {
                if let Some(k) = d.fired_key() {
                    inner.remember_fired(k);
                }
                let Hook::Insights { request_id } = &d.hook else {
                    continue;
                };
                inner.keep_result(
                    request_id,
                    Stored {
                        customer_id: d.customer_id.clone(),
                        body: d.body.clone(),
                        fired: d.due,
                    },
                );
            }
            (due, inner.generation)
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        for d in due {
            let (hooks, app) = (self.clone(), app.clone());
            rt.spawn(async move { hooks.deliver(app, d, generation).await });
        }
    }

    /// The fired result for `request_id`, if it belongs to `customer_id` and is less
    /// than 24 h old on the mock clock.
    pub fn result(&self, request_id: &str, customer_id: &str, now: DateTime<Utc>) -> Option<Bytes> {
        let inner = self.lock();
        let s = inner.stored.get(request_id)?;
        (s.customer_id == customer_id && s.fired <= now && now < s.fired + RESULT_TTL)
            .then(|| s.body.clone())
    }

    /// Forget every pending delivery, waiting request, stored result and fired update,
    /// and cancel the timers.
    pub fn reset(&self) {
        let mut inner = self.lock();
        let generation = inner.generation + 1;
        for t in inner.timers.drain(..) {
            t.abort();
        }
        let max_bytes = inner.max_bytes;
        *inner = Inner {
            generation,
            max_bytes,
            ..Inner::default()
        };
        self.queued.store(0, Ordering::Release);
    }

    /// Deliveries waiting for their moment (for tests and the bound).
    pub fn pending_len(&self) -> usize {
        self.lock().pending.len()
    }

    async fn deliver(self: Arc<Self>, app: App, d: Delivery, generation: u64) {
        let body = d.body.clone();
        let mut req = Request::post(d.url.as_str())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, "vendor-mock (FinBox webhook)");
        if let Some(name) = &app.sandbox {
            req = req.header(SANDBOX_HEADER, &**name);
        }
        let (outcome, status) = match req.body(Full::new(body.clone())) {
            Err(e) => (format!("not sent: {e}"), None),
            Ok(req) => {
                match tokio::time::timeout(ATTEMPT_TIMEOUT, self.sender.client.request(req)).await {
                    Err(_) => (format!("no answer within {ATTEMPT_TIMEOUT:?}"), None),
                    Ok(Err(e)) => (format!("failed: {e}"), None),
                    Ok(Ok(resp)) => (
                        format!("answered {}", resp.status().as_u16()),
                        Some(resp.status()),
                    ),
                }
            }
        };
        let ok = status.is_some_and(|s| s.is_success());
        let retry = if ok || d.attempt >= MAX_ATTEMPTS {
            String::new()
        } else {
            let due = app.clock.now() + TimeDelta::seconds(backoff(d.attempt));
            // A reset since this delivery fired cancels its retries.
            if self.lock().generation != generation {
                "; cancelled by a reset".to_string()
            } else {
                self.schedule(
                    &app,
                    Delivery {
                        due,
                        attempt: d.attempt + 1,
                        ..d.clone()
                    },
                );
                format!("; retry due at {}", rfc3339(due))
            }
        };
        let give_up = if !ok && d.attempt >= MAX_ATTEMPTS {
            "; giving up"
        } else {
            ""
        };
        let what = match &d.hook {
            Hook::Insights { request_id } => format!("request_id {request_id}"),
            Hook::Service {
                service, device_id, ..
            } => {
                format!("service {service} of device_id {device_id}")
            }
        };
        let mut headers = Headers::default();
        headers.push(CONTENT_TYPE.as_str(), b"application/json");
        if let Some(name) = &app.sandbox {
            headers.push(SANDBOX_HEADER.as_str(), name.as_bytes());
        }
        app.journal.push(Entry {
            seq: 0,
            time: app.clock.now(),
            direction: "outbound",
            vendor: Some("finbox"),
            method: Method::POST,
            path: d.url.clone(),
            query: None,
            client: None,
            headers,
            body,
            body_truncated: false,
            cut: Default::default(),
            entity: Some(d.customer_id.clone()),
            scenario: d.scenario.as_str().into(),
            step: None,
            status: status.map(|s| s.as_u16()),
            note: Some(format!(
                "webhook for {what}, attempt {} of {MAX_ATTEMPTS}: {outcome}{retry}{give_up}",
                d.attempt
            )),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_768_471_200 + secs, 0).unwrap()
    }

    fn waiting(customer: &str, request: &str) -> Waiting {
        Waiting {
            customer_id: customer.into(),
            url: "http://127.0.0.1:1/".into(),
            wanted: Wanted::Insights {
                request_id: request.into(),
                requested: t(0),
                version: 1,
            },
        }
    }

    fn request_id(w: Waiting) -> String {
        match w.wanted {
            Wanted::Insights { request_id, .. } => request_id,
            Wanted::Services => "services".into(),
        }
    }

    #[test]
    fn backoff_doubles_from_ten_seconds() {
        assert_eq!([1, 2, 3].map(backoff), [10, 20, 40]);
    }

    #[test]
    fn waiting_requests_are_taken_per_customer_and_bounded() {
        let h = Hooks::new(Arc::default(), usize::MAX);
        h.wait(waiting("a", "r1"));
        h.wait(waiting("b", "r2"));
        h.wait(waiting("a", "r3"));
        let got: Vec<_> = h.take_waiting("a").into_iter().map(request_id).collect();
        assert_eq!(got, ["r1", "r3"]);
        assert!(h.take_waiting("a").is_empty());
        for i in 0..=MAX_KEPT {
            h.wait(waiting("c", &i.to_string()));
        }
        assert_eq!(h.lock().waiting.len(), MAX_KEPT);
    }

    fn service(device: &str, due: DateTime<Utc>) -> Delivery {
        service_of(device, due, 1)
    }

    /// A `transactions` webhook of the update completed by step `update`.
    fn service_of(device: &str, due: DateTime<Utc>, update: usize) -> Delivery {
        Delivery {
            due,
            url: "http://127.0.0.1:1/".into(),
            body: json_bytes(&json!({"service": "transactions", "device_id": device})),
            hook: Hook::Service {
                service: "transactions",
                device_id: device.into(),
                update,
            },
            customer_id: "c".into(),
            scenario: "callback".into(),
            attempt: 1,
        }
    }

    #[test]
    fn one_update_queues_each_service_webhook_once() {
        let app = App::new(crate::Config {
            frozen_clock: Some(t(0)),
            ..crate::Config::default()
        })
        .unwrap();
        let h = Arc::new(Hooks::default());
        h.schedule_once(&app, service("d1", t(10)));
        h.schedule_once(&app, service("d1", t(10)));
        assert_eq!(h.pending_len(), 1);
        // Another device, or another moment (a later update), is another webhook.
        h.schedule_once(&app, service("d2", t(10)));
        h.schedule_once(&app, service("d1", t(20)));
        assert_eq!(h.pending_len(), 3);
    }

    fn frozen_app() -> App {
        App::new(crate::Config {
            frozen_clock: Some(t(0)),
            ..crate::Config::default()
        })
        .unwrap()
    }

    #[test]
    fn a_service_webhook_that_already_fired_is_not_queued_again() {
        let app = frozen_app();
        let h = Arc::new(Hooks::default());
        h.schedule_once(&app, service("d1", t(0)));
        h.schedule_once(&app, service("d2", t(0)));
        // No runtime here: the deliveries leave the queue and are remembered, nothing
        // is sent.
        h.fire_due(&app);
        assert_eq!(h.pending_len(), 0);
        // A request that read the clock before they fired schedules them again.
        h.schedule_once(&app, service("d1", t(0)));
        h.schedule_once(&app, service("d2", t(0)));
        assert_eq!(h.pending_len(), 0, "fired once, never twice");
        // Another update (another completing step at the same frozen moment, or another
        // moment) is other webhooks.
        h.schedule_once(&app, service_of("d1", t(0), 3));
        h.schedule_once(&app, service("d1", t(-5)));
        assert_eq!(h.pending_len(), 2);
        // Retries are not deduplicated.
        h.schedule(
            &app,
            Delivery {
                attempt: 2,
                ..service("d1", t(0))
            },
        );
        assert_eq!(h.pending_len(), 3);
        // A reset forgets what fired.
        h.reset();
        h.schedule_once(&app, service("d1", t(0)));
        assert_eq!(h.pending_len(), 1);
    }

    #[test]
    fn a_webhook_queued_after_its_sibling_fired_still_goes_out() {
        // The webhooks of one update are queued one by one; a timer may fire the first
        // before the second is queued. The second is not taken for a duplicate.
        let app = frozen_app();
        let h = Arc::new(Hooks::default());
        h.schedule_once(&app, service("d1", t(0)));
        h.fire_due(&app);
        h.schedule_once(&app, service("d2", t(0)));
        assert_eq!(h.pending_len(), 1);
    }

    #[test]
    fn fired_service_webhooks_are_remembered_up_to_the_bound_oldest_forgotten_first() {
        let h = Hooks::new(Arc::default(), usize::MAX);
        let key = |i: usize| service_of("d", t(0), i).fired_key().unwrap();
        {
            let mut inner = h.lock();
            for i in 0..=MAX_KEPT {
                inner.remember_fired(key(i));
            }
            inner.remember_fired(key(MAX_KEPT));
            assert_eq!(inner.fired.len(), MAX_KEPT);
            assert_eq!(inner.fired_order.len(), MAX_KEPT);
            assert!(!inner.fired.contains(&key(0)));
            assert!(inner.fired.contains(&key(1)));
            assert!(inner.fired.contains(&key(MAX_KEPT)));
        }
        h.reset();
        let inner = h.lock();
        assert!(inner.fired.is_empty() && inner.fired_order.is_empty());
    }

    #[test]
    fn a_customer_waits_for_its_service_webhooks_once_per_url() {
        let h = Hooks::default();
        let services = |url: &str| Waiting {
            customer_id: "c".into(),
            url: url.into(),
            wanted: Wanted::Services,
        };
        h.wait(services("http://127.0.0.1:1/"));
        h.wait(services("http://127.0.0.1:1/"));
        h.wait(waiting("c", "r1"));
        h.wait(services("http://127.0.0.1:2/"));
        let got: Vec<_> = h.take_waiting("c").into_iter().map(|w| w.wanted).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got.iter().filter(|w| **w == Wanted::Services).count(), 2);
    }

    #[test]
    fn stored_results_answer_for_24_hours_to_their_customer_only() {
        let h = Hooks::default();
        h.lock().stored.insert(
            "r1".into(),
            Stored {
                customer_id: "a".into(),
                body: json_bytes(&json!({"status": "complete"})),
                fired: t(10),
            },
        );
        assert!(h.result("r1", "a", t(9)).is_none());
        assert!(h.result("r1", "a", t(10)).is_some());
        assert!(h.result("r1", "b", t(10)).is_none());
        assert!(h.result("r1", "a", t(10 + 86_399)).is_some());
        assert!(h.result("r1", "a", t(10 + 86_400)).is_none());
        h.reset();
        assert!(h.result("r1", "a", t(10)).is_none());
        assert_eq!(h.lock().generation, 1);
    }

    #[test]
    fn stored_results_past_the_byte_budget_forget_the_oldest_and_the_lists_count_their_bytes() {
        let result = |n: usize| Stored {
            customer_id: "a".into(),
            body: json_bytes(&json!({ "blob": "x".repeat(n) })),
            fired: t(10),
        };
        let one = stored_bytes("r0", &result(10_000));
        let h = Hooks::new(Arc::default(), 3 * one);
        for i in 0..5 {
            h.lock().keep_result(&format!("r{i}"), result(10_000));
            assert!(h.approx_bytes() <= 3 * one, "{}", h.approx_bytes());
        }
        assert!(h.result("r1", "a", t(10)).is_none(), "the oldest went");
        assert!(h.result("r4", "a", t(10)).is_some());
        assert!(h.approx_bytes() > 2 * 10_000, "the bodies are counted");
        // A result alone over the budget is still kept, alone.
        h.lock().keep_result("big", result(5 * one));
        assert!(h.result("big", "a", t(10)).is_some());
        assert_eq!(h.lock().stored.len(), 1);
        h.reset();
        assert_eq!(h.approx_bytes(), 0);
    }
}
