//! The vendors' OpenAPI documents (`openapi/<vendor>.yaml`, compiled into the binary by
//! each vendor module, see [`crate::vendors::Vendor::openapi`]), rendered for whoever asks: as written
//! (YAML) or as JSON, with `servers` pointing at the server (and sandbox) they were
//! asked from. The admin API (`GET /__admin/openapi/<vendor>`) and `vendor-mock openapi`
//! both render through here.
//!
//! Every document is written for a mock at [`WRITTEN_BASE`]: its one `servers` entry is
//! `http://127.0.0.1:8080/<vendor>`, on its own line (openapi/README.md). Rendering
//! replaces that entry, and the same base at the start of OAuth 2 flow URLs
//! (`tokenUrl`, `authorizationUrl`, `refreshUrl`: FinScore's token URL is absolute, as a
//! relative one would resolve against the server's parent), and nothing else: the rest
//! of the YAML is byte for byte the file. Each document is prepared once per process,
//! on first use of that document ([`Documents`]: a template, the text cut where URLs go
//! in), so a request only concatenates; the admin API prepares off the async workers.
//!
//! Limits: the JSON form is the YAML read with YAML 1.2's core schema (`yes` stays a
//! string, numbers stay numbers) and printed with serde_json's pretty printer; a document
//! that does not follow the one-line `servers` convention cannot be served (a unit test
//! holds every shipped one to it).

use std::fmt::Write as _;
use std::ops::Range;
use std::sync::OnceLock;

use serde_json::{Map, Number, Value};
use yaml_rust2::{Yaml, YamlLoader};

use crate::vendors;

/// The base URL every document is written for: the mock's default listen address.
pub const WRITTEN_BASE: &str = "http://127.0.0.1:8080";

/// Keys of OAuth 2 flows whose values are absolute URLs on the mock.
const FLOW_URL_KEYS: &[&str] = &["tokenUrl", "authorizationUrl", "refreshUrl"];

/// Where a rendered document is served: its `servers`, first the one every client
/// should use (the main listener, with the vendor's prefix), then any others (the
/// vendor's own `--vendor-listen` port). OAuth 2 flow URLs use the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Servers(pub Vec<String>);

impl Servers {
    /// The documents as written: `http://127.0.0.1:8080/<vendor>`.
    pub fn written(vendor: &str) -> Self {
        Self(vec![format!("{WRITTEN_BASE}/{vendor}")])
    }
}

/// The two forms a document is served in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    /// The media type of this form: `application/yaml` (RFC 9512) or `application/json`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Yaml => "application/yaml",
            Format::Json => "application/json",
        }
    }
}

/// One vendor's document, ready to render.
pub struct Document {
    pub vendor: &'static str,
    /// `info.title` and `info.version`.
    pub title: String,
    pub version: String,
    yaml: Template,
    json: Template,
}

impl Document {
    /// Prepare `text`, the document of `vendor`; what is wrong with it otherwise.
    pub fn prepare(vendor: &'static str, text: &'static str) -> Result<Self, String> {
        let yaml = yaml_template(vendor, text)?;
        let value = to_json(text)?;
        let info = |key: &str| {
            value["info"][key]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("openapi/{vendor}.yaml: `info.{key}` is not a string"))
        };
        let (title, version) = (info("title")?, info("version")?);
        let json = json_template(vendor, value)?;
        Ok(Self {
            vendor,
            title,
            version,
            yaml,
            json,
        })
    }

    /// The document in `format`, its `servers` (and flow URLs) at `servers`.
    pub fn render(&self, format: Format, servers: &Servers) -> String {
        match format {
            Format::Yaml => self.yaml.render(servers, |out, urls| {
                for url in urls {
                    let _ = writeln!(out, "  - url: {url}");
                }
            }),
            Format::Json => self.json.render(servers, |out, urls| {
                // As serde_json's pretty printer writes a top-level key's array.
                out.push_str("[\n");
                for (i, url) in urls.iter().enumerate() {
                    let sep = if i + 1 < urls.len() { "," } else { "" };
                    let url = Value::String(url.clone());
                    let _ = write!(out, "    {{\n      \"url\": {url}\n    }}{sep}\n");
                }
                out.push_str("  ]");
            }),
        }
    }
}

