//! FinBox's generated data: the predictor catalogues (one per feature-set version,
//! `fixtures/finbox/predictors-v*.json`) and the List Devices, Transactions and Accounts
//! records.
//!
//! Predictor values are deterministic per (seed, customer id, version) and consistent:
//! a subset count never exceeds what it is counted from, 30-day figures never exceed
//! their longer window, min ≤ avg ≤ max, averages and ratios are computed from the
//! values they relate, amounts are 0 where their count is, and a band matches its score.
//! Transactions reference the accounts the Accounts API gives for the same device, fall
//! within the last 6 months (as the doc says), and use only the documented enum values.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::generate::{self, MockRng};

/// The largest size a predictor's `min` or `max` may have, and any value it takes.
/// 10^15 is far beyond any count or rupee amount a device yields, and below 2^53, so
/// every whole number up to it is exact in a float and a count never saturates.
pub const LIMIT: f64 = 1e15;

/// The feature-set versions whose catalogues ship (`DC_PREDICTORS_VERSION`).
pub const VERSIONS: [i64; 2] = [1, 2];

/// The shipped catalogue that answers a version without its own (any integer ≥ 1 other
/// than 1 and 2, unless a scenario file's `[versions]` says otherwise): the newest one,
/// as the nearest stand-in for a feature set newer than any the mock knows.
pub const FALLBACK: i64 = 2;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    version: i64,
    #[allow(dead_code)]
    description: String,
    predictors: Vec<Spec>,
}

/// One predictor as a catalogue file (or a scenario file's `[versions.catalogues.N]
/// predictors`) declares it; see `fixtures/finbox/predictors-v1.json` for the kinds.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    name: String,
    kind: String,
    min: Option<f64>,
    max: Option<f64>,
    of: Option<String>,
    share: Option<f64>,
    low: Option<String>,
    high: Option<String>,
    num: Option<String>,
    den: Option<String>,
    divisor: Option<f64>,
    decimals: Option<i32>,
    p: Option<f64>,
    values: Option<Vec<String>>,
    bands: Option<Vec<(f64, String)>>,
    zero_if: Option<String>,
}

#[derive(Debug)]
enum Rule {
    Count {
        min: f64,
        max: f64,
    },
    CountOf {
        of: usize,
        share: f64,
        max: f64,
    },
    Amount {
        min: f64,
        max: f64,
    },
    AmountOf {
        of: usize,
        share: f64,
    },
    Between {
        low: usize,
        high: usize,
    },
    Per {
        of: usize,
        divisor: f64,
    },
    Ratio {
        num: usize,
        den: usize,
        decimals: i32,
    },
    Days {
        min: f64,
        max: f64,
        /// At most this earlier value (a first SMS no older than the device).
        of: Option<usize>,
    },
    Flag {
        p: f64,
    },
    Score {
        min: f64,
        max: f64,
        decimals: i32,
    },
    Band {
        of: usize,
        bands: Vec<(f64, String)>,
    },
    Choice {
        values: Vec<String>,
    },
}

#[derive(Debug)]
struct Predictor {
    name: String,
    rule: Rule,
    zero_if: Option<usize>,
}

/// One version's predictors, in file order (every reference points to an earlier one).
#[derive(Debug)]
pub struct Catalogue {
    predictors: Vec<Predictor>,
}

/// The shipped catalogues, by version.
pub static CATALOGUES: LazyLock<Vec<(i64, Catalogue)>> = LazyLock::new(|| {
    [
        include_str!("../../../fixtures/finbox/predictors-v1.json"),
        include_str!("../../../fixtures/finbox/predictors-v2.json"),
    ]
    .iter()
    .map(|t| {
        Catalogue::parse(t).expect("fixtures/finbox catalogues are valid (a unit test checks)")
    })
    .collect()
});

/// The catalogue of `version`, if it ships.
pub fn catalogue(version: i64) -> Option<&'static Catalogue> {
    CATALOGUES
        .iter()
        .find(|(v, _)| *v == version)
        .map(|(_, c)| c)
}

/// A computed predictor value.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Num(f64),
    Int(i64),
    Text(String),
}

