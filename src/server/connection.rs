//! Connection bookkeeping: which connections are open, which have a request in flight,
//! how long the others have waited; closing them on a timeout, under pressure and at
//! shutdown.
//!
//! Each request costs its connection two counter bumps (and each read from its socket
//! one more): no timer is armed per request. Timeouts are kept by one sweeper thread
//! that looks at every connection a few times per timeout ([`Registry::sweep`],
//! [`spawn_sweeper`]), and connections are
//! closed by their own task, woken through their [`Tracked::wake`], which checks once
//! more that no request got in first. So a request already being answered is never cut
//! by a timeout or an eviction, and the connection's own task is the only one that ever
//! touches hyper's state.
//!
//! Limits: a request whose body is still arriving counts as in flight, so a client
//! trickling a body is not timed out here (its size is capped by `--max-body-bytes`);
//! the timeouts are kept to within one sweep of their value.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::HttpService;
use tokio::sync::Notify;

use super::response::OutBody;

/// What a connection's task is asked to do, in rising order: a later ask never lowers an
/// earlier one (see [`Tracked::ask`]).
const NONE: u8 = 0;
/// Close if no request is in flight (timeout, or evicted for a new connection).
const CLOSE: u8 = 1;
/// Answer what was already sent, then close: the server is shutting down.
const SHUTDOWN: u8 = 2;
/// Close now, whatever is in flight: the drain time is over.
const HARD_STOP: u8 = 3;

/// The part of a connection other tasks can see.
#[derive(Debug, Default)]
pub struct Tracked {
    /// Requests handed to the pipeline, and those whose answer is done (its body sent
    /// to hyper or dropped). Both are written only by the connection's own task (hyper
    /// calls the service, polls it and drops the answer's body there), so a load and a
    /// store replace an atomic add; other tasks only read them.
    started: AtomicU64,
    finished: AtomicU64,
    /// Bytes read from the socket, written by the connection's own task: tells the
    /// sweeper a request head has begun.
    bytes_in: AtomicU64,
    /// The latest ask (`NONE`..`HARD_STOP`).
    command: AtomicU8,
    /// Wakes the connection's task after an ask.
    wake: Notify,
}

impl Tracked {
    fn bump(counter: &AtomicU64, by: u64) {
        counter.store(counter.load(Relaxed).wrapping_add(by), Relaxed);
    }

    /// Called by the connection's own task when hyper hands it a request.
    pub fn request_started(&self) {
        Self::bump(&self.started, 1);
    }

    /// Called by the connection's own task when a request's answer is done.
    pub fn request_finished(&self) {
        Self::bump(&self.finished, 1);
    }

    /// Called by the connection's own task for every read from the socket.
    pub fn bytes_read(&self, n: usize) {
        if n > 0 {
            Self::bump(&self.bytes_in, n as u64);
        }
    }

    /// A request is in flight. Exact on the connection's own task; a moment old elsewhere.
    pub fn busy(&self) -> bool {
        self.started.load(Relaxed) != self.finished.load(Relaxed)
    }

    /// Shutdown has begun: answers close the connection, and reads look at the socket
    /// itself rather than wait for the runtime to report it readable.
    pub fn shutting_down(&self) -> bool {
        self.command.load(Relaxed) >= SHUTDOWN
    }

    /// Ask the connection's task to do `what`, unless it was already asked for as much.
    /// Returns whether this ask was new.
    fn ask(&self, what: u8) -> bool {
        let was = self.command.fetch_max(what, Relaxed);
        if was < what {
            self.wake.notify_one();
        }
        was < what
    }
}

/// The registry's view of one connection.
#[derive(Debug)]
struct Entry {
    conn: Arc<Tracked>,
    /// `started` when last looked at: a change means it served a request since.
    seen_started: u64,
    /// Since when it has had no request in flight, as far as the sweeps know (`None`:
    /// it had one when last looked at).
    idle_since: Option<Instant>,
    /// `bytes_in` when it was first seen idle.
    seen_bytes: u64,
    /// When the sweeps first saw bytes of a next request head.
    head_since: Option<Instant>,
    /// Asked to close and not yet gone.
    closing: bool,
    /// Neighbours in the registry's list, least recently active first ([`NIL`]: none).
    prev: usize,
    next: usize,
}

