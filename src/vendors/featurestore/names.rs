//! Resource names, ids and the REST paths of the legacy Feature Store.
//!
//! Paths are `/v1/{resource name}` with an optional custom verb after a colon in the
//! last segment (`…/entityTypes/score_features:writeFeatureValues`). A client that
//! percent-encodes the colon (`%3A`) is understood too. Operations are also served under
//! `/ui/`, because Google's generated REST clients list the `/ui/` binding of
//! `GetOperation` first and poll there.
//!
//! [`route`] sorts every request into one of three: a route the mock emulates, a route
//! Google serves that the mock does not ([`Routed::Unimplemented`], answered 501
//! `UNIMPLEMENTED` so a client cannot take "not emulated" for "does not exist"), or a
//! path and method Google does not serve at all ([`Routed::NotFound`]). Google's routes
//! are under `/v1/`, `/v1beta1/` or `/ui/`: the top-level collections
//! ([`TOP_COLLECTIONS`]: Model Garden's `publishers/`, `datasets/`, …),
//! `projects/{p}/locations` and a location, the methods on a location
//! ([`LOCATION_VERBS`]), on the API itself ([`API_VERBS`]) and on Model Garden's EULA, and
//! below a location the collections Vertex AI has there ([`VERTEX_COLLECTIONS`]), spelt
//! exactly; any other name there (`featurestore`, `featurestorEs`) is no route of
//! Google's (404). The lists are the HTTP bindings of google-cloud-aiplatform 2.7.0 (and
//! of gcloud 528.0.0 for the collections), one list for v1 and v1beta1.
//!
//! `operations` is a collection only where a collection name stands: ids allow
//! `[a-z0-9_]`, so a featurestore, entity type or feature may be called `operations`.

use std::borrow::Cow;

use hyper::Method;

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

/// The three resource kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Featurestore,
    EntityType,
    Feature,
}

impl Kind {
    pub fn title(self) -> &'static str {
        match self {
            Kind::Featurestore => "Featurestore",
            Kind::EntityType => "EntityType",
            Kind::Feature => "Feature",
        }
    }
    /// The collection segment, also the list field of a List…Response.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Featurestore => "featurestores",
            Kind::EntityType => "entityTypes",
            Kind::Feature => "features",
        }
    }
    /// The kind whose resources are this kind's parents (`None`: a location).
    pub fn parent(self) -> Option<Kind> {
        match self {
            Kind::Featurestore => None,
            Kind::EntityType => Some(Kind::Featurestore),
            Kind::Feature => Some(Kind::EntityType),
        }
    }
    pub fn child(self) -> Option<Kind> {
        match self {
            Kind::Featurestore => Some(Kind::EntityType),
            Kind::EntityType => Some(Kind::Feature),
            Kind::Feature => None,
        }
    }
    pub fn id_kind(self) -> IdKind {
        match self {
            Kind::Featurestore => IdKind::Featurestore,
            Kind::EntityType => IdKind::EntityType,
            Kind::Feature => IdKind::Feature,
        }
    }
}

/// What an emulated request addresses. A value call's entity type is borrowed from the
/// path when the path spells it as it is (the usual case: see [`value_call`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// List (GET) or create (POST) in a collection; `parent` is the location,
    /// featurestore or entity type name.
    Collection { kind: Kind, parent: String },
    /// Get (GET), update (PATCH) or delete (DELETE) one resource.
    Resource { kind: Kind, name: String },
    /// `POST …/entityTypes/{et}/features:batchCreate`.
    BatchCreate { entity_type: String },
    /// `POST …/entityTypes/{et}:writeFeatureValues` and the two reads.
    Verb {
        entity_type: Cow<'a, str>,
        verb: Verb,
    },
    /// `GET /v1/…/operations/{id}` or `GET /ui/…/operations/{id}`.
    Operation { name: String },
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed<'a> {
    Served(Route<'a>),
    /// A Google route the mock does not emulate.
    Unimplemented,
    /// Google serves no such path and method.
    NotFound,
}

/// Collection names at even positions of a resource name, ids at odd ones.
const SHAPE: [&str; 5] = [
    "projects",
    "locations",
    "featurestores",
    "entityTypes",
    "features",
];

/// Custom methods Google serves on a featurestore and on an entity type (all POST)
/// that the mock does not emulate.
const FEATURESTORE_VERBS: &[&str] = &[
    "batchReadFeatureValues",
    "getIamPolicy",
    "setIamPolicy",
    "testIamPermissions",
];
const ENTITY_TYPE_VERBS: &[&str] = &[
    "importFeatureValues",
    "exportFeatureValues",
    "deleteFeatureValues",
    "getIamPolicy",
    "setIamPolicy",
    "testIamPermissions",
];