impl Val {
    /// Within ±[`LIMIT`], NaN as 0: whatever a scenario file's catalogue computes (a
    /// `per` with a tiny divisor, a `ratio` of a huge value to a tiny one), no later
    /// predictor draws from a range rand cannot take, and no answer carries a number
    /// JSON cannot.
    fn bounded(self) -> Self {
        let limit = LIMIT as i64;
        match self {
            Val::Num(v) if v.is_nan() => Val::Num(0.0),
            Val::Num(v) => Val::Num(v.clamp(-LIMIT, LIMIT)),
            Val::Int(v) => Val::Int(v.clamp(-limit, limit)),
            text => text,
        }
    }

    fn num(&self) -> f64 {
        match self {
            Val::Num(v) => *v,
            Val::Int(v) => *v as f64,
            Val::Text(_) => 0.0,
        }
    }
}

impl Catalogue {
    fn parse(text: &str) -> Result<(i64, Self), String> {
        let file: CatalogueFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let catalogue = Self::from_specs(file.predictors).map_err(|(_, e)| e)?;
        Ok((file.version, catalogue))
    }

    /// Compile predictor specs in order; `Err` names the index of the first bad one.
    pub fn from_specs(specs: Vec<Spec>) -> Result<Self, (usize, String)> {
        if specs.is_empty() {
            return Err((0, "a catalogue needs at least one predictor".into()));
        }
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut predictors = Vec::new();
        for (i, s) in specs.into_iter().enumerate() {
            Self::add(&mut index, &mut predictors, s).map_err(|e| (i, e))?;
        }
        Ok(Self { predictors })
    }

    /// Compile one spec after the ones already in `predictors`.
    fn add(
        index: &mut HashMap<String, usize>,
        predictors: &mut Vec<Predictor>,
        s: Spec,
    ) -> Result<(), String> {
        check_numbers(&s)?;
        let earlier = |n: &Option<String>| -> Result<usize, String> {
            let n = n
                .as_deref()
                .ok_or_else(|| format!("{}: a reference is missing", s.name))?;
            index
                .get(n)
                .copied()
                .ok_or_else(|| format!("{}: {n} must come earlier", s.name))
        };
        let need = |v: Option<f64>, what: &str| v.ok_or(format!("{}: needs {what}", s.name));
        let rule = match (s.kind.as_str(), &s.of) {
            ("count", None) => Rule::Count {
                min: s.min.unwrap_or(0.0),
                max: need(s.max, "max")?,
            },
            ("count", of) => Rule::CountOf {
                of: earlier(of)?,
                share: s.share.unwrap_or(1.0),
                max: s.max.unwrap_or(f64::INFINITY),
            },
            ("amount", None) => Rule::Amount {
                min: s.min.unwrap_or(0.0),
                max: need(s.max, "max")?,
            },
            ("amount", of) => Rule::AmountOf {
                of: earlier(of)?,
                share: s.share.unwrap_or(1.0),
            },
            ("between", _) => Rule::Between {
                low: earlier(&s.low)?,
                high: earlier(&s.high)?,
            },
            ("per", of) => Rule::Per {
                of: earlier(of)?,
                divisor: need(s.divisor, "divisor")?,
            },
            ("ratio", _) => Rule::Ratio {
                num: earlier(&s.num)?,
                den: earlier(&s.den)?,
                decimals: s.decimals.unwrap_or(4),
            },
            ("days", of) => Rule::Days {
                min: s.min.unwrap_or(0.0),
                max: need(s.max, "max")?,
                of: match of {
                    Some(_) => Some(earlier(of)?),
                    None => None,
                },
            },
            ("flag", _) => Rule::Flag { p: need(s.p, "p")? },
            ("score", _) => Rule::Score {
                min: s.min.unwrap_or(0.0),
                max: s.max.unwrap_or(1.0),
                decimals: s.decimals.unwrap_or(4),
            },
            ("band", of) => Rule::Band {
                of: earlier(of)?,
                bands: s.bands.clone().ok_or(format!("{}: needs bands", s.name))?,
            },
            ("choice", _) => Rule::Choice {
                values: s
                    .values
                    .clone()
                    .filter(|v| !v.is_empty())
                    .ok_or(format!("{}: needs values", s.name))?,
            },
            (k, _) => return Err(format!("{}: unknown kind {k}", s.name)),
        };
        let range = match &rule {
            Rule::Count { min, max }
            | Rule::Amount { min, max }
            | Rule::Days { min, max, .. }
            | Rule::Score { min, max, .. } => Some((*min, *max)),
            _ => None,
        };
        if let Some((lo, hi)) = range.filter(|(lo, hi)| lo > hi) {
            // Name a default the file did not write, or the message points at a
            // number that is not there.
            let defaulted = match (s.min, s.max) {
                (None, Some(_)) => format!(" (min defaults to {lo})"),
                (Some(_), None) => format!(" (max defaults to {hi})"),
                _ => String::new(),
            };
            return Err(format!("{}: min {lo} is above max {hi}{defaulted}", s.name));
        }
        let zero_if = match &s.zero_if {
            Some(_) => Some(earlier(&s.zero_if)?),
            None => None,
        };
        if index.insert(s.name.clone(), predictors.len()).is_some() {
            return Err(format!("{} is listed twice", s.name));
        }
        predictors.push(Predictor {
            name: s.name,
            rule,
            zero_if,
        });
        Ok(())
    }

