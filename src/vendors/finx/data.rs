//! finX's generated data: one deterministic bank-account history per report.
//!
//! A [`Dataset`] is the accounts a user "connected" in the widget and every booked
//! transaction on them over the reporting period. The report ([`super::report`]) and
//! the transaction endpoints are both computed from it, so every total in a report is
//! the sum of the transactions its `href` returns.
//!
//! Each transaction belongs to exactly one aggregated report section (income,
//! expenses, indicators): the category decides it ([`CATEGORIES`]). Regular categories
//! hold one contract each (one payment partner, one booking a month); variable
//! categories hold many partners at random days. Amounts are whole cents (`i64`) until
//! they are rendered, so sums are exact.
//!
//! The one category in no aggregated section (income, expenses, indicators) is
//! [`INTERNAL_TRANSFER`] (60, "Internal transfer"); it is counted in the
//! account-specific `accounts` section like any booking (`balance`, its
//! `days_in_overdraft` and averages, `last_transaction_on`). Once a month the main
//! account tops up each secondary card account (`Giro account`, `Credit card`,
//! `PayPal`, `Unknown`) towards a balance it drew for it, and pays a fixed savings rate
//! (a standing order) into each `Savings account`, `Daily savings account` and `Depot`,
//! but only as far as the main account can afford it (see [`generate`]). Each transfer
//! is a pair of bookings, out of the main account and into the other, on the same day
//! with the same amount, each naming the other account's holders and IBAN. Money moved
//! between the user's own accounts is neither income nor spending, so the aggregated
//! sections leave it out (finX's document is silent on them; counting them would count
//! the same money twice). No transfers go to a `Loan account` (that would be a loan
//! repayment) or to an account in another currency.
//!
//! Names are drawn from `fixtures/finx/catalogue.json` (a short list of German given
//! and family names, with umlauts so the affinity rules have something to do), not
//! from a faker crate: the list is small, reviewed, needs no new dependency and cannot
//! change under us with a crate upgrade (which would change every snapshot).

// Amounts are written as euros_cents (`4_600_00` is 4600.00 €), which clippy calls
// inconsistent grouping.
#![allow(clippy::inconsistent_digit_grouping)]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{Datelike, Months, NaiveDate};
use rand::seq::IndexedRandom;
use rand::Rng;
use serde::Deserialize;

use crate::generate::MockRng;

/// Which report section a category's transactions are aggregated in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    IncomeRegular,
    IncomeVariable,
    ExpenseRegular,
    ExpenseVariable,
    Atm,
    Gambling,
    DebtCollection,
    Loan,
    /// Money moved between two of the user's own accounts: in no aggregated section
    /// (income, expenses, indicators), so neither income nor spending (the report would
    /// count it twice otherwise); counted in `accounts` (balance, days_in_overdraft,
    /// averages, last_transaction_on).
    InternalTransfer,
}

/// A transaction category, as the report's `category` object shows it.
#[derive(Debug)]
pub struct Category {
    pub id: u32,
    pub name: &'static str,
    pub section: Section,
    /// Booking type (`Transfer`, `Direct debit`, …) and booking text.
    pub kind: &'static str,
    pub booking_text: &'static str,
}

/// Every category the generator uses. Ids 11, 123 and 200 and their names are the ones
/// finX's documents show; the others are the mock's own.
pub const CATEGORIES: &[Category] = &[
    cat(
        14,
        "Salary",
        Section::IncomeRegular,
        "Transfer",
        "Gehalt/Rente",
    ),
    cat(
        200,
        "Benefits",
        Section::IncomeRegular,
        "Transfer",
        "Gutschrift",
    ),
    cat(
        11,
        "Income/Revenue",
        Section::IncomeVariable,
        "Transfer",
        "Gutschrift",
    ),
    cat(
        30,
        "Rent",
        Section::ExpenseRegular,
        "Standing order",
        "Dauerauftrag",
    ),
    cat(
        31,
        "Energy",
        Section::ExpenseRegular,
        "Direct debit",
        "Lastschrift",
    ),
    cat(
        32,
        "Insurance",
        Section::ExpenseRegular,
        "Direct debit",
        "Lastschrift",
    ),
    cat(
        33,
        "Telecommunication",
        Section::ExpenseRegular,
        "Direct debit",
        "Lastschrift",
    ),
    cat(
        34,
        "Subscriptions",
        Section::ExpenseRegular,
        "Direct debit",
        "Lastschrift",
    ),
    cat(
        40,
        "Groceries",
        Section::ExpenseVariable,
        "Card payment",
        "Kartenzahlung",
    ),
    cat(
        123,
        "Online-Shopping",
        Section::ExpenseVariable,
        "Direct debit",
        "Lastschrift",
    ),
    cat(
        41,
        "Restaurants",
        Section::ExpenseVariable,
        "Card payment",
        "Kartenzahlung",
    ),
    cat(
        42,
        "Transport",
        Section::ExpenseVariable,
        "Card payment",
        "Kartenzahlung",
    ),
    cat(
        50,
        "Cash withdrawal",
        Section::Atm,
        "ATM withdrawal",
        "Bargeldauszahlung",
    ),
    cat(
        51,
        "Gambling",
        Section::Gambling,
        "Card payment",
        "Kartenzahlung",
    ),
    cat(
        52,
        "Debt collection",
        Section::DebtCollection,
        "Transfer",
        "Überweisung",
    ),
    cat(
        53,
        "Loan repayment",
        Section::Loan,
        "Direct debit",
        "Lastschrift",
    ),
    cat(
        INTERNAL_TRANSFER,
        "Internal transfer",
        Section::InternalTransfer,
        "Transfer",
        "Umbuchung",
    ),
];

