//! A read's body as Google's SDK sends it, taken from the bytes without a JSON tree or
//! serde's machinery: `{"entityId": …}` or `{"entityIds": […]}`, and
//! `{"featureSelector": {"idMatcher": {"ids": […]}}}`, every value a string without
//! escapes, any JSON whitespace between tokens.
//!
//! Limits, on purpose: anything else (an escape, a `null`, another field, a duplicate,
//! a number, trailing bytes) is not taken here, and the caller reads the body as JSON
//! the general way, which gives the same for what this takes (a unit test holds this
//! to serde's reading of the same fields and to the general path).

use std::borrow::Cow;

/// The fields of a plain read body, borrowed from it.
#[derive(Debug, Default, PartialEq)]
pub struct ReadBody<'a> {
    pub entity_id: Option<&'a str>,
    pub entity_ids: Option<Vec<Cow<'a, str>>>,
    /// `featureSelector.idMatcher.ids`.
    pub ids: Vec<Cow<'a, str>>,
}

/// The body's fields, or `None` when it is not plainly that (see the module doc).
pub fn read_body(body: &[u8]) -> Option<ReadBody<'_>> {
    // Outside strings only ASCII tokens are taken, so UTF-8 is checked where it can
    // matter, in the strings kept (serde refuses bad UTF-8 in any string; a key with
    // it matches no field name and is left to serde too).
    let mut c = Cursor { b: body, at: 0 };
    let mut out = ReadBody::default();
    let mut selector = false;
    c.object(
        &[b"entityId\"", b"entityIds\"", b"featureSelector\""],
        |key, c| {
            match key {
                0 if out.entity_id.is_none() => out.entity_id = Some(c.text()?),
                1 if out.entity_ids.is_none() => out.entity_ids = Some(c.strings()?),
                2 if !selector => {
                    selector = true;
                    let mut matcher = false;
                    c.object(&[b"idMatcher\""], |_, c| {
                        if matcher {
                            return None;
                        }
                        matcher = true;
                        let mut ids = None;
                        c.object(&[b"ids\""], |_, c| {
                            ids.is_none().then_some(())?;
                            ids = Some(c.strings()?);
                            Some(())
                        })?;
                        out.ids = ids?;
                        Some(())
                    })?;
                    matcher.then_some(())?;
                }
                _ => return None,
            }
            Some(())
        },
    )?;
    c.space();
    (selector && c.at == body.len()).then_some(out)
}

