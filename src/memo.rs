//! What vendors derive from pure inputs, kept so that it is not derived again per request:
//! [`Memo`], a bounded cache, and [`Template`], an answer rendered once with holes that
//! each request fills with its own values (its request id, the mock clock's time).
//!
//! Generating an answer's data means seeding RNGs (a SHA-256 each), drawing, building a
//! `serde_json::Value` and serializing it; for a small answer that is ten to thirty
//! times the work of serving its bytes. What is drawn depends only on the seed, the
//! entity and a few request fields, so a vendor keeps the rendered bytes under a key made
//! of exactly those inputs ([`Key`]) and fills in the rest.
//!
//! The rules that keep a cache from changing an answer (every use says how it keeps them):
//! the key holds every input of what is kept (never a hash of them alone, never a
//! pointer); what is per request (clock, issued ids, echoed fields) is a hole; a scenario
//! step with a `patch` is rendered as JSON as before, since the patch applies to the
//! JSON. A [`Memo::cold`] cache keeps nothing and makes its users render the old way,
//! which is what the vendors' cold-and-warm tests compare the cached bytes with.
//!
//! Bounded by count and by bytes; the oldest entries are evicted first, and an entry
//! larger than a quarter of the byte budget is not kept. [`Memo::approx_bytes`] is what
//! it holds, for the server's memory budget. Besides, each thread's last value is kept
//! in a front slot of the memo's own ([`front_count`] of them, each holding one value the
//! map kept, together at most a quarter of the byte budget, emptied by [`Memo::clear`]),
//! so that a worker asking for the same key again takes no shared lock and hashes nothing.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, TryLockError};

use bytes::Bytes;
use serde_json::Value;

use crate::FastMap;

/// How much a [`Memo`] may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub entries: usize,
    pub bytes: usize,
}

/// A cache key: the inputs of a pure function, each written with its length in front,
/// so two different lists of inputs never give the same key.
#[derive(Debug, Default, Clone)]
pub struct Key(Vec<u8>);

/// Room for the longest keys made per request (Credolab's, about 100 bytes) without
/// growing.
const KEY_ROOM: usize = 256;

thread_local! {
    /// The buffer of this thread's last dropped [`Key`], taken by its next one: a key is
    /// made and dropped on every request of a vendor that caches, and the map keeps a
    /// copy of its bytes, never the buffer. One small buffer per thread stays alive.
    static SPARE_KEY: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Key {
    pub fn new(kind: &str) -> Self {
        let mut buf = crate::spare::take(&SPARE_KEY);
        buf.reserve(KEY_ROOM);
        let mut k = Self(buf);
        k.str(kind);
        k
    }

    pub fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(&(b.len() as u64).to_le_bytes());
        self.0.extend_from_slice(b);
        self
    }

    pub fn u64(&mut self, n: u64) -> &mut Self {
        self.0.extend_from_slice(&n.to_le_bytes());
        self
    }

    pub fn i64(&mut self, n: i64) -> &mut Self {
        self.u64(n as u64)
    }

    pub fn flag(&mut self, b: bool) -> &mut Self {
        self.0.push(u8::from(b));
        self
    }

    /// An optional string: absent and empty differ.
    pub fn opt(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            None => self.flag(false),
            Some(s) => self.flag(true).str(s),
        }
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        // Kept for the thread's next key unless a long key grew it, or it is too small
        // to spare the next key its growing (a default or cloned key's): such a buffer
        // would only push out a better spare.
        if self.0.capacity() >= KEY_ROOM {
            crate::spare::keep(&SPARE_KEY, std::mem::take(&mut self.0), 4 * KEY_ROOM);
        }
    }
}

/// A bounded cache of a pure function's results, shared by the threads of a server.
/// Std rwlock, held for one map operation (and, shared, while [`Memo::with`] reads the
/// value found), never while the value is made. Every worker reads the same few entries,
/// so a read takes no clone: a shared counter written on every request would move
/// between the cores' caches. For the same reason a worker's repeated key is read from
/// its own front slot ([`Front`]), not under the map's lock, whose count every reader
/// writes.
#[derive(Debug)]
pub struct Memo<V> {
    inner: RwLock<Fifo<V>>,
    budget: Budget,
    /// `inner`'s bytes, readable without its lock; a server's shared cache counts them
    /// in the server's total as they change ([`Memo::counted_in`]).
    bytes: crate::budget::Gauge,
    /// The threads' front slots: [`front_count`] of them, none in a cold memo.
    fronts: Box<[Front<V>]>,
    /// The largest value (as sized for the map) a front slot holds: the slots together
    /// hold at most a quarter of the byte budget beyond it.
    front_max: usize,
    /// How many times the memo was cleared: a front slot's value from before the last
    /// clear is not read.
    generation: AtomicU64,
    /// Values made and values found, for tests.
    #[cfg(test)]
    made: std::sync::atomic::AtomicUsize,
    #[cfg(test)]
    found: std::sync::atomic::AtomicUsize,
    /// Of the values found, those read from the thread's front slot.
    #[cfg(test)]
    front_hits: std::sync::atomic::AtomicUsize,
}

/// How many front slots a memo has: twice the cores, 8 to 64. A thread takes the one its
/// number picks ([`front_index`]); threads are numbered as they first use a memo, and a
/// server's runtime workers (one a core, living as long as the server) answer every
/// request that does, so each has a slot of its own. Past that many threads (tests, many
/// cores) slots are shared: a slot another thread holds is passed by, never waited for.
pub fn front_count() -> usize {
    static COUNT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *COUNT.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .saturating_mul(2)
            .clamp(8, 64)
    })
}