/// The category of transfers between the user's own accounts (the mock's own id).
pub const INTERNAL_TRANSFER: u32 = 60;

const fn cat(
    id: u32,
    name: &'static str,
    section: Section,
    kind: &'static str,
    booking_text: &'static str,
) -> Category {
    Category {
        id,
        name,
        section,
        kind,
        booking_text,
    }
}

pub fn category(id: u32) -> &'static Category {
    CATEGORIES
        .iter()
        .find(|c| c.id == id)
        .expect("the generator only uses ids from CATEGORIES")
}

/// The account types finX documents for `account_types`.
pub const ACCOUNT_TYPES: &[&str] = &[
    "Giro account",
    "Savings account",
    "Daily savings account",
    "Credit card",
    "Loan account",
    "PayPal",
    "Depot",
    "Unknown",
];

#[derive(Deserialize)]
struct CatalogueFile {
    first_names: Vec<String>,
    last_names: Vec<String>,
    bank_codes: Vec<String>,
    account_names: BTreeMap<String, Vec<String>>,
    partners: BTreeMap<String, Vec<String>>,
}

/// The parsed `fixtures/finx/catalogue.json`.
pub struct Catalogue {
    first_names: Vec<String>,
    last_names: Vec<String>,
    bank_codes: Vec<String>,
    account_names: BTreeMap<String, Vec<String>>,
    partners: BTreeMap<u32, Vec<String>>,
}

pub static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| {
    Catalogue::parse(include_str!("../../../fixtures/finx/catalogue.json"))
        .expect("fixtures/finx/catalogue.json is valid (checked by a unit test)")
});

impl Catalogue {
    fn parse(text: &str) -> Result<Self, String> {
        let f: CatalogueFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if f.first_names.is_empty() || f.last_names.is_empty() {
            return Err("first_names and last_names must not be empty".into());
        }
        for code in &f.bank_codes {
            if code.len() != 8 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("bank code {code} is not 8 digits"));
            }
        }
        if f.bank_codes.is_empty() {
            return Err("bank_codes must not be empty".into());
        }
        for t in ACCOUNT_TYPES {
            if f.account_names.get(*t).is_none_or(Vec::is_empty) {
                return Err(format!("account_names lacks {t}"));
            }
        }
        let mut partners = BTreeMap::new();
        for (k, v) in f.partners {
            let id: u32 = k.parse().map_err(|_| format!("partner key {k}"))?;
            if v.is_empty() {
                return Err(format!("no partners for category {id}"));
            }
            partners.insert(id, v);
        }
        // Own-account transfers name the user, not a partner from the catalogue.
        for c in CATEGORIES
            .iter()
            .filter(|c| c.section != Section::InternalTransfer)
        {
            if !partners.contains_key(&c.id) {
                return Err(format!("no partners for category {}", c.id));
            }
        }
        Ok(Self {
            first_names: f.first_names,
            last_names: f.last_names,
            bank_codes: f.bank_codes,
            account_names: f.account_names,
            partners,
        })
    }

    fn partner(&self, rng: &mut MockRng, category: u32) -> &str {
        self.partners[&category]
            .choose(rng)
            .expect("checked non-empty")
    }

    /// A plausible German full name, "Given Family".
    pub fn person(&self, rng: &mut MockRng) -> String {
        let first = self.first_names.choose(rng).expect("checked non-empty");
        let last = self.last_names.choose(rng).expect("checked non-empty");
        format!("{first} {last}")
    }
}

/// What the flow start asked for, as far as the data depends on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Spec {
    /// Months of history (`reporting_period`).
    pub months: u32,
    /// The last day of the history (the day the user connected the bank).
    pub until: NaiveDate,
    pub multi: bool,
    pub account_types: Vec<String>,
    /// Accounts named at flow start: (IBAN, currency).
    pub accounts: Vec<(String, String)>,
    /// The `name` given at flow start, for the account holder.
    pub name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub kind: String,
    /// The account holders, one person each.
    pub holders: Vec<String>,
    pub iban: String,
    pub currency: String,
    pub bank_code: String,
    /// Balance in cents at the end of the day before the period.
    pub opening_balance: i64,
    /// Balance in cents after the account's last booking: its opening balance plus every
    /// transaction on it. Set once the history is generated ([`settle`]).
    pub closing_balance: i64,
    /// Credit line in cents (finX publishes none): the smallest whole
    /// [`CREDIT_LINE_STEP`] that covers the account's deepest end-of-day overdraft, its
    /// opening balance included; 0 for an account never in the red. Set by [`settle`].
    pub credit_line: i64,
}

impl Account {
    /// The holder line as the bank reports it: all holders in one string, the way the
    /// finX document's example shows a joint account.
    pub fn owner_line(&self) -> String {
        self.holders.join(", ")
    }
}

