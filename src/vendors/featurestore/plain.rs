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
    // UTF-8 checked once for the whole body (serde would refuse bad UTF-8 in a string,
    // and anything but ASCII outside one is not JSON), then strings are sliced off it.
    let text = std::str::from_utf8(body).ok()?;
    let mut c = Cursor {
        text,
        b: body,
        at: 0,
    };
    let mut out = ReadBody::default();
    let mut selector = false;
    c.object(|key, c| match key {
        "entityId" if out.entity_id.is_none() => {
            out.entity_id = Some(c.string()?);
            Some(())
        }
        "entityIds" if out.entity_ids.is_none() => {
            out.entity_ids = Some(c.strings()?);
            Some(())
        }
        "featureSelector" if !selector => {
            selector = true;
            let mut matcher = false;
            c.object(|key, c| match key {
                "idMatcher" if !matcher => {
                    matcher = true;
                    let mut ids = None;
                    c.object(|key, c| match key {
                        "ids" if ids.is_none() => {
                            ids = Some(c.strings()?);
                            Some(())
                        }
                        _ => None,
                    })?;
                    out.ids = ids?;
                    Some(())
                }
                _ => None,
            })?;
            matcher.then_some(())
        }
        _ => None,
    })?;
    c.space();
    (selector && c.at == body.len()).then_some(out)
}

struct Cursor<'a> {
    text: &'a str,
    /// `text`'s bytes.
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

    /// A string with no escape and no control character (JSON allows none raw).
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        loop {
            match *self.b.get(self.at)? {
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

    /// `[ "…", … ]`.
    fn strings(&mut self) -> Option<Vec<Cow<'a, str>>> {
        self.eat(b'[')?;
        let mut out = Vec::new();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(out);
        }
        loop {
            out.push(Cow::Borrowed(self.string()?));
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

    /// `{ "key": value, … }`, each value taken by `field` (`None`: not plain).
    fn object(&mut self, mut field: impl FnMut(&str, &mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            let key = self.string()?;
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
    }
}
