//! What the fuzz targets run: the hostile requests and checks of the property tests
//! (`tests/hostile/`, included by path), driven by libFuzzer's bytes instead of
//! proptest's strategies.
//!
//! An input is read as a [`Case`]: its first byte picks the vendor's documented request,
//! the next how many mutations follow (at most 4), then each mutation's kind and
//! arguments. Every byte string means something, and the empty one is the first
//! documented request unchanged, so libFuzzer starts from valid requests.
//!
//! A failed check panics, which libFuzzer reports as a crash and keeps the input.

#[path = "../../tests/hostile/mod.rs"]
#[allow(dead_code, clippy::all)]
pub mod hostile;

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;

use hostile::scenario_files::TOML_BITS;
use hostile::targets::{self, Target};
use hostile::{
    oracle, scenario_files, BodyEdit, Case, Harness, HeaderEdit, Mutation, PathEdit, CONTENT_TYPES,
    LONG_SEGMENT_CHARS, METHODS, ODD_SANDBOXES, ODD_VALUES, PATH_INSERTS, QUERY_BITS,
    SCENARIO_PICKS,
};
use vendor_mock::scenario::{builtin_sources, Source};
use vendor_mock::vendors::{registry, Vendor};

/// The bytes of one input, read front to back; past the end every read is zero.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    fn num(&mut self) -> usize {
        usize::from(self.byte()) | usize::from(self.byte()) << 8
    }

    /// A length byte, then that many bytes (at most `max`).
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = usize::from(self.byte()) % (max + 1);
        let n = n.min(self.data.len());
        let (taken, rest) = self.data.split_at(n);
        self.data = rest;
        taken.to_vec()
    }

    fn text(&mut self, max: usize) -> String {
        String::from_utf8_lossy(&self.bytes(max)).into_owned()
    }

    fn pick<T: Copy>(&mut self, list: &[T]) -> T {
        list[usize::from(self.byte()) % list.len()]
    }

    /// A name the vendor reads, or any.
    fn name(&mut self, target: &Target) -> String {
        if self.byte() % 3 == 0 {
            self.text(12)
        } else {
            self.pick(target.names).to_string()
        }
    }

    /// JSON text: a boundary or wrong-typed value, or anything at all.
    fn json_text(&mut self) -> String {
        if self.byte() % 4 == 0 {
            self.text(32)
        } else {
            self.pick(ODD_VALUES).to_string()
        }
    }

    fn path_edit(&mut self) -> PathEdit {
        match self.byte() % 7 {
            0 => PathEdit::FlipCase(self.num()),
            1 => PathEdit::Insert(self.num(), self.pick(PATH_INSERTS).to_string()),
            2 => PathEdit::Encode(self.num()),
            3 => PathEdit::Truncate(self.num()),
            4 => PathEdit::LongSegment(
                self.num(),
                self.pick(LONG_SEGMENT_CHARS),
                self.num() % 12_000,
            ),
            5 => PathEdit::Segment(self.num(), self.bytes(24)),
            _ => PathEdit::TrailingSlash,
        }
    }

    fn header_edit(&mut self, target: &Target) -> HeaderEdit {
        match self.byte() % 5 {
            0 => HeaderEdit::Drop(self.num()),
            1 => HeaderEdit::Duplicate(self.num(), self.bytes(40)),
            2 => HeaderEdit::Set(self.num(), self.bytes(40)),
            3 => HeaderEdit::Add(self.name(target).into_bytes(), self.bytes(40)),
            _ => HeaderEdit::Add(
                b"x-vendor-mock-scenario".to_vec(),
                self.pick(SCENARIO_PICKS).as_bytes().to_vec(),
            ),
        }
    }

    fn body_edit(&mut self, target: &Target) -> BodyEdit {
        match self.byte() % 12 {
            0 => BodyEdit::Raw(self.bytes(255)),
            1 => BodyEdit::Json(self.json_text()),
            2..=4 => BodyEdit::SetField(self.num(), self.json_text()),
            5 => BodyEdit::RemoveField(self.num()),
            6 => BodyEdit::AddField(self.name(target), self.json_text()),
            7 => BodyEdit::Nest(self.num(), self.num() % 20_000),
            8 => BodyEdit::FlipByte(self.num(), self.byte()),
            9 => BodyEdit::InsertBytes(self.num(), self.bytes(16)),
            10 => BodyEdit::Truncate(self.num()),
            _ => BodyEdit::ContentType(self.pick(CONTENT_TYPES).to_string()),
        }
    }

    fn mutation(&mut self, target: &Target) -> Mutation {
        match self.byte() % 16 {
            0 => Mutation::Method(self.pick(METHODS).to_string()),
            1 => Mutation::Sandbox(if self.byte() % 2 == 0 {
                self.pick(ODD_SANDBOXES).to_string()
            } else {
                self.text(70)
            }),
            2..=4 => Mutation::Path(self.path_edit()),
            5 | 6 => Mutation::QueryPair(self.name(target).into_bytes(), self.bytes(32)),
            7 => Mutation::Query(self.pick(QUERY_BITS).to_string()),
            8 => Mutation::NoQuery,
            9 | 10 => Mutation::Header(self.header_edit(target)),
            _ => Mutation::Body(self.body_edit(target)),
        }
    }

    /// The case these bytes describe for `target`.
    pub fn case(&mut self, target: &Target) -> Case {
        let template = usize::from(self.byte());
        let n = self.byte() % 5;
        let mutations = (0..n).map(|_| self.mutation(target)).collect();
        Case {
            template,
            mutations,
        }
    }
}