#[derive(Debug, Clone)]
pub struct Partner {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Transaction {
    pub id: String,
    /// Index into [`Dataset::accounts`].
    pub account: usize,
    pub date: NaiveDate,
    /// Cents; income positive, spending negative.
    pub amount: i64,
    pub category: &'static Category,
    pub partner: String,
    pub partner_iban: Option<String>,
    pub purpose: String,
}

/// One report's accounts and transactions (sorted by date, then id).
#[derive(Debug, Clone)]
pub struct Dataset {
    pub since: NaiveDate,
    pub until: NaiveDate,
    pub months: u32,
    pub accounts: Vec<Account>,
    pub transactions: Vec<Transaction>,
    /// The primary income's payer.
    pub employer: Partner,
    /// Index of the account the salary is paid into.
    pub main_account: usize,
}

/// A UUID (version 4 layout) drawn from `rng`.
pub fn uuid(rng: &mut MockRng) -> String {
    let mut b: [u8; 16] = rng.random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid_from(&b)
}

pub fn uuid_from(b: &[u8]) -> String {
    let h: String = b[..16].iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A German IBAN for `bank_code` and a 10-digit account number, with check digits.
pub fn german_iban(bank_code: &str, account: u64) -> String {
    let bban = format!("{bank_code}{account:010}");
    let check = 98 - mod97(&format!("{bban}DE00"));
    format!("DE{check:02}{bban}")
}

/// ISO 13616 check of any IBAN (country, check digits, BBAN up to 34 characters).
pub fn iban_valid(iban: &str) -> bool {
    let s: String = iban.chars().filter(|c| *c != ' ').collect();
    let b = s.as_bytes();
    if !(15..=34).contains(&b.len())
        || !b[..2].iter().all(u8::is_ascii_uppercase)
        || !b[2..4].iter().all(u8::is_ascii_digit)
        || !b
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return false;
    }
    mod97(&format!("{}{}", &s[4..], &s[..4])) == 1
}

/// The remainder mod 97 of the number a BBAN-with-country string spells (A=10 … Z=35).
fn mod97(s: &str) -> u32 {
    s.chars().fold(0u32, |acc, c| {
        let v = c.to_digit(36).unwrap_or(0);
        if v >= 10 {
            (acc * 100 + v) % 97
        } else {
            (acc * 10 + v) % 97
        }
    })
}

/// The first day of the reporting period that ends on `until`.
pub fn period_start(until: NaiveDate, months: u32) -> NaiveDate {
    until
        .checked_sub_months(Months::new(months))
        .and_then(|d| d.succ_opt())
        .unwrap_or(until)
}

/// `day` of the month of `month_start`, clamped to the month's last day.
fn day_in_month(month_start: NaiveDate, day: u32) -> NaiveDate {
    let mut d = day;
    loop {
        if let Some(x) = NaiveDate::from_ymd_opt(month_start.year(), month_start.month(), d) {
            return x;
        }
        d -= 1;
    }
}

/// The first day of every calendar month touching `since..=until`.
fn months_of(since: NaiveDate, until: NaiveDate) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut m = since.with_day(1).expect("day 1 exists");
    while m <= until {
        out.push(m);
        m = m
            .checked_add_months(Months::new(1))
            .expect("dates stay far from chrono's limits");
    }
    out
}

/// How a user's money looks, drawn once per report.
struct Profile {
    salary: i64,
    /// Scale of variable spending, in percent.
    spending: i64,
    salary_day: u32,
    /// Months (from the start) before the first salary: a new job lowers stability.
    salary_gap: usize,
    thirteenth: bool,
    benefits: bool,
    rent: i64,
    loan: Option<i64>,
    gambler: bool,
    debt: bool,
    subscriptions: bool,
}

/// Account kinds card spending may be booked to (not Savings, Loan or Depot accounts).
pub const CARD_KINDS: &[&str] = &["Giro account", "Credit card", "PayPal", "Unknown"];

/// Account kinds the main account pays a fixed monthly savings rate into.
pub const SAVINGS_KINDS: &[&str] = &["Savings account", "Daily savings account", "Depot"];

/// How the main account feeds one secondary account: once a month, on `day`.
struct TransferPlan {
    day: u32,
    rule: TransferRule,
    /// The purpose line, before the month (`Sparrate 01/2026`).
    purpose: &'static str,
}

enum TransferRule {
    /// Whatever brings the account's spendable balance back up to this many cents,
    /// rounded up to whole 10 euros; nothing when it is already there (the way a
    /// prepaid card, a PayPal or a second current account is topped up).
    TopUp(i64),
    /// A standing order of this many cents (a savings plan).
    Fixed(i64),
}

/// The category of a savings rate: an own-account transfer (60, in no aggregated
/// section) rendered as the standing order it is, in the shape of the rent's.
pub static SAVINGS_STANDING_ORDER: Category = cat(
    INTERNAL_TRANSFER,
    "Internal transfer",
    Section::InternalTransfer,
    "Standing order",
    "Dauerauftrag",
);

