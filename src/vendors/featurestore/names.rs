//! Resource names, ids and the REST paths of the legacy Feature Store.
//!
//! Paths are `/v1/{resource name}` with an optional custom verb after a colon in the
//! last segment (`…/entityTypes/score_features:writeFeatureValues`). A client that
//! percent-encodes the colon (`%3A`) is understood too.

use super::errors::ApiError;

/// Which id is being checked (they differ only in length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Featurestore,
    EntityType,
    Feature,
}

impl IdKind {
    fn label(self) -> &'static str {
        match self {
            IdKind::Featurestore => "featurestore_id",
            IdKind::EntityType => "entity_type_id",
            IdKind::Feature => "feature_id",
        }
    }
    /// Featurestore and entity type ids: at most 60 characters; feature ids: 128 (the
    /// current CreateFeatureRequest reference; older ones said 60).
    fn max_len(self) -> usize {
        match self {
            IdKind::Feature => 128,
            _ => 60,
        }
    }
}

/// `[a-z0-9_]`, first character not a digit, 1 to the kind's maximum characters.
pub fn check_id(kind: IdKind, id: &str) -> Result<(), ApiError> {
    let chars_ok = id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let first_ok = id.bytes().next().is_some_and(|b| !b.is_ascii_digit());
    if chars_ok && first_ok && id.len() <= kind.max_len() {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "Invalid {} \"{id}\": it must be 1 to {} characters of [a-z0-9_] and must not start with a number.",
            kind.label(),
            kind.max_len()
        )))
    }
}

/// The custom methods on an entity type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Write,
    Read,
    StreamingRead,
}

/// What a path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `projects/{p}/locations/{l}`: list or create featurestores.
    Featurestores {
        parent: String,
    },
    Featurestore {
        name: String,
    },
    /// A featurestore name: list or create its entity types.
    EntityTypes {
        parent: String,
    },
    EntityType {
        name: String,
    },
    /// An entity type name: list or create its features.
    Features {
        parent: String,
    },
    Feature {
        name: String,
    },
    Verb {
        entity_type: String,
        verb: Verb,
    },
    Operation {
        name: String,
    },
}

/// Parse a path below the vendor prefix; `None` when it addresses nothing we serve.
pub fn route(path: &str) -> Option<Route> {
    let path = path.replace("%3A", ":").replace("%3a", ":");
    let rest = path.strip_prefix("/v1/")?;
    let (rest, verb) = match rest.rsplit_once('/') {
        Some((head, last)) => match last.split_once(':') {
            Some((seg, v)) => (format!("{head}/{seg}"), Some(v.to_string())),
            None => (rest.to_string(), None),
        },
        None => (rest.to_string(), None),
    };
    let segs: Vec<&str> = rest.split('/').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return None;
    }
    // Collection names at even positions, ids at odd ones.
    const SHAPE: [&str; 5] = [
        "projects",
        "locations",
        "featurestores",
        "entityTypes",
        "features",
    ];
    if segs.len() >= 2 && segs[segs.len() - 2] == "operations" && verb.is_none() {
        let owner = &segs[..segs.len() - 2];
        let ok = owner.len() >= 6
            && owner.len() % 2 == 0
            && owner.iter().step_by(2).zip(SHAPE).all(|(a, b)| *a == b);
        return ok.then(|| Route::Operation { name: rest.clone() });
    }
    if segs.len() > 10 || !segs.iter().step_by(2).zip(SHAPE).all(|(a, b)| *a == b) {
        return None;
    }
    let name = rest.clone();
    let parent = |n: usize| segs[..n].join("/");
    let r = match (segs.len(), verb.as_deref()) {
        (5, None) => Route::Featurestores { parent: parent(4) },
        (6, None) => Route::Featurestore { name },
        (7, None) => Route::EntityTypes { parent: parent(6) },
        (8, None) => Route::EntityType { name },
        (8, Some(v)) => Route::Verb {
            entity_type: name,
            verb: match v {
                "writeFeatureValues" => Verb::Write,
                "readFeatureValues" => Verb::Read,
                "streamingReadFeatureValues" => Verb::StreamingRead,
                _ => return None,
            },
        },
        (9, None) => Route::Features { parent: parent(8) },
        (10, None) => Route::Feature { name },
        _ => return None,
    };
    Some(r)
}

