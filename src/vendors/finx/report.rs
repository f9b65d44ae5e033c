//! The risk report, computed from a [`Dataset`], in both documented shapes, and the
//! transaction queries its `href`s stand for.
//!
//! Every aggregate is computed from the transactions in its section: `total` is their
//! sum, `count` their number, `low`/`high` the smallest and largest amount, `average`
//! `total / count` rounded to cents (so `low ≤ average ≤ high`), `first_booked_on` /
//! `last_booked_on` the first and last booking date. Each `href` is
//! `{base}/rest/transactions?categories=…&since=<period start>&until=<period end>`
//! and returns exactly those transactions ([`Query`]).
//!
//! Choices where the document is silent (all in `docs/vendors/finx.md`):
//! amounts are signed (income positive, spending negative), so an expense section's
//! `low` is its largest payment; `ratio_to_income` is `|total| / income total × 100`
//! rounded to a whole percent (the document shows `98`); `consumption_rate` is
//! `|expenses regular + variable| / income total`, rounded to 2 places; indicator
//! sections (`atm`, `gambling`, `debt_collection`, `loan`) are not also counted in
//! `expenses`; an empty indicator has zeros for every number; transfers between the
//! user's own accounts (category 60) are in no aggregated section (income, expenses,
//! indicators: not income, nor `closeness`, not spending); they are counted in
//! `accounts` (balance, days_in_overdraft, averages, last_transaction_on) and listed by
//! the transaction endpoints.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Map, Value};

use super::data::{daily_balances, fold_umlauts, Category, Dataset, Section, Transaction};

/// Which documented report layout to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// v2.11: `regular`/`variable` are arrays of category streams with `href`.
    V211,
    /// The newest docs: `summary` plus `streams`.
    Newest,
}

/// Date format of every date in the report (the transactions' are [`booked_at`]).
pub const DATE: &str = "%Y-%m-%d";

/// figo's timestamp format (`balance_date`): what figo's Java client
/// (`yyyy-MM-dd'T'HH:mm:ss.SSSZZZZZ`, after turning `Z` into `+0000`) and iOS client
/// (`yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`) parse; a plain date would read as null there.
pub const TIMESTAMP: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

/// How amounts are written: euros (the default), or whole cents when a figo client asks
/// with `cents=true` ("If true amounts will be shown in cents"; figo's iOS client always
/// does, and reads every amount as an integer number of cents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Amounts {
    #[default]
    Euros,
    Cents,
}

impl Amounts {
    /// `cents` (an amount in cents) as this unit's JSON number.
    pub fn json(self, cents: i64) -> Value {
        match self {
            Amounts::Euros => money(cents),
            Amounts::Cents => json!(cents),
        }
    }

    /// The `cents` query parameter of figo's calls (`true`/`false`, `1`/`0`; the last
    /// one given wins); `Err` is the 400's description.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, String> {
        let mut amounts = Amounts::Euros;
        for (k, v) in pairs.iter().filter(|(k, _)| k == "cents") {
            amounts = if flag(k, v)? {
                Amounts::Cents
            } else {
                Amounts::Euros
            };
        }
        Ok(amounts)
    }
}

/// A boolean query parameter: `true`/`false` (any case; Ruby's figo client sends
/// `cents=false`) or `1`/`0` (what figo's iOS client's booleans become in a query).
fn flag(k: &str, v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("Invalid value for {k}: {v} (true or false)")),
    }
}

/// Sum, extremes and dates of a set of transactions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Agg {
    pub total: i64,
    pub low: i64,
    pub high: i64,
    pub count: usize,
    pub first: Option<NaiveDate>,
    pub last: Option<NaiveDate>,
}

impl Agg {
    pub fn of<'a>(txs: impl IntoIterator<Item = &'a Transaction>) -> Self {
        let mut a = Agg::default();
        for t in txs {
            if a.count == 0 {
                a.low = t.amount;
                a.high = t.amount;
                a.first = Some(t.date);
                a.last = Some(t.date);
            }
            a.total += t.amount;
            a.low = a.low.min(t.amount);
            a.high = a.high.max(t.amount);
            a.first = a.first.min(Some(t.date));
            a.last = a.last.max(Some(t.date));
            a.count += 1;
        }
        a
    }

    /// `total / count` in cents, rounded half away from zero.
    pub fn average_cents(&self) -> i64 {
        if self.count == 0 {
            return 0;
        }
        let n = self.count as i64;
        let q = self.total.abs() * 2 + n;
        self.total.signum() * (q / (2 * n))
    }

    fn numbers(&self, amounts: Amounts) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("total".into(), amounts.json(self.total));
        m.insert("low".into(), amounts.json(self.low));
        m.insert("high".into(), amounts.json(self.high));
        m.insert("average".into(), amounts.json(self.average_cents()));
        m.insert("count".into(), json!(self.count));
        m
    }

    fn dates(&self, m: &mut Map<String, Value>) {
        if let (Some(f), Some(l)) = (self.first, self.last) {
            m.insert("first_booked_on".into(), json!(f.format(DATE).to_string()));
            m.insert("last_booked_on".into(), json!(l.format(DATE).to_string()));
        }
    }
}

/// Cents as a JSON number of euros (exact: `1234.56`, `-0.5`, `0`).
pub fn money(cents: i64) -> Value {
    if cents % 100 == 0 {
        json!(cents / 100)
    } else {
        json!(cents as f64 / 100.0)
    }
}

/// Round half away from zero to `places` decimals.
fn round(v: f64, places: i32) -> f64 {
    crate::generate::round(v, places)
}

/// What rendering needs besides the data.
pub struct Render<'a> {
    /// `http://host[/finx]`, for the `href`s.
    pub base: &'a str,
    pub report_id: &'a str,
    /// The `name` given at flow start.
    pub provided_name: Option<&'a str>,
    /// IBANs given at flow start (`accounts`).
    pub provided_ibans: &'a [String],
}

impl Dataset {
    fn in_section(&self, s: Section) -> impl Iterator<Item = &Transaction> {
        self.transactions
            .iter()
            .filter(move |t| t.category.section == s)
    }

    /// Categories that have transactions in section `s`, in table order.
    fn categories_in(&self, s: Section) -> Vec<&'static Category> {
        super::data::CATEGORIES
            .iter()
            .filter(|c| c.section == s && self.transactions.iter().any(|t| t.category.id == c.id))
            .collect()
    }

    fn income_total(&self) -> i64 {
        Agg::of(
            self.in_section(Section::IncomeRegular)
                .chain(self.in_section(Section::IncomeVariable)),
        )
        .total
    }
}

/// The `href` for transactions of `categories` over the period.
fn href(base: &str, d: &Dataset, categories: &[u32]) -> String {
    let cats: Vec<String> = categories.iter().map(u32::to_string).collect();
    format!(
        "{base}/rest/transactions?categories={}&since={}&until={}",
        cats.join(","),
        d.since.format(DATE),
        d.until.format(DATE)
    )
}

