//! Seeded randomness and the identifiers the mock hands out.
//!
//! Every generated value comes from an RNG seeded by (seed, vendor, entity id, purpose),
//! so the same seed and the same entity always produce the same data, independent of
//! request order, in the root server and in every sandbox alike. Issued ids (request
//! ids, tokens) additionally mix in the call number, the reset generation and the
//! [`Issuer`]: the instance that hands them out (the root, or one life of a sandbox), so
//! an id handed out before `/__admin/reset` never recurs, in the root, in a sandbox, or
//! in a sandbox made again under the same name.
//! Nothing else in the crate may use thread-local or OS randomness. (A thread's kept
//! SHA-256 state for a sandbox's ids is a cache of a pure function, not randomness.)

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

pub use rand_chacha::ChaCha8Rng as MockRng;

/// SHA-256 over length-prefixed parts: unambiguous, and stable across Rust releases
/// (unlike `DefaultHasher`).
fn digest(parts: &[&[u8]]) -> [u8; 32] {
    finish(IV, 0, &[], parts).unwrap_or_else(|| streamed(Sha256::new(), &[], parts))
}

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The most bytes [`finish`] hashes from its stack buffer: four blocks, less the padding's
/// 0x80 byte and 8-byte length: an id of an entity id up to about 150 bytes fits (the
/// other parts take about 90); a longer input is hashed by [`streamed`], to the same
/// digest.
const TAIL: usize = 4 * 64 - 9;

/// The digest of a message whose first `done` bytes (a whole number of blocks) are
/// already compressed into `state` and whose rest is `head` followed by the
/// length-prefixed `parts`, as [`Sha256`] would give it; `None` when the rest is longer
/// than [`TAIL`]. The rest is laid out once, padded, in a buffer on the stack and
/// compressed there: no per-part buffering, no hasher to copy.
fn finish(mut state: [u32; 8], done: u64, head: &[u8], parts: &[&[u8]]) -> Option<[u8; 32]> {
    use sha2::digest::generic_array::GenericArray;
    let len = head.len() + parts.iter().map(|p| 8 + p.len()).sum::<usize>();
    if len > TAIL {
        return None;
    }
    let mut buf = [0u8; TAIL + 9];
    buf[..head.len()].copy_from_slice(head);
    let mut at = head.len();
    for p in parts {
        buf[at..at + 8].copy_from_slice(&(p.len() as u64).to_le_bytes());
        buf[at + 8..at + 8 + p.len()].copy_from_slice(p);
        at += 8 + p.len();
    }
    buf[at] = 0x80;
    let end = (len + 9).div_ceil(64) * 64;
    let bits = (done + len as u64) * 8;
    buf[end - 8..end].copy_from_slice(&bits.to_be_bytes());
    for block in buf[..end].chunks_exact(64) {
        sha2::compress256(
            &mut state,
            std::slice::from_ref(GenericArray::from_slice(block)),
        );
    }
    let mut out = [0u8; 32];
    for (word, bytes) in state.iter().zip(out.chunks_exact_mut(4)) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
    Some(out)
}

/// [`finish`] by [`Sha256`]'s own buffering, from `hasher` (which has taken what came
/// before `head`), for any length.
fn streamed(mut hasher: Sha256, head: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    hasher.update(head);
    for p in parts {
        hasher.update((p.len() as u64).to_le_bytes());
        hasher.update(p);
    }
    hasher.finalize().into()
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

/// Who hands an id out: the server's seed and the instance issuing it. Two instances
/// never issue the same id, and one instance issues the same ids for the same requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Issuer {
    seed: u64,
    /// `None` at the root; in a sandbox, a digest of which life of its name it is.
    instance: Option<[u8; 32]>,
}

impl Issuer {
    /// The root server of a server seeded with `seed`. Also for ids that are part of
    /// generated data (the same for one entity everywhere) and for answers given before
    /// any instance is known.
    pub fn root(seed: u64) -> Self {
        Self {
            seed,
            instance: None,
        }
    }

