//! FinScore's token endpoint, `POST /auth/connect/token`: IdentityServer's
//! client-credentials flow, checked in IdentityServer4's order (its `TokenEndpoint`,
//! `ClientSecretValidator` and `TokenRequestValidator`, which Duende keeps).
//!
//! 1. Only `POST` with an `application/x-www-form-urlencoded` body is read; anything
//!    else (a GET, a JSON body) is `invalid_request`.
//! 2. The client authenticates with HTTP Basic (`id:secret`, each form-url-encoded) or,
//!    when no usable Basic header is sent, with the form fields `client_id` /
//!    `client_secret`. None, an unknown id or a wrong secret: `invalid_client`.
//! 3. `grant_type`: missing or unknown → `unsupported_grant_type`; a standard grant the
//!    client may not use (`authorization_code`, `password`, device code) →
//!    `unauthorized_client`; `refresh_token` → `invalid_request` without a
//!    `refresh_token`, `invalid_grant` with one (no refresh token is ever issued).
//! 4. `scope`, when sent, must name only scopes the client has (`invalid_scope`).
//!
//! Every error is HTTP 400 with `{"error": …}` (IdentityServer answers 400 even for
//! `invalid_client` sent with Basic auth, where RFC 6749 §5.2 asks for 401; `[auth]
//! invalid_client_status = 401` answers as OpenIddict does). Errors are
//! [`TokenError`]s, rendered by `errors`.

use std::borrow::Cow;

use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use hyper::{Method, StatusCode};

use super::errors::{self, TokenError};
use super::settings::FinScoreSettings;
use crate::budget::Bounded;
use crate::generate;
use crate::server::{MockRequest, MockResponse};
use crate::vendors::Ctx;

/// At most this many issued tokens are remembered (the oldest is forgotten first and
/// then answers 401): far more than any test run holds at once.
pub const MAX_TOKENS: usize = 10_000;

/// Grant types IdentityServer knows but a client-credentials client may not use.
const OTHER_STANDARD_GRANTS: &[&str] = &[
    "authorization_code",
    "password",
    "urn:ietf:params:oauth:grant-type:device_code",
];

/// Issued tokens and when they expire (mock clock): at most `count` of them and
/// [`Budgets::store`](crate::budget::Budgets::store) bytes, the oldest forgotten first
/// (it then answers 401). Each is kept as the 32 bytes its 64 hex digits spell
/// ([`TokenKey`]): no heap per token, and a key hashed by one word, where the digits as
/// a string cost an allocation, a copy for the order list and a SipHash of 64 bytes per
/// insert and per look-up (every token and score request makes one). The count bounds
/// the bytes too (about 1 MB at [`MAX_TOKENS`]); the byte budget is what a smaller
/// setting lowers.
pub struct Tokens {
    map: Bounded<TokenKey, DateTime<Utc>, FirstWord>,
}

/// An issued token's bytes: [`generate::hex`] of them, 64 lower-case digits, is the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenKey(pub [u8; 32]);

impl TokenKey {
    /// The bytes a token spells, or `None` when it is not 64 lower-case hex digits (then
    /// it is no token the mock issued).
    pub fn parse(token: &str) -> Option<Self> {
        /// Each byte's value as a lower-case hex digit, or 0xff.
        const NIBBLE: [u8; 256] = {
            let mut t = [0xff; 256];
            let mut i = 0;
            while i < 16 {
                t[b"0123456789abcdef"[i] as usize] = i as u8;
                i += 1;
            }
            t
        };
        let digits: &[u8; 64] = token.as_bytes().try_into().ok()?;
        let mut out = [0u8; 32];
        // Any digit that is not one sets a high bit here: checked once at the end.
        let mut bad = 0;
        for (o, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            let (h, l) = (NIBBLE[usize::from(pair[0])], NIBBLE[usize::from(pair[1])]);
            bad |= h | l;
            *o = h << 4 | (l & 15);
        }
        (bad < 16).then_some(Self(out))
    }
}

impl std::hash::Hash for TokenKey {
    /// The first eight bytes: the token's bytes are SHA-256 output of the mock's own
    /// inputs (no client chooses them), as evenly spread as a hash. The default hasher
    /// (`FastHash`) over all 32 bytes was measured at about 250 more instructions per
    /// score request and 450 per token request (bench/instructions.py, profiling build).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(u64::from_le_bytes(
            self.0[..8].try_into().expect("8 of 32 bytes"),
        ));
    }
}

/// Hashes a [`TokenKey`] to the word it writes.
#[derive(Debug, Default, Clone, Copy)]
pub struct FirstWord;

