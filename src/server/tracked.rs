//! [`Tracked`]: the part of a connection other tasks can see: how far its current
//! request has got, how many bytes it has read, and what it has been asked to do.
//!
//! At the bottom of the server: the connection bookkeeping (`connection`), the socket
//! wrapper (`io`), the answer's body (`response`) and the pipeline all use it, and it
//! uses none of them.
//!
//! Every counter is written only by the connection's own task (hyper calls the
//! service, polls the pipeline, reads the socket and drops the answer's body there), so
//! a load and a store replace an atomic add; other tasks only read them, and what they
//! read may be a moment old. The connection's own task re-checks before acting.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};

use tokio::sync::Notify;

/// What a connection's task is asked to do, in rising order: a later ask never lowers an
/// earlier one (see [`Tracked::ask`]).
pub const NONE: u8 = 0;
/// Close unless a request is being answered or began just now (a timeout, or evicted
/// for a new connection).
pub const CLOSE: u8 = 1;
/// Answer what was already sent, then close: the server is shutting down.
pub const SHUTDOWN: u8 = 2;
/// Close now, whatever is in flight: the drain time is over.
pub const HARD_STOP: u8 = 3;

/// Where a connection is with its current request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No request in flight: between requests, or a head not yet complete.
    Idle,
    /// The head was read and the request handed to the pipeline, its body is still
    /// arriving: not yet a complete request.
    ReadingBody,
    /// The whole request was read; its answer is being made, delayed or sent.
    Answering,
}

#[derive(Debug, Default)]
pub struct Tracked {
    /// Requests handed to the pipeline.
    started: AtomicU64,
    /// `started` as of the moment the latest request's body was read whole (or its
    /// answer was made without reading it).
    received: AtomicU64,
    /// Requests whose answer is done (its body sent to hyper or dropped).
    finished: AtomicU64,
    /// Bytes read from the socket: tells the sweeper a request head or body is moving.
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

    /// Called by the connection's own task when the current request's body has been
    /// read whole, or its answer is ready without it. Idempotent.
    pub fn body_received(&self) {
        self.received.store(self.started.load(Relaxed), Relaxed);
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

    pub fn started(&self) -> u64 {
        self.started.load(Relaxed)
    }

    pub fn bytes_in(&self) -> u64 {
        self.bytes_in.load(Relaxed)
    }

    /// Exact on the connection's own task; a moment old elsewhere.
    pub fn phase(&self) -> Phase {
        let started = self.started.load(Relaxed);
        if started == self.finished.load(Relaxed) {
            Phase::Idle
        } else if started == self.received.load(Relaxed) {
            Phase::Answering
        } else {
            Phase::ReadingBody
        }
    }

    /// The latest ask.
    pub fn command(&self) -> u8 {
        self.command.load(Relaxed)
    }

    /// Asked to close or to shut down: reads then look at the socket itself rather than
    /// wait for the runtime to report it readable (see `io`).
    pub fn asked(&self) -> bool {
        self.command() != NONE
    }

    /// Shutdown has begun: answers close the connection.
    pub fn shutting_down(&self) -> bool {
        self.command() >= SHUTDOWN
    }

    /// Ask the connection's task to do `what`, unless it was already asked for as much.
    /// Returns whether this ask was new.
    pub fn ask(&self, what: u8) -> bool {
        let was = self.command.fetch_max(what, Relaxed);
        if was < what {
            self.wake.notify_one();
        }
        was < what
    }

    /// Take back an ask to close (the connection stays); a later ask is left alone.
    pub fn withdraw_close(&self) {
        let _ = self.command.compare_exchange(CLOSE, NONE, Relaxed, Relaxed);
    }

    /// Completes after the next ask (or at once if one came since the last wait).
    pub async fn asked_again(&self) {
        self.wake.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_reading_its_body_until_it_is_received_then_answering_until_done() {
        let t = Tracked::default();
        assert_eq!(t.phase(), Phase::Idle);
        t.request_started();
        assert_eq!(t.phase(), Phase::ReadingBody);
        t.body_received();
        t.body_received();
        assert_eq!(t.phase(), Phase::Answering);
        t.request_finished();
        assert_eq!(t.phase(), Phase::Idle);
        // The next request starts over, whatever the last one marked.
        t.request_started();
        assert_eq!(t.phase(), Phase::ReadingBody);
        t.request_finished(); // dropped without an answer (the `reset` fault)
        assert_eq!(t.phase(), Phase::Idle);
    }

    #[test]
    fn asks_only_rise_and_only_a_close_can_be_withdrawn() {
        let t = Tracked::default();
        assert!(!t.asked());
        assert!(t.ask(CLOSE));
        assert!(!t.ask(CLOSE), "asked already");
        t.withdraw_close();
        assert_eq!(t.command(), NONE);
        assert!(t.ask(SHUTDOWN));
        assert!(!t.ask(CLOSE), "a lower ask does not lower a higher one");
        t.withdraw_close();
        assert_eq!(t.command(), SHUTDOWN);
        assert!(t.shutting_down());
    }
}
