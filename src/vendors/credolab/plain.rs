//! The Iovation check's body as the documented client sends it, taken from the bytes
//! without serde's machinery: `{"iovationRequestParams": {"accountCode": "…",
//! "transactionInsight": {…}}}`, the keys in their documented case, each once, the
//! account code a string without escapes, `transactionInsight` (optional, or `null`)
//! an object of plain strings, any JSON whitespace between tokens.
//!
//! Limits, on purpose: anything else (an escape, another key, a duplicate, a nested
//! value or number in `transactionInsight`, trailing bytes) is not taken here, and the
//! caller reads the body as JSON (`iovation_account_code`), which gives the same for
//! what this takes (a unit test holds it to that general reading).

/// The `accountCode` of a plain Iovation body, borrowed from it; `None` when the body
/// is not plainly that (see the module doc).
pub fn account_code(body: &[u8]) -> Option<&str> {
    // UTF-8 checked once for the whole body (serde refuses bad UTF-8 in a string, and
    // anything but ASCII outside one is not JSON), then strings are sliced off it.
    let text = std::str::from_utf8(body).ok()?;
    let mut c = Cursor { text, at: 0 };
    c.eat(b'{')?;
    if c.string()? != "iovationRequestParams" {
        return None;
    }
    c.eat(b':')?;
    let (mut code, mut insight) = (None, false);
    c.eat(b'{')?;
    loop {
        let key = c.string()?;
        c.eat(b':')?;
        match key {
            "accountCode" if code.is_none() => code = Some(c.string()?),
            "transactionInsight" if !insight => {
                insight = true;
                c.strings_object_or_null()?;
            }
            _ => return None,
        }
        if !c.next_or_end()? {
            break;
        }
    }
    c.eat(b'}')?;
    c.space();
    (c.at == body.len()).then_some(code?)
}

struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// Skip JSON whitespace.
    fn space(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.bytes().get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte after whitespace, not taken.
    fn peek(&mut self) -> Option<u8> {
        self.space();
        self.bytes().get(self.at).copied()
    }

    /// Take `byte` (after whitespace).
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// After an object's value: `,` (`true`, another member follows) or `}` (`false`).
    fn next_or_end(&mut self) -> Option<bool> {
        let more = match self.peek()? {
            b',' => true,
            b'}' => false,
            _ => return None,
        };
        self.at += 1;
        Some(more)
    }

    /// A string with no escape and no control character (JSON allows none raw).
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        self.at += special(&self.bytes()[start..]);
        if *self.bytes().get(self.at)? != b'"' {
            return None;
        }
        // Both ends are at a `"`, so on character boundaries.
        let s = &self.text[start..self.at];
        self.at += 1;
        Some(s)
    }

    /// `null`, or an object whose keys and values are plain strings (skipped).
    fn strings_object_or_null(&mut self) -> Option<()> {
        if self.peek()? == b'n' {
            let rest = self.bytes().get(self.at..)?;
            if rest.starts_with(b"null") && !rest.get(4).is_some_and(u8::is_ascii_alphanumeric) {
                self.at += 4;
                return Some(());
            }
            return None;
        }
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.string()?;
            self.eat(b':')?;
            self.string()?;
            if !self.next_or_end()? {
                return Some(());
            }
        }
    }
}

/// Where the first `"`, `\\` or control character of `b` is (`b.len()` if none), eight
/// bytes at a time: each test below flags exactly the bytes that are one, except bytes
/// after a flagged one (a borrow only crosses from a byte that is), so the lowest flag
/// is the first such byte.
fn special(b: &[u8]) -> usize {
    const LO: u64 = u64::from_le_bytes([0x01; 8]);
    const HI: u64 = u64::from_le_bytes([0x80; 8]);
    let zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let mut chunks = b.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let x = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        let flags = x.wrapping_sub(0x20 * LO) & !x & HI
            | zero(x ^ (u64::from(b'"') * LO))
            | zero(x ^ (u64::from(b'\\') * LO));
        if flags != 0 {
            return at + flags.trailing_zeros() as usize / 8;
        }
        at += 8;
    }
    at + chunks
        .remainder()
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .unwrap_or(chunks.remainder().len())
}

#[cfg(test)]
mod tests {
    use super::super::{iovation_account_code, plain_iovation};
    use super::*;
    use crate::server::MockRequest;

    fn request(body: &[u8]) -> MockRequest {
        let mut req = MockRequest::test_post("", Some("application/json"));
        req.body = bytes::Bytes::copy_from_slice(body);
        req
    }

    /// The general reading ([`iovation_account_code`]): the account code it takes, or
    /// `None` when it refuses the body.
    fn general(body: &[u8]) -> Option<String> {
        iovation_account_code(&request(body)).ok()
    }

    fn plain_read(body: &[u8]) -> Option<String> {
        account_code(body).map(str::to_string)
    }

