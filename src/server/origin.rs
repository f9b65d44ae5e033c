//! Where a request reached the mock, as its client sees it: the scheme and `host[:port]`
//! that links and documents pointing back at the mock must use.
//!
//! The host is the first `X-Forwarded-Host` (a proxy in front of the mock), else `Host`;
//! the scheme is `https` when the first `X-Forwarded-Proto` says so, else `http` (the mock
//! itself speaks plain HTTP). A header value that is not a [`plausible_host`] is skipped.
//! finX's links (`location`, report `href`s) and the OpenAPI documents' `servers` both
//! read this one function, so the two cannot disagree about where the mock is.
//!
//! Limits: only the de facto `X-Forwarded-*` headers are read, not RFC 7239 `Forwarded`;
//! a port in `X-Forwarded-Port` is not read (a proxy that needs one puts it in
//! `X-Forwarded-Host`).

use hyper::header::{HeaderName, HeaderValue, HOST};
use hyper::HeaderMap;

/// The host a proxy in front of the mock was asked for.
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// The scheme a proxy in front of the mock was asked with.
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Where a request reached the mock (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'h> {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// `host[:port]`, or `None` when the request names no usable one (HTTP/1.0 without
    /// `Host`, or a value that is no host): the caller decides what then.
    pub host: Option<&'h str>,
    /// The request came through a proxy: its host is an `X-Forwarded-Host`, or it
    /// carries `X-Forwarded-Proto`. Then only the proxy's address is known to reach the
    /// mock; the mock's own ports (a `--vendor-listen` port) may not be reachable from
    /// the client at all.
    pub proxied: bool,
}

/// Where the request with `headers` reached the mock.
pub fn origin(headers: &HeaderMap) -> Origin<'_> {
    // One walk over the headers (a request has a handful) instead of a hashed lookup
    // per name: finX asks on every call. The first value of each name counts, as
    // `HeaderMap::get` has it.
    let (mut host, mut forwarded_host, mut forwarded_proto) = (None, None, None);
    for (name, value) in headers {
        let slot = if *name == HOST {
            &mut host
        } else if *name == X_FORWARDED_HOST {
            &mut forwarded_host
        } else if *name == X_FORWARDED_PROTO {
            &mut forwarded_proto
        } else {
            continue;
        };
        slot.get_or_insert(value);
    }
    let forwarded = forwarded_host
        .and_then(first_value)
        .filter(|h| plausible_host(h));
    // `Host` holds one value (RFC 9110 §7.2): taken whole, never split at a comma.
    let host = forwarded.or_else(|| {
        host.and_then(|v| v.to_str().ok())
            .filter(|h| plausible_host(h))
    });
    let proto = forwarded_proto.and_then(first_value);
    let scheme = match proto {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    Origin {
        scheme,
        host,
        proxied: forwarded.is_some() || proto.is_some(),
    }
}

/// The first value of a (possibly comma-separated, proxy-appended) header, trimmed.
fn first_value(value: &HeaderValue) -> Option<&str> {
    value
        .to_str()
        .ok()
        .and_then(|v| v.split(',').next())
        .map(str::trim)
}

/// A `host[:port]` fit to put in a URL, and in YAML unquoted: letters, digits and `.-:[]_`.
/// One table lookup a byte (finX asks on every call; a search of the six marks per
/// byte cost more than the rest of [`origin`]).
pub fn plausible_host(h: &str) -> bool {
    !h.is_empty() && h.len() <= 255 && h.bytes().all(|c| HOST_BYTE[c as usize])
}

/// Which bytes a [`plausible_host`] may hold.
const HOST_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        table[c] =
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_');
        c += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    /// Request headers, then the origin's scheme, host and `proxied`.
    type Case = (
        &'static [(&'static str, &'static str)],
        &'static str,
        Option<&'static str>,
        bool,
    );

    #[test]
    fn the_origin_is_the_forwarded_host_else_the_host_with_the_forwarded_scheme() {
        let cases: &[Case] = &[
            (&[("host", "mock:8080")], "http", Some("mock:8080"), false),
            (
                &[
                    ("host", "mock:1"),
                    ("x-forwarded-host", "edge.example, inner"),
                ],
                "http",
                Some("edge.example"),
                true,
            ),
            (
                &[("host", "mock:1"), ("x-forwarded-proto", "HTTPS, http")],
                "https",
                Some("mock:1"),
                true,
            ),
            (
                &[("host", "mock:1"), ("x-forwarded-proto", "http")],
                "http",
                Some("mock:1"),
                true,
            ),
            // An unusable forwarded host is skipped, and then the host is no proxy's.
            (
                &[("host", "mock:1"), ("x-forwarded-host", "bad/host")],
                "http",
                Some("mock:1"),
                false,
            ),
            (&[("host", "a b")], "http", None, false),
            (&[("host", "a,b")], "http", None, false),
            (&[("x-forwarded-proto", "https")], "https", None, true),
            // A header sent twice counts by its first value.
            (
                &[
                    ("x-forwarded-host", "first.example"),
                    ("host", "mock:1"),
                    ("x-forwarded-host", "second.example"),
                    ("x-forwarded-proto", "http"),
                    ("x-forwarded-proto", "https"),
                ],
                "http",
                Some("first.example"),
                true,
            ),
            (&[("host", "a b"), ("host", "mock:2")], "http", None, false),
            // Only the first value is looked at: an unusable first forwarded host is not
            // made up for by a later one.
            (
                &[
                    ("x-forwarded-host", "bad/host"),
                    ("x-forwarded-host", "ok.example"),
                    ("host", "mock:4"),
                ],
                "http",
                Some("mock:4"),
                false,
            ),
            (&[], "http", None, false),
        ];
        for (pairs, scheme, host, proxied) in cases {
            let h = headers(pairs);
            assert_eq!(
                origin(&h),
                Origin {
                    scheme,
                    host: *host,
                    proxied: *proxied
                },
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn the_host_byte_table_is_the_rule_it_replaced() {
        fn old_rule(h: &str) -> bool {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b".-:[]_".contains(&c))
        }
        // Every character of one byte and more, alone and inside a host.
        for c in (0..=0x2ffu32).filter_map(char::from_u32) {
            for h in [c.to_string(), format!("h{c}1:8"), format!("{c}{c}")] {
                assert_eq!(plausible_host(&h), old_rule(&h), "{h:?}");
            }
        }
        for len in [0, 1, 254, 255, 256, 300] {
            let h = "a".repeat(len);
            assert_eq!(plausible_host(&h), old_rule(&h), "{len}");
        }
    }

    #[test]
    fn a_plausible_host_is_a_host_and_port_and_nothing_more() {
        for ok in ["mock", "mock:8080", "[::1]:8080", "a_b.example-1"] {
            assert!(plausible_host(ok), "{ok}");
        }
        let long = "a".repeat(256);
        for bad in ["", "a b", "a/b", "a,b", "x\"y", "h@st", long.as_str()] {
            assert!(!plausible_host(bad), "{bad}");
        }
    }
}