/// One thread's last value of a memo, with its key: a copy of the handle the map kept (an
/// `Arc` in every use), so it holds no memory of its own while the map keeps the value,
/// and one value of at most [`Memo::front_max`] bytes once the map has evicted it, until
/// the thread's next use or a clear. On its own cache lines
/// (128 bytes: the pair the prefetcher fetches together), so a worker's lock of its own
/// slot writes no line another worker reads.
#[derive(Debug)]
#[repr(align(128))]
struct Front<V>(Mutex<Option<Recent<V>>>);

/// A thread's hold on its front slot.
type FrontGuard<'a, V> = std::sync::MutexGuard<'a, Option<Recent<V>>>;

#[derive(Debug)]
struct Recent<V> {
    /// The memo's [`Memo::generation`] when the value was found or made.
    generation: u64,
    key: Vec<u8>,
    value: V,
}

impl<V> Front<V> {
    fn empty() -> Self {
        Self(Mutex::new(None))
    }

    /// Note `value` as the thread's last, under `key`, reusing the key's buffer; the
    /// value it replaces, to be dropped once no lock is held.
    fn remember(slot: &mut Option<Recent<V>>, generation: u64, key: &[u8], value: V) -> Option<V> {
        match slot {
            Some(r) => {
                r.generation = generation;
                r.key.clear();
                r.key.extend_from_slice(key);
                Some(std::mem::replace(&mut r.value, value))
            }
            None => {
                *slot = Some(Recent {
                    generation,
                    key: key.to_vec(),
                    value,
                });
                None
            }
        }
    }
}

/// This thread's front slot in every memo ([`front_count`]).
fn front_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
    }
    INDEX
        .try_with(|i| {
            if i.get() == usize::MAX {
                i.set(NEXT.fetch_add(1, Ordering::Relaxed) % front_count());
            }
            i.get()
        })
        .unwrap_or(0)
}

impl<V: Clone> Memo<V> {
    pub fn new(budget: Budget) -> Self {
        Self::with_gauge(budget, crate::budget::Gauge::default())
    }

    /// A memo whose bytes are counted in `total` as they change: a server's shared
    /// cache, in the server's total ([`crate::budget::Total`]).
    pub fn counted_in(budget: Budget, total: &crate::budget::Total) -> Self {
        Self::with_gauge(budget, crate::budget::Gauge::counted_in(total))
    }

