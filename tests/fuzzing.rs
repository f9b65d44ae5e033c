//! Property tests over hostile input: every vendor's request parsing (bodies, query
//! strings, headers, paths, methods, sandbox prefixes) and scenario-file compilation.
//!
//! Requests are each vendor's documented ones ([`hostile::targets`]) broken in up to
//! four ways at once ([`hostile::Mutation`]) and sent in-process to the real pipeline
//! ([`hostile::Harness`]); every answer must be the vendor's own shape, never a 5xx but
//! from a `flaky` scenario ([`hostile::oracle`]). Scenario files are the shipped ones
//! mutated, and text that is barely TOML: compiling never panics, and every problem is
//! located inside the file.
//!
//! Bounded and deterministic: [`CASES`] cases per property from a fixed seed (set
//! `VENDOR_MOCK_FUZZ_CASES` for a longer run, `PROPTEST_RNG_SEED` for another seed). A
//! failure is shrunk to a minimal case and kept in `tests/fuzzing.proptest-regressions`,
//! which is replayed first on every run. The libFuzzer targets in `fuzz/` drive the same
//! requests and checks for longer.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestCaseError, TestRunner};
use serde_json::Value;
use vendor_mock::scenario::{builtin_sources, Source};
use vendor_mock::vendors::registry;

use crate::hostile::scenario_files::TOML_BITS;
use crate::hostile::targets::{self, Target};
use crate::hostile::{
    oracle, scenario_files, BodyEdit, Case, Harness, HeaderEdit, Mutation, PathEdit, CONTENT_TYPES,
    LONG_SEGMENT_CHARS, METHODS, ODD_SANDBOXES, ODD_VALUES, PATH_INSERTS, QUERY_BITS,
    SCENARIO_PICKS,
};

/// Cases per property in `cargo test`: the seven properties together add about 20 s on
/// two cores in a debug build.
const CASES: u32 = 300;
/// The fixed seed (overridden by `PROPTEST_RNG_SEED`).
const SEED: u64 = 0x5eed_f022;

fn config() -> Config {
    let cases = std::env::var("VENDOR_MOCK_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(CASES);
    let rng_seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(RngSeed::Fixed(SEED), RngSeed::Fixed);
    Config {
        cases,
        rng_seed,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        source_file: Some(file!()),
        // Shrinking replays cases in-process: cheap, but bound it all the same.
        max_shrink_iters: 2048,
        ..Config::default()
    }
}

/// Bytes as a careless client sends them: mostly text, sometimes anything.
fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => proptest::string::string_regex(&format!("[ -~]{{0,{max}}}"))
            .expect("a valid regex")
            .prop_map(String::into_bytes),
        1 => vec(any::<u8>(), 0..max),
        1 => ".{0,12}".prop_map(String::into_bytes),
    ]
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,16}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec(("[a-zA-Z_]{0,8}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// JSON text for a field or a body: a boundary or wrong-typed value, any value, or
/// something that is not JSON at all.
fn json_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(ODD_VALUES).prop_map(str::to_string),
        2 => json_value().prop_map(|v| v.to_string()),
        1 => "[ -~]{0,24}",
    ]
}

/// A field, parameter or header name: one the vendor reads, or any.
fn name(target: &'static Target) -> impl Strategy<Value = String> {
    prop_oneof![
        2 => select(target.names).prop_map(str::to_string),
        1 => "[a-zA-Z_$.-]{1,12}",
    ]
}

