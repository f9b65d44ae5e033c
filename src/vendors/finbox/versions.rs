//! Predictor versions (`DC_PREDICTORS_VERSION`): which `version`s are accepted and
//! which catalogue answers each, from a scenario file's `[versions]`.
//!
//! FinBox issues the version per client account, so real clients send small integers
//! other than 1 and 2 (two lenders in production send 6). Without `[versions]`, any
//! integer ≥ 1 is accepted: 1 and 2 answer with their own shipped catalogues and every
//! other version with [`data::FALLBACK`] (2, the newest). A version's values are drawn
//! per (seed, customer, version), so version 6 answers with version 2's names but its
//! own values. `[versions]` can restrict the accepted versions, give a version another
//! shipped catalogue or a catalogue of its own, and change the fallback:
//!
//! ```toml
//! [versions]
//! accepted = [1, 2, 6, 7]        # optional; others get 400 `Predictors version <n> not found`
//! fallback = 1                   # optional; the shipped catalogue of undeclared versions
//! [versions.catalogues.6]         # the version as plain digits (`06` is refused)
//! catalogue = 1                  # a shipped catalogue: 1 or 2
//! [versions.catalogues.7]
//! predictors = [                 # or one of its own, in the fixtures' format
//!   { name = "risk_score", kind = "score", min = 300, max = 900, decimals = 0 },
//! ]
//! ```
//!
//! Every mistake is reported at its location, all at once; unknown keys are refused.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::data::{self, Catalogue, Spec};
use crate::scenario::Problem;

/// `[versions]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionsSpec {
    accepted: Option<Spanned<Vec<Spanned<i64>>>>,
    fallback: Option<Spanned<i64>>,
    // Not `Spanned`: the settings merge writes a table holding only `predictors` back
    // as `[[versions.catalogues.N.predictors]]`, an implicit table `Spanned` cannot
    // read; problems with a whole table point at its key.
    catalogues: Option<BTreeMap<Spanned<String>, CatalogueSpec>>,
}

/// `[versions.catalogues.N]` as written: exactly one of the two keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueSpec {
    catalogue: Option<Spanned<i64>>,
    predictors: Option<Vec<Spanned<Spec>>>,
}

/// Where a declared version's predictors come from.
#[derive(Debug)]
enum Source {
    Shipped(i64),
    Own(Catalogue),
}

/// The compiled `[versions]`.
#[derive(Debug)]
pub struct Versions {
    /// `None`: every integer ≥ 1.
    accepted: Option<Vec<i64>>,
    /// The shipped catalogue of a version that has none of its own.
    fallback: i64,
    declared: Vec<(i64, Source)>,
}

impl Default for Versions {
    fn default() -> Self {
        Self {
            accepted: None,
            fallback: data::FALLBACK,
            declared: Vec::new(),
        }
    }
}

impl Versions {
    /// The catalogue answering `version`, or `None` when it is not accepted.
    /// The accepted versions, as `vendor-mock list` shows them.
    pub fn describe(&self) -> String {
        match &self.accepted {
            None => "any integer ≥ 1".to_string(),
            Some(v) => v.iter().map(i64::to_string).collect::<Vec<_>>().join(", "),
        }
    }

    pub fn catalogue(&self, version: i64) -> Option<&Catalogue> {
        if version < 1
            || self
                .accepted
                .as_ref()
                .is_some_and(|a| !a.contains(&version))
        {
            return None;
        }
        let shipped = match self.declared.iter().find(|(v, _)| *v == version) {
            Some((_, Source::Own(c))) => return Some(c),
            Some((_, Source::Shipped(s))) => *s,
            None if data::VERSIONS.contains(&version) => version,
            None => self.fallback,
        };
        data::catalogue(shipped)
    }

