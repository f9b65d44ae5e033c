//! What every answer to a hostile request must look like: an answer (never a dropped
//! connection), marked as the mock's, never a 5xx unless a `flaky` scenario chose it,
//! and in the shape the vendor itself uses for the status, or else one of the mock's own
//! few refusals (an unknown `x-vendor-mock-scenario`, a bad sandbox name, no vendor at the
//! path), or what hyper answers on its own to a request head it cannot take.

use serde_json::Value;

use super::{Answer, Exchange, SendError};

/// `Err` with the reason when `answer` is not an acceptable answer of `vendor` to `req`.
pub fn check(
    vendor: &str,
    req: &Exchange,
    answer: &Result<Answer, SendError>,
) -> Result<(), String> {
    let a = match answer {
        Ok(a) => a,
        // The case built something hyper's client will not write (a header value with a
        // line break, say): nothing was sent, so there is nothing to judge.
        Err(SendError::Unsendable) => return Ok(()),
        Err(SendError::NoAnswer(why)) => {
            return Err(format!("the connection closed without an answer ({why})"))
        }
    };
    let why = |msg: &str| {
        Err(format!(
            "{msg}: {} {} -> {} {:?} {}",
            String::from_utf8_lossy(&req.method),
            req.target,
            a.status,
            a.headers,
            truncated(&a.text())
        ))
    };
    // hyper's own answers to a head it refuses (too large, not HTTP/1.1): empty, no
    // scenario header; documented in src/server/mod.rs and the README.
    if matches!(a.status, 400 | 431)
        && a.body.is_empty()
        && a.header("x-vendor-mock-scenario").is_none()
    {
        return if a.status == 431 || head_len(req) > 16 * 1024 {
            Ok(())
        } else {
            why("hyper refused a request head that is neither large nor malformed")
        };
    }
    let Some(scenario) = a.header("x-vendor-mock-scenario") else {
        return why("no x-vendor-mock-scenario header");
    };
    if a.status >= 500 {
        // A route Google serves and the mock does not emulate: `501 UNIMPLEMENTED`, told by
        // its body (an answer to HEAD has none: its status is all there is to judge).
        let unimplemented = vendor == "featurestore"
            && a.status == 501
            && (req.method == b"HEAD"
                || a.json()
                    .is_some_and(|j| j["error"]["status"] == "UNIMPLEMENTED"));
        if scenario != "flaky" && !unimplemented {
            return why("a 5xx from a scenario other than flaky");
        }
    }
    // An answer to HEAD has no body to judge (hyper sends none, as HTTP says).
    if mock_own(a) || req.method == b"HEAD" {
        return Ok(());
    }
    let verdict = match vendor {
        "finbox" => finbox(a),
        "credeau" => credeau(a),
        "finx" => finx(a),
        "credolab" => credolab(a),
        "finscore" => finscore(a),
        "featurestore" => featurestore(a),
        other => Err(format!("no shape known for {other}")),
    };
    match verdict {
        Ok(()) => Ok(()),
        Err(e) => why(&e),
    }
}

fn truncated(s: &str) -> String {
    if s.len() > 600 {
        let mut end = 600;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… ({} bytes)", &s[..end], s.len())
    } else {
        s.to_string()
    }
}

fn head_len(req: &Exchange) -> usize {
    req.target.len()
        + req.method.len()
        + req
            .headers
            .iter()
            .map(|(k, v)| k.len() + v.len() + 4)
            .sum::<usize>()
}

/// The mock's own refusals, before any vendor reads the request.
fn mock_own(a: &Answer) -> bool {
    let Some(j) = a.json() else { return false };
    let Some(msg) = j["error"].as_str() else {
        return false;
    };
    match a.status {
        400 => {
            msg.starts_with("x-vendor-mock-scenario: ")
                || msg.starts_with(vendor_mock::sandbox::NAME_RULE)
                || msg.starts_with("the request body could not be read")
        }
        404 => msg.starts_with("no vendor is served at "),
        _ => false,
    }
}

fn json_object(a: &Answer) -> Result<serde_json::Map<String, Value>, String> {
    match a.json() {
        Some(Value::Object(m)) => Ok(m),
        _ => Err("the body is not a JSON object".into()),
    }
}

fn is_str(v: Option<&Value>) -> bool {
    v.is_some_and(Value::is_string)
}

/// `{status, message}`, with Case 6's echo on 400.
fn finbox(a: &Answer) -> Result<(), String> {
    let m = json_object(a)?;
    if a.status >= 400 {
        if m.get("status") != Some(&Value::from("error")) || !is_str(m.get("message")) {
            return Err("not FinBox's {status: error, message}".into());
        }
        if a.status == 400 && !(m.contains_key("customer_id") && is_str(m.get("request_id"))) {
            return Err("a FinBox 400 without Case 6's customer_id and request_id".into());
        }
    } else if !is_str(m.get("status")) || !is_str(m.get("message")) {
        return Err("a FinBox answer without status and message".into());
    }
    Ok(())
}

