//! FinScore's generated data: the generic score and its band, the geo-location and
//! social-circle flags, and the customer record profile.
//!
//! Everything derives from the seeded RNG for (number, purpose), so one number always
//! gets the same answer per product. A number is prepaid or postpaid once (purpose
//! `subscription`), and both the score range and the profile's `SubscriptionType`
//! follow it.
//!
//! Bands: FinScore documents the ranges (prepaid 300–600, bands 1–10; postpaid 700–999,
//! bands 21–23) and their risk levels, not the cut-offs. The mock cuts evenly, as the
//! published LenderLink table for the same 300–600 scale does: prepaid band =
//! (score − 300) / 30 + 1 (570–600 is band 10); postpaid 700–799 → 21, 800–899 → 22,
//! 900–999 → 23. (The doc's example, score 560 with band 6, fits no even cut; it reads
//! as an illustration.)

use std::sync::LazyLock;

use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::generate::MockRng;

/// Share of numbers that are postpaid.
const POSTPAID_SHARE: f64 = 0.2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscription {
    Prepaid,
    Postpaid,
}

pub fn subscription(rng: &mut MockRng) -> Subscription {
    if rng.random_bool(POSTPAID_SHARE) {
        Subscription::Postpaid
    } else {
        Subscription::Prepaid
    }
}

/// The band of a score, per the cut-offs in the module doc.
pub fn band(sub: Subscription, score: i64) -> i64 {
    match sub {
        Subscription::Prepaid => ((score - 300) / 30 + 1).clamp(1, 10),
        Subscription::Postpaid => match score {
            ..=799 => 21,
            800..=899 => 22,
            _ => 23,
        },
    }
}

/// (score, band): scores cluster in the middle of the range (mean of two draws).
pub fn score(rng: &mut MockRng, sub: Subscription) -> (i64, i64) {
    let (low, high) = match sub {
        Subscription::Prepaid => (300, 600),
        Subscription::Postpaid => (700, 999),
    };
    let s = (rng.random_range(low..=high) + rng.random_range(low..=high)) / 2;
    (s, band(sub, s))
}

/// Three 0/1 flags (daytime, nighttime, weekend location); `1` raises the flag.
pub fn address_flags(rng: &mut MockRng) -> String {
    (0..3)
        .map(|_| if rng.random_bool(0.15) { '1' } else { '0' })
        .collect()
}

/// `(000000000,000000000,00000,00000,00000)`: per column, a `1` at the position the
/// guarantor takes among the client's top contacts (voice, SMS, Pasaload 3/6/12
/// months), all `0` when the guarantor is not among them or none was given.
pub fn msisdn_flags(rng: Option<&mut MockRng>) -> String {
    const WIDTHS: [usize; 5] = [9, 9, 5, 5, 5];
    let mut columns: Vec<String> = WIDTHS.iter().map(|w| "0".repeat(*w)).collect();
    if let Some(rng) = rng {
        // Half of guarantors are in the client's circle at all; those show up in each
        // column with some chance, at a rank near the top.
        if rng.random_bool(0.5) {
            for (col, width) in columns.iter_mut().zip(WIDTHS) {
                if rng.random_bool(0.6) {
                    let rank = rng.random_range(0..width.min(4));
                    col.replace_range(rank..=rank, "1");
                }
            }
        }
    }
    format!("({})", columns.join(","))
}

#[derive(Deserialize)]
struct ProfileCatalogue {
    keys: Vec<String>,
    values: serde_json::Map<String, Value>,
    subscription_types: SubscriptionTypes,
}

#[derive(Deserialize)]
struct SubscriptionTypes {
    prepaid: String,
    postpaid: String,
}

static PROFILE: LazyLock<ProfileCatalogue> = LazyLock::new(|| {
    serde_json::from_str(include_str!(
        "../../../fixtures/finscore/customer_profile.json"
    ))
    .expect("fixtures/finscore/customer_profile.json is valid (a unit test parses it)")
});

/// The six `[key, value]` pairs, in the documented order.
pub fn customer_profile(rng: &mut MockRng, sub: Subscription) -> Value {
    let p = &*PROFILE;
    let pairs: Vec<Value> = p
        .keys
        .iter()
        .map(|k| {
            let v = if k == "SubscriptionType" {
                match sub {
                    Subscription::Prepaid => p.subscription_types.prepaid.clone(),
                    Subscription::Postpaid => p.subscription_types.postpaid.clone(),
                }
            } else {
                let options = p.values.get(k).and_then(Value::as_array);
                options
                    .filter(|o| !o.is_empty())
                    .and_then(|o| o[rng.random_range(0..o.len())].as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            json!([k, v])
        })
        .collect();
    Value::Array(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate;

    #[test]
    fn bands_follow_the_cut_offs_at_every_edge() {
        let cases = [
            (Subscription::Prepaid, 300, 1),
            (Subscription::Prepaid, 329, 1),
            (Subscription::Prepaid, 330, 2),
            (Subscription::Prepaid, 569, 9),
            (Subscription::Prepaid, 570, 10),
            (Subscription::Prepaid, 600, 10),
            (Subscription::Postpaid, 700, 21),
            (Subscription::Postpaid, 799, 21),
            (Subscription::Postpaid, 800, 22),
            (Subscription::Postpaid, 900, 23),
            (Subscription::Postpaid, 999, 23),
        ];
        for (sub, s, want) in cases {
            assert_eq!(band(sub, s), want, "{sub:?} {s}");
        }
    }

    #[test]
    fn scores_stay_in_range_and_bands_agree_for_many_numbers() {
        for i in 0..2000 {
            let n = format!("6391800{i:05}");
            let sub = subscription(&mut generate::rng(0, "finscore", &n, "subscription"));
            let (s, b) = score(&mut generate::rng(0, "finscore", &n, "score:10"), sub);
            match sub {
                Subscription::Prepaid => assert!((300..=600).contains(&s)),
                Subscription::Postpaid => assert!((700..=999).contains(&s)),
            }
            assert_eq!(b, band(sub, s));
        }
    }

    #[test]
    fn the_profile_has_the_six_documented_keys_and_agrees_with_the_subscription() {
        let mut rng = generate::rng(0, "finscore", "639181234567", "profile");
        let p = customer_profile(&mut rng, Subscription::Postpaid);
        let keys: Vec<&str> = p
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| kv[0].as_str().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "TimeWithSmart",
                "SubscriptionType",
                "SmsUsage",
                "TopUp",
                "MobileDataUsage",
                "AvgDailyActivities"
            ]
        );
        assert_eq!(p[1][1], "Smart Postpaid");
        assert!(p.as_array().unwrap().iter().all(|kv| kv[1] != ""));
    }

    #[test]
    fn msisdn_flags_have_the_five_column_format() {
        assert_eq!(
            msisdn_flags(None),
            "(000000000,000000000,00000,00000,00000)"
        );
        for i in 0..50 {
            let mut rng = generate::rng(0, "finscore", &i.to_string(), "m");
            let f = msisdn_flags(Some(&mut rng));
            let cols: Vec<&str> = f.trim_matches(['(', ')']).split(',').collect();
            assert_eq!(
                cols.iter().map(|c| c.len()).collect::<Vec<_>>(),
                [9, 9, 5, 5, 5]
            );
            assert!(cols
                .iter()
                .all(|c| c.bytes().all(|b| b == b'0' || b == b'1')));
        }
    }
}