/// No neighbour.
const NIL: usize = usize::MAX;

/// The open connections: a slab of entries, threaded by a list ordered by when each was
/// last seen active (accepted, or a request seen by a sweep or an eviction), so the
/// connection idle the longest is found from the front without scanning them all.
#[derive(Debug)]
struct Slots {
    entries: Vec<Option<Entry>>,
    free: Vec<usize>,
    head: usize,
    tail: usize,
    open: usize,
    closing: usize,
    shutting_down: bool,
}

impl Default for Slots {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            open: 0,
            closing: 0,
            shutting_down: false,
        }
    }
}

impl Slots {
    fn entry(&mut self, i: usize) -> &mut Entry {
        self.entries[i]
            .as_mut()
            .expect("slots in the list hold an entry")
    }

    fn push_back(&mut self, i: usize) {
        let tail = self.tail;
        let e = self.entry(i);
        e.prev = tail;
        e.next = NIL;
        match tail {
            NIL => self.head = i,
            t => self.entry(t).next = i,
        }
        self.tail = i;
    }

    fn unlink(&mut self, i: usize) {
        let (prev, next) = {
            let e = self.entry(i);
            (e.prev, e.next)
        };
        match prev {
            NIL => self.head = next,
            p => self.entry(p).next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.entry(n).prev = prev,
        }
    }

    /// Seen active: to the back of the list.
    fn touch(&mut self, i: usize) {
        if self.tail != i {
            self.unlink(i);
            self.push_back(i);
        }
    }
}

/// Every open connection of one server.
#[derive(Debug)]
pub struct Registry {
    max_connections: usize,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    /// Short critical sections only (a scan of at most `max_connections` entries); never
    /// held across an `.await`.
    slots: Mutex<Slots>,
    /// Notified when the last connection is gone.
    emptied: Notify,
}

/// A connection's place in the [`Registry`]; removes it when dropped.
pub struct Registration {
    registry: Arc<Registry>,
    slot: usize,
    pub conn: Arc<Tracked>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.remove(self.slot);
    }
}

