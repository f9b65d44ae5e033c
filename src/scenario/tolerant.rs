//! Every wrong type and unknown key of a file in one run, not only the first.
//!
//! serde stops at a file's first problem. [`parse_all`] records it, then masks it in a
//! copy of the text and parses again: a value of the wrong type becomes a stand-in of the
//! expected type (`0`, `""`, `false`, `[]`, `{}`), an unknown key is blanked out with its
//! value. Masks keep the text's length and line breaks, so every later span and
//! line:col still points into the user's file. It gives up (keeping what it found) on a
//! problem it cannot mask: a missing key, a stand-in longer than the value it replaces.
//! Checks made later on the parsed value should ignore anything inside [`Parsed::masked`]:
//! they would only see a stand-in.

use std::ops::Range;

use serde::de::DeserializeOwned;

use super::diag::Problem;

/// At most this many problems per file: far more than anyone fixes in one go, and a bound
/// on the re-parsing.
const MAX_PROBLEMS: usize = 64;

/// A file parsed despite its problems.
pub struct Parsed<T> {
    /// The value of the masked text: wrong values replaced by stand-ins, unknown keys gone.
    pub value: Option<T>,
    pub problems: Vec<Problem>,
    /// Byte ranges of the original text that were masked.
    pub masked: Vec<Range<usize>>,
}

/// Deserialize `text`, collecting every type error and unknown key (see the module doc).
pub fn parse_all<T: DeserializeOwned>(text: &str) -> Parsed<T> {
    let mut masked_text = text.to_string();
    let mut problems = Vec::new();
    let mut masked = Vec::new();
    // Keys cut out because no stand-in fitted their value: their "missing field" is no news.
    let mut removed: Vec<String> = Vec::new();
    loop {
        let err = match toml::from_str::<T>(&masked_text) {
            Ok(value) => {
                return Parsed {
                    value: Some(value),
                    problems,
                    masked,
                }
            }
            Err(e) => e,
        };
        let missing = err
            .message()
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next());
        // Nor is it when an unknown key's suggestion already named it.
        let suggested = |k: &str| {
            problems
                .iter()
                .any(|p: &Problem| p.message.contains(&format!("(did you mean `{k}`?)")))
        };
        if missing.is_some_and(|k| removed.iter().any(|r| r == k) || suggested(k)) {
            return Parsed {
                value: None,
                problems,
                masked,
            };
        }
        let mut problem = Problem::from(err.clone());
        // Name the key whose value has the wrong type: "`times` must be an integer, …".
        if let (Some(span), Some(rest)) = (err.span(), problem.message.strip_prefix("expected ")) {
            if let Some(kv) = find_key_value(&masked_text, |_, v| v == span) {
                problem.message = format!("`{}` must be {rest}", kv.key);
            }
        }
        let mask = err
            .span()
            .filter(|_| problems.len() + 1 < MAX_PROBLEMS)
            .and_then(|span| mask_for(&masked_text, err.message(), span));
        problems.push(problem);
        match mask {
            Some(Mask {
                range,
                replacement,
                removed_key,
            }) => {
                masked_text.replace_range(range.clone(), &replacement);
                masked.push(range);
                removed.extend(removed_key);
            }
            None => {
                return Parsed {
                    value: None,
                    problems,
                    masked,
                }
            }
        }
    }
}

/// What to overwrite, and with what.
struct Mask {
    range: Range<usize>,
    replacement: String,
    /// The key cut out with its value, if that is what the mask does.
    removed_key: Option<String>,
}

