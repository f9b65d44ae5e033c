//! Coverage: which of each vendor's outcomes, scenarios and answer statuses an instance
//! (the root server or one sandbox) has answered with.
//!
//! Recording is on every request's path, so it is a few atomic bit sets, no lock: a
//! vendor is known by its index in the registry, an outcome by its index in the vendor's
//! outcome list, a scenario by its index in the vendor's compiled scenarios, a status by
//! its number. A vendor's bits are allocated on its first answer, so an instance that
//! never answered costs one pointer per vendor. What the indices mean, and which statuses
//! a vendor documents, is for the caller to say when it builds a report.
//!
//! A sandbox's coverage also records into the server's (its `parent`), so the root's
//! report covers everything the server answered, in whichever sandbox, even after the
//! sandbox is gone. Resets keep coverage (it describes the test run, not the mock's
//! state); [`Coverage::clear`] forgets it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// Statuses are recorded from 100 to 599.
const STATUSES: std::ops::RangeInclusive<u16> = 100..=599;

/// The size of one vendor's lists: (outcomes, scenarios).
pub type Sizes = (usize, usize);

/// What one instance has answered, per vendor.
#[derive(Debug)]
pub struct Coverage {
    sizes: Arc<[Sizes]>,
    /// Boxed: an instance that never answered for a vendor holds one pointer for it.
    vendors: Box<[OnceLock<Box<Seen>>]>,
    parent: Option<Arc<Coverage>>,
}

#[derive(Debug)]
struct Seen {
    outcomes: Bits,
    scenarios: Bits,
    statuses: Bits,
}

/// A fixed-size set of small numbers.
#[derive(Debug)]
struct Bits(Box<[AtomicU64]>);

impl Bits {
    fn new(n: usize) -> Self {
        Self((0..n.div_ceil(64)).map(|_| AtomicU64::new(0)).collect())
    }

    fn set(&self, i: usize) {
        let Some(word) = self.0.get(i / 64) else {
            return;
        };
        let bit = 1u64 << (i % 64);
        // Read first: once set, a bit is only ever read, and the cache line stays shared.
        if word.load(Ordering::Relaxed) & bit == 0 {
            word.fetch_or(bit, Ordering::Relaxed);
        }
    }

    fn ones(&self) -> Vec<usize> {
        let mut out = Vec::new();
        for (w, word) in self.0.iter().enumerate() {
            let mut v = word.load(Ordering::Relaxed);
            while v != 0 {
                let b = v.trailing_zeros() as usize;
                out.push(w * 64 + b);
                v &= v - 1;
            }
        }
        out
    }

    fn clear(&self) {
        for word in self.0.iter() {
            word.store(0, Ordering::Relaxed);
        }
    }
}

/// What one vendor has answered with, by index (outcomes, scenarios) and number (statuses).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answered {
    pub outcomes: Vec<usize>,
    pub scenarios: Vec<usize>,
    pub statuses: Vec<u16>,
}

impl Coverage {
    /// Coverage for vendors of these sizes; with a `parent`, every record goes there too.
    pub fn new(sizes: Arc<[Sizes]>, parent: Option<Arc<Coverage>>) -> Self {
        Self {
            vendors: (0..sizes.len()).map(|_| OnceLock::new()).collect(),
            sizes,
            parent,
        }
    }

    fn seen(&self, vendor: usize) -> Option<&Seen> {
        let (outcomes, scenarios) = *self.sizes.get(vendor)?;
        Some(self.vendors[vendor].get_or_init(|| {
            Box::new(Seen {
                outcomes: Bits::new(outcomes),
                scenarios: Bits::new(scenarios),
                statuses: Bits::new(STATUSES.len()),
            })
        }))
    }

    /// The vendor answered with its outcome number `index`.
    pub fn outcome(&self, vendor: usize, index: usize) {
        if let Some(s) = self.seen(vendor) {
            s.outcomes.set(index);
        }
        if let Some(p) = &self.parent {
            p.outcome(vendor, index);
        }
    }

    /// The vendor's scenario number `index` answered.
    pub fn scenario(&self, vendor: usize, index: usize) {
        if let Some(s) = self.seen(vendor) {
            s.scenarios.set(index);
        }
        if let Some(p) = &self.parent {
            p.scenario(vendor, index);
        }
    }

    /// The vendor answered with `status`.
    pub fn status(&self, vendor: usize, status: u16) {
        if !STATUSES.contains(&status) {
            return;
        }
        if let Some(s) = self.seen(vendor) {
            s.statuses.set(usize::from(status - STATUSES.start()));
        }
        if let Some(p) = &self.parent {
            p.status(vendor, status);
        }
    }

    /// What `vendor` has answered with (empty if it never answered).
    pub fn answered(&self, vendor: usize) -> Answered {
        let Some(s) = self.vendors.get(vendor).and_then(OnceLock::get) else {
            return Answered::default();
        };
        Answered {
            outcomes: s.outcomes.ones(),
            scenarios: s.scenarios.ones(),
            statuses: s
                .statuses
                .ones()
                .into_iter()
                .map(|i| STATUSES.start() + i as u16)
                .collect(),
        }
    }

    /// Forget everything recorded here (not in the parent).
    pub fn clear(&self) {
        for s in self.vendors.iter().filter_map(OnceLock::get) {
            s.outcomes.clear();
            s.scenarios.clear();
            s.statuses.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_recorded_here_and_in_the_parent_and_cleared_here_only() {
        let sizes: Arc<[Sizes]> = Arc::from(vec![(3, 70), (1, 0)]);
        let server = Arc::new(Coverage::new(sizes.clone(), None));
        let sandbox = Coverage::new(sizes, Some(server.clone()));
        sandbox.outcome(0, 2);
        sandbox.scenario(0, 65);
        sandbox.status(0, 429);
        sandbox.status(0, 200);
        sandbox.status(0, 429);
        sandbox.status(0, 99); // out of range: ignored
        sandbox.outcome(9, 0); // no such vendor: ignored
        server.status(1, 503);
        let want = Answered {
            outcomes: vec![2],
            scenarios: vec![65],
            statuses: vec![200, 429],
        };
        assert_eq!(sandbox.answered(0), want);
        assert_eq!(server.answered(0), want);
        assert_eq!(sandbox.answered(1), Answered::default());
        assert_eq!(server.answered(1).statuses, [503]);
        sandbox.clear();
        assert_eq!(sandbox.answered(0), Answered::default());
        assert_eq!(server.answered(0), want);
    }
}
