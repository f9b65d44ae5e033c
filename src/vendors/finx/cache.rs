//! What finX derives from pure inputs, kept so that it is not derived again per request:
//! generated datasets, and the rendered bytes of reports and transaction pages.
//!
//! Both are pure functions of their keys. A dataset is a function of (seed, the flow's
//! data key, its [`Spec`]): [`super::data::generate`] draws from RNGs seeded by exactly
//! those and reads nothing else (no clock, no state, no counter). A rendered answer is a
//! function of its dataset and of what the renderer reads besides: the links' base URL
//! (host, scheme and the prefix the request came through, sandbox segment included), the
//! report id, the shape, or the raw query of a transactions call and its account. So the
//! cache can never change an answer, and it is shared by the root and every sandbox of
//! one server (finX's shared slot, counted once in that server's memory budget): a sandbox's state (its clock, tokens, flows, scenario
//! steps) is not an input of what is cached. Everything that does depend on that state
//! (is the token valid and unexpired, is the one-time data still retained, which
//! scenario step answers, is there a patch to apply) is decided per request before the
//! cache is asked, and a step with a `patch` is rendered as JSON without it.
//!
//! Bounded by count and by bytes, per kind; the oldest entries are evicted first, and an
//! entry larger than a quarter of its budget is not kept. A root `/__admin/reset` empties
//! it (only to give the memory back: a cold cache answers the same bytes); a sandbox's
//! reset or drop leaves it to the others.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::data::{Dataset, Spec};
use super::report::Shape;
use crate::budget::{Gauge, Total};
use crate::FastHash;

/// Datasets kept at most, and their estimated bytes: a year of history is about
/// 0.1-0.3 MB, ten years a few MB.
pub const DATASETS: Budget = Budget {
    entries: 16,
    bytes: 8 << 20,
};
/// Rendered answers (reports ~5 KB, transaction pages up to a few hundred KB).
pub const ANSWERS: Budget = Budget {
    entries: 256,
    bytes: 2 << 20,
};

/// How much one kind of entry may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub entries: usize,
    pub bytes: usize,
}

/// Everything a dataset is generated from.
#[derive(Debug, PartialEq, Eq)]
pub struct DataKey {
    /// `hash` of the other fields, computed once: the key is hashed on every lookup.
    hash: u64,
    pub seed: u64,
    pub data_key: String,
    pub spec: Spec,
}

impl DataKey {
    pub fn new(seed: u64, data_key: String, spec: Spec) -> Self {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (seed, &data_key, &spec).hash(&mut h);
        Self {
            hash: h.finish(),
            seed,
            data_key,
            spec,
        }
    }
}

impl Hash for DataKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// Which answer of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `GET /rest/risk-reports/{id}` in `shape`, links under `base`. The id is only in
    /// the newest shape's bytes (`None` in v2.11): flows of the same data share it.
    Report {
        shape: Shape,
        base: String,
        report_id: Option<String>,
    },
    /// `GET /rest/transactions?{query}` or `/rest/accounts/{account}/transactions?{query}`.
    Transactions {
        account: Option<String>,
        query: String,
    },
}

/// A rendered answer's key: its dataset's and what the renderer reads besides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerKey {
    pub data: Arc<DataKey>,
    pub answer: Answer,
}

/// An [`AnswerKey`] made of borrowed parts, to look an answer up without building its
/// key: no clone of the flow's shared `Arc<DataKey>` (a counter every worker would
/// write on every request), no copies of the base URL or the query. Hashed and compared
/// exactly as the key it stands for ([`AnswerKey::view`]), so a look-up by either finds
/// the same entry.
#[derive(Debug, Clone, Copy, Hash)]
pub struct AnswerView<'a> {
    pub data: &'a DataKey,
    pub answer: AnswerRef<'a>,
}

/// [`Answer`] with borrowed strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnswerRef<'a> {
    Report {
        shape: Shape,
        base: &'a str,
        report_id: Option<&'a str>,
    },
    Transactions {
        account: Option<&'a str>,
        query: &'a str,
    },
}

impl AnswerKey {
    pub fn view(&self) -> AnswerView<'_> {
        AnswerView {
            data: &self.data,
            answer: match &self.answer {
                Answer::Report {
                    shape,
                    base,
                    report_id,
                } => AnswerRef::Report {
                    shape: *shape,
                    base,
                    report_id: report_id.as_deref(),
                },
                Answer::Transactions { account, query } => AnswerRef::Transactions {
                    account: account.as_deref(),
                    query,
                },
            },
        }
    }
}