/// The transfers from the main account into secondary account `i`, if any: card
/// accounts are topped up, savings accounts get a fixed rate. None for the main account
/// itself, for a `Loan account` (money paid into it would be a loan repayment, which the
/// report counts under `loan`, not a transfer) and for an account in another currency
/// (moving money there would need an exchange rate).
fn transfer_plan(
    rng: &mut MockRng,
    accounts: &[Account],
    main: usize,
    i: usize,
    spending: i64,
) -> Option<TransferPlan> {
    let a = &accounts[i];
    if i == main || a.currency != accounts[main].currency {
        return None;
    }
    let day = rng.random_range(1..=5);
    let kind = a.kind.as_str();
    if CARD_KINDS.contains(&kind) {
        // About what a month's share of card spending on it comes to, and a margin.
        let target =
            (rng.random_range(250_00..=700_00i64) * spending / 100 + 49_99) / 50_00 * 50_00;
        let purpose = match kind {
            "Credit card" => "Aufladung Kreditkarte",
            "PayPal" => "Aufladung PayPal",
            _ => "Übertrag",
        };
        Some(TransferPlan {
            day,
            rule: TransferRule::TopUp(target),
            purpose,
        })
    } else if SAVINGS_KINDS.contains(&kind) {
        Some(TransferPlan {
            day,
            rule: TransferRule::Fixed(rng.random_range(1..=8i64) * 25_00),
            purpose: "Sparrate",
        })
    } else {
        None
    }
}

/// A variable booking, drawn before it is known which account it is booked to:
/// `choice` is the secondary card account it goes to if that account can pay it
/// (income always does), `tx` its index among the transactions if it is in the period.
struct Draft {
    date: NaiveDate,
    amount: i64,
    choice: Option<usize>,
    tx: Option<usize>,
}

/// A transfer of `amount` cents from the main account into account `to`.
#[derive(Clone, Copy)]
struct Move {
    to: usize,
    date: NaiveDate,
    amount: i64,
}

/// What each account may still spend this month (its balance at the start of the
/// month, less what it spent, plus this month's transfer) and the income booked to it
/// this month, which it may spend from the next month on (bookings within a month are
/// drawn in any order).
#[derive(Clone)]
struct Budgets {
    budget: Vec<i64>,
    inflow: Vec<i64>,
}

impl Budgets {
    /// Books one month: first its transfers, then its drafts in the order they were
    /// drawn. Returns each draft's account. A secondary card account takes a payment
    /// only as far as its budget goes (it has no overdraft or credit line, so it never
    /// drops below 0), and before its transfer's day only as far as it went without it;
    /// what it cannot pay is paid from the main account.
    fn month(&mut self, drafts: &[Draft], moves: &[Move], main: usize) -> Vec<usize> {
        let n = self.budget.len();
        let mut cutoff: Vec<Option<NaiveDate>> = vec![None; n];
        let mut early: Vec<i64> = vec![0; n];
        for m in moves {
            early[m.to] = self.budget[m.to];
            self.budget[m.to] += m.amount;
            cutoff[m.to] = Some(m.date);
        }
        let out = drafts
            .iter()
            .map(|d| match d.choice {
                None => main,
                Some(i) if d.amount > 0 => {
                    if d.tx.is_some() {
                        self.inflow[i] += d.amount;
                    }
                    i
                }
                Some(i) => {
                    let before = cutoff[i].is_some_and(|c| d.date < c);
                    if self.budget[i] + d.amount >= 0 && (!before || early[i] + d.amount >= 0) {
                        self.budget[i] += d.amount;
                        if before {
                            early[i] += d.amount;
                        }
                        i
                    } else {
                        main
                    }
                }
            })
            .collect();
        for (b, add) in self.budget.iter_mut().zip(self.inflow.iter_mut()) {
            *b += std::mem::take(add);
        }
        out
    }
}

/// The main account's bookings, day by day, for deciding the transfers.
struct MainLedger<'a> {
    since: NaiveDate,
    main: usize,
    /// Per day of the period: the sum of the main account's bookings that do not
    /// depend on the transfers (salary, contracts, variable bookings no secondary
    /// account could take).
    fixed: Vec<i64>,
    /// Per month: its variable bookings, in the order drawn.
    drafts: &'a [Vec<Draft>],
    /// Per month: the index of its first day in the period (0 for the first month).
    first_day: Vec<usize>,
}

impl MainLedger<'_> {
    fn day(&self, date: NaiveDate) -> usize {
        (date - self.since).num_days() as usize
    }

    /// The main account's end-of-day balances from the first day of month `k` to the
    /// end of the period, if month `k` has the transfers `moves` and no later month has
    /// any. `budgets` is the state at the start of month `k`; `start` the main
    /// account's balance at the end of the day before.
    fn balances(&self, budgets: &Budgets, k: usize, moves: &[Move], start: i64) -> Vec<i64> {
        let from = self.first_day[k];
        let mut delta = self.fixed[from..].to_vec();
        let mut b = budgets.clone();
        for (j, drafts) in self.drafts.iter().enumerate().skip(k) {
            let moves = if j == k { moves } else { &[] };
            for m in moves {
                delta[self.day(m.date) - from] -= m.amount;
            }
            let routed = b.month(drafts, moves, self.main);
            for (d, acc) in drafts.iter().zip(routed) {
                if acc == self.main && d.choice.is_some() && d.tx.is_some() {
                    delta[self.day(d.date) - from] += d.amount;
                }
            }
        }
        let mut balance = start;
        delta
            .into_iter()
            .map(|x| {
                balance += x;
                balance
            })
            .collect()
    }
}