impl std::hash::BuildHasher for FirstWord {
    type Hasher = FirstWordHasher;
    fn build_hasher(&self) -> FirstWordHasher {
        FirstWordHasher(0)
    }
}

/// See [`FirstWord`].
#[derive(Debug, Default, Clone, Copy)]
pub struct FirstWordHasher(u64);

impl std::hash::Hasher for FirstWordHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    /// Not used by [`TokenKey`]; any other bytes are folded in, so it stays a hasher.
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 =
                (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
}

impl Tokens {
    pub fn new(count: usize, bytes: usize) -> Self {
        Self {
            map: Bounded::new(count, bytes),
        }
    }

    /// Remember a token, forgetting the oldest past the bounds; returns the bytes held.
    pub fn insert(&mut self, token: TokenKey, expires: DateTime<Utc>) -> usize {
        // Nothing on the heap besides the entry's slot.
        self.map.insert(token, expires, 0);
        self.map.bytes()
    }

    pub fn expiry(&self, token: &str) -> Option<DateTime<Utc>> {
        self.map.get(&TokenKey::parse(token)?).copied()
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

/// What a valid token request was granted.
pub struct Grant<'s> {
    /// The token's bytes, what is remembered; the token is [`generate::hex`] of them.
    pub key: TokenKey,
    pub expires: DateTime<Utc>,
    lifetime_secs: i64,
    /// The granted scopes, space-separated (the settings' own when none was asked for).
    scope: Cow<'s, str>,
}

impl Grant<'_> {
    /// IdentityServer's token answer: `{"access_token", "expires_in", "token_type",
    /// "scope"}`, written as serde_json writes that object (by hand: every token request
    /// gets one).
    pub fn answer(&self) -> MockResponse {
        use crate::memo::json_str;
        let mut out = Vec::with_capacity(160 + self.scope.len());
        // The token is hex digits, which JSON never escapes: written in place, with no
        // `String` in between.
        out.extend_from_slice(br#"{"access_token":""#);
        generate::put_hex(&mut out, &self.key.0, 64);
        out.extend_from_slice(br#"","expires_in":"#);
        put_i64(&mut out, self.lifetime_secs);
        out.extend_from_slice(br#","token_type":"Bearer","scope":"#);
        json_str(&mut out, &self.scope);
        out.push(b'}');
        errors::token_bytes(StatusCode::OK, out)
    }
}

/// `n` in decimal, as `Display` (and serde_json) write it: digits from the last, into a
/// buffer on the stack (the formatting machinery costs more than the digits).
fn put_i64(out: &mut Vec<u8>, n: i64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[at..]);
}

/// Check a token request; on success issue (but not yet store) a token.
pub fn issue<'s>(
    ctx: &Ctx<'_>,
    s: &'s FinScoreSettings,
    req: &MockRequest,
) -> Result<Grant<'s>, TokenError> {
    if req.method != Method::POST {
        return Err(TokenError::NotPost);
    }
    if req.media_type().as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(TokenError::NotAForm);
    }
    // Borrowed from the body where nothing needed decoding.
    let form = parse_form(&req.body);

    // Compared where they were read: borrowed from the request unless they needed decoding.
    let known = |id: &str, secret: Option<&str>| {
        id == s.client_id && secret == Some(s.client_secret.as_str())
    };
    let client_ok = with_basic_credentials(req, |id, secret| known(&id, secret.as_deref()))
        .or_else(|| posted_credentials(&form).map(|(id, secret)| known(id, secret)));
    if client_ok != Some(true) {
        return Err(TokenError::InvalidClient);
    }

    let grant = joined(&form, "grant_type");
    match grant.as_deref() {
        None | Some("") => return Err(TokenError::UnsupportedGrantType),
        Some("client_credentials") => {}
        Some(g) if OTHER_STANDARD_GRANTS.contains(&g) => {
            return Err(TokenError::UnauthorizedClient)
        }
        Some("refresh_token") => {
            return Err(match joined(&form, "refresh_token").as_deref() {
                None | Some("") => TokenError::MissingRefreshToken,
                Some(_) => TokenError::InvalidGrant,
            })
        }
        Some(_) => return Err(TokenError::UnsupportedGrantType),
    }

    let scopes = match joined(&form, "scope").filter(|v| !v.trim().is_empty()) {
        None => Cow::Borrowed(s.scope.as_str()),
        Some(asked) => {
            let mut wanted: Vec<String> = Vec::new();
            for scope in asked.split(' ').filter(|v| !v.is_empty()) {
                if !s.scopes.iter().any(|have| have == scope) {
                    return Err(TokenError::InvalidScope);
                }
                if !wanted.iter().any(|w| w == scope) {
                    wanted.push(scope.to_string());
                }
            }
            Cow::Owned(wanted.join(" "))
        }
    };

    let id = ctx.anonymous_id("access_token");
    Ok(Grant {
        key: TokenKey(id),
        expires: ctx.now + TimeDelta::seconds(s.token_lifetime_secs),
        lifetime_secs: s.token_lifetime_secs,
        scope: scopes,
    })
}

