//! Credeau's generated data: the flat feature map and the extracted-SMS records.
//!
//! Features come from `fixtures/credeau/features.json` (see `make_catalogue.py` there
//! for how each kind is drawn). Values are deterministic per (seed, user_id) and
//! consistent: a subset count never exceeds its total, windows nest (7d ≤ 30d ≤ …),
//! siblings marked exclusive never add up past their parent, min ≤ avg ≤ max ≤ sum,
//! ratios are computed from the counts they relate, and amounts are 0 where their count
//! is. The extracted-SMS records agree with the features: there are
//! `txn_sms_count_nlp` of them, `credit_sms_count_nlp` credits and
//! `debit_sms_count_nlp` debits.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, TimeDelta, Utc};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::generate::{self, MockRng};

/// The three `groupings` Credeau documents; all three give every feature.
pub const GROUPINGS: [&str; 3] = ["sms", "fraud", "extracted_sms"];

#[derive(Deserialize)]
struct CatalogueFile {
    features: Vec<FeatureSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeatureSpec {
    name: String,
    grouping: String,
    kind: String,
    min: Option<f64>,
    max: Option<f64>,
    parent: Option<String>,
    #[serde(default)]
    exclusive: bool,
    zero_if: Option<String>,
    num: Option<String>,
    den: Option<String>,
    p: Option<f64>,
}

#[derive(Debug)]
enum Rule {
    Count { min: f64, max: f64 },
    CountOf { parent: usize, exclusive: bool },
    Amount { max: f64 },
    AmountOf { parent: usize },
    Ratio { num: usize, den: usize },
    Days { max: f64 },
    Flag { p: f64 },
    Score { min: f64, max: f64 },
}

#[derive(Debug)]
pub struct Feature {
    pub name: String,
    pub grouping: usize,
    rule: Rule,
    zero_if: Option<usize>,
    integral: bool,
}

/// The parsed catalogue, in file order (parents before children).
pub struct Catalogue {
    pub features: Vec<Feature>,
    /// For each feature, how many exclusive children share its budget.
    exclusive_children: Vec<u32>,
    index: HashMap<String, usize>,
}

pub static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| {
    Catalogue::parse(include_str!("../../../fixtures/credeau/features.json"))
        .expect("fixtures/credeau/features.json is valid (checked by a unit test)")
});