    /// Compile `[versions]`, adding every problem to `problems`.
    pub fn compile(spec: VersionsSpec, problems: &mut Vec<Problem>) -> Self {
        let mut out = Self::default();
        if let Some(list) = spec.accepted {
            let span = list.span();
            let list = list.into_inner();
            let none_given = list.is_empty();
            let mut accepted: Vec<i64> = Vec::new();
            for v in list {
                if *v.get_ref() < 1 {
                    problems.push(Problem::at(
                        v.span(),
                        format!(
                            "versions.accepted: a version is an integer ≥ 1, found {}",
                            v.get_ref()
                        ),
                    ));
                } else if accepted.contains(v.get_ref()) {
                    problems.push(Problem::at(
                        v.span(),
                        format!("versions.accepted: {} is listed twice", v.get_ref()),
                    ));
                } else {
                    accepted.push(*v.get_ref());
                }
            }
            if none_given {
                problems.push(Problem::at(
                    span,
                    "versions.accepted must list at least one version (leave it out to accept any integer ≥ 1)",
                ));
            }
            out.accepted = Some(accepted);
        }
        if let Some(f) = spec.fallback {
            if data::VERSIONS.contains(f.get_ref()) {
                out.fallback = *f.get_ref();
            } else {
                problems.push(Problem::at(
                    f.span(),
                    format!(
                        "versions.fallback must be a shipped catalogue ({}), found {}",
                        shipped_list(),
                        f.get_ref()
                    ),
                ));
            }
        }
        for (key, table) in spec.catalogues.unwrap_or_default() {
            // Only the plain spelling: `06` or `"+7"` would otherwise be a second key
            // for a version already declared, and one of the two would silently lose.
            let version = match key.get_ref().parse::<i64>() {
                Ok(v) if v >= 1 && *key.get_ref() == v.to_string() => v,
                Ok(v) if v >= 1 => {
                    problems.push(Problem::at(
                        key.span(),
                        format!(
                            "versions.catalogues: write version `{}` as `{v}`",
                            key.get_ref()
                        ),
                    ));
                    continue;
                }
                _ => {
                    problems.push(Problem::at(
                        key.span(),
                        format!(
                            "versions.catalogues: `{}` is not a version (an integer ≥ 1)",
                            key.get_ref()
                        ),
                    ));
                    continue;
                }
            };
            if out.accepted.as_ref().is_some_and(|a| !a.contains(&version)) {
                problems.push(Problem::at(
                    key.span(),
                    format!("versions.catalogues: version {version} is not in versions.accepted, so its catalogue would never answer"),
                ));
            }
            let span = key.span();
            let source = match (table.catalogue, table.predictors) {
                (Some(c), None) if data::VERSIONS.contains(c.get_ref()) => {
                    Source::Shipped(*c.get_ref())
                }
                (Some(c), None) => {
                    problems.push(Problem::at(
                        c.span(),
                        format!(
                            "versions.catalogues.{version}.catalogue must be a shipped catalogue ({}), found {}",
                            shipped_list(),
                            c.get_ref()
                        ),
                    ));
                    continue;
                }
                (None, Some(specs)) => {
                    let spans: Vec<_> = specs.iter().map(Spanned::span).collect();
                    let specs = specs.into_iter().map(Spanned::into_inner).collect();
                    match Catalogue::from_specs(specs) {
                        Ok(c) => Source::Own(c),
                        Err((i, message)) => {
                            let at = spans.get(i).cloned().unwrap_or(span);
                            problems.push(Problem::at(
                                at,
                                format!("versions.catalogues.{version}.predictors: {message}"),
                            ));
                            continue;
                        }
                    }
                }
                (Some(_), Some(_)) | (None, None) => {
                    problems.push(Problem::at(
                        span,
                        format!("versions.catalogues.{version} needs exactly one of `catalogue` (a shipped catalogue: {}) or `predictors` (a list of its own)", shipped_list()),
                    ));
                    continue;
                }
            };
            out.declared.push((version, source));
        }
        out
    }
}