/// Where the plain run at the start of `s` ends: the index of its first `"`, `\` or
/// control character (below 0x20), or `s.len()`. Eight bytes at a time: each test
/// below marks the bytes that are what it looks for, and may mark a byte above one
/// that is (a borrow crosses only from such a byte), so the lowest mark is exact.
fn plain_run(s: &[u8]) -> usize {
    const LO: u64 = u64::from_le_bytes([0x01; 8]);
    const HI: u64 = u64::from_le_bytes([0x80; 8]);
    let zeros = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let mut at = 0;
    while let Some(chunk) = s.get(at..at + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let marks = (x.wrapping_sub(0x20 * LO) & !x & HI)
            | zeros(x ^ (u64::from(b'"') * LO))
            | zeros(x ^ (u64::from(b'\\') * LO));
        if marks != 0 {
            // Little-endian: the lowest bits are the first byte.
            return at + (marks.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    s[at..]
        .iter()
        .position(|b| *b < 0x20 || *b == b'"' || *b == b'\\')
        .map_or(s.len(), |i| at + i)
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// Skip JSON whitespace.
    fn space(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.b.get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte after whitespace, not taken.
    fn peek(&mut self) -> Option<u8> {
        self.space();
        self.b.get(self.at).copied()
    }

    /// Take `byte` (after whitespace).
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// The bytes of a string with no escape and no control character (JSON allows
    /// none raw), not checked for UTF-8.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.at;
        let end = start + plain_run(&self.b[start..]);
        if self.b.get(end) != Some(&b'"') {
            return None;
        }
        self.at = end + 1;
        Some(&self.b[start..end])
    }

    /// A string as [`Cursor::string`] takes it, and valid UTF-8.
    fn text(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.string()?).ok()
    }

    /// `[ "…", … ]`.
    fn strings(&mut self) -> Option<Vec<Cow<'a, str>>> {
        self.eat(b'[')?;
        let mut out = Vec::new();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(out);
        }
        loop {
            out.push(Cow::Borrowed(self.text()?));
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(out);
                }
                _ => return None,
            }
        }
    }

    /// `{ "key": value, … }` of the `keys` (each with its closing quote, so none is
    /// taken for a longer one), each value taken by `field` with its key's index
    /// (`None`: not plain). Another key, or one with an escape, is not plain.
    fn object(
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
            let key = keys.iter().position(|k| self.b[self.at..].starts_with(k))?;
            self.at += keys[key].len();
            self.eat(b':')?;
            field(key, self)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How the read body was taken before: serde's derive over the same fields,
    /// unknown ones refused. [`read_body`] must take nothing this refuses, and read
    /// what it takes the same way.
    fn serde_read(body: &[u8]) -> Option<Fields> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        struct Body<'a> {
            #[serde(borrow, default)]
            entity_id: Option<Cow<'a, str>>,
            #[serde(borrow, default)]
            entity_ids: Option<Vec<Cow<'a, str>>>,
            #[serde(borrow)]
            feature_selector: Selector<'a>,
        }
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        struct Selector<'a> {
            #[serde(borrow)]
            id_matcher: Matcher<'a>,
        }
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Matcher<'a> {
            #[serde(borrow)]
            ids: Vec<Cow<'a, str>>,
        }
        let b: Body<'_> = serde_json::from_slice(body).ok()?;
        let owned = |v: Vec<Cow<'_, str>>| v.into_iter().map(Cow::into_owned).collect();
        Some(Fields {
            entity_id: b.entity_id.map(Cow::into_owned),
            entity_ids: b.entity_ids.map(owned),
            ids: owned(b.feature_selector.id_matcher.ids),
        })
    }

    /// A body's fields, owned, to compare readings.
    #[derive(Debug, PartialEq)]
    struct Fields {
        entity_id: Option<String>,
        entity_ids: Option<Vec<String>>,
        ids: Vec<String>,
    }

    fn plain_read(body: &[u8]) -> Option<Fields> {
        let b = read_body(body)?;
        let owned = |v: Vec<Cow<'_, str>>| v.into_iter().map(Cow::into_owned).collect();
        Some(Fields {
            entity_id: b.entity_id.map(str::to_string),
            entity_ids: b.entity_ids.map(owned),
            ids: owned(b.ids),
        })
    }

    /// The eight-at-a-time scan finds what a byte loop finds, wherever in a chunk the
    /// first stop is and whatever follows it (bytes with the high bit, 0x20, 0x7f).
    #[test]
    fn a_plain_run_ends_where_a_byte_loop_says() {
        let naive = |s: &[u8]| {
            s.iter()
                .position(|b| *b < 0x20 || *b == b'"' || *b == b'\\')
                .unwrap_or(s.len())
        };
        let fillers: [&[u8]; 4] = [b"a", b" ", "\u{e9}".as_bytes(), b"\x7f"];
        let stops: [&[u8]; 6] = [b"\"", b"\\", b"\0", b"\x1f", b"\n", b""];
        let after: [&[u8]; 3] = [b"", b"\"\\\x01", "\u{20ac}\u{1d11e}x".as_bytes()];
        for fill in fillers {
            for n in 0..20 {
                for stop in stops {
                    for tail in after {
                        let mut s = fill.repeat(n);
                        s.extend_from_slice(stop);
                        s.extend_from_slice(tail);
                        assert_eq!(plain_run(&s), naive(&s), "{s:?}");
                    }
                }
            }
        }
        for b in 0..=255u8 {
            let s = [b'x', b'y', b'z', b, b'a', b'b', b'c', b'd', b'e', b];
            assert_eq!(plain_run(&s), naive(&s), "{b:#x}");
        }
    }

    #[test]
    fn plain_bodies_read_as_serde_reads_them_and_others_are_left_to_it() {
        let taken = [
            r#"{"entityId":"e1","featureSelector":{"idMatcher":{"ids":["*"]}}}"#,
            r#"{"entityId": "639181234567", "featureSelector": {"idMatcher": {"ids": ["*"]}}}"#,
            "{\n  \"entityId\": \"e1\",\n  \"featureSelector\": {\n    \"idMatcher\": {\n      \"ids\": [\n        \"a\",\n        \"b\"\n      ]\n    }\n  }\n}",
            " \t\r\n{\"featureSelector\":{\"idMatcher\":{\"ids\":[\"a\"]}},\"entityIds\":[\"x\",\"y\"]} \n",
            r#"{"entityIds":[],"featureSelector":{"idMatcher":{"ids":[]}}}"#,
            r#"{"entityId":"","featureSelector":{"idMatcher":{"ids":[""]}}}"#,
            "{\"entityId\":\"é€𝄞/\",\"featureSelector\":{\"idMatcher\":{\"ids\":[\"\u{7f}\"]}}}",
            r#"{"entityId":"a","entityIds":["b"],"featureSelector":{"idMatcher":{"ids":["*"]}}}"#,
            r#"{"featureSelector":{"idMatcher":{"ids":["*"]}}}"#,
        ];
        for body in taken {
            let got = plain_read(body.as_bytes());
            assert!(got.is_some(), "{body}");
            assert_eq!(got, serde_read(body.as_bytes()), "{body}");
        }
        let mut left = vec![
            String::new(),
            "{}".into(),
            "[]".into(),
            "null".into(),
            r#"{"entityId":"e\"1","featureSelector":{"idMatcher":{"ids":["*"]}}}"#.into(),
            r#"{"entityId":"e1","featureSelector":{"idMatcher":{"ids":["a\u0062"]}}}"#.into(),
            r#"{"entityId":null,"featureSelector":{"idMatcher":{"ids":["*"]}}}"#.into(),
            r#"{"entityId":"e1","featureSelector":{"idMatcher":{"ids":null}}}"#.into(),
            r#"{"entityId":"e1","entityId":"e2","featureSelector":{"idMatcher":{"ids":["*"]}}}"#.into(),
            r#"{"entityId":"e1","featureSelector":{"idMatcher":{"ids":["*"]}},"featureSelector":{"idMatcher":{"ids":["*"]}}}"#.into(),
            r#"{"entityId":"e1","featureSelector":{"idMatcher":{"ids":["*"],"ids":["a"]}}}"#.into(),
            r#"{"entityId":"e1","featureSelector":{"idMatcher":{"ids":["*"]},"idMatcher":{"ids":["*"]}}}"#.into(),
            r#"{"entity_id":"e1","featureSelector":{"idMatcher":{"ids":["*"]}}}"#.into(),
            r#"{"entityType":"x","entityId":"e1","featureSelector":{"idMatcher":{"ids":["*"]}}}"#.into(),
            r#"{"entityId":"e1","featureSelector":{"idMatcher":{"ids":["*"],"x":1}}}"#.into(),
            r#"{"entityId":"e1","featureSelector":{"idMatcher":{}}}"#.into(),
            r#"{"entityId":"e1","featureSelector":{}}"#.into(),
            r#"{"entityId":"e1"}"#.into(),
            r#"{"entityId":"e1","featureSelector":{"idMatcher":{"ids":["*",]}}}"#.into(),
            r#"{"entityId":"e1","featureSelector":{"idMatcher":{"ids":["*"]}},}"#.into(),
            r#"{"entityId":"e1","featureSelector":{"idMatcher":{"ids":["*"]}}}x"#.into(),
            r#"{"entityId":"e1","featureSelector":{"idMatcher":{"ids":["*"]}}}{}"#.into(),
            r#"{"entityId":"e1","featureSelector":{"idMatcher":{"ids":[1]}}}"#.into(),
            r#"{"entityId":1,"featureSelector":{"idMatcher":{"ids":["*"]}}}"#.into(),
            r#"{"entityIds":"e1","featureSelector":{"idMatcher":{"ids":["*"]}}}"#.into(),
            r#"{'entityId':"e1","featureSelector":{"idMatcher":{"ids":["*"]}}}"#.into(),
            "{\"entityId\":\"e\u{1}\",\"featureSelector\":{\"idMatcher\":{\"ids\":[\"*\"]}}}".into(),
            "{\"entityId\":\"e1\",\u{a0}\"featureSelector\":{\"idMatcher\":{\"ids\":[\"*\"]}}}".into(),
            "\u{feff}{\"entityId\":\"e1\",\"featureSelector\":{\"idMatcher\":{\"ids\":[\"*\"]}}}".into(),
        ];
        // Every prefix of a plain body is cut short: never taken.
        let whole = r#"{"entityIds":["a","b"],"featureSelector":{"idMatcher":{"ids":["x","y"]}}}"#;
        left.extend((0..whole.len()).map(|n| whole[..n].to_string()));
        for body in &left {
            let got = plain_read(body.as_bytes());
            assert!(
                got.is_none() || got == serde_read(body.as_bytes()),
                "{body}: {got:?}"
            );
            if serde_read(body.as_bytes()).is_none() {
                assert_eq!(got, None, "{body}");
            }
        }
        // Invalid UTF-8 inside a string.
        let mut bad = br#"{"entityId":"e"#.to_vec();
        bad.push(0xff);
        bad.extend_from_slice(br#"","featureSelector":{"idMatcher":{"ids":["*"]}}}"#);
        assert_eq!(plain_read(&bad), None);
        assert!(serde_read(&bad).is_none());
        // … in an id of the list, and in a key.
        for (at, byte) in [(56, 0xffu8), (2, 0xc3)] {
            let mut bad =
                br#"{"entityId":"e","featureSelector":{"idMatcher":{"ids":["ab"]}}}"#.to_vec();
            bad[at] = byte;
            assert_eq!(plain_read(&bad), None, "{}", String::from_utf8_lossy(&bad));
            assert!(serde_read(&bad).is_none());
        }
    }
}
