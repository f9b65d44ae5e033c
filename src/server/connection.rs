//! Connection bookkeeping: which connections are open, how far each is with its
//! request, how long the others have waited; closing them on a timeout, under pressure
//! and at shutdown.
//!
//! Each request costs its connection a few counter writes (and each read from its socket
//! one more), no timer: timeouts are kept by one sweeper thread that looks at every
//! connection a few times per timeout ([`Registry::sweep`], [`spawn_sweeper`]), and
//! connections are closed by their own task, woken through their [`Tracked`], which
//! checks once more that no request got in first. So a request being answered is never
//! cut by a timeout or an eviction, and the connection's own task is the only one that
//! ever touches hyper's state.
//!
//! A request is *in flight* from its head to its answer in two phases ([`Phase`]):
//! while its body is still arriving it counts as incomplete (timed out, evictable, closed
//! at once at shutdown, like a half-sent head); once the body is read it is being
//! answered, and nothing but the drain's end cuts it.
//!
//! Limits: the timeouts are kept to within one sweep of their value; at the connection
//! limit, a connection chosen to close that has a request arriving just then stays, and
//! another is chosen; if none can be, the limit is passed by one until a connection
//! closes (see [`Registry::keep`]).

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::{Duration, Instant};

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::HttpService;
use tokio::sync::Notify;

use super::tracked::{Phase, Tracked, CLOSE, HARD_STOP, SHUTDOWN};

/// Once the header-read timeout has run, a body still arriving is given one more
/// second for every this many bytes received since its head (Apache's `mod_reqtimeout`
/// does the same with `MinRate`): a large body on a slow link gets its time, a body
/// trickled a byte at a time does not.
pub const MIN_BODY_RATE: u64 = 1024;

/// At most this many connections are looked at to find one to evict: the list is
/// ordered by last activity, so the first is nearly always the one, and when every
/// connection is busy an accept costs a bounded scan under the lock, not one of them
/// all. Connections passed while being answered go to the back, so the next accept
/// looks further.
const EVICT_SCAN: usize = 64;

/// The registry's view of one connection.
#[derive(Debug)]
struct Entry {
    conn: Arc<Tracked>,
    /// `started` and the phase when last looked at: a change means it was active since.
    seen_started: u64,
    seen_phase: Phase,
    /// When the sweeps first saw it as it is now (for an idle connection, since its
    /// accept or its last answer; for a body, since its head).
    since: Instant,
    /// `bytes_in` at `since`.
    seen_bytes: u64,
    /// Idle only: when the sweeps first saw bytes of a next request head.
    head_since: Option<Instant>,
    /// Asked to close and not yet gone; out of the list meanwhile.
    closing: bool,
    /// Neighbours in the registry's list, least recently active first ([`NIL`]: none).
    prev: usize,
    next: usize,
}

/// No neighbour.
const NIL: usize = usize::MAX;

/// The open connections: a slab of entries, those not asked to close threaded by a list
/// ordered by when each was last seen active (accepted, or a change seen by a sweep), so
/// the connection idle the longest is found from the front without scanning them all.
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

    /// Ask entry `i` to close; it leaves the list until it is gone or kept.
    fn close(&mut self, i: usize) {
        let e = self.entry(i);
        e.conn.ask(CLOSE);
        e.closing = true;
        self.closing += 1;
        self.unlink(i);
    }
}

/// Every open connection of one server.
#[derive(Debug)]
pub struct Registry {
    max_connections: usize,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    /// Short critical sections only (a sweep looks at every entry, an eviction at most
    /// [`EVICT_SCAN`]); never held across an `.await`.
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