/// The form's fields, as `form_urlencoded::parse` reads them: pairs split at `&` (empty
/// ones skipped), each at its first `=` (none: an empty value), `+` a space, `%XX` a
/// byte, lossy UTF-8. A body with no `+` or `%` and valid UTF-8 (every client's
/// `grant_type=client_credentials`) has nothing to decode, and its pairs are sliced off
/// it here; `form_urlencoded` decodes each part through several iterators even then.
fn parse_form(body: &[u8]) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    let plain = !body.iter().any(|b| matches!(b, b'+' | b'%'));
    match std::str::from_utf8(body) {
        Ok(text) if plain => text
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (Cow::Borrowed(k), Cow::Borrowed(v))
            })
            .collect(),
        _ => form_urlencoded::parse(body).collect(),
    }
}

/// All values of a form field joined with `,`, as ASP.NET's `NameValueCollection.Get`
/// gives them to IdentityServer (one value borrowed).
fn joined<'a>(form: &'a [(Cow<'_, str>, Cow<'_, str>)], name: &str) -> Option<Cow<'a, str>> {
    let mut values = form.iter().filter(|(k, _)| k == name).map(|(_, v)| &**v);
    let first = values.next()?;
    let Some(second) = values.next() else {
        return Some(Cow::Borrowed(first));
    };
    let mut all = [first, second].join(",");
    for v in values {
        all.push(',');
        all.push_str(v);
    }
    Some(Cow::Owned(all))
}

/// IdentityServer's `BasicAuthenticationSecretParser`: `Basic base64(id:secret)`, each
/// part form-url-decoded; a header that does not decode, has no `:` or no id counts as
/// absent. The secret is `None` when empty. (Requests are checked through
/// [`with_basic_credentials`], which reads them the same way without copying them.)
#[cfg(test)]
fn basic_credentials(req: &MockRequest) -> Option<(String, Option<String>)> {
    with_basic_credentials(req, |id, secret| {
        (id.into_owned(), secret.map(Cow::into_owned))
    })
}

/// Decoded Basic credentials of at most this many bytes need no heap.
const BASIC_ON_STACK: usize = 192;

/// [`basic_credentials`], handed to `f` borrowed where nothing needed decoding.
/// Credentials that decode to at most [`BASIC_ON_STACK`] bytes (every real client's) are
/// decoded on the stack; longer ones on the heap, the same way.
fn with_basic_credentials<T>(
    req: &MockRequest,
    f: impl FnOnce(Cow<'_, str>, Option<Cow<'_, str>>) -> T,
) -> Option<T> {
    let header = req.header(hyper::header::AUTHORIZATION)?;
    let prefix = header.get(..6)?;
    if !prefix.eq_ignore_ascii_case("basic ") {
        return None;
    }
    let encoded = header[6..].trim();
    let engine = &base64::engine::general_purpose::STANDARD;
    let mut stack = [0u8; BASIC_ON_STACK];
    let heap;
    // `decode_slice` decodes as `decode` does (the same engine, the same errors) and
    // refuses only an output that may not fit (judged from the input's length and
    // padding), which `decode` then decodes on the heap: the same outcome either way.
    let decoded: &[u8] = match engine.decode_slice(encoded, &mut stack) {
        Ok(n) => &stack[..n],
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
            heap = engine.decode(encoded).ok()?;
            &heap
        }
        Err(base64::DecodeSliceError::DecodeError(_)) => return None,
    };
    let pair = std::str::from_utf8(decoded).ok()?;
    let (id, secret) = pair.split_once(':')?;
    if id.is_empty() {
        return None;
    }
    let secret = (!secret.is_empty()).then(|| form_decode(secret));
    Some(f(form_decode(id), secret))
}

/// One part of Basic credentials, form-url-decoded as IdentityServer decodes it
/// ([`form_decode_general`]), or as it is when there is nothing to decode and no `&` to
/// end it early (every token request of a client with a plain id and secret).
fn form_decode(v: &str) -> Cow<'_, str> {
    if !v.bytes().any(|b| matches!(b, b'%' | b'+' | b'&')) {
        return Cow::Borrowed(v);
    }
    Cow::Owned(form_decode_general(v))
}

