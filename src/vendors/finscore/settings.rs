//! FinScore's scenario-file settings: credentials, token lifetime and scope, the two
//! paths, the product catalogue and which network (MNO) owns which number prefixes and
//! product ids.
//!
//! Every key has a documented default (`docs/vendors/finscore.md`), so a file that
//! sets none of them gets the shipped behaviour.

use std::collections::BTreeMap;
use std::sync::Arc;

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

/// A mobile network operator (or brand): the number prefixes it owns and the product
/// ids its numbers may use.
#[derive(Debug, Clone)]
pub struct Network {
    pub name: String,
    /// Local-format prefixes, `0917`.
    pub prefixes: Vec<String>,
    pub product_ids: Vec<String>,
}

impl Network {
    /// Sun Cellular's numbers get `Q1`'s Sun values: the network is recognised by name.
    pub fn is_sun(&self) -> bool {
        self.name.eq_ignore_ascii_case("sun")
    }
}

/// Compiled settings.
#[derive(Debug)]
pub struct FinScoreSettings {
    pub client_id: String,
    pub client_secret: String,
    pub token_lifetime_secs: i64,
    /// The API scopes a token is issued for (the token answer's `scope`).
    pub scopes: Vec<String>,
    pub token_path: String,
    pub score_path: String,
    /// Product id → what it answers, sorted by id.
    pub products: Vec<(String, Product)>,
    pub networks: Vec<Network>,
}

impl FinScoreSettings {
    pub fn product(&self, id: &str) -> Option<Product> {
        self.products.iter().find(|(p, _)| p == id).map(|(_, k)| *k)
    }

    /// The network owning a local prefix (`0917`).
    pub fn network_of_prefix(&self, prefix: &str) -> Option<&Network> {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthSpec {
    client_id: String,
    client_secret: String,
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
}

pub const DEFAULT_TOKEN_PATH: &str = "/auth/connect/token";
pub const DEFAULT_SCORE_PATH: &str = "/score/api/v2/score";
/// FinScore's scope name is not public; this one is the mock's.
pub const DEFAULT_SCOPE: &str = "score_api";
const DEFAULT_LIFETIME: i64 = 3600;

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

/// The default networks: (name, prefixes, product ids). The prefix sources and the
/// prefixes the public lists disagree on are in `docs/vendors/finscore.md`.
const DEFAULT_NETWORKS: &[(&str, &[&str], &[&str])] = &[
    (
        "Smart",
        &[
            "0813", "0907", "0908", "0909", "0910", "0911", "0912", "0913", "0914", "0918", "0919",
            "0920", "0921", "0928", "0929", "0930", "0938", "0939", "0946", "0947", "0948", "0949",
            "0950", "0951", "0960", "0961", "0962", "0963", "0964", "0968", "0969", "0970", "0971",
            "0980", "0981", "0982", "0985", "0989", "0998", "0999",
        ],
        &["Q1", "10", "20", "21", "30", "31", "40"],
    ),
    (
        "Sun",
        &[
            "0922", "0923", "0924", "0925", "0931", "0932", "0933", "0934", "0940", "0941", "0942",
            "0943", "0944", "0973", "0974",
        ],
        &["Q1"],
    ),
    (
        "Globe",
        &[
            "0817", "0900", "0901", "0902", "0904", "0905", "0906", "0915", "0916", "0917", "0926",
            "0927", "0935", "0936", "0937", "0945", "0953", "0954", "0955", "0956", "0957", "0958",
            "0959", "0965", "0966", "0967", "0975", "0976", "0977", "0978", "0979", "0986", "0987",
            "0988", "0995", "0996", "0997",
        ],
        &["GL1"],
    ),
    (
        "DITO",
        &[
            "0895", "0896", "0897", "0898", "0991", "0992", "0993", "0994",
        ],
        &["DT1"],
    ),
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
        .map(|(name, prefixes, products)| Network {
            name: name.to_string(),
            prefixes: own(prefixes),
            product_ids: own(products),
        })
        .collect()
}

/// Compile the settings from a scenario file's whole text.
pub fn compile(text: &str) -> Result<Settings, Vec<Problem>> {
    let file: SettingsFile = parse_settings(text)?;
    let mut problems = Vec::new();

    let mut client_id = "test-client".to_string();
    let mut client_secret = "test-secret".to_string();
    let mut token_lifetime_secs = DEFAULT_LIFETIME;
    let mut scopes = vec![DEFAULT_SCOPE.to_string()];
    if let Some(a) = file.auth {
        client_id = a.client_id;
        client_secret = a.client_secret;
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
        if token_path == score_path {
            problems.push(Problem::at(
                api_span,
                format!("api.token_path and api.score_path are both `{token_path}`"),
            ));
        }
    }

    let products: Vec<(String, Product)> = match file.products {
        Some(table) => table
            .into_inner()
            .into_iter()
            .filter_map(|(id, kind)| match Product::parse(&id, kind.get_ref()) {
                Ok(p) => Some((id, p)),
                Err(message) => {
                    problems.push(Problem::at(kind.span(), message));
                    None
                }
            })
            .collect(),
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
                out.push(Network {
                    name: n.name,
                    prefixes: n.prefixes.into_iter().map(Spanned::into_inner).collect(),
                    product_ids: n.product_ids.into_iter().map(Spanned::into_inner).collect(),
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
        token_lifetime_secs,
        scopes,
        token_path,
        score_path,
        products,
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
        for (_, prefixes, _) in DEFAULT_NETWORKS {
            for p in *prefixes {
                assert!(seen.insert(*p), "{p} twice");
            }
        }
    }

    #[test]
    fn a_score_product_names_its_model() {
        let s =
            compiled("vendor = \"finscore\"\n[products]\nCVSCR2 = \"score:GL1\"\nQ1 = \"score\"\n");
        assert_eq!(
            s.product("CVSCR2"),
            Some(Product::Score(models::model("GL1").unwrap()))
        );
        let problems = compile("vendor = \"finscore\"\n[products]\nX9 = \"score\"\n").unwrap_err();
        assert!(
            problems[0].message.contains("no score model named `X9`"),
            "{}",
            problems[0].message
        );
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
