//! The predictors and device-ids body as production clients send it, taken from the
//! bytes without serde's machinery: `{"customer_id": "…", "version": N, "salt": "…"}`,
//! the three keys once each in any order, the strings without escapes, `version` a
//! positive JSON integer, any JSON whitespace between tokens.
//!
//! Limits, on purpose: anything else (an escape, a `null`, another key, a duplicate, a
//! float or signed version, trailing bytes) is not taken here, and the caller reads the
//! body the way it did before (serde's derive for an object, then the JSON tree), which
//! gives the same for what this takes (a unit test holds it to the general reading,
//! [`super::parse_body`]).

use crate::vendors::plain_json::Cursor;

/// The fields of a plain body, borrowed from it.
#[derive(Debug, PartialEq, Eq)]
pub struct Plain<'a> {
    pub customer_id: &'a str,
    pub version: i64,
    pub salt: &'a str,
}

/// The body's fields, or `None` when it is not plainly that (see the module doc).
pub fn read(body: &[u8]) -> Option<Plain<'_>> {
    // UTF-8 is checked in the strings taken (see `plain_json`).
    let mut c = Cursor::new(body);
    let (mut customer_id, mut version, mut salt) = (None, None, None);
    c.object(&[b"customer_id\"", b"salt\"", b"version\""], |key, c| {
        match key {
            0 if customer_id.is_none() => customer_id = Some(c.string()?),
            1 if salt.is_none() => salt = Some(c.string()?),
            2 if version.is_none() => version = Some(c.integer()?),
            _ => return None,
        }
        Some(())
    })?;
    c.at_end().then_some(())?;
    Some(Plain {
        customer_id: customer_id?,
        version: version?,
        salt: salt?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{parse_body, parse_plain_body, versions::Versions, Route};
    use super::*;
    use crate::server::MockRequest;

    fn request(body: &[u8]) -> MockRequest {
        let mut req = MockRequest::test_post("", Some("application/json"));
        req.body = bytes::Bytes::copy_from_slice(body);
        req
    }

    /// The general reading ([`parse_body`]) of a predictors call: the customer id,
    /// version and salt it takes, or `None` when it refuses the body.
    fn general(body: &[u8]) -> Option<(String, i64, String)> {
        let b = parse_body(&request(body), Route::Predictors, &Versions::default()).ok()?;
        Some((b.entity, b.version, b.salt))
    }

    fn plain_read(body: &[u8]) -> Option<(String, i64, String)> {
        let p = read(body)?;
        Some((p.customer_id.to_string(), p.version, p.salt.to_string()))
    }

    #[test]
    fn plain_bodies_read_as_the_general_reading_reads_them_and_others_are_left_to_it() {
        let taken = [
            r#"{"customer_id":"c1","version":1,"salt":"s"}"#,
            r#"{"customer_id": "bench-customer", "version": 1, "salt": "Ki4WO2bbzYOL1tEi4XA46Q8rpcC2yilTZMhOGXRsqOQ="}"#,
            "\n{\n  \"salt\" : \"x/+=\",\r\n\t\"version\" :\t12 ,\n  \"customer_id\":\"é€𝄞 日本\"\n}\n ",
            r#"{"version":999999999999999999,"customer_id":"c","salt":""}"#,
            "{\"customer_id\":\"\u{7f}\",\"version\":20,\"salt\":\"'\"}",
        ];
        for body in taken {
            let got = plain_read(body.as_bytes());
            assert!(got.is_some(), "{body}");
            assert_eq!(got, general(body.as_bytes()), "{body}");
        }
        // Taken here, refused by the checks after this reader as the general reading
        // refuses it: an empty or too long customer id.
        let long = format!(
            r#"{{"customer_id":"{}","version":1,"salt":"s"}}"#,
            "x".repeat(300)
        );
        for body in [
            r#"{"customer_id":"","version":1,"salt":"s"}"#,
            long.as_str(),
        ] {
            let req = request(body.as_bytes());
            assert!(read(body.as_bytes()).is_some(), "{body}");
            assert!(
                parse_plain_body(&req, Route::Predictors, &Versions::default()).is_none(),
                "{body}"
            );
            assert_eq!(general(body.as_bytes()), None, "{body}");
        }
        let mut left: Vec<String> = [
            "",
            "{}",
            "[]",
            "null",
            r#"["c1",1,"s"]"#,
            r#"[["acc"]]"#,
            r#"{"customer_id":"c\"1","version":1,"salt":"s"}"#,
            r#"{"customer_id":"c\u0031","version":1,"salt":"s"}"#,
            r#"{"customer_id":null,"version":1,"salt":"s"}"#,
            r#"{"customer_id":"c1","version":1,"salt":null}"#,
            r#"{"customer_id":"c1","version":1.0,"salt":"s"}"#,
            r#"{"customer_id":"c1","version":1e0,"salt":"s"}"#,
            r#"{"customer_id":"c1","version":1E0,"salt":"s"}"#,
            r#"{"customer_id":"c1","version":-1,"salt":"s"}"#,
            r#"{"customer_id":"c1","version":0,"salt":"s"}"#,
            r#"{"customer_id":"c1","version":01,"salt":"s"}"#,
            r#"{"customer_id":"c1","version":"1","salt":"s"}"#,
            r#"{"customer_id":"c1","version":9223372036854775807,"salt":"s"}"#,
            r#"{"customer_id":"c1","version":99999999999999999999,"salt":"s"}"#,
            r#"{"customer_id":"c1","customer_id":"c2","version":1,"salt":"s"}"#,
            r#"{"customer_id":"c1","version":1,"version":2,"salt":"s"}"#,
            r#"{"customer_id":"c1","version":1,"salt":"s","salt":"t"}"#,
            r#"{"customer_id":"c1","version":1,"salt":"s","metadata":{}}"#,
            r#"{"customer_id":"c1","version":1}"#,
            r#"{"version":1,"salt":"s"}"#,
            r#"{"customer_id":"c1","salt":"s"}"#,
            r#"{"customer_id":"c1","version":1,"salt":"s",}"#,
            r#"{"customer_id":"c1","version":1,"salt":"s"}x"#,
            r#"{"customer_id":"c1","version":1,"salt":"s"}{}"#,
            r#"{"Customer_id":"c1","version":1,"salt":"s"}"#,
            r#"{'customer_id':"c1","version":1,"salt":"s"}"#,
            "{\"customer_id\":\"c\u{1}\",\"version\":1,\"salt\":\"s\"}",
            "{\"customer_id\":\"c1\",\u{a0}\"version\":1,\"salt\":\"s\"}",
            "\u{feff}{\"customer_id\":\"c1\",\"version\":1,\"salt\":\"s\"}",
        ]
        .map(String::from)
        .to_vec();
        // Every prefix of a plain body is cut short: never taken.
        let whole = r#"{"customer_id":"c1","version":12,"salt":"s"}"#;
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
        let mut bad = br#"{"customer_id":"c"#.to_vec();
        bad.push(0xff);
        bad.extend_from_slice(br#"","version":1,"salt":"s"}"#);
        assert_eq!(plain_read(&bad), None);
        assert_eq!(general(&bad), None);
    }
}
