//! `filter` and `orderBy` of the three list calls, as the List…Request references
//! document them.
//!
//! Filters are the AIP-160 subset those references name: `create_time` and
//! `update_time` compared (`=`, `!=`, `<`, `<=`, `>`, `>=`) with an RFC 3339 timestamp
//! (or a `YYYY-MM-DD` date, as one of Google's examples writes it: midnight UTC);
//! label equality `labels.KEY = "VALUE"` and presence `labels.KEY:*`; on features
//! `value_type = DOUBLE` (`=`, `!=`); on featurestores
//! `online_serving_config.fixed_node_count` compared with an integer. Restrictions
//! combine with `AND`, `OR` (which binds tighter, as in AIP-160), `NOT` and
//! parentheses. Field names may be snake_case or camelCase; values may be quoted or bare.
//!
//! Anything else (another field, another operator for a field, a bare word, two
//! restrictions with no `AND`/`OR` between them) is refused with INVALID_ARGUMENT naming
//! the part the mock cannot evaluate: a filter is never ignored.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use super::errors::ApiError;
use super::names::Kind;
use super::resource::snake;
use super::values::ValueType;

/// What filters and orderings look at in one resource.
pub struct Facts<'a> {
    pub id: &'a str,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub labels: Option<&'a Map<String, Value>>,
    pub value_type: Option<ValueType>,
    pub fixed_node_count: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Has,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Has => ":",
        }
    }
    fn holds(self, o: Ordering) -> bool {
        match self {
            Op::Eq => o == Ordering::Equal,
            Op::Ne => o != Ordering::Equal,
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
            Op::Gt => o == Ordering::Greater,
            Op::Ge => o != Ordering::Less,
            Op::Has => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Test {
    CreateTime(Op, DateTime<Utc>),
    UpdateTime(Op, DateTime<Utc>),
    LabelEq(String, String),
    LabelHas(String),
    ValueType(Op, ValueType),
    NodeCount(Op, i64),
}

#[derive(Debug, Clone, PartialEq)]
/// Flat lists for AND and OR, so a long chain is not a deep tree: only parentheses nest,
/// and [`MAX_DEPTH`] bounds them.
enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Test(Test),
}

/// Parentheses nest at most this deep; deeper filters are refused rather than recursed.
const MAX_DEPTH: usize = 32;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter(Expr);

impl Filter {
    /// Parse `text` for a list of `kind`.
    pub fn parse(kind: Kind, text: &str) -> Result<Self, ApiError> {
        let tokens = lex(text)?;
        let mut p = Parser {
            kind,
            text,
            tokens,
            at: 0,
            depth: 0,
        };
        let e = p.expression()?;
        if let Some(t) = p.tokens.get(p.at) {
            return Err(p.error(format!("expected AND or OR before {}", t.shown())));
        }
        Ok(Filter(e))
    }

    pub fn matches(&self, f: &Facts<'_>) -> bool {
        eval(&self.0, f)
    }
}

fn eval(e: &Expr, f: &Facts<'_>) -> bool {
    match e {
        Expr::And(all) => all.iter().all(|e| eval(e, f)),
        Expr::Or(any) => any.iter().any(|e| eval(e, f)),
        Expr::Not(a) => !eval(a, f),
        Expr::Test(t) => match t {
            Test::CreateTime(op, at) => op.holds(f.create_time.cmp(at)),
            Test::UpdateTime(op, at) => op.holds(f.update_time.cmp(at)),
            Test::LabelEq(k, v) => f
                .labels
                .and_then(|l| l.get(k))
                .and_then(Value::as_str)
                .is_some_and(|x| x == v),
            Test::LabelHas(k) => f.labels.is_some_and(|l| l.contains_key(k)),
            Test::ValueType(op, vt) => {
                let same = f.value_type == Some(*vt);
                if *op == Op::Eq {
                    same
                } else {
                    !same
                }
            }
            Test::NodeCount(op, n) => op.holds(f.fixed_node_count.cmp(n)),
        },
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    Op(Op),
    /// A quoted string, unescaped.
    Str(String),
    Word(String),
}

impl Tok {
    fn shown(&self) -> String {
        match self {
            Tok::Open => "\"(\"".into(),
            Tok::Close => "\")\"".into(),
            Tok::Op(o) => format!("\"{}\"", o.text()),
            Tok::Str(s) => format!("the string \"{s}\""),
            Tok::Word(w) => format!("\"{w}\""),
        }
    }
}

fn invalid(text: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(format!("Unsupported filter '{text}': {why}."))
}

fn lex(text: &str) -> Result<Vec<Tok>, ApiError> {
    let mut out = Vec::new();
    let mut it = text.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => out.push(Tok::Open),
            ')' => out.push(Tok::Close),
            '=' => out.push(Tok::Op(Op::Eq)),
            ':' => out.push(Tok::Op(Op::Has)),
            '<' | '>' | '!' => {
                let eq = it.next_if(|(_, n)| *n == '=').is_some();
                out.push(Tok::Op(match (c, eq) {
                    ('<', false) => Op::Lt,
                    ('<', true) => Op::Le,
                    ('>', false) => Op::Gt,
                    ('>', true) => Op::Ge,
                    ('!', true) => Op::Ne,
                    _ => return Err(invalid(text, format!("\"!\" at offset {i} must be \"!=\""))),
                }));
            }
            '"' | '\'' => {
                let mut s = String::new();
                let mut closed = false;
                while let Some((_, n)) = it.next() {
                    match n {
                        '\\' => match it.next() {
                            Some((_, e)) => s.push(e),
                            None => break,
                        },
                        n if n == c => {
                            closed = true;
                            break;
                        }
                        n => s.push(n),
                    }
                }
                if !closed {
                    return Err(invalid(
                        text,
                        format!("the string starting at offset {i} is not closed"),
                    ));
                }
                out.push(Tok::Str(s));
            }
            _ => {
                let mut w = String::from(c);
                while let Some((_, n)) =
                    it.next_if(|(_, n)| !n.is_whitespace() && !"()=:<>!\"'".contains(*n))
                {
                    w.push(n);
                }
                out.push(Tok::Word(w));
            }
        }
    }
    if out.is_empty() {
        return Err(invalid(text, "it holds no restriction"));
    }
    Ok(out)
}

