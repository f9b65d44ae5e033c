//! FinScore's scenario-file settings: credentials, token lifetime and scope, the two
//! paths, the product catalogue and which network (MNO) owns which number prefixes and
//! product ids.
//!
//! Every key has a documented default (`docs/vendors/finscore.md`), so a file that
//! sets none of them gets the shipped behaviour. `[products]` and `[[network]]` each
//! replace their whole default; a file that replaces only `[products]` must keep the
//! product ids the default networks use, and is told which ones it lacks.

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper::StatusCode;
use serde::Deserialize;
use toml::Spanned;

use super::models::{self, Model};
use crate::scenario::{parse_settings, Problem, Settings};

/// What a product id answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    /// A telco score from a model: `scores`.
    Score(&'static Model),
    /// Geo-location fraud flag: `address_check`.
    AddressCheck,
    /// Social-circle fraud flag: `msisdn_check`.
    MsisdnCheck,
    /// Customer record profile: `customer_profile`.
    CustomerProfile,
}

const KINDS: &str = "score, score:MODEL, address_check, msisdn_check, customer_profile";

impl Product {
    /// `score` (the model named like the product id), `score:MODEL`, or a flag kind.
    fn parse(id: &str, kind: &str) -> Result<Self, String> {
        let score = |name: &str| {
            models::model(name).map(Product::Score).ok_or_else(|| {
                format!(
                    "no score model named `{name}` for product id {id}; the models are {}: write `\"score:Q1\"` to use one",
                    model_names()
                )
            })
        };
        match kind {
            "score" => score(id),
            "address_check" => Ok(Product::AddressCheck),
            "msisdn_check" => Ok(Product::MsisdnCheck),
            "customer_profile" => Ok(Product::CustomerProfile),
            _ => match kind.strip_prefix("score:") {
                Some(name) => score(name),
                None => Err(format!(
                    "unknown product kind `{kind}` for product id {id}; expected one of: {KINDS}"
                )),
            },
        }
    }
}

