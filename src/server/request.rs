//! [`MockRequest`]: the request as the pipeline owns it, body read once under a cap.

use std::borrow::Cow;
use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::{AsHeaderName, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{HeaderMap, Method};

/// A request, with its body collected.
#[derive(Debug, Clone)]
pub struct MockRequest {
    pub method: Method,
    /// The path as received (`/credeau/api/insights`).
    pub full_path: String,
    /// The path below the vendor's prefix (`/api/insights`); the full path on a
    /// `--vendor-listen` port.
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub peer: SocketAddr,
}

impl MockRequest {
    /// A `POST /` from 127.0.0.1 with `body` and an optional content type, for unit tests
    /// of body parsers.
    #[cfg(test)]
    pub(crate) fn test_post(body: &str, content_type: Option<&str>) -> Self {
        let mut headers = HeaderMap::new();
        if let Some(c) = content_type {
            headers.insert(
                hyper::header::CONTENT_TYPE,
                c.parse().expect("a test content type is valid"),
            );
        }
        Self {
            method: Method::POST,
            full_path: "/".into(),
            path: "/".into(),
            query: None,
            headers,
            body: Bytes::from(body.to_string()),
            peer: ([127, 0, 0, 1], 1).into(),
        }
    }

    /// A header as text; `None` when absent or not visible ASCII. By a name constant
    /// (`req.header(AUTHORIZATION)`) on paths every request takes: a name given as text
    /// is parsed on every call.
    pub fn header(&self, name: impl AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Decoded query pairs, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .as_deref()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default()
    }

    /// The first value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The media type of the body, lower-cased, without parameters: borrowed from the
    /// header unless it has upper-case letters (FinScore, Credolab and finX look at it
    /// on every request, and a lower-cased copy cost more than the rest of the check).
    ///
    /// `None` as [`MockRequest::header`] gives it: no header, or one that is not visible
    /// ASCII. The `;` and the upper-case letters are found eight bytes at a time
    /// ([`scan_media`]).
    pub fn media_type(&self) -> Option<Cow<'_, str>> {
        // By the standard name's constant: looking up "content-type" as text parses the
        // name on every call.
        let value = self.header(CONTENT_TYPE)?;
        let (end, upper) = scan_media(value.as_bytes());
        // Visible ASCII: the only blanks `str::trim` finds are spaces and tabs.
        let media = value[..end].trim_ascii();
        Some(if upper {
            Cow::Owned(media.to_ascii_lowercase())
        } else {
            Cow::Borrowed(media)
        })
    }
}

/// For a header value's text (visible ASCII and tabs): where its first `;` is (its
/// length if none) and whether an upper-case letter comes before that, eight bytes at a
/// time. The `;` test flags exactly the bytes that are one, except bytes after a flagged
/// one, so the lowest flag is the first; the letter test is exact for bytes below 0x80.
fn scan_media(value: &[u8]) -> (usize, bool) {
    const LO: u64 = u64::from_le_bytes([0x01; 8]);
    const HI: u64 = u64::from_le_bytes([0x80; 8]);
    let chunks = value.chunks_exact(8);
    // The last bytes padded with spaces: no `;`, not a letter.
    let mut last = [b' '; 8];
    last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    let words = chunks
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .chain(std::iter::once(u64::from_le_bytes(last)));
    let mut upper = false;
    for (i, x) in words.enumerate() {
        // `A` to `Z`: at least `A` and not past `Z` (no carry crosses a byte below 0x80).
        let caps = x.wrapping_add((0x80 - 0x41) * LO) & !x.wrapping_add((0x80 - 0x5b) * LO) & HI;
        let y = x ^ (u64::from(b';') * LO);
        let semi = y.wrapping_sub(LO) & !y & HI;
        if semi != 0 {
            let at = semi.trailing_zeros() as usize / 8;
            // Only the letters before the `;`.
            let before = caps & (1u64 << (8 * at)).wrapping_sub(1);
            return (i * 8 + at, upper || before != 0);
        }
        upper |= caps != 0;
    }
    (value.len(), upper)
}

