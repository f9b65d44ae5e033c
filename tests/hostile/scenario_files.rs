//! Scenario files as hostile input: TOML fragments to splice into them, and what
//! compiling any text must give.

use std::sync::Arc;

use vendor_mock::scenario::{compile_sources, Source};
use vendor_mock::vendors::Vendor;

/// Pieces of TOML syntax and of scenario files, well-formed or not.
pub const TOML_BITS: &[&str] = &[
    "=",
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    ",",
    "\"",
    "'",
    "\"\"\"",
    "#",
    "\n",
    "\r\n",
    "\t",
    " ",
    "\\",
    "\\u",
    "\u{0}",
    "é",
    "\u{1F600}",
    "\u{FEFF}",
    "-1",
    "0",
    "1e400",
    "nan",
    "inf",
    "18446744073709551616",
    "9223372036854775807",
    "1979-05-27T07:32:00Z",
    "true",
    "[[scenario]]\n",
    "[auth]\n",
    "[rate_limit]\n",
    "vendor = \"finbox\"\n",
    "vendor = \"nope\"\n",
    "name = \"x\"\n",
    "id_prefix = \"\"\n",
    "id_prefix = \"flaky-\"\n",
    "steps = []\n",
    "steps = [{}]\n",
    "{ outcome = \"complete\" }",
    "{ outcome = \"zzz\" }",
    "{ status = 99999 }",
    "{ status = 503, body = { a = 1 } }",
    "{ fault = \"reset\" }",
    "{ fault = \"boom\" }",
    "times = 0",
    "times = -1",
    "for_seconds = 18446744073709551615",
    "for_seconds = 315360001",
    "delay_ms = 18446744073709551615",
    "patch = { a = [] }",
    "body_file = \"/dev/null\"",
    "body_file = \"nope.json\"",
    "headers = { \"\" = \"x\" }",
    "headers = { \"x\" = \"\\n\" }",
    "requests = 0",
    "per_seconds = 0",
    "allowed_ips = [\"300.1.1.1/99\"]",
    "webhook_url = \"ftp://x\"",
    "accepted = [0]",
    "value_type = \"NOPE\"",
];

/// `Err` unless compiling `sources` gives a catalog or diagnostics that each point
/// inside the file they name.
pub fn check(vendors: &[Arc<dyn Vendor>], sources: &[Source]) -> Result<(), String> {
    match compile_sources(vendors, sources) {
        Ok(_) => Ok(()),
        Err(diags) if diags.is_empty() => Err("refused with no diagnostic".into()),
        Err(diags) => {
            for d in &diags {
                let Some(src) = sources.iter().find(|s| s.path == d.path) else {
                    return Err(format!("{d}: names no file that was compiled"));
                };
                let lines: Vec<&str> = src.text.split('\n').collect();
                let line_ok = d.line >= 1 && d.line <= lines.len();
                let col_ok =
                    line_ok && d.col >= 1 && d.col <= lines[d.line - 1].chars().count() + 1;
                if !(line_ok && col_ok) {
                    return Err(format!("{d}: outside the file ({} lines)", lines.len()));
                }
                if d.message.trim().is_empty() {
                    return Err(format!("{d}: no message"));
                }
            }
            Ok(())
        }
    }
}
