//! A thread's spare buffers: a buffer made and dropped on every request (a cache key,
//! the request's path texts) is left for the thread's next request instead of being
//! freed and allocated again.
//!
//! Limits: one spare per slot per thread, emptied when it is left, and only a small one
//! (a buffer grown past the slot's limit is freed, so one long request does not pin its
//! size to a thread for good). While a thread's locals are being torn down there is no
//! slot: [`take`] gives a fresh buffer and [`keep`] frees its buffer. Imports nothing of
//! the crate.

use std::cell::Cell;
use std::thread::LocalKey;

/// A buffer that can be emptied for reuse.
pub trait Reuse: Default {
    /// Empty it, keeping its allocation unless it holds more than `max` bytes (then free
    /// it). An array does so buffer by buffer.
    fn reset(&mut self, max: usize);
}

impl Reuse for Vec<u8> {
    fn reset(&mut self, max: usize) {
        if self.capacity() > max {
            *self = Vec::new();
        } else {
            self.clear();
        }
    }
}

impl Reuse for String {
    fn reset(&mut self, max: usize) {
        if self.capacity() > max {
            *self = String::new();
        } else {
            self.clear();
        }
    }
}

impl<B: Reuse, const N: usize> Reuse for [B; N]
where
    [B; N]: Default,
{
    fn reset(&mut self, max: usize) {
        for b in self {
            b.reset(max);
        }
    }
}

/// The thread's spare in `slot`, empty, or a fresh buffer when there is none.
pub fn take<B: Reuse>(slot: &'static LocalKey<Cell<B>>) -> B {
    slot.try_with(Cell::take).unwrap_or_default()
}

/// Leave `b` in `slot` for the thread's next [`take`], emptied, unless it holds more
/// than `max` bytes (see [`Reuse::reset`]).
pub fn keep<B: Reuse>(slot: &'static LocalKey<Cell<B>>, mut b: B, max: usize) {
    b.reset(max);
    let _ = slot.try_with(|spare| spare.set(b));
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static SLOT: Cell<[Vec<u8>; 2]> = const { Cell::new([Vec::new(), Vec::new()]) };
    }

    #[test]
    fn a_kept_buffer_comes_back_empty_and_a_grown_one_is_freed() {
        let [mut a, mut b] = take(&SLOT);
        a.extend_from_slice(&[1; 10]);
        b.extend_from_slice(&[2; 100]);
        let (a_ptr, a_cap) = (a.as_ptr(), a.capacity());
        keep(&SLOT, [a, b], 50);
        let [a, b] = take(&SLOT);
        assert_eq!((a.as_ptr(), a.capacity(), a.len()), (a_ptr, a_cap, 0));
        assert_eq!(b.capacity(), 0, "grown past the limit: freed");
        // Taken: the slot is empty until the next keep.
        let [c, d] = take(&SLOT);
        assert_eq!((c.capacity(), d.capacity()), (0, 0));
    }
}
