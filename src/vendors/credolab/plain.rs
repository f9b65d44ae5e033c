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

use crate::vendors::plain_json::Cursor;

/// The `accountCode` of a plain Iovation body, borrowed from it; `None` when the body
/// is not plainly that (see the module doc).
pub fn account_code(body: &[u8]) -> Option<&str> {
    // UTF-8 checked once for the whole body, cheaper here than string by string
    // (see `plain_json`).
    let mut c = Cursor::checked(body)?;
    let (mut params, mut code, mut insight) = (false, None, false);
    c.object(&[b"iovationRequestParams\""], |_, c| {
        if std::mem::replace(&mut params, true) {
            return None;
        }
        c.object(&[b"accountCode\"", b"transactionInsight\""], |key, c| {
            match key {
                0 if code.is_none() => code = Some(c.string()?),
                1 if !insight => {
                    insight = true;
                    strings_object_or_null(c)?;
                }
                _ => return None,
            }
            Some(())
        })
    })?;
    c.at_end().then_some(code?)
}

/// `null`, or an object whose keys and values are plain strings (skipped).
fn strings_object_or_null(c: &mut Cursor<'_>) -> Option<()> {
    if c.null()? {
        return Some(());
    }
    c.eat(b'{')?;
    if c.peek()? == b'}' {
        c.at += 1;
        return Some(());
    }
    loop {
        c.string()?;
        c.eat(b':')?;
        c.string()?;
        if !c.next_or_end(b'}')? {
            return Some(());
        }
    }
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
