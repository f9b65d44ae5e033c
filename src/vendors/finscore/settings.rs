//! FinScore's scenario-file settings: credentials, token lifetime, the paths and body
//! field names (FinScore does not publish them, so they are configurable), the product
//! catalogue and which network (MNO) owns which number prefixes and product ids.
//!
//! Every key has a documented default (`docs/vendors/finscore.md`), so a file that
//! sets none of them gets the shipped behaviour.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use crate::scenario::{parse_settings, Problem, Settings};

/// What a product id answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Product {
    /// Generic telco score: `scores`.
    Score,
    /// Geo-location fraud flag: `address_check`.
    AddressCheck,
    /// Social-circle fraud flag: `msisdn_check`.
    MsisdnCheck,
    /// Customer record profile: `customer_profile`.
    CustomerProfile,
}

impl Product {
    const NAMES: &'static [(&'static str, Product)] = &[
        ("score", Product::Score),
        ("address_check", Product::AddressCheck),
        ("msisdn_check", Product::MsisdnCheck),
        ("customer_profile", Product::CustomerProfile),
    ];

    fn parse(s: &str) -> Option<Self> {
        Self::NAMES.iter().find(|(n, _)| *n == s).map(|(_, p)| *p)
    }
}

/// A mobile network operator: the number prefixes it owns and its product ids.
#[derive(Debug, Clone)]
pub struct Network {
    pub name: String,
    /// Local-format prefixes, `0917`.
    pub prefixes: Vec<String>,
    pub product_ids: Vec<String>,
}

/// Body field names of the score request.
#[derive(Debug, Clone)]
pub struct Fields {
    pub mobile_number: String,
    pub product_ids: String,
    pub guarantor_number: String,
    pub request_id: String,
}

/// Compiled settings.
#[derive(Debug)]
pub struct FinScoreSettings {
    pub client_id: String,
    pub client_secret: String,
    pub token_lifetime_secs: i64,
    pub token_path: String,
    pub score_path: String,
    pub fields: Fields,
    /// Product id → what it answers, in file order.
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