/// The documents of a set of vendors, each prepared on first use of that vendor's, so
/// that a request for one document never waits for the others (preparing one reads the
/// whole YAML: tens of milliseconds in a debug build).
pub struct Documents {
    slots: Vec<Slot>,
}

/// One vendor's document: its text, and what it became once prepared.
struct Slot {
    vendor: &'static str,
    text: &'static str,
    prepared: OnceLock<Document>,
}

impl Documents {
    /// `(vendor, text)` pairs, in the order they are listed.
    pub fn new(texts: impl IntoIterator<Item = (&'static str, &'static str)>) -> Self {
        let slots = texts
            .into_iter()
            .map(|(vendor, text)| Slot {
                vendor,
                text,
                prepared: OnceLock::new(),
            })
            .collect();
        Self { slots }
    }

    /// The document of the vendor called `name`, prepared now if it was not yet.
    pub fn get(&self, name: &str) -> Option<&Document> {
        self.slots.iter().find(|s| s.vendor == name).map(Slot::get)
    }

    /// Every document, in order (each prepared now if it was not yet).
    pub fn all(&self) -> impl Iterator<Item = &Document> {
        self.slots.iter().map(Slot::get)
    }

    /// The vendors that have a document, in order (nothing is prepared).
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.slots.iter().map(|s| s.vendor)
    }

    /// Whether the document of `name` (`None`: every document) is prepared already, so
    /// that asking for it costs no more than a render. An unknown name is "prepared":
    /// there is nothing to wait for.
    pub fn is_prepared(&self, name: Option<&str>) -> bool {
        self.slots
            .iter()
            .filter(|s| name.is_none_or(|n| n == s.vendor))
            .all(|s| s.prepared.get().is_some())
    }
}

impl Slot {
    fn get(&self) -> &Document {
        self.prepared.get_or_init(|| {
            Document::prepare(self.vendor, self.text).expect(
                "every shipped OpenAPI document follows the servers convention (unit-tested)",
            )
        })
    }
}

/// The shipped documents, in registry order.
pub fn shipped() -> &'static Documents {
    static DOCUMENTS: OnceLock<Documents> = OnceLock::new();
    DOCUMENTS
        .get_or_init(|| Documents::new(vendors::registry().iter().map(|v| (v.name(), v.openapi()))))
}

/// Every shipped document, in registry order (each prepared on first use).
pub fn documents() -> impl Iterator<Item = &'static Document> {
    shipped().all()
}

/// The shipped document of the vendor called `name`.
pub fn document(name: &str) -> Option<&'static Document> {
    shipped().get(name)
}

/// `finbox, credeau, …`: the vendors that have a document, for error messages.
pub fn vendor_names() -> String {
    shipped().names().collect::<Vec<_>>().join(", ")
}