fn mutation(target: &'static Target) -> impl Strategy<Value = Mutation> {
    let path = prop_oneof![
        any::<usize>().prop_map(PathEdit::FlipCase),
        (any::<usize>(), select(PATH_INSERTS))
            .prop_map(|(at, s)| PathEdit::Insert(at, s.to_string())),
        any::<usize>().prop_map(PathEdit::Encode),
        any::<usize>().prop_map(PathEdit::Truncate),
        (any::<usize>(), select(LONG_SEGMENT_CHARS), 1usize..12_000)
            .prop_map(|(at, c, n)| PathEdit::LongSegment(at, c, n)),
        (any::<usize>(), bytes(24)).prop_map(|(i, b)| PathEdit::Segment(i, b)),
        Just(PathEdit::TrailingSlash),
    ];
    let header = prop_oneof![
        any::<usize>().prop_map(HeaderEdit::Drop),
        (any::<usize>(), bytes(40)).prop_map(|(i, v)| HeaderEdit::Duplicate(i, v)),
        (any::<usize>(), bytes(40)).prop_map(|(i, v)| HeaderEdit::Set(i, v)),
        (name(target), bytes(40)).prop_map(|(k, v)| HeaderEdit::Add(k.into_bytes(), v)),
        select(SCENARIO_PICKS).prop_map(|v| HeaderEdit::Add(
            b"x-vendor-mock-scenario".to_vec(),
            v.as_bytes().to_vec()
        )),
    ];
    let body = prop_oneof![
        1 => bytes(64).prop_map(BodyEdit::Raw),
        1 => json_text().prop_map(BodyEdit::Json),
        3 => (any::<usize>(), json_text()).prop_map(|(i, t)| BodyEdit::SetField(i, t)),
        2 => any::<usize>().prop_map(BodyEdit::RemoveField),
        1 => (name(target), json_text()).prop_map(|(k, t)| BodyEdit::AddField(k, t)),
        1 => (any::<usize>(), prop_oneof![1usize..8, 120usize..140, 5000usize..20_000])
            .prop_map(|(i, d)| BodyEdit::Nest(i, d)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| BodyEdit::FlipByte(i, b)),
        1 => (any::<usize>(), bytes(8)).prop_map(|(i, b)| BodyEdit::InsertBytes(i, b)),
        1 => any::<usize>().prop_map(BodyEdit::Truncate),
        1 => select(CONTENT_TYPES).prop_map(|c| BodyEdit::ContentType(c.to_string())),
    ];
    prop_oneof![
        1 => select(METHODS).prop_map(|m| Mutation::Method(m.to_string())),
        1 => prop_oneof![
            "[A-Za-z0-9_.-]{1,64}",
            select(ODD_SANDBOXES).prop_map(str::to_string),
            "[A-Za-z]{65,70}",
        ]
        .prop_map(Mutation::Sandbox),
        3 => path.prop_map(Mutation::Path),
        2 => (name(target), bytes(32)).prop_map(|(k, v)| Mutation::QueryPair(k.into_bytes(), v)),
        1 => select(QUERY_BITS).prop_map(|q| Mutation::Query(q.to_string())),
        1 => Just(Mutation::NoQuery),
        3 => header.prop_map(Mutation::Header),
        6 => body.prop_map(Mutation::Body),
    ]
}

fn case(target: &'static Target) -> impl Strategy<Value = Case> {
    (0..target.templates.len(), vec(mutation(target), 0..5)).prop_map(|(template, mutations)| {
        Case {
            template,
            mutations,
        }
    })
}

/// A runtime on a paused clock: a `slow-` scenario's 3 s delay passes at once.
fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a test runtime")
}