struct Parser<'t> {
    kind: Kind,
    text: &'t str,
    tokens: Vec<Tok>,
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, why: impl std::fmt::Display) -> ApiError {
        invalid(self.text, why)
    }

    fn peek_word(&self, w: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Tok::Word(x)) if x == w)
    }

    /// `factor {AND factor}`.
    fn expression(&mut self) -> Result<Expr, ApiError> {
        let mut all = vec![self.factor()?];
        while self.peek_word("AND") {
            self.at += 1;
            all.push(self.factor()?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Expr::And(all)
        })
    }

    /// `term {OR term}`: OR binds tighter than AND (AIP-160).
    fn factor(&mut self) -> Result<Expr, ApiError> {
        let mut any = vec![self.term()?];
        while self.peek_word("OR") {
            self.at += 1;
            any.push(self.term()?);
        }
        Ok(if any.len() == 1 {
            any.remove(0)
        } else {
            Expr::Or(any)
        })
    }

    /// `[NOT] simple`.
    fn term(&mut self) -> Result<Expr, ApiError> {
        if self.peek_word("NOT") {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.simple()?)));
        }
        self.simple()
    }

    fn simple(&mut self) -> Result<Expr, ApiError> {
        match self.tokens.get(self.at).cloned() {
            Some(Tok::Open) => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(self.error(format!("parentheses nest deeper than {MAX_DEPTH}")));
                }
                self.at += 1;
                let e = self.expression()?;
                self.depth -= 1;
                match self.tokens.get(self.at) {
                    Some(Tok::Close) => {
                        self.at += 1;
                        Ok(e)
                    }
                    Some(t) => Err(self.error(format!("expected \")\" before {}", t.shown()))),
                    None => Err(self.error("a \"(\" is not closed")),
                }
            }
            Some(Tok::Word(field)) if !matches!(field.as_str(), "AND" | "OR" | "NOT") => {
                self.at += 1;
                let op = match self.tokens.get(self.at) {
                    Some(Tok::Op(op)) => *op,
                    _ => {
                        return Err(self.error(format!(
                            "\"{field}\" must be compared with a value, e.g. labels.env = \"prod\""
                        )))
                    }
                };
                self.at += 1;
                let value = match self.tokens.get(self.at) {
                    Some(Tok::Str(s) | Tok::Word(s)) => s.clone(),
                    _ => return Err(self.error(format!("\"{field} {}\" needs a value", op.text()))),
                };
                self.at += 1;
                Ok(Expr::Test(self.restriction(&field, op, &value)?))
            }
            Some(t) => Err(self.error(format!("expected a restriction, found {}", t.shown()))),
            None => Err(self.error("it ends where a restriction was expected")),
        }
    }

    fn restriction(&self, field: &str, op: Op, value: &str) -> Result<Test, ApiError> {
        if let Some(key) = field.strip_prefix("labels.") {
            return match (op, value) {
                (Op::Has, "*") => Ok(Test::LabelHas(key.to_string())),
                (Op::Eq, v) => Ok(Test::LabelEq(key.to_string(), v.to_string())),
                _ => Err(self.error(format!(
                    "labels support key-value equality (labels.{key} = \"value\") and key presence (labels.{key}:*), not \"{field} {} {value}\"",
                    op.text()
                ))),
            };
        }
        let snake = snake(field);
        let name = snake.as_str();
        let supported = supported_filters(self.kind);
        match name {
            "create_time" | "update_time" => {
                if op == Op::Has {
                    return Err(
                        self.error(format!("{name} supports =, !=, <, >, <= and >=, not \":\""))
                    );
                }
                let at = timestamp(value).ok_or_else(|| {
                    self.error(format!(
                        "{name} must be compared with an RFC 3339 timestamp such as \"2026-01-15T10:00:00Z\", not \"{value}\""
                    ))
                })?;
                Ok(if name == "create_time" {
                    Test::CreateTime(op, at)
                } else {
                    Test::UpdateTime(op, at)
                })
            }
            "value_type" if self.kind == Kind::Feature => {
                if !matches!(op, Op::Eq | Op::Ne) {
                    return Err(self.error(format!(
                        "value_type supports = and !=, not \"{}\"",
                        op.text()
                    )));
                }
                let vt = ValueType::parse(value).ok_or_else(|| {
                    self.error(format!(
                        "unknown value_type \"{value}\"; expected one of: {}",
                        ValueType::names()
                    ))
                })?;
                Ok(Test::ValueType(op, vt))
            }
            "online_serving_config.fixed_node_count" if self.kind == Kind::Featurestore => {
                if op == Op::Has {
                    return Err(
                        self.error(format!("{name} supports =, !=, <, >, <= and >=, not \":\""))
                    );
                }
                let n = value.parse::<i64>().map_err(|_| {
                    self.error(format!(
                        "{name} must be compared with an integer, not \"{value}\""
                    ))
                })?;
                Ok(Test::NodeCount(op, n))
            }
            _ => Err(self.error(format!(
                "the mock cannot filter {} on \"{field}\"; supported: {supported}",
                self.kind.plural()
            ))),
        }
    }
}

