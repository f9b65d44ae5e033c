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

impl From<toml::de::Error> for Problem {
    fn from(e: toml::de::Error) -> Self {
        Self {
            span: e.span(),
            message: e.message().trim_end().replace('\n', " "),
        }
    }
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
}