/// A text with holes where URLs go.
struct Template {
    text: String,
    /// In order, not overlapping.
    holes: Vec<(Range<usize>, Hole)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hole {
    /// The whole `servers` value.
    Servers,
    /// The first server's URL (the written `http://127.0.0.1:8080/<vendor>` it replaces).
    Base,
}

impl Template {
    fn render(&self, servers: &Servers, list: impl Fn(&mut String, &[String])) -> String {
        let mut out = String::with_capacity(self.text.len() + 256);
        let mut at = 0;
        for (range, hole) in &self.holes {
            out.push_str(&self.text[at..range.start]);
            match hole {
                Hole::Servers => list(&mut out, &servers.0),
                Hole::Base => out.push_str(servers.0.first().map_or("", String::as_str)),
            }
            at = range.end;
        }
        out.push_str(&self.text[at..]);
        out
    }
}

/// The YAML as written, cut at its `servers` entry and at the flow URLs on the mock.
fn yaml_template(vendor: &str, text: &str) -> Result<Template, String> {
    let base = format!("{WRITTEN_BASE}/{vendor}");
    let entry = format!("\nservers:\n  - url: {base}\n");
    let mut found = text.match_indices(&entry);
    let start = match (found.next(), found.next()) {
        (Some((at, _)), None) => at + "\nservers:\n".len(),
        _ => {
            return Err(format!(
                "openapi/{vendor}.yaml: expected `servers:` with the one entry `  - url: {base}` on the next line, once"
            ))
        }
    };
    let mut holes = vec![(
        start..start + entry.len() - "\nservers:\n".len(),
        Hole::Servers,
    )];
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        for key in FLOW_URL_KEYS {
            if let Some(value) = trimmed
                .strip_prefix(key)
                .and_then(|r| r.strip_prefix(": "))
                .filter(|v| v.starts_with(&base))
            {
                let at = offset + (line.len() - value.len());
                holes.push((at..at + base.len(), Hole::Base));
            }
        }
        offset += line.len();
    }
    holes.sort_by_key(|(r, _)| r.start);
    Ok(Template {
        text: text.to_string(),
        holes,
    })
}

/// Placeholders that stand for the holes in the JSON text before it is cut.
const SERVERS_MARK: &str = "\"vendor-mock:servers\"";
const BASE_MARK: &str = "vendor-mock:base";

/// The JSON form: `doc` printed pretty, cut where its servers and flow URLs go.
fn json_template(vendor: &str, mut doc: Value) -> Result<Template, String> {
    let base = format!("{WRITTEN_BASE}/{vendor}");
    let written = match doc.get("servers").and_then(Value::as_array) {
        Some(servers) if servers.len() == 1 => servers[0].get("url").and_then(Value::as_str),
        _ => None,
    };
    if written != Some(base.as_str()) {
        return Err(format!(
            "openapi/{vendor}.yaml: expected one server, {base}"
        ));
    }
    doc["servers"] = Value::String(SERVERS_MARK.trim_matches('"').to_string());
    mark_flow_urls(&mut doc, &base);
    let text = serde_json::to_string_pretty(&doc).expect("a JSON value always prints");
    if text.matches(SERVERS_MARK).count() != 1 {
        return Err(format!(
            "openapi/{vendor}.yaml: the text {SERVERS_MARK} occurs in the document itself"
        ));
    }
    let mut holes: Vec<_> = text
        .match_indices(SERVERS_MARK)
        .map(|(at, m)| (at..at + m.len(), Hole::Servers))
        .chain(
            text.match_indices(BASE_MARK)
                .map(|(at, m)| (at..at + m.len(), Hole::Base)),
        )
        .collect();
    holes.sort_by_key(|(r, _)| r.start);
    Ok(Template { text, holes })
}

/// Replace `base` at the start of every OAuth 2 flow URL with [`BASE_MARK`].
fn mark_flow_urls(v: &mut Value, base: &str) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                match child {
                    Value::String(s) if FLOW_URL_KEYS.contains(&k.as_str()) => {
                        if let Some(rest) = s.strip_prefix(base) {
                            *s = format!("{BASE_MARK}{rest}");
                        }
                    }
                    _ => mark_flow_urls(child, base),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| mark_flow_urls(i, base)),
        _ => {}
    }
}

/// A YAML document as JSON (YAML 1.2 core schema; mapping keys become strings).
pub fn to_json(text: &str) -> Result<Value, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    match docs.as_slice() {
        [doc] => yaml_value(doc),
        _ => Err(format!("expected one YAML document, found {}", docs.len())),
    }
}