impl Hash for AnswerKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.view().hash(state);
    }
}

impl PartialEq for AnswerView<'_> {
    fn eq(&self, other: &Self) -> bool {
        // The same `Arc` (the usual case: a flow's kept key) spares comparing the specs.
        (std::ptr::eq(self.data, other.data) || self.data == other.data)
            && self.answer == other.answer
    }
}

impl hashbrown::Equivalent<AnswerKey> for AnswerView<'_> {
    fn equivalent(&self, key: &AnswerKey) -> bool {
        *self == key.view()
    }
}

/// The shared cache. Std mutex, held for one map operation, never while generating or
/// rendering.
#[derive(Debug)]
pub struct Cache {
    datasets: Mutex<Fifo<Arc<DataKey>, Arc<Dataset>>>,
    answers: Mutex<Fifo<AnswerKey, Bytes>>,
    /// The bytes each map holds, readable without its lock; the server's cache counts
    /// them in the server's total as they change ([`Cache::counted_in`]).
    dataset_bytes: Gauge,
    answer_bytes: Gauge,
    /// Answers rendered (not found in the cache), for tests.
    #[cfg(test)]
    renders: std::sync::atomic::AtomicUsize,
}

/// One server's cache, for its root and every sandbox (finX's shared slot, see the module
/// doc): not one per process, so each server counts only what its own traffic put there.
impl Default for Cache {
    fn default() -> Self {
        Self::new(DATASETS, ANSWERS)
    }
}

impl Cache {
    pub fn new(datasets: Budget, answers: Budget) -> Self {
        Self::with_gauges(datasets, answers, None)
    }

    /// The server's cache, its bytes counted in `total` (the server's) as they change.
    pub fn counted_in(total: &Total) -> Self {
        Self::with_gauges(DATASETS, ANSWERS, Some(total))
    }

