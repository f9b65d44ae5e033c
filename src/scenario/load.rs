//! Where scenario files come from: the defaults built into the binary, and the user's
//! `--scenarios DIR` folders.
//!
//! A user file named like a shipped one (`credeau.toml`) replaces it; any other `*.toml`
//! adds scenarios. Files are read in a fixed order (built-ins, then each directory in
//! command-line order, names sorted) so merges are reproducible.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{compile_sources, Catalog, Diagnostic};
use crate::vendors::Vendor;

/// One scenario file's text and where it came from.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: String,
    pub text: String,
}

/// The shipped files, embedded at build time: `scenarios/<vendor>.toml`.
pub fn builtin_sources(vendors: &[Arc<dyn Vendor>]) -> Vec<Source> {
    vendors
        .iter()
        .map(|v| Source {
            path: format!("scenarios/{}.toml", v.name()),
            text: v.default_scenarios().to_string(),
        })
        .collect()
}

/// Read files and directories (a directory's `*.toml`, sorted by name).
pub fn sources_from_paths(paths: &[PathBuf]) -> Result<Vec<Source>, Vec<Diagnostic>> {
    let mut sources = Vec::new();
    let mut diags = Vec::new();
    let unreadable = |p: &Path, e: std::io::Error| Diagnostic {
        path: p.display().to_string(),
        line: 1,
        col: 1,
        message: format!("cannot read: {e}"),
    };
    for path in paths {
        let files = if path.is_dir() {
            match std::fs::read_dir(path) {
                Ok(rd) => {
                    let mut files: Vec<PathBuf> = rd
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
                        .collect();
                    files.sort();
                    files
                }
                Err(e) => {
                    diags.push(unreadable(path, e));
                    continue;
                }
            }
        } else {
            vec![path.clone()]
        };
        for file in files {
            match std::fs::read_to_string(&file) {
                Ok(text) => sources.push(Source {
                    path: file.display().to_string(),
                    text,
                }),
                Err(e) => diags.push(unreadable(&file, e)),
            }
        }
    }
    if diags.is_empty() {
        Ok(sources)
    } else {
        Err(diags)
    }
}

/// The built-ins, with user files (given directly or as directories) replacing and
/// adding files, compiled.
pub fn load(
    vendors: &[Arc<dyn Vendor>],
    user_paths: &[PathBuf],
) -> Result<Catalog, Vec<Diagnostic>> {
    let user = sources_from_paths(user_paths)?;
    let mut base = builtin_sources(vendors);
    let mut extra = Vec::new();
    for source in user {
        let name = Path::new(&source.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        match base.iter_mut().find(|b| {
            Path::new(&b.path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                == name
        }) {
            Some(shipped) => *shipped = source,
            None => extra.push(source),
        }
    }
    base.extend(extra);
    compile_sources(vendors, &base)
}