fn ratio_to_income(total: i64, income: i64) -> Value {
    if income <= 0 {
        return json!(0);
    }
    json!(((total.abs() as f64) / (income as f64) * 100.0).round() as i64)
}

/// One category stream (a `regular`/`variable` entry).
fn stream(d: &Dataset, r: &Render<'_>, c: &Category, shape: Shape, expense: bool) -> Value {
    let a = Agg::of(d.transactions.iter().filter(|t| t.category.id == c.id));
    let mut m = a.numbers(Amounts::Euros);
    if shape == Shape::V211 {
        m.insert("href".into(), json!(href(r.base, d, &[c.id])));
    }
    m.insert("category".into(), json!({"id": c.id, "name": c.name}));
    a.dates(&mut m);
    if expense {
        m.insert(
            "ratio_to_income".into(),
            ratio_to_income(a.total, d.income_total()),
        );
    }
    Value::Object(m)
}

/// A `regular`/`variable` part: an array (v2.11) or `{summary, streams}` (newest).
fn part(d: &Dataset, r: &Render<'_>, s: Section, shape: Shape, expense: bool) -> Value {
    let streams: Vec<Value> = d
        .categories_in(s)
        .into_iter()
        .map(|c| stream(d, r, c, shape, expense))
        .collect();
    match shape {
        Shape::V211 => Value::Array(streams),
        Shape::Newest => {
            json!({"summary": Value::Object(Agg::of(d.in_section(s)).numbers(Amounts::Euros)), "streams": streams})
        }
    }
}

/// An indicator section (`atm`, `gambling`, …).
fn indicator(d: &Dataset, r: &Render<'_>, s: Section, with_ratio: bool) -> Value {
    let cats: Vec<u32> = super::data::CATEGORIES
        .iter()
        .filter(|c| c.section == s)
        .map(|c| c.id)
        .collect();
    let a = Agg::of(d.in_section(s));
    let mut m = a.numbers(Amounts::Euros);
    m.insert("href".into(), json!(href(r.base, d, &cats)));
    if with_ratio {
        m.insert(
            "ratio_to_income".into(),
            ratio_to_income(a.total, d.income_total()),
        );
    }
    Value::Object(m)
}

/// The primary income stream: the salary.
fn primary(d: &Dataset, r: &Render<'_>, shape: Shape) -> Value {
    let salary: Vec<&Transaction> = d
        .transactions
        .iter()
        .filter(|t| t.category.id == 14)
        .collect();
    let a = Agg::of(salary.iter().copied());
    let months_with: std::collections::BTreeSet<(i32, u32)> = salary
        .iter()
        .map(|t| {
            (
                chrono::Datelike::year(&t.date),
                chrono::Datelike::month(&t.date),
            )
        })
        .collect();
    let stability = round(months_with.len() as f64 / f64::from(d.months.max(1)), 2).min(1.0);
    let mut m = Map::new();
    m.insert("recurrence".into(), json!("monthly"));
    m.insert("stability".into(), json!(stability));
    m.extend(a.numbers(Amounts::Euros));
    if shape == Shape::V211 {
        m.insert("href".into(), json!(href(r.base, d, &[14])));
    }
    m.insert("category".into(), json!({"id": 14, "name": "Salary"}));
    a.dates(&mut m);
    m.insert(
        "payment_partner".into(),
        json!({"id": d.employer.id, "name": d.employer.name}),
    );
    Value::Object(m)
}

/// The whole report.
pub fn render(d: &Dataset, r: &Render<'_>, shape: Shape) -> Value {
    let income = d.income_total();
    let expenses = Agg::of(
        d.in_section(Section::ExpenseRegular)
            .chain(d.in_section(Section::ExpenseVariable)),
    );
    // "Days since the last income transaction was detected": any income, regular or
    // variable, the same transactions `income.summary` adds up.
    let last_income = d
        .in_section(Section::IncomeRegular)
        .chain(d.in_section(Section::IncomeVariable))
        .map(|t| t.date)
        .max();
    let closeness = last_income.map_or(json!(null), |l| json!((d.until - l).num_days()));
    let consumption = if income > 0 {
        round(expenses.total.abs() as f64 / income as f64, 2)
    } else {
        0.0
    };

    let mut inc = Map::new();
    if shape == Shape::Newest {
        inc.insert(
            "summary".into(),
            Value::Object(
                Agg::of(
                    d.in_section(Section::IncomeRegular)
                        .chain(d.in_section(Section::IncomeVariable)),
                )
                .numbers(Amounts::Euros),
            ),
        );
    }
    inc.insert(
        "regular".into(),
        part(d, r, Section::IncomeRegular, shape, false),
    );
    inc.insert(
        "variable".into(),
        part(d, r, Section::IncomeVariable, shape, false),
    );
    inc.insert("primary".into(), primary(d, r, shape));
    inc.insert("closeness".into(), closeness);
    inc.insert("consumption_rate".into(), json!(consumption));

    let mut exp = Map::new();
    if shape == Shape::Newest {
        exp.insert(
            "summary".into(),
            Value::Object(expenses.numbers(Amounts::Euros)),
        );
    }
    exp.insert(
        "regular".into(),
        part(d, r, Section::ExpenseRegular, shape, true),
    );
    exp.insert(
        "variable".into(),
        part(d, r, Section::ExpenseVariable, shape, true),
    );

    let mut out = Map::new();
    if shape == Shape::Newest {
        out.insert("id".into(), json!(r.report_id));
    }
    out.insert("period".into(), json!(d.months));
    out.insert("accounts".into(), accounts(d, r));
    out.insert("income".into(), Value::Object(inc));
    out.insert("expenses".into(), Value::Object(exp));
    out.insert("atm".into(), indicator(d, r, Section::Atm, false));
    out.insert("gambling".into(), indicator(d, r, Section::Gambling, true));
    out.insert(
        "debt_collection".into(),
        indicator(d, r, Section::DebtCollection, false),
    );
    out.insert("loan".into(), indicator(d, r, Section::Loan, true));
    Value::Object(out)
}

/// Balance figures of one account, from its end-of-day balances.
pub struct Balance {
    pub days_in_overdraft: usize,
    /// Average end-of-day balance over the last 30, 90 and 180 days, in cents.
    pub averages: [i64; 3],
}

pub fn balance(d: &Dataset, account: usize) -> Balance {
    let days = daily_balances(d, account);
    let avg = |n: usize| {
        let tail = &days[days.len().saturating_sub(n)..];
        if tail.is_empty() {
            return 0;
        }
        let sum: i64 = tail.iter().map(|(_, b)| b).sum();
        let n = tail.len() as i64;
        (sum * 2 + sum.signum() * n) / (2 * n)
    };
    Balance {
        days_in_overdraft: days.iter().filter(|(_, b)| *b < 0).count(),
        averages: [avg(30), avg(90), avg(180)],
    }
}