    fn with_gauges(datasets: Budget, answers: Budget, total: Option<&Total>) -> Self {
        let gauge = || total.map_or_else(Gauge::default, Gauge::counted_in);
        Self {
            datasets: Mutex::new(Fifo::new(datasets)),
            answers: Mutex::new(Fifo::new(answers)),
            dataset_bytes: gauge(),
            answer_bytes: gauge(),
            #[cfg(test)]
            renders: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// How many answers were rendered (and kept, if they fit) rather than found.
    #[cfg(test)]
    pub fn renders(&self) -> usize {
        self.renders.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A cache that keeps nothing: every answer is generated and rendered afresh.
    #[cfg(test)]
    pub fn cold() -> Self {
        let none = Budget {
            entries: 0,
            bytes: 0,
        };
        Self::new(none, none)
    }

    /// The dataset of `key`, generated by `make` unless kept.
    pub fn dataset(&self, key: &Arc<DataKey>, make: impl FnOnce() -> Dataset) -> Arc<Dataset> {
        if let Some(d) = crate::lock::lock(&self.datasets).get(key) {
            return d.clone();
        }
        let d = Arc::new(make());
        let size = dataset_bytes(&d);
        let mut kept = crate::lock::lock(&self.datasets);
        kept.insert(key.clone(), d.clone(), size);
        self.dataset_bytes.set(kept.bytes);
        d
    }

    /// The bytes kept under the key `view` stands for, if any.
    pub fn find(&self, view: &AnswerView<'_>) -> Option<Bytes> {
        crate::lock::lock(&self.answers)
            .map
            .get(view)
            .map(|(b, _)| b.clone())
    }

    /// The bytes of `key`, rendered by `render` (given the key) unless kept. A refusal
    /// (`Err`) is returned as it is and not kept.
    pub fn answer<E>(
        &self,
        key: AnswerKey,
        render: impl FnOnce(&AnswerKey) -> Result<Vec<u8>, E>,
    ) -> Result<Bytes, E> {
        if let Some(b) = crate::lock::lock(&self.answers).get(&key) {
            return Ok(b.clone());
        }
        let bytes = Bytes::from(render(&key)?);
        #[cfg(test)]
        self.renders
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let size = bytes.len() + key_bytes(&key);
        let mut kept = crate::lock::lock(&self.answers);
        kept.insert(key, bytes.clone(), size);
        self.answer_bytes.set(kept.bytes);
        Ok(bytes)
    }

    /// Forget everything (the memory only; answers do not change).
    pub fn clear(&self) {
        // Each gauge set under its map's lock, as every insert sets it: an insert
        // between the two cannot leave the server's total short of it.
        {
            let mut datasets = crate::lock::lock(&self.datasets);
            datasets.clear();
            self.dataset_bytes.set(0);
        }
        let mut answers = crate::lock::lock(&self.answers);
        answers.clear();
        self.answer_bytes.set(0);
    }

    /// Roughly what the cache holds, for the server's memory budget (no lock taken).
    pub fn approx_bytes(&self) -> usize {
        self.dataset_bytes.get() + self.answer_bytes.get()
    }

    /// (entries, bytes) of datasets and of answers.
    #[cfg(test)]
    pub fn sizes(&self) -> ((usize, usize), (usize, usize)) {
        let d = crate::lock::lock(&self.datasets);
        let a = crate::lock::lock(&self.answers);
        ((d.map.len(), d.bytes), (a.map.len(), a.bytes))
    }
}

/// Bytes an answer's key holds besides its shared dataset key.
fn key_bytes(k: &AnswerKey) -> usize {
    std::mem::size_of::<AnswerKey>()
        + match &k.answer {
            Answer::Report {
                base, report_id, ..
            } => base.len() + report_id.as_ref().map_or(0, String::len),
            Answer::Transactions { account, query } => {
                account.as_ref().map_or(0, String::len) + query.len()
            }
        }
}

/// An estimate of what a dataset holds on the heap: its structs and their strings.
pub fn dataset_bytes(d: &Dataset) -> usize {
    let txs: usize = d
        .transactions
        .iter()
        .map(|t| {
            t.id.capacity()
                + t.partner.capacity()
                + t.purpose.capacity()
                + t.partner_iban.as_ref().map_or(0, String::capacity)
        })
        .sum();
    let accounts: usize = d
        .accounts
        .iter()
        .map(|a| {
            a.id.capacity()
                + a.name.capacity()
                + a.kind.capacity()
                + a.iban.capacity()
                + a.currency.capacity()
                + a.bank_code.capacity()
                + a.holders.iter().map(String::capacity).sum::<usize>()
        })
        .sum();
    std::mem::size_of::<Dataset>()
        + d.transactions.capacity() * std::mem::size_of::<super::data::Transaction>()
        + txs
        + d.accounts.capacity() * std::mem::size_of::<super::data::Account>()
        + accounts
        + d.employer.id.capacity()
        + d.employer.name.capacity()
}

/// A map bounded by count and bytes that evicts its oldest entries first.
#[derive(Debug)]
struct Fifo<K, V> {
    /// hashbrown's map rather than std's (the same table) for look-ups by an
    /// [`hashbrown::Equivalent`] view ([`Cache::find`]).
    map: hashbrown::HashMap<K, (V, usize), FastHash>,
    /// Keys, oldest first.
    order: VecDeque<K>,
    bytes: usize,
    budget: Budget,
}

impl<K: Hash + Eq + Clone, V> Fifo<K, V> {
    fn new(budget: Budget) -> Self {
        Self {
            map: hashbrown::HashMap::default(),
            order: VecDeque::new(),
            bytes: 0,
            budget,
        }
    }

    fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k).map(|(v, _)| v)
    }

    /// Keep `v` (of `size` bytes) unless it is over a quarter of the budget, evicting the
    /// oldest entries until both bounds hold.
    fn insert(&mut self, k: K, v: V, size: usize) {
        if size > self.budget.bytes / 4 || self.budget.entries == 0 || self.map.contains_key(&k) {
            return;
        }
        while self.map.len() >= self.budget.entries || self.bytes + size > self.budget.bytes {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some((_, s)) = self.map.remove(&old) {
                self.bytes -= s;
            }
        }
        self.bytes += size;
        self.order.push_back(k.clone());
        self.map.insert(k, (v, size));
    }

    fn clear(&mut self) {
        self.map = hashbrown::HashMap::default();
        self.order = VecDeque::new();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fifo_keeps_both_bounds_and_evicts_the_oldest_first() {
        let mut f = Fifo::new(Budget {
            entries: 3,
            bytes: 100,
        });
        for i in 0..3 {
            f.insert(i, i, 10);
        }
        f.insert(3, 3, 10);
        assert!(f.get(&0).is_none(), "the oldest goes first");
        assert_eq!((f.map.len(), f.bytes), (3, 30));
        f.insert(4, 4, 25);
        f.insert(5, 5, 25);
        f.insert(6, 6, 25);
        assert_eq!(f.map.len(), 3);
        assert!(f.bytes <= 100, "{}", f.bytes);
        assert!(f.get(&6).is_some() && f.get(&3).is_none());
        f.insert(7, 7, 26);
        assert!(
            f.get(&7).is_none(),
            "over a quarter of the budget is not kept"
        );
        assert!(f.bytes <= 100 && f.map.len() <= 3);
        f.clear();
        assert_eq!((f.map.len(), f.bytes, f.order.len()), (0, 0, 0));
    }

    fn data_key(seed: u64, user: &str, months: u32) -> Arc<DataKey> {
        Arc::new(DataKey::new(
            seed,
            user.into(),
            Spec {
                months,
                until: chrono::NaiveDate::from_ymd_opt(2026, 1, 15).unwrap(),
                multi: true,
                account_types: Vec::new(),
                accounts: Vec::new(),
                name: None,
            },
        ))
    }

    /// Keys that differ in one input each (and keys equal to some of them, made apart).
    fn varied_keys() -> Vec<AnswerKey> {
        let mut keys = Vec::new();
        for data in [
            data_key(0, "u", 12),
            data_key(1, "u", 12),
            data_key(0, "v", 12),
            data_key(0, "u", 24),
            data_key(0, "", 12),
        ] {
            for shape in [Shape::V211, Shape::Newest] {
                for base in ["http://a:1", "http://a:1/s/x/finx", "", "https://b"] {
                    for report_id in [None, Some(""), Some("f1"), Some("f2")] {
                        keys.push(AnswerKey {
                            data: data.clone(),
                            answer: Answer::Report {
                                shape,
                                base: base.into(),
                                report_id: report_id.map(str::to_string),
                            },
                        });
                    }
                }
            }
            for account in [None, Some(""), Some("a1"), Some("a2")] {
                for query in ["", "count=5", "count=5&offset=1", "a1"] {
                    keys.push(AnswerKey {
                        data: data.clone(),
                        answer: Answer::Transactions {
                            account: account.map(str::to_string),
                            query: query.into(),
                        },
                    });
                }
            }
        }
        keys
    }

    #[test]
    fn a_borrowed_view_finds_exactly_the_answer_its_key_kept() {
        let keys = varied_keys();
        let c = Cache::new(
            DATASETS,
            Budget {
                entries: keys.len(),
                bytes: 1 << 20,
            },
        );
        let bytes = |i: usize| format!("answer {i}").into_bytes();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(c.find(&k.view()), None, "nothing kept yet for {k:?}");
            c.answer(k.clone(), |_| Ok::<_, ()>(bytes(i))).unwrap();
        }
        let hash = |h: &dyn Fn(&mut std::hash::DefaultHasher)| {
            let mut s = std::hash::DefaultHasher::new();
            h(&mut s);
            s.finish()
        };
        for (i, k) in keys.iter().enumerate() {
            // A view of an equal key made apart (another Arc) finds the same entry.
            let apart = AnswerKey {
                data: Arc::new(DataKey::new(
                    k.data.seed,
                    k.data.data_key.clone(),
                    k.data.spec.clone(),
                )),
                answer: k.answer.clone(),
            };
            assert_eq!(apart, *k);
            for view in [k.view(), apart.view()] {
                assert_eq!(c.find(&view).as_deref(), Some(&bytes(i)[..]), "{k:?}");
                assert_eq!(hash(&|s| view.hash(s)), hash(&|s| k.hash(s)));
            }
            for (j, other) in keys.iter().enumerate() {
                assert_eq!(k.view() == other.view(), i == j, "{k:?} and {other:?}");
            }
        }
    }

    #[test]
    fn a_cold_cache_keeps_nothing() {
        let c = Cache::cold();
        let key = Arc::new(DataKey::new(
            0,
            "u".into(),
            Spec {
                months: 12,
                until: chrono::NaiveDate::from_ymd_opt(2026, 1, 15).unwrap(),
                multi: true,
                account_types: Vec::new(),
                accounts: Vec::new(),
                name: None,
            },
        ));
        let k = AnswerKey {
            data: key,
            answer: Answer::Transactions {
                account: None,
                query: String::new(),
            },
        };
        let mut renders = 0;
        for _ in 0..2 {
            c.answer(k.clone(), |_| {
                renders += 1;
                Ok::<_, ()>(b"{}".to_vec())
            })
            .unwrap();
        }
        assert_eq!(renders, 2);
        assert_eq!(c.sizes(), ((0, 0), (0, 0)));
    }
}