    /// The network owning a product id.
    pub fn network_of_product(&self, id: &str) -> Option<&Network> {
        self.networks
            .iter()
            .find(|n| n.product_ids.iter().any(|p| p == id))
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiSpec {
    token_path: Option<Spanned<String>>,
    score_path: Option<Spanned<String>>,
    mobile_number_field: Option<String>,
    product_ids_field: Option<String>,
    guarantor_number_field: Option<String>,
    request_id_field: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkSpec {
    name: String,
    prefixes: Vec<Spanned<String>>,
    #[serde(default)]
    product_ids: Vec<Spanned<String>>,
}

pub const DEFAULT_TOKEN_PATH: &str = "/oauth/token";
pub const DEFAULT_SCORE_PATH: &str = "/api/v1/score";

/// The default product table: FinScore's documented product ids and sections.
const DEFAULT_PRODUCTS: &[(&str, Product)] = &[
    ("10", Product::Score),
    ("20", Product::AddressCheck),
    ("21", Product::AddressCheck),
    ("30", Product::MsisdnCheck),
    ("31", Product::MsisdnCheck),
    ("40", Product::CustomerProfile),
];

/// SMART Communications' mobile prefixes (incl. its TNT and Sun brands), as published
/// by the NTC numbering plan.
const SMART_PREFIXES: &[&str] = &[
    "0907", "0908", "0909", "0910", "0911", "0912", "0913", "0914", "0918", "0919", "0920", "0921",
    "0922", "0923", "0924", "0925", "0928", "0929", "0930", "0931", "0932", "0933", "0934", "0938",
    "0939", "0940", "0941", "0942", "0943", "0944", "0946", "0947", "0948", "0949", "0950", "0951",
    "0960", "0961", "0962", "0963", "0964", "0968", "0969", "0970", "0971", "0980", "0981", "0982",
    "0985", "0989", "0992", "0998", "0999",
];

/// Globe Telecom's (incl. TM) mobile prefixes.
const GLOBE_PREFIXES: &[&str] = &[
    "0904", "0905", "0906", "0915", "0916", "0917", "0926", "0927", "0935", "0936", "0937", "0945",
    "0953", "0954", "0955", "0956", "0957", "0958", "0959", "0965", "0966", "0967", "0973", "0974",
    "0975", "0976", "0977", "0978", "0979", "0994", "0995", "0996", "0997",
];

fn default_networks() -> Vec<Network> {
    let own = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
    vec![
        Network {
            name: "SMART".into(),
            prefixes: own(SMART_PREFIXES),
            product_ids: DEFAULT_PRODUCTS
                .iter()
                .map(|(p, _)| p.to_string())
                .collect(),
        },
        Network {
            name: "Globe".into(),
            prefixes: own(GLOBE_PREFIXES),
            product_ids: Vec::new(),
        },
    ]
}

/// Compile the settings from a scenario file's whole text.
pub fn compile(text: &str) -> Result<Settings, Vec<Problem>> {
    let file: SettingsFile = parse_settings(text)?;
    let mut problems = Vec::new();

    let (client_id, client_secret, token_lifetime_secs) = match file.auth {
        Some(a) => {
            let lifetime = match a.token_lifetime_seconds {
                Some(l) if *l.get_ref() < 1 => {
                    problems.push(Problem::at(
                        l.span(),
                        format!(
                            "auth.token_lifetime_seconds must be at least 1, found {}",
                            l.get_ref()
                        ),
                    ));
                    3600
                }
                Some(l) => *l.get_ref(),
                None => 3600,
            };
            (a.client_id, a.client_secret, lifetime)
        }
        None => ("test-client".into(), "test-secret".into(), 3600),
    };

    let api = file.api.map(Spanned::into_inner);
    let mut path = |given: Option<Spanned<String>>, default: &str, key: &str| match given {
        Some(p) if !p.get_ref().starts_with('/') || p.get_ref().contains(['?', '#', ' ']) => {
            problems.push(Problem::at(
                p.span(),
                format!(
                    "api.{key} must be a path starting with `/` (no query), e.g. \"{default}\""
                ),
            ));
            default.to_string()
        }
        Some(p) => p.into_inner(),
        None => default.to_string(),
    };
    let (token_path, score_path, fields) = match api {
        Some(a) => (
            path(a.token_path, DEFAULT_TOKEN_PATH, "token_path"),
            path(a.score_path, DEFAULT_SCORE_PATH, "score_path"),
            Fields {
                mobile_number: a.mobile_number_field.unwrap_or("mobileNumber".into()),
                product_ids: a.product_ids_field.unwrap_or("productIds".into()),
                guarantor_number: a.guarantor_number_field.unwrap_or("guarantorNumber".into()),
                request_id: a.request_id_field.unwrap_or("requestId".into()),
            },
        ),
        None => (
            DEFAULT_TOKEN_PATH.to_string(),
            DEFAULT_SCORE_PATH.to_string(),
            Fields {
                mobile_number: "mobileNumber".into(),
                product_ids: "productIds".into(),
                guarantor_number: "guarantorNumber".into(),
                request_id: "requestId".into(),
            },
        ),
    };

    let products: Vec<(String, Product)> = match file.products {
        Some(table) => table
            .into_inner()
            .into_iter()
            .filter_map(|(id, kind)| match Product::parse(kind.get_ref()) {
                Some(p) => Some((id, p)),
                None => {
                    problems.push(Problem::at(
                        kind.span(),
                        format!(
                            "unknown product kind `{}` for product id {id}; expected one of: {}",
                            kind.get_ref(),
                            Product::NAMES
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                    None
                }
            })
            .collect(),
        None => DEFAULT_PRODUCTS
            .iter()
            .map(|(id, p)| (id.to_string(), *p))
            .collect(),
    };

    let networks = match file.network {
        None => default_networks(),
        Some(list) => {
            let mut prefix_owner: BTreeMap<String, String> = BTreeMap::new();
            let mut product_owner: BTreeMap<String, String> = BTreeMap::new();
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
                    if !products.iter().any(|(p, _)| p == id.get_ref()) {
                        problems.push(Problem::at(
                            id.span(),
                            format!(
                                "product id {} is not in [products]; add it there with its kind",
                                id.get_ref()
                            ),
                        ));
                    } else if let Some(other) =
                        product_owner.insert(id.get_ref().clone(), n.name.clone())
                    {
                        problems.push(Problem::at(
                            id.span(),
                            format!(
                                "product id {} already belongs to network {other}: each product id belongs to one network",
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
        token_path,
        score_path,
        fields,
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
        assert_eq!(s.token_path, "/oauth/token");
        assert_eq!(s.score_path, "/api/v1/score");
        assert_eq!(s.fields.mobile_number, "mobileNumber");
        assert_eq!(s.token_lifetime_secs, 3600);
        assert_eq!(s.network_of_prefix("0918").unwrap().name, "SMART");
        assert_eq!(s.network_of_prefix("0917").unwrap().name, "Globe");
        assert_eq!(s.network_of_product("40").unwrap().name, "SMART");
        assert_eq!(s.product("31"), Some(Product::MsisdnCheck));
    }

    #[test]
    fn bad_values_are_all_reported() {
        let text = r#"
[auth]
client_id = "a"
client_secret = "b"
token_lifetime_seconds = 0

[api]
score_path = "score"

[products]
10 = "scores"

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
        assert_eq!(problems.len(), 6, "{messages:#?}");
        assert!(messages
            .iter()
            .any(|m| m.contains("token_lifetime_seconds")));
        assert!(messages.iter().any(|m| m.contains("api.score_path")));
        assert!(messages.iter().any(|m| m.contains("unknown product kind")));
        assert!(messages.iter().any(|m| m.contains("4 digits")));
        assert!(messages.iter().any(|m| m.contains("not in [products]")));
        assert!(messages.iter().any(|m| m.contains("already belongs")));
    }
}