/// The token of an `Authorization` value `Bearer <token>` (the scheme in any case, the
/// token trimmed, not empty), as splitting at the first space finds it: that space ends
/// the scheme, so the scheme is `bearer` only when the space is the seventh byte. Byte
/// tests in place of a char search and a case-folding compare (every request has one).
pub fn bearer_token(h: &str) -> Option<&str> {
    let b = h.as_bytes();
    if b.len() < 7 || b[6] != b' ' || !b[..6].eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    // Byte 6 is a space, so byte 7 starts a character.
    let token = h[7..].trim();
    (!token.is_empty()).then_some(token)
}

/// The `error` of the 400 for a body whose framing is broken. Our own words: hyper's
/// reason (kept for the log line) changes with hyper's versions.
pub const BROKEN_BODY: &str =
    "the request body could not be read: its chunked transfer encoding is malformed";

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// Larger than the cap (known from `Content-Length` or found while reading).
    TooLarge,
    /// The client went away or sent a body whose framing is broken (hyper's reason).
    Broken(String),
}

/// Collect `body`, refusing before reading anything when its declared length (its exact
/// size hint, else `Content-Length`) already exceeds `cap`, and stopping as soon as a
/// chunked body passes it.
///
/// The declared length is read when called (nothing reads the body before the future is
/// first polled, so it is the length the first poll would read), and the future is an
/// `async` block holding only the body and what it collects: an `async fn` would keep
/// its arguments twice (rustc issue 62958), and the pipeline's future, which hyper moves
/// once per request, holds this one.
pub fn read_body<B>(
    headers: &HeaderMap,
    body: B,
    cap: usize,
) -> impl Future<Output = Result<Bytes, BodyError>>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error,
{
    // hyper has parsed `Content-Length` already: a body it frames by one has that
    // exact size hint (and hyper drops the header when `Transfer-Encoding` frames the
    // body), so the header is looked up only for bodies without an exact length.
    let declared = body.size_hint().exact().or_else(|| {
        headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    });
    let refused = declared.is_some_and(|n| n > cap as u64);
    async move {
        if refused {
            return Err(BodyError::TooLarge);
        }
        // Collected by hand: a body that arrives as one frame (nearly every request) is
        // that frame's bytes, shared with hyper's buffer, with no list of chunks around
        // it.
        let mut first: Option<Bytes> = None;
        let mut joined: Option<Vec<u8>> = None;
        let mut total = 0usize;
        let mut body = body;
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame
                .map_err(|e| BodyError::Broken(reason(&e)))?
                .into_data()
            else {
                continue; // trailers
            };
            total = total.saturating_add(data.len());
            if total > cap {
                return Err(BodyError::TooLarge);
            }
            match (&first, &mut joined) {
                (None, _) => first = Some(data),
                (Some(f), None) => {
                    let mut v = Vec::with_capacity(total);
                    v.extend_from_slice(f);
                    v.extend_from_slice(&data);
                    joined = Some(v);
                }
                (Some(_), Some(v)) => v.extend_from_slice(&data),
            }
        }
        Ok(match joined {
            Some(v) => Bytes::from(v),
            None => first.unwrap_or_default(),
        })
    }
}

