//! finX risk reports (finleap connect, now Qwist "nrich API"), under `/finx`.
//!
//! The whole three-step flow as finX's implementation guide describes it:
//! 1. `POST /onetime/risk-report` or `/ongoing/risk-report` (HTTP Basic client
//!    credentials) → 201 `{location, id}`;
//! 2. `GET location` (served here as `/widget/{id}?token=…`) stands in for the
//!    bank-login widget and redirects (302) to `redirect_uri` with `code`, `state`,
//!    `success`, `cancel=false` and `flow_id` (or `success=false&cancel=true` for
//!    `cancel-` users);
//! 3. `POST /auth/token` (Basic) exchanges the code (single use, 5 minutes) for an
//!    access token (1 hour) and a refresh token (90 days; refreshing rotates both);
//!
//! then `GET /rest/risk-reports/{id}`, `GET /rest/transactions` (paged with figo's
//! `count`/`offset`, at most 1000 a page, `include_statistics` counting the whole
//! selection), `GET /rest/accounts[/{id}[/balance|/transactions]]` with
//! `Authorization: Bearer`. Those `/rest` calls follow figo, finX's predecessor, as
//! figo's own clients use them: `cents=true` writes their amounts in whole cents, and
//! `balance_date` is a figo timestamp ([`report::Amounts`], [`report::TIMESTAMP`]).
//! All lifetimes run on the mock clock and are settings of the scenario file.
//!
//! The report and the transactions come from one generated [`data::Dataset`] per
//! flow, so every aggregate equals the transactions its `href` returns
//! ([`report`] has the rules). `href`s point at the mock itself, built from the
//! request's `X-Forwarded-Host` (else `Host`, else the `[report] fallback_host` setting,
//! default `127.0.0.1:8080`, the CLI's default listen address) and the prefix it was
//! served under.
//!
//! Scenarios are chosen by the flow's entity: its `user_id`, else its `state`, else the
//! flow id. Only two places look at them: the widget (its current step's outcome
//! `cancelled`/`failed` makes it redirect without a code; it does not count a call) and
//! `GET /rest/risk-reports/{id}`, which counts a call and renders the step (`report`,
//! `pending`, `rate_limited`, `server_error`). So `pending-` gives two 202s on the report
//! endpoint however many other calls the flow made.
//!
//! Ids (flow ids, widget tokens, codes, access and refresh tokens) derive from (the
//! instance's issuer, the flow's entity, the entity's count of id-issuing calls, reset
//! generation), never
//! from a server-wide sequence, so parallel clients of different entities cannot change
//! each other's ids ([`issued_id`]). A one-time flow with neither `user_id` nor `state`
//! has no entity of its own: its ids are numbered under a digest of its request, in
//! arrival order among identical requests (inherent: nothing tells them apart), so its
//! flow start carries `x-vendor-mock-warning` once the same request was seen before;
//! its data comes from that digest, so identical requests get identical data.
//!
//! Limits: one client id/secret pair per scenario set; flows, codes and tokens are
//! kept in memory up to [`MAX_FLOWS`]/[`MAX_GRANTS`] each and
//! [`Budgets::store`](crate::budget::Budgets::store) bytes each (oldest forgotten
//! first) and cleared by `/__admin/reset`; the widget link does not expire; tokens are
//! JWT-shaped but their signature is not verifiable.

mod cache;
mod data;
mod errors;
mod flow;
mod report;

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use hyper::header::AUTHORIZATION;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use toml::Spanned;

use self::cache::{Answer, AnswerKey, AnswerRef, AnswerView, Cache, DataKey};
use self::data::{Dataset, Spec};
use self::errors::FinxError;
use self::flow::FlowRequest;
use self::report::{Amounts, Query, Render, Shape};
use super::{Ctx, Endpoint, Vendor};
use crate::budget::{self, heap, Budgets, Gauge, Locked, Weighed};
use crate::generate::{self, Issuer};
use crate::rate_limit::Decision;
use crate::scenario::{parse_settings, Action, Problem, Settings};
use crate::server::{bearer_token, origin, plausible_host, MockRequest, MockResponse};
use crate::FastHash;

pub const OUTCOMES: &[&str] = &[
    "report",
    "pending",
    "rate_limited",
    "server_error",
    "cancelled",
    "failed",
];

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "POST",
        path: "/onetime/risk-report",
        summary: "start a one-time risk-report flow (Basic) → 201 {location, id}",
    },
    Endpoint {
        method: "POST",
        path: "/ongoing/risk-report",
        summary: "start an ongoing risk-report flow (Basic; user_id required)",
    },
    Endpoint {
        method: "GET",
        path: "/widget/{id}",
        summary: "the bank-login widget stand-in: 302 to redirect_uri with code",
    },
    Endpoint {
        method: "POST",
        path: "/auth/token",
        summary: "authorization_code / refresh_token grants (Basic)",
    },
    Endpoint {
        method: "GET",
        path: "/rest/risk-reports/{id}",
        summary: "the risk report (Bearer)",
    },
    Endpoint {
        method: "GET",
        path: "/rest/transactions",
        summary: "transactions behind the report's hrefs (Bearer)",
    },
    Endpoint {
        method: "GET",
        path: "/rest/accounts",
        summary: "connected accounts (Bearer)",
    },
    Endpoint {
        method: "GET",
        path: "/rest/accounts/{id}",
        summary: "one connected account (Bearer)",
    },
    Endpoint {
        method: "GET",
        path: "/rest/accounts/{id}/balance",
        summary: "one account's balance and credit line (Bearer)",
    },
    Endpoint {
        method: "GET",
        path: "/rest/accounts/{id}/transactions",
        summary: "one account's transactions (Bearer)",
    },
];

/// Flows remembered at most (oldest forgotten first).
pub const MAX_FLOWS: usize = 10_000;
/// Codes, access tokens and refresh tokens remembered at most, each.
pub const MAX_GRANTS: usize = 20_000;
/// Entities whose issuing calls are counted at most (the engine's own bound on entities).
pub const MAX_ISSUERS: usize = crate::state::MAX_ENTITIES;

/// Compiled settings: `[auth]`, `[report]`, `[tokens]`.
#[derive(Debug)]
pub struct FinxSettings {
    pub client_id: String,
    pub client_secret: String,
    pub shape: Shape,
    pub onetime_retention: TimeDelta,
    /// The host links use when a request carries no usable `X-Forwarded-Host` or `Host`.
    pub fallback_host: String,
    pub access_token: TimeDelta,
    pub refresh_token: TimeDelta,
    pub code: TimeDelta,
}