    /// Sandbox `name` in its `life`-th life (0 for the first) of era `era` (see
    /// [`crate::sandbox::Life`]), made while the root was in reset generation
    /// `root_generation`. Nothing that other sandboxes do goes into it.
    pub fn sandbox(seed: u64, name: &str, era: u64, life: u64, root_generation: u64) -> Self {
        Self {
            seed,
            instance: Some(digest(&[
                b"sandbox",
                name.as_bytes(),
                &era.to_le_bytes(),
                &life.to_le_bytes(),
                &root_generation.to_le_bytes(),
            ])),
        }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }
}

/// The bytes of an issued id: unique per (issuer, vendor, entity, call, generation,
/// purpose). The root's ids are what they were before sandboxes existed.
pub fn id_bytes(
    issuer: Issuer,
    vendor: &str,
    entity: &str,
    call: u64,
    generation: u64,
    purpose: &str,
) -> [u8; 32] {
    let seed = issuer.seed.to_le_bytes();
    let (call, generation) = (call.to_le_bytes(), generation.to_le_bytes());
    let parts: [&[u8]; 6] = [
        &seed,
        vendor.as_bytes(),
        entity.as_bytes(),
        &call,
        &generation,
        purpose.as_bytes(),
    ];
    match &issuer.instance {
        None => digest(&parts),
        // A leading 32-byte part: never read as a root's input, whose first part (the
        // seed) is 8 bytes long, length prefix and all.
        Some(instance) => {
            // `digest(&[instance, seed, vendor, entity, ...])`, its first block kept.
            let state = sandbox_block(instance, issuer.seed, vendor.len());
            finish(state, 64, vendor.as_bytes(), &parts[2..]).unwrap_or_else(|| {
                streamed(
                    first_block_hasher(instance, issuer.seed, vendor.len()),
                    vendor.as_bytes(),
                    &parts[2..],
                )
            })
        }
    }
}

/// A sandbox's ids hash one block more than the root's: their input's first 64 bytes,
/// the instance (32 bytes and its length), the seed (8 and its length) and the vendor
/// name's length, are the same for every id one instance issues for one vendor. That
/// block is compressed once per thread and its state kept, with its key, while the
/// thread's ids come from the same (instance, seed, vendor-name length): the same
/// digest, one block of SHA-256 fewer per id.
#[derive(Clone, Copy)]
struct SandboxBlock {
    instance: [u8; 32],
    seed: u64,
    vendor_len: usize,
    /// SHA-256's state after those 64 bytes: one whole block, compressed.
    state: [u32; 8],
}

thread_local! {
    static SANDBOX_BLOCK: std::cell::Cell<Option<SandboxBlock>> =
        const { std::cell::Cell::new(None) };
}

/// The first 64 bytes of [`digest`]'s input `[instance, seed, vendor, ...]`: the parts up
/// to the vendor name's length prefix.
fn first_block(instance: &[u8; 32], seed: u64, vendor_len: usize) -> [u8; 64] {
    let mut block = [0u8; 64];
    block[..8].copy_from_slice(&32u64.to_le_bytes());
    block[8..40].copy_from_slice(instance);
    block[40..48].copy_from_slice(&8u64.to_le_bytes());
    block[48..56].copy_from_slice(&seed.to_le_bytes());
    block[56..].copy_from_slice(&(vendor_len as u64).to_le_bytes());
    block
}

/// A hasher that has taken [`first_block`], for the inputs too long for [`finish`].
fn first_block_hasher(instance: &[u8; 32], seed: u64, vendor_len: usize) -> Sha256 {
    let mut h = Sha256::new();
    h.update(first_block(instance, seed, vendor_len));
    h
}

/// SHA-256's state after [`first_block`], from the thread's kept one when its key matches.
fn sandbox_block(instance: &[u8; 32], seed: u64, vendor_len: usize) -> [u32; 8] {
    let fresh = || {
        use sha2::digest::generic_array::GenericArray;
        let mut state = IV;
        let block = first_block(instance, seed, vendor_len);
        sha2::compress256(&mut state, &[*GenericArray::from_slice(&block)]);
        state
    };
    SANDBOX_BLOCK
        .try_with(|kept| match kept.get() {
            Some(k) if k.instance == *instance && k.seed == seed && k.vendor_len == vendor_len => {
                k.state
            }
            _ => {
                let state = fresh();
                kept.set(Some(SandboxBlock {
                    instance: *instance,
                    seed,
                    vendor_len,
                    state,
                }));
                state
            }
        })
        .unwrap_or_else(|_| fresh())
}