fn yaml_value(y: &Yaml) -> Result<Value, String> {
    Ok(match y {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Real(r) => serde_json::from_str::<Number>(r)
            .ok()
            .or_else(|| y.as_f64().and_then(Number::from_f64))
            .map(Value::Number)
            .ok_or_else(|| format!("{r} is a number JSON cannot hold"))?,
        Yaml::Array(items) => Value::Array(items.iter().map(yaml_value).collect::<Result<_, _>>()?),
        Yaml::Hash(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Real(r) => r.clone(),
                    Yaml::Boolean(b) => b.to_string(),
                    Yaml::Null => "null".to_string(),
                    other => return Err(format!("a mapping key JSON cannot hold: {other:?}")),
                };
                out.insert(key, yaml_value(v)?);
            }
            Value::Object(out)
        }
        Yaml::Alias(_) | Yaml::BadValue => {
            return Err("an alias to no anchor".to_string());
        }
    })
}

/// Where a document is served from: `scheme://host` of the request, the sandbox's
/// `/~NAME`, the vendor's prefix; then, for a vendor with its own port, that port on the
/// same host name (with the sandbox), always `http://` (the mock serves no TLS). A request
/// that came through a proxy (`proxied`: see [`crate::server::Origin`]) gets no such
/// second server: the proxy's host and scheme say nothing of the mock's own ports, which
/// the client may not reach at all.
pub fn servers_for(
    scheme: &str,
    host: &str,
    proxied: bool,
    sandbox: Option<&str>,
    vendor: &str,
    own_ports: &[u16],
) -> Servers {
    let sandbox = sandbox.map(|n| format!("/~{n}")).unwrap_or_default();
    let mut urls = vec![format!("{scheme}://{host}{sandbox}/{vendor}")];
    if !proxied {
        let name = host_name(host);
        for port in own_ports {
            urls.push(format!("http://{name}:{port}{sandbox}"));
        }
    }
    Servers(urls)
}