impl Registry {
    pub fn new(
        max_connections: usize,
        header_read_timeout: Duration,
        idle_timeout: Duration,
    ) -> Self {
        Self {
            max_connections: max_connections.max(1),
            header_read_timeout,
            idle_timeout,
            slots: Mutex::new(Slots::default()),
            emptied: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // A panic elsewhere cannot leave the slots half-updated: every update is a few
        // assignments with nothing that can panic in between.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How often [`Registry::sweep`] should run: a few times per timeout.
    pub fn sweep_interval(&self) -> Duration {
        (self.header_read_timeout.min(self.idle_timeout) / 8)
            .clamp(Duration::from_millis(10), Duration::from_secs(1))
    }

    /// Whether shutdown has begun (the sweeps stop then).
    fn shutting_down(&self) -> bool {
        self.lock().shutting_down
    }

    /// Take a new connection. At the limit, the connection idle the longest is asked to
    /// close to make room; when every connection has a request in flight, or shutdown
    /// has begun, the new one is refused (`None`).
    pub fn admit(self: &Arc<Self>) -> Option<Registration> {
        let now = Instant::now();
        let mut s = self.lock();
        if s.shutting_down {
            return None;
        }
        if s.open - s.closing >= self.max_connections && !Self::evict_one(&mut s) {
            return None;
        }
        let conn = Arc::new(Tracked::default());
        let entry = Entry {
            conn: conn.clone(),
            seen_started: 0,
            idle_since: Some(now),
            seen_bytes: 0,
            head_since: None,
            closing: false,
            prev: NIL,
            next: NIL,
        };
        s.open += 1;
        let slot = match s.free.pop() {
            Some(i) => {
                s.entries[i] = Some(entry);
                i
            }
            None => {
                s.entries.push(Some(entry));
                s.entries.len() - 1
            }
        };
        s.push_back(slot);
        Some(Registration {
            registry: self.clone(),
            slot,
            conn,
        })
    }

    /// Ask the connection idle the longest to close, for a new one or a file descriptor.
    /// Returns false when none is idle.
    pub fn evict_idle(&self) -> bool {
        Self::evict_one(&mut self.lock())
    }

    /// Walk the list from its front (least recently active) to the first connection
    /// with no request in flight. One that served a request since it was last looked at
    /// goes to the back first: it has been idle only since about now. Under a flood of
    /// idle connections the first one looked at is the one: no scan of all of them.
    fn evict_one(s: &mut Slots) -> bool {
        // Each entry is looked at most twice (once more after going to the back).
        let mut budget = 2 * s.open;
        let mut i = s.head;
        while i != NIL && budget > 0 {
            budget -= 1;
            let e = s.entry(i);
            let next = e.next;
            let started = e.conn.started.load(Relaxed);
            if e.closing || e.conn.busy() {
                i = next;
            } else if e.seen_started != started {
                e.seen_started = started;
                e.idle_since = None;
                s.touch(i);
                i = if next == NIL { s.head } else { next };
            } else {
                if e.conn.ask(CLOSE) {
                    e.closing = true;
                    s.closing += 1;
                }
                return true;
            }
        }
        false
    }

    fn remove(&self, slot: usize) {
        let mut s = self.lock();
        if s.entries[slot].is_none() {
            return;
        }
        s.unlink(slot);
        let e = s.entries[slot].take().expect("checked above");
        if e.closing {
            s.closing -= 1;
        }
        s.open -= 1;
        s.free.push(slot);
        if s.open == 0 {
            self.emptied.notify_waiters();
        }
    }

    /// A connection asked to close had a request come in first: it stays.
    fn keep(&self, slot: usize) {
        let mut guard = self.lock();
        let s = &mut *guard;
        if let Some(e) = s.entries[slot].as_mut() {
            if e.closing {
                e.closing = false;
                s.closing -= 1;
            }
            let _ = e
                .conn
                .command
                .compare_exchange(CLOSE, NONE, Relaxed, Relaxed);
        }
    }

    /// Look at every connection: ask those whose timeout has run out to close.
    /// `header_read_timeout` runs from the first byte of a request head (as seen by a
    /// sweep) until the head is complete; `idle_timeout` from the end of the last answer
    /// (or the accept) until a next request begins. Neither runs while a request is in
    /// flight.
    pub fn sweep(&self, now: Instant) {
        let mut s = self.lock();
        for i in 0..s.entries.len() {
            let Some(e) = s.entries[i].as_mut() else {
                continue;
            };
            if e.closing {
                continue;
            }
            let started = e.conn.started.load(Relaxed);
            let busy = e.conn.busy();
            if busy || e.seen_started != started {
                // Active since the last look: to the back, idle (if at all) from now.
                e.seen_started = started;
                e.idle_since = None;
                s.touch(i);
                if busy {
                    continue;
                }
            }
            let e = s.entry(i);
            let bytes = e.conn.bytes_in.load(Relaxed);
            let Some(idle_since) = e.idle_since else {
                e.idle_since = Some(now);
                e.seen_bytes = bytes;
                e.head_since = None;
                continue;
            };
            if bytes != e.seen_bytes && e.head_since.is_none() {
                e.head_since = Some(now);
            }
            let expired = match e.head_since {
                Some(t) => now.duration_since(t) >= self.header_read_timeout,
                None => now.duration_since(idle_since) >= self.idle_timeout,
            };
            if expired && e.conn.ask(CLOSE) {
                e.closing = true;
                s.closing += 1;
            }
        }
    }

    /// Shutdown has begun: refuse new connections and tell every open one.
    pub fn begin_shutdown(&self) {
        let mut s = self.lock();
        s.shutting_down = true;
        for e in s.entries.iter().flatten() {
            e.conn.ask(SHUTDOWN);
        }
    }

    /// The drain time is over: every connection closes now.
    pub fn stop_all(&self) {
        for e in self.lock().entries.iter().flatten() {
            e.conn.ask(HARD_STOP);
        }
    }

    pub fn open(&self) -> usize {
        self.lock().open
    }

    /// Wait until no connection is open.
    pub async fn emptied(&self) {
        loop {
            let notified = self.emptied.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a last close in between is not missed.
            notified.as_mut().enable();
            if self.open() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Sweep `registry` every [`Registry::sweep_interval`] until shutdown begins or the
/// registry is gone (a server whose runtime was dropped).
///
/// A thread of its own rather than a task: a pending tokio timer makes every park of a
/// runtime worker read the clock and visit the timer wheel, which between two requests
/// of one client costs about as much as the rest of this module's work per request.
pub fn spawn_sweeper(registry: &Arc<Registry>) {
    let interval = registry.sweep_interval();
    let registry = Arc::downgrade(registry);
    let spawned = std::thread::Builder::new()
        .name("vendor-mock-sweeper".into())
        .spawn(move || loop {
            std::thread::sleep(interval);
            match registry.upgrade() {
                Some(r) if !r.shutting_down() => r.sweep(Instant::now()),
                _ => return,
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("no connection timeouts: cannot start their thread: {e}");
    }
}

/// Serve one connection until hyper is done with it or it is asked to close.
///
/// Asked to close (timeout, eviction): it closes unless a request got in first. At
/// shutdown: every request whose head has arrived is answered (reads then bypass the
/// runtime's readiness, so a head already in the socket is read at once), its answer
/// carries `Connection: close`, and the connection closes as soon as no request is in
/// flight; one that never completed a head is closed at once. A request pipelined behind
/// the one answered with `Connection: close` gets no answer (clients that pipeline retry
/// unanswered requests on a new connection, RFC 9112 §9.3.2); it is a rare way to send.
pub async fn drive<I, S>(conn: http1::Connection<I, S>, reg: Registration)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S: HttpService<Incoming, ResBody = OutBody>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tracked = &*reg.conn;
    let mut conn = std::pin::pin!(conn);
    let mut draining = false;
    let mut closing = false;
    loop {
        let served = std::future::poll_fn(|cx| loop {
            if conn.as_mut().poll(cx).is_ready() {
                // Errors are the client's doing (reset, bad HTTP) or a `reset` fault;
                // there is nobody to report them to.
                return Poll::Ready(());
            }
            if !draining || tracked.busy() {
                return Poll::Pending;
            }
            if tracked.started.load(Relaxed) == 0 {
                // Never completed a request head: nothing to answer or to flush.
                return Poll::Ready(());
            }
            if closing {
                return Poll::Pending; // hyper is flushing the last answer, then closes
            }
            // Idle after an answer: let hyper flush it and close the connection.
            closing = true;
            conn.as_mut().graceful_shutdown();
        });
        tokio::select! {
            biased;
            () = served => return,
            () = tracked.wake.notified() => {}
        }
        match tracked.command.load(Relaxed) {
            HARD_STOP => return,
            SHUTDOWN => draining = true,
            CLOSE if tracked.busy() => reg.registry.keep(reg.slot),
            CLOSE => return,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(60);

    fn registry(max: usize) -> Arc<Registry> {
        Arc::new(Registry::new(max, HEAD, IDLE))
    }

    fn asked(r: &Registration) -> u8 {
        r.conn.command.load(Relaxed)
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn an_idle_connection_is_asked_to_close_once_the_idle_timeout_has_run() {
        let r = registry(8);
        let a = r.admit().expect("room");
        let t0 = Instant::now();
        r.sweep(t0 + secs(59.0));
        assert_eq!(asked(&a), NONE);
        r.sweep(t0 + secs(60.5));
        assert_eq!(asked(&a), CLOSE);
    }

    #[test]
    fn a_begun_head_has_the_header_read_timeout_from_its_first_byte() {
        let r = registry(8);
        let a = r.admit().expect("room");
        let t0 = Instant::now();
        r.sweep(t0 + secs(30.0));
        a.conn.bytes_read(5);
        r.sweep(t0 + secs(31.0)); // first seen here
        r.sweep(t0 + secs(40.5));
        assert_eq!(asked(&a), NONE, "9.5 s into the head");
        r.sweep(t0 + secs(41.5));
        assert_eq!(asked(&a), CLOSE);
    }

    #[test]
    fn no_timeout_runs_while_a_request_is_in_flight_and_both_start_over_after_it() {
        let r = registry(8);
        let a = r.admit().expect("room");
        let t0 = Instant::now();
        a.conn.bytes_read(100);
        a.conn.request_started();
        r.sweep(t0 + secs(100.0));
        r.sweep(t0 + secs(1000.0));
        assert_eq!(asked(&a), NONE, "in flight");
        a.conn.request_finished();
        r.sweep(t0 + secs(1001.0)); // idle from here
        r.sweep(t0 + secs(1060.5));
        assert_eq!(asked(&a), NONE, "59.5 s idle");
        r.sweep(t0 + secs(1061.5));
        assert_eq!(asked(&a), CLOSE);
    }

    #[test]
    fn at_the_limit_the_connection_idle_the_longest_is_asked_to_close() {
        let r = registry(3);
        let a = r.admit().expect("room");
        let b = r.admit().expect("room");
        let c = r.admit().expect("room");
        // `a` served a request since the last sweep: idle only since now.
        a.conn.request_started();
        a.conn.request_finished();
        let d = r.admit().expect("room made");
        assert_eq!((asked(&a), asked(&b), asked(&c)), (NONE, CLOSE, NONE));
        // `b` is on its way out and not counted; next is `c`, then `a`, never one busy.
        d.conn.request_started();
        let e = r.admit().expect("room made");
        assert_eq!((asked(&a), asked(&c), asked(&d)), (NONE, CLOSE, NONE));
        a.conn.request_started();
        e.conn.request_started();
        assert!(r.admit().is_none(), "every live connection is busy");
        assert_eq!(asked(&d), NONE);
    }

    #[test]
    fn a_connection_that_keeps_its_place_counts_again_and_a_gone_one_frees_its_slot() {
        let r = registry(1);
        let a = r.admit().expect("room");
        let b = r.admit().expect("room made");
        assert_eq!(asked(&a), CLOSE);
        // `a` got a request in before closing: it stays, the registry is one over.
        a.conn.request_started();
        r.keep(a.slot);
        assert_eq!(asked(&a), NONE);
        assert_eq!(r.open(), 2);
        drop(b);
        assert_eq!(r.open(), 1);
        a.conn.request_finished();
        let _c = r.admit().expect("room made");
        assert_eq!(asked(&a), CLOSE);
    }

    #[test]
    fn evictions_follow_accept_order_then_activity_through_removals() {
        let r = registry(100);
        let mut regs: Vec<Option<Registration>> = (0..6).map(|_| r.admit()).collect();
        regs[1] = None;
        regs[4] = None;
        let active = regs[2].as_ref().expect("kept");
        active.conn.request_started();
        active.conn.request_finished();
        r.sweep(Instant::now()); // seen active: to the back
        let mut order = Vec::new();
        while r.evict_idle() {
            let asked_now = regs
                .iter()
                .enumerate()
                .filter_map(|(i, reg)| Some((i, reg.as_ref()?)))
                .find(|(i, reg)| asked(reg) == CLOSE && !order.contains(i))
                .map(|(i, _)| i)
                .expect("one more was asked");
            order.push(asked_now);
        }
        assert_eq!(order, [0, 3, 5, 2]);
        assert_eq!(r.open(), 4);
    }

    #[test]
    fn shutdown_is_told_to_every_connection_and_refuses_new_ones() {
        let r = registry(8);
        let a = r.admit().expect("room");
        r.sweep(Instant::now() + secs(61.0));
        assert_eq!(asked(&a), CLOSE);
        r.begin_shutdown();
        assert_eq!(asked(&a), SHUTDOWN, "a later ask raises an earlier one");
        assert!(a.conn.shutting_down());
        assert!(r.admit().is_none());
        r.stop_all();
        assert_eq!(asked(&a), HARD_STOP);
    }
}