/// `+` is a space, `%XX` a byte (lossy UTF-8), and the value ends at an `&`.
fn form_decode_general(v: &str) -> String {
    let plus = v.replace('+', "%20");
    form_urlencoded::parse(format!("x={plus}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// IdentityServer's `PostBodySecretParser`: the first `client_id` (required) and
/// `client_secret` (optional) of the form.
fn posted_credentials<'f>(
    form: &'f [(Cow<'_, str>, Cow<'_, str>)],
) -> Option<(&'f str, Option<&'f str>)> {
    let first = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| &**v)
            .filter(|v| !v.is_empty())
    };
    Some((first("client_id")?, first("client_secret")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_answer_is_the_json_object_serialized() {
        for (fill, lifetime, scope) in [
            (0x00, -3600, "score é\"\u{1}"),
            (0xab, 0, ""),
            (0x0f, 3600, "score"),
            (0xff, i64::MAX, "score offline_access"),
            (0x5a, i64::MIN, "\\ \n ✓"),
        ] {
            let mut key: [u8; 32] = std::array::from_fn(|i| fill ^ (i as u8 * 7));
            key[31] = 0x0f;
            let g = Grant {
                key: TokenKey(key),
                expires: DateTime::<Utc>::UNIX_EPOCH,
                lifetime_secs: lifetime,
                scope: scope.into(),
            };
            let want = serde_json::json!({
                "access_token": generate::hex(&key, 64),
                "expires_in": g.lifetime_secs,
                "token_type": "Bearer",
                "scope": g.scope,
            });
            let mut resp = g.answer();
            resp.serialize_body();
            let crate::server::Body::Bytes(got) = resp.body else {
                panic!("bytes");
            };
            assert_eq!(&got[..], serde_json::to_vec(&want).unwrap(), "{scope:?}");
        }
    }

    /// The `i`th test token: its key and its 64 hex digits.
    fn token(i: u8) -> (TokenKey, String) {
        let mut b = [0u8; 32];
        // Keys that share their first word (the hash) differ further on.
        b[31] = i;
        b[5] = i % 2;
        (TokenKey(b), generate::hex(&b, 64))
    }

    #[test]
    fn the_token_store_forgets_the_oldest_token_past_its_cap_or_its_bytes() {
        let mut t = Tokens::new(3, usize::MAX);
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let mut one = 0;
        for i in 0..5 {
            let held = t.insert(token(i).0, at);
            if i == 0 {
                one = held;
            }
        }
        assert_eq!(t.len(), 3);
        assert!(t.expiry(&token(1).1).is_none());
        assert!(t.expiry(&token(4).1).is_some());
        // A byte budget of two tokens keeps two.
        let mut t = Tokens::new(MAX_TOKENS, 2 * one);
        for i in 0..5 {
            assert!(t.insert(token(i).0, at) <= 2 * one);
        }
        assert_eq!(t.len(), 2);
        assert!(t.expiry(&token(2).1).is_none() && t.expiry(&token(4).1).is_some());
    }

    #[test]
    fn only_the_digits_an_issued_token_is_written_in_find_it() {
        let mut t = Tokens::new(MAX_TOKENS, usize::MAX);
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let mut issued = Vec::new();
        for i in 0..40 {
            let (key, digits) = token(i);
            t.insert(key, at + TimeDelta::seconds(i64::from(i)));
            issued.push(digits);
        }
        for (i, digits) in issued.iter().enumerate() {
            assert_eq!(
                t.expiry(digits),
                Some(at + TimeDelta::seconds(i as i64)),
                "{digits}"
            );
            assert_eq!(
                TokenKey::parse(digits)
                    .map(|k| generate::hex(&k.0, 64))
                    .as_ref(),
                Some(digits)
            );
            // The same bytes in upper case, one digit short or long, or with a space:
            // not the token that was issued.
            for other in [
                digits.to_uppercase(),
                digits[..63].to_string(),
                format!("{digits}0"),
                format!(" {}", &digits[1..]),
                format!("{}g", &digits[..63]),
            ] {
                if other != *digits {
                    assert_eq!(t.expiry(&other), None, "{other}");
                }
            }
        }
        for other in ["", "é", &"é".repeat(32), &"z".repeat(64), "t0"] {
            assert_eq!(t.expiry(other), None, "{other}");
        }
        // A fresh token not issued.
        assert_eq!(t.expiry(&token(200).1), None);
    }

    fn with_auth(value: &str) -> MockRequest {
        let mut r = MockRequest::test_post("", None);
        r.headers
            .insert("authorization", value.parse().expect("a test header"));
        r
    }

    #[test]
    fn basic_credentials_are_read_as_identityserver_reads_them() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        type Want<'a> = Option<(&'a str, Option<&'a str>)>;
        let (long_id, long_secret) = ("i".repeat(300), "s".repeat(400));
        let cases: &[(String, Want)] = &[
            (
                format!("Basic {}", b64("test-client:test-secret")),
                Some(("test-client", Some("test-secret"))),
            ),
            (format!("basic {}", b64("a:b:c")), Some(("a", Some("b:c")))),
            (
                format!("Basic {}", b64("my%20client:p+w")),
                Some(("my client", Some("p w"))),
            ),
            (format!("Basic {}", b64("id:")), Some(("id", None))),
            (format!("Basic {}", b64(":secret")), None),
            (format!("Basic {}", b64("no-colon")), None),
            ("Basic !!!".to_string(), None),
            ("Bearer abc".to_string(), None),
            ("Basic".to_string(), None),
            // Around the stack buffer's size, decoded and not; bad base64 of each length.
            (
                format!(
                    "Basic {}",
                    b64(&format!("{}:{}", "i".repeat(95), "s".repeat(96)))
                ),
                Some((&long_id[..95], Some(&long_secret[..96]))),
            ),
            (
                format!(
                    "Basic {}",
                    b64(&format!("{}:{}", "i".repeat(95), "s".repeat(97)))
                ),
                Some((&long_id[..95], Some(&long_secret[..97]))),
            ),
            (
                format!("Basic {}", b64(&format!("{long_id}:{long_secret}"))),
                Some((&long_id, Some(&long_secret))),
            ),
            (format!("Basic {}!", b64(&long_id)), None),
            (format!("Basic {}!", b64(&long_id[..180])), None),
            (format!("Basic {}", &b64(&long_id)[1..]), None),
            (format!("Basic {}", b64(&format!("{long_id}\u{ff}"))), None),
        ];
        for (header, want) in cases {
            let got = basic_credentials(&with_auth(header));
            let want = want.map(|(i, s)| (i.to_string(), s.map(str::to_string)));
            assert_eq!(got, want, "{header}");
        }
    }

    #[test]
    fn repeated_form_fields_are_joined_with_commas() {
        let form: Vec<(Cow<'_, str>, Cow<'_, str>)> = form_urlencoded::parse(
            b"grant_type=client_credentials&scope=a&grant_type=x%20y&grant_type=&other=1",
        )
        .collect();
        assert_eq!(
            joined(&form, "grant_type").as_deref(),
            Some("client_credentials,x y,")
        );
        assert_eq!(joined(&form, "scope").as_deref(), Some("a"));
        assert_eq!(joined(&form, "nothing"), None);
    }

    #[test]
    fn a_form_with_nothing_to_decode_is_read_as_form_urlencoded_reads_it() {
        let mut bodies: Vec<Vec<u8>> = [
            "",
            "grant_type=client_credentials",
            "grant_type=client_credentials&scope=score",
            "&&grant_type=client_credentials&&",
            "grant_type",
            "=x",
            "a=b=c&d",
            "grant_type=client_credentials&grant_type=x&client_id=test-client&client_secret=s",
            "é=€&𝄞",
            "a+b=c+d",
            "a%20b=c%2",
            "scope=a%20b&x=%FF",
            ";=,&?#=/",
        ]
        .map(|b| b.as_bytes().to_vec())
        .to_vec();
        bodies.push(b"a=\xff&b=c".to_vec());
        bodies.push(vec![b'a', b'=', 0xc3]);
        for body in &bodies {
            let general: Vec<(Cow<'_, str>, Cow<'_, str>)> = form_urlencoded::parse(body).collect();
            assert_eq!(
                parse_form(body),
                general,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn a_credential_with_nothing_to_decode_is_read_as_the_general_decoding_reads_it() {
        for v in [
            "",
            "test-client",
            "test-secret",
            "a b",
            "a+b",
            "a%20b",
            "%",
            "%zz",
            "%C3%A9t%C3%A9",
            "%FF",
            "été",
            "a&b",
            "a=b",
            "a=b&c=d",
            "x;y,z",
            "+++",
            "1234567890",
        ] {
            assert_eq!(form_decode(v), form_decode_general(v), "{v:?}");
        }
    }
}