/// The last id of a resource name.
pub fn last_id(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// The parent of a resource name (`…/entityTypes/et` → `…/featurestores/fs`).
pub fn parent_of(name: &str) -> &str {
    let mut it = name.rmatch_indices('/');
    it.next();
    it.next().map_or(name, |(i, _)| &name[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    const FS: &str = "projects/p/locations/l/featurestores/fs";

    #[test]
    fn paths_route_to_their_resources_and_verbs() {
        let cases = [
            ("/v1/projects/p/locations/l/featurestores", Some(Route::Featurestores { parent: "projects/p/locations/l".into() })),
            ("/v1/projects/p/locations/l/featurestores/fs", Some(Route::Featurestore { name: FS.into() })),
            ("/v1/projects/p/locations/l/featurestores/fs/entityTypes", Some(Route::EntityTypes { parent: FS.into() })),
            ("/v1/projects/p/locations/l/featurestores/fs/entityTypes/et", Some(Route::EntityType { name: format!("{FS}/entityTypes/et") })),
            ("/v1/projects/p/locations/l/featurestores/fs/entityTypes/et:writeFeatureValues", Some(Route::Verb { entity_type: format!("{FS}/entityTypes/et"), verb: Verb::Write })),
            ("/v1/projects/p/locations/l/featurestores/fs/entityTypes/et%3AreadFeatureValues", Some(Route::Verb { entity_type: format!("{FS}/entityTypes/et"), verb: Verb::Read })),
            ("/v1/projects/p/locations/l/featurestores/fs/entityTypes/et:streamingReadFeatureValues", Some(Route::Verb { entity_type: format!("{FS}/entityTypes/et"), verb: Verb::StreamingRead })),
            ("/v1/projects/p/locations/l/featurestores/fs/entityTypes/et/features", Some(Route::Features { parent: format!("{FS}/entityTypes/et") })),
            ("/v1/projects/p/locations/l/featurestores/fs/entityTypes/et/features/f", Some(Route::Feature { name: format!("{FS}/entityTypes/et/features/f") })),
            ("/v1/projects/p/locations/l/featurestores/fs/operations/12", Some(Route::Operation { name: format!("{FS}/operations/12") })),
            ("/v1/projects/p/locations/l/featurestores/fs/entityTypes/et:deleteFeatureValues", None),
            ("/v1/projects/p/locations/l/featurestores/fs:writeFeatureValues", None),
            ("/v1/projects/p/locations/l/featurestores/fs/entityTypes/et/features/f/x", None),
            ("/v1/projects/p/locations/l/models/m", None),
            ("/v1/projects/p/locations/l/featurestores//entityTypes", None),
            ("/v2/projects/p/locations/l/featurestores", None),
            ("/v1/projects/p/operations/1", None),
            ("/", None),
        ];
        for (path, want) in cases {
            assert_eq!(route(path), want, "{path}");
        }
    }

    #[test]
    fn ids_follow_googles_rules() {
        for ok in ["finscore_fs", "a", "_x", "score_features2", &"a".repeat(60)] {
            assert!(check_id(IdKind::Featurestore, ok).is_ok(), "{ok}");
        }
        for bad in ["", "1fs", "Fs", "fs-1", "fs.x", "ß", &"a".repeat(61)] {
            assert!(check_id(IdKind::Featurestore, bad).is_err(), "{bad}");
        }
        assert!(check_id(IdKind::Feature, &"a".repeat(128)).is_ok());
        assert!(check_id(IdKind::Feature, &"a".repeat(129)).is_err());
    }

    #[test]
    fn parents_and_ids_come_from_names() {
        let et = format!("{FS}/entityTypes/et");
        assert_eq!(parent_of(&et), FS);
        assert_eq!(last_id(&et), "et");
    }
}
