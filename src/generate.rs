//! Seeded randomness and the identifiers the mock hands out.
//!
//! Every generated value comes from an RNG seeded by (seed, vendor, entity id, purpose),
//! so the same seed and the same entity always produce the same data, independent of
//! request order. Issued ids (request ids, tokens) additionally mix in the call number
//! and the reset generation, so an id handed out before `/__admin/reset` never recurs.
//! Nothing else in the crate may use thread-local or OS randomness.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

pub use rand_chacha::ChaCha8Rng as MockRng;

/// SHA-256 over length-prefixed parts: unambiguous, and stable across Rust releases
/// (unlike `DefaultHasher`).
fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// The RNG for one (seed, vendor, entity, purpose).
pub fn rng(seed: u64, vendor: &str, entity: &str, purpose: &str) -> ChaCha8Rng {
    ChaCha8Rng::from_seed(digest(&[
        &seed.to_le_bytes(),
        vendor.as_bytes(),
        entity.as_bytes(),
        purpose.as_bytes(),
    ]))
}

/// The bytes of an issued id: unique per (seed, vendor, entity, call, generation, purpose).
pub fn id_bytes(
    seed: u64,
    vendor: &str,
    entity: &str,
    call: u64,
    generation: u64,
    purpose: &str,
) -> [u8; 32] {
    digest(&[
        &seed.to_le_bytes(),
        vendor.as_bytes(),
        entity.as_bytes(),
        &call.to_le_bytes(),
        &generation.to_le_bytes(),
        purpose.as_bytes(),
    ])
}

/// Lower-case hex of `bytes`, `len` characters long (at most 64).
pub fn hex(bytes: &[u8; 32], len: usize) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 15)];
    }
    let len = len.min(64);
    // Every byte written is an ASCII digit or letter.
    std::str::from_utf8(&out[..len])
        .expect("hex digits are ASCII")
        .to_owned()
}

/// A value in `low..=high` rounded to `decimals` places.
pub fn decimal(rng: &mut impl Rng, low: f64, high: f64, decimals: i32) -> f64 {
    round(rng.random_range(low..=high), decimals)
}

/// Round half away from zero to `decimals` places.
pub fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_inputs_give_the_same_stream_and_others_differ() {
        let a: u64 = rng(1, "credeau", "u1", "features").random();
        let b: u64 = rng(1, "credeau", "u1", "features").random();
        let c: u64 = rng(2, "credeau", "u1", "features").random();
        let d: u64 = rng(1, "credeau", "u1", "records").random();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn parts_are_length_prefixed_so_boundaries_matter() {
        assert_ne!(
            rng(0, "ab", "c", "").random::<u64>(),
            rng(0, "a", "bc", "").random::<u64>()
        );
    }

    #[test]
    fn ids_change_with_the_reset_generation() {
        let before = hex(&id_bytes(0, "credeau", "u1", 1, 0, "request"), 32);
        let after = hex(&id_bytes(0, "credeau", "u1", 1, 1, "request"), 32);
        assert_eq!(before.len(), 32);
        assert!(before
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(before, after);
    }

    #[test]
    fn hex_is_the_leading_nibbles_in_order() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0x0f;
        bytes[1] = 0xa5;
        bytes[31] = 0xff;
        assert_eq!(hex(&bytes, 5), "0fa50");
        let full = hex(&bytes, 64);
        assert_eq!(full.len(), 64);
        assert!(full.ends_with("00ff"));
        assert_eq!(hex(&bytes, 100), full, "capped at 64");
    }
}