/// Vertex AI's collections (and singletons) directly under `projects/{p}/locations/{l}/`
/// in v1 and v1beta1, as the REST reference and the HTTP bindings of Google's client
/// libraries (google-cloud-aiplatform 2.7.0, gcloud 528.0.0) list them, each spelt
/// exactly: Google routes only these names (case counts), so only these answer 501
/// here. One list for both versions: a v1beta1-only name under `/v1/` answers 501 too.
const VERTEX_COLLECTIONS: &[&str] = &[
    "agents",
    "apps",
    "batchPredictionJobs",
    "cachedContents",
    "customJobs",
    "dataLabelingJobs",
    "datasets",
    "deploymentResourcePools",
    "edgeDeploymentJobs",
    "edgeDevices",
    "endpoints",
    "evaluationTasks",
    "exampleStores",
    "extensionControllers",
    "extensions",
    "featureGroups",
    "featureOnlineStores",
    "featurestores",
    "hyperparameterTuningJobs",
    "indexEndpoints",
    "indexes",
    "metadataStores",
    "migratableResources",
    "modelDeploymentMonitoringJobs",
    "modelMonitors",
    "models",
    "nasJobs",
    "notebookExecutionJobs",
    "notebookRuntimeTemplates",
    "notebookRuntimes",
    "onlineEvaluators",
    "operations",
    "persistentResources",
    "pipelineJobs",
    "publishers",
    "ragCorpora",
    "ragEngineConfig",
    "reasoningEngines",
    "schedules",
    "serverlessRayJobs",
    "solvers",
    "specialistPools",
    "studies",
    "tensorboards",
    "trainingPipelines",
    "tuningJobs",
];

/// A Vertex AI collection under a location other than the legacy Feature Store's.
fn other_collection(name: &str) -> bool {
    name != "featurestores" && VERTEX_COLLECTIONS.contains(&name)
}

/// Vertex AI's top-level collections, beside `projects/` (v1 and v1beta1), and whether
/// the name alone is a route too (`GET /v1/datasets` lists datasets; `/v1/endpoints`
/// alone is nothing): Model Garden's publisher models (`publishers/google/models/{m}`,
/// `…:generateContent`), datasets and their versions, Gemini's methods on an endpoint
/// (`endpoints/{e}:generateContent`, `:countTokens`, …), reasoning engines (their
/// queries, sessions and memories) and online evaluators' operations.
const TOP_COLLECTIONS: &[(&str, bool)] = &[
    ("datasets", true),
    ("endpoints", false),
    ("onlineEvaluators", false),
    ("publishers", false),
    ("reasoningEngines", true),
];

/// Custom methods on a location (`POST …/locations/{l}:retrieveContexts`): RAG's
/// contexts, evaluation, synthetic data and Model Garden's deployments.
const LOCATION_VERBS: &[&str] = &[
    "askContexts",
    "asyncRetrieveContexts",
    "augmentPrompt",
    "corroborateContent",
    "deploy",
    "deployPublisherModel",
    "evaluateDataset",
    "evaluateInstances",
    "generateInstanceRubrics",
    "generateSyntheticData",
    "recommendSpec",
    "retrieveContexts",
];

/// Custom methods on the API itself (`POST /v1beta1:evaluateInstances`).
const API_VERBS: &[&str] = &[
    "evaluateDataset",
    "evaluateInstances",
    "generateInstanceRubrics",
];

/// Custom methods on Model Garden's EULA, a singleton of a project
/// (`POST /v1beta1/projects/{p}/modelGardenEula:check`).
const EULA_VERBS: &[&str] = &["accept", "check"];

/// The value calls every client of the Feature Store makes most,
/// `POST /v1/projects/{p}/locations/{l}/featurestores/{fs}/entityTypes/{et}:{verb}` with
/// the colon as it is and no `%` anywhere: their entity type's name (borrowed from the
/// path) and verb, found by prefixes and three searches for `/` rather than the list of
/// segments [`route`] makes of any other path (which cost every value call an allocation
/// or two and several hundred instructions). `None` for any other path, which [`route`]
/// sorts the general way; what this takes, that gives the same (unit tests hold them
/// together).
fn value_call<'a>(method: &Method, path: &'a str) -> Option<(&'a str, Verb)> {
    if *method != Method::POST || memchr::memchr(b'%', path.as_bytes()).is_some() {
        return None;
    }
    let name = path.strip_prefix("/v1/")?;
    // Each id up to the next `/`, not empty, then the next collection's name.
    let mut rest = name.strip_prefix("projects/")?;
    for collection in ["locations/", "featurestores/", "entityTypes/"] {
        let slash = memchr::memchr(b'/', rest.as_bytes()).filter(|&i| i > 0)?;
        rest = rest[slash + 1..].strip_prefix(collection)?;
    }
    // The entity type's id, the last segment: no `/`, a colon after a non-empty id.
    let colon = rest.bytes().position(|b| b == b':' || b == b'/')?;
    if colon == 0 || rest.as_bytes()[colon] != b':' {
        return None;
    }
    let verb = match &rest[colon + 1..] {
        "readFeatureValues" => Verb::Read,
        "streamingReadFeatureValues" => Verb::StreamingRead,
        "writeFeatureValues" => Verb::Write,
        _ => return None,
    };
    let end = name.len() - (rest.len() - colon);
    Some((&name[..end], verb))
}

/// Sort a request below the vendor prefix.
pub fn route<'a>(method: &Method, path: &'a str) -> Routed<'a> {
    match value_call(method, path) {
        Some((entity_type, verb)) => Routed::Served(Route::Verb {
            entity_type: Cow::Borrowed(entity_type),
            verb,
        }),
        None => sort(method, path),
    }
}