/// Run the hostile cases of `vendor`: each from a freshly reset server, after the
/// vendor's setup calls.
fn hostile_requests(vendor: &str) {
    let target = targets::target(vendor);
    let rt = paused_runtime();
    let h = Harness::new();
    let mut runner = TestRunner::new(config());
    let result = runner.run(&case(target), |case| {
        rt.block_on(async {
            h.reset();
            let vars = targets::prepare(&h, target.setup).await;
            let req = case.build(target, &vars);
            let answer = h.send(&req).await;
            oracle::check(vendor, &req, &answer)
        })
        .map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{vendor}: {e}");
    }
}

/// A body nested just under the mock's 128-level limit comes back in Credeau's 422
/// `input` a few levels deeper than serde_json's default reader takes: the oracle reads it
/// at any depth (found by fuzz/run.sh, the case as it found it).
#[test]
fn credeau_echoes_a_value_nested_just_under_the_limit_in_a_422_the_oracle_reads() {
    let target = targets::target("credeau");
    let case = Case {
        template: 26,
        mutations: vec![Mutation::Body(BodyEdit::Nest(6879, 126))],
    };
    let rt = paused_runtime();
    let h = Harness::new();
    rt.block_on(async {
        let vars = targets::prepare(&h, target.setup).await;
        let req = case.build(target, &vars);
        let answer = h.send(&req).await;
        let sent = answer.as_ref().expect("answered");
        assert_eq!(sent.status, 422, "{}", sent.text());
        // Still the case that needs the unbounded reader: serde_json's default refuses it.
        let default = serde_json::from_slice::<serde_json::Value>(&sent.body)
            .expect_err("deeper than serde_json's default limit");
        assert!(default.to_string().contains("recursion limit"), "{default}");
        let detail = &sent.json().expect("JSON at any depth")["detail"][0];
        assert_eq!(detail["type"], "string_type");
        oracle::check("credeau", &req, &answer).expect("the oracle's checks hold");
    });
}

/// The oracle reads an answer at any depth up to its cap, counting only the brackets
/// outside strings; deeper is a failed check, not a stack overflow.
#[test]
fn the_oracle_reads_deep_answers_up_to_its_cap() {
    let answer = |body: String| crate::hostile::Answer {
        status: 200,
        headers: Default::default(),
        body: body.into(),
    };
    let nested = |n: usize| format!("{}\"[{{\\\"\"{}", "[".repeat(n), "]".repeat(n));
    assert!(answer(nested(200)).json().is_some());
    assert!(answer(nested(crate::hostile::ANSWER_DEPTH_MAX))
        .json()
        .is_some());
    assert!(answer(nested(crate::hostile::ANSWER_DEPTH_MAX + 1))
        .json()
        .is_none());
    assert!(answer(nested(20_000)).json().is_none());
}

#[test]
fn finbox_answers_hostile_requests_in_its_own_error_shape() {
    hostile_requests("finbox");
}

#[test]
fn credeau_answers_hostile_requests_in_its_own_error_shape() {
    hostile_requests("credeau");
}

#[test]
fn finx_answers_hostile_requests_in_its_own_error_shape() {
    hostile_requests("finx");
}

#[test]
fn credolab_answers_hostile_requests_in_its_own_error_shape() {
    hostile_requests("credolab");
}

#[test]
fn finscore_answers_hostile_requests_in_its_own_error_shape() {
    hostile_requests("finscore");
}

#[test]
fn the_feature_store_answers_hostile_requests_in_its_own_error_shape() {
    hostile_requests("featurestore");
}

#[test]
fn every_target_covers_every_registered_vendor() {
    let names: Vec<&str> = registry().iter().map(|v| v.name()).collect();
    let targeted: Vec<&str> = targets::TARGETS.iter().map(|t| t.vendor).collect();
    assert_eq!(names, targeted);
}

/// One edit of a scenario file's text.
#[derive(Debug, Clone)]
enum TextEdit {
    Insert(usize, String),
    Delete(usize, usize),
    /// Repeat the line at this index.
    DuplicateLine(usize),
    Truncate(usize),
}

fn text_edit() -> impl Strategy<Value = TextEdit> {
    prop_oneof![
        4 => (any::<usize>(), prop_oneof![3 => select(TOML_BITS).prop_map(str::to_string), 1 => ".{0,8}"])
            .prop_map(|(at, s)| TextEdit::Insert(at, s)),
        2 => (any::<usize>(), 1usize..40).prop_map(|(at, n)| TextEdit::Delete(at, n)),
        1 => any::<usize>().prop_map(TextEdit::DuplicateLine),
        1 => any::<usize>().prop_map(TextEdit::Truncate),
    ]
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, edits: &[TextEdit]) -> String {
    let mut s = text.to_string();
    for e in edits {
        let n = s.len() + 1;
        match e {
            TextEdit::Insert(at, bit) => {
                let at = floor_boundary(&s, at % n);
                s.insert_str(at, bit);
            }
            TextEdit::Delete(at, len) => {
                let a = floor_boundary(&s, at % n);
                let b = floor_boundary(&s, a + len);
                s.replace_range(a..b, "");
            }
            TextEdit::DuplicateLine(i) => {
                let lines: Vec<&str> = s.split_inclusive('\n').collect();
                if !lines.is_empty() {
                    let i = i % lines.len();
                    let mut out = String::new();
                    for (j, l) in lines.iter().enumerate() {
                        out.push_str(l);
                        if j == i {
                            out.push_str(l);
                        }
                    }
                    s = out;
                }
            }
            TextEdit::Truncate(at) => {
                let at = floor_boundary(&s, at % n);
                s.truncate(at);
            }
        }
    }
    s
}

/// Whether a case compiles the shipped files too (merging, replacing): one in ten, as
/// compiling all six costs about 140 ms in a debug build.
fn with_shipped() -> impl Strategy<Value = bool> {
    proptest::bool::weighted(0.1)
}

#[test]
fn mutated_shipped_scenario_files_compile_or_point_inside_the_file() {
    let vendors = registry();
    let shipped = builtin_sources(&vendors);
    let strategy = (0..shipped.len(), vec(text_edit(), 1..6), with_shipped());
    // A shipped file takes 15-40 ms to compile in a debug build: fewer cases.
    let mut runner = TestRunner::new(Config {
        cases: config().cases * 2 / 3,
        ..config()
    });
    let result = runner.run(&strategy, |(which, edits, all)| {
        let mut sources = if all { shipped.clone() } else { Vec::new() };
        let mutated = Source {
            path: shipped[which].path.clone(),
            text: apply(&shipped[which].text, &edits),
        };
        match sources.iter_mut().find(|s| s.path == mutated.path) {
            Some(s) => *s = mutated,
            None => sources.push(mutated),
        }
        scenario_files::check(&vendors, &sources).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn arbitrary_text_as_a_user_scenario_file_compiles_or_points_inside_it() {
    let vendors = registry();
    let shipped = builtin_sources(&vendors);
    let bits = vec(
        prop_oneof![3 => select(TOML_BITS).prop_map(str::to_string), 1 => ".{0,6}"],
        0..40,
    )
    .prop_map(|parts| parts.concat());
    let text = prop_oneof![
        bits.clone(),
        bits.prop_map(|b| format!("vendor = \"credeau\"\n{b}")),
        "(?s).{0,200}".prop_map(|s: String| s),
    ];
    let result = TestRunner::new(config()).run(&(text, with_shipped()), |(text, all)| {
        let mut sources = if all { shipped.clone() } else { Vec::new() };
        sources.push(Source {
            path: "user/extra.toml".into(),
            text,
        });
        scenario_files::check(&vendors, &sources).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