fn accounts(d: &Dataset, r: &Render<'_>) -> Value {
    let all_holders: Vec<&str> = d
        .accounts
        .iter()
        .flat_map(|a| a.holders.iter().map(String::as_str))
        .collect();
    let list: Vec<Value> = d
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let b = balance(d, i);
            let last = d
                .transactions
                .iter()
                .filter(|t| t.account == i)
                .map(|t| t.date)
                .max();
            let verification = r.provided_name.map_or(Value::Null, |name| {
                let holders: Vec<&str> = if a.holders.is_empty() {
                    all_holders.clone()
                } else {
                    a.holders.iter().map(String::as_str).collect()
                };
                // The best match; on a tie, the first holder (`max_by_key` keeps the last).
                let (matched, level) = holders
                    .iter()
                    .rev()
                    .map(|h| (*h, affinity(name, h)))
                    .max_by_key(|(_, l)| *l as u8)
                    .unwrap_or(("", Affinity::Low));
                let mut provided = json!({"name": name});
                if r.provided_ibans.contains(&a.iban) {
                    provided["iban"] = json!(a.iban);
                }
                json!({"provided": provided, "matched": {"name": matched, "affinity": level.as_str()}})
            });
            json!({
                "name": a.name,
                "type": a.kind,
                "owners": [a.owner_line()],
                "iban": a.iban,
                "currency": a.currency,
                "is_jointly_managed": a.holders.len() > 1,
                "is_main_account": i == d.main_account,
                "last_transaction_on": last.map(|l| l.format(DATE).to_string()),
                "balance": {
                    "days_in_overdraft": b.days_in_overdraft,
                    "average": {
                        "one_month": money(b.averages[0]),
                        "three_months": money(b.averages[1]),
                        "six_months": money(b.averages[2]),
                    }
                },
                "verification_result": verification,
            })
        })
        .collect();
    Value::Array(list)
}

/// How close a provided name is to an account holder's, as finX defines the levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Affinity {
    Low = 0,
    Medium = 1,
    High = 2,
    VeryHigh = 3,
}

impl Affinity {
    pub fn as_str(self) -> &'static str {
        match self {
            Affinity::Low => "LOW",
            Affinity::Medium => "MEDIUM",
            Affinity::High => "HIGH",
            Affinity::VeryHigh => "VERY_HIGH",
        }
    }
}

/// finX's four levels: VERY_HIGH when the names match 100 % ignoring case; HIGH when
/// they differ only in order, punctuation, umlauts or one or two letters ("Doe, John" /
/// "John Doe", "Hans Muller" / "Hans Müller"); MEDIUM when they share a name part
/// ("Helge Braun" / "Stefan Braun"); LOW otherwise.
pub fn affinity(provided: &str, holder: &str) -> Affinity {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    if norm(provided) == norm(holder) {
        return Affinity::VeryHigh;
    }
    let tokens = |s: &str| {
        let folded = fold_umlauts(&s.to_lowercase())
            .replace("ae", "a")
            .replace("oe", "o")
            .replace("ue", "u");
        let mut t: Vec<String> = folded
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        t.sort();
        t
    };
    let (a, b) = (tokens(provided), tokens(holder));
    if a.is_empty() || b.is_empty() {
        return Affinity::Low;
    }
    let (ja, jb) = (a.join(" "), b.join(" "));
    if ja == jb || (a.len() == b.len() && ja.len() >= 6 && levenshtein(&ja, &jb) <= 2) {
        return Affinity::High;
    }
    if a.iter().any(|t| t.chars().count() >= 2 && b.contains(t)) {
        return Affinity::Medium;
    }
    Affinity::Low
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `GET /rest/transactions` query parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub categories: Option<Vec<u32>>,
    pub accounts: Option<Vec<String>>,
    pub since: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
    pub count: usize,
    pub offset: usize,
    pub descending: bool,
    /// `include_statistics=true`: add `statistics` over the whole selection.
    pub statistics: bool,
    /// `cents=true`: amounts (of the transactions and the statistics) in whole cents.
    pub amounts: Amounts,
}

/// The most transactions one page holds, and the default `count` (figo's documented
/// default; figo documents no maximum, so the mock's limit is its default).
pub const MAX_COUNT: usize = 1000;

impl Query {
    /// Parse the documented parameters; `since_type`, `types` and `include_pending`
    /// are accepted and ignored. `Err` is the description for a 400.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, String> {
        let mut q = Query {
            categories: None,
            accounts: None,
            since: None,
            until: None,
            count: MAX_COUNT,
            offset: 0,
            descending: true,
            statistics: false,
            amounts: Amounts::parse(pairs)?,
        };
        for (k, v) in pairs {
            match k.as_str() {
                "categories" => {
                    let ids: Result<Vec<u32>, _> = v
                        .split(',')
                        .filter(|s| !s.trim().is_empty())
                        .map(|s| s.trim().parse::<u32>())
                        .collect();
                    q.categories =
                        Some(ids.map_err(|_| format!("Invalid value for categories: {v}"))?);
                }
                "accounts" => {
                    q.accounts = Some(
                        v.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect(),
                    );
                }
                "since" | "until" => {
                    let d = parse_date(v).ok_or_else(|| {
                        format!("Invalid value for {k}: {v} (expected YYYY-MM-DD)")
                    })?;
                    if k == "since" {
                        q.since = Some(d);
                    } else {
                        q.until = Some(d);
                    }
                }
                "count" => {
                    q.count = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_COUNT).contains(n))
                        .ok_or_else(|| {
                            format!("Invalid value for count: {v} (1 to {MAX_COUNT})")
                        })?;
                }
                "offset" => {
                    q.offset = v
                        .parse::<usize>()
                        .map_err(|_| format!("Invalid value for offset: {v}"))?;
                }
                "include_statistics" => q.statistics = flag(k, v)?,
                "sort" => {
                    q.descending = match v.to_ascii_lowercase().as_str() {
                        "desc" => true,
                        "asc" => false,
                        _ => return Err(format!("Invalid value for sort: {v} (ASC or DESC)")),
                    };
                }
                _ => {}
            }
        }
        Ok(q)
    }

    /// Whether `t` (on account `account_id`) is selected, before paging.
    pub fn matches(&self, t: &Transaction, account_id: &str) -> bool {
        self.categories
            .as_ref()
            .is_none_or(|c| c.contains(&t.category.id))
            && self
                .accounts
                .as_ref()
                .is_none_or(|a| a.iter().any(|x| x == account_id))
            && self.since.is_none_or(|s| t.date >= s)
            && self.until.is_none_or(|u| t.date <= u)
    }

    /// Every transaction of `d` the query selects, in its sort order, before paging.
    pub fn selection<'d>(&self, d: &'d Dataset) -> Vec<&'d Transaction> {
        let mut hits: Vec<&Transaction> = d
            .transactions
            .iter()
            .filter(|t| self.matches(t, &d.accounts[t.account].id))
            .collect();
        if self.descending {
            hits.reverse();
        }
        hits
    }

    /// The requested page of a [`Query::selection`]: `count` transactions from `offset`.
    pub fn page<'s, 'd>(&self, selection: &'s [&'d Transaction]) -> &'s [&'d Transaction] {
        let from = self.offset.min(selection.len());
        let to = from.saturating_add(self.count).min(selection.len());
        &selection[from..to]
    }

    /// The selected page of `d`'s transactions.
    #[cfg(test)]
    pub fn select<'d>(&self, d: &'d Dataset) -> Vec<&'d Transaction> {
        self.page(&self.selection(d)).to_vec()
    }
}