#[derive(Deserialize)]
struct SettingsFile {
    auth: Option<AuthSpec>,
    report: Option<ReportSpec>,
    tokens: Option<TokensSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthSpec {
    client_id: String,
    client_secret: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportSpec {
    shape: Option<Spanned<String>>,
    onetime_retention_seconds: Option<Spanned<i64>>,
    fallback_host: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensSpec {
    access_token_seconds: Option<Spanned<i64>>,
    refresh_token_seconds: Option<Spanned<i64>>,
    code_seconds: Option<Spanned<i64>>,
}

/// A positive number of seconds (at most ten years), or a problem at its span.
fn seconds(v: Option<Spanned<i64>>, default: i64, problems: &mut Vec<Problem>) -> TimeDelta {
    match v {
        None => TimeDelta::seconds(default),
        Some(s) if (1..=315_360_000).contains(s.get_ref()) => TimeDelta::seconds(*s.get_ref()),
        Some(s) => {
            problems.push(Problem::at(
                s.span(),
                format!(
                    "{} is not a number of seconds from 1 to 315360000",
                    s.get_ref()
                ),
            ));
            TimeDelta::seconds(default)
        }
    }
}

/// One started flow.
#[derive(Debug, Clone)]
struct Flow {
    id: String,
    ongoing: bool,
    /// The scenario key: `user_id`, else `state`, else the flow id.
    entity: String,
    /// What the flow's data is generated from: its `user_id` or `state`, else (a flow
    /// with neither) the digest of its request, so identical requests get the same
    /// accounts and transactions whatever order they arrive in.
    data_key: String,
    req: FlowRequest,
    widget_token: String,
    created: DateTime<Utc>,
    /// When the widget first redirected back with a code.
    completed: Option<DateTime<Utc>>,
    /// What the flow's dataset is generated from, fixed once it completed (the history
    /// ends that day): the key of its cached dataset and answers.
    data: Option<Arc<DataKey>>,
}

/// A code or token: the flow it opens and when it stops working.
#[derive(Debug, Clone)]
struct Grant {
    flow: String,
    expires: DateTime<Utc>,
}

/// What a stored value holds on the heap, for the byte budgets.
trait Weigh {
    fn weight(&self) -> usize;
}

fn opt_heap(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, |s| heap(s.len()))
}

impl Weigh for Flow {
    /// Counted as if the flow had completed: [`Flow::data`] (set in place when it does,
    /// which must not change the weight) is then an `Arc<DataKey>` holding copies of the
    /// data key, account types, accounts and name.
    fn weight(&self) -> usize {
        let r = &self.req;
        // The account types, accounts and name: held by the request, and copied once
        // more into the completed flow's data key.
        let listed = heap(r.account_types.len() * std::mem::size_of::<String>())
            + r.account_types.iter().map(|t| heap(t.len())).sum::<usize>()
            + heap(r.accounts.len() * std::mem::size_of::<(String, String)>())
            + r.accounts
                .iter()
                .map(|(a, b)| heap(a.len()) + heap(b.len()))
                .sum::<usize>()
            + opt_heap(&r.name);
        let data = heap(std::mem::size_of::<DataKey>() + 16) + heap(self.data_key.len()) + listed;
        data + heap(self.id.len())
            + heap(self.entity.len())
            + heap(self.data_key.len())
            + heap(self.widget_token.len())
            + heap(r.redirect_uri.len())
            + opt_heap(&r.user_id)
            + opt_heap(&r.state)
            + heap(r.language.len())
            + listed
    }
}

impl Weigh for Grant {
    fn weight(&self) -> usize {
        heap(self.flow.len())
    }
}

impl Weigh for Issued {
    fn weight(&self) -> usize {
        0
    }
}

impl Weigh for Arc<Flow> {
    fn weight(&self) -> usize {
        // The flow itself lives in the Arc's allocation, beside two counters.
        heap(std::mem::size_of::<Flow>() + 16) + (**self).weight()
    }
}

/// What an entry of a finX map costs beyond what [`Bounded::weigh`] adds up, measured
/// against the resident set (1 000 flows started, each a flow and an issuer count: 1 339
/// bytes resident, 985 counted without it; BENCHMARKS.md, "What an entry costs").
const SLACK: usize = 160;

/// A map that forgets its oldest entries past `cap` entries or `max_bytes` bytes: the
/// engine's [`budget::Bounded`] (insertion numbers, so a key removed and inserted again is
/// not evicted by its stale place; stale places compacted past twice the live length),
/// with finX's weights.
#[derive(Debug)]
struct Bounded<V, S = FastHash>(budget::Bounded<String, V, S>);

impl<V: Weigh, S: BuildHasher + Default> Bounded<V, S> {
    fn new(cap: usize, max_bytes: usize) -> Self {
        Self(budget::Bounded::new(cap, max_bytes))
    }

    /// An entry's bytes besides its slot: its key (held by the map and by the order),
    /// its value's heap, and the measured [`SLACK`]. Values change in place only in
    /// fields that hold no heap, so the weight at removal is the weight at insertion.
    fn weight(k: &str, v: &V) -> usize {
        heap(k.len()) * 2 + v.weight() + SLACK
    }

    /// An entry's bytes with its slot, as [`Bounded::bytes`] counts them.
    #[cfg(test)]
    fn weigh(k: &str, v: &V) -> usize {
        Self::weight(k, v) + budget::slot_overhead::<String, (V, usize, u64)>()
    }

    fn insert(&mut self, k: String, v: V) {
        let weight = Self::weight(&k, &v);
        self.0.insert(k, v, weight);
    }

    fn get(&self, k: &str) -> Option<&V> {
        self.0.get(k)
    }

    fn get_mut(&mut self, k: &str) -> Option<&mut V> {
        self.0.get_mut(k)
    }

    fn remove(&mut self, k: &str) -> Option<V> {
        self.0.remove(k)
    }

    /// Forget everything, freeing the memory (a reset gives it back).
    fn clear(&mut self) {
        self.0.clear();
    }

    /// What the entries hold: key, value and slot.
    fn bytes(&self) -> usize {
        self.0.bytes()
    }

    /// Entries forgotten to make room since the last [`Bounded::clear`] (not those
    /// removed by use).
    fn forgotten(&self) -> u64 {
        self.0.forgotten()
    }
}

/// How many bytes at the end of a key [`TailHash`] hashes.
const TAIL: usize = 16;

/// Hashes only the last [`TAIL`] bytes of a key (with [`FastHash`]): for keys the
/// mock made itself from digests (flow ids, codes, tokens), whose ends are as random as
/// the whole. Every `/rest` call looks its bearer token up, and an access token is some
/// 330 bytes. Never for keys a client chooses (entity ids): those may share their ends.
#[derive(Debug, Default, Clone)]
struct TailHash(FastHash);

impl BuildHasher for TailHash {
    type Hasher = Tail;
    fn build_hasher(&self) -> Tail {
        Tail(self.0.build_hasher())
    }
}

struct Tail(<FastHash as BuildHasher>::Hasher);

impl Hasher for Tail {
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(&bytes[bytes.len().saturating_sub(TAIL)..]);
    }
    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

/// finX's own state: flows, codes, tokens.
#[derive(Debug)]
struct Store {
    /// Shared with the requests reading them: a flow changes once (when it completes),
    /// by copy on write.
    flows: Bounded<Arc<Flow>, TailHash>,
    codes: Bounded<Grant, TailHash>,
    access: Bounded<Grant, TailHash>,
    refresh: Bounded<Grant, TailHash>,
    /// Per issuer (a flow's entity, or a digest of an anonymous flow start): how its
    /// id-issuing calls (flow start, a widget visit with a code, a token grant) are
    /// numbered. finX keeps this count itself rather than using the engine's per-entity
    /// call count ([`Ctx::turn`]) because counting there advances the entity's scenario
    /// steps, and finX's steps count report calls only (`pending-` means two 202s on
    /// the report, however many codes and tokens the flow was issued).
    issued: Bounded<Issued>,
}

/// One issuer's numbering: see [`Store::next_issue`].
#[derive(Debug, Clone, Copy)]
struct Issued {
    generation: u64,
    lap: u64,
    calls: u64,
}

impl Default for Store {
    fn default() -> Self {
        Self::with_budget(crate::budget::DEFAULT_STORE_BYTES)
    }
}

impl Store {
    /// Each map within `bytes` bytes.
    fn with_budget(bytes: usize) -> Self {
        Self {
            flows: Bounded::new(MAX_FLOWS, bytes),
            codes: Bounded::new(MAX_GRANTS, bytes),
            access: Bounded::new(MAX_GRANTS, bytes),
            refresh: Bounded::new(MAX_GRANTS, bytes),
            issued: Bounded::new(MAX_ISSUERS, bytes),
        }
    }

    fn bytes(&self) -> usize {
        self.flows.bytes()
            + self.codes.bytes()
            + self.access.bytes()
            + self.refresh.bytes()
            + self.issued.bytes()
    }
}

impl Weighed for Store {
    fn bytes(&self) -> usize {
        Store::bytes(self)
    }
}

/// One issuing call of an entity: what every id it hands out is derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Issue<'e> {
    entity: &'e str,
    /// 1-based, counting the entity's issuing calls in this generation (and lap).
    call: u64,
    generation: u64,
    /// 0 while no issuer's count was ever forgotten in this generation; see
    /// [`Store::next_issue`].
    lap: u64,
}

impl Store {
    /// Number `entity`'s next issuing call.
    ///
    /// Counts are kept for [`MAX_ISSUERS`] issuers, the oldest forgotten first. An
    /// issuer whose count was forgotten starts again at call 1, but in a new *lap*: the
    /// number of counts forgotten so far in this generation, which grew when its own
    /// count was forgotten. So (entity, lap, call, generation) never repeats, and
    /// neither does any id derived from it ([`issued_id`]): no code, token or flow id is
    /// handed out twice, and no old token can open a new flow. Below the bound every lap
    /// is 0 and an entity's ids depend on its own calls only; past it, a restarted
    /// entity's lap depends on how many others came and went (an entity that was
    /// forgotten cannot be told from a new one without remembering it).
    fn next_issue<'e>(&mut self, entity: &'e str, generation: u64) -> Issue<'e> {
        let fresh = Issued {
            generation,
            lap: self.issued.forgotten(),
            calls: 1,
        };
        let now = match self.issued.get_mut(entity) {
            Some(n) if n.generation == generation => {
                n.calls += 1;
                *n
            }
            Some(n) => {
                *n = fresh;
                fresh
            }
            None => {
                self.issued.insert(entity.to_string(), fresh);
                fresh
            }
        };
        Issue {
            entity,
            call: now.calls,
            generation,
            lap: now.lap,
        }
    }
}

