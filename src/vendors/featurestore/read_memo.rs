//! Rendered read answers, kept and shared while nothing they derive from changes.
//!
//! A read (`:readFeatureValues`, `:streamingReadFeatureValues`, written as bytes by
//! [`super::store::Store::read_bytes`]) is a pure function of its inputs: the entity
//! type, the entity ids in order, the selector (`*`, or the feature ids in order), one
//! message or streaming, the resources (which features the entity type has, whether its
//! featurestore exists and serves online) and the row of each entity read (its values,
//! each rendered once when written, generate time included). Nothing else reaches it:
//! not the clock (generate times are fixed when a value is written, and the operations
//! the clock finishes are settled, creating their resources, before the read looks), not
//! the scenario (it decides only whether the read is performed at all, or built as JSON
//! for a patch or `enum-encoding=int`, which never comes here), not the body's form (the
//! plain and the general parse give the same inputs), not the budgets (which entities
//! are forgotten shows in their rows). So an answer kept under a key holding all of them
//! is, byte for byte, the answer a fresh render would give, and a read whose key equals
//! a kept one gets the kept `Bytes`: the journal's by-reference entry then points at the
//! same buffer, and nothing is allocated or written.
//!
//! The key ([`ReadMemo::key`]) is those inputs written one after another, each string
//! after its length, so two different reads never write the same key: the request's
//! part (streaming, entity type, selector, entity ids; its hash is compared first, so a
//! miss costs no comparison of bytes), and the store's count of resource changes
//! ([`super::store::Store`]'s `changes`, bumped by every create, update and delete, so
//! every feature created, deleted or updated and every entity type or featurestore
//! deleted and created again gives a new key). Beside the key, a kept answer holds the
//! stamp of each entity's row ([`super::rows::Row::stamp`]: new for
//! every row built, so a write of the same values, a feature's values deleted, a row
//! forgotten by the bounds and written again all give a new one; 0 for an entity without
//! a row, whose answer is `{}` for each feature whenever that holds): it is answered only
//! while every one of them stands. Looking the rows up again is skipped while no row of
//! the store has changed at all since they were last found standing
//! ([`super::rows::Rows::version`], moved on by every row built or forgotten). Refusals
//! are never kept (they are built before an answer would be).
//!
//! Bounded by count, [`MAX_KEPT`] answers, and by bytes: a quarter of the store budget
//! ([`crate::budget::Budgets::store`], 256 KiB by default), each answer weighed with its
//! key and its whole buffer, an answer weighing more than a quarter of that (64 KiB by
//! default: a streaming read of about 30 entities of 11 values, whose buffer is reserved
//! at ~1.8 KB an entity) never kept; past either bound the answer kept longest ago goes
//! first. A kept answer with an older state of the same read is dropped when the next one
//! is rendered, kept or not. The buffers keys and stamps are written in hold what the
//! read being answered needs, or 4 KiB ([`SCRATCH`]) when that is less: with the
//! answers, at most about 256 + 64 + 32 KiB, all counted in the store's bytes. One memo
//! per store, so per instance (the root and each sandbox have their own store), dropped
//! with the rest of it by `/__admin/reset`.

use std::collections::VecDeque;
use std::hash::BuildHasher;

use bytes::Bytes;

use crate::budget::heap;
use crate::FastHash;

/// Answers kept at most: a handful of reads a client repeats (a model scoring the same
/// entities again, a load test), not a table of every entity.
pub const MAX_KEPT: usize = 8;

/// One kept answer and what it was rendered from.
#[derive(Debug)]
struct Kept {
    /// The request's part of the key ([`ReadMemo::key`]), then the stamp of each
    /// entity's row in the same order (0: no row), 8 bytes each: one allocation.
    data: Box<[u8]>,
    /// Where the request's part ends.
    split: usize,
    /// The request part's hash.
    hash: u64,
    /// The store's resource changes it was rendered at.
    changes: u64,
    /// The rows' version when the stamps were last found standing.
    version: u64,
    answer: Bytes,
    /// What it is counted as: key and stamps, buffer, slot.
    weight: usize,
}

impl Kept {
    fn request(&self) -> &[u8] {
        &self.data[..self.split]
    }

    fn stamps(&self) -> impl Iterator<Item = u64> + '_ {
        self.data[self.split..]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
    }
}