/// FastAPI's JSON (401, 405, 422) or the nginx pages (403, 413, 429, 502, 504).
fn credeau(a: &Answer) -> Result<(), String> {
    match a.status {
        200..=299 => json_object(a).map(|_| ()),
        401 => {
            let m = json_object(a)?;
            match m.get("error").and_then(Value::as_str) {
                Some(e) if e.starts_with("Could not validate credentials. (request_id=") => Ok(()),
                _ => Err("not Credeau's 401".into()),
            }
        }
        403 | 413 | 429 | 502 | 504 => {
            let page = format!("<center><h1>{} ", a.status);
            if a.header("content-type") == Some("text/html") && a.text().contains(&page) {
                Ok(())
            } else {
                Err("not the nginx page".into())
            }
        }
        405 => {
            let m = json_object(a)?;
            if m.get("detail") == Some(&Value::from("Method Not Allowed"))
                && a.header("allow").is_some()
            {
                Ok(())
            } else {
                Err("not Starlette's 405".into())
            }
        }
        422 => {
            let m = json_object(a)?;
            let items = m
                .get("detail")
                .and_then(Value::as_array)
                .ok_or("422 without a detail list")?;
            let ok = !items.is_empty()
                && items.iter().all(|i| {
                    is_str(i.get("type"))
                        && is_str(i.get("msg"))
                        && i.get("loc").is_some_and(Value::is_array)
                });
            if ok {
                Ok(())
            } else {
                Err("not FastAPI's 422 detail list".into())
            }
        }
        _ => Err("a status Credeau does not answer".into()),
    }
}

/// figo's `{"error": {"code", "message", "description"}}`; the widget's redirect.
fn finx(a: &Answer) -> Result<(), String> {
    match a.status {
        302 => a
            .header("location")
            .map(|_| ())
            .ok_or_else(|| "302 without Location".into()),
        200..=299 => json_object(a).map(|_| ()),
        _ => {
            let m = json_object(a)?;
            let e = m
                .get("error")
                .and_then(Value::as_object)
                .ok_or("no error object")?;
            if e.get("code") == Some(&Value::from(90000))
                && is_str(e.get("message"))
                && is_str(e.get("description"))
            {
                Ok(())
            } else {
                Err("not finX's error object".into())
            }
        }
    }
}

/// ASP.NET Core: problem+json, the validation envelope, or routing's and the bearer
/// handler's empty 401/404/405.
fn credolab(a: &Answer) -> Result<(), String> {
    match a.status {
        200..=299 => {
            if a.body.is_empty() || a.json().is_some() {
                Ok(())
            } else {
                Err("a 2xx that is neither empty nor JSON".into())
            }
        }
        401 | 404 | 405 if a.body.is_empty() => {
            let needed = match a.status {
                401 => "www-authenticate",
                405 => "allow",
                _ => "x-vendor-mock-scenario",
            };
            a.header(needed)
                .map(|_| ())
                .ok_or_else(|| format!("an empty {} without {needed}", a.status))
        }
        _ => {
            if a.header("content-type") != Some("application/problem+json; charset=utf-8") {
                return Err("an error that is not application/problem+json".into());
            }
            let m = json_object(a)?;
            if m.get("status") != Some(&Value::from(a.status)) || !is_str(m.get("title")) {
                return Err("a problem without title or the answer's status".into());
            }
            if m.contains_key("errors") {
                let errors = m["errors"].as_object().ok_or("errors is not an object")?;
                let ok = a.status == 400
                    && !errors.is_empty()
                    && errors.values().all(|v| {
                        v.as_array()
                            .is_some_and(|l| !l.is_empty() && l.iter().all(Value::is_string))
                    });
                return if ok {
                    Ok(())
                } else {
                    Err("not ASP.NET's validation envelope".into())
                };
            }
            if is_str(m.get("type")) {
                Ok(())
            } else {
                Err("a problem without type".into())
            }
        }
    }
}

/// FinScore's envelope, or IdentityServer's `{"error": code}` at the token endpoint.
fn finscore(a: &Answer) -> Result<(), String> {
    let m = json_object(a)?;
    if let Some(code) = m.get("error") {
        const OAUTH: &[&str] = &[
            "invalid_request",
            "invalid_client",
            "unsupported_grant_type",
            "unauthorized_client",
            "invalid_grant",
            "invalid_scope",
            "temporarily_unavailable",
        ];
        return match code.as_str() {
            Some(c) if OAUTH.contains(&c) && m.len() == 1 && a.status >= 400 => Ok(()),
            _ => Err("not IdentityServer's {error: code}".into()),
        };
    }
    if a.status == 200 && m.contains_key("access_token") {
        return Ok(());
    }
    let code = m.get("code").and_then(Value::as_str).ok_or("no code")?;
    let ok = is_str(m.get("requestid"))
        && is_str(m.get("transactionid"))
        && is_str(m.get("result"))
        && match a.status {
            200 => ["0000", "1000", "1111"].contains(&code),
            _ => code == "1111" && m["result"] == "error" && is_str(m.get("message")),
        };
    if ok {
        Ok(())
    } else {
        Err("not FinScore's envelope".into())
    }
}

/// Google's `{"error": {"code", "message", "status"}}`.
fn featurestore(a: &Answer) -> Result<(), String> {
    if a.status < 400 {
        return a
            .json()
            .map(|_| ())
            .ok_or_else(|| "a 2xx that is not JSON".into());
    }
    let m = json_object(a)?;
    let e = m
        .get("error")
        .and_then(Value::as_object)
        .ok_or("no error object")?;
    if e.get("code") == Some(&Value::from(a.status))
        && is_str(e.get("message"))
        && is_str(e.get("status"))
    {
        Ok(())
    } else {
        Err("not Google's error envelope".into())
    }
}