/// The bytes of an id handed out on `issue`, for `purpose`: a pure function of (the
/// instance's issuer, vendor, entity, the entity's call number, reset generation), the
/// shared derivation ([`generate::id_bytes`]) that [`Ctx::issued_id`] uses too, so concurrent clients of
/// other entities, in whatever order they arrive, never change an entity's ids. A lap
/// past 0 ([`Store::next_issue`]) goes into the purpose (`flow@1`), which no purpose of
/// lap 0 contains.
///
/// Not [`Ctx::issued_id`] itself: that takes an engine [`super::Turn`], which only
/// [`Ctx::turn`] makes, by counting a call that advances the entity's scenario steps
/// (see [`Store::issued`]). Generalising it to take (entity, call, generation) means
/// changing `vendors/context.rs`, which the sandboxes work (issue 12) is reworking, or
/// the signature every vendor calls; this one line of delegation is the smaller debt.
fn issued_id(ctx: &Ctx<'_>, issue: Issue<'_>, purpose: &str) -> [u8; 32] {
    issue_bytes(ctx.issuer(), ctx.vendor, issue, purpose)
}

/// [`issued_id`] without a request: (issuer, vendor) given.
fn issue_bytes(issuer: Issuer, vendor: &str, issue: Issue<'_>, purpose: &str) -> [u8; 32] {
    let lapped;
    let purpose = if issue.lap == 0 {
        purpose
    } else {
        lapped = format!("{purpose}@{}", issue.lap);
        &lapped
    };
    generate::id_bytes(
        issuer,
        vendor,
        issue.entity,
        issue.call,
        issue.generation,
        purpose,
    )
}

/// A flow id: a version-4-shaped UUID from `issue`.
fn flow_id(ctx: &Ctx<'_>, issue: Issue<'_>) -> String {
    let mut b = issued_id(ctx, issue, "flow");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    data::uuid_from(&b)
}

/// An authorization code from `issue`.
fn auth_code(ctx: &Ctx<'_>, issue: Issue<'_>) -> String {
    format!("O{}", generate::hex(&issued_id(ctx, issue, "code"), 40))
}

/// A refresh token from `issue`.
fn refresh_token(ctx: &Ctx<'_>, issue: Issue<'_>) -> String {
    format!("R{}", generate::hex(&issued_id(ctx, issue, "refresh"), 64))
}

pub struct Finx {
    /// Std mutex: each request holds it for a few map operations, never while
    /// generating data or across `.await`.
    store: Mutex<Store>,
    /// Datasets and rendered answers, pure functions of their keys: the server's shared
    /// slot (one per server, for the root and every sandbox), so a client drilling into
    /// a report's `href`s, or polling it, neither regenerates the history nor renders
    /// again.
    cache: Arc<Cache>,
    /// The store's bytes, readable without its lock.
    store_bytes: Gauge,
}

impl Default for Finx {
    fn default() -> Self {
        <Self as super::Sharing>::with_shared(Arc::default(), &Budgets::default())
    }
}

impl super::Sharing for Finx {
    type Shared = Cache;
    fn shared(total: &crate::budget::Total) -> Cache {
        Cache::counted_in(total)
    }
    fn with_shared(cache: Arc<Cache>, budgets: &Budgets) -> Self {
        Self {
            store: Mutex::new(Store::with_budget(budgets.store)),
            cache,
            store_bytes: Gauge::default(),
        }
    }
}

impl Finx {
    fn store(&self) -> Locked<'_, Store> {
        Locked::new(
            self.store
                .lock()
                .expect("finx store lock poisoned: a request panicked while holding it"),
            &self.store_bytes,
        )
    }
}

impl Vendor for Finx {
    fn name(&self) -> &'static str {
        "finx"
    }
    fn title(&self) -> &'static str {
        "finX risk reports"
    }
    fn endpoints(&self) -> &'static [Endpoint] {
        ENDPOINTS
    }
    fn default_scenarios(&self) -> &'static str {
        include_str!("../../../scenarios/finx.toml")
    }
    fn openapi(&self) -> &'static str {
        include_str!("../../../openapi/finx.yaml")
    }
    fn outcomes(&self) -> &'static [&'static str] {
        OUTCOMES
    }
    fn error_statuses(&self) -> &'static [u16] {
        &[400, 401, 404, 429, 500]
    }
    fn credentials(&self, settings: &Settings) -> Vec<String> {
        let Some(s) = settings.downcast_ref::<FinxSettings>() else {
            return Vec::new();
        };
        vec![
            format!(
                "client (HTTP Basic, flow start and /auth/token): {} / {}",
                s.client_id, s.client_secret
            ),
            "user calls (/rest/…): Authorization: Bearer <access_token from /auth/token>".into(),
        ]
    }
    fn settings_keys(&self) -> &'static [&'static str] {
        &["auth", "report", "tokens"]
    }

    fn compile_settings(&self, text: &str) -> Result<Settings, Vec<Problem>> {
        let file: SettingsFile = parse_settings(text)?;
        let auth = file.auth.unwrap_or(AuthSpec {
            client_id: "test-client".into(),
            client_secret: "test-secret".into(),
        });
        let mut problems = Vec::new();
        let report = file.report.unwrap_or(ReportSpec {
            shape: None,
            onetime_retention_seconds: None,
            fallback_host: None,
        });
        let shape = match report.shape {
            None => Shape::V211,
            Some(s) => match s.get_ref().as_str() {
                "v2.11" => Shape::V211,
                "newest" => Shape::Newest,
                other => {
                    problems.push(Problem::at(
                        s.span(),
                        format!("unknown report shape `{other}`; expected \"v2.11\" or \"newest\""),
                    ));
                    Shape::V211
                }
            },
        };
        let onetime_retention = seconds(report.onetime_retention_seconds, 3600, &mut problems);
        let fallback_host = match report.fallback_host {
            None => DEFAULT_FALLBACK_HOST.to_string(),
            Some(h) if plausible_host(h.get_ref()) => h.into_inner(),
            Some(h) => {
                problems.push(Problem::at(
                    h.span(),
                    format!(
                        "fallback_host `{}` is not a host[:port] (letters, digits, `.-:[]_`)",
                        h.get_ref()
                    ),
                ));
                DEFAULT_FALLBACK_HOST.to_string()
            }
        };
        let tokens = file.tokens.unwrap_or(TokensSpec {
            access_token_seconds: None,
            refresh_token_seconds: None,
            code_seconds: None,
        });
        let access_token = seconds(tokens.access_token_seconds, 3600, &mut problems);
        let refresh_token = seconds(tokens.refresh_token_seconds, 90 * 86_400, &mut problems);
        let code = seconds(tokens.code_seconds, 300, &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Arc::new(FinxSettings {
            client_id: auth.client_id,
            client_secret: auth.client_secret,
            shape,
            onetime_retention,
            fallback_host,
            access_token,
            refresh_token,
            code,
        }))
    }

    fn payload_too_large(&self, _app: &crate::app::App, _limit: usize) -> MockResponse {
        FinxError::TooLarge.into()
    }

    fn reset(&self) {
        let mut s = self.store();
        s.flows.clear();
        s.codes.clear();
        s.access.clear();
        s.refresh.clear();
        s.issued.clear();
    }
    /// Only to give the memory back: what the cache holds is a pure function of its keys,
    /// the same in every instance, so emptying it changes no answer.
    fn clear_shared(&self) {
        self.cache.clear();
    }
    fn approx_bytes(&self) -> usize {
        self.store_bytes.get()
    }
    fn shared_bytes(&self) -> usize {
        self.cache.approx_bytes()
    }

    fn handle(&self, ctx: &mut Ctx<'_>, req: &MockRequest) -> MockResponse {
        if let Decision::Deny { .. } = ctx.rate_limit(req.peer.ip()) {
            return FinxError::RateLimited.into();
        }
        // The segments in an array (every request is routed; a `Vec` cost more than the
        // rest of routing): no route has more than `MAX_SEGMENTS`.
        const MAX_SEGMENTS: usize = 4;
        let mut segments = [""; MAX_SEGMENTS];
        let mut n = 0;
        let path = req.path.trim_matches('/');
        // Split at each `/` by hand (ASCII, a char boundary): `split('/')`'s searcher
        // cost more than the rest of routing.
        let mut start = 0;
        for end in path
            .bytes()
            .enumerate()
            .filter_map(|(i, b)| (b == b'/').then_some(i))
            .chain([path.len()])
        {
            if n == MAX_SEGMENTS {
                return FinxError::NotFound.into_response();
            }
            segments[n] = &path[start..end];
            n += 1;
            start = end + 1;
        }
        let get = req.method == Method::GET;
        let post = req.method == Method::POST;
        let result = match &segments[..n] {
            [kind @ ("onetime" | "ongoing"), "risk-report"] if post => {
                self.start_flow(ctx, req, *kind == "ongoing")
            }
            ["auth", "token"] if post => self.token(ctx, req),
            ["onetime" | "ongoing", "risk-report"] | ["auth", "token"] => {
                Err(FinxError::MethodNotAllowed("POST"))
            }
            ["widget", id] if get => self.widget(ctx, req, id),
            ["rest", "risk-reports", id] if get => self.report(ctx, req, id),
            ["rest", "transactions"] if get => self.transactions(ctx, req, None),
            ["rest", "accounts"] if get => self.accounts(ctx, req, None),
            ["rest", "accounts", id] if get => self.accounts(ctx, req, Some(id)),
            ["rest", "accounts", id, "balance"] if get => self.balance(ctx, req, id),
            ["rest", "accounts", id, "transactions"] if get => {
                self.transactions(ctx, req, Some(id))
            }
            ["widget", _]
            | ["rest", "risk-reports", _]
            | ["rest", "transactions"]
            | ["rest", "accounts"]
            | ["rest", "accounts", _]
            | ["rest", "accounts", _, "balance" | "transactions"] => {
                Err(FinxError::MethodNotAllowed("GET"))
            }
            _ => Err(FinxError::NotFound),
        };
        result.unwrap_or_else(FinxError::into_response)
    }
}

