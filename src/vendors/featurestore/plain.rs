//! A read's body as Google's SDK sends it, taken from the bytes without a JSON tree or
//! serde's machinery: `{"entityId": …}` or `{"entityIds": […]}`, and
//! `{"featureSelector": {"idMatcher": {"ids": […]}}}`, every value a string without
//! escapes, any JSON whitespace between tokens.
//!
//! Limits, on purpose: anything else (an escape, a `null`, another field, a duplicate,
//! a number, trailing bytes) is not taken here, and the caller reads the body as JSON
//! the general way, which gives the same for what this takes (unit tests, one of them
//! over generated bodies, hold this to serde's reading of the same fields and to the
//! general path).

use std::borrow::Cow;

use crate::vendors::plain_json::Cursor;

/// The fields of a plain read body, borrowed from it.
#[derive(Debug, Default, PartialEq)]
pub struct ReadBody<'a> {
    pub entity_id: Option<&'a str>,
    pub entity_ids: Option<Vec<Cow<'a, str>>>,
    /// `featureSelector.idMatcher.ids` (`["*"]`, every feature, most often: a static
    /// list, not one allocated per read).
    pub ids: Cow<'a, [Cow<'a, str>]>,
}

/// `["*"]`.
const EVERY_FEATURE: &[Cow<'static, str>] = &[Cow::Borrowed("*")];

/// The body's fields, or `None` when it is not plainly that (see the module doc).
pub fn read_body(body: &[u8]) -> Option<ReadBody<'_>> {
    // UTF-8 checked once for the whole body (see `plain_json`): cheaper than a check per
    // string for these bodies of a few short ones (measured with bench/instructions.py).
    let mut c = Cursor::checked(body)?;
    let mut out = ReadBody::default();
    let mut selector = false;
    c.object(
        &[b"entityId\"", b"entityIds\"", b"featureSelector\""],
        |key, c| {
            match key {
                0 if out.entity_id.is_none() => out.entity_id = Some(c.string()?),
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
                            ids = Some(star_or_strings(c)?);
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
    (selector && c.at_end()).then_some(out)
}

/// `["*"]` as [`EVERY_FEATURE`], or any other list of strings read by
/// [`Cursor::strings`].
fn star_or_strings<'a>(c: &mut Cursor<'a>) -> Option<Cow<'a, [Cow<'a, str>]>> {
    let at = c.at;
    if c.eat(b'[').is_some() && c.string() == Some("*") && c.next_or_end(b']') == Some(false) {
        return Some(Cow::Borrowed(EVERY_FEATURE));
    }
    c.at = at;
    c.strings().map(Cow::Owned)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::{select, Index};
    use proptest::test_runner::{Config, RngSeed, TestRunner};

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
            ids: owned(b.ids.into_owned()),
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
        // … in an id of the list, and in a key.
        for (at, byte) in [(56, 0xffu8), (2, 0xc3)] {
            let mut bad =
                br#"{"entityId":"e","featureSelector":{"idMatcher":{"ids":["ab"]}}}"#.to_vec();
            bad[at] = byte;
            assert_eq!(plain_read(&bad), None, "{}", String::from_utf8_lossy(&bad));
            assert!(serde_read(&bad).is_none());
        }
    }

    /// Over bodies built from tokens ([`bodies`]): whatever the plain reading takes,
    /// serde reads the same; whatever serde refuses, the plain reading refuses.
    #[test]
    fn generated_bodies_read_plainly_as_serde_reads_them() {
        let taken = std::cell::Cell::new(0);
        let result = runner().run(&bodies(), |Body(body)| {
            let got = plain_read(&body);
            let want = serde_read(&body);
            if got.is_some() {
                taken.set(taken.get() + 1);
                prop_assert_eq!(&got, &want);
            }
            if want.is_none() {
                prop_assert_eq!(got, None);
            }
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
        assert!(taken.get() >= CASES / 10, "only {} taken", taken.get());
    }

    /// Cases per property: a few hundred, to keep the unit tests quick.
    pub(in crate::vendors::featurestore) const CASES: u32 = 300;

    /// A runner from a fixed seed (no regression file is written beside the source: a
    /// failure prints its shrunk body).
    pub(in crate::vendors::featurestore) fn runner() -> TestRunner {
        TestRunner::new(Config {
            cases: CASES,
            rng_seed: RngSeed::Fixed(0x5eed_f5f5),
            failure_persistence: None,
            ..Config::default()
        })
    }

    /// A generated body, shown as escaped bytes.
    #[derive(Clone)]
    pub(in crate::vendors::featurestore) struct Body(pub Vec<u8>);

    impl std::fmt::Debug for Body {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "b\"{}\"", self.0.escape_ascii())
        }
    }

    /// A JSON-like tree whose strings, keys and literals are raw bytes, so may be broken.
    #[derive(Clone, Debug)]
    enum Node {
        /// Written as it is: a string with its quotes, a literal.
        Raw(Vec<u8>),
        Arr(Vec<Node>),
        /// Keys written as they are.
        Obj(Vec<(Vec<u8>, Node)>),
    }

    /// `node` written out, with the next of `ws` at every gap between tokens.
    fn render(node: &Node, ws: &[&[u8]], k: &mut usize, out: &mut Vec<u8>) {
        fn gap(ws: &[&[u8]], k: &mut usize, out: &mut Vec<u8>) {
            out.extend_from_slice(ws[*k % ws.len()]);
            *k += 1;
        }
        match node {
            Node::Raw(b) => out.extend_from_slice(b),
            Node::Arr(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    gap(ws, k, out);
                    render(item, ws, k, out);
                    gap(ws, k, out);
                }
                out.push(b']');
            }
            Node::Obj(fields) => {
                out.push(b'{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    gap(ws, k, out);
                    out.extend_from_slice(key);
                    gap(ws, k, out);
                    out.push(b':');
                    gap(ws, k, out);
                    render(value, ws, k, out);
                    gap(ws, k, out);
                }
                out.push(b'}');
            }
        }
    }

    /// Between tokens: mostly nothing, else JSON's whitespace, now and then what JSON
    /// does not count as whitespace (form feed, U+00A0).
    fn ws() -> impl Strategy<Value = &'static [u8]> {
        const JSON: &[&[u8]] = &[b" ", b"\n", b"\t", b"\r", b" \r\n  "];
        const NOT_JSON: &[&[u8]] = &[b"\x0c", "\u{a0}".as_bytes()];
        prop_oneof![12 => Just(NONE), 6 => select(JSON), 1 => select(NOT_JSON)]
    }

    /// No bytes.
    const NONE: &[u8] = b"";

    /// A string, quotes included, of pieces: mostly plain, now and then an escape, a
    /// raw quote or backslash, a control byte, 0x7f, non-ASCII or invalid UTF-8.
    fn string() -> BoxedStrategy<Node> {
        const PLAIN: &[&[u8]] = &[b"a", b"e1", b"*", b"639181234567", b"/", b" ", b"\x7f"];
        const ODD: &[&[u8]] = &[
            b"\\\"",
            b"\\\\",
            b"\\u0062",
            b"\\n",
            b"\\ud800",
            b"\"",
            b"\\",
            b"\x00",
            b"\x01",
            b"\x1f",
            b"\n",
            b"\xc3\xa9",
            b"\xe2\x82\xac",
            b"\xf0\x9d\x84\x9e",
            b"\xc2\xa0",
            b"\xff",
            b"\xc3",
            b"\xed\xa0\x80",
        ];
        let piece = prop_oneof![10 => select(PLAIN), 1 => select(ODD)];
        vec(piece, 0..4)
            .prop_map(|pieces| {
                let mut s = vec![b'"'];
                s.extend(pieces.concat());
                s.push(b'"');
                Node::Raw(s)
            })
            .boxed()
    }

    /// A value of another kind than the one wanted.
    fn leaf() -> BoxedStrategy<Node> {
        const LEAVES: &[&[u8]] = &[
            b"null",
            b"1",
            b"-0",
            b"1e400",
            b"true",
            b"[]",
            b"{}",
            b"[1]",
            b"{\"x\":1}",
        ];
        select(LEAVES).prop_map(|b| Node::Raw(b.to_vec())).boxed()
    }

    /// Keys other than the one wanted: escaped, unknown, proto names, other levels'
    /// keys, broken.
    fn other_key() -> BoxedStrategy<Vec<u8>> {
        const KEYS: &[&[u8]] = &[
            b"\"entity\\u0049d\"",
            b"\"i\\u0064s\"",
            b"\"entity_id\"",
            b"\"entity_ids\"",
            b"\"entityType\"",
            b"\"feature_selector\"",
            b"\"id_matcher\"",
            b"\"x\"",
            b"\"\"",
            b"\"entityId\"",
            b"\"entityIds\"",
            b"\"featureSelector\"",
            b"\"idMatcher\"",
            b"\"ids\"",
            b"\"ids\xff\"",
            b"\"id\x01s\"",
            b"\"entityId",
            b"entityId",
            b"'ids'",
        ];
        select(KEYS).prop_map(<[u8]>::to_vec).boxed()
    }

    /// `name` quoted, or now and then another key.
    fn key(name: &'static str) -> BoxedStrategy<Vec<u8>> {
        prop_oneof![
            20 => Just(format!("\"{name}\"").into_bytes()),
            1 => other_key(),
        ]
        .boxed()
    }

    /// A list of strings, or now and then something else.
    fn list() -> BoxedStrategy<Node> {
        prop_oneof![
            16 => vec(string(), 0..4).prop_map(Node::Arr),
            1 => string(),
            1 => leaf(),
        ]
        .boxed()
    }

    /// `{name: value}`, or now and then something else: the field twice or not at all,
    /// other fields, the object in an array, another value.
    fn object(name: &'static str, value: BoxedStrategy<Node>) -> BoxedStrategy<Node> {
        let field = (key(name), value);
        let fields = prop_oneof![
            16 => field.clone().prop_map(|f| vec![f]),
            1 => vec(field, 0..3),
            1 => vec((other_key(), list()), 1..3),
        ];
        let obj = fields.prop_map(Node::Obj).boxed();
        prop_oneof![
            20 => obj.clone(),
            1 => obj.prop_map(|o| Node::Arr(vec![o])),
            1 => leaf(),
        ]
        .boxed()
    }

    /// An edit of the finished body.
    #[derive(Clone, Debug)]
    enum Edit {
        Keep,
        Cut(Index),
        Insert(Index, &'static [u8]),
    }

    /// Read bodies built from tokens: mostly `featureSelector.idMatcher.ids` with
    /// `entityId` or `entityIds`, in any order, broken now and then (an escaped,
    /// unknown or duplicate key; a `null`, a number, an array for an object; strings
    /// with quotes, backslashes, control bytes, 0x7f, non-ASCII and invalid UTF-8;
    /// whitespace JSON does not allow; bytes around the object; a cut or a byte put in).
    pub(in crate::vendors::featurestore) fn bodies() -> impl Strategy<Value = Body> {
        const AROUND: &[&[u8]] = &[
            b" \n",
            b"\x0c",
            "\u{a0}".as_bytes(),
            "\u{feff}".as_bytes(),
            b"x",
            b"{}",
            b",",
            b"\xff",
            b"null",
        ];
        const INSERTS: &[&[u8]] = &[
            b",", b"\"", b"\\", b" ", b"\x0c", b"\xff", b"]", b"}", b"{", b":", b"\x00",
        ];
        let selector = (
            key("featureSelector"),
            object("idMatcher", object("ids", list())),
        );
        let field = prop_oneof![
            3 => (key("entityId"), prop_oneof![16 => string(), 1 => leaf()]),
            3 => (key("entityIds"), list()),
            1 => (other_key(), prop_oneof![string(), list(), leaf()]),
        ]
        .boxed();
        let fields = prop_oneof![4 => vec(field.clone(), 1..2), 1 => vec(field, 0..3)];
        let top = (selector, fields, any::<Index>())
            .prop_map(|(sel, mut fields, at)| {
                fields.insert(at.index(fields.len() + 1), sel);
                Node::Obj(fields)
            })
            .boxed();
        let top = prop_oneof![20 => top.clone(), 1 => top.prop_map(|t| Node::Arr(vec![t]))];
        let around = || prop_oneof![12 => Just(NONE), 1 => select(AROUND)];
        let edit = prop_oneof![
            20 => Just(Edit::Keep),
            1 => any::<Index>().prop_map(Edit::Cut),
            1 => (any::<Index>(), select(INSERTS)).prop_map(|(at, b)| Edit::Insert(at, b)),
        ];
        (top, vec(ws(), 1..6), around(), around(), edit).prop_map(
            |(node, ws, lead, trail, edit)| {
                let mut out = lead.to_vec();
                render(&node, &ws, &mut 0, &mut out);
                out.extend_from_slice(trail);
                match edit {
                    Edit::Keep => {}
                    Edit::Cut(at) => out.truncate(at.index(out.len() + 1)),
                    Edit::Insert(at, b) => {
                        let at = at.index(out.len() + 1);
                        out.splice(at..at, b.iter().copied());
                    }
                }
                Body(out)
            },
        )
    }
}
