//! For the vendors' cold-and-warm tests: one vendor's objects over an engine's root and
//! one sandbox, around a shared slot the test chooses (a cache that keeps nothing, or a
//! warm one), called the way the pipeline calls them.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use hyper::{HeaderMap, Method};

use super::{Ctx, Scenarios, Sharing};
use crate::app::App;
use crate::scenario::Pick;
use crate::server::{Body, MockRequest};

/// Where a call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Root,
    /// Sandbox `sb` (`/~sb/…`).
    Sandbox,
}

/// A root and a sandbox, each with its own object of vendor `V` around one shared slot.
pub struct World<V: Sharing> {
    root: App,
    sandbox: App,
    objects: [V; 2],
}

impl<V: Sharing> World<V> {
    pub fn new(shared: Arc<V::Shared>, dirs: Vec<PathBuf>) -> Self {
        let root = App::new(crate::Config {
            seed: 7,
            frozen_clock: Some("2026-01-15T10:00:00Z".parse().expect("a valid time")),
            scenario_dirs: dirs,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e:?}"));
        let sandbox = root.sandbox("sb").expect("the root holds sandboxes");
        Self {
            root,
            sandbox,
            objects: [
                V::with_shared(shared.clone(), &crate::budget::Budgets::default()),
                V::with_shared(shared, &crate::budget::Budgets::default()),
            ],
        }
    }

    fn at(&self, place: Place) -> (&App, &V, &'static str) {
        match place {
            Place::Root => (&self.root, &self.objects[0], ""),
            Place::Sandbox => (&self.sandbox, &self.objects[1], "/~sb"),
        }
    }

    /// `method` on `path` (below the vendor's prefix, query included): status and body.
    pub fn call(
        &self,
        place: Place,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, Vec<u8>) {
        let (app, vendor, prefix) = self.at(place);
        let name = vendor.name();
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (path, None),
        };
        let mut map = HeaderMap::new();
        map.insert("host", "mock.test:8080".parse().expect("a valid header"));
        for (k, v) in headers {
            map.append(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).expect("a header name"),
                v.parse().expect("a valid header value"),
            );
        }
        let req = MockRequest {
            method,
            full_path: format!("{prefix}/{name}{path}"),
            path: path.to_string(),
            query,
            headers: map,
            body: Bytes::from(body.to_string()),
            peer: ([127, 0, 0, 1], 1).into(),
        };
        let set = app.catalog.vendor(name).expect("the vendor is registered");
        let scenarios = Scenarios::new(set, name, &app.state, Pick::Unset);
        let mut ctx = Ctx::new(app, name, vendor.outcomes(), scenarios);
        let mut resp = vendor.handle(&mut ctx, &req);
        resp.serialize_body();
        let body = match resp.body {
            Body::Bytes(b) => b.to_vec(),
            Body::Parts(p) => p.concat(),
            Body::Filled(f) => f.bytes.to_vec(),
            Body::Empty | Body::Json(_) => Vec::new(),
        };
        (resp.status.as_u16(), body)
    }

    /// Move `place`'s mock clock.
    pub fn advance(&self, place: Place, seconds: i64) {
        self.at(place).0.clock.advance_ms(seconds * 1000);
    }

    /// `/__admin/reset` of `place` (its vendor object included).
    pub fn reset(&self, place: Place) {
        let (app, vendor, _) = self.at(place);
        app.state.reset();
        app.clock.reset();
        app.rate_limiter.reset();
        vendor.reset();
    }
}

/// One labelled answer of a script.
pub type Answer = (String, u16, Vec<u8>);

/// The same labels, statuses and bytes, answer by answer.
pub fn compare(cold: &[Answer], warm: &[Answer]) {
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

/// A scenario folder whose `<vendor>.toml` is the shipped one with `extra` appended
/// (more scenarios, say, with patches).
pub fn scenarios_with(vendor: &str, shipped: &str, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(
        dir.path().join(format!("{vendor}.toml")),
        format!("{shipped}\n{extra}"),
    )
    .expect("the folder is writable");
    dir
}