    fn with_gauge(budget: Budget, bytes: crate::budget::Gauge) -> Self {
        let fronts = if budget.entries == 0 {
            0
        } else {
            front_count()
        };
        Self {
            inner: RwLock::new(Fifo::default()),
            budget,
            bytes,
            fronts: (0..fronts).map(|_| Front::empty()).collect(),
            front_max: budget.bytes / 4 / fronts.max(1),
            generation: AtomicU64::new(0),
            #[cfg(test)]
            made: std::sync::atomic::AtomicUsize::new(0),
            #[cfg(test)]
            found: std::sync::atomic::AtomicUsize::new(0),
            #[cfg(test)]
            front_hits: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// A cache that keeps nothing: [`Memo::get_or_make`] never makes a value, and its
    /// users answer the way they did before there was a cache.
    pub fn cold() -> Self {
        Self::new(Budget {
            entries: 0,
            bytes: 0,
        })
    }

    /// The value under `key`, made by `make` (with its size in bytes) unless kept.
    /// `None` from a cold cache (`make` is not called) or when `make` gives none.
    pub fn get_or_make(&self, key: &Key, make: impl FnOnce() -> Option<(V, usize)>) -> Option<V> {
        self.with(key, make, V::clone)
    }

    /// `read` of the value under `key` (made by `make`, with its size in bytes, unless
    /// kept), read in place (in this thread's front slot, or under the shared lock) when
    /// it is kept: `read` must not use this memo. `None` from a cold cache (neither is
    /// called) or when `make` gives none.
    pub fn with<R>(
        &self,
        key: &Key,
        make: impl FnOnce() -> Option<(V, usize)>,
        read: impl FnOnce(&V) -> R,
    ) -> Option<R> {
        if self.budget.entries == 0 {
            return None;
        }
        let generation = self.generation.load(Ordering::Acquire);
        let front = self.front();
        if let Some(Some(r)) = front.as_deref() {
            if r.generation == generation && r.key == key.0 {
                #[cfg(test)]
                {
                    self.found.fetch_add(1, Ordering::Relaxed);
                    self.front_hits.fetch_add(1, Ordering::Relaxed);
                }
                return Some(read(&r.value));
            }
        }
        let inner = crate::lock::read(&self.inner);
        if let Some((kept, size)) = inner.map.get(key.0.as_slice()) {
            let r = read(kept);
            // A handle only for a slot this thread holds and may fill.
            let value = (front.is_some() && *size <= self.front_max).then(|| kept.clone());
            drop(inner);
            #[cfg(test)]
            self.found.fetch_add(1, Ordering::Relaxed);
            if let Some(value) = value {
                Self::remember(front, generation, key, value);
            }
            return Some(r);
        }
        drop(inner);
        // Made with no lock held (`make` may use this memo, even clear it: the value
        // then goes in front with the generation from before, and is not read from it).
        drop(front);
        let (v, size) = make()?;
        #[cfg(test)]
        self.made.fetch_add(1, Ordering::Relaxed);
        let r = read(&v);
        let size = size + 2 * key.0.len() + ENTRY_OVERHEAD;
        // What the map keeps under the key (this value, or one another thread made
        // first), for the front: a value the map refused is not held.
        let kept = {
            let mut inner = crate::lock::write(&self.inner);
            let kept = inner
                .insert(key.0.as_slice().into(), v, size, self.budget)
                .filter(|(_, size)| *size <= self.front_max)
                .map(|(kept, _)| kept.clone());
            self.bytes.set(inner.bytes);
            kept
        };
        if let Some(kept) = kept {
            Self::remember(self.front(), generation, key, kept);
        }
        Some(r)
    }

    /// Note `value` in `front` (when this thread has its slot), the value it replaces
    /// dropped once the slot is let go.
    fn remember(front: Option<FrontGuard<'_, V>>, generation: u64, key: &Key, value: V) {
        let Some(mut slot) = front else {
            return;
        };
        let replaced = Front::remember(&mut slot, generation, &key.0, value);
        drop(slot);
        drop(replaced);
    }

    /// This thread's front slot, unless another thread holds it (never waited for).
    fn front(&self) -> Option<FrontGuard<'_, V>> {
        match self.fronts[front_index()].0.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Roughly how many bytes the kept values and their keys hold.
    pub fn approx_bytes(&self) -> usize {
        self.bytes.get()
    }

    /// How many values are kept.
    pub fn len(&self) -> usize {
        crate::lock::read(&self.inner).map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forget everything (the memory only: a cold cache answers the same bytes), the
    /// front slots' values too. One lock at a time: [`Memo::with`] takes a front slot,
    /// then the map's lock.
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let old = {
            let mut inner = crate::lock::write(&self.inner);
            self.bytes.set(0);
            std::mem::take(&mut *inner)
        };
        drop(old);
        for front in &*self.fronts {
            let value = crate::lock::lock(&front.0).take();
            drop(value);
        }
    }

    /// How many values were made rather than found.
    #[cfg(test)]
    pub fn made(&self) -> usize {
        self.made.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many values were found rather than made.
    #[cfg(test)]
    pub fn found(&self) -> usize {
        self.found.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many of the values found were read from the thread's front slot.
    #[cfg(test)]
    pub fn front_hits(&self) -> usize {
        self.front_hits.load(Ordering::Relaxed)
    }
}

/// What an entry costs besides its value and key: the map's slot, the order queue's,
/// allocation headers.
const ENTRY_OVERHEAD: usize = 96;

/// A map bounded by count and bytes that evicts its oldest entries first.
#[derive(Debug)]
struct Fifo<V> {
    map: FastMap<Box<[u8]>, (V, usize)>,
    /// Keys, oldest first.
    order: VecDeque<Box<[u8]>>,
    bytes: usize,
}

impl<V> Default for Fifo<V> {
    fn default() -> Self {
        Self {
            map: FastMap::default(),
            order: VecDeque::new(),
            bytes: 0,
        }
    }
}

impl<V> Fifo<V> {
    /// Keep `v` (of `size` bytes) unless it is over a quarter of the budget, evicting the
    /// oldest entries until both bounds hold. What is kept under the key, with its size:
    /// `v`, or the value already there (`v` is then dropped); `None` if `v` is refused.
    fn insert(&mut self, k: Box<[u8]>, v: V, size: usize, budget: Budget) -> Option<&(V, usize)> {
        if size > budget.bytes / 4 || budget.entries == 0 {
            return None;
        }
        if self.map.contains_key(&k) {
            return self.map.get(&k);
        }
        while self.map.len() >= budget.entries || self.bytes + size > budget.bytes {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some((_, s)) = self.map.remove(&old) {
                self.bytes -= s;
            }
        }
        self.bytes += size;
        self.order.push_back(k.clone());
        Some(self.map.entry(k).or_insert((v, size)))
    }
}

/// An answer's bytes with holes: the serialized JSON cut where each hole was, so a
/// request writes its own values there ([`Template::fill`]). A handle: cloning it
/// shares the bytes (the journal keeps one per answer it shows from a template,
/// [`Filled`]).
#[derive(Debug, Clone)]
pub struct Template(Arc<Shape>);

/// What a [`Template`] shares. On a cache line of its own, past the `Arc`'s counts: the
/// journal writes the counts on every answer it keeps (from either runtime worker),
/// while every fill reads these fields.
#[derive(Debug)]
#[repr(align(64))]
struct Shape {
    /// One more than the holes: the bytes before the first hole, between holes, after
    /// the last.
    parts: Vec<Bytes>,
    /// The hole at each cut, in the order they appear in the bytes.
    holes: Vec<usize>,
    /// The parts' bytes together ([`Template::len`]), counted once.
    len: usize,
    /// [`Template::heap_bytes`], counted once.
    heap: usize,
    /// About the widest the holes' values were together in a fill so far (two fills at
    /// once may leave the narrower's width), up to
    /// [`LEARNED_MAX`] (0 before the first): the room a fill makes for them, so that an
    /// answer whose values keep their width fills a buffer of exactly its length, which
    /// `Bytes` takes without allocating a shared header (and frees without an atomic
    /// count). A hint only: a wrong one costs a reallocation, never a different byte.
    widest: std::sync::atomic::AtomicU32,
}

/// The most hole bytes [`Shape::widest`] learns: a client's long value in one answer
/// does not make every later fill reserve room for it.
const LEARNED_MAX: u32 = 256;

/// The most holes a template has (FinBox's has three): [`Filled`] notes where each
/// ends without allocating.
pub const MAX_HOLES: usize = 4;

/// An answer filled from a [`Template`]: its bytes, the template and where each hole's
/// value ends in the bytes, so that what is kept of the answer (the journal's entry) can
/// share the template's bytes and copy only the holes' ([`Filled::holes`]), and the
/// answer's own buffer is freed once it is sent.
#[derive(Debug, Clone)]
pub struct Filled {
    pub bytes: Bytes,
    /// The template, for an answer the journal would keep by reference (from
    /// [`journal::REFERENCED_MIN`](crate::journal::REFERENCED_MIN) bytes on; a shorter
    /// one is copied, and sharing the template would only cost its count's writes).
    pub template: Option<Template>,
    /// Where the value of the hole at each cut ends in `bytes`, for the template's cuts.
    ends: [u32; MAX_HOLES],
}

impl Filled {
    /// Where the value at each cut ends in the bytes, and the values, in the order they
    /// appear in the bytes. `None` without the template.
    pub fn holes(&self) -> Option<(&[u32], impl Iterator<Item = &[u8]> + '_)> {
        let parts = &self.template.as_ref()?.0.parts;
        let ends = &self.ends[..parts.len() - 1];
        let mut at = 0;
        let values = ends.iter().zip(parts).map(move |(&end, part)| {
            let start = at + part.len();
            at = end as usize;
            &self.bytes[start..at]
        });
        Some((ends, values))
    }
}

impl Template {
    /// The placeholder for hole `i`: put it where the answer has a per-request value (as
    /// a JSON string; the filled value may be any JSON).
    pub fn hole(i: usize) -> String {
        format!("\u{1}vendor-mock-hole-{i}\u{1}")
    }

    /// Cut `v`, which holds the placeholders of holes `0..holes`, each once. `None` if a
    /// placeholder is missing or appears more than once (say, in a string a client sent),
    /// or for more than [`MAX_HOLES`] holes: the caller then renders the old way.
    pub fn from_json(v: &Value, holes: usize) -> Option<Template> {
        if holes > MAX_HOLES {
            return None;
        }
        let bytes = serde_json::to_vec(v).expect("a serde_json::Value always serializes");
        let text = std::str::from_utf8(&bytes).expect("serde_json writes UTF-8");
        let mut at: Vec<(usize, usize, usize)> = Vec::with_capacity(holes);
        for i in 0..holes {
            let needle = serde_json::to_string(&Self::hole(i)).expect("a string serializes");
            let mut found = text.match_indices(&needle);
            let (start, _) = found.next()?;
            if found.next().is_some() {
                return None;
            }
            at.push((start, start + needle.len(), i));
        }
        at.sort_unstable();
        let mut parts = Vec::with_capacity(holes + 1);
        let mut from = 0;
        for &(start, end, _) in &at {
            parts.push(Bytes::copy_from_slice(&bytes[from..start]));
            from = end;
        }
        parts.push(Bytes::copy_from_slice(&bytes[from..]));
        let holes: Vec<usize> = at.into_iter().map(|(_, _, i)| i).collect();
        // What a holder of one more handle keeps alive: each part's buffer, rounded as
        // the allocator rounds it, with the header a `Bytes` made from a `Vec` may share,
        // the lists of parts and holes, and the shared block.
        let heap = parts
            .iter()
            .map(|p| crate::budget::heap(p.len()) + crate::budget::heap(24))
            .sum::<usize>()
            + crate::budget::heap(parts.capacity() * std::mem::size_of::<Bytes>())
            + crate::budget::heap(holes.capacity() * std::mem::size_of::<usize>())
            + crate::budget::heap(std::mem::size_of::<ArcShape>());
        Some(Template(Arc::new(Shape {
            len: parts.iter().map(Bytes::len).sum(),
            parts,
            holes,
            heap,
            widest: std::sync::atomic::AtomicU32::new(0),
        })))
    }

    /// The bytes, with `write(i, out)` writing hole `i`'s JSON value.
    pub fn fill(&self, extra: usize, write: impl FnMut(usize, &mut Vec<u8>)) -> Vec<u8> {
        self.fill_noting(extra, write, |_, _| {})
    }

    /// [`Template::fill`], kept with the template and where each hole ends.
    pub fn filled(&self, extra: usize, write: impl FnMut(usize, &mut Vec<u8>)) -> Filled {
        let mut ends = [0u32; MAX_HOLES];
        let bytes = self.fill_noting(extra, write, |cut, end| {
            // An answer is far below 4 GiB.
            ends[cut] = u32::try_from(end).unwrap_or(u32::MAX);
        });
        Filled {
            template: (bytes.len() >= crate::journal::REFERENCED_MIN).then(|| self.clone()),
            bytes: Bytes::from(bytes),
            ends,
        }
    }

    fn fill_noting(
        &self,
        extra: usize,
        mut write: impl FnMut(usize, &mut Vec<u8>),
        mut note: impl FnMut(usize, usize),
    ) -> Vec<u8> {
        use std::sync::atomic::Ordering::Relaxed;
        let shape = &*self.0;
        // Read and written relaxed: a hint for the capacity, which nothing else reads.
        let widest = shape.widest.load(Relaxed);
        let room = if widest == 0 { extra } else { widest as usize };
        let mut out = Vec::with_capacity(shape.len + room);
        for (cut, (part, hole)) in shape.parts.iter().zip(&shape.holes).enumerate() {
            out.extend_from_slice(part);
            write(*hole, &mut out);
            note(cut, out.len());
        }
        out.extend_from_slice(shape.parts.last().expect("a template has a last part"));
        // Written only when it grows: a fill of the usual width writes nothing to the
        // line every worker reads.
        let wide = u32::try_from(out.len() - shape.len).unwrap_or(u32::MAX);
        if wide > widest && wide <= LEARNED_MAX {
            shape.widest.store(wide, Relaxed);
        }
        out
    }

    /// Whether `other` is a handle on the same template (not merely equal bytes).
    pub fn same(&self, other: &Template) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The bytes between the holes, in order (one more than the holes).
    pub fn parts(&self) -> &[Bytes] {
        &self.0.parts
    }

    /// The bytes without the holes.
    pub fn len(&self) -> usize {
        self.0.len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What it holds on the heap, roughly.
    pub fn approx_bytes(&self) -> usize {
        self.len() + self.0.parts.len() * 48 + self.0.holes.len() * 8
    }

    /// What it holds on the heap, as a holder of one more handle keeps alive: its
    /// parts' buffers (rounded as the allocator rounds them), the lists of parts and
    /// holes and the shared block.
    pub fn heap_bytes(&self) -> usize {
        self.0.heap
    }

    /// How many handles share these bytes, for tests.
    #[cfg(test)]
    pub fn holders(&self) -> usize {
        Arc::strong_count(&self.0)
    }
}

/// The block an `Arc<Shape>` allocates: its two counts, then the shape on a line of its own.
#[allow(dead_code)]
#[repr(C)]
struct ArcShape {
    counts: [usize; 2],
    shape: Shape,
}

/// Write `s` as a JSON string, as serde_json does: between quotes as it is when it has
/// nothing serde_json escapes ([`special`] finds no such byte: what fills a template
/// hole, ids and dates, and most Feature Store values never have), else through
/// serde_json, whose writer goes through `io::Write` a run at a time.
pub fn json_str(out: &mut Vec<u8>, s: &str) {
    if special(s.as_bytes()) != s.len() {
        serde_json::to_writer(out, s).expect("writing to a Vec never fails");
        return;
    }
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

/// A JSON string of text written by hand when there is some (`digits`: digits and
/// separators, nothing JSON escapes, written between quotes as they are), else of
/// `fallback`'s text through [`json_str`]: a generated time, whose hand-written digits
/// give way to chrono's rendering outside the years and seconds they cover.
pub fn json_digits_or(out: &mut Vec<u8>, digits: Option<&[u8]>, fallback: impl FnOnce() -> String) {
    match digits {
        Some(d) => {
            out.reserve(d.len() + 2);
            out.push(b'"');
            out.extend_from_slice(d);
            out.push(b'"');
        }
        None => json_str(out, &fallback()),
    }
}

/// Where the first `"`, `\\` or control character (below 0x20) of `b` is (`b.len()` if
/// none), eight bytes at a time: each test below flags exactly the bytes that are one,
/// except bytes after a flagged one (a borrow only crosses from a byte that is), so the
/// lowest flag is the first such byte. [`json_str`] and the vendors' plain body readers
/// (`vendors::plain_json`) scan with it.
#[inline]
pub fn special(b: &[u8]) -> usize {
    const LO: u64 = u64::from_le_bytes([0x01; 8]);
    const HI: u64 = u64::from_le_bytes([0x80; 8]);
    let zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let mut chunks = b.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let x = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        let flags = x.wrapping_sub(0x20 * LO) & !x & HI
            | zero(x ^ (u64::from(b'"') * LO))
            | zero(x ^ (u64::from(b'\\') * LO));
        if flags != 0 {
            // Little-endian: the lowest bits are the first byte.
            return at + flags.trailing_zeros() as usize / 8;
        }
        at += 8;
    }
    at + chunks
        .remainder()
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .unwrap_or(chunks.remainder().len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(n: u64) -> Key {
        let mut k = Key::new("t");
        k.u64(n);
        k
    }

    #[test]
    fn strings_put_plainly_are_serde_jsons() {
        let controls: String = (0u8..0x20).map(char::from).collect();
        let mut cases: Vec<String> = [
            "",
            "abc",
            "code",
            "639181234567",
            "2026-01-15T10:00:00:000",
            "d573c4f9-6ad0-4009-ad8b-5fd44e9a17ae",
            "a b",
            "a\"b",
            "back\\slash",
            "tab\there",
            "new\nline",
            "x\n",
            "\u{0}",
            "\u{1f}",
            "\u{7f}del",
            "~",
            "/",
            " ",
            "!#[]",
            "\u{ff}\u{80}",
            "é€𝄞",
            "été ünïcödé 日本 🎉",
            "\u{2028}\u{2029}",
            "</script>",
            controls.as_str(),
            "\"",
            "\\",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every ASCII byte and two others at every place of a 17-byte string (two
        // chunks of eight and one byte).
        for c in (0..=0x7f_u8).map(char::from).chain(['é', '\u{10ffff}']) {
            for at in 0..17 {
                let mut t: String = "abcdefghijklmnopq".into();
                t.replace_range(at..=at, &c.to_string());
                cases.push(t);
            }
        }
        for s in &cases {
            let escaped = s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\');
            assert_eq!(special(s.as_bytes()) == s.len(), !escaped, "{s:?}");
            let mut out = b"[".to_vec();
            json_str(&mut out, s);
            let mut want = b"[".to_vec();
            serde_json::to_writer(&mut want, s).unwrap();
            assert_eq!(out, want, "{s:?}");
        }
    }

    #[test]
    fn a_memo_keeps_both_bounds_and_evicts_the_oldest_first() {
        let m: Memo<u64> = Memo::new(Budget {
            entries: 3,
            bytes: 4000,
        });
        for i in 0..4 {
            assert_eq!(m.get_or_make(&key(i), || Some((i, 10))), Some(i));
        }
        assert_eq!(m.len(), 3);
        // 0 was evicted: asked again, it is made again.
        assert_eq!(m.get_or_make(&key(0), || Some((100, 10))), Some(100));
        assert_eq!(m.get_or_make(&key(3), || Some((300, 10))), Some(3));
        assert!(m.approx_bytes() <= 4000);
        // Over a quarter of the bytes: answered, not kept.
        assert_eq!(m.get_or_make(&key(9), || Some((9, 1001))), Some(9));
        assert_eq!(m.get_or_make(&key(9), || Some((90, 10))), Some(90));
        let big: Memo<u64> = Memo::new(Budget {
            entries: 100,
            bytes: 1000,
        });
        for i in 0..50 {
            big.get_or_make(&key(i), || Some((i, 100)));
            assert!(big.approx_bytes() <= 1000, "{}", big.approx_bytes());
        }
        m.clear();
        assert_eq!((m.len(), m.approx_bytes()), (0, 0));
    }

    /// A thread's repeated key is read from its front slot, a handle on what the map
    /// kept: the same value, nothing made again. The slot holds the thread's last value
    /// only (an evicted value it no longer holds is freed), never one the map refused or
    /// one over its share of the budget, and a clear lets every handle go at once (what
    /// a reset frees); the next read makes the value again.
    #[test]
    fn a_repeated_key_is_read_from_the_threads_front_which_holds_only_what_the_map_kept() {
        let budget = Budget {
            entries: 2,
            bytes: 100_000,
        };
        let m: Memo<Arc<String>> = Memo::new(budget);
        assert!(m.front_max >= 300, "small values fit any machine's slots");
        let one = Arc::new("one".to_string());
        let made = m.with(&key(1), || Some((one.clone(), 3)), |v| v.len());
        assert_eq!(made, Some(3));
        assert_eq!(
            Arc::strong_count(&one),
            3,
            "the map's handle and the front's"
        );
        for _ in 0..3 {
            let read = m.with(&key(1), || panic!("kept"), |v| v.to_string());
            assert_eq!(read.as_deref(), Some("one"));
        }
        assert_eq!((m.made(), m.found(), m.front_hits()), (1, 3, 3));
        // The front moves on to key 2; key 3 evicts key 1 from the map.
        m.with(&key(2), || Some((Arc::new("two".into()), 3)), |_| ());
        assert_eq!(Arc::strong_count(&one), 2, "the front let go of it");
        m.with(&key(3), || Some((Arc::new("three".into()), 3)), |_| ());
        assert_eq!(Arc::strong_count(&one), 1, "evicted and in no front: freed");
        // Refused by the map (over a quarter of the bytes): not held in front either.
        let big = Arc::new("big".to_string());
        m.with(
            &key(4),
            || Some((big.clone(), budget.bytes / 4 + 1)),
            |_| (),
        );
        assert_eq!(Arc::strong_count(&big), 1);
        // Kept by the map, but over a slot's share: read under the map's lock.
        let wide = Arc::new("wide".to_string());
        let size = budget.bytes / 4 - 500;
        assert!(size > m.front_max);
        m.with(&key(6), || Some((wide.clone(), size)), |_| ());
        m.with(&key(6), || panic!("kept"), |_| ());
        assert_eq!(Arc::strong_count(&wide), 2, "the map's handle only");
        assert_eq!(m.front_hits(), 3);
        let again = Arc::new("again".to_string());
        m.with(&key(5), || Some((again.clone(), 3)), |_| ());
        assert_eq!(Arc::strong_count(&again), 3);
        m.clear();
        assert_eq!(
            Arc::strong_count(&again),
            1,
            "a clear empties the fronts too"
        );
        let made_before = m.made();
        m.with(&key(5), || Some((Arc::new("made".into()), 3)), |_| ());
        assert_eq!(m.made(), made_before + 1, "after a clear, made again");
    }

    /// `make` runs with no lock held: it may read the memo, or clear it; a value made
    /// before a clear is not read from the front after it. Two makers of one key: the
    /// front holds what the map kept, the later value is let go.
    #[test]
    fn a_value_s_maker_may_use_the_memo_and_even_clear_it() {
        let m: Memo<Arc<u64>> = Memo::new(Budget {
            entries: 8,
            bytes: 100_000,
        });
        let got = m.with(
            &key(1),
            || {
                let inner = m.with(&key(2), || Some((Arc::new(2), 8)), |v| **v);
                m.clear();
                Some((Arc::new(10 + inner.unwrap_or_default()), 8))
            },
            |v| **v,
        );
        assert_eq!(got, Some(12));
        assert_eq!(m.with(&key(1), || panic!("kept"), |v| **v), Some(12));
        assert_eq!(
            m.front_hits(),
            0,
            "made before the clear: read from the map"
        );
        assert_eq!(m.with(&key(1), || panic!("kept"), |v| **v), Some(12));
        assert_eq!(m.front_hits(), 1, "then from the front");
        assert_eq!(m.with(&key(2), || Some((Arc::new(2), 8)), |v| **v), Some(2));
        assert_eq!((m.made(), m.found()), (3, 2));

        let first = Arc::new(7u64);
        let later = Arc::new(7u64);
        let (f, l) = (first.clone(), later.clone());
        m.with(
            &key(3),
            || {
                m.with(&key(3), || Some((f, 8)), |_| ());
                Some((l, 8))
            },
            |_| (),
        );
        assert_eq!(
            Arc::strong_count(&later),
            1,
            "the map kept the first: let go"
        );
        assert_eq!(
            Arc::strong_count(&first),
            3,
            "the map's handle and the front's"
        );
    }

    /// More threads than front slots, sharing them, some keys read again and again, a
    /// clear now and then: every read is the key's own value.
    #[test]
    fn threads_sharing_front_slots_read_each_key_s_own_value() {
        let m: Arc<Memo<Arc<u64>>> = Arc::new(Memo::new(Budget {
            entries: 4,
            bytes: 4000,
        }));
        let threads: Vec<_> = (0..2 * front_count() as u64)
            .map(|t| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for i in 0..2000u64 {
                        let k = if i % 7 == 0 { i % 11 } else { t % 5 };
                        let got = m.with(&key(k), || Some((Arc::new(k * 10), 8)), |v| **v);
                        assert_eq!(got, Some(k * 10), "thread {t}, key {k}");
                        if t == 0 && i % 500 == 0 {
                            m.clear();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no thread saw another key's value");
        }
    }

    #[test]
    fn a_cold_memo_makes_nothing() {
        let m: Memo<u64> = Memo::cold();
        assert_eq!(
            m.get_or_make(&key(1), || panic!("a cold cache makes nothing")),
            None
        );
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn a_value_read_in_place_is_the_one_made_or_kept() {
        let m: Memo<String> = Memo::new(Budget {
            entries: 8,
            bytes: 10_000,
        });
        let made = m.with(&key(1), || Some(("one".into(), 3)), |v| v.to_uppercase());
        assert_eq!(made.as_deref(), Some("ONE"));
        let kept = m.with(
            &key(1),
            || panic!("a kept value is not made again"),
            |v| v.to_uppercase(),
        );
        assert_eq!(kept, made);
        assert_eq!(m.get_or_make(&key(1), || None).as_deref(), Some("one"));
        assert_eq!(m.with(&key(2), || None, |v: &String| v.len()), None);
        assert_eq!((m.made(), m.found()), (1, 2));
        let cold: Memo<String> = Memo::cold();
        let none = cold.with(
            &key(1),
            || panic!("a cold cache makes nothing"),
            |_| panic!("and reads nothing"),
        );
        assert_eq!(none, None::<()>);
    }

    #[test]
    fn a_key_made_on_a_reused_buffer_holds_only_its_own_inputs() {
        let fresh = |kind: &str, n: u64, s: Option<&str>| {
            let mut k = Key(Vec::new());
            k.str(kind).u64(n).opt(s);
            k.0.clone()
        };
        let mut long = Key::new("a-long-kind");
        long.str(&"x".repeat(200)).u64(7);
        let at = long.0.as_ptr();
        drop(long);
        let mut short = Key::new("k");
        short.u64(1).opt(Some("é"));
        assert_eq!(short.0.as_ptr(), at, "the dropped key's buffer is reused");
        assert_eq!(short.0, fresh("k", 1, Some("é")));
        // Two at once: neither writes into the other.
        let mut other = Key::new("k");
        other.u64(2).opt(None);
        assert_eq!(other.0, fresh("k", 2, None));
        assert_eq!(short.0, fresh("k", 1, Some("é")));
        // A key grown past what is kept is freed, not kept.
        drop((short, other));
        let mut huge = Key::new("k");
        huge.str(&"y".repeat(8 * KEY_ROOM));
        drop(huge);
        let next = Key::new("");
        assert!(next.0.capacity() <= 4 * KEY_ROOM);
        assert_eq!(next.0, fresh("", 0, None)[..8].to_vec());
        // A buffer too small to spare a key its growing (a default or a cloned key's)
        // does not push out the spare.
        drop(next);
        let kept = Key::new("k");
        let at = kept.0.as_ptr();
        let copy = kept.clone();
        drop(kept);
        drop(copy);
        drop(Key::default());
        assert_eq!(
            Key::new("k").0.as_ptr(),
            at,
            "the spare outlives small keys"
        );
    }

    #[test]
    fn keys_of_different_inputs_differ() {
        let mut a = Key::new("k");
        a.str("ab").str("c");
        let mut b = Key::new("k");
        b.str("a").str("bc");
        assert_ne!(a.0, b.0);
        let mut c = Key::new("k");
        c.opt(None);
        let mut d = Key::new("k");
        d.opt(Some(""));
        assert_ne!(c.0, d.0);
    }

    #[test]
    fn a_filled_template_is_the_json_with_the_values_in_place() {
        let v = json!({"a": Template::hole(1), "b": [1, {"c": Template::hole(0)}], "d": "é\""});
        let t = Template::from_json(&v, 2).expect("both holes once");
        let out = t.fill(0, |i, out| match i {
            0 => json_str(out, "x\"y"),
            _ => out.extend_from_slice(b"42"),
        });
        let want = json!({"a": 42, "b": [1, {"c": "x\"y"}], "d": "é\""});
        assert_eq!(out, serde_json::to_vec(&want).unwrap());
    }

    #[test]
    fn a_filled_answer_knows_its_holes_and_keeps_its_template_from_the_journals_minimum() {
        let pad = "p".repeat(600);
        let v = json!({"b": Template::hole(2), "pad": pad, "a": Template::hole(0), "c": Template::hole(1)});
        let t = Template::from_json(&v, 3).expect("each hole once");
        let values = ["", "\"é\"", "12345"];
        let write = |i: usize, out: &mut Vec<u8>| out.extend_from_slice(values[i].as_bytes());
        let f = t.filled(0, write);
        assert_eq!(f.bytes, t.fill(0, write));
        let (ends, holes) = f.holes().expect("kept with its template");
        let holes: Vec<&[u8]> = holes.collect();
        // In the order of the bytes: hole 2, then 0, then 1.
        assert_eq!(holes, [values[2].as_bytes(), b"", values[1].as_bytes()]);
        assert_eq!(ends.len(), 3);
        assert_eq!(ends[2] as usize + t.parts()[3].len(), f.bytes.len());
        assert_eq!(t.holders(), 2);
        drop(f);
        assert_eq!(t.holders(), 1);
        // Shorter than what the journal keeps by reference: no template.
        let small = Template::from_json(&json!({"a": Template::hole(0)}), 1).expect("once");
        let f = small.filled(0, |_, out| out.push(b'1'));
        assert!(f.template.is_none() && f.holes().is_none());
        assert_eq!(&f.bytes[..], br#"{"a":1}"#);
        assert!(Template::from_json(&json!([0, 1, 2, 3, 4].map(Template::hole)), 5).is_none());
    }

    /// A fill makes room for the holes as wide as the widest fill before it (up to
    /// LEARNED_MAX), so an answer of the usual width fills a buffer of exactly its
    /// length; narrower, wider or very wide values give the bytes they always gave.
    #[test]
    fn a_fill_makes_room_for_the_holes_it_has_seen_and_never_changes_a_byte() {
        let v = json!({"a": Template::hole(0), "b": "x"});
        let t = Template::from_json(&v, 1).expect("once");
        let fill = |width: usize| {
            let out = t.fill(2, |_, out| out.resize(out.len() + width, b'7'));
            let want = format!(r#"{{"a":{},"b":"x"}}"#, "7".repeat(width));
            assert_eq!(out, want.as_bytes(), "{width}");
            out
        };
        assert!(fill(5).capacity() >= 5, "the caller's guess, then grown");
        assert_eq!(fill(5).capacity(), t.len() + 5, "exactly, once seen");
        assert_eq!(fill(1).capacity(), t.len() + 5, "narrower: the room kept");
        fill(300);
        assert_eq!(
            fill(5).capacity(),
            t.len() + 5,
            "over LEARNED_MAX: not learned"
        );
        fill(9);
        assert_eq!(fill(9).capacity(), t.len() + 9, "wider: learned");
    }

    #[test]
    fn a_placeholder_missing_or_twice_gives_no_template() {
        assert!(Template::from_json(&json!({"a": 1}), 1).is_none());
        let twice = json!([Template::hole(0), Template::hole(0)]);
        assert!(Template::from_json(&twice, 1).is_none());
    }

    fn slow(b: &[u8]) -> usize {
        b.iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
            .unwrap_or(b.len())
    }

    /// The eight-at-a-time scan finds what a byte loop finds: every byte value as the
    /// first stop (the specials and their neighbours: 0x1f/0x20, `!`/`#`, `[`/`]`, 0x7f,
    /// the high bit), at every place in a chunk and past it, after fillers that sit next
    /// to a special or carry the high bit (ASCII, a lone lead byte, a two-byte character),
    /// followed by nothing, by more specials or by multi-byte characters (a borrow must not
    /// flag a byte before the first stop).
    #[test]
    fn the_first_special_byte_is_found_wherever_it_is() {
        let fillers: [&[u8]; 10] = [
            b"x",
            b" ",
            b"!",
            b"#",
            b"[",
            b"]",
            b"\x7f",
            b"\xff",
            b"\xc3",
            "\u{e9}".as_bytes(),
        ];
        let after: [&[u8]; 3] = [b"", b"\"\\\x01", "\u{20ac}\u{1d11e}x".as_bytes()];
        for fill in fillers {
            for n in 0..20 {
                let plain = fill.repeat(n);
                assert_eq!(special(&plain), slow(&plain), "{plain:?}");
                for stop in 0..=255u8 {
                    for tail in after {
                        let mut s = plain.clone();
                        s.push(stop);
                        s.extend_from_slice(tail);
                        assert_eq!(special(&s), slow(&s), "{s:?}");
                    }
                }
            }
        }
    }
}