thread_local! {
    /// One runtime (on a paused clock) and one server per thread, reset before each input.
    static SERVER: RefCell<Option<(tokio::runtime::Runtime, Harness)>> = const { RefCell::new(None) };
}

/// Send the request `data` describes to `vendor` and check the answer; panics on a
/// failed check.
pub fn request(vendor: &str, data: &[u8]) {
    let target = targets::target(vendor);
    let case = Input::new(data).case(target);
    SERVER.with_borrow_mut(|server| {
        let (rt, h) = server.get_or_insert_with(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .expect("a runtime");
            (rt, Harness::new())
        });
        rt.block_on(async {
            h.reset();
            let vars = targets::prepare(h, target.setup).await;
            let req = case.build(target, &vars);
            let answer = h.send(&req).await;
            if let Err(e) = oracle::check(vendor, &req, &answer) {
                panic!("{vendor}: {e}\n{case:?}");
            }
        });
    });
}

thread_local! {
    static SCENARIO: (Vec<Arc<dyn Vendor>>, Vec<Source>) = {
        let vendors = registry();
        let shipped = builtin_sources(&vendors);
        (vendors, shipped)
    };
}

/// Compile the scenario file `data` describes: its first byte says whether the shipped
/// files are compiled with it and whether it replaces one of them (by name) or is a file
/// of its own; the rest is its text, where bytes `0xF0`..=`0xFF` each stand for a piece
/// of TOML from [`TOML_BITS`] (the fuzzer finds keys and tables sooner) and invalid
/// UTF-8 is replaced. Panics unless the result is a catalog or diagnostics that point
/// inside the file.
pub fn scenario_file(data: &[u8]) {
    let (&mode, rest) = data.split_first().unwrap_or((&0, &[]));
    let mut text = String::new();
    let mut plain = Vec::new();
    for (i, &b) in rest.iter().enumerate() {
        if b >= 0xF0 {
            text.push_str(&String::from_utf8_lossy(&plain));
            plain.clear();
            let next = rest.get(i + 1).copied().unwrap_or(0);
            text.push_str(
                TOML_BITS[(usize::from(b & 0x0F) << 8 | usize::from(next)) % TOML_BITS.len()],
            );
        } else {
            plain.push(b);
        }
    }
    text.push_str(&String::from_utf8_lossy(&plain));
    SCENARIO.with(|(vendors, shipped)| {
        let mut sources = if mode & 1 == 1 {
            shipped.clone()
        } else {
            Vec::new()
        };
        let path = match mode >> 1 {
            n if usize::from(n) < shipped.len() => shipped[usize::from(n)].path.clone(),
            _ => "user/fuzzed.toml".to_string(),
        };
        let source = Source { path, text };
        match sources.iter_mut().find(|s| s.path == source.path) {
            Some(s) => *s = source,
            None => sources.push(source),
        }
        if let Err(e) = scenario_files::check(vendors, &sources) {
            panic!("{e}");
        }
    });
}

/// Run `check` over every file named on the command line (folders: every file in them):
/// the plain build of a target, to replay a corpus or a crash without libFuzzer.
pub fn replay(check: impl Fn(&[u8])) {
    let mut count = 0;
    for arg in std::env::args_os().skip(1) {
        let path = Path::new(&arg);
        let mut files: Vec<_> = if path.is_dir() {
            std::fs::read_dir(path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        } else {
            vec![path.to_path_buf()]
        };
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            check(&data);
            count += 1;
        }
    }
    println!("replayed {count} inputs: no failure");
}