/// Lower-case hex of `bytes`, `len` characters long (at most 64).
pub fn hex(bytes: &[u8; 32], len: usize) -> String {
    let mut out = Vec::with_capacity(len.min(64));
    put_hex(&mut out, bytes, len);
    String::from_utf8(out).expect("hex digits are ASCII")
}

/// The first `len` lower-case hex digits of `bytes` (at most two per byte), appended to
/// `out`: [`hex`] without a `String`, for answers written as bytes.
pub fn put_hex(out: &mut Vec<u8>, bytes: &[u8], len: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let len = len.min(2 * bytes.len());
    // Only the bytes shown are converted, into room made once (a push per digit
    // checks the capacity each time).
    // Whole pairs in fixed-size chunks (no per-digit length check), then the odd high
    // nibble, if any.
    let at = out.len();
    out.resize(at + len, 0);
    let digits = &mut out[at..];
    let whole = len / 2;
    for (pair, b) in digits.chunks_exact_mut(2).zip(&bytes[..whole]) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 15)];
    }
    if len % 2 == 1 {
        digits[len - 1] = DIGITS[usize::from(bytes[whole] >> 4)];
    }
}

/// A value in `low..=high` rounded to `decimals` places (see [`uniform`]).
pub fn decimal(rng: &mut impl Rng, low: f64, high: f64, decimals: i32) -> f64 {
    round(uniform(rng, low, high), decimals)
}

/// A value from `low` to `high`, for any two floats, never panicking (`random_range`
/// panics on a range whose ends are out of order, not finite, or whose width overflows,
/// and a scenario file can ask for such ranges). A range `random_range` can draw from
/// is drawn exactly as `random_range(low..=high)` draws, so every valid range gives the
/// values it always gave. Otherwise NaN counts as 0, an infinity as the largest finite
/// float of its sign, the ends are put in order, and a range too wide to measure is
/// interpolated between its ends, which cannot overflow. The value lies between the ends.
pub fn uniform(rng: &mut impl Rng, low: f64, high: f64) -> f64 {
    if low.is_finite() && high.is_finite() && low <= high && (high - low).is_finite() {
        return rng.random_range(low..=high);
    }
    let tame = |v: f64| {
        if v.is_nan() {
            0.0
        } else {
            v.clamp(f64::MIN, f64::MAX)
        }
    };
    let (a, b) = (tame(low), tame(high));
    let (lo, hi) = (a.min(b), a.max(b));
    if (hi - lo).is_finite() {
        return rng.random_range(lo..=hi);
    }
    let u: f64 = rng.random_range(0.0..=1.0);
    // Here lo < 0 < hi, so the two terms have opposite signs and their sum is finite.
    (lo * (1.0 - u) + hi * u).clamp(lo, hi)
}

/// Round half away from zero to `decimals` places. A value so large that scaling it
/// overflows has no fraction to round (every float beyond 2^52 is whole) and is kept.
pub fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    let scaled = v * f;
    if !scaled.is_finite() {
        return v;
    }
    scaled.round() / f
}