/// `statistics` (`include_statistics=true`): figo computes them "on the complete
/// filtered transaction list, i.e. without count and offset" (figo's iOS client,
/// `RetrieveTransactionsParameters.swift`). Their fields are not published; the mock
/// uses the report's own aggregate fields (`count`, `total`, `low`, `high`, `average`,
/// `first_booked_on`, `last_booked_on`), so the statistics of an `href` equal the
/// numbers of the report entry it belongs to, and `count` tells a client how many
/// transactions the pages add up to. An empty selection has zeros and no dates, like an
/// empty indicator section of the report.
pub fn statistics(selection: &[&Transaction], amounts: Amounts) -> Value {
    let a = Agg::of(selection.iter().copied());
    let mut m = a.numbers(amounts);
    a.dates(&mut m);
    Value::Object(m)
}

/// A date parameter: `YYYY-MM-DD`, or an RFC 3339 timestamp (its date is used).
fn parse_date(v: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(v, DATE).ok().or_else(|| {
        v.get(..10)
            .and_then(|d| NaiveDate::parse_from_str(d, DATE).ok())
    })
}

/// A booking day as figo wrote `booking_date` and `value_date`: a [`TIMESTAMP`] at noon
/// UTC, as in figo's own examples (`2013-04-11T12:00:00.000Z`), which figo's Java and
/// iOS clients parse (a plain date reads as null there) and which stays on the same day
/// in every time zone from UTC-11 to UTC+11.
fn booked_at(day: NaiveDate) -> String {
    day.and_hms_opt(12, 0, 0)
        .expect("noon exists")
        .format(TIMESTAMP)
        .to_string()
}

/// One transaction as `/rest/transactions` lists it.
pub fn transaction_json(d: &Dataset, t: &Transaction, amounts: Amounts) -> Value {
    let a = &d.accounts[t.account];
    json!({
        "transaction_id": t.id,
        "account_id": a.id,
        "name": t.partner,
        "iban": t.partner_iban,
        "amount": amounts.json(t.amount),
        "currency": a.currency,
        "booking_date": booked_at(t.date),
        "value_date": booked_at(t.date),
        "purpose": t.purpose,
        "type": t.category.kind,
        "booking_text": t.category.booking_text,
        "booked": true,
        "category": {"id": t.category.id, "name": t.category.name},
    })
}

/// One account as `/rest/accounts` lists it; `balance` is its [`balance_json`], so a
/// client can rebuild the daily balances behind the report's balance figures.
pub fn account_json(d: &Dataset, i: usize, synced: DateTime<Utc>, amounts: Amounts) -> Value {
    let a = &d.accounts[i];
    json!({
        "account_id": a.id,
        "name": a.name,
        "owner": a.owner_line(),
        "iban": a.iban,
        "bank_code": a.bank_code,
        "currency": a.currency,
        "type": a.kind,
        "balance": balance_json(d, i, synced, amounts),
    })
}