fn model_names() -> String {
    models::MODELS
        .iter()
        .map(|m| m.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A network whose numbers a score model answers with values of their own
/// (`special = "…"` in a `[[network]]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// Sun Cellular: `Q1` answers 91/92/93 (prepaid) and 921/922/923 (postpaid).
    Sun,
}

const SPECIALS: &str = "\"sun\"";

/// A mobile network operator (or brand): the number prefixes it owns and the product
/// ids its numbers may use.
#[derive(Debug, Clone)]
pub struct Network {
    pub name: String,
    /// Local-format prefixes, `0917`.
    pub prefixes: Vec<String>,
    pub product_ids: Vec<String>,
    /// Set by `special = "sun"`, never by the network's name.
    pub special: Option<Special>,
}

impl Network {
    /// Whether its numbers get `Q1`'s Sun Cellular values.
    pub fn is_sun(&self) -> bool {
        self.special == Some(Special::Sun)
    }
}

/// Compiled settings.
#[derive(Debug)]
pub struct FinScoreSettings {
    pub client_id: String,
    pub client_secret: String,
    /// The status of an `invalid_client` token error: 400 (IdentityServer) or 401
    /// (OpenIddict).
    pub invalid_client_status: StatusCode,
    pub token_lifetime_secs: i64,
    /// The API scopes a token is issued for.
    pub scopes: Vec<String>,
    /// `scopes` space-separated, joined once: the token answer's `scope` when the
    /// request asks for none.
    pub scope: String,
    pub token_path: String,
    pub score_path: String,
    /// Product id → what it answers, sorted by id.
    pub products: Vec<(String, Product)>,
    pub networks: Vec<Network>,
    /// For each prefix `0ddd` (indexed by `ddd`), the index in `networks` of the first
    /// network listing it: every score request asks ([`FinScoreSettings::network_of_prefix`]),
    /// and a scan compared it with every prefix of every network.
    network_by_prefix: Box<[Option<u16>]>,
}

/// [`FinScoreSettings::network_by_prefix`]'s index of a prefix `0ddd`.
fn prefix_index(prefix: &str) -> Option<usize> {
    match prefix.as_bytes() {
        [b'0', d @ ..] if d.len() == 3 && d.iter().all(u8::is_ascii_digit) => {
            Some(d.iter().fold(0, |n, &c| n * 10 + usize::from(c - b'0')))
        }
        _ => None,
    }
}

/// The first network listing each prefix `0ddd`, as [`prefix_index`] numbers them.
fn networks_by_prefix(networks: &[Network]) -> Box<[Option<u16>]> {
    let mut table = vec![None; 1000].into_boxed_slice();
    for (i, n) in networks.iter().enumerate() {
        let Ok(i) = u16::try_from(i) else { break };
        for p in &n.prefixes {
            if let Some(at) = prefix_index(p) {
                table[at].get_or_insert(i);
            }
        }
    }
    table
}

impl FinScoreSettings {
    /// Whether `path` (below the prefix) is the token endpoint, matched as
    /// IdentityServer's endpoint router matches (`PathString.Equals` with
    /// `OrdinalIgnoreCase`): any letter case, but a trailing slash is another path.
    pub fn is_token_path(&self, path: &str) -> bool {
        path.eq_ignore_ascii_case(&self.token_path)
    }

    /// Whether `path` is the score endpoint, matched as ASP.NET Core routing matches a
    /// route template: any letter case, with or without one trailing slash.
    pub fn is_score_path(&self, path: &str) -> bool {
        without_trailing_slash(path).eq_ignore_ascii_case(without_trailing_slash(&self.score_path))
    }

    pub fn product(&self, id: &str) -> Option<Product> {
        // Sorted by id, each id once (the keys of a table).
        self.products
            .binary_search_by(|(p, _)| p.as_str().cmp(id))
            .ok()
            .map(|i| self.products[i].1)
    }

    /// The network owning a local prefix (`0917`): the first listing it.
    pub fn network_of_prefix(&self, prefix: &str) -> Option<&Network> {
        match prefix_index(prefix) {
            // Past u16::MAX networks the table stops; the scan finds the rest.
            Some(at) if self.networks.len() <= usize::from(u16::MAX) => {
                self.network_by_prefix[at].map(|i| &self.networks[usize::from(i)])
            }
            _ => self.scan_prefix(prefix),
        }
    }

    /// [`FinScoreSettings::network_of_prefix`] by comparing with every prefix.
    fn scan_prefix(&self, prefix: &str) -> Option<&Network> {
        self.networks
            .iter()
            .find(|n| n.prefixes.iter().any(|p| p == prefix))
    }

    /// The networks whose numbers may use a product id.
    pub fn networks_of_product(&self, id: &str) -> Vec<&Network> {
        self.networks
            .iter()
            .filter(|n| n.product_ids.iter().any(|p| p == id))
            .collect()
    }
}

#[derive(Deserialize)]
struct SettingsFile {
    auth: Option<AuthSpec>,
    api: Option<Spanned<ApiSpec>>,
    products: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    network: Option<Vec<Spanned<NetworkSpec>>>,
}

/// `/a/b/` → `/a/b`; `/` stays.
fn without_trailing_slash(path: &str) -> &str {
    match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthSpec {
    client_id: Option<String>,
    client_secret: Option<String>,
    invalid_client_status: Option<Spanned<i64>>,
    token_lifetime_seconds: Option<Spanned<i64>>,
    scope: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiSpec {
    token_path: Option<Spanned<String>>,
    score_path: Option<Spanned<String>>,
    // Settings of the invented surface, refused with a pointer to the real fields.
    mobile_number_field: Option<Spanned<toml::Value>>,
    product_ids_field: Option<Spanned<toml::Value>>,
    guarantor_number_field: Option<Spanned<toml::Value>>,
    request_id_field: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkSpec {
    name: String,
    prefixes: Vec<Spanned<String>>,
    #[serde(default)]
    product_ids: Vec<Spanned<String>>,
    special: Option<Spanned<String>>,
}

pub const DEFAULT_TOKEN_PATH: &str = "/auth/connect/token";
pub const DEFAULT_SCORE_PATH: &str = "/score/api/v2/score";
/// FinScore's scope name is not public; this one is the mock's.
pub const DEFAULT_SCOPE: &str = "score_api";
const DEFAULT_LIFETIME: i64 = 3600;
pub const DEFAULT_CLIENT_ID: &str = "test-client";
pub const DEFAULT_CLIENT_SECRET: &str = "test-secret";

/// The default product table: the per-network score models of FinScore's scoring guide
/// and the numeric partner configuration of `finscore-featurestore.txt`.
const DEFAULT_PRODUCTS: &[(&str, &str)] = &[
    ("Q1", "score:Q1"),
    ("GL1", "score:GL1"),
    ("DT1", "score:DT1"),
    ("10", "score:10"),
    ("20", "address_check"),
    ("21", "address_check"),
    ("30", "msisdn_check"),
    ("31", "msisdn_check"),
    ("40", "customer_profile"),
];

/// One row of the default network table.
struct DefaultNetwork {
    name: &'static str,
    prefixes: &'static [&'static str],
    product_ids: &'static [&'static str],
    special: Option<Special>,
}

/// The default networks. The Globe and DITO prefixes are exactly the production
/// client's ("PH_prefixes_Feb_2023"), which sends `Q1` for every other prefix; the
/// sources and the prefixes the public lists disagree on are in
/// `docs/vendors/finscore.md`.
const DEFAULT_NETWORKS: &[DefaultNetwork] = &[
    DefaultNetwork {
        name: "Smart",
        prefixes: &[
            "0813", "0907", "0908", "0909", "0910", "0911", "0912", "0913", "0914", "0918", "0919",
            "0920", "0921", "0928", "0929", "0930", "0938", "0939", "0946", "0947", "0948", "0949",
            "0950", "0951", "0960", "0961", "0962", "0963", "0964", "0968", "0969", "0970", "0971",
            "0980", "0981", "0982", "0985", "0989", "0998", "0999",
        ],
        product_ids: &["Q1", "10", "20", "21", "30", "31", "40"],
        special: None,
    },
    DefaultNetwork {
        name: "Sun",
        prefixes: &[
            "0922", "0923", "0924", "0925", "0931", "0932", "0933", "0934", "0940", "0941", "0942",
            "0943", "0944", "0973", "0974",
        ],
        product_ids: &["Q1"],
        special: Some(Special::Sun),
    },
    DefaultNetwork {
        name: "Globe",
        prefixes: &[
            "0817", "0900", "0901", "0902", "0904", "0905", "0906", "0915", "0916", "0917", "0926",
            "0927", "0935", "0936", "0937", "0945", "0953", "0954", "0955", "0956", "0965", "0966",
            "0967", "0975", "0976", "0977", "0978", "0979", "0986", "0987", "0988", "0995", "0996",
            "0997",
        ],
        product_ids: &["GL1"],
        special: None,
    },
    DefaultNetwork {
        name: "DITO",
        prefixes: &[
            "0895", "0896", "0897", "0898", "0991", "0992", "0993", "0994",
        ],
        product_ids: &["DT1"],
        special: None,
    },
];

fn default_products() -> Vec<(String, Product)> {
    let mut products: Vec<(String, Product)> = DEFAULT_PRODUCTS
        .iter()
        .map(|(id, kind)| {
            let p = Product::parse(id, kind).expect("the default products name built-in models");
            (id.to_string(), p)
        })
        .collect();
    // As a scenario file's `[products]` table is read.
    products.sort_by(|a, b| a.0.cmp(&b.0));
    products
}

fn default_networks() -> Vec<Network> {
    let own = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
    DEFAULT_NETWORKS
        .iter()
        .map(|n| Network {
            name: n.name.to_string(),
            prefixes: own(n.prefixes),
            product_ids: own(n.product_ids),
            special: n.special,
        })
        .collect()
}

/// The product ids the default networks use that `named` lacks, in table order.
fn missing_default_products(named: &[&str]) -> Vec<&'static str> {
    let mut missing: Vec<&'static str> = Vec::new();
    for id in DEFAULT_NETWORKS.iter().flat_map(|n| n.product_ids) {
        if !named.contains(id) && !missing.contains(id) {
            missing.push(id);
        }
    }
    missing
}

/// Compile the settings from a scenario file's whole text.
pub fn compile(text: &str) -> Result<Settings, Vec<Problem>> {
    let file: SettingsFile = parse_settings(text)?;
    let mut problems = Vec::new();

    let mut client_id = DEFAULT_CLIENT_ID.to_string();
    let mut client_secret = DEFAULT_CLIENT_SECRET.to_string();
    let mut invalid_client_status = StatusCode::BAD_REQUEST;
    let mut token_lifetime_secs = DEFAULT_LIFETIME;
    let mut scopes = vec![DEFAULT_SCOPE.to_string()];
    if let Some(a) = file.auth {
        if let Some(id) = a.client_id {
            client_id = id;
        }
        if let Some(secret) = a.client_secret {
            client_secret = secret;
        }
        match a.invalid_client_status {
            Some(st) if *st.get_ref() == 400 => invalid_client_status = StatusCode::BAD_REQUEST,
            Some(st) if *st.get_ref() == 401 => invalid_client_status = StatusCode::UNAUTHORIZED,
            Some(st) => problems.push(Problem::at(
                st.span(),
                format!(
                    "auth.invalid_client_status must be 400 (IdentityServer, the default) or 401 (OpenIddict), found {}",
                    st.get_ref()
                ),
            )),
            None => {}
        }
        match a.token_lifetime_seconds {
            Some(l) if *l.get_ref() < 1 => problems.push(Problem::at(
                l.span(),
                format!(
                    "auth.token_lifetime_seconds must be at least 1, found {}",
                    l.get_ref()
                ),
            )),
            Some(l) => token_lifetime_secs = *l.get_ref(),
            None => {}
        }
        if let Some(scope) = a.scope {
            let given: Vec<String> = scope
                .get_ref()
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            if given.is_empty() {
                problems.push(Problem::at(
                    scope.span(),
                    format!("auth.scope must name at least one scope (space-separated), e.g. \"{DEFAULT_SCOPE}\""),
                ));
            } else {
                scopes = given;
            }
        }
    }

    let mut token_path = DEFAULT_TOKEN_PATH.to_string();
    let mut score_path = DEFAULT_SCORE_PATH.to_string();
    if let Some(api) = file.api {
        let api_span = api.span();
        let api = api.into_inner();
        let mut path = |given: Option<Spanned<String>>, into: &mut String, key: &str| {
            let Some(p) = given else { return };
            if !p.get_ref().starts_with('/') || p.get_ref().contains(['?', '#', ' ']) {
                problems.push(Problem::at(
                    p.span(),
                    format!(
                        "api.{key} must be a path starting with `/` (no query), e.g. \"{into}\""
                    ),
                ));
            } else {
                *into = p.into_inner();
            }
        };
        path(api.token_path, &mut token_path, "token_path");
        path(api.score_path, &mut score_path, "score_path");
        for (key, given) in [
            ("mobile_number_field", api.mobile_number_field),
            ("product_ids_field", api.product_ids_field),
            ("guarantor_number_field", api.guarantor_number_field),
            ("request_id_field", api.request_id_field),
        ] {
            if let Some(v) = given {
                problems.push(Problem::at(
                    v.span(),
                    format!("api.{key} is no longer a setting: FinScore's score request has the fields `mobilenumber`, `productids`, `requestid` and `guarantornumber`, matched in any letter case"),
                ));
            }
        }
        // Compared as the two endpoints match requests (letter case, trailing slash).
        if without_trailing_slash(&token_path)
            .eq_ignore_ascii_case(without_trailing_slash(&score_path))
        {
            problems.push(Problem::at(
                api_span,
                format!("api.token_path and api.score_path are the same path (`{token_path}`, `{score_path}`; paths match in any letter case)"),
            ));
        }
    }

    let products: Vec<(String, Product)> = match file.products {
        Some(table) => {
            let span = table.span();
            let table = table.into_inner();
            // Every id the table names, its kind readable or not (a bad kind is
            // reported on its own, not again as missing).
            let named: Vec<&str> = table.keys().map(String::as_str).collect();
            let missing = missing_default_products(&named);
            let missing = (file.network.is_none() && !missing.is_empty()).then_some(missing);
            let products: Vec<(String, Product)> = table
                .into_iter()
                .filter_map(|(id, kind)| match Product::parse(&id, kind.get_ref()) {
                    Ok(p) => Some((id, p)),
                    Err(message) => {
                        problems.push(Problem::at(kind.span(), message));
                        None
                    }
                })
                .collect();
            // Without [[network]] the default networks stay, and they name the default
            // product ids: a table that drops them would answer every call with 1111.
            if let Some(missing) = missing {
                problems.push(Problem::at(
                    span,
                    format!(
                        "[products] replaces the whole default product table, but the default networks (used because this file has no [[network]]) need product ids it lacks: {}; add them (e.g. Q1 = \"score:Q1\") or give your own [[network]] list naming your product ids",
                        missing.join(", ")
                    ),
                ));
            }
            products
        }
        None => default_products(),
    };

    let networks = match file.network {
        None => default_networks(),
        Some(list) => {
            let mut prefix_owner: BTreeMap<String, String> = BTreeMap::new();
            let mut out = Vec::new();
            for n in list {
                let n = n.into_inner();
                for p in &n.prefixes {
                    let ok = p.get_ref().len() == 4
                        && p.get_ref().starts_with('0')
                        && p.get_ref().bytes().all(|b| b.is_ascii_digit());
                    if !ok {
                        problems.push(Problem::at(
                            p.span(),
                            format!(
                                "network prefix `{}` must be 4 digits in local format, e.g. \"0917\"",
                                p.get_ref()
                            ),
                        ));
                    } else if let Some(other) =
                        prefix_owner.insert(p.get_ref().clone(), n.name.clone())
                    {
                        problems.push(Problem::at(
                            p.span(),
                            format!("prefix {} already belongs to network {other}", p.get_ref()),
                        ));
                    }
                }
                for id in &n.product_ids {
                    // A product id may serve several networks (Q1: Smart and Sun).
                    if !products.iter().any(|(p, _)| p == id.get_ref()) {
                        problems.push(Problem::at(
                            id.span(),
                            format!(
                                "product id {} is not in [products]; add it there with its kind",
                                id.get_ref()
                            ),
                        ));
                    }
                }
                let special = match n.special {
                    None => None,
                    Some(v) if v.get_ref() == "sun" => Some(Special::Sun),
                    Some(v) => {
                        problems.push(Problem::at(
                            v.span(),
                            format!(
                                "unknown special `{}` for network {}; expected {SPECIALS} (Q1's Sun Cellular values) or no `special`",
                                v.get_ref(),
                                n.name
                            ),
                        ));
                        None
                    }
                };
                out.push(Network {
                    name: n.name,
                    prefixes: n.prefixes.into_iter().map(Spanned::into_inner).collect(),
                    product_ids: n.product_ids.into_iter().map(Spanned::into_inner).collect(),
                    special,
                });
            }
            out
        }
    };

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Arc::new(FinScoreSettings {
        client_id,
        client_secret,
        invalid_client_status,
        token_lifetime_secs,
        scope: scopes.join(" "),
        scopes,
        token_path,
        score_path,
        products,
        network_by_prefix: networks_by_prefix(&networks),
        networks,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled(text: &str) -> Arc<FinScoreSettings> {
        compile(text)
            .unwrap()
            .downcast::<FinScoreSettings>()
            .unwrap()
    }

    #[test]
    fn an_empty_file_gets_the_documented_defaults() {
        let s = compiled("vendor = \"finscore\"\n");
        assert_eq!(s.token_path, "/auth/connect/token");
        assert_eq!(s.score_path, "/score/api/v2/score");
        assert_eq!(s.token_lifetime_secs, 3600);
        assert_eq!(s.scopes, ["score_api"]);
        assert_eq!(s.scope, "score_api");
        for (prefix, network) in [
            ("0918", "Smart"),
            ("0813", "Smart"),
            ("0922", "Sun"),
            ("0973", "Sun"),
            ("0917", "Globe"),
            ("0817", "Globe"),
            ("0895", "DITO"),
            ("0991", "DITO"),
            ("0994", "DITO"),
        ] {
            assert_eq!(
                s.network_of_prefix(prefix).unwrap().name,
                network,
                "{prefix}"
            );
        }
        let owners = |id| -> Vec<String> {
            s.networks_of_product(id)
                .iter()
                .map(|n| n.name.clone())
                .collect()
        };
        assert_eq!(owners("Q1"), ["Smart", "Sun"]);
        assert_eq!(owners("GL1"), ["Globe"]);
        assert_eq!(owners("DT1"), ["DITO"]);
        assert_eq!(owners("40"), ["Smart"]);
        assert_eq!(s.product("31"), Some(Product::MsisdnCheck));
        assert_eq!(
            s.product("10"),
            Some(Product::Score(models::model("10").unwrap()))
        );
    }

    #[test]
    fn the_shipped_file_is_the_same_as_the_defaults() {
        let shipped = compiled(include_str!("../../../scenarios/finscore.toml"));
        let defaults = compiled("vendor = \"finscore\"\n");
        assert_eq!(format!("{shipped:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn no_prefix_belongs_to_two_default_networks() {
        let mut seen = std::collections::BTreeSet::new();
        for n in DEFAULT_NETWORKS {
            for p in n.prefixes {
                assert!(seen.insert(*p), "{p} twice");
            }
        }
    }

    #[test]
    fn a_score_product_names_its_model() {
        let s = compiled(
            "vendor = \"finscore\"\n[products]\nCVSCR2 = \"score:GL1\"\nQ1 = \"score\"\n\
             [[network]]\nname = \"Globe\"\nprefixes = [\"0917\"]\nproduct_ids = [\"CVSCR2\", \"Q1\"]\n",
        );
        assert_eq!(
            s.product("CVSCR2"),
            Some(Product::Score(models::model("GL1").unwrap()))
        );
        assert_eq!(
            s.product("Q1"),
            Some(Product::Score(models::model("Q1").unwrap()))
        );
        let problems = compile(
            "vendor = \"finscore\"\n[products]\nX9 = \"score\"\n[[network]]\nname = \"N\"\nprefixes = []\n",
        )
        .unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].message.contains("no score model named `X9`"),
            "{}",
            problems[0].message
        );
    }

    /// The review's case: `[products]` alone used to validate while the default networks
    /// still named Q1, GL1, …, so every call answered 1111.
    #[test]
    fn products_without_networks_must_keep_the_ids_the_default_networks_use() {
        let text = "vendor = \"finscore\"\n[products]\nCVSCR2 = \"score:GL1\"\n";
        let problems = compile(text).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        let p = &problems[0];
        assert!(
            p.message
                .contains("need product ids it lacks: Q1, 10, 20, 21, 30, 31, 40, GL1, DT1;"),
            "{}",
            p.message
        );
        // Reported at the [products] table.
        let span = p.span.clone().expect("a located problem");
        assert!(text[span].starts_with("[products]"));

        // Keeping the default ids and adding one of its own is fine.
        let mut all: String = DEFAULT_PRODUCTS
            .iter()
            .map(|(id, kind)| format!("{id} = \"{kind}\"\n"))
            .collect();
        all.push_str("CVSCR2 = \"score:GL1\"\n");
        let s = compiled(&format!("vendor = \"finscore\"\n[products]\n{all}"));
        assert_eq!(s.products.len(), DEFAULT_PRODUCTS.len() + 1);
        assert_eq!(s.networks.len(), DEFAULT_NETWORKS.len());
    }

    #[test]
    fn every_auth_key_is_optional() {
        let s = compiled("vendor = \"finscore\"\n[auth]\ntoken_lifetime_seconds = 60\n");
        assert_eq!(
            (s.client_id.as_str(), s.client_secret.as_str()),
            ("test-client", "test-secret")
        );
        assert_eq!(s.token_lifetime_secs, 60);
        let s = compiled("vendor = \"finscore\"\n[auth]\nscope = \"telco\"\n");
        assert_eq!(s.scopes, ["telco"]);
        assert_eq!(s.scope, "telco");
        assert_eq!(s.client_id, "test-client");
        let s = compiled("vendor = \"finscore\"\n[auth]\nclient_secret = \"pw\"\n");
        assert_eq!(
            (s.client_id.as_str(), s.client_secret.as_str()),
            ("test-client", "pw")
        );
        assert_eq!(s.invalid_client_status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn invalid_client_status_is_400_or_401() {
        let s = compiled("vendor = \"finscore\"\n[auth]\ninvalid_client_status = 401\n");
        assert_eq!(s.invalid_client_status, StatusCode::UNAUTHORIZED);
        let s = compiled("vendor = \"finscore\"\n[auth]\ninvalid_client_status = 400\n");
        assert_eq!(s.invalid_client_status, StatusCode::BAD_REQUEST);
        for bad in ["403", "200", "-1"] {
            let problems = compile(&format!(
                "vendor = \"finscore\"\n[auth]\ninvalid_client_status = {bad}\n"
            ))
            .unwrap_err();
            assert!(
                problems[0].message.contains("must be 400")
                    && problems[0].message.contains(&format!("found {bad}")),
                "{}",
                problems[0].message
            );
        }
    }

    #[test]
    fn sun_values_follow_the_special_flag_not_the_name() {
        let s = compiled(
            "vendor = \"finscore\"\n\
             [[network]]\nname = \"Sun\"\nprefixes = [\"0922\"]\nproduct_ids = [\"Q1\"]\n\
             [[network]]\nname = \"Sun Cellular\"\nprefixes = [\"0923\"]\nproduct_ids = [\"Q1\"]\nspecial = \"sun\"\n",
        );
        assert!(!s.network_of_prefix("0922").unwrap().is_sun());
        assert!(s.network_of_prefix("0923").unwrap().is_sun());
        let defaults = compiled("vendor = \"finscore\"\n");
        let sun: Vec<&str> = defaults
            .networks
            .iter()
            .filter(|n| n.is_sun())
            .map(|n| n.name.as_str())
            .collect();
        assert_eq!(sun, ["Sun"]);
        let problems = compile(
            "vendor = \"finscore\"\n[[network]]\nname = \"X\"\nprefixes = [\"0922\"]\nspecial = \"moon\"\n",
        )
        .unwrap_err();
        assert!(
            problems[0].message.contains("unknown special `moon`"),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn the_prefix_table_and_the_product_search_find_what_a_scan_finds() {
        let custom = compiled(
            "vendor = \"finscore\"\n\
             [products]\nQ1 = \"score:Q1\"\n31 = \"msisdn_check\"\nZ9 = \"address_check\"\n\
             [[network]]\nname = \"A\"\nprefixes = [\"0922\", \"0900\", \"0999\"]\nproduct_ids = [\"Q1\"]\n\
             [[network]]\nname = \"B\"\nprefixes = [\"0000\", \"0123\"]\nproduct_ids = [\"31\"]\n\
             [[network]]\nname = \"A\"\nprefixes = [\"0500\"]\nproduct_ids = [\"Z9\"]\n",
        );
        for s in [compiled("vendor = \"finscore\"\n"), custom] {
            let mut prefixes: Vec<String> = (0..10_000).map(|n| format!("{n:04}")).collect();
            prefixes.extend(
                ["", "0", "092", "922", "09220", "abcd", "0a22", "\u{0}922"].map(String::from),
            );
            for p in &prefixes {
                assert_eq!(
                    s.network_of_prefix(p).map(|n| n as *const Network),
                    s.scan_prefix(p).map(|n| n as *const Network),
                    "{p}"
                );
            }
            let mut ids: Vec<String> = s.products.iter().map(|(id, _)| id.clone()).collect();
            ids.extend(["", "0", "Q", "Q10", "q1", "ZZ", "~"].map(String::from));
            for id in &ids {
                let scan = s.products.iter().find(|(p, _)| p == id).map(|(_, k)| *k);
                assert_eq!(s.product(id), scan, "{id}");
            }
        }
    }

    #[test]
    fn paths_match_as_identityserver_and_asp_net_core_routing_do() {
        let s = compiled("vendor = \"finscore\"\n");
        for yes in [
            "/auth/connect/token",
            "/Auth/Connect/Token",
            "/AUTH/CONNECT/TOKEN",
        ] {
            assert!(s.is_token_path(yes), "{yes}");
        }
        for no in [
            "/auth/connect/token/",
            "/auth/connect/tokens",
            "/connect/token",
        ] {
            assert!(!s.is_token_path(no), "{no}");
        }
        for yes in [
            "/score/api/v2/score",
            "/score/api/v2/score/",
            "/Score/Api/V2/Score",
            "/SCORE/API/V2/SCORE/",
        ] {
            assert!(s.is_score_path(yes), "{yes}");
        }
        for no in [
            "/score/api/v2/score//",
            "/score/api/v2",
            "/score/api/v1/score",
        ] {
            assert!(!s.is_score_path(no), "{no}");
        }
        let problems = compile(
            "vendor = \"finscore\"\n[api]\ntoken_path = \"/Score\"\nscore_path = \"/score/\"\n",
        )
        .unwrap_err();
        assert!(
            problems[0].message.contains("the same path"),
            "{}",
            problems[0].message
        );
    }

    /// FinScore's production client (FACTS.md, `services/finscore.js`, table
    /// "PH_prefixes_Feb_2023") sends `DT1;` for these prefixes, `GL1;` for these, and
    /// `Q1;` for any other. Each prefix it lists must belong to a network owning that
    /// product, and every prefix the mock knows must accept what the client sends.
    const CLIENT_DITO: &[&str] = &["895", "896", "897", "898", "991", "992", "993", "994"];
    const CLIENT_GLOBE: &[&str] = &[
        "817", "900", "901", "902", "904", "905", "906", "915", "916", "917", "926", "927", "935",
        "936", "937", "945", "953", "954", "955", "956", "965", "966", "967", "975", "976", "977",
        "978", "979", "986", "987", "988", "995", "996", "997",
    ];

    /// What the production client sends for a 3-digit prefix.
    fn client_product(prefix: &str) -> &'static str {
        if CLIENT_DITO.contains(&prefix) {
            "DT1"
        } else if CLIENT_GLOBE.contains(&prefix) {
            "GL1"
        } else {
            "Q1"
        }
    }

    #[test]
    fn every_prefix_of_the_production_clients_table_gets_the_product_it_sends() {
        let s = compiled("vendor = \"finscore\"\n");
        let owns = |prefix: &str, product: &str| {
            s.network_of_prefix(&format!("0{prefix}"))
                .is_some_and(|n| n.product_ids.iter().any(|p| p == product))
        };
        for p in CLIENT_DITO.iter().chain(CLIENT_GLOBE) {
            assert!(owns(p, client_product(p)), "0{p}: {}", client_product(p));
        }
        // And the client's `Q1` fallback agrees with every other prefix the mock knows.
        let mut known = 0;
        for n in &s.networks {
            for p in &n.prefixes {
                let want = client_product(&p[1..]);
                assert!(
                    n.product_ids.iter().any(|id| id == want),
                    "{p} is {} in the mock, but the client sends {want}",
                    n.name
                );
                known += 1;
            }
        }
        assert!(known > 90, "{known}");
        // 0957-0959 were Globe in older lists only: the client sends Q1 for them; the
        // mock puts them in no network (documented as unconfirmed).
        for p in ["0957", "0958", "0959"] {
            assert!(s.network_of_prefix(p).is_none(), "{p}");
        }
    }

    #[test]
    fn bad_values_are_all_reported() {
        let text = r#"
[auth]
client_id = "a"
client_secret = "b"
token_lifetime_seconds = 0
scope = " "

[api]
score_path = "score"
mobile_number_field = "mobileNumber"

[products]
10 = "scores"
11 = "score:Q9"

[[network]]
name = "X"
prefixes = ["917", "0917"]
product_ids = ["99"]

[[network]]
name = "Y"
prefixes = ["0917"]
"#;
        let problems = compile(text).unwrap_err();
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(problems.len(), 9, "{messages:#?}");
        for needle in [
            "token_lifetime_seconds",
            "auth.scope",
            "api.score_path",
            "api.mobile_number_field is no longer a setting",
            "unknown product kind",
            "no score model named `Q9`",
            "4 digits",
            "not in [products]",
            "already belongs",
        ] {
            assert!(
                messages.iter().any(|m| m.contains(needle)),
                "{needle}: {messages:#?}"
            );
        }
    }
}
