//! Diagnostics: every problem in a scenario file as `path:line:col: message`.

use std::fmt;
use std::ops::Range;

/// One problem, located in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path, self.line, self.col, self.message
        )
    }
}

/// A problem a vendor found in its own settings, located by byte span in the text it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub span: Option<Range<usize>>,
    pub message: String,
}

impl Problem {
    pub fn at(span: Range<usize>, message: impl Into<String>) -> Self {
        Self {
            span: Some(span),
            message: message.into(),
        }
    }
}

/// What toml says when it says nothing: its parser gives an empty message for a control
/// character in a comment (found by the fuzz tests).
pub const MSG_SYNTAX: &str =
    "a character TOML does not allow here (no control character but tab, even in a comment)";

impl From<toml::de::Error> for Problem {
    fn from(e: toml::de::Error) -> Self {
        let message = match readable(e.message()) {
            m if m.trim().is_empty() => MSG_SYNTAX.to_string(),
            m => m,
        };
        Self {
            span: e.span(),
            message,
        }
    }
}

/// toml's and serde's wording, for people: one line; Rust type names (`i64`, `a
/// sequence`, `a map`) in TOML's terms; a suggestion for a misspelt key.
pub fn readable(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    // A syntax error comes as "what\nexpected x, y": one line, "what: expected x or y".
    let mut text = match lines.as_slice() {
        [what, rest @ ..] if !rest.is_empty() => {
            let rest: Vec<String> = rest
                .iter()
                .map(|r| match r.strip_prefix("expected ") {
                    Some(list) => format!("expected {}", or_list(list)),
                    None => r.to_string(),
                })
                .collect();
            format!("{what}: {}", rest.join("; "))
        }
        [only] => match only.strip_prefix("expected ") {
            Some(list) => format!("expected {}", or_list(list)),
            None => only.to_string(),
        },
        _ => lines.join(" "),
    };
    if let Some(i) = text.find("invalid type: ") {
        // "invalid type: string \"2\", expected i64" -> "expected an integer, found the string \"2\""
        let (found, expected) = text[i + 14..]
            .split_once(", expected ")
            .unwrap_or((&text[i + 14..], ""));
        text = format!(
            "{}expected {}, found {}",
            &text[..i],
            type_words(expected),
            found_words(found)
        );
    } else if let Some(rest) = text.strip_prefix("invalid value: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            text = format!(
                "expected {}, found {}",
                type_words(expected),
                found_words(found)
            );
        }
    }
    if let Some(rest) = text.strip_prefix("missing field `") {
        text = format!("missing key `{rest}");
    }
    if let Some(rest) = text.strip_prefix("unknown field `") {
        if let Some((name, expected)) = rest.split_once("`, expected ") {
            let candidates: Vec<&str> = expected
                .trim_start_matches("one of ")
                .split([',', ' '])
                .filter_map(|w| w.trim().strip_prefix('`')?.strip_suffix('`'))
                .collect();
            text = format!(
                "unknown key `{name}`{}; expected {}",
                did_you_mean(name, &candidates),
                or_list(
                    &candidates
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            );
        }
    }
    text
}

/// "`a`, `b`, `c`" -> "`a`, `b` or `c`"
fn or_list(list: &str) -> String {
    let list = list.trim();
    match list.rsplit_once(", ") {
        Some((head, last)) if !head.contains(" or ") => format!("{head} or {last}"),
        _ => list.to_string(),
    }
}

/// serde's name of an expected type, in TOML's words.
fn type_words(expected: &str) -> String {
    let e = expected.trim();
    match e {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer".into(),
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number of 0 or more".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" | "bool" => "true or false".into(),
        "a borrowed string" | "a string" | "char" => "a string".into(),
        "a sequence" => "an array".into(),
        "a map" => "a table".into(),
        _ if e.starts_with("struct ") => "a table".into(),
        _ => e.to_string(),
    }
}

/// serde's description of the value found.
fn found_words(found: &str) -> String {
    let f = found.trim();
    for (serde, words) in [
        ("string ", "the string "),
        ("integer ", "the integer "),
        ("floating point ", "the number "),
        ("boolean ", ""),
    ] {
        if let Some(v) = f.strip_prefix(serde) {
            return format!("{words}{}", v.trim_matches('`'));
        }
    }
    match f {
        "sequence" => "an array".into(),
        "map" => "a table".into(),
        _ => f.to_string(),
    }
}

/// ` (did you mean `x`?)` when one candidate is a likely misspelling of `name`.
pub fn did_you_mean(name: &str, candidates: &[&str]) -> String {
    closest(name, candidates).map_or_else(String::new, |c| format!(" (did you mean `{c}`?)"))
}

/// The candidate nearest to `name` by edit distance, if near enough to be a typo: at most
/// one edit for short names, two for longer ones, and fewer than half the name's length.
pub fn closest<'c>(name: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let limit = if name.chars().count() <= 4 { 1 } else { 2 };
    candidates
        .iter()
        .map(|c| (edit_distance(&name.to_lowercase(), &c.to_lowercase()), *c))
        .filter(|(d, c)| *d <= limit && *d * 2 < c.chars().count().max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, counting a swap of two neighbours as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// Turns byte spans of one file into line:col positions.
pub struct Located<'a> {
    pub path: &'a str,
    pub text: &'a str,
}

impl Located<'_> {
    /// 1-based line and column (in characters) of byte `offset`.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    pub fn at(&self, span: Option<Range<usize>>, message: impl Into<String>) -> Diagnostic {
        let (line, col) = span.map_or((1, 1), |s| self.position(s.start));
        Diagnostic {
            path: self.path.to_string(),
            line,
            col,
            message: message.into(),
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_lines_and_character_columns() {
        let l = Located {
            path: "f.toml",
            text: "a = 1\nbé = 2\n",
        };
        assert_eq!(l.position(0), (1, 1));
        assert_eq!(l.position(6), (2, 1));
        // "bé = " is 6 bytes but 5 characters.
        assert_eq!(l.position(12), (2, 6));
        assert_eq!(l.at(Some(6..7), "bad").to_string(), "f.toml:2:1: bad");
    }

    #[test]
    fn serde_wording_becomes_toml_wording() {
        for (serde, ours) in [
            ("invalid type: string \"2\", expected i64", "expected an integer, found the string \"2\""),
            ("invalid type: integer `5`, expected a string", "expected a string, found the integer 5"),
            ("invalid type: sequence, expected a map", "expected a table, found an array"),
            ("invalid type: boolean `true`, expected u64", "expected a whole number of 0 or more, found true"),
            ("invalid table header\nexpected `.`, `]]`\n", "invalid table header: expected `.` or `]]`"),
            (
                "unknown field `id_prefx`, expected one of `name`, `id_prefix`, `description`, `steps`",
                "unknown key `id_prefx` (did you mean `id_prefix`?); expected `name`, `id_prefix`, `description` or `steps`",
            ),
            (
                "unknown field `zzz`, expected `client_id` or `auth_token`",
                "unknown key `zzz`; expected `client_id` or `auth_token`",
            ),
        ] {
            assert_eq!(readable(serde), ours, "{serde}");
        }
    }

    #[test]
    fn suggestions_are_for_likely_typos_only() {
        let keys = ["outcome", "times", "for_seconds", "status", "fault"];
        assert_eq!(closest("tims", &keys), Some("times"));
        assert_eq!(closest("outcmoe", &keys), Some("outcome"));
        assert_eq!(closest("Status", &keys), Some("status"));
        assert_eq!(closest("colour", &keys), None);
        assert_eq!(closest("x", &keys), None);
    }
}