/// Build the dataset for `entity`'s report. `rng` decides everything but the holders'
/// names (`holder_rng`) and the transfers between the user's own accounts
/// (`transfer_rng`); the same rng states and spec give the same dataset.
///
/// The transfers have a random stream of their own, so that every booking but them is
/// the same with or without them: the same ids, dates, amounts, partners and purposes.
/// What they do change is which account a card payment is booked to: a topped-up card
/// account pays more of the card spending that the main account would pay otherwise,
/// so the `account_id` of those bookings changes, and with it and the transfers
/// themselves every account's balance figures and `last_transaction_on`.
///
/// A transfer is made only as far as the main account can afford it: a savings rate
/// (a standing order) is paid in full or not at all that month, a top-up is what the
/// card lacks or as much as the main account can spare (whole 10 euros) or nothing.
/// Affordable means: after it, the main account stays at 0 or above from the
/// transfer's day to the end of the month, and on no later day is it in the red when
/// the household without transfers ([`build`] with `transfers: false`) would have been
/// in the black. The generator looks ahead over the history to decide it (month by
/// month, each candidate amount checked against the main account's balances up to the
/// period's end, assuming no later transfers); so the transfers never add a day to
/// the main account's `days_in_overdraft`.
pub fn generate(
    rng: &mut MockRng,
    holder_rng: &mut MockRng,
    transfer_rng: &mut MockRng,
    spec: &Spec,
) -> Dataset {
    build(rng, holder_rng, transfer_rng, spec, true)
}