fn supported_filters(kind: Kind) -> &'static str {
    match kind {
        Kind::Featurestore => {
            "create_time, update_time, online_serving_config.fixed_node_count, labels.KEY"
        }
        Kind::EntityType => "create_time, update_time, labels.KEY",
        Kind::Feature => "value_type, create_time, update_time, labels.KEY",
    }
}

fn timestamp(v: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some(t.to_utc());
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// One `orderBy` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Id,
    CreateTime,
    UpdateTime,
    ValueType,
    NodeCount,
}

/// A parsed `orderBy`: keys in order, each ascending or descending.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrderBy(Vec<(Key, bool)>);

impl OrderBy {
    pub fn parse(kind: Kind, text: &str) -> Result<Self, ApiError> {
        let supported = match kind {
            Kind::Featurestore => {
                "create_time, update_time, online_serving_config.fixed_node_count"
            }
            Kind::EntityType => "entity_type_id, create_time, update_time",
            Kind::Feature => "feature_id, value_type, create_time, update_time",
        };
        let mut keys = Vec::new();
        for part in text.split(',') {
            let words: Vec<&str> = part.split_whitespace().collect();
            let (field, desc) = match words.as_slice() {
                [f] => (*f, false),
                [f, d] if d.eq_ignore_ascii_case("desc") => (*f, true),
                [f, a] if a.eq_ignore_ascii_case("asc") => (*f, false),
                _ => {
                    return Err(ApiError::invalid(format!(
                        "Invalid order_by \"{text}\": \"{}\" is not \"FIELD\" or \"FIELD desc\".",
                        part.trim()
                    )))
                }
            };
            let key = match (kind, snake(field).as_str()) {
                (_, "create_time") => Key::CreateTime,
                (_, "update_time") => Key::UpdateTime,
                (Kind::EntityType, "entity_type_id") | (Kind::Feature, "feature_id") => Key::Id,
                (Kind::Feature, "value_type") => Key::ValueType,
                (Kind::Featurestore, "online_serving_config.fixed_node_count") => Key::NodeCount,
                _ => {
                    return Err(ApiError::invalid(format!(
                        "Invalid order_by field \"{field}\" for {}; supported: {supported}.",
                        kind.plural()
                    )))
                }
            };
            keys.push((key, desc));
        }
        Ok(OrderBy(keys))
    }