/// The mask for the problem `message` at `span`.
fn mask_for(text: &str, message: &str, span: Range<usize>) -> Option<Mask> {
    let cut = |kv: KeyValue| Mask {
        replacement: blank(&text[kv.extent.clone()]),
        range: kv.extent,
        removed_key: Some(kv.key),
    };
    if message.starts_with("unknown field") {
        return find_key_value(text, |k, _| k.start == span.start).map(cut);
    }
    let expected = message.split(", expected ").nth(1)?;
    let stand_in = stand_in(expected)?;
    let original = text.get(span.clone())?;
    // The stand-in must fit in the value it replaces, without crossing a line break;
    // where it does not, `key = 5` becomes `key=""`, or else the key goes with its value.
    if original.contains('\n') || original.len() < stand_in.len() {
        let kv = find_key_value(text, |_, v| v == span)?;
        let pair = text.get(kv.pair.clone())?;
        let key = text.get(kv.pair.start..kv.key_end)?;
        let compact = format!("{key}={stand_in}");
        if !pair.contains('\n') && compact.len() <= pair.len() {
            return Some(Mask {
                replacement: format!("{compact:<width$}", width = pair.len()),
                range: kv.pair,
                removed_key: None,
            });
        }
        return Some(cut(kv));
    }
    Some(Mask {
        replacement: format!("{stand_in:<width$}", width = original.len()),
        range: span,
        removed_key: None,
    })
}

/// A value of the type serde's `expected …` names.
fn stand_in(expected: &str) -> Option<&'static str> {
    let e = expected.trim();
    Some(match e {
        _ if e.starts_with('i') || e.starts_with('u') || e.starts_with('f') => "0",
        _ if e.contains("string") || e.contains("char") => "\"\"",
        _ if e.contains("bool") => "false",
        _ if e.contains("sequence") || e.contains("array") => "[]",
        _ if e.contains("map") || e.starts_with("struct") || e.contains("table") => "{}",
        _ => return None,
    })
}

/// Spaces for every character of `s` but its line breaks, so positions stay put.
fn blank(s: &str) -> String {
    s.chars()
        .map(|c| if c == '\n' || c == '\r' { c } else { ' ' })
        .collect()
}

/// A `key = value` pair found by its spans.
struct KeyValue {
    key: String,
    /// From the key's start to the value's end.
    pair: Range<usize>,
    key_end: usize,
    /// The pair's bytes, with the comma that separates it from its neighbours in an inline
    /// table or array (so what is left is still valid TOML).
    extent: Range<usize>,
}

/// The first pair, anywhere in the document, whose key and value spans satisfy `hit`.
fn find_key_value(
    text: &str,
    hit: impl Fn(Range<usize>, Range<usize>) -> bool + Copy,
) -> Option<KeyValue> {
    let doc: toml_edit::ImDocument<&str> = toml_edit::ImDocument::parse(text).ok()?;
    let (key, key_end, span) = find_in_table(doc.as_table(), hit)?;
    let bytes = text.as_bytes();
    let mut after = span.end;
    while after < bytes.len() && (bytes[after] == b' ' || bytes[after] == b'\t') {
        after += 1;
    }
    if bytes.get(after) == Some(&b',') {
        return Some(KeyValue {
            key,
            key_end,
            pair: span.clone(),
            extent: span.start..after + 1,
        });
    }
    let mut before = span.start;
    while before > 0 && (bytes[before - 1] == b' ' || bytes[before - 1] == b'\t') {
        before -= 1;
    }
    let start = if before > 0 && bytes[before - 1] == b',' {
        before - 1
    } else {
        span.start
    };
    Some(KeyValue {
        key,
        key_end,
        pair: span.clone(),
        extent: start..span.end,
    })
}

/// The key, where it ends, and the span from its start to its value's end.
fn find_in_table(
    table: &dyn toml_edit::TableLike,
    hit: impl Fn(Range<usize>, Range<usize>) -> bool + Copy,
) -> Option<(String, usize, Range<usize>)> {
    for (name, _) in table.iter() {
        let (key, item) = table.get_key_value(name)?;
        if let (Some(k), Some(v)) = (key.span(), item.span()) {
            if hit(k.clone(), v.clone()) {
                return Some((name.to_string(), k.end, k.start..v.end));
            }
        }
        if let Some(found) = find_in_item(item, hit) {
            return Some(found);
        }
    }
    None
}

fn find_in_item(
    item: &toml_edit::Item,
    hit: impl Fn(Range<usize>, Range<usize>) -> bool + Copy,
) -> Option<(String, usize, Range<usize>)> {
    match item {
        toml_edit::Item::Table(t) => find_in_table(t, hit),
        toml_edit::Item::ArrayOfTables(a) => a.iter().find_map(|t| find_in_table(t, hit)),
        toml_edit::Item::Value(v) => find_in_value(v, hit),
        toml_edit::Item::None => None,
    }
}