/// [`generate`], with or without the own-account transfers (without: the same
/// household if it never moved money between its accounts).
pub(super) fn build(
    rng: &mut MockRng,
    holder_rng: &mut MockRng,
    transfer_rng: &mut MockRng,
    spec: &Spec,
    transfers: bool,
) -> Dataset {
    let c = &*CATALOGUE;
    let until = spec.until;
    let since = period_start(until, spec.months);

    let salary = rng.random_range(1_800_00..=4_600_00i64) / 100 * 100;
    // Percent of a 3000-euro earner's spending, times thrift (100 % … 175 %).
    let spending = salary / 3000 * rng.random_range(100..=175) / 100;
    let p = Profile {
        salary,
        spending,
        salary_day: rng.random_range(25..=31),
        salary_gap: if rng.random_bool(0.2) {
            rng.random_range(1..=3)
        } else {
            0
        },
        thirteenth: rng.random_bool(0.3),
        benefits: rng.random_bool(0.35),
        rent: rng.random_range(salary * 25 / 100..=salary * 45 / 100) / 100 * 100,
        loan: rng
            .random_bool(0.35)
            .then(|| rng.random_range(90_00..=650_00i64)),
        gambler: rng.random_bool(0.2),
        debt: rng.random_bool(0.12),
        subscriptions: rng.random_bool(0.8),
    };

    let holders = holders(holder_rng, spec.name.as_deref(), rng.random_bool(0.2));
    let accounts = accounts(rng, spec, &holders);
    let main_account = 0;
    let employer = Partner {
        id: uuid(rng),
        name: c.partner(rng, 14).to_string(),
    };

    let mut txs: Vec<Transaction> = Vec::new();
    let months = months_of(since, until);
    let mut push = |rng: &mut MockRng,
                    account: usize,
                    date: NaiveDate,
                    amount: i64,
                    cat_id: u32,
                    partner: &str,
                    partner_iban: Option<String>,
                    purpose: String|
     -> Option<usize> {
        if date < since || date > until || amount == 0 {
            return None;
        }
        txs.push(Transaction {
            id: uuid(rng),
            account,
            date,
            amount,
            category: category(cat_id),
            partner: partner.to_string(),
            partner_iban,
            purpose,
        });
        Some(txs.len() - 1)
    };

    // One contract per regular category: a partner, an IBAN, a day of the month.
    struct Contract {
        cat: u32,
        partner: String,
        iban: String,
        day: u32,
        amount: i64,
        jitter: i64,
    }
    let contract = |rng: &mut MockRng, cat: u32, amount: i64, jitter: i64, day: u32| Contract {
        cat,
        partner: c.partner(rng, cat).to_string(),
        iban: random_iban(rng),
        day,
        amount,
        jitter,
    };
    let employer_iban = random_iban(rng);
    // (category, amount, jitter, latest day of the month it is booked on)
    let mut plan: Vec<(u32, i64, i64, u32)> = vec![(30, -p.rent, 0, 3)];
    if p.benefits {
        plan.push((200, 255_00, 0, 12));
    }
    plan.push((31, -rng.random_range(45_00..=160_00), 0, 28));
    plan.push((32, -rng.random_range(15_00..=120_00), 0, 28));
    plan.push((33, -rng.random_range(15_00..=65_00), 5_00, 28));
    if p.subscriptions {
        plan.push((34, -rng.random_range(5_99..=17_99), 0, 28));
    }
    if let Some(loan) = p.loan {
        plan.push((53, -loan, 0, 15));
    }
    let contracts: Vec<Contract> = plan
        .into_iter()
        .map(|(cat, amount, jitter, latest)| {
            let day = rng.random_range(1..=latest);
            contract(rng, cat, amount, jitter, day)
        })
        .collect();

    // Secondary accounts that take card payments.
    let spendable: Vec<usize> = (0..accounts.len())
        .filter(|&i| i != main_account && CARD_KINDS.contains(&accounts[i].kind.as_str()))
        .collect();
    let plans: Vec<Option<TransferPlan>> = (0..accounts.len())
        .map(|i| transfer_plan(transfer_rng, &accounts, main_account, i, p.spending))
        .map(|plan| plan.filter(|_| transfers))
        .collect();
    let day_of = |date: NaiveDate| (date - since).num_days() as usize;
    let days = day_of(until) + 1;
    // The main account's bookings that no transfer changes, per day.
    let mut fixed = vec![0i64; days];
    // Per month, the variable bookings in the order drawn.
    let mut drafts: Vec<Vec<Draft>> = Vec::with_capacity(months.len());
    for (i, m) in months.iter().enumerate() {
        let month_name = m.format("%m/%Y").to_string();
        if i >= p.salary_gap {
            let mut amount = p.salary + rng.random_range(-40_00..=40_00);
            if p.thirteenth && m.month() == 11 {
                amount += p.salary;
            }
            let date = day_in_month(*m, p.salary_day);
            if push(
                rng,
                main_account,
                date,
                amount,
                14,
                &employer.name,
                Some(employer_iban.clone()),
                format!("Lohn/Gehalt {month_name}"),
            )
            .is_some()
            {
                fixed[day_of(date)] += amount;
            }
        }
        for k in &contracts {
            let jitter = if k.jitter > 0 {
                rng.random_range(-k.jitter..=k.jitter)
            } else {
                0
            };
            let purpose = match k.cat {
                30 => format!("Miete {month_name}"),
                200 => format!("Kindergeld {month_name}"),
                53 => format!("Rate Kreditvertrag {month_name}"),
                _ => format!("Vertragsnr. {} {month_name}", &k.iban[12..]),
            };
            let date = day_in_month(*m, k.day);
            if push(
                rng,
                main_account,
                date,
                k.amount + jitter,
                k.cat,
                &k.partner,
                Some(k.iban.clone()),
                purpose,
            )
            .is_some()
            {
                fixed[day_of(date)] += k.amount + jitter;
            }
        }
        // Variable flows: (category, bookings this month, euro range). Spending scales
        // with the salary and the user's thrift (100 … 175 %), so most users live
        // within their means: over the period more than 3 in 4 take in more than they
        // spend, and more than half are never in their overdraft; the others start in
        // it, dip into it before payday or drift into it (a test checks these shares).
        let scale = |eur: i64| eur * p.spending / 100;
        let mut variable: Vec<(u32, u32, (i64, i64))> = vec![
            (11, rng.random_range(0..=2), (10, 350)),
            (40, rng.random_range(6..=12), (scale(-90), -4)),
            (123, rng.random_range(0..=4), (scale(-150), -8)),
            (41, rng.random_range(1..=6), (scale(-60), -6)),
            (42, rng.random_range(1..=5), (scale(-70), -3)),
            (50, rng.random_range(0..=3), (scale(-20).min(-3), -2)),
        ];
        if p.gambler {
            variable.push((51, rng.random_range(1..=5), (-120, -5)));
        }
        if p.debt && rng.random_bool(0.25) {
            variable.push((52, 1, (-400, -40)));
        }
        let last = day_in_month(*m, 31).day();
        let mut month = Vec::new();
        for (cat_id, n, (lo, hi)) in variable {
            for _ in 0..n {
                let date = day_in_month(*m, rng.random_range(1..=last));
                let amount = if cat_id == 50 {
                    // Cash comes in 10-euro notes: 20 … 300.
                    rng.random_range(lo..=hi) * 10_00
                } else {
                    rng.random_range(lo * 100..=hi * 100)
                };
                // A second spending account (never Savings, Loan or Depot) may see some
                // of the card spending and some income; which account it is booked to
                // is decided below ([`Budgets::month`]), once the transfers are known.
                let choice = (!spendable.is_empty() && cat_id != 50 && rng.random_bool(0.3))
                    .then(|| spendable[rng.random_range(0..spendable.len())]);
                let partner = c.partner(rng, cat_id).to_string();
                let purpose = match cat_id {
                    50 => format!("GA {} {}", date.format("%d.%m"), partner),
                    11 => format!("Gutschrift {partner}"),
                    _ => format!(
                        "{} {}",
                        category(cat_id).booking_text,
                        date.format("%d.%m.%Y")
                    ),
                };
                let tx = push(
                    rng,
                    main_account,
                    date,
                    amount,
                    cat_id,
                    &partner,
                    None,
                    purpose,
                );
                if let (Some(_), None) = (tx, choice) {
                    fixed[day_of(date)] += amount;
                }
                month.push(Draft {
                    date,
                    amount,
                    choice,
                    tx,
                });
            }
        }
        drafts.push(month);
    }

    // Month by month: the transfers, then which account each variable booking is on.
    let ledger = MainLedger {
        since,
        main: main_account,
        fixed,
        drafts: &drafts,
        first_day: months.iter().map(|m| day_of((*m).max(since))).collect(),
    };
    let opening = accounts[main_account].opening_balance;
    let mut budgets = Budgets {
        budget: accounts.iter().map(|a| a.opening_balance.max(0)).collect(),
        inflow: vec![0; accounts.len()],
    };
    // The main account without any transfer: the household that never moves money.
    let without = ledger.balances(&budgets, 0, &[], opening);
    // The main account's bookings so far, per day (the months already decided).
    let mut booked = ledger.fixed.clone();
    for (k, m) in months.iter().enumerate() {
        let from = ledger.first_day[k];
        let start = opening + booked[..from].iter().sum::<i64>();
        let month_end = ledger.first_day.get(k + 1).map_or(days, |&d| d) - 1;
        // A transfer is made only as far as the main account can afford it: the main
        // account stays at 0 or above from the transfer's day to the end of the month
        // (a household that lives on its overdraft this month does not save or park
        // money on a card), and it is not in the red on any later day on which the
        // household without transfers would have been in the black.
        let affordable = |moves: &[Move], day: usize| {
            let with = ledger.balances(&budgets, k, moves, start);
            with.iter().enumerate().all(|(j, &b)| {
                let d = from + j;
                b >= 0 || (without[d] < 0 && !(day..=month_end).contains(&d))
            })
        };
        let mut moves: Vec<Move> = Vec::new();
        let month_name = m.format("%m/%Y").to_string();
        for (i, plan) in plans.iter().enumerate() {
            let Some(plan) = plan else { continue };
            let date = day_in_month(*m, plan.day);
            if date < since || date > until {
                continue;
            }
            let with = |amount: i64| {
                let mut v = moves.clone();
                v.push(Move {
                    to: i,
                    date,
                    amount,
                });
                affordable(&v, day_of(date))
            };
            let amount = match plan.rule {
                // A standing order is paid in full or not at all (a bank does not
                // execute it without cover; a household pauses its plan in a tight
                // month).
                TransferRule::Fixed(x) => {
                    if with(x) {
                        x
                    } else {
                        0
                    }
                }
                // A top-up is what the card lacks, or as much of it as the main
                // account can spare, in whole 10 euros.
                TransferRule::TopUp(target) => {
                    let want = (target - budgets.budget[i] + 9_99).max(0) / 10_00;
                    if want == 0 || with(want * 10_00) {
                        want * 10_00
                    } else {
                        let (mut lo, mut hi) = (0, want - 1);
                        while lo < hi {
                            let mid = (lo + hi + 1) / 2;
                            if with(mid * 10_00) {
                                lo = mid;
                            } else {
                                hi = mid - 1;
                            }
                        }
                        lo * 10_00
                    }
                }
            };
            if amount <= 0 {
                continue;
            }
            moves.push(Move {
                to: i,
                date,
                amount,
            });
            // One booking on each side, same day, same amount, each naming the other
            // account's holders and IBAN.
            let purpose = format!("{} {month_name}", plan.purpose);
            let category = match plan.rule {
                TransferRule::Fixed(_) => &SAVINGS_STANDING_ORDER,
                TransferRule::TopUp(_) => category(INTERNAL_TRANSFER),
            };
            let (from_acc, to_acc) = (&accounts[main_account], &accounts[i]);
            for (account, amount, other) in [(main_account, -amount, to_acc), (i, amount, from_acc)]
            {
                txs.push(Transaction {
                    id: uuid(transfer_rng),
                    account,
                    date,
                    amount,
                    category,
                    partner: other.owner_line(),
                    partner_iban: Some(other.iban.clone()),
                    purpose: purpose.clone(),
                });
            }
            booked[day_of(date)] -= amount;
        }
        let routed = budgets.month(&drafts[k], &moves, main_account);
        for (d, account) in drafts[k].iter().zip(routed) {
            if let Some(tx) = d.tx {
                txs[tx].account = account;
                if account == main_account && d.choice.is_some() {
                    booked[day_of(d.date)] += d.amount;
                }
            }
        }
    }
    txs.sort_by(|a, b| a.date.cmp(&b.date).then_with(|| a.id.cmp(&b.id)));

    let mut d = Dataset {
        since,
        until,
        months: spec.months,
        accounts,
        transactions: txs,
        employer,
        main_account,
    };
    settle(&mut d);
    d
}