/// [`route`] for any path, by its list of segments.
fn sort<'a>(method: &Method, path: &str) -> Routed<'a> {
    // `:verb` may come percent-encoded; most clients send it as it is.
    let path: Cow<'_, str> = if path.contains('%') {
        path.replace("%3A", ":").replace("%3a", ":").into()
    } else {
        path.into()
    };
    let Some((version, rest)) = path.trim_start_matches('/').split_once('/') else {
        // A method on the API itself (`POST /v1beta1:evaluateInstances`), or nothing.
        return match path.trim_start_matches('/').split_once(':') {
            Some(("v1" | "v1beta1", verb))
                if method == Method::POST && API_VERBS.contains(&verb) =>
            {
                Routed::Unimplemented
            }
            _ => Routed::NotFound,
        };
    };
    // Google's API versions and the console's `/ui/` front: anything below
    // `projects/` there is a Google route, served here or not.
    let google = matches!(version, "v1" | "v1beta1" | "ui");
    if !google {
        return Routed::NotFound;
    }
    // `head:verb`, the verb after the first colon of the last segment (not of a
    // path without another `/`). Borrowed, and split with byte loops and memchr, not
    // `str` searchers: every request of the vendor comes through here.
    let (head, verb) = match rest.bytes().rposition(|b| b == b'/') {
        Some(i) => match rest[i + 1..].bytes().position(|b| b == b':') {
            Some(j) => (&rest[..i + 1 + j], Some(&rest[i + 2 + j..])),
            None => (rest, None),
        },
        None => (rest, None),
    };
    let mut segs: Vec<&str> = Vec::with_capacity(12);
    let mut start = 0;
    for i in memchr::memchr_iter(b'/', head.as_bytes()) {
        segs.push(&head[start..i]);
        start = i + 1;
    }
    segs.push(&head[start..]);
    if segs.iter().any(|s| s.is_empty()) {
        return Routed::NotFound;
    }
    if segs[0] != "projects" {
        // Vertex AI's top-level collections (Model Garden's publisher models, datasets,
        // endpoints' Gemini methods, …), served by Google, not emulated.
        return match TOP_COLLECTIONS.iter().find(|(name, _)| *name == segs[0]) {
            Some(&(_, alone)) if segs.len() >= 2 || alone => Routed::Unimplemented,
            _ => Routed::NotFound,
        };
    }
    // Model Garden's EULA, a singleton of the project: two methods, not emulated.
    if segs.len() == 3 && segs[2] == "modelGardenEula" {
        return if method == Method::POST && verb.is_some_and(|v| EULA_VERBS.contains(&v)) {
            Routed::Unimplemented
        } else {
            Routed::NotFound
        };
    }
    // Under projects/{p}/locations/{l}/ but outside the legacy Feature Store: one of
    // Vertex AI's other collections (models, endpoints, featureOnlineStores, location
    // operations, …), served by Google, not emulated; any other name is no route.
    let elsewhere = || {
        if segs.len() >= 5 && segs[2] == "locations" && other_collection(segs[4]) {
            Routed::Unimplemented
        } else {
            Routed::NotFound
        }
    };
    // Operations of a featurestore, entity type or feature. `operations` is the
    // collection only where a collection name stands (even positions): at an odd one it
    // is an id, and `[a-z0-9_]` ids may well be "operations".
    if let Some(i) = (0..segs.len())
        .step_by(2)
        .find(|i| segs[*i] == "operations")
    {
        let owner = &segs[..i];
        let owner_ok = owner.len() >= 6
            && owner.len() <= 10
            && owner.len() % 2 == 0
            && owner.iter().step_by(2).zip(SHAPE).all(|(a, b)| *a == b);
        if !owner_ok {
            return elsewhere();
        }
        return match (segs.len() - i, verb, method) {
            (2, None, &Method::GET) if version != "v1beta1" => Routed::Served(Route::Operation {
                name: segs.join("/"),
            }),
            (2, None, &Method::GET | &Method::DELETE) => Routed::Unimplemented,
            (2, Some("cancel" | "wait"), &Method::POST) => Routed::Unimplemented,
            (1, None, &Method::GET) => Routed::Unimplemented,
            _ => Routed::NotFound,
        };
    }
    if segs.len() > 10 || !segs.iter().step_by(2).zip(SHAPE).all(|(a, b)| *a == b) {
        return elsewhere();
    }
    if segs.len() < 5 {
        // A location, the list of locations, and the methods on a location
        // (`…/locations/{l}:retrieveContexts`): served by Google, not emulated.
        let listed = segs.len() >= 3 && verb.is_none() && method == Method::GET;
        let location_method = segs.len() == 4
            && method == Method::POST
            && verb.is_some_and(|v| LOCATION_VERBS.contains(&v));
        return if listed || location_method {
            Routed::Unimplemented
        } else {
            Routed::NotFound
        };
    }
    let served = |r: Route<'a>| {
        if version == "v1" {
            Routed::Served(r)
        } else {
            // v1beta1 and the console front serve these too; only v1 is emulated.
            Routed::Unimplemented
        }
    };
    let name = || head.to_string();
    let parent = |n: usize| segs[..n].join("/");
    let kind_at = |len: usize| match len {
        5 | 6 => Kind::Featurestore,
        7 | 8 => Kind::EntityType,
        _ => Kind::Feature,
    };
    let m = method.clone();
    match (segs.len(), verb) {
        (5 | 7 | 9, None) if m == Method::GET || m == Method::POST => {
            let kind = kind_at(segs.len());
            served(Route::Collection {
                kind,
                parent: parent(segs.len() - 1),
            })
        }
        (6 | 8 | 10, None) if m == Method::GET || m == Method::PATCH || m == Method::DELETE => {
            served(Route::Resource {
                kind: kind_at(segs.len()),
                name: name(),
            })
        }
        (5, Some("searchFeatures")) if m == Method::GET => Routed::Unimplemented,
        (6, Some(v)) if m == Method::POST && FEATURESTORE_VERBS.contains(&v) => {
            Routed::Unimplemented
        }
        (8, Some(v)) if m == Method::POST => match v {
            "writeFeatureValues" => served(Route::Verb {
                entity_type: name().into(),
                verb: Verb::Write,
            }),
            "readFeatureValues" => served(Route::Verb {
                entity_type: name().into(),
                verb: Verb::Read,
            }),
            "streamingReadFeatureValues" => served(Route::Verb {
                entity_type: name().into(),
                verb: Verb::StreamingRead,
            }),
            v if ENTITY_TYPE_VERBS.contains(&v) => Routed::Unimplemented,
            _ => Routed::NotFound,
        },
        (9, Some("batchCreate")) if m == Method::POST => served(Route::BatchCreate {
            entity_type: parent(8),
        }),
        _ => Routed::NotFound,
    }
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

    fn served(r: Route) -> Routed {
        Routed::Served(r)
    }

    #[test]
    fn paths_route_to_their_resources_and_verbs() {
        let et = format!("{FS}/entityTypes/et");
        let cases = [
            ("GET", "/v1/projects/p/locations/l/featurestores", served(Route::Collection { kind: Kind::Featurestore, parent: "projects/p/locations/l".into() })),
            ("POST", "/v1/projects/p/locations/l/featurestores", served(Route::Collection { kind: Kind::Featurestore, parent: "projects/p/locations/l".into() })),
            ("GET", "/v1/projects/p/locations/l/featurestores/fs", served(Route::Resource { kind: Kind::Featurestore, name: FS.into() })),
            ("PATCH", "/v1/projects/p/locations/l/featurestores/fs", served(Route::Resource { kind: Kind::Featurestore, name: FS.into() })),
            ("DELETE", "/v1/projects/p/locations/l/featurestores/fs", served(Route::Resource { kind: Kind::Featurestore, name: FS.into() })),
            ("GET", "/v1/projects/p/locations/l/featurestores/fs/entityTypes", served(Route::Collection { kind: Kind::EntityType, parent: FS.into() })),
            ("DELETE", "/v1/projects/p/locations/l/featurestores/fs/entityTypes/et", served(Route::Resource { kind: Kind::EntityType, name: et.clone() })),
            ("POST", "/v1/projects/p/locations/l/featurestores/fs/entityTypes/et:writeFeatureValues", served(Route::Verb { entity_type: et.clone().into(), verb: Verb::Write })),
            ("POST", "/v1/projects/p/locations/l/featurestores/fs/entityTypes/et%3AreadFeatureValues", served(Route::Verb { entity_type: et.clone().into(), verb: Verb::Read })),
            ("POST", "/v1/projects/p/locations/l/featurestores/fs/entityTypes/et:streamingReadFeatureValues", served(Route::Verb { entity_type: et.clone().into(), verb: Verb::StreamingRead })),
            ("POST", "/v1/projects/p/locations/l/featurestores/fs/entityTypes/et/features", served(Route::Collection { kind: Kind::Feature, parent: et.clone() })),
            ("POST", "/v1/projects/p/locations/l/featurestores/fs/entityTypes/et/features:batchCreate", served(Route::BatchCreate { entity_type: et.clone() })),
            ("PATCH", "/v1/projects/p/locations/l/featurestores/fs/entityTypes/et/features/f", served(Route::Resource { kind: Kind::Feature, name: format!("{et}/features/f") })),
            ("GET", "/v1/projects/p/locations/l/featurestores/fs/operations/12", served(Route::Operation { name: format!("{FS}/operations/12") })),
            ("GET", "/ui/projects/p/locations/l/featurestores/fs/operations/12", served(Route::Operation { name: format!("{FS}/operations/12") })),
            ("GET", "/ui/projects/p/locations/l/featurestores/fs/entityTypes/et/features/f/operations/7", served(Route::Operation { name: format!("{et}/features/f/operations/7") })),
            // Google routes the mock does not emulate.
            ("POST", "/v1/projects/p/locations/l/featurestores/fs/entityTypes/et:importFeatureValues", Routed::Unimplemented),
            ("POST", "/v1/projects/p/locations/l/featurestores/fs/entityTypes/et:deleteFeatureValues", Routed::Unimplemented),
            ("POST", "/v1/projects/p/locations/l/featurestores/fs:batchReadFeatureValues", Routed::Unimplemented),
            ("GET", "/v1/projects/p/locations/l/featurestores:searchFeatures", Routed::Unimplemented),
            ("POST", "/v1/projects/p/locations/l/featurestores/fs/operations/12:cancel", Routed::Unimplemented),
            ("GET", "/v1/projects/p/locations/l/featurestores/fs/operations", Routed::Unimplemented),
            ("GET", "/v1/projects/p/locations/l/models/m", Routed::Unimplemented),
            ("POST", "/v1/projects/p/locations/l/endpoints/e:predict", Routed::Unimplemented),
            ("GET", "/v1/projects/p/locations/l", Routed::Unimplemented),
            ("GET", "/v1/projects/p/locations", Routed::Unimplemented),
            ("GET", "/v1/projects/p/locations/l/operations/5", Routed::Unimplemented),
            ("GET", "/v1beta1/projects/p/locations/l/featurestores", Routed::Unimplemented),
            ("GET", "/ui/projects/p/locations/l/featurestores/fs", Routed::Unimplemented),
            ("GET", "/v1/publishers/google/models/gemini-2.0-flash", Routed::Unimplemented),
            ("POST", "/v1/publishers/google/models/gemini-2.0-flash:generateContent", Routed::Unimplemented),
            ("GET", "/v1beta1/publishers/google/models", Routed::Unimplemented),
            // Paths and methods Google does not serve.
            ("POST", "/v1/projects/p/locations/l/featurestores/fs/entityTypes/et:nonsense", Routed::NotFound),
            ("POST", "/v1/projects/p/locations/l/featurestores/fs:writeFeatureValues", Routed::NotFound),
            ("GET", "/v1/projects/p/locations/l/featurestores/fs/entityTypes/et:writeFeatureValues", Routed::NotFound),
            ("PUT", "/v1/projects/p/locations/l/featurestores/fs", Routed::NotFound),
            ("POST", "/v1/projects/p/locations/l/featurestores/fs", Routed::NotFound),
            ("GET", "/v1/projects/p/locations/l/featurestores/fs/entityTypes/et/features/f/x", Routed::NotFound),
            ("GET", "/v1/projects/p/locations/l/featurestores//entityTypes", Routed::NotFound),
            ("GET", "/v2/projects/p/locations/l/featurestores", Routed::NotFound),
            ("GET", "/v1/projects/p/operations/1", Routed::NotFound),
            ("GET", "/v1/projects/p", Routed::NotFound),
            ("GET", "/v1/projects/p/locations/l/featurestores/fs/other", Routed::NotFound),
            ("GET", "/v1/projects/p/locations/l/featurestores/fs/other/operations/1", Routed::NotFound),
            // `operations` as an id is an id.
            ("GET", "/v1/projects/p/locations/l/featurestores/operations", served(Route::Resource { kind: Kind::Featurestore, name: "projects/p/locations/l/featurestores/operations".into() })),
            ("DELETE", "/v1/projects/p/locations/l/featurestores/operations", served(Route::Resource { kind: Kind::Featurestore, name: "projects/p/locations/l/featurestores/operations".into() })),
            ("GET", "/v1/projects/p/locations/l/featurestores/operations/entityTypes", served(Route::Collection { kind: Kind::EntityType, parent: "projects/p/locations/l/featurestores/operations".into() })),
            ("GET", "/v1/projects/p/locations/l/featurestores/fs/entityTypes/operations", served(Route::Resource { kind: Kind::EntityType, name: format!("{FS}/entityTypes/operations") })),
            ("POST", "/v1/projects/p/locations/l/featurestores/fs/entityTypes/operations:writeFeatureValues", served(Route::Verb { entity_type: format!("{FS}/entityTypes/operations").into(), verb: Verb::Write })),
            ("PATCH", "/v1/projects/p/locations/l/featurestores/fs/entityTypes/et/features/operations", served(Route::Resource { kind: Kind::Feature, name: format!("{et}/features/operations") })),
            ("GET", "/ui/projects/p/locations/l/featurestores/operations/operations/3", served(Route::Operation { name: "projects/p/locations/l/featurestores/operations/operations/3".into() })),
            ("GET", "/v1/projects/p/locations/l/featurestores/fs/entityTypes/operations/operations/3", served(Route::Operation { name: format!("{FS}/entityTypes/operations/operations/3") })),
            ("GET", "/v1/projects/operations/locations/operations/featurestores/fs", served(Route::Resource { kind: Kind::Featurestore, name: "projects/operations/locations/operations/featurestores/fs".into() })),
            ("GET", "/v1/other", Routed::NotFound),
            // Below a location, only Vertex AI's own collections are Google's routes.
            ("GET", "/v1/projects/p/locations/l/featurestorEs", Routed::NotFound),
            ("GET", "/v1/projects/p/locations/l/featurestore/fs", Routed::NotFound),
            ("POST", "/v1/projects/p/locations/l/Featurestores/fs/entityTypes/et:readFeatureValues", Routed::NotFound),
            ("GET", "/v1beta1/projects/p/locations/l/nonsense", Routed::NotFound),
            ("GET", "/v1/projects/p/locations/l/featureOnlineStores", Routed::Unimplemented),
            ("GET", "/v1/projects/p/locations/l/featureonlinestores", Routed::NotFound),
            ("GET", "/v1beta1/projects/p/locations/l/serverlessRayJobs/j", Routed::Unimplemented),
            ("GET", "/v1/projects/p/locations/l/tuningJobs/j/operations/1", Routed::Unimplemented),
            ("GET", "/v1/projects/p/locations/l/tuningjobs/j/operations/1", Routed::NotFound),
            ("GET", "/v1/publishers", Routed::NotFound),
            ("GET", "/", Routed::NotFound),
        ];
        for (method, path, want) in cases {
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            assert_eq!(route(&m, path), want, "{method} {path}");
            assert_as_before(&m, path);
        }
    }

    /// Google's other routes outside a location's collections (google-cloud-aiplatform
    /// 2.7.0's HTTP bindings) are 501; a method Google does not have there, a wrong HTTP
    /// method or a case flip is 404.
    #[test]
    fn vertex_routes_outside_the_feature_store_are_501_only_where_google_has_them() {
        use Routed::{NotFound, Unimplemented};
        #[rustfmt::skip]
        let cases = [
            // Methods on a location (RAG contexts, evaluation, Model Garden deployments).
            ("POST", "/v1/projects/p/locations/l:retrieveContexts", Unimplemented),
            ("POST", "/v1/projects/p/locations/l:asyncRetrieveContexts", Unimplemented),
            ("POST", "/v1/projects/p/locations/l:askContexts", Unimplemented),
            ("POST", "/v1/projects/p/locations/l:augmentPrompt", Unimplemented),
            ("POST", "/v1/projects/p/locations/l%3AcorroborateContent", Unimplemented),
            ("POST", "/v1/projects/p/locations/l:evaluateInstances", Unimplemented),
            ("POST", "/v1/projects/p/locations/l:generateSyntheticData", Unimplemented),
            ("POST", "/v1/projects/p/locations/l:deploy", Unimplemented),
            ("POST", "/v1beta1/projects/p/locations/l:evaluateDataset", Unimplemented),
            ("POST", "/v1beta1/projects/p/locations/l:generateInstanceRubrics", Unimplemented),
            ("POST", "/v1beta1/projects/p/locations/l:recommendSpec", Unimplemented),
            ("POST", "/v1beta1/projects/p/locations/l:deployPublisherModel", Unimplemented),
            ("GET", "/v1/projects/p/locations/l:retrieveContexts", NotFound),
            ("POST", "/v1/projects/p/locations/l:retrievecontexts", NotFound),
            ("POST", "/v1/projects/p/locations/l:nonsense", NotFound),
            ("POST", "/v1/projects/p/locations:retrieveContexts", NotFound),
            ("POST", "/v1/projects/p:retrieveContexts", NotFound),
            // Model Garden's EULA, a singleton of a project.
            ("POST", "/v1beta1/projects/p/modelGardenEula:check", Unimplemented),
            ("POST", "/v1beta1/projects/p/modelGardenEula:accept", Unimplemented),
            ("GET", "/v1beta1/projects/p/modelGardenEula:check", NotFound),
            ("POST", "/v1beta1/projects/p/modelGardenEula", NotFound),
            ("POST", "/v1beta1/projects/p/modelGardenEula:nonsense", NotFound),
            ("POST", "/v1beta1/projects/p/modelGardenEula/x:check", NotFound),
            // Methods on the API itself.
            ("POST", "/v1beta1:evaluateInstances", Unimplemented),
            ("POST", "/v1beta1:evaluateDataset", Unimplemented),
            ("POST", "/v1beta1%3AgenerateInstanceRubrics", Unimplemented),
            ("GET", "/v1beta1:evaluateInstances", NotFound),
            ("POST", "/v1beta1:nonsense", NotFound),
            ("POST", "/v2:evaluateInstances", NotFound),
            ("POST", "/ui:evaluateInstances", NotFound),
            // The top-level collections.
            ("POST", "/v1/endpoints/e:generateContent", Unimplemented),
            ("POST", "/v1/endpoints/e:streamGenerateContent", Unimplemented),
            ("POST", "/v1beta1/endpoints/e:countTokens", Unimplemented),
            ("GET", "/v1/endpoints", NotFound),
            ("GET", "/v1/datasets", Unimplemented),
            ("POST", "/v1/datasets", Unimplemented),
            ("PATCH", "/v1/datasets/d", Unimplemented),
            ("GET", "/v1beta1/datasets/d/datasetVersions/v:restore", Unimplemented),
            ("GET", "/v1beta1/reasoningEngines", Unimplemented),
            ("POST", "/v1/reasoningEngines/r:asyncQuery", Unimplemented),
            ("GET", "/v1/reasoningEngines/r/sessions/s/operations/o", Unimplemented),
            ("POST", "/v1beta1/reasoningEngines/r/memories:retrieve", Unimplemented),
            ("GET", "/v1beta1/onlineEvaluators/o/operations", Unimplemented),
            ("GET", "/v1beta1/onlineEvaluators", NotFound),
            ("POST", "/v1/publishers/google/models/m:countTokens", Unimplemented),
            ("GET", "/v1/publishers", NotFound),
            ("GET", "/v1/Datasets", NotFound),
            ("GET", "/v1/reasoningengines/r", NotFound),
        ];
        for (method, path, want) in cases {
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            assert_eq!(route(&m, path), want, "{method} {path}");
        }
    }

    /// [`route`] against [`route_before`]: the same answer, except where lists of Google's
    /// routes added since decide between 404 and 501 outside the legacy Feature Store's own
    /// tree (`{version}/projects/{p}/locations/{l}/featurestores…`): the names below a
    /// location ([`VERTEX_COLLECTIONS`]) and at the top ([`TOP_COLLECTIONS`]), and the
    /// methods on a location, a project's EULA and the API. There the old router answered
    /// 501 to any name below a location and 404 to the rest; the explicit cases of
    /// `paths_route_to_their_resources_and_verbs` and
    /// `vertex_routes_outside_the_feature_store_are_501_only_where_google_has_them` hold the
    /// answers now.
    fn assert_as_before(method: &Method, path: &str) {
        let (now, before) = (route(method, path), route_before(method, path));
        let unserved = |r: &Routed| matches!(r, Routed::NotFound | Routed::Unimplemented);
        if unserved(&now) && unserved(&before) && !in_feature_store(path) {
            return;
        }
        assert_eq!(now, before, "{method} {path}");
    }

    /// Whether `path` is below `{version}/projects/{p}/locations/{l}/featurestores`.
    fn in_feature_store(path: &str) -> bool {
        let path = path.replace("%3A", ":").replace("%3a", ":");
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        segs.len() >= 6
            && segs[1] == "projects"
            && segs[3] == "locations"
            && segs[5].split(':').next() == Some("featurestores")
    }

    /// [`route`] as it was before it borrowed: the oracle the new one is held to (see
    /// [`assert_as_before`] for what it no longer decides).
    fn route_before(method: &Method, path: &str) -> Routed<'static> {
        // `:verb` may come percent-encoded; most clients send it as it is.
        let path: std::borrow::Cow<'_, str> = if path.contains('%') {
            path.replace("%3A", ":").replace("%3a", ":").into()
        } else {
            path.into()
        };
        let (version, rest) = match path.trim_start_matches('/').split_once('/') {
            Some((v, rest)) => (v.to_string(), rest.to_string()),
            None => return Routed::NotFound,
        };
        // Google's API versions and the console's `/ui/` front: anything below
        // `projects/` there is a Google route, served here or not.
        let google = matches!(version.as_str(), "v1" | "v1beta1" | "ui");
        if !google {
            return Routed::NotFound;
        }
        let (head, verb) = match rest.rsplit_once('/') {
            Some((head, last)) => match last.split_once(':') {
                Some((seg, v)) => (format!("{head}/{seg}"), Some(v.to_string())),
                None => (rest.clone(), None),
            },
            None => (rest.clone(), None),
        };
        let segs: Vec<&str> = head.split('/').collect();
        if segs.iter().any(|s| s.is_empty()) {
            return Routed::NotFound;
        }
        // Vertex AI's other top-level collection: Model Garden's publisher models
        // (`publishers/google/models/{m}`, `…:predict`, …), served by Google, not emulated.
        if segs[0] == "publishers" && segs.len() >= 2 {
            return Routed::Unimplemented;
        }
        if segs[0] != "projects" {
            return Routed::NotFound;
        }
        // Under projects/{p}/locations/{l}/ but outside the legacy Feature Store: one of
        // Vertex AI's other services (models, endpoints, featureOnlineStores, location
        // operations, …), served by Google, not emulated.
        let elsewhere = || {
            if segs.len() >= 5 && segs[2] == "locations" && segs[4] != "featurestores" {
                Routed::Unimplemented
            } else {
                Routed::NotFound
            }
        };
        // Operations of a featurestore, entity type or feature. `operations` is the
        // collection only where a collection name stands (even positions): at an odd one it
        // is an id, and `[a-z0-9_]` ids may well be "operations".
        if let Some(i) = (0..segs.len())
            .step_by(2)
            .find(|i| segs[*i] == "operations")
        {
            let owner = &segs[..i];
            let owner_ok = owner.len() >= 6
                && owner.len() <= 10
                && owner.len() % 2 == 0
                && owner.iter().step_by(2).zip(SHAPE).all(|(a, b)| *a == b);
            if !owner_ok {
                return elsewhere();
            }
            return match (segs.len() - i, verb.as_deref(), method) {
                (2, None, &Method::GET) if version != "v1beta1" => {
                    Routed::Served(Route::Operation {
                        name: segs.join("/"),
                    })
                }
                (2, None, &Method::GET | &Method::DELETE) => Routed::Unimplemented,
                (2, Some("cancel" | "wait"), &Method::POST) => Routed::Unimplemented,
                (1, None, &Method::GET) => Routed::Unimplemented,
                _ => Routed::NotFound,
            };
        }
        if segs.len() > 10 || !segs.iter().step_by(2).zip(SHAPE).all(|(a, b)| *a == b) {
            return elsewhere();
        }
        if segs.len() < 5 {
            // A location, or the list of locations: served by Google, not emulated.
            return if segs.len() >= 3 && verb.is_none() && method == Method::GET {
                Routed::Unimplemented
            } else {
                Routed::NotFound
            };
        }
        let served = |r: Route<'static>| {
            if version == "v1" {
                Routed::Served(r)
            } else {
                // v1beta1 and the console front serve these too; only v1 is emulated.
                Routed::Unimplemented
            }
        };
        let name = head.clone();
        let parent = |n: usize| segs[..n].join("/");
        let kind_at = |len: usize| match len {
            5 | 6 => Kind::Featurestore,
            7 | 8 => Kind::EntityType,
            _ => Kind::Feature,
        };
        let m = method.clone();
        match (segs.len(), verb.as_deref()) {
            (5 | 7 | 9, None) if m == Method::GET || m == Method::POST => {
                let kind = kind_at(segs.len());
                served(Route::Collection {
                    kind,
                    parent: parent(segs.len() - 1),
                })
            }
            (6 | 8 | 10, None) if m == Method::GET || m == Method::PATCH || m == Method::DELETE => {
                served(Route::Resource {
                    kind: kind_at(segs.len()),
                    name,
                })
            }
            (5, Some("searchFeatures")) if m == Method::GET => Routed::Unimplemented,
            (6, Some(v)) if m == Method::POST && FEATURESTORE_VERBS.contains(&v) => {
                Routed::Unimplemented
            }
            (8, Some(v)) if m == Method::POST => match v {
                "writeFeatureValues" => served(Route::Verb {
                    entity_type: name.into(),
                    verb: Verb::Write,
                }),
                "readFeatureValues" => served(Route::Verb {
                    entity_type: name.into(),
                    verb: Verb::Read,
                }),
                "streamingReadFeatureValues" => served(Route::Verb {
                    entity_type: name.into(),
                    verb: Verb::StreamingRead,
                }),
                v if ENTITY_TYPE_VERBS.contains(&v) => Routed::Unimplemented,
                _ => Routed::NotFound,
            },
            (9, Some("batchCreate")) if m == Method::POST => served(Route::BatchCreate {
                entity_type: parent(8),
            }),
            _ => Routed::NotFound,
        }
    }

    /// Paths routed by byte loops go where the searching version sent them: colons
    /// anywhere, empty segments, no segment at all, encoded colons, every length.
    #[test]
    fn routes_are_what_they_were_before_they_borrowed() {
        let bases = [
            "/v1/projects/p/locations/l/featurestores/fs/entityTypes/et/features/f/operations/1",
            "/ui/projects/p/locations/l/featurestores/fs/entityTypes/et/features/f/operations/1",
            "/v1beta1/projects/p/locations/l/featurestores/fs/entityTypes/et/features/f",
            "/v1/publishers/google/models/m",
            "/v1/projects/p/locations/l/models/m/x/y/z/w/v/u/t",
            "/v1/projects/operations/locations/operations/featurestores/operations/entityTypes/operations/features/operations/operations/2",
        ];
        let mut paths = vec![
            String::new(),
            "/".into(),
            "//".into(),
            "/v1".into(),
            "/v1/".into(),
            "/v1/projects:x".into(),
            "/v1/:x".into(),
            "v1/projects/p".into(),
            "/v1/projects/p/locations/l/featurestores/fs/entityTypes/et:a:b".into(),
            "/v1/projects/p/locations/l/featurestores/fs/entityTypes/et:".into(),
            "/v1/projects/p/locations/l/featurestores/fs:x/entityTypes/et".into(),
            "/v1/projects/p/locations/l/featurestores/fs/entityTypes/et%3awriteFeatureValues"
                .into(),
            "/v1/projects/p/locations/l/featurestores/fs/entityTypes/et/".into(),
        ];
        for base in bases {
            let cuts = base.match_indices('/').map(|(i, _)| i).chain([base.len()]);
            for cut in cuts {
                let p = &base[..cut];
                paths.push(p.to_string());
                for verb in [
                    ":writeFeatureValues",
                    ":readFeatureValues",
                    ":streamingReadFeatureValues",
                    ":batchCreate",
                    ":cancel",
                    ":searchFeatures",
                    ":importFeatureValues",
                    ":getIamPolicy",
                    ":",
                ] {
                    paths.push(format!("{p}{verb}"));
                }
                paths.push(format!("{p}/"));
            }
        }
        for path in &paths {
            for method in [
                Method::GET,
                Method::POST,
                Method::PATCH,
                Method::DELETE,
                Method::PUT,
            ] {
                assert_as_before(&method, path);
            }
        }
    }

    /// The value calls [`value_call`] takes are routed as [`sort`] routes them, and it
    /// takes the usual ones: around their shape, ids with colons, `%` and odd bytes,
    /// empty or doubled segments, other versions, methods and verbs, paths cut anywhere.
    #[test]
    fn value_calls_taken_by_their_shape_route_as_any_path_does() {
        let et = "/v1/projects/p/locations/l/featurestores/fs/entityTypes/et";
        let mut paths = vec![
            format!("{et}:readFeatureValues"),
            format!("{et}:streamingReadFeatureValues"),
            format!("{et}:writeFeatureValues"),
            "/v1/projects/test-project/locations/asia-southeast1/featurestores/finscore_fs/entityTypes/score_features:readFeatureValues".to_string(),
        ];
        let taken = paths.len();
        for verb in [
            "readFeatureValues",
            "streamingReadFeatureValues",
            "writeFeatureValues",
        ] {
            for (from, to) in [
                ("/p/", "/p:x/"),
                ("/p/", "/p%3A/"),
                ("/p/", "//"),
                ("/l/", "/l:a:b/"),
                ("/fs/", "/operations/"),
                ("/fs/", "/fs/x/"),
                ("/et", "/operations"),
                ("/et", "/é"),
                ("/et", "/"),
                ("/et", "/et:x"),
                ("/et", "/et/features/f"),
                ("/v1/", "/v1beta1/"),
                ("/v1/", "/ui/"),
                ("/v1/", "//v1/"),
                ("/v1/", "v1/"),
                ("entityTypes", "entitytypes"),
                ("locations", "location"),
                ("/projects/", "/projects//"),
            ] {
                paths.push(format!("{et}:{verb}").replacen(from, to, 1));
            }
            for tail in ["", "x", "/", ":", "%3A", "?", " "] {
                paths.push(format!("{et}:{verb}{tail}"));
                paths.push(format!("{et}%3A{verb}{tail}"));
                paths.push(format!("{et}:{tail}{verb}"));
            }
            let whole = format!("{et}:{verb}");
            paths.extend((0..whole.len()).map(|n| whole[..n].to_string()));
        }
        for (i, path) in paths.iter().enumerate() {
            for method in [Method::POST, Method::GET, Method::PUT, Method::PATCH] {
                let fast = value_call(&method, path);
                if method != Method::POST {
                    assert_eq!(fast, None, "{method} {path}");
                } else if i < taken {
                    assert!(fast.is_some(), "{method} {path}");
                }
                if let Some((entity_type, verb)) = fast {
                    let want = sort(&method, path);
                    let got = served(Route::Verb {
                        entity_type: entity_type.into(),
                        verb,
                    });
                    assert_eq!(got, want, "{method} {path}");
                }
            }
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