    fn values(&self, rng: &mut MockRng) -> Vec<Val> {
        let mut out: Vec<Val> = Vec::with_capacity(self.predictors.len());
        for p in &self.predictors {
            let v = match &p.rule {
                Rule::Count { min, max } => {
                    Val::Int(generate::uniform(rng, *min, *max).floor() as i64)
                }
                Rule::CountOf { of, share, max } => {
                    // At least 0: a scenario file's catalogue may count "of" a value
                    // that can be negative.
                    let upper = (out[*of].num().min(*max) * share).max(0.0);
                    Val::Int(generate::uniform(rng, 0.0, upper).floor() as i64)
                }
                Rule::Amount { min, max } => Val::Num(generate::decimal(rng, *min, *max, 2)),
                Rule::AmountOf { of, share } => Val::Num(generate::decimal(
                    rng,
                    0.0,
                    (out[*of].num() * share).max(0.0),
                    2,
                )),
                Rule::Between { low, high } => {
                    // In order whatever a scenario file's catalogue pairs up.
                    let (a, b) = (out[*low].num(), out[*high].num());
                    let (l, h) = (a.min(b), a.max(b));
                    Val::Num(generate::decimal(rng, l, h, 2).clamp(l, h))
                }
                Rule::Per { of, divisor } => Val::Num(generate::round(out[*of].num() / divisor, 2)),
                Rule::Ratio { num, den, decimals } => {
                    let d = out[*den].num();
                    Val::Num(if d == 0.0 {
                        0.0
                    } else {
                        generate::round(out[*num].num() / d, *decimals)
                    })
                }
                Rule::Days { min, max, of } => {
                    let max = of.map_or(*max, |o| max.min(out[o].num()));
                    let min = min.min(max);
                    Val::Int(generate::uniform(rng, min, max).floor() as i64)
                }
                // random_bool panics outside 0..=1 (validation refuses such a p).
                Rule::Flag { p } => {
                    let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
                    Val::Int(i64::from(rng.random_bool(p)))
                }
                Rule::Score { min, max, decimals } => {
                    let v = generate::decimal(rng, *min, *max, *decimals);
                    if *decimals == 0 {
                        Val::Int(v as i64)
                    } else {
                        Val::Num(v)
                    }
                }
                Rule::Band { of, bands } => {
                    let score = out[*of].num();
                    let label = bands
                        .iter()
                        .rfind(|(min, _)| score >= *min)
                        .or(bands.first())
                        .map(|(_, l)| l.clone())
                        .unwrap_or_default();
                    Val::Text(label)
                }
                // An empty range panics (validation refuses an empty list).
                Rule::Choice { values } if values.is_empty() => Val::Text(String::new()),
                Rule::Choice { values } => {
                    Val::Text(values[rng.random_range(0..values.len())].clone())
                }
            };
            let v = match (p.zero_if, &v) {
                (Some(z), Val::Int(_)) if out[z].num() == 0.0 => Val::Int(0),
                (Some(z), Val::Num(_)) if out[z].num() == 0.0 => Val::Num(0.0),
                _ => v,
            };
            out.push(v.bounded());
        }
        out
    }

    /// The `data` array: `{name, value}` for every predictor of this version.
    pub fn data(&self, rng: &mut MockRng) -> Value {
        let values = self.values(rng);
        Value::Array(
            self.predictors
                .iter()
                .zip(values)
                .map(|(p, v)| {
                    let value = match v {
                        Val::Int(i) => json!(i),
                        Val::Num(f) => json!(f),
                        Val::Text(t) => json!(t),
                    };
                    json!({"name": p.name, "value": value})
                })
                .collect(),
        )
    }

    #[cfg(test)]
    pub(crate) fn names(&self) -> Vec<&str> {
        self.predictors.iter().map(|p| p.name.as_str()).collect()
    }
}