/// The kept read answers of one store (the module's doc says what and why).
#[derive(Debug)]
pub struct ReadMemo {
    /// Oldest kept first.
    kept: VecDeque<Kept>,
    /// What `kept` weighs ([`Kept::weight`] each).
    bytes: usize,
    max_bytes: usize,
    /// The request's part of the key of the read being answered, written by
    /// [`ReadMemo::key`], at most a kept answer's weight long, its hash and the
    /// resource changes.
    key: Vec<u8>,
    hash: u64,
    changes: u64,
    hasher: FastHash,
}

/// The bytes a scratch buffer (the key's, the stamps') keeps between reads: a longer
/// one is cut back to what the read being answered needs.
pub const SCRATCH: usize = 4096;

/// What a slot of `kept` costs besides its key and buffer: the slot itself and the
/// `Bytes`' shared header once it is cloned.
const SLOT: usize = std::mem::size_of::<Kept>() + 32;

impl ReadMemo {
    /// Kept answers of at most `max_bytes` together.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            kept: VecDeque::new(),
            bytes: 0,
            max_bytes,
            key: Vec::new(),
            hash: 0,
            changes: 0,
            hasher: FastHash::default(),
        }
    }

    /// What the memo holds, in bytes: the answers with their keys, and the buffer keys
    /// are written in.
    pub fn bytes(&self) -> usize {
        self.bytes + heap(self.key.capacity())
    }

    /// The most one answer with its key may weigh to be kept.
    fn max_weight(&self) -> usize {
        self.max_bytes / 4
    }

    /// Write the key of a read: entity type, entity ids in order, the selected feature
    /// ids in order (`None` for `*`), streaming or not, and the store's resource
    /// changes. `false` when the key alone is too long to keep (a read of thousands of
    /// entities): the read is then neither looked up nor kept.
    pub fn key<E: AsRef<str>, S: AsRef<str>>(
        &mut self,
        entity_type: &str,
        entity_ids: &[E],
        selected: Option<&[S]>,
        streaming: bool,
        changes: u64,
    ) -> bool {
        let len = 1
            + 8
            + entity_type.len()
            + 8
            + selected.map_or(0, |s| {
                8 * s.len() + s.iter().map(|f| f.as_ref().len()).sum::<usize>()
            })
            + 8
            + 8 * entity_ids.len()
            + entity_ids.iter().map(|e| e.as_ref().len()).sum::<usize>()
            + 8
            + 8 * entity_ids.len();
        if len + SLOT > self.max_weight() {
            return false;
        }
        let key = &mut self.key;
        key.clear();
        // Room for the stamps too (`keep`), reserved exactly: no doubling past the need.
        if key.capacity() > len.max(SCRATCH) {
            key.shrink_to(len.max(SCRATCH));
        }
        key.reserve_exact(len);
        let text = |key: &mut Vec<u8>, s: &str| {
            key.extend_from_slice(&(s.len() as u64).to_le_bytes());
            key.extend_from_slice(s.as_bytes());
        };
        key.push(u8::from(streaming));
        text(key, entity_type);
        match selected {
            // No count can be `u64::MAX`: `*` is told from every list.
            None => key.extend_from_slice(&u64::MAX.to_le_bytes()),
            Some(ids) => {
                key.extend_from_slice(&(ids.len() as u64).to_le_bytes());
                for f in ids {
                    text(key, f.as_ref());
                }
            }
        }
        key.extend_from_slice(&(entity_ids.len() as u64).to_le_bytes());
        for e in entity_ids {
            text(key, e.as_ref());
        }
        self.hash = self.hasher.hash_one(&key[..]);
        self.changes = changes;
        true
    }

    /// The kept answer of the read whose key was just written, in the same state of the
    /// resources.
    fn find(&mut self) -> Option<&mut Kept> {
        let (key, hash, changes) = (&self.key[..], self.hash, self.changes);
        self.kept
            .iter_mut()
            .rev()
            .find(|k| k.hash == hash && k.changes == changes && k.request() == key)
    }

    /// The answer kept under the key just written, if the rows it read stand: the
    /// rows' `version` is the one they were last found standing at, or else `stamps`
    /// (each entity's row's stamp, in order, 0 for none) are theirs. Newest first: a
    /// repeated read is mostly the last one kept.
    pub fn get<I: Iterator<Item = u64>>(
        &mut self,
        version: u64,
        stamps: impl FnOnce() -> I,
    ) -> Option<Bytes> {
        let kept = self.find()?;
        if kept.version != version {
            // The same key, so the same entities: as many stamps.
            if !stamps().eq(kept.stamps()) {
                return None;
            }
            kept.version = version;
        }
        Some(kept.answer.clone())
    }

    /// Keep `answer`, weighing `buffer` bytes (its allocation), under the key just
    /// written, with the `stamps` of the rows it read at the rows' `version`, in place
    /// of any answer of the same read in an older state; the answers kept longest ago
    /// make room. Not kept when it alone weighs more than a quarter of the budget.
    pub fn keep(
        &mut self,
        answer: Bytes,
        buffer: usize,
        version: u64,
        stamps: impl Iterator<Item = u64>,
    ) {
        let split = self.key.len();
        for stamp in stamps {
            self.key.extend_from_slice(&stamp.to_le_bytes());
        }
        let len = self.key.len();
        let weight = heap(len) + buffer + SLOT;
        // The same read in an older state (at most one: each is dropped when the next
        // state of its read is rendered) goes, whether this one is kept or not; else the
        // one kept longest ago if a bound is reached; its key's buffer is reused when it
        // is as long.
        let hash = self.hash;
        let request = &self.key[..split];
        let mut gone = self
            .kept
            .iter()
            .position(|k| k.hash == hash && k.request() == request)
            .and_then(|i| self.kept.remove(i));
        if let Some(k) = &gone {
            self.bytes -= k.weight;
        }
        if weight > self.max_weight() {
            self.key.truncate(split);
            return;
        }
        while self.kept.len() >= MAX_KEPT || self.bytes + weight > self.max_bytes {
            let Some(old) = self.kept.pop_front() else {
                break;
            };
            self.bytes -= old.weight;
            gone.get_or_insert(old);
        }
        let data = match gone {
            Some(Kept { mut data, .. }) if data.len() == len => {
                data.copy_from_slice(&self.key);
                data
            }
            _ => self.key.as_slice().into(),
        };
        self.key.truncate(split);
        self.bytes += weight;
        self.kept.push_back(Kept {
            data,
            split,
            hash,
            changes: self.changes,
            version,
            answer,
            weight,
        });
    }

    /// Answers kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.kept.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(m: &mut ReadMemo, ids: &[&str]) -> bool {
        m.key("et", ids, None::<&[&str]>, false, 1)
    }

    /// Keep `answer` of a read of one entity.
    fn keep(m: &mut ReadMemo, answer: impl Into<Bytes>, buffer: usize, stamp: u64) {
        m.keep(answer.into(), buffer, 1, std::iter::once(stamp));
    }

    /// Keys are told apart wherever two reads differ, however their strings could be
    /// cut: the lengths come first.
    #[test]
    fn different_reads_write_different_keys() {
        let mut m = ReadMemo::new(1 << 20);
        let mut seen = std::collections::HashSet::new();
        type Case<'a> = (&'a str, &'a [&'a str], Option<&'a [&'a str]>, bool, u64);
        let cases: [Case; 11] = [
            ("et", &["ab"], None, false, 1),
            ("et", &["a", "b"], None, false, 1),
            ("eta", &["b"], None, false, 1),
            ("et", &["ab"], None, true, 1),
            ("et", &["ab"], Some(&[]), false, 1),
            ("et", &["ab"], Some(&["*x"]), false, 1),
            ("et", &["ab"], Some(&["x", "y"]), false, 1),
            ("et", &["ab"], Some(&["y", "x"]), false, 1),
            ("et", &["ab"], None, false, 2),
            ("et", &[], None, false, 1),
            ("", &["etab"], None, false, 1),
        ];
        for (et, ids, sel, streaming, changes) in cases {
            assert!(m.key(et, ids, sel, streaming, changes));
            assert!(
                seen.insert((m.key.clone(), m.changes)),
                "{et} {ids:?} {sel:?}"
            );
        }
    }

    /// A kept answer is given while the rows' version stands without looking at the
    /// stamps; once it moves, only if every stamp stands (and the new version is then
    /// taken, so the stamps are not looked at again).
    #[test]
    fn a_kept_answer_is_given_only_while_the_stamps_of_its_rows_stand() {
        let mut m = ReadMemo::new(1 << 20);
        assert!(m.key("et", &["a", "b"], None::<&[&str]>, true, 1));
        m.keep(Bytes::from_static(b"ab"), 8, 10, [3, 0].into_iter());
        let looked = std::cell::Cell::new(0);
        let get = |m: &mut ReadMemo, version: u64, stamps: [u64; 2]| {
            m.get(version, || {
                looked.set(looked.get() + 1);
                stamps.into_iter()
            })
        };
        assert_eq!(get(&mut m, 10, [9, 9]).unwrap(), "ab");
        assert_eq!(looked.get(), 0, "the version stands: no look");
        assert!(get(&mut m, 11, [3, 4]).is_none());
        assert!(get(&mut m, 11, [5, 0]).is_none());
        assert_eq!(get(&mut m, 12, [3, 0]).unwrap(), "ab");
        assert_eq!(looked.get(), 3);
        assert_eq!(get(&mut m, 12, [9, 9]).unwrap(), "ab");
        assert_eq!(looked.get(), 3, "the version found standing is kept");
        // Another state of the resources: another key.
        assert!(m.key("et", &["a", "b"], None::<&[&str]>, true, 2));
        assert!(get(&mut m, 12, [3, 0]).is_none());
    }

    #[test]
    fn kept_answers_are_bounded_by_count_and_bytes() {
        let mut m = ReadMemo::new(64 * 1024);
        for i in 0..3 * MAX_KEPT {
            assert!(key(&mut m, &[&format!("e{i}")]));
            keep(&mut m, vec![b'x'; 100], heap(100), 1);
            assert!(m.len() <= MAX_KEPT);
        }
        // The newest are kept.
        let newest = format!("e{}", 3 * MAX_KEPT - 1);
        assert!(key(&mut m, &[&newest]));
        assert!(m.get(1, std::iter::empty).is_some());
        assert!(key(&mut m, &["e0"]));
        assert!(m.get(1, std::iter::empty).is_none());
        // Bytes: answers of 10 KiB in a budget of 64 KiB (16 KiB each at most).
        let mut m = ReadMemo::new(64 * 1024);
        for i in 0..MAX_KEPT {
            assert!(key(&mut m, &[&format!("e{i}")]));
            keep(&mut m, vec![b'x'; 10_240], 10_240, 1);
            assert!(m.bytes() <= 64 * 1024, "{}", m.bytes());
        }
        assert!(m.len() < MAX_KEPT);
        // One answer over a quarter of the budget is not kept; nor is a key that long.
        assert!(key(&mut m, &["big"]));
        keep(&mut m, vec![b'x'; 17_000], 17_000, 1);
        assert!(m.get(1, std::iter::empty).is_none());
        let long = "e".repeat(17_000);
        assert!(!key(&mut m, &[&long]));
    }

    /// A read kept again in a newer state replaces the older one: a row rewritten over
    /// and over does not push the other kept answers out.
    #[test]
    fn an_older_state_of_the_same_read_is_replaced() {
        let mut m = ReadMemo::new(1 << 20);
        assert!(key(&mut m, &["other"]));
        keep(&mut m, "other", 8, 1);
        for stamp in 2..3 * MAX_KEPT as u64 {
            assert!(key(&mut m, &["e"]));
            assert!(m.get(stamp, || std::iter::once(stamp)).is_none());
            keep(&mut m, format!("{stamp}"), 8, stamp);
            assert_eq!(m.len(), 2);
        }
        assert!(m.key("et", &["e"], None::<&[&str]>, false, 2));
        keep(&mut m, "resources changed", 8, 1);
        assert_eq!(m.len(), 2);
        assert!(key(&mut m, &["other"]));
        assert_eq!(m.get(1, std::iter::empty).unwrap(), "other");
    }

    /// A newer state of a read too large to keep still drops the older one, which could
    /// never be given again (found by the review: it held its buffer until it aged out).
    #[test]
    fn an_older_state_goes_even_when_the_newer_is_not_kept() {
        let mut m = ReadMemo::new(64 * 1024);
        assert!(key(&mut m, &["e"]));
        keep(&mut m, vec![b'x'; 10_000], 10_000, 1);
        let with_one = m.bytes();
        assert!(key(&mut m, &["e"]));
        keep(&mut m, vec![b'x'; 17_000], 17_000, 2);
        assert_eq!(m.len(), 0);
        assert!(m.bytes() < with_one - 10_000, "{} of {with_one}", m.bytes());
    }

    /// The key's buffer is cut back after a read of many entities, to the need of the
    /// next read or [`SCRATCH`], and counted while it is larger.
    #[test]
    fn the_key_buffer_is_cut_back_after_a_long_read() {
        let mut m = ReadMemo::new(1 << 20);
        let many: Vec<String> = (0..2_000).map(|i| format!("entity-{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(key(&mut m, &many));
        keep(&mut m, "x", 8, 1);
        let long = m.key.capacity();
        assert!(long >= 2_000 * 24, "{long}");
        assert!(m.bytes() >= long);
        assert!(key(&mut m, &["e"]));
        assert!(m.key.capacity() <= SCRATCH, "{}", m.key.capacity());
    }
}