/// The mock's own default listen address, the host links use when a request names none
/// (`[report] fallback_host` changes it).
pub const DEFAULT_FALLBACK_HOST: &str = "127.0.0.1:8080";

/// `http://host[/finx]`: where this request reached the mock, for links back to it
/// ([`crate::server::origin`]: the first `X-Forwarded-Host`, else `Host`), else at
/// `fallback` (the `[report] fallback_host` setting) when neither is usable.
fn base_url(req: &MockRequest, fallback: &str) -> String {
    let origin = origin(&req.headers);
    let host = origin.host.unwrap_or(fallback);
    let prefix = req
        .full_path
        .strip_suffix(req.path.as_str())
        .unwrap_or_default();
    let mut url = String::with_capacity(origin.scheme.len() + 3 + host.len() + prefix.len());
    url.push_str(origin.scheme);
    url.push_str("://");
    url.push_str(host);
    url.push_str(prefix);
    url
}

/// `x-vendor-mock-warning` of a flow start with neither `user_id` nor `state` whose
/// request came `before` times already in this generation.
fn anonymous_repeat_warning(before: u64) -> String {
    let came = if before == 1 {
        "an identical one came".to_string()
    } else {
        format!("{before} identical ones came")
    };
    format!(
        "this flow start has neither user_id nor state, and {came} before it since the last \
         reset: such flows get their ids in arrival order, so parallel tests may swap them; \
         send a unique state or user_id per test"
    )
}

/// Mark the answer with `entity`'s scenario (header and journal) without counting a call.
fn mark(ctx: &mut Ctx<'_>, entity: &str) {
    ctx.scenario = ctx.scenarios.select(entity).cloned();
    ctx.entity = Some(entity.to_string());
}

/// The outcome of `entity`'s current step, without counting a call.
fn peek_outcome(ctx: &Ctx<'_>, entity: &str) -> Option<String> {
    let scenario = ctx.scenarios.select(entity)?;
    let step = ctx
        .app
        .state
        .get(ctx.vendor, entity)
        .map_or(0, |s| s.step)
        .min(scenario.steps.len().checked_sub(1)?);
    match &scenario.steps[step].action {
        Action::Outcome(o) => Some(o.clone()),
        _ => None,
    }
}