    /// Compare two resources; equal under every key keeps creation order (the sort is stable).
    pub fn compare(&self, a: &Facts<'_>, b: &Facts<'_>) -> Ordering {
        for (key, desc) in &self.0 {
            let o = match key {
                Key::Id => a.id.cmp(b.id),
                Key::CreateTime => a.create_time.cmp(&b.create_time),
                Key::UpdateTime => a.update_time.cmp(&b.update_time),
                Key::ValueType => a
                    .value_type
                    .map(ValueType::number)
                    .cmp(&b.value_type.map(ValueType::number)),
                Key::NodeCount => a.fixed_node_count.cmp(&b.fixed_node_count),
            };
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn facts<'a>(labels: &'a Map<String, Value>, created: &str) -> Facts<'a> {
        Facts {
            id: "x",
            create_time: t(created),
            update_time: t(created),
            labels: Some(labels),
            value_type: Some(ValueType::Double),
            fixed_node_count: 2,
        }
    }

    #[test]
    fn documented_filters_select_what_they_say() {
        let risk = json!({"team": "risk", "env": "prod"});
        let risk = risk.as_object().unwrap();
        let none = Map::new();
        let old = facts(risk, "2026-01-15T10:00:00Z");
        let new = facts(&none, "2026-01-15T11:00:00Z");
        let cases = [
            (Kind::Featurestore, "labels.team=\"risk\"", true, false),
            (Kind::Featurestore, "labels.team = risk", true, false),
            (Kind::EntityType, "labels.active = yes AND labels.env = prod", false, false),
            (Kind::EntityType, "labels.env: *", true, false),
            (Kind::EntityType, "labels.env:*", true, false),
            (Kind::Featurestore, "create_time > \"2026-01-15T10:30:00Z\"", false, true),
            (Kind::Featurestore, "createTime <= \"2026-01-15T10:00:00Z\"", true, false),
            (Kind::Featurestore, "create_time > \"2020-01-01\" OR update_time > \"2020-01-01\"", true, true),
            (Kind::Feature, "create_time != \"2026-01-15T10:00:00Z\"", false, true),
            (Kind::Feature, "value_type = DOUBLE", true, true),
            (Kind::Feature, "value_type != \"DOUBLE\"", false, false),
            (Kind::Featurestore, "online_serving_config.fixed_node_count >= 2", true, true),
            (Kind::Featurestore, "NOT labels.team = risk", false, true),
            // OR binds tighter than AND.
            (Kind::Featurestore, "labels.team = risk AND labels.env = dev OR labels.env = prod", true, false),
            (Kind::Featurestore, "(labels.team = risk AND labels.env = dev) OR create_time > \"2026-01-15T10:30:00Z\"", false, true),
        ];
        for (kind, text, want_old, want_new) in cases {
            let f = Filter::parse(kind, text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                (f.matches(&old), f.matches(&new)),
                (want_old, want_new),
                "{text}"
            );
        }
    }

