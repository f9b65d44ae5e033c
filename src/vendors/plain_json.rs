//! A cursor over a JSON body read from its bytes, for the vendors' plain body readers
//! (FinBox's call, FinScore's score request): whitespace, single bytes, strings without
//! escapes or control characters, small positive integers and `null`. Anything else is
//! refused (`None`), and each reader then hands the body to its vendor's general reading.

pub struct Cursor<'a> {
    pub text: &'a str,
    pub at: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// Skip JSON whitespace.
    pub fn space(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.bytes().get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte after whitespace, not taken.
    pub fn peek(&mut self) -> Option<u8> {
        self.space();
        self.bytes().get(self.at).copied()
    }

    /// Take `byte` (after whitespace).
    pub fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// A string with no escape and no control character (JSON allows none raw).
    pub fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        loop {
            match *self.bytes().get(self.at)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
        // Both ends are at a `"`, so on character boundaries.
        let s = &self.text[start..self.at];
        self.at += 1;
        Some(s)
    }

    /// A positive integer without a leading zero, fraction or exponent, of at most 18
    /// digits (so within `i64`).
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

    /// A plain string, or `null` (`Some(None)`).
    pub fn string_or_null(&mut self) -> Option<Option<&'a str>> {
        if self.peek()? == b'n' {
            let rest = self.bytes().get(self.at..)?;
            // `null` and then something that ends a value (not `nullx`).
            if rest.starts_with(b"null") && !rest.get(4).is_some_and(|b| b.is_ascii_alphanumeric())
            {
                self.at += 4;
                return Some(None);
            }
            return None;
        }
        self.string().map(Some)
    }
}