/// Steps in which a credit line is granted: whole 500 €.
pub const CREDIT_LINE_STEP: i64 = 500_00;

/// Each account's closing balance and credit line, computed once from its end-of-day
/// balances when the history is generated (the balance calls only read them).
fn settle(d: &mut Dataset) {
    for i in 0..d.accounts.len() {
        let days = daily_balances(d, i);
        let opening = d.accounts[i].opening_balance;
        let closing = days.last().map_or(opening, |(_, b)| *b);
        let deepest = days
            .iter()
            .map(|(_, b)| *b)
            .chain([opening])
            .min()
            .unwrap_or(0)
            .min(0);
        let account = &mut d.accounts[i];
        account.closing_balance = closing;
        account.credit_line =
            (-deepest + CREDIT_LINE_STEP - 1) / CREDIT_LINE_STEP * CREDIT_LINE_STEP;
    }
}

fn random_iban(rng: &mut MockRng) -> String {
    let bank = CATALOGUE
        .bank_codes
        .choose(rng)
        .expect("checked non-empty")
        .clone();
    german_iban(&bank, rng.random_range(1_000_000..10_000_000_000))
}

/// The account holders. With a `name` given at flow start the first holder is usually
/// that person, spelled as their bank spells it: most often exactly, sometimes
/// "Family, Given" or without umlauts, sometimes a relative with the same family name,
/// sometimes someone else entirely. The affinity is then computed from the strings.
fn holders(rng: &mut MockRng, name: Option<&str>, joint: bool) -> Vec<String> {
    let c = &*CATALOGUE;
    let first = match name.map(str::trim).filter(|n| !n.is_empty()) {
        None => c.person(rng),
        Some(n) => {
            let parts: Vec<&str> = n.split_whitespace().collect();
            let roll = rng.random_range(0..100);
            match roll {
                0..70 => parts.join(" "),
                70..80 if parts.len() >= 2 => {
                    let (last, given) = parts.split_last().expect("two parts at least");
                    format!("{last}, {}", given.join(" "))
                }
                80..90 => fold_umlauts(&parts.join(" ")),
                90..95 if parts.len() >= 2 => {
                    let last = parts.last().expect("two parts at least");
                    let given = c.first_names.choose(rng).expect("checked non-empty");
                    format!("{given} {last}")
                }
                _ => c.person(rng),
            }
        }
    };
    let mut out = vec![first];
    if joint {
        out.push(c.person(rng));
    }
    out
}