/// The numbers of a spec, checked so that its values are what it says (with the ranges
/// checked once the rule is known): all finite, `min` and `max` within ±[`LIMIT`] (a
/// wider range is one rand cannot draw from), `share` and `p` between 0 and 1, `divisor`
/// not 0, `decimals` 0–12. Drawing never panics whatever the numbers (see
/// [`generate::uniform`] and [`Val::bounded`]); these checks keep the answers meaningful.
fn check_numbers(s: &Spec) -> Result<(), String> {
    let n = &s.name;
    for (what, v) in [
        ("min", s.min),
        ("max", s.max),
        ("share", s.share),
        ("divisor", s.divisor),
        ("p", s.p),
    ] {
        if v.is_some_and(|v| !v.is_finite()) {
            return Err(format!("{n}: {what} must be a finite number"));
        }
    }
    for (what, v) in [("min", s.min), ("max", s.max)] {
        if v.is_some_and(|v| v.abs() > LIMIT) {
            return Err(format!("{n}: {what} must be from -1e15 to 1e15"));
        }
    }
    if s.share.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
        return Err(format!("{n}: share must be from 0 to 1"));
    }
    if s.p.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
        return Err(format!("{n}: p must be from 0 to 1"));
    }
    if s.divisor == Some(0.0) {
        return Err(format!("{n}: divisor must not be 0"));
    }
    if s.decimals.is_some_and(|d| !(0..=12).contains(&d)) {
        return Err(format!("{n}: decimals must be from 0 to 12"));
    }
    if s.bands.iter().flatten().any(|(min, _)| !min.is_finite()) {
        return Err(format!("{n}: band thresholds must be finite numbers"));
    }
    Ok(())
}

/// The documented `given_permissions` values.
pub const PERMISSIONS: [&str; 9] = [
    "sms_permission",
    "calls_permission",
    "contacts_permission",
    "location_permission",
    "phone_state_permission",
    "storage_permission",
    "calendar_permission",
    "accounts_permission",
    "usage_permission",
];
/// The documented transaction `tag` values.
pub const TAGS: [&str; 7] = [
    "Fixed Deposit",
    "Salary",
    "Self Transfer",
    "Credit Card Payment",
    "Auto Pay",
    "Refund",
    "Regular",
];
/// The documented debit `category` values.
pub const CATEGORIES: [&str; 14] = [
    "Cash",
    "Transfers",
    "Other",
    "Bills",
    "Entertainment",
    "eWallet",
    "Food",
    "Fuel",
    "Groceries",
    "Investments",
    "Loans",
    "Medical",
    "Shopping",
    "Travel",
];
/// The documented `channel` values.
pub const CHANNELS: [&str; 6] = ["netbanking", "card", "cash", "cheque", "upi", "auto-debit"];
/// The documented account `type` values.
pub const ACCOUNT_TYPES: [&str; 4] = ["bank", "ewallet", "debit-card", "credit-card"];

const MODELS: &[&str] = &[
    "GOOGLE PIXEL 3A",
    "SAMSUNG GALAXY M31",
    "XIAOMI REDMI NOTE 8",
    "VIVO Y20",
    "OPPO A53",
    "ONEPLUS NORD",
    "REALME 6",
    "SAMSUNG GALAXY A12",
];
const BANKS: &[&str] = &["HDFC", "ICICI", "SBI", "AXIS", "KOTAK"];
const WALLETS: &[&str] = &["PAYTM", "PHONEPE", "AMAZONPAY", "MOBIKWIK"];
/// (merchant, category, usual channel)
const MERCHANTS: &[(&str, &str, &str)] = &[
    ("Uber", "Travel", "card"),
    ("Ola", "Travel", "upi"),
    ("IRCTC", "Travel", "netbanking"),
    ("Swiggy", "Food", "upi"),
    ("Zomato", "Food", "card"),
    ("BigBasket", "Groceries", "upi"),
    ("DMart", "Groceries", "card"),
    ("Amazon", "Shopping", "card"),
    ("Flipkart", "Shopping", "upi"),
    ("Indian Oil", "Fuel", "card"),
    ("BESCOM", "Bills", "netbanking"),
    ("Airtel", "Bills", "upi"),
    ("BookMyShow", "Entertainment", "card"),
    ("Apollo Pharmacy", "Medical", "upi"),
    ("Zerodha", "Investments", "netbanking"),
    ("Bajaj Finance", "Loans", "auto-debit"),
    ("ATM", "Cash", "cash"),
    ("Paytm Wallet", "eWallet", "upi"),
    ("Local Store", "Other", "upi"),
    ("Rent", "Transfers", "cheque"),
];
const QR_PROVIDERS: &[&str] = &["BHARATPE", "PAYTM", "PHONEPE", "GOOGLEPAY"];