    #[test]
    fn filters_the_mock_cannot_evaluate_are_refused_naming_the_part() {
        let cases = [
            (
                Kind::Featurestore,
                "display_name = \"x\"",
                "\"display_name\"",
            ),
            (Kind::EntityType, "value_type = DOUBLE", "\"value_type\""),
            (
                Kind::Featurestore,
                "labels.team != risk",
                "labels.team != risk",
            ),
            (Kind::Featurestore, "labels.team:risk", "labels.team : risk"),
            (
                Kind::Featurestore,
                "create_time > yesterday",
                "\"yesterday\"",
            ),
            (
                Kind::Featurestore,
                "create_time > 2026-01-15T10:00:00Z",
                "\"2026-01-15T10\"",
            ),
            (
                Kind::Featurestore,
                "labels.a = b labels.c = d",
                "expected AND or OR",
            ),
            (Kind::Featurestore, "risk", "\"risk\" must be compared"),
            (Kind::Featurestore, "(labels.a = b", "not closed"),
            (Kind::Featurestore, "labels.a = \"b", "not closed"),
            (Kind::Featurestore, "labels.a =", "needs a value"),
            (Kind::Featurestore, "labels.a ! b", "must be \"!=\""),
            (
                Kind::Feature,
                "value_type = TEXT",
                "unknown value_type \"TEXT\"",
            ),
            (Kind::Feature, "value_type < DOUBLE", "not \"<\""),
            (Kind::Featurestore, "AND", "expected a restriction"),
            (Kind::Featurestore, "   ", "no restriction"),
            (Kind::Featurestore, &"(".repeat(10_000), "deeper than 32"),
        ];
        for (kind, text, needle) in cases {
            let e = Filter::parse(kind, text).unwrap_err();
            assert!(e.message.contains(needle), "{text}: {}", e.message);
            assert!(e.message.contains(text), "{text}: {}", e.message);
        }
    }

    #[test]
    fn long_chains_evaluate_without_deep_recursion() {
        let text = vec!["labels.a = b"; 50_000].join(" AND ");
        let f = Filter::parse(Kind::Featurestore, &text).unwrap();
        let l = json!({"a": "b"});
        assert!(f.matches(&facts(l.as_object().unwrap(), "2026-01-15T10:00:00Z")));
    }

    #[test]
    fn order_by_takes_the_documented_fields_each_way() {
        let none = Map::new();
        let mut a = facts(&none, "2026-01-15T10:00:00Z");
        a.id = "b";
        let mut b = facts(&none, "2026-01-15T11:00:00Z");
        b.id = "a";
        let by = |k, t| OrderBy::parse(k, t).unwrap().compare(&a, &b);
        assert_eq!(by(Kind::Featurestore, "create_time"), Ordering::Less);
        assert_eq!(
            by(Kind::Featurestore, "create_time desc"),
            Ordering::Greater
        );
        assert_eq!(by(Kind::Feature, "feature_id"), Ordering::Greater);
        assert_eq!(
            by(Kind::EntityType, "updateTime DESC, entity_type_id"),
            Ordering::Greater
        );
        assert_eq!(by(Kind::Feature, "value_type"), Ordering::Equal);
        for (kind, bad) in [
            (Kind::Featurestore, "feature_id"),
            (Kind::Featurestore, "name"),
            (Kind::EntityType, "create_time sideways"),
            (Kind::Feature, ""),
        ] {
            assert!(OrderBy::parse(kind, bad).is_err(), "{bad}");
        }
    }
}