fn find_in_value(
    value: &toml_edit::Value,
    hit: impl Fn(Range<usize>, Range<usize>) -> bool + Copy,
) -> Option<(String, usize, Range<usize>)> {
    match value {
        toml_edit::Value::InlineTable(t) => find_in_table(t, hit),
        toml_edit::Value::Array(a) => a.iter().find_map(|v| find_in_value(v, hit)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Step {
        #[allow(dead_code)]
        outcome: Option<String>,
        #[allow(dead_code)]
        times: Option<i64>,
    }

    #[derive(Debug, Deserialize)]
    struct File {
        #[allow(dead_code)]
        steps: Vec<Step>,
    }

    fn messages(text: &str) -> Vec<String> {
        let parsed = parse_all::<File>(text);
        parsed
            .problems
            .iter()
            .map(|p| format!("{:?}: {}", p.span, p.message))
            .collect()
    }

    #[test]
    fn every_wrong_type_and_unknown_key_is_reported_where_it_is() {
        let text = r#"steps = [{ outcome = "a", times = "2" }, { outcome = 500, tims = 3 }, { times = true }]"#;
        let parsed = parse_all::<File>(text);
        assert!(parsed.value.is_some(), "{:?}", messages(text));
        let at: Vec<&str> = parsed
            .problems
            .iter()
            .map(|p| &text[p.span.clone().unwrap()])
            .collect();
        assert_eq!(at, ["\"2\"", "500", "tims", "true"], "{:?}", messages(text));
        assert_eq!(parsed.masked.len(), 4);
    }

    #[test]
    fn a_value_too_short_for_its_stand_in_goes_with_its_key() {
        // A one-character value cannot hold the stand-in `""`: the optional key goes.
        let text = "steps = [{ outcome = 5, times = 1 }, { times = \"x\" }]";
        let parsed = parse_all::<File>(text);
        assert_eq!(parsed.problems.len(), 2, "{:?}", messages(text));
        assert!(parsed.value.is_some());
    }

    #[derive(Debug, Deserialize)]
    struct Named {
        #[allow(dead_code)]
        n: String,
        #[allow(dead_code)]
        times: i64,
    }

    #[test]
    fn a_short_pair_is_compacted_and_a_shorter_one_cut_out_without_a_missing_key_error() {
        // `n = 5` has room for `n=""`; `n=5` has none, so it goes, and the missing `n`
        // that follows is not reported a second time.
        for (text, value) in [
            ("n = 5\ntimes = \"x\"\n", true),
            ("n=5\ntimes = \"x\"\n", false),
        ] {
            let parsed = parse_all::<Named>(text);
            let at: Vec<&str> = parsed
                .problems
                .iter()
                .map(|p| &text[p.span.clone().unwrap()])
                .collect();
            assert_eq!(at, ["5", "\"x\""], "{:?}", messages_of(&parsed));
            assert_eq!(parsed.value.is_some(), value, "{:?}", messages_of(&parsed));
        }
        let parsed = parse_all::<Named>("n = 5\ntimes = 1\n");
        assert_eq!(
            messages_of(&parsed),
            ["Some(4..5): `n` must be a string, found the integer 5"]
        );
    }

    fn messages_of<T>(parsed: &Parsed<T>) -> Vec<String> {
        parsed
            .problems
            .iter()
            .map(|p| format!("{:?}: {}", p.span, p.message))
            .collect()
    }

    #[test]
    fn masks_keep_lengths_and_line_breaks() {
        assert_eq!(blank("a = [1,\n 2]"), "       \n   ");
        let text = "steps = [\n{ times = \"two\" },\n{ tims = 1, outcome = \"x\" },\n]";
        let parsed = parse_all::<File>(text);
        assert_eq!(parsed.problems.len(), 2, "{:?}", messages(text));
        assert!(parsed.value.is_some());
    }
}