/// `YYYY-MM-DD HH:MM:SS`, the Transactions/Accounts doc's format.
fn plain(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A 32-hex identifier drawn from `rng`.
fn hash(rng: &mut MockRng) -> String {
    generate::hex(&rng.random::<[u8; 32]>(), 32)
}

/// The devices a customer has logged into (List Devices `data`), newest first.
/// `device_ids` are 32-hex, derived from (seed, customer id).
pub fn devices(rng: &mut MockRng, now: DateTime<Utc>) -> Value {
    let n = rng.random_range(1..=3);
    let mut out = Vec::new();
    let mut last = now - TimeDelta::seconds(rng.random_range(60..7 * 86_400));
    for _ in 0..n {
        let created = last - TimeDelta::seconds(rng.random_range(3_600..200 * 86_400));
        let mut perms: Vec<&str> = PERMISSIONS
            .iter()
            .copied()
            .filter(|_| rng.random_bool(0.75))
            .collect();
        if perms.is_empty() {
            perms.push("sms_permission");
        }
        out.push(json!({
            "device_id": hash(rng),
            "last_opened": last.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "created": created.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "mobile_model": MODELS[rng.random_range(0..MODELS.len())],
            "app_open_count": rng.random_range(1..=120),
            "given_permissions": perms,
        }));
        last = created - TimeDelta::seconds(rng.random_range(3_600..30 * 86_400));
    }
    Value::Array(out)
}

/// One generated account, before its activity is known.
struct Account {
    kind: &'static str,
    company: &'static str,
    number: String,
    hash: String,
}

fn accounts_of(rng: &mut MockRng) -> Vec<Account> {
    let n = rng.random_range(1..=4);
    (0..n)
        .map(|i| {
            // The first account is always a bank account: it is the primary one.
            let kind = if i == 0 {
                "bank"
            } else {
                ACCOUNT_TYPES[rng.random_range(0..ACCOUNT_TYPES.len())]
            };
            let company = if kind == "ewallet" {
                WALLETS[rng.random_range(0..WALLETS.len())]
            } else {
                BANKS[rng.random_range(0..BANKS.len())]
            };
            Account {
                kind,
                company,
                number: format!("{:04}", rng.random_range(0..10_000)),
                hash: hash(rng),
            }
        })
        .collect()
}

/// A device's captured accounts and transactions (the `data` of the Accounts and
/// Transactions APIs), generated together so they agree: every `account_hash` of a
/// transaction is one of the accounts, an account's `last_used_date` is its newest
/// transaction and `active_months_list` the months it has transactions in. All of it
/// lies within the last 6 months, newest transaction first.
pub struct Book {
    pub accounts: Value,
    pub transactions: Value,
}

pub fn book(rng: &mut MockRng, now: DateTime<Utc>) -> Book {
    let accounts = accounts_of(rng);
    let n = rng.random_range(5..=40);
    let mut ages: Vec<i64> = (0..n).map(|_| rng.random_range(0..180 * 86_400)).collect();
    ages.sort_unstable();
    let mut used: Vec<Vec<DateTime<Utc>>> = vec![Vec::new(); accounts.len()];
    let transactions: Vec<Value> = ages
        .into_iter()
        .map(|age| {
            let ai = rng.random_range(0..accounts.len());
            let a = &accounts[ai];
            let at = now - TimeDelta::seconds(age);
            used[ai].push(at);
            let credit = rng.random_bool(0.35);
            let (tag, category, channel, merchant, amount) = if credit {
                let tag = ["Salary", "Refund", "Self Transfer", "Regular"][rng.random_range(0..4)];
                let amount = match tag {
                    "Salary" => rng.random_range(15_000.0..=150_000.0),
                    _ => rng.random_range(50.0..=40_000.0),
                };
                let channel = if tag == "Salary" { "netbanking" } else { "upi" };
                (tag, Value::Null, channel, Value::Null, amount)
            } else {
                let (m, cat, ch) = MERCHANTS[rng.random_range(0..MERCHANTS.len())];
                let tag = match cat {
                    "Loans" => "Auto Pay",
                    "Investments" if rng.random_bool(0.5) => "Fixed Deposit",
                    _ if a.kind == "credit-card" && rng.random_bool(0.1) => "Credit Card Payment",
                    _ => "Regular",
                };
                (tag, json!(cat), ch, json!(m), rng.random_range(20.0..=25_000.0))
            };
            let qr = channel == "upi" && !credit && rng.random_bool(0.4);
            json!({
                "transaction_hash": hash(rng),
                "tag": tag,
                "account_hash": a.hash,
                "category": category,
                "type": if credit { "credit" } else { "debit" },
                "channel": channel,
                "merchant": merchant,
                "timeinmilis": at.timestamp_millis(),
                "amount": generate::round(amount, 2),
                "servicename": a.company,
                "account_number": format!("{} {}", a.company, a.number),
                "time": plain(at),
                "is_qr_payment": if qr { "True" } else { "False" },
                "qr_service_provider": if qr { json!(QR_PROVIDERS[rng.random_range(0..QR_PROVIDERS.len())]) } else { Value::Null },
            })
        })
        .collect();
    let accounts: Vec<Value> = accounts
        .iter()
        .zip(&used)
        .enumerate()
        .map(|(i, (a, times))| {
            // Newest first, as generated; an account without transactions was last
            // seen through a balance message.
            let last_used = times
                .first()
                .copied()
                .unwrap_or_else(|| now - TimeDelta::seconds(rng.random_range(600..150 * 86_400)));
            let balance_date = (last_used + TimeDelta::seconds(rng.random_range(0..600))).min(now);
            let mut active: Vec<String> = times
                .iter()
                .chain([&last_used])
                .map(|t| t.format("%Y-%m").to_string())
                .collect();
            active.sort();
            active.dedup();
            let is_card = a.kind == "credit-card";
            let limit = generate::round(rng.random_range(20_000.0..=500_000.0), 2);
            let bill_date = last_used - TimeDelta::seconds(rng.random_range(0..30 * 86_400));
            let balance = if is_card {
                generate::round(limit * rng.random_range(0.0..=1.0), 2)
            } else {
                generate::round(rng.random_range(0.0..=250_000.0), 2)
            };
            json!({
                "type": a.kind,
                "latest_bill_date": if is_card { json!(plain(bill_date)) } else { Value::Null },
                "is_primary": i == 0,
                "company": a.company,
                "last_used_date": plain(last_used),
                "number": a.number,
                "latest_bill": if is_card { json!(generate::round(limit - balance, 2)) } else { Value::Null },
                "limit": if is_card { json!(limit) } else { Value::Null },
                "latest_balance_date": plain(balance_date),
                "active_months_list": active,
                "account_hash": a.hash,
                "latest_balance": balance,
            })
        })
        .collect();
    Book {
        accounts: Value::Array(accounts),
        transactions: Value::Array(transactions),
    }
}

/// `transactions` (newest first) at or after `start` and at or before `end` (epoch
/// milliseconds, compared with `timeinmilis`), at most `limit` of them: the newest.
pub fn transactions_between(
    transactions: Value,
    start: Option<i64>,
    end: Option<i64>,
    limit: Option<u64>,
) -> Value {
    let Value::Array(list) = transactions else {
        return transactions;
    };
    let limit = limit.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    Value::Array(
        list.into_iter()
            .filter(|t| {
                let ms = t["timeinmilis"].as_i64().unwrap_or_default();
                start.is_none_or(|s| ms >= s) && end.is_none_or(|e| ms <= e)
            })
            .take(limit)
            .collect(),
    )
}

/// At most `limit` of `accounts`: the most recently used ones (by `last_used_date`),
/// kept in the list's own order (the primary account first).
pub fn recent_accounts(accounts: Value, limit: Option<u64>) -> Value {
    let (Value::Array(list), Some(limit)) = (&accounts, limit) else {
        return accounts;
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if list.len() <= limit {
        return accounts;
    }
    let mut by_recency: Vec<usize> = (0..list.len()).collect();
    // `YYYY-MM-DD HH:MM:SS` sorts as text; ties keep the list's order.
    by_recency.sort_by(|a, b| {
        list[*b]["last_used_date"]
            .as_str()
            .cmp(&list[*a]["last_used_date"].as_str())
    });
    by_recency.truncate(limit);
    Value::Array(
        list.iter()
            .enumerate()
            .filter(|(i, _)| by_recency.contains(i))
            .map(|(_, a)| a.clone())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(seed: u64, customer: &str, version: i64) -> Value {
        catalogue(version).unwrap().data(&mut generate::rng(
            seed,
            "finbox",
            customer,
            &format!("predictors-v{version}"),
        ))
    }

    fn get(d: &Value, name: &str) -> f64 {
        d.as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} is a predictor"))["value"]
            .as_f64()
            .unwrap()
    }

    #[test]
    fn both_versions_parse_and_differ() {
        let (v1, v2) = (catalogue(1).unwrap().names(), catalogue(2).unwrap().names());
        assert!(v1.len() >= 30 && v2.len() >= 30);
        assert_ne!(v1, v2);
        assert!(catalogue(3).is_none(), "only 1 and 2 ship");
        assert!(VERSIONS.contains(&FALLBACK));
    }

    #[test]
    fn no_range_ever_reaches_rand_in_a_way_that_panics() {
        // Rules as no checked file can write them: the generator alone must hold.
        let p = |name: &str, rule: Rule| Predictor {
            name: name.into(),
            rule,
            zero_if: None,
        };
        let hostile = Catalogue {
            predictors: vec![
                p(
                    "wide",
                    Rule::Amount {
                        min: -1e308,
                        max: 1e308,
                    },
                ),
                p(
                    "reversed",
                    Rule::Count {
                        min: 9.0,
                        max: -9.0,
                    },
                ),
                p(
                    "days",
                    Rule::Days {
                        min: f64::MIN,
                        max: f64::MAX,
                        of: None,
                    },
                ),
                p(
                    "score",
                    Rule::Score {
                        min: f64::NEG_INFINITY,
                        max: f64::NAN,
                        decimals: 0,
                    },
                ),
                p("between", Rule::Between { low: 0, high: 2 }),
                p(
                    "huge",
                    Rule::Per {
                        of: 0,
                        divisor: 1e-300,
                    },
                ),
                p(
                    "of_huge",
                    Rule::CountOf {
                        of: 5,
                        share: 1.0,
                        max: f64::INFINITY,
                    },
                ),
                p("amount_of", Rule::AmountOf { of: 5, share: 1.0 }),
                p(
                    "ratio",
                    Rule::Ratio {
                        num: 5,
                        den: 7,
                        decimals: 12,
                    },
                ),
                p(
                    "days_of",
                    Rule::Days {
                        min: 0.0,
                        max: 10.0,
                        of: Some(8),
                    },
                ),
                p(
                    "band",
                    Rule::Band {
                        of: 8,
                        bands: vec![(0.0, "A".into())],
                    },
                ),
                p(
                    "no_bands",
                    Rule::Band {
                        of: 8,
                        bands: vec![],
                    },
                ),
                p("p_above_1", Rule::Flag { p: 2.0 }),
                p("p_nan", Rule::Flag { p: f64::NAN }),
                p("no_choice", Rule::Choice { values: vec![] }),
            ],
        };
        for i in 0..200 {
            let values = hostile.values(&mut generate::rng(0, "finbox", &format!("c{i}"), "p"));
            for v in &values {
                let n = v.num();
                assert!(n.is_finite() && n.abs() <= LIMIT, "{v:?}");
            }
            let body = serde_json::to_string(&hostile.data(&mut generate::rng(0, "f", "c", "p")));
            assert!(body.is_ok_and(|b| !b.contains("null")));
        }
    }

    #[test]
    fn values_are_deterministic_per_seed_customer_and_version() {
        assert_eq!(data(1, "c1", 1), data(1, "c1", 1));
        assert_ne!(data(1, "c1", 1), data(1, "c2", 1));
        assert_ne!(data(1, "c1", 1), data(2, "c1", 1));
    }

    #[test]
    fn values_are_consistent_for_many_customers() {
        for i in 0..300 {
            let c = format!("cust-{i}");
            let d = data(3, &c, 1);
            assert!(
                get(&d, "cnt_credit_txn_180d") + get(&d, "cnt_debit_txn_180d")
                    <= get(&d, "cnt_txn_sms_180d")
            );
            assert!(get(&d, "cnt_txn_sms_180d") <= get(&d, "cnt_sms_total_180d"));
            assert!(get(&d, "cnt_credit_txn_30d") <= get(&d, "cnt_credit_txn_180d"));
            assert!(get(&d, "amt_credit_txn_30d") <= get(&d, "amt_credit_txn_180d"));
            assert!(get(&d, "min_balance_30d") <= get(&d, "avg_balance_30d"));
            assert!(get(&d, "avg_balance_30d") <= get(&d, "max_balance_30d"));
            assert!(get(&d, "cnt_salary_credits_180d") <= 6.0);
            assert!(
                get(&d, "days_since_first_sms") <= get(&d, "device_age_days"),
                "{c}: first SMS older than the device"
            );
            if get(&d, "cnt_salary_credits_180d") == 0.0 {
                assert_eq!(get(&d, "latest_salary_amt"), 0.0);
            }
            let d = data(3, &c, 2);
            let score = get(&d, "dc_risk_score");
            assert!((300.0..=900.0).contains(&score));
            let band = d
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == "dc_risk_band")
                .unwrap()["value"]
                .clone();
            let want = match score as i64 {
                s if s >= 800 => "A",
                s if s >= 700 => "B",
                s if s >= 600 => "C",
                s if s >= 450 => "D",
                _ => "E",
            };
            assert_eq!(band, want, "score {score}");
            assert!(get(&d, "cnt_upi_txn_90d") <= get(&d, "cnt_debit_txn_90d"));
            assert!(
                get(&d, "days_since_first_txn_sms") <= get(&d, "device_age_days"),
                "{c}: first transaction SMS older than the device"
            );
            assert!(get(&d, "min_balance_90d") <= get(&d, "avg_balance_90d"));
        }
    }

    #[test]
    fn filters_keep_the_newest_transactions_in_range_and_the_most_recently_used_accounts() {
        let now = DateTime::from_timestamp(1_768_471_200, 0).unwrap();
        let Book {
            accounts,
            transactions,
        } = book(&mut generate::rng(0, "finbox", "dev-filter", "book"), now);
        let all = transactions.as_array().unwrap().clone();
        let ms = |t: &Value| t["timeinmilis"].as_i64().unwrap();
        let (start, end) = (ms(&all[all.len() - 2]), ms(&all[1]));
        let mid = transactions_between(transactions.clone(), Some(start), Some(end), None);
        let want: Vec<Value> = all[1..all.len() - 1].to_vec();
        assert_eq!(mid, Value::Array(want));
        let two = transactions_between(transactions.clone(), None, None, Some(2));
        assert_eq!(two, Value::Array(all[..2].to_vec()));
        assert_eq!(
            transactions_between(transactions, Some(end + 1), Some(end), None),
            json!([])
        );
        let list = accounts.as_array().unwrap().clone();
        let one = recent_accounts(accounts.clone(), Some(1));
        let newest = list
            .iter()
            .map(|a| a["last_used_date"].as_str().unwrap())
            .max()
            .unwrap();
        assert_eq!(one.as_array().unwrap().len(), 1);
        assert_eq!(one[0]["last_used_date"], newest);
        assert_eq!(recent_accounts(accounts.clone(), Some(99)), accounts);
        assert_eq!(recent_accounts(accounts.clone(), None), accounts);
    }

    #[test]
    fn transactions_use_the_devices_accounts_and_documented_enums() {
        let now = DateTime::from_timestamp(1_768_471_200, 0).unwrap();
        for i in 0..50 {
            let dev = format!("dev-{i}");
            let Book {
                accounts: accts,
                transactions: txns,
            } = book(&mut generate::rng(0, "finbox", &dev, "book"), now);
            let hashes: Vec<&Value> = accts
                .as_array()
                .unwrap()
                .iter()
                .map(|a| &a["account_hash"])
                .collect();
            for a in accts.as_array().unwrap() {
                assert!(ACCOUNT_TYPES.contains(&a["type"].as_str().unwrap()));
                let newest = txns
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|t| t["account_hash"] == a["account_hash"]);
                if let Some(t) = newest {
                    assert_eq!(t["time"], a["last_used_date"]);
                }
            }
            for t in txns.as_array().unwrap() {
                assert!(hashes.contains(&&t["account_hash"]));
                assert!(TAGS.contains(&t["tag"].as_str().unwrap()));
                assert!(CHANNELS.contains(&t["channel"].as_str().unwrap()));
                if t["type"] == "debit" {
                    assert!(CATEGORIES.contains(&t["category"].as_str().unwrap()));
                }
                let ms = t["timeinmilis"].as_i64().unwrap();
                assert!(
                    ms <= now.timestamp_millis()
                        && ms > (now - TimeDelta::days(181)).timestamp_millis()
                );
            }
        }
    }
}
