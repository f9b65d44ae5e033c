//! Where scenario files come from: the defaults built into the binary, and the user's
//! `--scenarios DIR` folders.
//!
//! A user file named like a shipped one (`credeau.toml`) replaces it; any other `*.toml`
//! adds scenarios. Files are read in a fixed order (built-ins, then each directory in
//! command-line order, names sorted) so merges are reproducible.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{compile_sources, Catalog, Diagnostic, LoadedFile};
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

/// What [`sources_from_paths`] read.
#[derive(Debug, Default)]
pub struct Sources {
    pub sources: Vec<Source>,
    /// A directory holding no `*.toml` file: loads, but is probably a mistyped path or an
    /// unmounted volume.
    pub warnings: Vec<String>,
}

/// Read files and directories (a directory's `*.toml`, sorted by name).
pub fn sources_from_paths(paths: &[PathBuf]) -> Result<Sources, Vec<Diagnostic>> {
    let mut read = Sources::default();
    let mut diags = Vec::new();
    let unreadable = |p: &Path, e: std::io::Error| Diagnostic {
        path: p.display().to_string(),
        line: 1,
        col: 1,
        message: match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            _ => format!("cannot read: {e}"),
        },
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
                    if files.is_empty() {
                        read.warnings.push(format!(
                            "{}: warning: no *.toml file in this directory, so it changes nothing (a mistyped path, or a volume not mounted?)",
                            path.display()
                        ));
                    }
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
                Ok(text) => read.sources.push(Source {
                    path: file.display().to_string(),
                    text,
                }),
                Err(e) => diags.push(unreadable(&file, e)),
            }
        }
    }
    if diags.is_empty() {
        Ok(read)
    } else {
        Err(diags)
    }
}

/// The built-ins, with user files (given directly or as directories) replacing and
/// adding files, compiled. The catalog records which user files were read and what
/// each did, and any warnings.
pub fn load(
    vendors: &[Arc<dyn Vendor>],
    user_paths: &[PathBuf],
) -> Result<Catalog, Vec<Diagnostic>> {
    let user = sources_from_paths(user_paths)?;
    let mut base = builtin_sources(vendors);
    let mut extra = Vec::new();
    let mut files = Vec::new();
    let file_name = |p: &str| {
        Path::new(p)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
    };
    for source in user.sources {
        let name = file_name(&source.path);
        let shipped = base.iter_mut().find(|b| file_name(&b.path) == name);
        files.push(LoadedFile {
            path: source.path.clone(),
            replaces: shipped.as_ref().map(|b| b.path.clone()),
        });
        match shipped {
            Some(shipped) => *shipped = source,
            None => extra.push(source),
        }
    }
    base.extend(extra);
    let mut catalog = compile_sources(vendors, &base)?;
    catalog.files = files;
    catalog.warnings.splice(0..0, user.warnings);
    Ok(catalog)
}
