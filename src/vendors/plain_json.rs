//! A cursor over a JSON body read from its bytes, for the vendors' plain body readers
//! (FinBox's call, FinScore's score request, Credolab's Iovation check, the Feature
//! Store's read, Credeau's common body): whitespace, single bytes, objects of known
//! keys, strings without escapes or control characters, lists of them, small positive
//! integers and `null`. Anything else is refused (`None`), and each reader then hands
//! the body to its vendor's general reading.
//!
//! UTF-8 is checked where it can matter, in each string taken (kept or skipped): serde
//! refuses bad UTF-8 in any string, and outside strings only ASCII tokens are taken
//! (keys are matched by their bytes). A reader chooses how, by what its bodies hold
//! (each choice measured with bench/instructions.py): [`Cursor::new`] checks each string
//! as it is taken, cheaper for a few values among long keys; [`Cursor::checked`] checks
//! the whole body once and then slices strings off it, cheaper for many short strings.

use std::borrow::Cow;

use crate::memo::special;

pub struct Cursor<'a> {
    b: &'a [u8],
    /// The body as text when [`Cursor::checked`] checked it whole.
    text: Option<&'a str>,
    pub at: usize,
}

// The small steps are `#[inline]`: each reader calls them from its own module, and a
// call per byte taken costs more than the step (measured with bench/instructions.py).
impl<'a> Cursor<'a> {
    /// A cursor at the start of `body` that checks each string for UTF-8 as it takes it.
    pub fn new(body: &'a [u8]) -> Self {
        Cursor {
            b: body,
            text: None,
            at: 0,
        }
    }

    /// A cursor at the start of `body` checked for UTF-8 at once (`None` when it is not:
    /// no reader takes such a body).
    pub fn checked(body: &'a [u8]) -> Option<Self> {
        let text = std::str::from_utf8(body).ok()?;
        Some(Cursor {
            b: body,
            text: Some(text),
            at: 0,
        })
    }