/// A JWT-shaped token (header.payload.signature, base64url) carrying `claims`.
fn jwt(claims: Value, signature: &[u8; 32]) -> String {
    let part = |v: &Value| {
        URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(v).expect("a serde_json::Value always serializes"))
    };
    format!(
        "{}.{}.{}",
        part(&json!({"alg": "HS256", "typ": "JWT"})),
        part(&claims),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

impl Finx {
    /// Check HTTP Basic client credentials.
    fn client(&self, ctx: &Ctx<'_>, req: &MockRequest) -> Result<(), FinxError> {
        let s = ctx.settings::<FinxSettings>();
        let given = req
            .header(AUTHORIZATION)
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .and_then(|(_, b64)| STANDARD.decode(b64.trim()).ok())
            .and_then(|raw| String::from_utf8(raw).ok());
        match given.as_deref().and_then(|g| g.split_once(':')) {
            Some((id, secret)) if id == s.client_id && secret == s.client_secret => Ok(()),
            _ => Err(FinxError::InvalidClient),
        }
    }

    /// The flow a bearer token opens (its data still kept).
    fn bearer(&self, ctx: &Ctx<'_>, req: &MockRequest) -> Result<Arc<Flow>, FinxError> {
        self.with_bearer(ctx, req, Arc::clone)
    }

    /// `f` on the flow a bearer token opens (its data still kept), under the store's
    /// lock: the report and transactions calls read a few of its fields and find their
    /// kept bytes, where a clone of the flow's `Arc` would make every worker write its
    /// shared counter on every request. `f` may lock the answer cache (the store's lock
    /// is taken first; the cache's locks are held for one map operation and take no
    /// other), nothing else.
    fn with_bearer<R>(
        &self,
        ctx: &Ctx<'_>,
        req: &MockRequest,
        f: impl FnOnce(&Arc<Flow>) -> R,
    ) -> Result<R, FinxError> {
        let token = req
            .header(AUTHORIZATION)
            .and_then(bearer_token)
            .ok_or(FinxError::NoToken)?;
        let mut store = self.store();
        let grant = store.access.get(token).ok_or(FinxError::InvalidToken)?;
        if grant.expires <= ctx.now {
            return Err(FinxError::ExpiredToken);
        }
        let flow = store.flows.get(&grant.flow).ok_or(FinxError::NotFound)?;
        // One-time data is deleted an hour after the flow completed.
        let retention = ctx.settings::<FinxSettings>().onetime_retention;
        if !flow.ongoing && flow.completed.is_some_and(|c| c + retention <= ctx.now) {
            let id = flow.id.clone();
            store.flows.remove(&id);
            return Err(FinxError::NotFound);
        }
        Ok(f(flow))
    }

    /// Under [`Finx::with_bearer`]: the flow's entity, and its answer `answer` as kept
    /// for this seed, or else the flow to render it from.
    fn kept(
        &self,
        flow: &Arc<Flow>,
        seed: u64,
        answer: AnswerRef<'_>,
    ) -> (String, Result<Bytes, Arc<Flow>>) {
        let kept = flow
            .data
            .as_deref()
            .filter(|k| k.seed == seed)
            .and_then(|data| self.cache.find(&AnswerView { data, answer }))
            .ok_or_else(|| flow.clone());
        (flow.entity.clone(), kept)
    }

    fn start_flow(
        &self,
        ctx: &mut Ctx<'_>,
        req: &MockRequest,
        ongoing: bool,
    ) -> Result<MockResponse, FinxError> {
        let kind = if ongoing { "ongoing" } else { "onetime" };
        self.client(ctx, req)?;
        let body = flow::parse(&req.body, ongoing).map_err(FinxError::BadRequest)?;
        // The scenario key: `user_id`, else `state`, else (below) the flow id.
        let named = body
            .user_id
            .clone()
            .or_else(|| body.state.clone().filter(|s| !s.is_empty()));
        // The flow's ids are numbered under its entity. A one-time flow with neither
        // `user_id` nor `state` has none until its id exists, so its ids are numbered
        // under a digest of the request instead: still independent of other clients.
        let issuer = named.clone().unwrap_or_else(|| {
            let digest = Sha256::digest([kind.as_bytes(), b"\n", &req.body].concat());
            format!("body:{}", generate::hex(&digest.into(), 64))
        });
        let generation = ctx.app.state.generation();
        let issue = self.store().next_issue(&issuer, generation);
        let id = flow_id(ctx, issue);
        if named.is_none() && issue.call > 1 {
            // Identical anonymous flow starts are numbered in arrival order: under
            // parallel tests, which one gets which id depends on timing.
            ctx.warning = Some(anonymous_repeat_warning(issue.call - 1));
        }
        let entity = named.unwrap_or_else(|| id.clone());
        let widget_token = jwt(
            json!({"sub": id, "iat": ctx.now.timestamp(), "aud": "widget"}),
            &issued_id(ctx, issue, "widget"),
        );
        let location = format!(
            "{}/widget/{id}?token={widget_token}",
            base_url(req, &ctx.settings::<FinxSettings>().fallback_host)
        );
        mark(ctx, &entity);
        self.store().flows.insert(
            id.clone(),
            Arc::new(Flow {
                id: id.clone(),
                ongoing,
                entity,
                data_key: issuer.clone(),
                req: body,
                widget_token,
                created: ctx.now,
                completed: None,
                data: None,
            }),
        );
        Ok(MockResponse::json(
            StatusCode::CREATED,
            json!({"location": location, "id": id}),
        ))
    }

    fn widget(
        &self,
        ctx: &mut Ctx<'_>,
        req: &MockRequest,
        id: &str,
    ) -> Result<MockResponse, FinxError> {
        let flow = self
            .store()
            .flows
            .get(id)
            .cloned()
            .filter(|f| req.query_param("token").as_deref() == Some(f.widget_token.as_str()))
            .ok_or(FinxError::NotFound)?;
        mark(ctx, &flow.entity);
        let outcome = peek_outcome(ctx, &flow.entity);
        let mut q = form_urlencoded::Serializer::new(String::new());
        match outcome.as_deref() {
            Some(o @ ("cancelled" | "failed")) => {
                if let Some(s) = &flow.req.state {
                    q.append_pair("state", s);
                }
                q.append_pair("success", "false");
                q.append_pair("cancel", if o == "cancelled" { "true" } else { "false" });
            }
            _ => {
                let expires = ctx.now + ctx.settings::<FinxSettings>().code;
                let generation = ctx.app.state.generation();
                let code = {
                    let mut store = self.store();
                    let code = auth_code(ctx, store.next_issue(&flow.entity, generation));
                    store.codes.insert(
                        code.clone(),
                        Grant {
                            flow: flow.id.clone(),
                            expires,
                        },
                    );
                    if let Some(f) = store.flows.get_mut(&flow.id) {
                        if f.completed.is_none() {
                            let f = Arc::make_mut(f);
                            f.completed = Some(ctx.now);
                            f.data = Some(Arc::new(f.data_key(ctx.seed())));
                        }
                    }
                    code
                };
                // Qwist's Postman script reads `code` as the first query parameter.
                q.append_pair("code", &code);
                if let Some(s) = &flow.req.state {
                    q.append_pair("state", s);
                }
                q.append_pair("success", "true");
                q.append_pair("cancel", "false");
            }
        }
        q.append_pair("flow_id", &flow.id);
        let location = flow::redirect_location(&flow.req.redirect_uri, &q.finish());
        Ok(MockResponse::new(StatusCode::FOUND).with_header("location", location))
    }

    fn token(&self, ctx: &mut Ctx<'_>, req: &MockRequest) -> Result<MockResponse, FinxError> {
        self.client(ctx, req)?;
        // JSON as finX documents; form-encoded as OAuth clients (and figo's) send.
        let fields: HashMap<String, String> =
            if req.media_type().as_deref() == Some("application/x-www-form-urlencoded") {
                form_urlencoded::parse(&req.body).into_owned().collect()
            } else {
                match serde_json::from_slice::<Value>(&req.body) {
                    Ok(Value::Object(m)) => m
                        .into_iter()
                        .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
                        .collect(),
                    _ => {
                        return Err(FinxError::BadRequest(
                            "The request body must be a JSON object.".into(),
                        ))
                    }
                }
            };
        let (access_life, refresh_life) = {
            let s = ctx.settings::<FinxSettings>();
            (s.access_token, s.refresh_token)
        };
        let field = |k: &str| {
            fields
                .get(k)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| FinxError::BadRequest(format!("{k} is required.")))
        };
        let flow_id = match field("grant_type")?.as_str() {
            "authorization_code" => {
                let code = field("code")?;
                let grant = self
                    .store()
                    .codes
                    .remove(code)
                    .ok_or(FinxError::InvalidGrant(
                        "The authorization code is invalid or was already used.",
                    ))?;
                if grant.expires <= ctx.now {
                    return Err(FinxError::InvalidGrant("The authorization code expired."));
                }
                grant.flow
            }
            "refresh_token" => {
                let token = field("refresh_token")?;
                let grant = self
                    .store()
                    .refresh
                    .remove(token)
                    .ok_or(FinxError::InvalidGrant(
                        "The refresh token is invalid or was already used.",
                    ))?;
                if grant.expires <= ctx.now {
                    return Err(FinxError::InvalidGrant("The refresh token expired."));
                }
                grant.flow
            }
            other => {
                return Err(FinxError::BadRequest(format!(
                    "Unsupported grant_type: {other} (authorization_code or refresh_token)."
                )))
            }
        };
        let entity = self
            .store()
            .flows
            .get(&flow_id)
            .map(|f| f.entity.clone())
            .ok_or(FinxError::InvalidGrant(
                "The flow of this grant no longer exists.",
            ))?;
        mark(ctx, &entity);
        let expires = ctx.now + access_life;
        let access_token = |issue: Issue<'_>| {
            jwt(
                json!({
                    "sub": flow_id,
                    "iat": ctx.now.timestamp(),
                    "exp": expires.timestamp(),
                    "jti": generate::hex(&issued_id(ctx, issue, "jti"), 32),
                }),
                &issued_id(ctx, issue, "access"),
            )
        };
        let generation = ctx.app.state.generation();
        let (access, refresh) = {
            let mut store = self.store();
            let issue = store.next_issue(&entity, generation);
            let (access, refresh) = (access_token(issue), refresh_token(ctx, issue));
            store.access.insert(
                access.clone(),
                Grant {
                    flow: flow_id.clone(),
                    expires,
                },
            );
            store.refresh.insert(
                refresh.clone(),
                Grant {
                    flow: flow_id,
                    expires: ctx.now + refresh_life,
                },
            );
            (access, refresh)
        };
        Ok(MockResponse::json(
            StatusCode::OK,
            json!({
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": access_life.num_seconds(),
                "refresh_token": refresh,
            }),
        ))
    }

    /// The flow's dataset, from the cache or generated.
    fn dataset(&self, ctx: &Ctx<'_>, flow: &Flow) -> Arc<Dataset> {
        let key = flow.key(ctx.seed());
        self.cache.dataset(&key, || generate(&key))
    }

    fn report(
        &self,
        ctx: &mut Ctx<'_>,
        req: &MockRequest,
        id: &str,
    ) -> Result<MockResponse, FinxError> {
        let base = base_url(req, &ctx.settings::<FinxSettings>().fallback_host);
        let shape = ctx.settings::<FinxSettings>().shape;
        let seed = ctx.seed();
        // The entity, and the kept bytes (looked up before the turn, used only by an
        // answer without a patch) or else the flow to render them from.
        let (entity, kept) = self
            .with_bearer(ctx, req, |flow| {
                // Another flow's report, or none at all: the same 404, so ids do not leak.
                if flow.id != id {
                    return None;
                }
                let report_id = (shape == Shape::Newest).then_some(id);
                Some(self.kept(
                    flow,
                    seed,
                    AnswerRef::Report {
                        shape,
                        base: &base,
                        report_id,
                    },
                ))
            })?
            .ok_or(FinxError::NotFound)?;
        let turn = ctx.turn(&entity);
        // A step's patch applies to the JSON; without one the bytes may come from the cache.
        let patched = turn.step().is_some_and(|s| s.patch.is_some());
        let ctx = &*ctx;
        // The flow, for an answer not kept or patched: a kept answer's flow is found
        // again (gone only if a reset came in between, which then answers finX's 404).
        let flow = || match &kept {
            Ok(_) => self.bearer(ctx, req),
            Err(flow) => Ok(flow.clone()),
        };
        Ok(turn.respond("report", |outcome| match outcome {
            "pending" => {
                MockResponse::json(StatusCode::ACCEPTED, json!({"id": id, "status": "PENDING"}))
                    .with_header("retry-after", "2")
            }
            "rate_limited" => FinxError::RateLimited.into(),
            "server_error" => FinxError::Internal.into(),
            "cancelled" | "failed" => FinxError::NotFound.into(),
            _ if patched => match flow() {
                Ok(flow) => {
                    MockResponse::json(StatusCode::OK, self.render_report(ctx, &flow, &base, shape))
                }
                Err(e) => e.into(),
            },
            _ => {
                let bytes = match &kept {
                    Ok(bytes) => bytes.clone(),
                    Err(flow) => self.render_kept_report(ctx, flow, base.clone(), shape),
                };
                MockResponse::bytes(StatusCode::OK, "application/json", bytes)
            }
        }))
    }

    /// The report's bytes, from the cache or rendered and kept.
    fn render_kept_report(&self, ctx: &Ctx<'_>, flow: &Flow, base: String, shape: Shape) -> Bytes {
        // What the bytes depend on besides the dataset (see `render_report`).
        let key = AnswerKey {
            data: flow.key(ctx.seed()),
            answer: Answer::Report {
                shape,
                base,
                report_id: (shape == Shape::Newest).then(|| flow.id.clone()),
            },
        };
        let bytes = self.cache.answer(key, |key| {
            let Answer::Report { base, .. } = &key.answer else {
                unreachable!("the key was made just above as a report's")
            };
            Ok::<_, std::convert::Infallible>(
                serde_json::to_vec(&self.render_report(ctx, flow, base, shape))
                    .expect("a serde_json::Value always serializes"),
            )
        });
        let Ok(bytes) = bytes;
        bytes
    }

    /// The report as JSON, rendered from the flow's dataset. Reads the dataset, `base`,
    /// `shape` and, in the newest shape only, the flow id ([`report::render`]); the
    /// flow's `name` and `accounts` are part of the dataset's key ([`Spec`]).
    /// [`Answer::Report`] must hold everything else it reads.
    fn render_report(&self, ctx: &Ctx<'_>, flow: &Flow, base: &str, shape: Shape) -> Value {
        let d = self.dataset(ctx, flow);
        let ibans: Vec<String> = flow.req.accounts.iter().map(|(i, _)| i.clone()).collect();
        let r = Render {
            base,
            report_id: &flow.id,
            provided_name: flow.req.name.as_deref(),
            provided_ibans: &ibans,
        };
        report::render(&d, &r, shape)
    }

    fn transactions(
        &self,
        ctx: &mut Ctx<'_>,
        req: &MockRequest,
        account: Option<&str>,
    ) -> Result<MockResponse, FinxError> {
        let seed = ctx.seed();
        let query = req.query.as_deref().unwrap_or_default();
        // The entity, and the kept bytes or else the flow to render them from.
        let (entity, kept) = self.with_bearer(ctx, req, |flow| {
            self.kept(flow, seed, AnswerRef::Transactions { account, query })
        })?;
        mark(ctx, &entity);
        let flow = match kept {
            Ok(bytes) => {
                return Ok(MockResponse::bytes(
                    StatusCode::OK,
                    "application/json",
                    bytes,
                ))
            }
            Err(flow) => flow,
        };
        let key = AnswerKey {
            data: flow.key(ctx.seed()),
            answer: Answer::Transactions {
                account: account.map(str::to_string),
                query: req.query.clone().unwrap_or_default(),
            },
        };
        // Only answers are kept: a kept page's query was valid and its account exists
        // (both pure functions of the key), so they are checked when it is rendered.
        let bytes = self.cache.answer(key, |_| {
            let mut q = Query::parse(&req.query_pairs()).map_err(FinxError::BadRequest)?;
            let d = self.dataset(ctx, &flow);
            if let Some(id) = account {
                account_index(&d, id)?;
                q.accounts = Some(vec![id.to_string()]);
            }
            let selection = q.selection(&d);
            let list: Vec<Value> = q
                .page(&selection)
                .iter()
                .map(|t| report::transaction_json(&d, t, q.amounts))
                .collect();
            let mut body = json!({ "transactions": list });
            if q.statistics {
                body["statistics"] = report::statistics(&selection, q.amounts);
            }
            Ok(serde_json::to_vec(&body).expect("a serde_json::Value always serializes"))
        })?;
        Ok(MockResponse::bytes(
            StatusCode::OK,
            "application/json",
            bytes,
        ))
    }

    fn accounts(
        &self,
        ctx: &mut Ctx<'_>,
        req: &MockRequest,
        one: Option<&str>,
    ) -> Result<MockResponse, FinxError> {
        let flow = self.bearer(ctx, req)?;
        mark(ctx, &flow.entity);
        let amounts = Amounts::parse(&req.query_pairs()).map_err(FinxError::BadRequest)?;
        let d = self.dataset(ctx, &flow);
        let synced = flow.synced();
        let body = match one {
            None => {
                let list: Vec<Value> = (0..d.accounts.len())
                    .map(|i| report::account_json(&d, i, synced, amounts))
                    .collect();
                json!({ "accounts": list })
            }
            Some(id) => report::account_json(&d, account_index(&d, id)?, synced, amounts),
        };
        Ok(MockResponse::json(StatusCode::OK, body))
    }

    /// `GET /rest/accounts/{id}/balance`: figo's balance call, the account's `balance`.
    fn balance(
        &self,
        ctx: &mut Ctx<'_>,
        req: &MockRequest,
        id: &str,
    ) -> Result<MockResponse, FinxError> {
        let flow = self.bearer(ctx, req)?;
        mark(ctx, &flow.entity);
        let amounts = Amounts::parse(&req.query_pairs()).map_err(FinxError::BadRequest)?;
        let d = self.dataset(ctx, &flow);
        let i = account_index(&d, id)?;
        Ok(MockResponse::json(
            StatusCode::OK,
            report::balance_json(&d, i, flow.synced(), amounts),
        ))
    }
}