impl Catalogue {
    fn parse(text: &str) -> Result<Self, String> {
        let file: CatalogueFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut index = HashMap::new();
        let mut features = Vec::new();
        let mut exclusive_children = Vec::new();
        for spec in file.features {
            let earlier = |name: &Option<String>| -> Result<usize, String> {
                let n = name
                    .as_deref()
                    .ok_or_else(|| format!("{}: a reference is missing", spec.name))?;
                index
                    .get(n)
                    .copied()
                    .ok_or_else(|| format!("{}: {n} must come earlier", spec.name))
            };
            let grouping = GROUPINGS
                .iter()
                .position(|g| *g == spec.grouping)
                .ok_or_else(|| format!("{}: unknown grouping {}", spec.name, spec.grouping))?;
            let rule = match (spec.kind.as_str(), &spec.parent) {
                ("count", None) => Rule::Count {
                    min: spec.min.unwrap_or(0.0),
                    max: spec.max.ok_or("count needs max")?,
                },
                ("count", p) => Rule::CountOf {
                    parent: earlier(p)?,
                    exclusive: spec.exclusive,
                },
                ("amount", None) => Rule::Amount {
                    max: spec.max.ok_or("amount needs max")?,
                },
                ("amount", p) => Rule::AmountOf {
                    parent: earlier(p)?,
                },
                ("ratio", _) => Rule::Ratio {
                    num: earlier(&spec.num)?,
                    den: earlier(&spec.den)?,
                },
                ("days", _) => Rule::Days {
                    max: spec.max.ok_or("days needs max")?,
                },
                ("flag", _) => Rule::Flag {
                    p: spec.p.ok_or("flag needs p")?,
                },
                ("score", _) => Rule::Score {
                    min: spec.min.unwrap_or(0.0),
                    max: spec.max.unwrap_or(1.0),
                },
                (k, _) => return Err(format!("{}: unknown kind {k}", spec.name)),
            };
            if let Rule::CountOf {
                parent,
                exclusive: true,
            } = rule
            {
                exclusive_children[parent] += 1;
            }
            let zero_if = match &spec.zero_if {
                Some(_) => Some(earlier(&spec.zero_if)?),
                None => None,
            };
            let integral = matches!(
                rule,
                Rule::Count { .. } | Rule::CountOf { .. } | Rule::Days { .. } | Rule::Flag { .. }
            );
            if index.insert(spec.name.clone(), features.len()).is_some() {
                return Err(format!("{} is listed twice", spec.name));
            }
            features.push(Feature {
                name: spec.name,
                grouping,
                rule,
                zero_if,
                integral,
            });
            exclusive_children.push(0);
        }
        Ok(Self {
            features,
            exclusive_children,
            index,
        })
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Every feature's value for one user, in catalogue order.
    pub fn values(&self, rng: &mut MockRng) -> Vec<f64> {
        let n = self.features.len();
        let mut values = vec![0.0; n];
        let mut budget = vec![0.0; n];
        let mut siblings_left = self.exclusive_children.clone();
        for (i, f) in self.features.iter().enumerate() {
            let v = match f.rule {
                Rule::Count { min, max } => rng.random_range(min..=max).floor(),
                Rule::CountOf {
                    parent,
                    exclusive: false,
                } => (values[parent] * rng.random_range(0.0f64..=1.0)).floor(),
                Rule::CountOf {
                    parent,
                    exclusive: true,
                } => {
                    // Siblings share the parent's remaining budget; each takes up to twice
                    // its fair share, the last may take all that is left.
                    let left = siblings_left[parent].max(1) as f64;
                    let v = (budget[parent]
                        * rng.random_range(0.0..=(2.0 / (left + 1.0)).min(1.0)))
                    .floor();
                    siblings_left[parent] -= 1;
                    budget[parent] -= v;
                    v
                }
                Rule::Amount { max } => generate::round(rng.random_range(0.0..=max), 2),
                Rule::AmountOf { parent } => {
                    generate::round(values[parent] * rng.random_range(0.0..=1.0), 2)
                }
                Rule::Ratio { num, den } => {
                    if values[den] == 0.0 {
                        0.0
                    } else {
                        generate::round(values[num] / values[den], 4)
                    }
                }
                Rule::Days { max } => rng.random_range(0.0..=max).floor(),
                Rule::Flag { p } => f64::from(u8::from(rng.random_bool(p))),
                Rule::Score { min, max } => generate::decimal(rng, min, max, 4),
            };
            let v = if f.zero_if.is_some_and(|z| values[z] == 0.0) {
                0.0
            } else {
                v
            };
            values[i] = v;
            budget[i] = v;
        }
        values
    }

    /// `values` as JSON numbers: integers for counts, days and flags.
    pub fn json_value(&self, i: usize, v: f64) -> Value {
        if self.features[i].integral {
            Value::from(v as i64)
        } else {
            Value::from(v)
        }
    }
}

/// The features a request's `groupings` select, appended to `out`.
pub fn append_features(out: &mut Map<String, Value>, values: &[f64], groupings: &[bool; 3]) {
    let cat = &*CATALOGUE;
    for (i, f) in cat.features.iter().enumerate() {
        if groupings[f.grouping] {
            out.insert(f.name.clone(), cat.json_value(i, values[i]));
        }
    }
}

const BANKS: &[(&str, &str, &str)] = &[
    ("HDFC Bank", "HDFCBK", "bank"),
    ("ICICI Bank", "ICICIB", "bank"),
    ("State Bank of India", "SBIINB", "bank"),
    ("Axis Bank", "AXISBK", "bank"),
    ("Kotak Mahindra Bank", "KOTAKB", "bank"),
    ("Paytm Payments Bank", "PAYTMB", "wallet"),
];
const PARTIES: &[&str] = &[
    "AMAZON",
    "SWIGGY",
    "ZOMATO",
    "FLIPKART",
    "IRCTC",
    "BESCOM",
    "JIO",
    "UBER",
    "RENT",
    "NEFT SALARY",
    "UPI TRANSFER",
    "BIGBASKET",
];
const OPERATORS: &[&str] = &["VM", "VK", "AD", "JD", "BZ", "AX"];

/// The extracted-SMS records of one user, newest first.
pub fn extracted_records(
    rng: &mut MockRng,
    features: &[f64],
    user_id: &str,
    client_id: &str,
    request_id: &str,
    now: DateTime<Utc>,
    seed_id: impl Fn(u64) -> String,
) -> Vec<Value> {
    let cat = &*CATALOGUE;
    let get = |name: &str| cat.index_of(name).map_or(0, |i| features[i] as u64);
    let (txn, credits, debits) = (
        get("txn_sms_count_nlp"),
        get("credit_sms_count_nlp"),
        get("debit_sms_count_nlp"),
    );
    let mut ages: Vec<i64> = (0..txn)
        .map(|_| rng.random_range(0..180 * 86_400))
        .collect();
    ages.sort_unstable();
    let accounts: Vec<(usize, u32)> = (0..rng.random_range(1..=3))
        .map(|_| {
            (
                rng.random_range(0..BANKS.len()),
                rng.random_range(1000..=9999),
            )
        })
        .collect();
    let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    // Exactly `credits` credits and `debits` debits, in a deterministic shuffled order.
    let mut kinds: Vec<u8> = (0..txn)
        .map(|n| {
            if n < credits {
                0
            } else if n < credits + debits {
                1
            } else {
                2
            }
        })
        .collect();
    kinds.shuffle(rng);
    ages.into_iter()
        .zip(kinds)
        .enumerate()
        .map(|(n, (age, kind))| {
            let (bank, code, sender_type) = BANKS[accounts[n % accounts.len()].0];
            let last4 = accounts[n % accounts.len()].1;
            let inbox = now - TimeDelta::seconds(age);
            let created = inbox + TimeDelta::seconds(rng.random_range(5..600));
            let amount = generate::round(rng.random_range(50.0..=50_000.0), 2);
            let party = PARTIES[rng.random_range(0..PARTIES.len())];
            let sender = format!("{}-{code}", OPERATORS[rng.random_range(0..OPERATORS.len())]);
            let (sms_type, sub_type, tag, txn_type, body) = match kind {
                0 => ("account_credit_executed", "credit", "account_credit_executed_transfer_in", "credit-transaction", format!("Rs.{amount:.2} credited to A/c XX{last4} on {} by {party}. Avl Bal Rs.{:.2} -{bank}", inbox.format("%d-%m-%y"), amount * 3.0)),
                1 => ("account_debit_executed", "debit", "account_debit_executed_transfer_out", "debit-transaction", format!("Rs.{amount:.2} debited from A/c XX{last4} on {} to {party}. Not you? Call 18002586161 -{bank}", inbox.format("%d-%m-%y"))),
                _ => ("not_in_the_list", "notification", "other_notification_bank", "", format!("Your A/c XX{last4} statement for {} is ready. -{bank}", inbox.format("%b %Y"))),
            };
            let extracted = kind < 2;
            json!({
                "_id": seed_id(n as u64),
                "user_id": user_id,
                "client_id": client_id,
                "request_id": request_id,
                "sms_id": format!("{}", 100_000 + n as u64 * 7 + rng.random_range(0..7)),
                "sms_sender": sender,
                "sms_inbox_date": fmt(inbox),
                "sms_body": body,
                "created_at": fmt(created),
                "created_date": created.format("%Y-%m-%d").to_string(),
                "template_hash": generate::hex(&rng.random::<[u8; 32]>(), 32),
                "is_classified": true,
                "is_extracted": extracted,
                "sms_sub_type": sub_type,
                "sms_type": sms_type,
                "sender_name": bank,
                "sender_type": sender_type,
                "sms_nlp_tag": tag,
                "is_transactional": extracted,
                "account_last_digits": last4.to_string(),
                "transaction": if extracted { json!(amount) } else { Value::Null },
                "transaction_party": if extracted { json!(party) } else { Value::Null },
                "transaction_type": if extracted { json!(txn_type) } else { Value::Null },
                "unique_pan": format!("{code}_{last4}"),
                "acc_number_nlp": format!("XX{last4}"),
                "transaction_nlp": if extracted { json!(amount) } else { json!(-1) },
                // The one format Credeau documents, "bank | <bank name> | <digits or -1>", whatever
                // the sender's `sender_type`.
                "unique_pan_nlp": format!("bank | {bank} | {last4}"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(seed: u64, user: &str) -> Vec<f64> {
        CATALOGUE.values(&mut generate::rng(seed, "credeau", user, "features"))
    }

    #[test]
    fn the_shipped_catalogue_parses_and_has_about_3000_features() {
        let n = CATALOGUE.features.len();
        assert!((2500..=3500).contains(&n), "{n} features");
        for name in [
            "all_sms_count_nlp",
            "txn_sms_count_nlp",
            "credit_sms_count_nlp",
        ] {
            assert!(
                CATALOGUE.index_of(name).is_some(),
                "{name} is in the catalogue"
            );
        }
    }

    #[test]
    fn every_extracted_record_writes_unique_pan_nlp_in_the_documented_bank_format() {
        let mut senders = std::collections::BTreeSet::new();
        for user in 0..60 {
            let user = format!("user-{user}");
            let features = values(3, &user);
            let mut rng = generate::rng(3, "credeau", &user, "sms");
            let now = DateTime::<Utc>::from_timestamp(1_770_000_000, 0).unwrap();
            for r in extracted_records(&mut rng, &features, &user, "c", "r", now, |n| n.to_string())
            {
                senders.insert(r["sender_type"].as_str().unwrap().to_string());
                let want = format!(
                    "bank | {} | {}",
                    r["sender_name"].as_str().unwrap(),
                    r["account_last_digits"].as_str().unwrap()
                );
                assert_eq!(r["unique_pan_nlp"], want.as_str());
            }
        }
        // The wallet sender is among them, and it too is written "bank | …".
        assert!(senders.contains("wallet"), "{senders:?}");
    }

    #[test]
    fn values_are_deterministic_per_seed_and_user() {
        assert_eq!(values(1, "u1"), values(1, "u1"));
        assert_ne!(values(1, "u1"), values(1, "u2"));
        assert_ne!(values(1, "u1"), values(2, "u1"));
    }

    #[test]
    fn subsets_never_exceed_their_totals_for_many_users() {
        let cat = &*CATALOGUE;
        for user in 0..200 {
            let v = values(7, &format!("user-{user}"));
            let mut sums: HashMap<usize, f64> = HashMap::new();
            for (i, f) in cat.features.iter().enumerate() {
                match f.rule {
                    Rule::CountOf { parent, exclusive } => {
                        assert!(v[i] <= v[parent], "{} > its parent", f.name);
                        if exclusive {
                            *sums.entry(parent).or_default() += v[i];
                        }
                    }
                    Rule::AmountOf { parent } => {
                        assert!(v[i] <= v[parent], "{} > its parent", f.name)
                    }
                    Rule::Ratio { .. } => {
                        assert!((0.0..=1.0).contains(&v[i]), "{} = {}", f.name, v[i])
                    }
                    _ => {}
                }
                assert!(v[i] >= 0.0, "{} is negative", f.name);
            }
            for (parent, sum) in sums {
                assert!(
                    sum <= v[parent],
                    "exclusive children of {} add up to {sum} > {}",
                    cat.features[parent].name,
                    v[parent]
                );
            }
        }
    }
}