fn accounts(rng: &mut MockRng, spec: &Spec, holders: &[String]) -> Vec<Account> {
    let c = &*CATALOGUE;
    let n = if !spec.accounts.is_empty() {
        spec.accounts.len()
    } else if spec.multi {
        rng.random_range(1..=3)
    } else {
        1
    };
    (0..n)
        .map(|i| {
            let kind = if spec.account_types.is_empty() {
                "Giro account".to_string()
            } else {
                spec.account_types[i % spec.account_types.len()].clone()
            };
            let (iban, currency) = match spec.accounts.get(i) {
                Some((iban, cur)) => (iban.clone(), cur.clone()),
                None => (random_iban(rng), "EUR".to_string()),
            };
            let bank_code = if iban.starts_with("DE") && iban.len() == 22 {
                iban[4..12].to_string()
            } else {
                String::new()
            };
            let name = c.account_names[&kind]
                .choose(rng)
                .expect("checked non-empty")
                .clone();
            // Only the main account is shared in a joint household.
            let holders = if i == 0 {
                holders.to_vec()
            } else {
                holders[..1].to_vec()
            };
            Account {
                id: format!("A{}", &uuid(rng).replace('-', "")[..12]),
                name,
                kind,
                holders,
                iban,
                currency,
                bank_code,
                // Only the main (salary) account may start in its overdraft.
                opening_balance: if i == 0 {
                    rng.random_range(-300_00..=3_500_00)
                } else {
                    rng.random_range(0..=3_500_00)
                },
                // Known once the history is: [`settle`].
                closing_balance: 0,
                credit_line: 0,
            }
        })
        .collect()
}

/// ä → a, ö → o, ü → u, ß → ss (and the capitals).
pub fn fold_umlauts(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            'ä' => out.push('a'),
            'ö' => out.push('o'),
            'ü' => out.push('u'),
            'Ä' => out.push('A'),
            'Ö' => out.push('O'),
            'Ü' => out.push('U'),
            'ß' => out.push_str("ss"),
            'ı' => out.push('i'),
            'é' | 'è' => out.push('e'),
            'ó' => out.push('o'),
            c => out.push(c),
        }
    }
    out
}

/// End-of-day balances of `account`, one per day of the period.
pub fn daily_balances(d: &Dataset, account: usize) -> Vec<(NaiveDate, i64)> {
    let mut out = Vec::new();
    let mut balance = d.accounts[account].opening_balance;
    let mut txs = d
        .transactions
        .iter()
        .filter(|t| t.account == account)
        .peekable();
    let mut day = d.since;
    while day <= d.until {
        while let Some(t) = txs.next_if(|t| t.date == day) {
            balance += t.amount;
        }
        out.push((day, balance));
        day = day.succ_opt().expect("dates stay far from chrono's limits");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate;

    #[test]
    fn the_shipped_catalogue_parses() {
        Catalogue::parse(include_str!("../../../fixtures/finx/catalogue.json")).unwrap();
    }

    #[test]
    fn generated_german_ibans_have_valid_check_digits() {
        // The finX document's own example IBAN.
        assert!(iban_valid("DE93300308800013441006"));
        assert_eq!(german_iban("30030880", 13441006), "DE93300308800013441006");
        assert!(!iban_valid("DE94300308800013441006"));
        assert!(!iban_valid("DE9330030880001344100"));
        assert!(iban_valid("GB82WEST12345698765432"));
        let mut rng = generate::rng(1, "finx", "u", "iban");
        for _ in 0..500 {
            let iban = random_iban(&mut rng);
            assert_eq!(iban.len(), 22);
            assert!(iban_valid(&iban), "{iban}");
        }
    }

    #[test]
    fn periods_start_the_day_after_the_same_day_n_months_earlier() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(period_start(d("2026-01-15"), 12), d("2025-01-16"));
        assert_eq!(period_start(d("2026-03-31"), 1), d("2026-03-01"));
        assert_eq!(day_in_month(d("2026-02-01"), 31), d("2026-02-28"));
    }
}