/// The index of the account `id` in `d`, or finX's 404.
fn account_index(d: &Dataset, id: &str) -> Result<usize, FinxError> {
    d.accounts
        .iter()
        .position(|a| a.id == id)
        .ok_or(FinxError::NotFound)
}

/// Generate the dataset of `key`.
fn generate(key: &DataKey) -> Dataset {
    let rng = |purpose| generate::rng(key.seed, "finx", &key.data_key, purpose);
    data::generate(
        &mut rng("history"),
        &mut rng("holder"),
        &mut rng("transfers"),
        &key.spec,
    )
}

impl Flow {
    /// What the flow's dataset is generated from (the history ends the day it synced).
    fn data_key(&self, seed: u64) -> DataKey {
        DataKey::new(
            seed,
            self.data_key.clone(),
            Spec {
                months: self.req.reporting_period,
                until: self.synced().date_naive(),
                multi: self.req.allow_multi_selection,
                account_types: self.req.account_types.clone(),
                accounts: self.req.accounts.clone(),
                name: self.req.name.clone(),
            },
        )
    }

    /// [`Flow::data_key`], as kept since the flow completed.
    fn key(&self, seed: u64) -> Arc<DataKey> {
        match &self.data {
            Some(k) if k.seed == seed => k.clone(),
            _ => Arc::new(self.data_key(seed)),
        }
    }