/// The account's balance as figo's `GET /rest/accounts/{id}/balance` answers it (the
/// same object is the account's `balance`): `balance` is the running balance after the
/// account's last booking and `credit_line` the mock's credit line, both computed once
/// with the history ([`super::data::Account`]); `balance_date` is figo's "bank server
/// timestamp of balance": when the bank was read, the moment the flow completed
/// (`synced`), in figo's timestamp format ([`TIMESTAMP`]).
/// `monthly_spending_limit` (a figo user setting) is 0: none set.
pub fn balance_json(d: &Dataset, i: usize, synced: DateTime<Utc>, amounts: Amounts) -> Value {
    let a = &d.accounts[i];
    json!({
        "balance": amounts.json(a.closing_balance),
        "balance_date": synced.format(TIMESTAMP).to_string(),
        "credit_line": amounts.json(a.credit_line),
        "monthly_spending_limit": 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate;
    use crate::vendors::finx::data::{
        build, category, generate as gen, german_iban, Spec, ACCOUNT_TYPES, CARD_KINDS, CATEGORIES,
        CREDIT_LINE_STEP, INTERNAL_TRANSFER, SAVINGS_KINDS,
    };
    use crate::vendors::finx::flow::MAX_PERIOD;
    use chrono::Datelike;

    #[test]
    fn affinity_levels_follow_the_documented_examples() {
        let cases = [
            ("Max Mustermann", "Max Mustermann", "VERY_HIGH"),
            ("max mustermann", "MAX MUSTERMANN", "VERY_HIGH"),
            ("John Doe", "Doe, John", "HIGH"),
            ("Hans Muller", "Hans Müller", "HIGH"),
            ("Hans Mueller", "Hans Müller", "HIGH"),
            ("Jürgen Weiß", "Jurgen Weiss", "HIGH"),
            ("Helge Braun", "Stefan Braun", "MEDIUM"),
            ("Max Mustermann", "Erika Schmidt", "LOW"),
            ("", "Erika Schmidt", "LOW"),
        ];
        for (a, b, want) in cases {
            assert_eq!(affinity(a, b).as_str(), want, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn averages_round_half_away_from_zero() {
        let a = |total, count| Agg {
            total,
            count,
            ..Agg::default()
        };
        assert_eq!(a(5, 2).average_cents(), 3);
        assert_eq!(a(-5, 2).average_cents(), -3);
        assert_eq!(a(10, 3).average_cents(), 3);
        assert_eq!(a(0, 0).average_cents(), 0);
    }

    #[test]
    fn queries_parse_the_documented_parameters_and_refuse_bad_values() {
        let p = |q: &str| {
            let pairs: Vec<(String, String)> =
                form_urlencoded::parse(q.as_bytes()).into_owned().collect();
            Query::parse(&pairs)
        };
        let q = p("categories=3,14&since=2020-01-01&until=2020-01-31&count=5&offset=2&sort=ASC")
            .unwrap();
        assert_eq!(q.categories, Some(vec![3, 14]));
        assert_eq!(q.count, 5);
        assert_eq!(q.offset, 2);
        assert!(!q.descending);
        assert!(p("since=2020-01-01T00:00:00Z").unwrap().since.is_some());
        assert!(!q.statistics);
        assert!(p("include_statistics=TRUE").unwrap().statistics);
        assert!(!p("include_statistics=0").unwrap().statistics);
        for bad in [
            "categories=x",
            "since=yesterday",
            "count=0",
            "count=5000",
            "offset=-1",
            "sort=up",
            "include_statistics=yes",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_page_is_count_transactions_from_offset_and_never_panics_past_the_end() {
        let spec = Spec {
            months: 12,
            until: NaiveDate::from_ymd_opt(2026, 1, 15).unwrap(),
            multi: true,
            account_types: vec![],
            accounts: vec![],
            name: None,
        };
        let d = dataset(1, "pages", &spec, true);
        let q = |count, offset| Query {
            count,
            offset,
            ..Query::parse(&[]).unwrap()
        };
        let all = q(MAX_COUNT, 0).selection(&d);
        assert!(all.len() > 10);
        let ids = |txs: &[&Transaction]| txs.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(q(4, 3).page(&all)), ids(&all[3..7]));
        assert_eq!(q(4, all.len() - 2).page(&all).len(), 2);
        assert!(q(MAX_COUNT, usize::MAX).page(&all).is_empty());
        assert_eq!(q(usize::MAX, 1).page(&all).len(), all.len() - 1);
        let stats = statistics(&all, Amounts::Euros);
        assert_eq!(stats["count"], json!(all.len()));
        // Nothing selected: zeros, and no dates to give.
        assert_eq!(
            statistics(&[], Amounts::Cents),
            json!({"total": 0, "low": 0, "high": 0, "average": 0, "count": 0})
        );
        // In cents: the same numbers, as whole cents.
        let cents = statistics(&all, Amounts::Cents);
        for k in ["total", "low", "high", "average"] {
            assert!(cents[k].is_i64(), "{k}: {}", cents[k]);
            assert_eq!(
                cents[k].as_i64().unwrap(),
                (stats[k].as_f64().unwrap() * 100.0).round() as i64
            );
        }
        assert_eq!(cents["first_booked_on"], stats["first_booked_on"]);
    }

    #[test]
    fn the_cents_parameter_takes_figo_s_booleans_and_refuses_anything_else() {
        let p = |q: &str| {
            let pairs: Vec<(String, String)> =
                form_urlencoded::parse(q.as_bytes()).into_owned().collect();
            Amounts::parse(&pairs)
        };
        for (q, want) in [
            ("", Amounts::Euros),
            ("cents=true", Amounts::Cents),
            ("cents=1", Amounts::Cents),
            ("cents=True", Amounts::Cents),
            ("cents=false", Amounts::Euros),
            ("cents=0", Amounts::Euros),
            ("count=5&cents=1&sort=asc", Amounts::Cents),
        ] {
            assert_eq!(p(q), Ok(want), "{q}");
        }
        assert_eq!(
            p("cents=yes"),
            Err("Invalid value for cents: yes (true or false)".to_string())
        );
        assert_eq!(
            Query::parse(&[("cents".into(), "1".into())])
                .unwrap()
                .amounts,
            Amounts::Cents
        );
        assert_eq!(Amounts::Cents.json(-12345), json!(-12345));
        assert_eq!(Amounts::Euros.json(-12345), json!(-123.45));
    }

    #[test]
    fn every_balance_is_the_running_balance_and_its_credit_line_covers_the_history() {
        for d in many_datasets() {
            for i in 0..d.accounts.len() {
                let days = daily_balances(&d, i);
                let synced = chrono::DateTime::parse_from_rfc3339("2026-01-15T10:00:00Z")
                    .unwrap()
                    .to_utc();
                let b = balance_json(&d, i, synced, Amounts::Euros);
                assert_eq!(b, account_json(&d, i, synced, Amounts::Euros)["balance"]);
                assert_eq!(b["balance"], money(days.last().unwrap().1));
                assert_eq!(b["balance_date"], "2026-01-15T10:00:00.000Z");
                let c = balance_json(&d, i, synced, Amounts::Cents);
                assert_eq!(c["balance"], json!(days.last().unwrap().1));
                let line = c["credit_line"].as_i64().unwrap();
                assert_eq!(b["credit_line"], money(line));
                let deepest = days
                    .iter()
                    .map(|(_, b)| *b)
                    .chain([d.accounts[i].opening_balance])
                    .min()
                    .unwrap();
                assert_eq!(line % CREDIT_LINE_STEP, 0);
                assert!(deepest >= -line);
                assert!(
                    deepest.min(0) + line < CREDIT_LINE_STEP,
                    "the smallest that covers"
                );
                if i != d.main_account {
                    assert_eq!(line, 0, "only the main account draws on credit");
                }
            }
        }
    }

    /// Datasets for many users and seeds: multi-account flows of the account types
    /// clients ask for, one of ten years, and households with accounts given at flow
    /// start of every kind finX names (one in another currency now and then).
    fn many_datasets() -> Vec<Dataset> {
        many_inputs(0..4)
            .into_iter()
            .map(|(seed, entity, spec)| dataset(seed, &entity, &spec, true))
            .collect()
    }

    /// The dataset of `entity`, with or without the own-account transfers.
    fn dataset(seed: u64, entity: &str, spec: &Spec, transfers: bool) -> Dataset {
        build(
            &mut generate::rng(seed, "finx", entity, "history"),
            &mut generate::rng(seed, "finx", entity, "holder"),
            &mut generate::rng(seed, "finx", entity, "transfers"),
            spec,
            transfers,
        )
    }

    /// The users of [`many_datasets`], for the given seeds: (seed, entity, spec).
    fn many_inputs(seeds: std::ops::Range<u64>) -> Vec<(u64, String, Spec)> {
        let until = NaiveDate::from_ymd_opt(2026, 1, 15).unwrap();
        let mut out = Vec::new();
        let mut push = |seed: u64, entity: &str, spec: Spec| {
            out.push((seed, entity.to_string(), spec));
        };
        for seed in seeds {
            for n in 0..40 {
                let spec = Spec {
                    months: if n == 39 {
                        MAX_PERIOD
                    } else {
                        4 + (n as u32 % 21)
                    },
                    until,
                    multi: n % 2 == 0,
                    account_types: match n % 3 {
                        0 => vec![],
                        1 => vec![
                            "Giro account".into(),
                            "Savings account".into(),
                            "Credit card".into(),
                        ],
                        _ => vec!["Giro account".into(), "Loan account".into(), "Depot".into()],
                    },
                    accounts: vec![],
                    name: Some("Jürgen Müller".into()),
                };
                push(seed, &format!("user-{n}"), spec);
            }
            for n in 0..24usize {
                let others = &ACCOUNT_TYPES[1..];
                let types: Vec<String> = [
                    "Giro account",
                    others[n % others.len()],
                    others[(n / others.len() + n + 1) % others.len()],
                ]
                .iter()
                .map(|t| t.to_string())
                .collect();
                let accounts = (0..types.len())
                    .map(|k| {
                        let iban =
                            german_iban("30030880", (seed * 1000 + n as u64 * 10 + k as u64) + 1);
                        let currency = if n % 8 == 7 && k == 2 { "USD" } else { "EUR" };
                        (iban, currency.to_string())
                    })
                    .collect();
                let spec = Spec {
                    months: 4 + (n as u32 % 12),
                    until,
                    multi: true,
                    account_types: types,
                    accounts,
                    name: None,
                };
                push(seed, &format!("household-{n}"), spec);
            }
        }
        out
    }

    /// Property: for many users and seeds, every aggregate in both shapes equals what
    /// its transactions add up to, and the `href` selects exactly those transactions.
    #[test]
    fn every_aggregate_equals_the_transactions_behind_it_for_many_users() {
        let mut sections_seen = std::collections::BTreeSet::new();
        let r = Render {
            base: "http://mock",
            report_id: "id",
            provided_name: Some("Jürgen Müller"),
            provided_ibans: &[],
        };
        for d in many_datasets() {
            check_dataset(&d);
            sections_seen.extend(
                d.transactions
                    .iter()
                    .map(|t| format!("{:?}", t.category.section)),
            );
            check_report(&d, &render(&d, &r, Shape::V211), Shape::V211);
            check_report(&d, &render(&d, &r, Shape::Newest), Shape::Newest);
        }
        assert_eq!(
            sections_seen.len(),
            9,
            "every section occurs: {sections_seen:?}"
        );
    }

    #[test]
    fn every_own_account_transfer_has_its_counterpart_on_the_same_day_with_the_same_amount() {
        let mut pairs = 0;
        for d in many_datasets() {
            let main = &d.accounts[d.main_account];
            let transfers: Vec<&Transaction> =
                d.transactions.iter().filter(|t| is_transfer(t)).collect();
            let outgoing: Vec<&&Transaction> = transfers.iter().filter(|t| t.amount < 0).collect();
            assert_eq!(outgoing.len() * 2, transfers.len(), "as many in as out");
            let mut matched = std::collections::BTreeSet::new();
            for out in outgoing {
                // Out of the main account, to a secondary account of the same currency.
                assert_eq!(out.account, d.main_account, "{out:?}");
                let to = d
                    .accounts
                    .iter()
                    .position(|a| Some(&a.iban) == out.partner_iban.as_ref())
                    .expect("the counterparty IBAN is one of the user's accounts");
                assert_ne!(to, d.main_account);
                let target = &d.accounts[to];
                assert_eq!(target.currency, main.currency);
                assert_ne!(target.kind, "Loan account");
                assert_eq!(out.partner, target.owner_line());
                // A savings rate is a standing order, in the shape of the rent's; a
                // top-up a transfer ("Umbuchung"), worded as one: the card is funded in
                // advance, not settled.
                let shape = (out.category.kind, out.category.booking_text);
                if SAVINGS_KINDS.contains(&target.kind.as_str()) {
                    assert_eq!(shape, ("Standing order", "Dauerauftrag"));
                    assert_eq!(shape, (category(30).kind, category(30).booking_text));
                    assert!(out.purpose.starts_with("Sparrate "), "{out:?}");
                } else {
                    assert_eq!(shape, ("Transfer", "Umbuchung"));
                    assert!(!out.purpose.contains("Ausgleich"), "{out:?}");
                    if target.kind == "Credit card" {
                        assert!(out.purpose.starts_with("Aufladung Kreditkarte "));
                    }
                }
                assert_eq!(out.category.id, INTERNAL_TRANSFER);
                let twins: Vec<&&Transaction> = transfers
                    .iter()
                    .filter(|t| {
                        t.account == to
                            && t.date == out.date
                            && t.amount == -out.amount
                            && t.partner_iban.as_ref() == Some(&main.iban)
                            && t.partner == main.owner_line()
                            && t.purpose == out.purpose
                    })
                    .collect();
                assert_eq!(twins.len(), 1, "one counterpart for {out:?}");
                assert!(matched.insert(twins[0].id.clone()), "counted twice");
                pairs += 1;
            }
            // At most one transfer a month into each account.
            let mut months = std::collections::BTreeSet::new();
            for t in transfers.iter().filter(|t| t.amount > 0) {
                let key = (t.account, t.date.year(), t.date.month());
                assert!(months.insert(key), "two transfers in a month: {t:?}");
            }
        }
        assert!(pairs > 1000, "transfers are common: {pairs}");
    }

    #[test]
    fn the_same_user_gets_the_same_transfers() {
        let spec = Spec {
            months: 12,
            until: NaiveDate::from_ymd_opt(2026, 1, 15).unwrap(),
            multi: true,
            account_types: vec!["Giro account".into(), "Credit card".into()],
            accounts: vec![],
            name: None,
        };
        let make = |seed: u64| {
            let d = gen(
                &mut generate::rng(seed, "finx", "same", "history"),
                &mut generate::rng(seed, "finx", "same", "holder"),
                &mut generate::rng(seed, "finx", "same", "transfers"),
                &spec,
            );
            format!("{:?}", d.transactions)
        };
        assert_eq!(make(3), make(3));
        assert_ne!(make(3), make(4));
    }

    /// Secondary accounts the main account can feed: same currency, not a loan account.
    fn fed(d: &Dataset, i: usize) -> bool {
        let a = &d.accounts[i];
        i != d.main_account
            && a.currency == d.accounts[d.main_account].currency
            && a.kind != "Loan account"
    }

    #[test]
    fn secondary_accounts_never_go_below_what_their_type_allows() {
        let mut savings = 0;
        for d in many_datasets() {
            for (i, a) in d.accounts.iter().enumerate() {
                if i == d.main_account {
                    continue;
                }
                // No secondary account has an overdraft or a credit line: its floor is 0.
                let days = daily_balances(&d, i);
                assert!(days.iter().all(|(_, b)| *b >= 0), "{} goes below 0", a.kind);
                let own: Vec<&Transaction> =
                    d.transactions.iter().filter(|t| t.account == i).collect();
                let kind = a.kind.as_str();
                if SAVINGS_KINDS.contains(&kind) && fed(&d, i) {
                    // Savings only grow: the same rate in every month the main account
                    // can afford it (see the test of the main account), nothing out.
                    assert!(own.iter().all(|t| is_transfer(t) && t.amount > 0), "{kind}");
                    let rates: std::collections::BTreeSet<i64> =
                        own.iter().map(|t| t.amount).collect();
                    assert!(rates.len() <= 1, "{kind}: one fixed rate");
                    assert!(
                        own.len() <= d.months as usize + 1,
                        "{kind}: monthly at most"
                    );
                    assert!(days.windows(2).all(|w| w[0].1 <= w[1].1), "{kind}");
                    savings += 1;
                } else if !fed(&d, i) {
                    // A loan account or one in another currency gets no transfers.
                    assert!(own.iter().all(|t| !is_transfer(t)), "{kind} {}", a.currency);
                }
            }
        }
        assert!(savings > 20, "savings accounts occur: {savings}");
    }

    #[test]
    fn card_spending_on_secondary_accounts_goes_on_all_period_long() {
        // Before the main account topped them up, their spending stopped once the
        // opening balance was used up: they spent in 74 % of the whole months (with
        // top-ups 96 %; 94 % now that a top-up is made only when the main account can
        // afford it).
        let (mut whole_months, mut months_with_spending) = (0, 0);
        for d in many_datasets() {
            for (i, a) in d.accounts.iter().enumerate() {
                if !fed(&d, i) || !CARD_KINDS.contains(&a.kind.as_str()) {
                    continue;
                }
                let spent: std::collections::BTreeSet<(i32, u32)> = d
                    .transactions
                    .iter()
                    .filter(|t| t.account == i && t.amount < 0)
                    .map(|t| (t.date.year(), t.date.month()))
                    .collect();
                // Whole calendar months in the period (the first and last are cut).
                let mut day = d.since;
                while day <= d.until {
                    let month = (day.year(), day.month());
                    if day.day() == 1 && month != (d.until.year(), d.until.month()) {
                        whole_months += 1;
                        months_with_spending += usize::from(spent.contains(&month));
                    }
                    day = day.succ_opt().unwrap();
                }
            }
        }
        let share = months_with_spending as f64 / whole_months as f64;
        assert!(
            share > 0.9,
            "card accounts spend in {share:.2} of the months"
        );
    }

    /// finX's income, expense and indicator sections are about money coming in from and
    /// going out to others: an own-account transfer is neither, so the report of a
    /// history is the same with or without them, but for the accounts' balances.
    #[test]
    fn the_report_counts_own_account_transfers_as_neither_income_nor_spending() {
        let r = Render {
            base: "http://mock",
            report_id: "id",
            provided_name: None,
            provided_ibans: &[],
        };
        for d in many_datasets() {
            let mut without = d.clone();
            without.transactions.retain(|t| !is_transfer(t));
            if without.transactions.len() == d.transactions.len() {
                continue;
            }
            for shape in [Shape::V211, Shape::Newest] {
                let (a, b) = (render(&d, &r, shape), render(&without, &r, shape));
                for key in [
                    "period",
                    "income",
                    "expenses",
                    "atm",
                    "gambling",
                    "debt_collection",
                    "loan",
                ] {
                    assert_eq!(a[key], b[key], "{key}");
                }
                assert!(!a.to_string().contains("\"Internal transfer\""));
            }
            // The transactions endpoint lists them, under their own category.
            let mut q =
                Query::parse(&[("categories".into(), INTERNAL_TRANSFER.to_string())]).unwrap();
            q.count = usize::MAX;
            let listed = q.select(&d);
            assert!(!listed.is_empty());
            assert!(listed.iter().all(|t| is_transfer(t)));
            assert_eq!(listed.iter().map(|t| t.amount).sum::<i64>(), 0);
        }
    }

    /// Property, over many users and seeds: the own-account transfers never cost the
    /// main account a day in the red. The comparison is the same household without
    /// transfers (every other booking the same; only card payments may be booked to
    /// another account). "Materially worse" is any extra day in overdraft, and there is
    /// none: on every day the main account ends in the red with the transfers, it does
    /// without them too; and a transfer never leaves the main account below 0, not on
    /// its day nor before the month is out (a savings rate it cannot afford is not
    /// paid that month, a top-up is made smaller or not made).
    #[test]
    fn transfers_never_take_the_main_account_below_0_nor_add_a_day_in_overdraft() {
        let (mut out_of_main, mut savings_due, mut savings_paid) = (0, 0, 0);
        for (seed, entity, spec) in many_inputs(0..8) {
            let with = dataset(seed, &entity, &spec, true);
            let without = dataset(seed, &entity, &spec, false);
            let who = format!("{entity} (seed {seed})");
            assert!(!without.transactions.iter().any(is_transfer), "{who}");
            let others: Vec<&Transaction> = with
                .transactions
                .iter()
                .filter(|t| !is_transfer(t))
                .collect();
            assert_eq!(others.len(), without.transactions.len(), "{who}");
            for (a, b) in others.iter().zip(&without.transactions) {
                let key = |t: &Transaction| {
                    (
                        t.id.clone(),
                        t.date,
                        t.amount,
                        t.category.id,
                        t.purpose.clone(),
                    )
                };
                assert_eq!(key(a), key(b), "{who}");
                if a.account != b.account {
                    // Card spending a topped-up card pays instead of the main account
                    // (or, now and then, the other way round: a card's money was spent
                    // on an earlier drawn payment, or a payment before the top-up's day
                    // may only use what the card held before).
                    let card = a.account.max(b.account);
                    assert!(a.amount < 0, "{who}: {a:?}");
                    assert_eq!(a.account.min(b.account), with.main_account, "{who}: {a:?}");
                    assert!(CARD_KINDS.contains(&with.accounts[card].kind.as_str()));
                }
            }

            let main = with.main_account;
            let (m, n) = (daily_balances(&with, main), daily_balances(&without, main));
            for ((day, w), (_, wo)) in m.iter().zip(&n) {
                assert!(
                    *w >= 0 || *wo < 0,
                    "{who}: in the red on {day} only because of the transfers: {w} vs {wo}"
                );
            }
            for t in with
                .transactions
                .iter()
                .filter(|t| is_transfer(t) && t.account == main)
            {
                let same_month =
                    |d: &NaiveDate| (d.year(), d.month()) == (t.date.year(), t.date.month());
                for (day, b) in m.iter().filter(|(d, _)| *d >= t.date && same_month(d)) {
                    assert!(*b >= 0, "{who}: {day} below 0 after {t:?}");
                }
                out_of_main += 1;
            }
            let (od_with, od_without) = (balance(&with, main), balance(&without, main));
            assert!(
                od_with.days_in_overdraft <= od_without.days_in_overdraft,
                "{who}"
            );

            // How often a savings rate is paid: in most months, not in every one.
            for (i, a) in with.accounts.iter().enumerate() {
                if i != main
                    && SAVINGS_KINDS.contains(&a.kind.as_str())
                    && a.currency == with.accounts[main].currency
                {
                    // Months whose days 1 … 5 are all in the period.
                    savings_due += m.iter().filter(|(d, _)| d.day() == 5).count();
                    savings_paid += with.transactions.iter().filter(|t| t.account == i).count();
                }
            }
        }
        assert!(out_of_main > 2000, "transfers are common: {out_of_main}");
        let share = savings_paid as f64 / savings_due as f64;
        assert!(
            (0.6..0.95).contains(&share),
            "savings rates paid in {share:.2} of the months"
        );
    }

    /// The generator's claim, "most users live within their means": over the period,
    /// most take in more than they spend, and most are never in their overdraft.
    #[test]
    fn most_users_live_within_their_means_and_some_drift_into_their_overdraft() {
        let (mut users, mut within, mut never_overdrawn) = (0, 0, 0);
        for d in many_datasets() {
            let net: i64 = d.transactions.iter().map(|t| t.amount).sum();
            users += 1;
            within += usize::from(net >= 0);
            never_overdrawn += usize::from(balance(&d, d.main_account).days_in_overdraft == 0);
        }
        let (within, never) = (
            within as f64 / users as f64,
            never_overdrawn as f64 / users as f64,
        );
        assert!(within > 0.75, "{within:.2} take in more than they spend");
        assert!((0.5..0.9).contains(&never), "{never:.2} never overdrawn");
    }

    fn is_transfer(t: &Transaction) -> bool {
        t.category.section == Section::InternalTransfer
    }

    /// Money coming in from outside: an incoming own-account transfer is not income.
    fn is_income(t: &Transaction) -> bool {
        t.amount > 0 && !is_transfer(t)
    }

    fn check_dataset(d: &Dataset) {
        assert!(!d.transactions.is_empty());
        for t in &d.transactions {
            assert!(d.since <= t.date && t.date <= d.until);
            assert!(t.amount != 0);
            match t.category.section {
                Section::IncomeRegular | Section::IncomeVariable => assert!(t.amount > 0),
                // Either side of a transfer; the pairs are checked on their own.
                Section::InternalTransfer => {}
                _ => assert!(t.amount < 0, "{t:?}"),
            }
        }
        for (i, a) in d.accounts.iter().enumerate() {
            assert!(super::super::data::iban_valid(&a.iban), "{}", a.iban);
            if i == d.main_account {
                continue;
            }
            let lowest = super::super::data::daily_balances(d, i)
                .iter()
                .map(|(_, b)| *b)
                .min();
            assert!(
                lowest.is_none_or(|b| b >= 0),
                "secondary account {i} ({}) goes into overdraft: {lowest:?}",
                a.kind
            );
            if !super::super::data::CARD_KINDS.contains(&a.kind.as_str()) {
                assert!(
                    !d.transactions
                        .iter()
                        .any(|t| t.account == i && !is_transfer(t)),
                    "no card spending on a {} account",
                    a.kind
                );
            }
        }
    }

    fn cents(v: &Value) -> i64 {
        (v.as_f64().unwrap() * 100.0).round() as i64
    }

    /// The transactions an `href` stands for.
    fn follow<'d>(d: &'d Dataset, href: &str) -> Vec<&'d Transaction> {
        let q = href.split_once('?').unwrap().1;
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(q.as_bytes()).into_owned().collect();
        let mut q = Query::parse(&pairs).unwrap();
        q.count = usize::MAX;
        q.select(d)
    }

    fn check_numbers(v: &Value, txs: &[&Transaction]) {
        let total: i64 = txs.iter().map(|t| t.amount).sum();
        assert_eq!(cents(&v["total"]), total, "{v}");
        assert_eq!(v["count"].as_u64().unwrap() as usize, txs.len(), "{v}");
        let (low, avg, high) = (cents(&v["low"]), cents(&v["average"]), cents(&v["high"]));
        assert!(low <= avg && avg <= high, "{v}");
        if !txs.is_empty() {
            assert_eq!(low, txs.iter().map(|t| t.amount).min().unwrap());
            assert_eq!(high, txs.iter().map(|t| t.amount).max().unwrap());
        }
        if let Some(f) = v.get("first_booked_on") {
            let first = txs.iter().map(|t| t.date).min().unwrap();
            let last = txs.iter().map(|t| t.date).max().unwrap();
            assert_eq!(f, &json!(first.format(DATE).to_string()));
            assert_eq!(v["last_booked_on"], json!(last.format(DATE).to_string()));
            assert!(first <= last);
        }
    }

    fn check_report(d: &Dataset, report: &Value, shape: Shape) {
        let income_total: i64 = d
            .transactions
            .iter()
            .filter(|t| is_income(t))
            .map(|t| t.amount)
            .sum();
        let last_income = d
            .transactions
            .iter()
            .filter(|t| is_income(t))
            .map(|t| t.date)
            .max();
        assert_eq!(
            report["income"]["closeness"],
            last_income.map_or(json!(null), |l| json!((d.until - l).num_days())),
            "closeness counts from the latest income of any kind"
        );
        let by_cat = |id: u64| -> Vec<&Transaction> {
            d.transactions
                .iter()
                .filter(|t| u64::from(t.category.id) == id)
                .collect()
        };
        let streams = |part: &Value| -> Vec<Value> {
            match shape {
                Shape::V211 => part.as_array().unwrap().clone(),
                Shape::Newest => part["streams"].as_array().unwrap().clone(),
            }
        };
        let mut seen = 0;
        for (section, key, expense) in [
            ("income", "regular", false),
            ("income", "variable", false),
            ("expenses", "regular", true),
            ("expenses", "variable", true),
        ] {
            let part = &report[section][key];
            let mut all = Vec::new();
            for s in streams(part) {
                let txs = by_cat(s["category"]["id"].as_u64().unwrap());
                check_numbers(&s, &txs);
                if shape == Shape::V211 {
                    let followed = follow(d, s["href"].as_str().unwrap());
                    assert_eq!(followed.len(), txs.len());
                    check_numbers(&s, &followed);
                }
                if expense {
                    let total: i64 = txs.iter().map(|t| t.amount).sum();
                    let want = (total.abs() as f64 / income_total as f64 * 100.0).round();
                    assert_eq!(s["ratio_to_income"].as_f64().unwrap(), want);
                }
                seen += txs.len();
                all.extend(txs);
            }
            if shape == Shape::Newest {
                check_numbers(&part["summary"], &all);
            }
        }
        for key in ["atm", "gambling", "debt_collection", "loan"] {
            let v = &report[key];
            let txs = follow(d, v["href"].as_str().unwrap());
            check_numbers(v, &txs);
            seen += txs.len();
        }
        let transfers = d.transactions.iter().filter(|t| is_transfer(t)).count();
        assert_eq!(
            seen + transfers,
            d.transactions.len(),
            "every transaction but the own-account transfers is in one section"
        );

        let primary = &report["income"]["primary"];
        check_numbers(primary, &by_cat(14));
        let stability = primary["stability"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&stability));
        let expenses: i64 = d
            .transactions
            .iter()
            .filter(|t| {
                matches!(
                    t.category.section,
                    Section::ExpenseRegular | Section::ExpenseVariable
                )
            })
            .map(|t| t.amount)
            .sum();
        let rate = report["income"]["consumption_rate"].as_f64().unwrap();
        assert!((rate - expenses.abs() as f64 / income_total as f64).abs() <= 0.005);
        if shape == Shape::Newest {
            let inc: Vec<&Transaction> = d.transactions.iter().filter(|t| is_income(t)).collect();
            check_numbers(&report["income"]["summary"], &inc);
        }

        for (i, a) in report["accounts"].as_array().unwrap().iter().enumerate() {
            let days = daily_balances(d, i);
            let overdraft = days.iter().filter(|(_, b)| *b < 0).count();
            assert_eq!(a["balance"]["days_in_overdraft"], json!(overdraft));
            let last30: Vec<i64> = days.iter().rev().take(30).map(|(_, b)| *b).collect();
            let mean = last30.iter().sum::<i64>() as f64 / last30.len() as f64;
            assert!((cents(&a["balance"]["average"]["one_month"]) as f64 - mean).abs() <= 0.5);
            let last_tx = d
                .transactions
                .iter()
                .filter(|t| t.account == i)
                .map(|t| t.date)
                .max();
            assert_eq!(
                a["last_transaction_on"],
                json!(last_tx.map(|l| l.format(DATE).to_string()))
            );
        }
        assert!(CATEGORIES.iter().all(|c| c.id > 0));
    }
}