/// Write `v` as `width` decimal digits (zero-padded, its lowest digits) at `out[at..]`.
pub fn put_digits(out: &mut [u8], at: usize, width: usize, mut v: u32) {
    for i in (at..at + width).rev() {
        out[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Write `t`'s year, month, day, hour, minute and second into a `YYYY?MM?DD?hh?mm?ss`
/// template (any separators, kept): the vendors' answer dates, digit by digit, since
/// chrono parses its format string on every call and every answer carries a few.
///
/// A naive (UTC) time: through a `DateTime`, each of the six fields would go through its
/// offset first. `false`, and nothing written, for a year outside 0-9999 (chrono writes
/// a sign or a fifth digit) or in a leap second (chrono writes `:60`): the caller writes
/// chrono's own rendering then.
#[must_use]
pub fn put_date_time(out: &mut [u8], t: &chrono::NaiveDateTime) -> bool {
    use chrono::{Datelike, Timelike};
    if !(0..=9999).contains(&t.year()) || t.nanosecond() >= 1_000_000_000 {
        return false;
    }
    put_digits(out, 0, 4, t.year() as u32);
    put_digits(out, 5, 2, t.month());
    put_digits(out, 8, 2, t.day());
    put_digits(out, 11, 2, t.hour());
    put_digits(out, 14, 2, t.minute());
    put_digits(out, 17, 2, t.second());
    true
}

/// `YYYY-MM-DDThh:mm:ss` at the start of `out`, then, when `digits` (at most 9) is not 0,
/// `frac_sep` and that many digits of the second's fraction, truncated (chrono's `%.3f`
/// and `%.6f`, FinBox's `:%3f`): 19 bytes, or `20 + digits`. `false`, and nothing
/// written, where [`put_date_time`] declines.
#[must_use]
pub fn put_iso_time(
    out: &mut [u8],
    t: &chrono::NaiveDateTime,
    frac_sep: u8,
    digits: usize,
) -> bool {
    use chrono::Timelike;
    if !put_date_time(out, t) {
        return false;
    }
    for (at, sep) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')] {
        out[at] = sep;
    }
    if digits > 0 {
        out[19] = frac_sep;
        put_digits(
            out,
            20,
            digits,
            t.nanosecond() / 10u32.pow(9 - digits as u32),
        );
    }
    true
}

/// Times whose renderings differ in every way the writers above must match chrono's:
/// both ends of the four-digit years and past them, a leap second, and fractions of
/// every width (for the date tests of each vendor's times).
#[cfg(test)]
pub(crate) fn awkward_times() -> Vec<chrono::DateTime<chrono::Utc>> {
    use chrono::NaiveDate;
    let written_by_hand = [
        (2019, 1, 3, 6, 37, 44, 3_000_000),
        (2016, 12, 31, 23, 59, 59, 999_999_999),
        (2024, 2, 29, 9, 5, 7, 123),
        (2026, 2, 28, 1, 2, 3, 7_000),
        (2026, 2, 28, 1, 2, 3, 123_456_789),
        (0, 1, 1, 0, 0, 0, 0),
        (9999, 12, 31, 23, 59, 59, 999_999_999),
    ];
    // A leap second, and years chrono writes with a sign or a fifth digit.
    let chronos_own = [
        (2016, 12, 31, 23, 59, 59, 1_000_000_000),
        (2016, 12, 31, 23, 59, 59, 1_500_000_000),
        (-1, 6, 30, 12, 0, 0, 0),
        (10_000, 1, 1, 0, 0, 0, 0),
    ];
    written_by_hand
        .into_iter()
        .chain(chronos_own)
        .map(|(y, mo, d, h, mi, se, nano)| {
            NaiveDate::from_ymd_opt(y, mo, d)
                .and_then(|day| day.and_hms_nano_opt(h, mi, se, nano))
                .expect("every listed time is valid")
                .and_utc()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`digest`] as SHA-256 over the length-prefixed parts, by [`Sha256`] alone.
    fn reference(parts: &[&[u8]]) -> [u8; 32] {
        let mut h = Sha256::new();
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p);
        }
        h.finalize().into()
    }

    /// Every input length across the padding's edges (55/56 bytes in a block, the
    /// block boundaries, the most the stack buffer takes and past it) hashes as
    /// [`Sha256`] hashes it, at the root and in a sandbox, kept block or not.
    #[test]
    fn ids_hashed_on_the_stack_are_sha256_at_every_length() {
        let sandbox = Issuer::sandbox(3, "t1", 0, 0, 0);
        let instance = sandbox.instance.expect("a sandbox");
        for entity_len in 0..=300 {
            let entity: String = (0..entity_len)
                .map(|i| (b'a' + (i % 26) as u8) as char)
                .collect();
            let parts: [&[u8]; 6] = [
                &3u64.to_le_bytes(),
                b"credolab",
                entity.as_bytes(),
                &9u64.to_le_bytes(),
                &1u64.to_le_bytes(),
                b"request_id",
            ];
            assert_eq!(digest(&parts), reference(&parts), "{entity_len}");
            assert_eq!(
                id_bytes(Issuer::root(3), "credolab", &entity, 9, 1, "request_id"),
                reference(&parts),
                "root {entity_len}"
            );
            let mut sandboxed = vec![&instance[..]];
            sandboxed.extend(parts);
            assert_eq!(
                id_bytes(sandbox, "credolab", &entity, 9, 1, "request_id"),
                reference(&sandboxed),
                "sandbox {entity_len}"
            );
        }
        assert_eq!(digest(&[]), reference(&[]), "the empty input");
    }

    /// The fields chrono formats, in the four-digit years; outside them and in a leap
    /// second (which chrono writes `:60`) nothing is written, for the caller to hand the
    /// time to chrono.
    #[test]
    fn a_date_and_time_is_written_as_chrono_formats_it_or_not_at_all() {
        for t in awkward_times() {
            let text = t.format("%Y-%m-%d %H:%M:%S").to_string();
            // A sign, a fifth year digit, a 60th second: chrono's own ways.
            let ours = text.len() == 19 && !text.ends_with(":60");
            let mut out = *b"0000-00-00 00:00:00";
            assert_eq!(put_date_time(&mut out, &t.naive_utc()), ours, "{t:?}");
            let want = if ours {
                text.as_str()
            } else {
                "0000-00-00 00:00:00"
            };
            assert_eq!(std::str::from_utf8(&out).unwrap(), want, "{t:?}");
            for (sep, digits, format) in [
                (b'.', 0, "%Y-%m-%dT%H:%M:%S"),
                (b'.', 3, "%Y-%m-%dT%H:%M:%S%.3f"),
                (b'.', 6, "%Y-%m-%dT%H:%M:%S%.6f"),
                (b'.', 9, "%Y-%m-%dT%H:%M:%S%.9f"),
                (b':', 3, "%Y-%m-%dT%H:%M:%S:%3f"),
            ] {
                let mut out = [0; 29];
                let wrote = put_iso_time(&mut out, &t.naive_utc(), sep, digits);
                assert_eq!(wrote, ours, "{t:?} {format}");
                if wrote {
                    let len = if digits == 0 { 19 } else { 20 + digits };
                    let want = t.format(format).to_string();
                    assert_eq!(out[..len], *want.as_bytes(), "{t:?} {format}");
                } else {
                    assert_eq!(out, [0; 29], "{t:?} {format}");
                }
            }
        }
    }

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
        let root = Issuer::root(0);
        let before = hex(&id_bytes(root, "credeau", "u1", 1, 0, "request"), 32);
        let after = hex(&id_bytes(root, "credeau", "u1", 1, 1, "request"), 32);
        assert_eq!(before.len(), 32);
        assert!(before
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(before, after);
    }

    #[test]
    fn ids_are_unique_to_their_issuer_and_the_same_for_the_same_issuer() {
        let id = |i: Issuer| id_bytes(i, "credolab", "", 1, 0, "access_token");
        let issuers = [
            Issuer::root(0),
            Issuer::root(1),
            Issuer::sandbox(0, "t1", 0, 0, 0),
            Issuer::sandbox(0, "t2", 0, 0, 0),
            Issuer::sandbox(0, "t1", 0, 1, 0),
            Issuer::sandbox(0, "t1", 1, 0, 0),
            Issuer::sandbox(0, "t1", 0, 0, 1),
        ];
        let ids: std::collections::HashSet<_> = issuers.iter().map(|i| id(*i)).collect();
        assert_eq!(
            ids.len(),
            issuers.len(),
            "every instance issues its own ids"
        );
        assert_eq!(
            id(Issuer::sandbox(0, "t1", 0, 1, 0)),
            id(Issuer::sandbox(0, "t1", 0, 1, 0)),
            "one life of one name issues the same ids on every server"
        );
        // The root's ids are what they always were: seed, vendor, entity, call,
        // generation, purpose, nothing else.
        let want = reference(&[
            &0u64.to_le_bytes(),
            b"credolab",
            b"",
            &1u64.to_le_bytes(),
            &0u64.to_le_bytes(),
            b"access_token",
        ]);
        assert_eq!(id(Issuer::root(0)), want);
    }

    #[test]
    fn a_sandbox_s_ids_are_the_digest_of_its_instance_and_the_root_s_parts_whatever_the_thread_kept(
    ) {
        // Next to each other, issuers that differ only in the seed (the first two: the
        // instance does not hash the seed), only in the instance, or in both.
        let issuers = [
            Issuer::sandbox(0, "t1", 0, 0, 0),
            Issuer::sandbox(7, "t1", 0, 0, 0),
            Issuer::sandbox(7, "t2", 0, 0, 0),
            Issuer::sandbox(0, "t1", 0, 1, 3),
        ];
        let vendors = ["finbox", "credolab", "finscore", "finx", "featurestore", ""];
        let entities = ["", "u1", &"e".repeat(200)];
        // The vendor outside: the kept block is replaced when only the issuer changes
        // (same vendor-name length), reused when nothing does.
        for round in 0..2 {
            for vendor in vendors {
                for issuer in issuers {
                    for entity in entities {
                        let instance = issuer.instance.expect("a sandbox");
                        let want = reference(&[
                            &instance,
                            &issuer.seed.to_le_bytes(),
                            vendor.as_bytes(),
                            entity.as_bytes(),
                            &(round + 1u64).to_le_bytes(),
                            &2u64.to_le_bytes(),
                            b"request_id",
                        ]);
                        let got = id_bytes(issuer, vendor, entity, round + 1, 2, "request_id");
                        assert_eq!(got, want, "{issuer:?} {vendor} {entity}");
                        assert_eq!(
                            id_bytes(issuer, vendor, entity, round + 1, 2, "request_id"),
                            want,
                            "again, from the kept block"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn uniform_draws_valid_ranges_as_random_range_does_and_never_panics_on_others() {
        for seed in 0..50 {
            let mut a = rng(seed, "v", "e", "p");
            let mut b = rng(seed, "v", "e", "p");
            let want: f64 = a.random_range(-3.5..=700.25);
            assert_eq!(uniform(&mut b, -3.5, 700.25), want);
        }
        let mut r = rng(0, "v", "e", "p");
        let odd = [
            (-1e308, 1e308),
            (f64::MIN, f64::MAX),
            (f64::NEG_INFINITY, f64::INFINITY),
            (f64::NAN, 5.0),
            (9.0, 2.0),
            (f64::INFINITY, f64::INFINITY),
            (7.0, 7.0),
        ];
        for (lo, hi) in odd {
            for _ in 0..100 {
                let v = uniform(&mut r, lo, hi);
                assert!(v.is_finite(), "{lo}..{hi}: {v}");
                let finite = |x: f64| x.clamp(f64::MIN, f64::MAX);
                let (l, h) = (finite(lo.min(hi)), finite(lo.max(hi)));
                assert!(lo.is_nan() || (l..=h).contains(&v), "{lo}..{hi}: {v}");
            }
        }
        assert!(decimal(&mut r, -1e308, 1e308, 2).is_finite());
    }

    #[test]
    fn hex_gives_what_the_whole_buffer_conversion_gave_at_every_length() {
        // The conversion before only the shown bytes were converted.
        fn whole(bytes: &[u8; 32], len: usize) -> String {
            let mut out = String::new();
            for b in bytes {
                out.push_str(&format!("{b:02x}"));
            }
            out[..len.min(64)].to_string()
        }
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(0xa5);
        }
        for input in [[0u8; 32], [0xff; 32], bytes] {
            for len in 0..=70 {
                let got = hex(&input, len);
                assert_eq!(got, whole(&input, len), "{len}");
                assert_eq!(got.capacity(), len.min(64), "allocated once, exactly");
            }
        }
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

    /// `put_hex` appends what `hex` gives, for any slice and length (odd lengths end on
    /// a high nibble; past two digits a byte, the slice's whole hex).
    #[test]
    fn put_hex_appends_the_digits_hex_gives() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(53) ^ 0x3c);
        for from in [0, 5, 31] {
            for len in 0..=70 {
                let mut out = b"x=".to_vec();
                put_hex(&mut out, &bytes[from..], len);
                let want: String = hex(&bytes, 64)[2 * from..].chars().take(len).collect();
                assert_eq!(out, format!("x={want}").into_bytes(), "{from} {len}");
            }
        }
        let mut out = Vec::new();
        put_hex(&mut out, &[], 4);
        assert!(out.is_empty());
    }
}