    /// When the bank was read: the moment the flow completed (the widget first
    /// redirected with a code). The history ends that day; a flow is not re-synced.
    fn synced(&self) -> DateTime<Utc> {
        self.completed.unwrap_or(self.created)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Weigh for i32 {
        fn weight(&self) -> usize {
            0
        }
    }

    impl Weigh for usize {
        fn weight(&self) -> usize {
            0
        }
    }

    #[test]
    fn bounded_maps_forget_the_oldest_past_their_bytes() {
        let grant = |flow: &str| Grant {
            flow: flow.to_string(),
            expires: DateTime::<Utc>::UNIX_EPOCH,
        };
        // A flow id is the mock's, but a map must hold what its budget allows whatever
        // its entries weigh.
        let one = Bounded::<Grant>::weigh("k0", &grant(&"f".repeat(1000)));
        let mut m: Bounded<Grant> = Bounded::new(MAX_GRANTS, 3 * one);
        for i in 0..10 {
            m.insert(format!("k{i}"), grant(&"f".repeat(1000)));
            assert!(m.bytes() <= 3 * one, "{} > {}", m.bytes(), 3 * one);
        }
        assert_eq!(m.0.len(), 3);
        assert!(m.get("k6").is_none() && m.get("k9").is_some());
        m.remove("k9");
        assert_eq!(m.bytes(), 2 * one);
        m.clear();
        assert_eq!(m.bytes(), 0);
    }

    #[test]
    fn a_code_used_and_issued_again_is_not_evicted_by_its_stale_place() {
        let mut m: Bounded<i32, TailHash> = Bounded::new(2, usize::MAX);
        m.insert("a".into(), 1);
        m.insert("b".into(), 2);
        m.remove("a");
        m.insert("a".into(), 3);
        // `b` is now the oldest: the first `a`'s place must not evict the new one.
        m.insert("c".into(), 4);
        assert_eq!(
            (m.get("a"), m.get("b"), m.get("c")),
            (Some(&3), None, Some(&4))
        );
    }

    #[test]
    fn consumed_codes_leave_no_trail_of_keys_behind() {
        // Codes are removed when exchanged: what the map keeps of them must follow what
        // it holds, not its count cap (40 000 stale keys of ~40 bytes each before).
        let mut m: Bounded<i32, TailHash> = Bounded::new(MAX_GRANTS, usize::MAX);
        for i in 0..5_000 {
            m.insert(format!("O{i:040}"), i);
            m.remove(&format!("O{i:040}"));
        }
        assert!(m.0.order_len() <= 16, "{}", m.0.order_len());
    }

    #[test]
    fn bounded_maps_forget_the_oldest_and_stay_bounded_under_churn() {
        let mut m: Bounded<i32> = Bounded::new(3, usize::MAX);
        for i in 0..5 {
            m.insert(i.to_string(), i);
        }
        assert!(m.get("0").is_none() && m.get("1").is_none());
        assert_eq!(m.get("4"), Some(&4));
        for i in 0..1000 {
            m.insert(format!("c{i}"), i);
            m.remove(&format!("c{i}"));
        }
        assert!(m.0.order_len() <= 2 * 3 + 16, "{}", m.0.order_len());
    }

    #[test]
    fn maps_hashing_only_key_ends_still_tell_apart_keys_with_the_same_end() {
        let mut m: Bounded<usize, TailHash> = Bounded::new(100, usize::MAX);
        let tail = "x".repeat(TAIL);
        for i in 0..50 {
            m.insert(format!("{i}{tail}"), i);
        }
        for i in 0..50 {
            assert_eq!(m.get(&format!("{i}{tail}")), Some(&i));
        }
        assert_eq!(m.get(&tail), None);
    }

    #[test]
    fn issuing_calls_are_numbered_per_entity_per_generation() {
        let mut store = Store::default();
        let calls: Vec<(u64, u64)> = ["a", "b", "a", "a", "b"]
            .iter()
            .map(|e| {
                let i = store.next_issue(e, 0);
                (i.call, i.lap)
            })
            .collect();
        assert_eq!(
            calls,
            [(1, 0), (1, 0), (2, 0), (3, 0), (2, 0)],
            "each entity counts its own calls"
        );
        assert_eq!(store.next_issue("a", 1).call, 1, "a reset starts again");
        assert_eq!(store.next_issue("a", 1).call, 2);
    }

    /// Past the bound on counted issuers an entity's count is forgotten and starts
    /// again; it must not hand out an id it handed out before (an old code working
    /// twice, an old access token opening the entity's new flow).
    #[test]
    fn an_entity_whose_count_was_forgotten_never_gets_an_id_it_had_before() {
        let mut store = Store {
            issued: Bounded::new(3, usize::MAX),
            ..Store::default()
        };
        let mut seen = std::collections::HashSet::new();
        for round in 0..4 {
            // Five entities through a count of three: each is forgotten every round.
            for e in ["a", "b", "c", "d", "e"] {
                for _ in 0..2 {
                    let issue = store.next_issue(e, 0);
                    for purpose in ["flow", "code", "access", "refresh"] {
                        assert!(
                            seen.insert(issue_bytes(Issuer::root(0), "finx", issue, purpose)),
                            "round {round}: {issue:?} hands out a {purpose} id again"
                        );
                    }
                }
            }
        }
        assert!(store.issued.forgotten() > 0);
        store.issued.clear();
        assert_eq!(
            store.next_issue("a", 1),
            Issue {
                entity: "a",
                call: 1,
                generation: 1,
                lap: 0
            },
            "a reset starts from lap 0 again"
        );
    }

    #[test]
    fn links_prefer_x_forwarded_host_then_host_then_the_fallback() {
        let req = |headers: &[(&'static str, &'static str)]| {
            let mut r = MockRequest::test_post("{}", None);
            r.headers.remove("host");
            for (k, v) in headers {
                r.headers.insert(*k, v.parse().unwrap());
            }
            r
        };
        let fb = DEFAULT_FALLBACK_HOST;
        assert_eq!(
            base_url(
                &req(&[
                    ("host", "mock:1"),
                    ("x-forwarded-host", "edge.example, inner")
                ]),
                fb
            ),
            "http://edge.example"
        );
        assert_eq!(
            base_url(
                &req(&[("host", "mock:1"), ("x-forwarded-proto", "HTTPS, http")]),
                fb
            ),
            "https://mock:1"
        );
        assert_eq!(
            base_url(
                &req(&[("host", "mock:1"), ("x-forwarded-host", "bad/host")]),
                fb
            ),
            "http://mock:1",
            "an unusable X-Forwarded-Host is skipped"
        );
        assert_eq!(
            base_url(&req(&[("host", "a b")]), fb),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            base_url(&req(&[]), "mock.internal:9000"),
            "http://mock.internal:9000"
        );
    }

    #[test]
    fn the_fallback_host_setting_is_checked() {
        let finx = Finx::default();
        let ok = finx
            .compile_settings("[report]\nfallback_host = \"mock.internal:9000\"\n")
            .unwrap();
        let ok = ok.downcast_ref::<FinxSettings>().unwrap();
        assert_eq!(ok.fallback_host, "mock.internal:9000");
        let default = finx.compile_settings("").unwrap();
        assert_eq!(
            default
                .downcast_ref::<FinxSettings>()
                .unwrap()
                .fallback_host,
            DEFAULT_FALLBACK_HOST
        );
        assert!(finx
            .compile_settings("[report]\nfallback_host = \"http://x/\"\n")
            .is_err());
    }

    #[test]
    fn tokens_look_like_jwts() {
        let t = jwt(json!({"sub": "x", "exp": 5}), &[7; 32]);
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["exp"], 5);
    }

    /// The cache of datasets and rendered answers must never change an answer: the same
    /// script of requests gives the same statuses and bytes with a cache that keeps nothing
    /// (every answer generated and rendered afresh) and with a warm one, for many flows:
    /// users, periods, names, named accounts, one or more accounts, the root and a sandbox
    /// prefix, scenario steps, both report shapes, clock moves that expire access tokens
    /// (401, then a refreshed token), one-time data past its retention (404) and flows
    /// started on later days (other datasets).
    mod cold_and_warm {
        use std::path::PathBuf;

        use bytes::Bytes;
        use hyper::HeaderMap;

        use super::*;
        use crate::app::App;
        use crate::scenario::Pick;
        use crate::server::Body;
        use crate::vendors::Scenarios;

        const BASIC: &str = "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ=";
        const HOST: &str = "mock.test:8080";

        /// One finX object over its own engine instance, called as the pipeline calls it.
        struct World {
            app: App,
            finx: Finx,
        }

        /// (status, `location` header, body)
        type Reply = (u16, String, Vec<u8>);

        impl World {
            fn new(cache: Arc<Cache>, dirs: Vec<PathBuf>) -> Self {
                let app = App::new(crate::Config {
                    seed: 7,
                    frozen_clock: Some("2026-01-15T10:00:00Z".parse().unwrap()),
                    scenario_dirs: dirs,
                    ..Default::default()
                })
                .unwrap_or_else(|e| panic!("{e:?}"));
                Self {
                    app,
                    finx: Finx {
                        store: Mutex::default(),
                        cache,
                        store_bytes: Gauge::default(),
                    },
                }
            }

            fn call(&self, method: Method, url: &str, auth: Option<&str>, body: &str) -> Reply {
                let local = url.strip_prefix(&format!("http://{HOST}")).unwrap_or(url);
                let (full, query) = match local.split_once('?') {
                    Some((p, q)) => (p, Some(q.to_string())),
                    None => (local, None),
                };
                let path = &full[full.find("/finx").expect("a finX path") + "/finx".len()..];
                let mut headers = HeaderMap::new();
                headers.insert("host", HOST.parse().unwrap());
                headers.insert("content-type", "application/json".parse().unwrap());
                if let Some(a) = auth {
                    headers.insert("authorization", a.parse().unwrap());
                }
                let req = MockRequest {
                    method,
                    full_path: full.to_string(),
                    path: path.to_string(),
                    query,
                    headers,
                    body: Bytes::from(body.to_string()),
                    peer: ([127, 0, 0, 1], 1).into(),
                };
                let set = self.app.catalog.vendor("finx").expect("finx is registered");
                let scenarios = Scenarios::new(set, "finx", &self.app.state, Pick::Unset);
                let mut ctx = Ctx::new(&self.app, "finx", OUTCOMES, scenarios);
                let mut resp = self.finx.handle(&mut ctx, &req);
                resp.serialize_body();
                let body = match resp.body {
                    Body::Bytes(b) => b.to_vec(),
                    Body::Parts(p) => p.concat(),
                    Body::Filled(f) => f.bytes.to_vec(),
                    Body::Empty | Body::Json(_) => Vec::new(),
                };
                let location = resp
                    .headers
                    .get("location")
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default();
                (resp.status.as_u16(), location, body)
            }