/// `host` without its port: `mock:8080` → `mock`, `[::1]:8080` → `[::1]`.
pub fn host_name(host: &str) -> &str {
    match host.rfind([':', ']']) {
        Some(i) if host.as_bytes()[i] == b':' => &host[..i],
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_document_prepares_and_renders_as_written_with_the_written_server() {
        for d in documents() {
            let v = vendors::registry()
                .into_iter()
                .find(|v| v.name() == d.vendor)
                .unwrap();
            let written = Servers::written(d.vendor);
            assert_eq!(
                d.render(Format::Yaml, &written),
                v.openapi(),
                "{}",
                d.vendor
            );
            let json: Value = serde_json::from_str(&d.render(Format::Json, &written)).unwrap();
            assert_eq!(json, to_json(v.openapi()).unwrap(), "{}", d.vendor);
            assert!(
                d.title.ends_with("(as emulated by vendor-mock)"),
                "{}",
                d.title
            );
        }
    }

    #[test]
    fn servers_and_flow_urls_change_and_nothing_else() {
        let text = "openapi: 3.1.0\ninfo:\n  title: T\n  version: v1\nservers:\n  - url: http://127.0.0.1:8080/x\npaths: {}\ncomponents:\n  securitySchemes:\n    o:\n      type: oauth2\n      flows:\n        clientCredentials:\n          tokenUrl: http://127.0.0.1:8080/x/token\n          scopes: {}\n  examples:\n    e:\n      value: http://127.0.0.1:8080/x/kept\n";
        let d = Document::prepare("x", text).unwrap();
        let servers = Servers(vec![
            "http://mock:1/~t/x".to_string(),
            "http://mock:2/~t".to_string(),
        ]);
        let yaml = d.render(Format::Yaml, &servers);
        assert_eq!(
            yaml,
            text.replace(
                "  - url: http://127.0.0.1:8080/x\n",
                "  - url: http://mock:1/~t/x\n  - url: http://mock:2/~t\n"
            )
            .replace(
                "tokenUrl: http://127.0.0.1:8080/x",
                "tokenUrl: http://mock:1/~t/x"
            )
        );
        let json: Value = serde_json::from_str(&d.render(Format::Json, &servers)).unwrap();
        assert_eq!(json, to_json(&yaml).unwrap());
        assert_eq!(json["servers"][1]["url"], "http://mock:2/~t");
        assert_eq!(
            json["components"]["examples"]["e"]["value"],
            "http://127.0.0.1:8080/x/kept"
        );
    }

    #[test]
    fn a_document_without_the_one_servers_line_is_refused() {
        for text in [
            "openapi: 3.1.0\ninfo:\n  title: T\n  version: v\npaths: {}\n",
            "openapi: 3.1.0\nservers:\n  - url: http://elsewhere/x\n",
            "openapi: 3.1.0\nservers:\n  - url: http://127.0.0.1:8080/x\ninfo: {}\nservers:\n  - url: http://127.0.0.1:8080/x\n",
            "openapi: 3.1.0\nservers:\n  - url: http://127.0.0.1:8080/x\n  - url: http://127.0.0.1:8080/y\n",
        ] {
            let e = Document::prepare("x", text).err().expect(text);
            assert!(e.contains("openapi/x.yaml"), "{e}");
        }
    }

    #[test]
    fn yaml_becomes_json_with_string_keys_and_core_schema_scalars() {
        let v =
            to_json("a:\n  200: {x: 1.5, y: yes, z: ~, w: '007'}\n  b: [1, true, 2e3]\n").unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a": {"200": {"x": 1.5, "y": "yes", "z": null, "w": "007"}, "b": [1, true, 2000.0]}})
        );
        assert!(to_json("a: [").is_err());
        assert!(to_json("a: .inf").unwrap_err().contains("JSON"));
    }

    #[test]
    fn servers_name_the_request_host_the_sandbox_and_the_vendor_port() {
        assert_eq!(
            servers_for("http", "mock:8080", false, Some("t1"), "finbox", &[9001]).0,
            ["http://mock:8080/~t1/finbox", "http://mock:9001/~t1"]
        );
        assert_eq!(
            servers_for("https", "[::1]:8080", false, None, "credeau", &[]).0,
            ["https://[::1]:8080/credeau"]
        );
        assert_eq!(host_name("[::1]"), "[::1]");
        assert_eq!(host_name("mock"), "mock");
    }

    #[test]
    fn behind_a_proxy_the_vendor_port_is_left_out_and_it_is_never_https() {
        // Through a proxy: only the proxy's address is known to reach the mock.
        assert_eq!(
            servers_for("https", "api.example.com", true, None, "finbox", &[19001]).0,
            ["https://api.example.com/finbox"]
        );
        assert_eq!(
            servers_for(
                "http",
                "api.example.com",
                true,
                Some("t"),
                "finbox",
                &[19001]
            )
            .0,
            ["http://api.example.com/~t/finbox"]
        );
        // Direct: the mock's own port speaks plain HTTP, whatever the first server says.
        assert_eq!(
            servers_for("https", "mock:8080", false, None, "finbox", &[19001]).0,
            ["https://mock:8080/finbox", "http://mock:19001"]
        );
    }

    #[test]
    fn each_document_is_prepared_only_when_it_is_first_asked_for() {
        let text = |v: &str| -> &'static str {
            format!("openapi: 3.1.0\ninfo:\n  title: {v}\n  version: v1\nservers:\n  - url: http://127.0.0.1:8080/{v}\npaths: {{}}\n").leak()
        };
        let docs = Documents::new([("a", text("a")), ("b", text("b"))]);
        assert_eq!(docs.names().collect::<Vec<_>>(), ["a", "b"]);
        assert!(!docs.is_prepared(Some("a")) && !docs.is_prepared(None));
        assert_eq!(docs.get("a").unwrap().title, "a");
        assert!(docs.is_prepared(Some("a")));
        assert!(
            !docs.is_prepared(Some("b")),
            "asking for a prepares a alone"
        );
        assert!(!docs.is_prepared(None));
        assert!(docs.get("c").is_none() && docs.is_prepared(Some("c")));
        assert_eq!(docs.all().map(|d| d.vendor).collect::<Vec<_>>(), ["a", "b"]);
        assert!(docs.is_prepared(None));
    }
}