    pub fn max_connections(&self) -> usize {
        self.max_connections
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

    /// Take a new connection. At the limit, one connection is asked to close to make
    /// room (see [`Registry::evict`]); when none can be, or shutdown has begun, the new
    /// one is refused (`None`).
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
            seen_phase: Phase::Idle,
            since: now,
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

    /// Ask one connection to close, for a new one or a file descriptor: the one idle
    /// the longest, else (every connection has a request in flight) the one whose body
    /// has been arriving the longest. Returns false when every connection near the
    /// front of the list is being answered.
    pub fn evict(&self) -> bool {
        Self::evict_one(&mut self.lock())
    }

    /// Walk the list from its front (least recently active), at most [`EVICT_SCAN`]
    /// entries, to the first connection with no request in flight. The list is not
    /// reordered for idle ones (the sweeps do that by activity), so a connection just
    /// accepted, at the back, is the last one chosen.
    fn evict_one(s: &mut Slots) -> bool {
        let last = s.tail;
        let mut i = s.head;
        let mut body = NIL;
        for _ in 0..EVICT_SCAN {
            if i == NIL {
                break;
            }
            let e = s.entry(i);
            let next = e.next;
            match e.conn.phase() {
                Phase::Idle => {
                    s.close(i);
                    return true;
                }
                Phase::ReadingBody if body == NIL => body = i,
                Phase::ReadingBody => {}
                Phase::Answering => s.touch(i),
            }
            if i == last {
                break;
            }
            i = next;
        }
        if body != NIL {
            s.close(body);
            return true;
        }
        false
    }

    fn remove(&self, slot: usize) {
        let mut s = self.lock();
        if s.entries[slot].is_none() {
            return;
        }
        if s.entry(slot).closing {
            s.closing -= 1;
        } else {
            s.unlink(slot);
        }
        s.entries[slot] = None;
        s.open -= 1;
        s.free.push(slot);
        if s.open == 0 {
            self.emptied.notify_waiters();
        }
    }

    /// A connection asked to close had a request come in first: it stays, and if that
    /// puts the server over its limit another is asked to close in its place. When none
    /// can be (every other one is being answered), the server is over its limit by this
    /// connection until one closes; new connections are refused meanwhile.
    fn keep(&self, slot: usize) {
        let mut guard = self.lock();
        let s = &mut *guard;
        let Some(e) = s.entries[slot].as_mut() else {
            return;
        };
        e.conn.withdraw_close();
        if e.closing {
            e.closing = false;
            s.closing -= 1;
            s.push_back(slot);
            if s.open - s.closing > self.max_connections {
                Self::evict_one(s);
            }
        }
    }

    /// Look at every connection: ask those whose timeout has run out to close.
    /// - idle: `idle_timeout` from the end of the last answer (or the accept) until a
    ///   next request head begins, then `header_read_timeout` from its first byte until
    ///   the head is complete;
    /// - reading a body: `header_read_timeout` from the head, plus a second per
    ///   [`MIN_BODY_RATE`] bytes received since;
    /// - being answered: none.
    pub fn sweep(&self, now: Instant) {
        let mut guard = self.lock();
        let s = &mut *guard;
        for i in 0..s.entries.len() {
            let Some(e) = s.entries[i].as_mut() else {
                continue;
            };
            if e.closing {
                continue;
            }
            let started = e.conn.started();
            let phase = e.conn.phase();
            let bytes = e.conn.bytes_in();
            if started != e.seen_started || phase != e.seen_phase {
                // Active since the last look: to the back, and its time starts now.
                e.seen_started = started;
                e.seen_phase = phase;
                e.since = now;
                e.seen_bytes = bytes;
                e.head_since = None;
                s.touch(i);
                continue;
            }
            let waited = now.saturating_duration_since(e.since);
            let expired = match phase {
                Phase::Answering => {
                    s.touch(i);
                    false
                }
                Phase::ReadingBody => {
                    let earned = bytes.wrapping_sub(e.seen_bytes) / MIN_BODY_RATE;
                    waited >= self.header_read_timeout + Duration::from_secs(earned)
                }
                Phase::Idle => {
                    if bytes != e.seen_bytes && e.head_since.is_none() {
                        e.head_since = Some(now);
                    }
                    match e.head_since {
                        Some(t) => now.saturating_duration_since(t) >= self.header_read_timeout,
                        None => waited >= self.idle_timeout,
                    }
                }
            };
            if expired {
                s.close(i);
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
/// Asked to close (timeout, eviction): the connection is polled once more first, and
/// reads then take what is already in the socket without waiting for the runtime to
/// report it (see `io`), so a request that arrived just as the connection was chosen is
/// seen; the connection stays if a request began in that poll or one is being answered,
/// and closes otherwise (a half-sent head or body is dropped).
///
/// At shutdown: every request whose head and body have arrived is answered (reads
/// bypass the runtime's readiness the same way, so a request already in the socket is
/// read at once), its answer carries `Connection: close`, and the connection closes as
/// soon as no request is in flight; one with a half-sent head or a body still arriving
/// is closed at once. A request pipelined behind the one answered with
/// `Connection: close` gets no answer (hyper keeps it in its own buffer, out of reach;
/// clients that pipeline retry unanswered requests on a new connection, RFC 9112
/// §9.3.2); it is a rare way to send.
pub async fn drive<I, S, B>(conn: http1::Connection<I, S>, reg: Registration)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tracked = &*reg.conn;
    let mut conn = std::pin::pin!(conn);
    let mut draining = false;
    let mut closing = false;
    // `started` as the latest poll of the connection began.
    let mut started_before = 0;
    loop {
        let served = std::future::poll_fn(|cx| loop {
            started_before = tracked.started();
            if conn.as_mut().poll(cx).is_ready() {
                // Errors are the client's doing (reset, bad HTTP) or a `reset` fault;
                // there is nobody to report them to.
                return Poll::Ready(());
            }
            if !draining {
                return Poll::Pending;
            }
            match tracked.phase() {
                Phase::Answering => return Poll::Pending,
                // Not a complete request: nothing to answer.
                Phase::ReadingBody => return Poll::Ready(()),
                Phase::Idle if tracked.started() == 0 => return Poll::Ready(()),
                // hyper is flushing the last answer, then closes.
                Phase::Idle if closing => return Poll::Pending,
                Phase::Idle => {
                    // Idle after an answer: let hyper flush it and close the connection.
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        });
        tokio::select! {
            biased;
            () = served => return,
            () = tracked.asked_again() => {}
        }
        match tracked.command() {
            HARD_STOP => return,
            SHUTDOWN => draining = true,
            CLOSE => {
                // The poll just made read what the socket held (reads bypass the
                // runtime once asked).
                let began = tracked.started() != started_before;
                if began || tracked.phase() == Phase::Answering {
                    reg.registry.keep(reg.slot);
                } else {
                    return;
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::tracked::NONE;

    const HEAD: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(60);

    fn registry(max: usize) -> Arc<Registry> {
        Arc::new(Registry::new(max, HEAD, IDLE))
    }

    fn asked(r: &Registration) -> u8 {
        r.conn.command()
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// A request read whole and answered: the connection is idle again.
    fn served(r: &Registration) {
        r.conn.request_started();
        r.conn.body_received();
        r.conn.request_finished();
    }

    /// A request read whole and being answered.
    fn answering(r: &Registration) {
        r.conn.request_started();
        r.conn.body_received();
    }

    /// Open minus asked to close: what counts against the limit.
    fn counted(r: &Registry) -> usize {
        let s = r.lock();
        s.open - s.closing
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
    fn no_timeout_runs_while_a_request_is_answered_and_both_start_over_after_it() {
        let r = registry(8);
        let a = r.admit().expect("room");
        let t0 = Instant::now();
        a.conn.bytes_read(100);
        answering(&a);
        r.sweep(t0 + secs(100.0));
        r.sweep(t0 + secs(1000.0));
        assert_eq!(asked(&a), NONE, "being answered");
        a.conn.request_finished();
        r.sweep(t0 + secs(1001.0)); // idle from here
        r.sweep(t0 + secs(1060.5));
        assert_eq!(asked(&a), NONE, "59.5 s idle");
        r.sweep(t0 + secs(1061.5));
        assert_eq!(asked(&a), CLOSE);
    }

    #[test]
    fn a_body_still_arriving_has_the_header_read_timeout_plus_a_second_per_kib_received() {
        let r = registry(8);
        let stalled = r.admit().expect("room");
        let trickled = r.admit().expect("room");
        let t0 = Instant::now();
        for c in [&stalled, &trickled] {
            c.conn.bytes_read(300); // the head
            c.conn.request_started();
        }
        r.sweep(t0 + secs(1.0)); // both first seen reading their bodies here
        trickled.conn.bytes_read(4 * 1024 + 10); // earns 4 s
        r.sweep(t0 + secs(10.9));
        assert_eq!((asked(&stalled), asked(&trickled)), (NONE, NONE));
        r.sweep(t0 + secs(11.1));
        assert_eq!((asked(&stalled), asked(&trickled)), (CLOSE, NONE));
        r.sweep(t0 + secs(14.9));
        assert_eq!(asked(&trickled), NONE);
        r.sweep(t0 + secs(15.1));
        assert_eq!(asked(&trickled), CLOSE);
    }

    #[test]
    fn a_body_read_whole_stops_its_timeout() {
        let r = registry(8);
        let a = r.admit().expect("room");
        let t0 = Instant::now();
        a.conn.request_started();
        r.sweep(t0 + secs(1.0));
        a.conn.body_received(); // a slow answer from here (a `slow-` scenario)
        r.sweep(t0 + secs(9.0));
        r.sweep(t0 + secs(100.0));
        assert_eq!(asked(&a), NONE);
    }

    #[test]
    fn at_the_limit_the_connection_idle_the_longest_is_asked_to_close_never_the_newest() {
        let r = registry(3);
        let a = r.admit().expect("room");
        let b = r.admit().expect("room");
        // `a` and `b` served a request since the last sweep; `c` was just accepted and
        // its first request may be on its way.
        served(&a);
        served(&b);
        let c = r.admit().expect("room");
        let d = r.admit().expect("room made");
        assert_eq!((asked(&a), asked(&b), asked(&c)), (CLOSE, NONE, NONE));
        // `a` is on its way out and not counted; next is `b`, then `c`, never one being
        // answered.
        answering(&b);
        let e = r.admit().expect("room made");
        assert_eq!((asked(&b), asked(&c), asked(&d)), (NONE, CLOSE, NONE));
        answering(&d);
        answering(&e);
        assert!(
            r.admit().is_none(),
            "every live connection is being answered"
        );
        assert_eq!((asked(&b), asked(&d), asked(&e)), (NONE, NONE, NONE));
        assert_eq!(counted(&r), 3);
    }

    #[test]
    fn when_none_is_idle_the_body_arriving_the_longest_is_evicted() {
        let r = registry(3);
        let answered = r.admit().expect("room");
        let older_body = r.admit().expect("room");
        let newer_body = r.admit().expect("room");
        answering(&answered);
        older_body.conn.request_started();
        newer_body.conn.request_started();
        let _d = r.admit().expect("room made");
        assert_eq!(
            (asked(&answered), asked(&older_body), asked(&newer_body)),
            (NONE, CLOSE, NONE)
        );
    }

    #[test]
    fn a_connection_kept_for_a_request_that_arrived_just_then_makes_another_close() {
        let r = registry(3);
        let a = r.admit().expect("room");
        let b = r.admit().expect("room");
        let c = r.admit().expect("room");
        let d = r.admit().expect("room made");
        assert_eq!(asked(&a), CLOSE);
        // `a` read a request before closing: it stays, and `b` goes in its place.
        a.conn.request_started();
        r.keep(a.slot);
        assert_eq!(
            (asked(&a), asked(&b), asked(&c), asked(&d)),
            (NONE, CLOSE, NONE, NONE)
        );
        assert_eq!(counted(&r), 3, "back at the limit");
        drop(b);
        assert_eq!(r.open(), 3);
    }

    #[test]
    fn when_no_other_can_close_a_kept_connection_passes_the_limit_by_one_and_new_ones_are_refused()
    {
        let r = registry(1);
        let a = r.admit().expect("room");
        let b = r.admit().expect("room made");
        assert_eq!(asked(&a), CLOSE);
        answering(&a);
        r.keep(a.slot);
        // The only other is `b`, just accepted: asked in its turn.
        assert_eq!(asked(&b), CLOSE);
        answering(&b);
        r.keep(b.slot);
        assert_eq!((asked(&a), asked(&b)), (NONE, NONE));
        assert_eq!(counted(&r), 2);
        assert!(r.admit().is_none());
        a.conn.request_finished();
        let _c = r.admit().expect("room made");
        assert_eq!(asked(&a), CLOSE);
    }

    #[test]
    fn an_eviction_looks_at_a_bounded_number_of_connections_and_the_next_looks_further() {
        let n = 2 * EVICT_SCAN + 10;
        let r = registry(n + 1);
        let busy: Vec<Registration> = (0..n).map(|_| r.admit().expect("room")).collect();
        for b in &busy {
            answering(b);
        }
        let idle = r.admit().expect("room");
        assert!(
            r.admit().is_none(),
            "first scan: {EVICT_SCAN} being answered"
        );
        assert!(r.admit().is_none(), "second scan: the next {EVICT_SCAN}");
        let _new = r.admit().expect("third scan reaches the idle one");
        assert_eq!(asked(&idle), CLOSE);
        assert!(busy.iter().all(|b| asked(b) == NONE));
    }

    #[test]
    fn evictions_follow_accept_order_then_activity_through_removals() {
        let r = registry(100);
        let mut regs: Vec<Option<Registration>> = (0..6).map(|_| r.admit()).collect();
        regs[1] = None;
        regs[4] = None;
        served(regs[2].as_ref().expect("kept"));
        r.sweep(Instant::now()); // seen active: to the back
        let mut order = Vec::new();
        while r.evict() {
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
        regs.clear();
        assert_eq!(r.open(), 0);
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

    /// A connection served by [`drive`] with a service that answers `200 ok` at once,
    /// bookkept as the server does.
    fn driven(stream: tokio::net::TcpStream, reg: Registration) -> tokio::task::JoinHandle<()> {
        let conn = reg.conn.clone();
        let service = hyper::service::service_fn(move |_req| {
            conn.request_started();
            conn.body_received();
            conn.request_finished();
            std::future::ready(Ok::<_, std::convert::Infallible>(hyper::Response::new(
                http_body_util::Full::new(bytes::Bytes::from_static(b"ok")),
            )))
        });
        let io = hyper_util::rt::TokioIo::new(crate::server::io::Io::new(stream, reg.conn.clone()));
        let conn = http1::Builder::new().serve_connection(io, service);
        tokio::spawn(drive(conn, reg))
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_request_already_in_the_socket_when_its_connection_is_evicted_is_answered() {
        use std::io::{Read, Write};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let mut client =
            std::net::TcpStream::connect(listener.local_addr().expect("bound")).expect("connects");
        let (server_side, _) = listener.accept().await.expect("accepted");
        let r = registry(1);
        let a = r.admit().expect("room");
        let a_conn = a.conn.clone();
        let task = driven(server_side, a);
        // Its task waits for a request.
        tokio::task::yield_now().await;
        // Written, then the connection chosen to close before the runtime saw the socket
        // readable: this thread has not yielded since.
        client
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .expect("written");
        let b = r.admit().expect("room made");
        assert_eq!(a_conn.command(), CLOSE);
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("a timeout");
        let mut got = [0u8; 15];
        // The client is handed back, kept open until the end: its close would end `a`.
        let (got, _client) = tokio::task::spawn_blocking(move || {
            client.read_exact(&mut got).map(|()| (got, client))
        })
        .await
        .expect("the read finishes")
        .expect("answered");
        assert_eq!(&got, b"HTTP/1.1 200 OK");
        // It stayed for its request, and the newest connection was asked to close in its
        // place to keep the limit.
        assert_eq!(asked(&b), CLOSE);
        assert_eq!(counted(&r), 1);
        task.abort();
    }
}