/// An error and its causes, `outer: inner`: hyper's own text says only "error reading
/// a body from connection", its cause says what was wrong.
fn reason(e: &impl std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::OutBody;

    /// The media type read from bytes is what the text reading gave, for every value a
    /// header can hold (visible or not, any case, blanks, parameters).
    #[test]
    fn the_media_type_is_what_reading_the_header_as_text_finds() {
        fn before(req: &MockRequest) -> Option<String> {
            let value = req.header(CONTENT_TYPE)?;
            let end = value.bytes().position(|b| b == b';').unwrap_or(value.len());
            Some(value[..end].trim().to_ascii_lowercase())
        }
        let mut values: Vec<Vec<u8>> = [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            " \tapplication/x-www-form-urlencoded\t ;x",
            "text/json;",
            ";application/json",
            "",
            " ",
            "\t",
            "a;b;c",
            "APPLICATION/VND.FINSCORE+JSON ; q=1",
            "~!@#$%^&*()_+{}|:<>?`-=[]\\',./",
            "application/json\tx",
            "APPLICATION/JSON;CHARSET=UTF-8",
            "applicatioN;",
            "applicationX;",
            "application/json;A",
            "0123456;A",
            "01234567;A",
            "012345678;A",
            "0123456789abcdefghijklmnopqrstuvwxyz;ABCDEFGH",
            "0123456789abcdefghijklmnopqrstuvwxyZ;abcdefgh",
            "@[`{ATZ/az",
        ]
        .map(|v| v.as_bytes().to_vec())
        .to_vec();
        // Bytes HeaderValue takes but `to_str` refuses, before and after the `;`.
        for bad in [0x7f, 0x80, 0xc3, 0xff, 0x01, 0x1f] {
            values.push([b"application/json".as_slice(), &[bad]].concat());
            values.push([b"text/json; charset=".as_slice(), &[bad]].concat());
            values.push([&[bad], b"Text/Json".as_slice()].concat());
        }
        // Every short mix of the bytes that matter.
        let alphabet = b" \t;aAZ[@`~\x7f\x80\x1f";
        for n in 0..=4u32 {
            for i in 0..alphabet.len().pow(n) {
                let mut v = Vec::new();
                let mut k = i;
                for _ in 0..n {
                    v.push(alphabet[k % alphabet.len()]);
                    k /= alphabet.len();
                }
                // Also across the first eight bytes' end.
                values.push([b"text/js".as_slice(), &v].concat());
                values.push(v);
            }
        }
        let mut checked = 0;
        for v in &values {
            let Ok(value) = hyper::header::HeaderValue::from_bytes(v) else {
                continue;
            };
            let mut req = MockRequest::test_post("", None);
            req.headers.insert(CONTENT_TYPE, value);
            let got = req.media_type();
            assert_eq!(got.as_deref(), before(&req).as_deref(), "{v:?}");
            let lower = got
                .as_ref()
                .is_none_or(|m| !m.bytes().any(|b| b.is_ascii_uppercase()));
            assert!(lower, "{v:?}");
            checked += 1;
        }
        assert!(checked > 20_000, "{checked}");
        assert_eq!(MockRequest::test_post("", None).media_type(), None);
    }

    /// The bearer check is the split at the first space it replaced.
    #[test]
    fn a_bearer_token_is_what_splitting_at_the_first_space_finds() {
        fn before(h: &str) -> Option<&str> {
            h.split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t.trim())
                .filter(|t| !t.is_empty())
        }
        let mut headers: Vec<String> = [
            "Bearer ya29.token",
            "bearer t",
            "BEARER t",
            "bEaReR  t ",
            "Bearer ",
            "Bearer  \t ",
            "Bearer \u{3000}",
            "Bearer \u{3000}x",
            "Bearer",
            "Bearerx t",
            "Basic dXNlcjpwYXNz",
            " Bearer t",
            "Bearer\tt",
            "Bearer\u{e9} t",
            "B\u{e9}arer t",
            "\u{c9}earer t",
            "Bea\u{0}er t",
            "",
            "       ",
            "Bearer t u",
        ]
        .map(String::from)
        .to_vec();
        // Every ASCII byte in each place of the scheme and its space.
        for at in 0..7 {
            for b in 0..=127u8 {
                let mut h = b"Bearer t".to_vec();
                h[at] = b;
                headers.push(String::from_utf8(h).expect("ASCII"));
            }
        }
        for h in &headers {
            assert_eq!(bearer_token(h), before(h), "{h:?}");
        }
    }

    fn read(
        parts: &[&'static str],
        declared: Option<usize>,
        cap: usize,
    ) -> Result<Bytes, BodyError> {
        let mut headers = HeaderMap::new();
        if let Some(n) = declared {
            headers.insert(CONTENT_LENGTH, n.into());
        }
        let body = OutBody::parts(
            parts
                .iter()
                .map(|p| Bytes::from_static(p.as_bytes()))
                .collect(),
        );
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a test runtime")
            .block_on(read_body(&headers, body, cap))
    }

    #[test]
    fn the_media_type_is_what_the_header_text_gave_before() {
        // The path before: the header looked up by its name as text.
        let old = |r: &MockRequest| {
            r.header("content-type").map(|c| {
                c.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
        };
        let values: [&[u8]; 9] = [
            b"application/json",
            b"application/json; charset=UTF-8",
            b"Application/JSON; charset=utf-8",
            b"  text/plain ;q=1",
            b"",
            b";",
            b"multipart/form-data; boundary=\xc3\xa9",
            b"application/x-www-form-urlencoded\t",
            b"APPLICATION/X-WWW-FORM-URLENCODED;charset=UTF-8",
        ];
        for v in values {
            let mut r = MockRequest::test_post("", None);
            r.headers.insert(
                CONTENT_TYPE,
                hyper::header::HeaderValue::from_bytes(v).expect("a valid header value"),
            );
            let media = r.media_type();
            assert_eq!(media.as_deref(), old(&r).as_deref(), "{v:?}");
            // Copied only when lower-casing changes it.
            let media_part = v.split(|b| *b == b';').next().unwrap_or_default();
            let lower = !media_part.iter().any(u8::is_ascii_uppercase);
            assert_eq!(
                matches!(media, Some(Cow::Borrowed(_))),
                lower && media.is_some(),
                "{v:?}"
            );
        }
        let none = MockRequest::test_post("", None);
        assert_eq!((none.media_type(), old(&none)), (None, None));
    }

    /// A body that says nothing of its length (as a chunked one).
    struct Unsized(OutBody);

    impl hyper::body::Body for Unsized {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            std::pin::Pin::new(&mut self.0).poll_frame(cx)
        }
    }

    #[test]
    fn a_declared_length_over_the_cap_is_refused_from_the_size_hint_or_the_header() {
        let run = |declared: Option<usize>, body: Unsized| {
            let mut headers = HeaderMap::new();
            if let Some(n) = declared {
                headers.insert(CONTENT_LENGTH, n.into());
            }
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a test runtime")
                .block_on(read_body(&headers, body, 4))
        };
        let small = || Unsized(OutBody::parts(vec![Bytes::from_static(b"12")]));
        // No exact length: the header decides before anything is read.
        assert!(matches!(run(Some(5), small()), Err(BodyError::TooLarge)));
        assert_eq!(&run(None, small()).expect("under the cap")[..], b"12");
        // An exact length (hyper's parsed Content-Length) decides without the header.
        let exact = OutBody::parts(vec![Bytes::from_static(b"12345")]);
        let got = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a test runtime")
            .block_on(read_body(&HeaderMap::new(), exact, 4));
        assert!(matches!(got, Err(BodyError::TooLarge)));
    }

    #[test]
    fn a_body_in_one_frame_is_that_frame_itself() {
        let part: &'static str = r#"{"user_id":"u"}"#;
        let got = read(&[part], Some(part.len()), 64).expect("under the cap");
        assert_eq!(got.as_ptr(), part.as_ptr(), "not copied");
    }

    #[test]
    fn a_body_in_several_frames_is_joined_in_order() {
        let got = read(&[r#"{"user"#, r#"_id":"#, r#""u"}"#], None, 64).expect("under the cap");
        assert_eq!(&got[..], br#"{"user_id":"u"}"#);
        assert_eq!(read(&[], None, 64).expect("empty").len(), 0);
    }

    #[test]
    fn a_body_over_the_cap_is_refused_declared_or_not() {
        assert!(matches!(
            read(&["12345"], Some(5), 4),
            Err(BodyError::TooLarge)
        ));
        assert!(matches!(
            read(&["123", "45"], None, 4),
            Err(BodyError::TooLarge)
        ));
        assert_eq!(
            &read(&["12", "34"], None, 4).expect("at the cap")[..],
            b"1234"
        );
    }
}