fn shipped_list() -> String {
    data::VERSIONS
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(text: &str) -> Result<Versions, Vec<String>> {
        #[derive(Deserialize)]
        struct File {
            versions: VersionsSpec,
        }
        let file: File = toml::from_str(text).map_err(|e| vec![e.message().to_string()])?;
        let mut problems = Vec::new();
        let v = Versions::compile(file.versions, &mut problems);
        if problems.is_empty() {
            Ok(v)
        } else {
            Err(problems
                .into_iter()
                .map(|p| {
                    let at = p.span.map_or(String::new(), |s| text[s].to_string());
                    format!("{} @ {at}", p.message)
                })
                .collect())
        }
    }

    fn names(c: Option<&Catalogue>) -> Option<Vec<&str>> {
        c.map(Catalogue::names)
    }

    #[test]
    fn without_versions_every_integer_from_1_is_accepted_and_others_use_the_fallback() {
        let v = Versions::default();
        assert_eq!(names(v.catalogue(1)), names(data::catalogue(1)));
        assert_eq!(names(v.catalogue(2)), names(data::catalogue(2)));
        for n in [3, 6, 99, i64::MAX] {
            assert_eq!(names(v.catalogue(n)), names(data::catalogue(2)), "{n}");
        }
        assert!(v.catalogue(0).is_none() && v.catalogue(-1).is_none());
    }

    #[test]
    fn accepted_versions_restrict_and_catalogues_are_declared_per_version() {
        let v = compile(
            r#"
[versions]
accepted = [1, 6, 7]
fallback = 1
[versions.catalogues.6]
catalogue = 2
[versions.catalogues.7]
predictors = [
  { name = "risk_score", kind = "score", min = 300, max = 900, decimals = 0 },
  { name = "risk_band", kind = "band", of = "risk_score", bands = [[300, "E"], [700, "A"]] },
]
"#,
        )
        .unwrap();
        assert!(v.catalogue(2).is_none() && v.catalogue(3).is_none());
        assert_eq!(names(v.catalogue(1)), names(data::catalogue(1)));
        assert_eq!(names(v.catalogue(6)), names(data::catalogue(2)));
        assert_eq!(names(v.catalogue(7)), Some(vec!["risk_score", "risk_band"]));
        let fallback = compile("[versions]\nfallback = 1\n").unwrap();
        assert_eq!(names(fallback.catalogue(6)), names(data::catalogue(1)));
    }

    #[test]
    fn a_file_written_back_by_the_settings_merge_compiles_the_same() {
        let text = r#"
[versions]
accepted = [6, 7]
[versions.catalogues.6]
catalogue = 1
[versions.catalogues.7]
predictors = [
  { name = "risk_score", kind = "score", min = 300, max = 900, decimals = 0 },
  { name = "risk_band", kind = "band", of = "risk_score", bands = [[300, "E"], [700, "A"]] },
]
"#;
        let table: toml::Table = toml::from_str(text).unwrap();
        let merged = toml::to_string(&table).unwrap();
        let v = compile(&merged).unwrap();
        assert_eq!(names(v.catalogue(7)), Some(vec!["risk_score", "risk_band"]));
    }

    #[test]
    fn every_mistake_is_reported_at_its_value() {
        let got = compile(
            r#"
[versions]
accepted = [0, 6, 6]
fallback = 5
[versions.catalogues.x]
catalogue = 1
[versions.catalogues.8]
catalogue = 1
[versions.catalogues.6]
catalogue = 3
[versions.catalogues.06]
catalogue = 2
[versions.catalogues."+6"]
catalogue = 2
[versions.catalogues.0]
catalogue = 1
"#,
        )
        .unwrap_err();
        assert_eq!(
            got,
            [
                "versions.accepted: a version is an integer ≥ 1, found 0 @ 0",
                "versions.accepted: 6 is listed twice @ 6",
                "versions.fallback must be a shipped catalogue (1 or 2), found 5 @ 5",
                "versions.catalogues: write version `+6` as `6` @ \"+6\"",
                "versions.catalogues: `0` is not a version (an integer ≥ 1) @ 0",
                "versions.catalogues: write version `06` as `6` @ 06",
                "versions.catalogues.6.catalogue must be a shipped catalogue (1 or 2), found 3 @ 3",
                "versions.catalogues: version 8 is not in versions.accepted, so its catalogue would never answer @ 8",
                "versions.catalogues: `x` is not a version (an integer ≥ 1) @ x",
            ]
        );
    }

    #[test]
    fn a_version_spelt_two_ways_is_refused_so_neither_silently_wins() {
        let got = compile(
            "[versions.catalogues.6]\ncatalogue = 1\n[versions.catalogues.06]\ncatalogue = 2\n",
        )
        .unwrap_err();
        assert_eq!(got, ["versions.catalogues: write version `06` as `6` @ 06"]);
        let plus = compile("[versions.catalogues.\"+7\"]\ncatalogue = 1\n").unwrap_err();
        assert_eq!(
            plus,
            ["versions.catalogues: write version `+7` as `7` @ \"+7\""]
        );
    }

    #[test]
    fn a_predictor_list_that_could_not_be_drawn_is_refused_at_that_predictor() {
        let cases = [
            (
                r#"{ name = "a", kind = "count", min = 5, max = 1 }"#,
                "a: min 5 is above max 1",
            ),
            (
                r#"{ name = "a", kind = "score", min = 500 }"#,
                "a: min 500 is above max 1 (max defaults to 1)",
            ),
            (
                r#"{ name = "a", kind = "count", max = -3 }"#,
                "a: min 0 is above max -3 (min defaults to 0)",
            ),
            (
                r#"{ name = "a", kind = "amount", min = -1e308, max = 1e308 }"#,
                "a: min must be from -1e15 to 1e15",
            ),
            (
                r#"{ name = "a", kind = "days", max = 1e300 }"#,
                "a: max must be from -1e15 to 1e15",
            ),
            (
                r#"{ name = "a", kind = "score", min = -2e15, max = 0 }"#,
                "a: min must be from -1e15 to 1e15",
            ),
            (
                r#"{ name = "a", kind = "flag", p = 2 }"#,
                "a: p must be from 0 to 1",
            ),
            (
                r#"{ name = "a", kind = "count", max = nan }"#,
                "a: max must be a finite number",
            ),
            (
                r#"{ name = "a", kind = "ratio", num = "b", den = "b" }"#,
                "a: b must come earlier",
            ),
            (
                r#"{ name = "a", kind = "wobble" }"#,
                "a: unknown kind wobble",
            ),
        ];
        for (predictor, want) in cases {
            let text = format!("[versions.catalogues.9]\npredictors = [{predictor}]\n");
            let got = compile(&text).unwrap_err();
            assert_eq!(
                got,
                [format!(
                    "versions.catalogues.9.predictors: {want} @ {predictor}"
                )],
                "{predictor}"
            );
        }
        let empty = compile("[versions.catalogues.9]\npredictors = []\n").unwrap_err();
        assert_eq!(
            empty,
            ["versions.catalogues.9.predictors: a catalogue needs at least one predictor @ 9"]
        );
        let unknown =
            compile("[versions.catalogues.9]\npredictors = [{ name = \"a\", kind = \"flag\", p = 0.5, typo = 1 }]\n")
                .unwrap_err();
        assert!(unknown[0].contains("unknown field `typo`"), "{unknown:?}");
    }
}
