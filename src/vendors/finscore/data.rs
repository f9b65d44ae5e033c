//! FinScore's generated data besides the scores (those are in `models`): the
//! geo-location and social-circle flags, and the customer record profile.
//!
//! Everything derives from the seeded RNG for (number, purpose), so one number always
//! gets the same answer per product. The profile's `SubscriptionType` follows the
//! number's subscription (`models::subscription`), as its score does.

use std::sync::LazyLock;

use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};

use super::models::Subscription;
use crate::generate::MockRng;

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
                    // The profile documents no broadband type: a broadband SIM reads as
                    // prepaid, which it is.
                    Subscription::Prepaid | Subscription::Broadband => {
                        p.subscription_types.prepaid.clone()
                    }
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