    #[inline]
    fn bytes(&self) -> &'a [u8] {
        self.b
    }

    /// Skip JSON whitespace.
    #[inline]
    pub fn space(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.bytes().get(self.at) {
            self.at += 1;
        }
    }

    /// Whether only JSON whitespace is left.
    #[inline]
    pub fn at_end(&mut self) -> bool {
        self.space();
        self.at == self.b.len()
    }

    /// The next byte after whitespace, not taken.
    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        self.space();
        self.bytes().get(self.at).copied()
    }

    /// Take `byte` (after whitespace).
    #[inline]
    pub fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// After a member or an item: `,` (`true`, another follows) or `close` (`false`).
    #[inline]
    pub fn next_or_end(&mut self, close: u8) -> Option<bool> {
        let more = match self.peek()? {
            b',' => true,
            b if b == close => false,
            _ => return None,
        };
        self.at += 1;
        Some(more)
    }

    /// A string with no escape and no control character (JSON allows none raw), and
    /// valid UTF-8.
    #[inline]
    pub fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        self.at += special(&self.bytes()[start..]);
        if *self.bytes().get(self.at)? != b'"' {
            return None;
        }
        let s = match self.text {
            // Both ends are at a `"`, so on character boundaries.
            Some(text) => &text[start..self.at],
            None => std::str::from_utf8(&self.bytes()[start..self.at]).ok()?,
        };
        self.at += 1;
        Some(s)
    }

    /// `[ "…", … ]` of such strings.
    #[inline]
    pub fn strings(&mut self) -> Option<Vec<Cow<'a, str>>> {
        self.eat(b'[')?;
        let mut out = Vec::new();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(out);
        }
        loop {
            out.push(Cow::Borrowed(self.string()?));
            if !self.next_or_end(b']')? {
                return Some(out);
            }
        }
    }

    /// `{ "key": value, … }` of the `keys` (each with its closing quote, so none is
    /// taken for a longer one), each value taken by `field` with its key's index
    /// (`None`: not plain). Another key, or one with an escape, is not plain. Always
    /// inlined, so that each reader's keys are constants where they are compared (a
    /// call with them as a slice costs each reader a few hundred instructions a body).
    #[inline(always)]
    pub fn object(
        &mut self,
        keys: &[&[u8]],
        mut field: impl FnMut(usize, &mut Self) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.eat(b'"')?;
            let rest = &self.bytes()[self.at..];
            let key = keys.iter().position(|k| rest.starts_with(k))?;
            self.at += keys[key].len();
            self.eat(b':')?;
            field(key, self)?;
            if !self.next_or_end(b'}')? {
                return Some(());
            }
        }
    }

    /// A positive integer without a leading zero, fraction or exponent, of at most 18
    /// digits (so within `i64`).
    #[inline]
    pub fn integer(&mut self) -> Option<i64> {
        self.space();
        let start = self.at;
        let b = self.bytes();
        while b.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        let digits = &b[start..self.at];
        if digits.is_empty() || digits.len() > 18 || digits[0] == b'0' {
            return None;
        }
        // A fraction or an exponent makes it a float: not this reader's.
        if matches!(b.get(self.at), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some(
            digits
                .iter()
                .fold(0i64, |n, d| n * 10 + i64::from(d - b'0')),
        )
    }

    /// Take `null` if it is next (`Some(true)`); `Some(false)` when something else
    /// that is not an `n` is next; `None` at the end or on another word (`nul`,
    /// `nullx`).
    #[inline]
    pub fn null(&mut self) -> Option<bool> {
        if self.peek()? != b'n' {
            return Some(false);
        }
        let rest = &self.bytes()[self.at..];
        // `null` and then something that ends a value (not `nullx`).
        if rest.starts_with(b"null") && !rest.get(4).is_some_and(u8::is_ascii_alphanumeric) {
            self.at += 4;
            return Some(true);
        }
        None
    }

    /// A plain string, or `null` (`Some(None)`).
    #[inline]
    pub fn string_or_null(&mut self) -> Option<Option<&'a str>> {
        if self.null()? {
            return Some(None);
        }
        self.string().map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_that_is_not_utf8_is_not_taken() {
        for bad in [&b"\"\xff\""[..], b"\"a\xc3\"", b"\"\xed\xa0\x80\""] {
            assert_eq!(Cursor::new(bad).string(), None, "{}", bad.escape_ascii());
            assert!(Cursor::checked(bad).is_none(), "{}", bad.escape_ascii());
        }
        let good = "\"é€𝄞\"".as_bytes();
        assert_eq!(Cursor::new(good).string(), Some("é€𝄞"));
        assert_eq!(
            Cursor::checked(good).and_then(|mut c| c.string()),
            Some("é€𝄞")
        );
    }

    #[test]
    fn null_is_taken_only_as_a_whole_word() {
        for (body, want, at) in [
            ("null", Some(true), 4),
            (" null,", Some(true), 5),
            ("null}", Some(true), 4),
            ("\"n\"", Some(false), 0),
            ("nul", None, 0),
            ("nullx", None, 0),
            ("null0", None, 0),
            ("", None, 0),
        ] {
            let mut c = Cursor::new(body.as_bytes());
            assert_eq!(c.null(), want, "{body}");
            if want == Some(true) {
                assert_eq!(c.at, at, "{body}");
            }
        }
    }

    #[test]
    fn an_object_takes_only_its_keys_whole_and_each_separator_once() {
        fn read(body: &str) -> Option<Vec<(usize, &str)>> {
            let mut c = Cursor::new(body.as_bytes());
            let mut got = Vec::new();
            c.object(&[b"a\"", b"ab\""], |k, c| {
                got.push((k, c.string()?));
                Some(())
            })?;
            c.at_end().then_some(got)
        }
        assert_eq!(read(" { } "), Some(vec![]));
        assert_eq!(
            read(r#"{"ab":"x" , "a":"y"}"#),
            Some(vec![(1, "x"), (0, "y")])
        );
        for body in [
            r#"{"abc":"x"}"#,
            r#"{"b":"x"}"#,
            r#"{"a":"x",}"#,
            r#"{"a":"x"]"#,
            r#"{"a" "x"}"#,
            r#"{"a":"x"} x"#,
            r#"{"a\u0062":"x"}"#,
            r#"{"a":"x""#,
        ] {
            assert_eq!(read(body), None, "{body}");
        }
    }
}
