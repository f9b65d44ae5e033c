//! The Feature Store's scenario-file settings: the resources that exist when the
//! server starts (and again after `/__admin/reset`).
//!
//! ```toml
//! [[entity_type]]
//! name = "projects/test-project/locations/asia-southeast1/featurestores/finscore_fs/entityTypes/score_features"
//! description = "FinScore answers, one entity per subscriber number"
//! value_type = "STRING"            # of every feature below (default STRING)
//! features = ["code", "score", "band"]
//! ```
//!
//! The featurestore in each name is created too.

use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::names::{check_id, IdKind};
use super::values::ValueType;
use crate::scenario::{parse_settings, Problem, Settings};

/// One pre-created entity type with its features.
#[derive(Debug, Clone)]
pub struct Precreated {
    /// `projects/{p}/locations/{l}/featurestores/{fs}`.
    pub featurestore: String,
    /// The full entity type name.
    pub name: String,
    pub description: Option<String>,
    pub features: Vec<(String, ValueType)>,
}

#[derive(Debug, Default)]
pub struct FeatureStoreSettings {
    pub entity_types: Vec<Precreated>,
}

#[derive(Deserialize)]
struct SettingsFile {
    #[serde(default)]
    entity_type: Vec<EntityTypeSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntityTypeSpec {
    name: Spanned<String>,
    description: Option<String>,
    value_type: Option<Spanned<String>>,
    #[serde(default)]
    features: Vec<Spanned<String>>,
}

pub fn compile(text: &str) -> Result<Settings, Vec<Problem>> {
    let file: SettingsFile = parse_settings(text)?;
    let mut problems = Vec::new();
    let mut out: Vec<Precreated> = Vec::new();
    for spec in file.entity_type {
        let name = spec.name.get_ref();
        let parts: Vec<&str> = name.split('/').collect();
        let shape_ok = parts.len() == 8
            && parts[0] == "projects"
            && parts[2] == "locations"
            && parts[4] == "featurestores"
            && parts[6] == "entityTypes"
            && [1, 3].iter().all(|i| !parts[*i].is_empty());
        if !shape_ok {
            problems.push(Problem::at(
                spec.name.span(),
                "entity_type.name must be projects/{project}/locations/{location}/featurestores/{featurestore}/entityTypes/{entity_type}",
            ));
            continue;
        }
        for (id, kind) in [
            (parts[5], IdKind::Featurestore),
            (parts[7], IdKind::EntityType),
        ] {
            if let Err(e) = check_id(kind, id) {
                problems.push(Problem::at(spec.name.span(), e.message));
            }
        }
        if out.iter().any(|p| &p.name == name) {
            problems.push(Problem::at(
                spec.name.span(),
                format!("entity type {name} is listed twice"),
            ));
        }
        let value_type = match &spec.value_type {
            None => ValueType::String,
            Some(v) => ValueType::parse(v.get_ref()).unwrap_or_else(|| {
                problems.push(Problem::at(
                    v.span(),
                    format!(
                        "unknown value_type `{}`; expected one of: {}",
                        v.get_ref(),
                        ValueType::names()
                    ),
                ));
                ValueType::String
            }),
        };
        let mut features: Vec<(String, ValueType)> = Vec::new();
        for f in &spec.features {
            if let Err(e) = check_id(IdKind::Feature, f.get_ref()) {
                problems.push(Problem::at(f.span(), e.message));
            } else if features.iter().any(|(g, _)| g == f.get_ref()) {
                problems.push(Problem::at(
                    f.span(),
                    format!("feature {} is listed twice", f.get_ref()),
                ));
            } else {
                features.push((f.get_ref().clone(), value_type));
            }
        }
        out.push(Precreated {
            featurestore: parts[..6].join("/"),
            name: name.clone(),
            description: spec.description,
            features,
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Arc::new(FeatureStoreSettings { entity_types: out }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_ids_and_types_are_all_reported() {
        let text = r#"
[[entity_type]]
name = "projects/p/featurestores/x"

[[entity_type]]
name = "projects/p/locations/l/featurestores/1fs/entityTypes/Score"
value_type = "TEXT"
features = ["ok", "Not-ok", "ok"]
"#;
        let problems = compile(text).unwrap_err();
        let m: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(problems.len(), 6, "{m:#?}");
    }

    #[test]
    fn a_valid_entity_type_compiles_with_string_features_by_default() {
        let text = r#"
[[entity_type]]
name = "projects/p/locations/l/featurestores/fs/entityTypes/et"
features = ["code", "score"]
"#;
        let s = compile(text)
            .unwrap()
            .downcast::<FeatureStoreSettings>()
            .unwrap();
        assert_eq!(
            s.entity_types[0].featurestore,
            "projects/p/locations/l/featurestores/fs"
        );
        assert_eq!(
            s.entity_types[0].features[1],
            ("score".into(), ValueType::String)
        );
    }
}
