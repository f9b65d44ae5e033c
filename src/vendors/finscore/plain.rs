//! The score request's body as production clients send it, taken from the bytes
//! without serde's machinery: a flat object of the documented keys in their documented
//! case (`mobilenumber`, `productids`, `requestid`, `guarantornumber`), each at most
//! once, in any order, each value a string without escapes or `null`, any JSON
//! whitespace between tokens.
//!
//! Limits, on purpose: anything else (an escape, another spelling or key, a duplicate,
//! a number, trailing bytes) is not taken here, and the caller reads the body the way
//! it did before (serde's derive for an object, then the JSON tree), which gives the
//! same for what this takes (a unit test holds it to the general reading, the JSON tree
//! of `request`).

use crate::vendors::plain_json::Cursor;

/// The fields of a plain body, borrowed from it (`None`: absent or `null`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fields<'a> {
    pub mobilenumber: Option<&'a str>,
    pub productids: Option<&'a str>,
    pub requestid: Option<&'a str>,
    pub guarantornumber: Option<&'a str>,
}

/// The body's fields, or `None` when it is not plainly that (see the module doc).
pub fn read(body: &[u8]) -> Option<Fields<'_>> {
    // UTF-8 is checked in the strings taken (see `plain_json`).
    let mut c = Cursor::new(body);
    let mut out = Fields::default();
    // Which keys were seen (a `null` value leaves the field `None`).
    let mut seen = [false; 4];
    c.object(
        &[
            b"mobilenumber\"",
            b"productids\"",
            b"requestid\"",
            b"guarantornumber\"",
        ],
        |i, c| {
            if std::mem::replace(&mut seen[i], true) {
                return None;
            }
            let field = match i {
                0 => &mut out.mobilenumber,
                1 => &mut out.productids,
                2 => &mut out.requestid,
                _ => &mut out.guarantornumber,
            };
            *field = c.string_or_null()?;
            Some(())
        },
    )?;
    c.at_end().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::super::request::{
        json_object, string, GUARANTOR_NUMBER, MOBILE_NUMBER, PRODUCT_IDS, REQUEST_ID,
    };
    use super::*;

    /// The general reading ([`super::super::request`]'s JSON path): each documented
    /// field's string (`None` when absent or null), or `None` when it refuses the body
    /// (not a JSON object, or a field that is not a string).
    fn general(body: &[u8]) -> Option<[Option<String>; 4]> {
        let m = json_object(body).ok()?;
        let f = |name| string(&m, name, "").ok().map(|s| s.map(str::to_string));
        Some([
            f(MOBILE_NUMBER)?,
            f(PRODUCT_IDS)?,
            f(REQUEST_ID)?,
            f(GUARANTOR_NUMBER)?,
        ])
    }

    fn plain_read(body: &[u8]) -> Option<[Option<String>; 4]> {
        let f = read(body)?;
        let o = |v: Option<&str>| v.map(str::to_string);
        Some([
            o(f.mobilenumber),
            o(f.productids),
            o(f.requestid),
            o(f.guarantornumber),
        ])
    }

    #[test]
    fn plain_bodies_read_as_the_general_reading_reads_them_and_others_are_left_to_it() {
        let taken = [
            r#"{"mobilenumber":"639181234567","productids":"Q1;","requestid":"1796128510940"}"#,
            r#"{"mobilenumber": "639181234567", "productids": "Q1;", "requestid": "1796128510940"}"#,
            "\r\n{ \"guarantornumber\" :\"639191234567\",\n\t\"productids\":\" Q1 ; 10;\" , \"mobilenumber\":\"639181234567\" }\n",
            r#"{"mobilenumber":null,"productids":null,"requestid":null,"guarantornumber":null}"#,
            r#"{"mobilenumber":"","productids":";;","requestid":""}"#,
            r#"{}"#,
            " { } ",
            r#"{"requestid":"é€𝄞 日本"}"#,
            "{\"requestid\":\"\u{7f}'/\"}",
            r#"{"mobilenumber":null ,"productids":"Q1"}"#,
        ];
        for body in taken {
            let got = plain_read(body.as_bytes());
            assert!(got.is_some(), "{body}");
            assert_eq!(got, general(body.as_bytes()), "{body}");
        }
        let mut left: Vec<String> = [
            "",
            "[]",
            " []",
            "null",
            r#"["c1",1,"s"]"#,
            r#"["639181234567","Q1;"]"#,
            r#"[["acc"]]"#,
            r#"{"mobilenumber":"6391812345\u0036","productids":"Q1"}"#,
            r#"{"mobilenumber":"63918\"1234567","productids":"Q1"}"#,
            r#"{"MobileNumber":"639181234567","productids":"Q1"}"#,
            r#"{"mobilenumber":639181234567,"productids":"Q1"}"#,
            r#"{"mobilenumber":"639181234567","mobilenumber":"639171234567","productids":"Q1"}"#,
            r#"{"mobilenumber":null,"mobilenumber":"639171234567","productids":"Q1"}"#,
            r#"{"mobilenumber":"639181234567","productids":"Q1","other":1}"#,
            r#"{"mobilenumber":"639181234567","productids":"Q1",}"#,
            r#"{"mobilenumber":"639181234567","productids":"Q1"}x"#,
            r#"{"mobilenumber":"639181234567","productids":"Q1"}{}"#,
            r#"{"mobilenumber":nul,"productids":"Q1"}"#,
            r#"{"mobilenumber":nullx,"productids":"Q1"}"#,
            r#"{"mobilenumber":null0,"productids":"Q1"}"#,
            r#"{"mobilenumber":true,"productids":"Q1"}"#,
            r#"{"mobilenumber":["639181234567"],"productids":"Q1"}"#,
            r#"{'mobilenumber':"639181234567"}"#,
            "{\"requestid\":\"a\u{1}\"}",
            "{\u{a0}\"requestid\":\"a\"}",
            "\u{feff}{\"requestid\":\"a\"}",
        ]
        .map(String::from)
        .to_vec();
        // Every prefix of a plain body is cut short: never taken.
        let whole = r#"{"mobilenumber":"639181234567","productids":"Q1;","requestid":null}"#;
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
        let mut bad = br#"{"requestid":"a"#.to_vec();
        bad.push(0xff);
        bad.extend_from_slice(br#""}"#);
        assert_eq!(plain_read(&bad), None);
        assert_eq!(general(&bad), None);
    }
}