    #[test]
    fn the_first_special_byte_is_found_at_every_place() {
        let slow = |b: &[u8]| {
            b.iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .unwrap_or(b.len())
        };
        for len in 0..40 {
            for at in 0..=len {
                for special_byte in [
                    b'"', b'\\', 0, 0x1f, b'a', 0x20, 0x7f, 0x80, 0xff, b'!', b'#', b'[',
                ] {
                    for fill in [b'x', 0xc3, 0x21, 0x5d, 0x7f] {
                        let mut b = vec![fill; len];
                        if at < len {
                            b[at] = special_byte;
                            // A special byte later as well: the first one counts.
                            if at + 3 < len {
                                b[at + 3] = b'"';
                            }
                        }
                        assert_eq!(special(&b), slow(&b), "{b:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn plain_bodies_read_as_the_general_reading_reads_them_and_others_are_left_to_it() {
        let taken = [
            r#"{"iovationRequestParams":{"accountCode":"acc"}}"#,
            r#"{"iovationRequestParams": {"accountCode": "bench-account", "transactionInsight": {"email": "acc@domain.com", "eventId": "168200gsd851", "mobilePhoneNumber": "+15032246010"}}}"#,
            "\n{ \"iovationRequestParams\" : {\r\n\t\"transactionInsight\" : { } , \"accountCode\":\" é€𝄞 \" } }\n",
            r#"{"iovationRequestParams":{"transactionInsight":null,"accountCode":"a"}}"#,
            r#"{"iovationRequestParams":{"accountCode":"a","transactionInsight":{"x":"1","x":"2"}}}"#,
            "{\"iovationRequestParams\":{\"accountCode\":\"\u{7f}'\"}}",
        ];
        for body in taken {
            let got = plain_read(body.as_bytes());
            assert!(got.is_some(), "{body}");
            assert_eq!(got, general(body.as_bytes()), "{body}");
        }
        // Taken here, refused by the check after this reader as the general reading
        // refuses it: a blank account code.
        for body in [
            r#"{"iovationRequestParams":{"transactionInsight":null,"accountCode":""}}"#,
            r#"{"iovationRequestParams":{"accountCode":"   "}}"#,
        ] {
            assert!(plain_read(body.as_bytes()).is_some(), "{body}");
            assert_eq!(plain_iovation(&request(body.as_bytes())), None, "{body}");
            assert_eq!(general(body.as_bytes()), None, "{body}");
        }
        let mut left: Vec<String> = [
            "",
            "{}",
            "[]",
            "null",
            r#"["c1",1,"s"]"#,
            r#"["639181234567","Q1;"]"#,
            r#"[["acc"]]"#,
            r#"{"iovationRequestParams":["acc"]}"#,
            r#"{"iovationRequestParams":{}}"#,
            r#"{"iovationRequestParams":null}"#,
            r#"{"iovationRequestParams":{"accountCode":"a\"b"}}"#,
            r#"{"iovationRequestParams":{"accountCode":"a\u0062"}}"#,
            r#"{"iovationRequestParams":{"accountCode":null}}"#,
            r#"{"iovationRequestParams":{"accountCode":12}}"#,
            r#"{"iovationRequestParams":{"accountCode":"a","accountCode":"b"}}"#,
            r#"{"iovationRequestParams":{"accountCode":"a","transactionInsight":{},"transactionInsight":{}}}"#,
            r#"{"iovationRequestParams":{"accountCode":"a","transactionInsight":[1]}}"#,
            r#"{"iovationRequestParams":{"accountCode":"a","transactionInsight":{"n":1}}}"#,
            r#"{"iovationRequestParams":{"accountCode":"a","transactionInsight":{"o":{}}}}"#,
            r#"{"iovationRequestParams":{"accountCode":"a","transactionInsight":{"e":"\n"}}}"#,
            r#"{"iovationRequestParams":{"accountCode":"a","transactionInsight":{"e":"\ud800"}}}"#,
            r#"{"iovationRequestParams":{"accountCode":"a","transactionInsight":nullx}}"#,
            r#"{"iovationRequestParams":{"accountCode":"a","other":"b"}}"#,
            r#"{"iovationRequestParams":{"accountCode":"a"},"other":1}"#,
            r#"{"iovationRequestParams":{"accountCode":"a"},"iovationRequestParams":{"accountCode":"a"}}"#,
            r#"{"IovationRequestParams":{"accountCode":"a"}}"#,
            r#"{"iovationRequestParams":{"AccountCode":"a"}}"#,
            r#"{"iovationRequestParams":{"accountCode":"a",}}"#,
            r#"{"iovationRequestParams":{"accountCode":"a"}}x"#,
            r#"{"iovationRequestParams":{"accountCode":"a"}}{}"#,
            "{\"iovationRequestParams\":{\"accountCode\":\"a\u{1}\"}}",
            "\u{feff}{\"iovationRequestParams\":{\"accountCode\":\"a\"}}",
        ]
        .map(String::from)
        .to_vec();
        // Every prefix of a plain body is cut short: never taken.
        let whole = r#"{"iovationRequestParams":{"accountCode":"a","transactionInsight":{"k":"v","l":"w"}}}"#;
        left.extend((0..whole.len()).map(|n| whole[..n].to_string()));
        for body in &left {
            let got = plain_read(body.as_bytes());
            let general = general(body.as_bytes());
            assert!(got.is_none() || got == general, "{body}: {got:?}");
            if general.is_none() {
                assert_eq!(got, None, "{body}");
            }
        }
        // Invalid UTF-8 inside a string.
        let mut bad = br#"{"iovationRequestParams":{"accountCode":"a"#.to_vec();
        bad.push(0xff);
        bad.extend_from_slice(br#""}}"#);
        assert_eq!(plain_read(&bad), None);
        assert_eq!(general(&bad), None);
    }
}