            fn advance(&self, seconds: i64) {
                self.app.clock.advance_ms(seconds * 1000);
            }
        }

        fn json_of(r: &Reply) -> Value {
            serde_json::from_slice(&r.2).unwrap_or_else(|e| panic!("{e}: {:?}", r))
        }

        /// Every `href` in a report.
        fn hrefs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for (k, x) in m {
                        match x {
                            Value::String(s) if k == "href" => out.push(s.clone()),
                            _ => hrefs(x, out),
                        }
                    }
                }
                Value::Array(a) => a.iter().for_each(|x| hrefs(x, out)),
                _ => {}
            }
        }

        /// The script: every answer, labelled.
        fn script(w: &World) -> Vec<(String, u16, Vec<u8>)> {
            let mut out = Vec::new();
            let mut log = |label: String, r: Reply| {
                out.push((label, r.0, r.2.clone()));
                r
            };
            let mut tokens = Vec::new();
            for i in 0..18u32 {
                let prefix = if i % 3 == 0 { "/~sb" } else { "" };
                let kind = if i % 4 == 1 { "ongoing" } else { "onetime" };
                // Some users come back for another flow: the same data key, maybe another day.
                let user = match i % 6 {
                    1 => format!("pending-u{i}"),
                    2 => format!("flaky-u{i}"),
                    _ => format!("u{}", i % 7),
                };
                let mut body = json!({
                    "redirect_uri": "https://lender.example/cb",
                    "user_id": user,
                    "reporting_period": 4 + (i % 9),
                });
                if i % 2 == 0 {
                    body["name"] = json!("Max Mustermann");
                }
                if i % 5 == 0 {
                    body["accounts"] = json!([{"id": "DE93300308800013441006"}]);
                }
                if i % 7 == 3 {
                    body["allow_multi_selection"] = json!(false);
                }
                let base = format!("http://{HOST}{prefix}/finx");
                let started = log(
                    format!("{i} start"),
                    w.call(
                        Method::POST,
                        &format!("{base}/{kind}/risk-report"),
                        Some(BASIC),
                        &body.to_string(),
                    ),
                );
                let started = json_of(&started);
                let widget = log(
                    format!("{i} widget"),
                    w.call(Method::GET, started["location"].as_str().unwrap(), None, ""),
                );
                let code = form_urlencoded::parse(widget.1.split_once('?').unwrap().1.as_bytes())
                    .find(|(k, _)| k == "code")
                    .unwrap()
                    .1
                    .into_owned();
                let grant = json!({"grant_type": "authorization_code", "code": code}).to_string();
                let t = json_of(&log(
                    format!("{i} token"),
                    w.call(
                        Method::POST,
                        &format!("{base}/auth/token"),
                        Some(BASIC),
                        &grant,
                    ),
                ));
                let auth = format!("Bearer {}", t["access_token"].as_str().unwrap());
                let report_url = format!(
                    "{base}/rest/risk-reports/{}",
                    started["id"].as_str().unwrap()
                );
                let mut report = None;
                for n in 0..4 {
                    let r = log(
                        format!("{i} report {n}"),
                        w.call(Method::GET, &report_url, Some(&auth), ""),
                    );
                    if r.0 == 200 {
                        report = Some(json_of(&r));
                    }
                }
                let mut links = Vec::new();
                hrefs(
                    &report.expect("the report after the scenario's refusals"),
                    &mut links,
                );
                for (n, href) in links
                    .iter()
                    .enumerate()
                    .filter(|(n, _)| n % 3 == i as usize % 3)
                {
                    log(
                        format!("{i} href {n}"),
                        w.call(Method::GET, href, Some(&auth), ""),
                    );
                }
                let accounts = json_of(&log(
                    format!("{i} accounts"),
                    w.call(
                        Method::GET,
                        &format!("{base}/rest/accounts"),
                        Some(&auth),
                        "",
                    ),
                ));
                let account = accounts["accounts"][0]["account_id"].as_str().unwrap();
                for q in [
                    "/rest/transactions?count=5&offset=3&cents=true&include_statistics=true",
                    "/rest/transactions?sort=asc&categories=40,123",
                    "/rest/transactions?count=0",
                    "/rest/accounts/nope/transactions",
                    &format!("/rest/accounts/{account}/transactions?count=7&sort=ASC"),
                    &format!("/rest/accounts/{account}/transactions?count=7&sort=ASC"),
                ] {
                    log(
                        format!("{i} {q}"),
                        w.call(Method::GET, &format!("{base}{q}"), Some(&auth), ""),
                    );
                }
                if i % 4 == 2 {
                    // Past the access token's hour (and a one-time flow's retention).
                    w.advance(3601);
                    log(
                        format!("{i} expired"),
                        w.call(Method::GET, &report_url, Some(&auth), ""),
                    );
                }
                if i % 5 == 4 {
                    // The next flows complete on a later day: their histories end there.
                    w.advance(86_400 + 17);
                }
                tokens.push((
                    i,
                    report_url,
                    t["refresh_token"].as_str().unwrap().to_string(),
                ));
            }
            // Every access token has expired; refreshed ones open the ongoing reports again,
            // and the one-time data is gone.
            w.advance(4000);
            for (i, url, refresh) in tokens {
                log(
                    format!("{i} stale"),
                    w.call(Method::GET, &url, Some("Bearer x"), ""),
                );
                let base = &url[..url.find("/rest/").unwrap()];
                let grant =
                    json!({"grant_type": "refresh_token", "refresh_token": refresh}).to_string();
                let t = log(
                    format!("{i} refresh"),
                    w.call(
                        Method::POST,
                        &format!("{base}/auth/token"),
                        Some(BASIC),
                        &grant,
                    ),
                );
                if t.0 == 200 {
                    let auth = format!("Bearer {}", json_of(&t)["access_token"].as_str().unwrap());
                    log(
                        format!("{i} after"),
                        w.call(Method::GET, &url, Some(&auth), ""),
                    );
                }
            }
            out
        }

        fn compare(cold: &[(String, u16, Vec<u8>)], warm: &[(String, u16, Vec<u8>)]) {
            assert_eq!(cold.len(), warm.len());
            for (c, w) in cold.iter().zip(warm) {
                assert_eq!(c.0, w.0);
                assert_eq!(
                    (c.1, String::from_utf8_lossy(&c.2)),
                    (w.1, String::from_utf8_lossy(&w.2)),
                    "{}",
                    c.0
                );
            }
        }

        fn run(dirs: Vec<PathBuf>) {
            let cold = script(&World::new(Arc::new(Cache::cold()), dirs.clone()));
            let statuses: std::collections::BTreeSet<u16> = cold.iter().map(|r| r.1).collect();
            for s in [200, 201, 202, 302, 400, 401, 404, 500] {
                assert!(statuses.contains(&s), "the script meets {s}: {statuses:?}");
            }
            let warm = Arc::new(Cache::new(cache::DATASETS, cache::ANSWERS));
            compare(&cold, &script(&World::new(warm.clone(), dirs.clone())));
            let rendered = warm.renders();
            // The same requests again on a fresh instance: every answer comes from the cache.
            compare(&cold, &script(&World::new(warm.clone(), dirs)));
            assert_eq!(warm.renders(), rendered, "the second run rendered nothing");
            let ((datasets, _), (answers, _)) = warm.sizes();
            assert!(datasets > 5 && answers > 50, "{datasets} {answers}");
        }

        #[test]
        fn a_cold_and_a_warm_cache_give_the_same_bytes_for_many_flows_in_the_v2_11_shape() {
            run(Vec::new());
        }

        #[test]
        fn a_cold_and_a_warm_cache_give_the_same_bytes_for_many_flows_in_the_newest_shape() {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(
                dir.path().join("finx.toml"),
                include_str!("../../../scenarios/finx.toml")
                    .replace("shape = \"v2.11\"", "shape = \"newest\""),
            )
            .unwrap();
            run(vec![dir.path().to_path_buf()]);
        }
    }
}
