//! Credolab's part of a scenario file: subscription users and their states, token
//! lifetime, API keys, Iovation rulesets, and the scorecards and client-specific
//! fragments on the subscription.
//!
//! Every problem is reported with its location, all at once; a key a table does not
//! know is an error (serde's `deny_unknown_fields`).

use std::collections::HashSet;

use chrono::TimeDelta;
use serde::Deserialize;
use toml::Spanned;

use crate::scenario::{parse_settings, Problem};

/// The top-level keys Credolab adds to a scenario file.
pub const KEYS: &[&str] = &["auth", "users", "iovation", "insights"];

/// Default `[auth] token_lifetime_minutes`: "Token expiration time is 60 minutes".
const DEFAULT_TOKEN_MINUTES: i64 = 60;

/// Compiled Credolab settings.
#[derive(Debug)]
pub struct CredolabSettings {
    pub token_lifetime: TimeDelta,
    pub users: Vec<User>,
    pub requester_keys: Vec<String>,
    pub uploader_keys: Vec<String>,
    /// SDK auth keys `credoAppLogin` accepts (`authKey`).
    pub auth_keys: Vec<String>,
    /// Iovation rulesets on the subscription, as configured (matched ignoring case).
    pub rulesets: Vec<String>,
    /// Scorecard codes on the subscription (`SC01`), in answer order.
    pub scores: Vec<String>,
    /// Client-specific fragments on the subscription, after the standard ones, in
    /// answer order (names from [`CUSTOM_FRAGMENTS`]).
    pub custom_fragments: Vec<String>,
}

/// The client-specific fragments the mock can generate: `device`, `{"deviceId": …}` (a
/// production lender's subscription has it and its client reads it).
pub const CUSTOM_FRAGMENTS: &[&str] = &["device"];

/// A subscription user (the login credentials).
#[derive(Debug, Clone)]
pub struct User {
    pub email: String,
    pub password: String,
    pub state: UserState,
    /// The state applies once this long has passed since the user's first login (since
    /// the last reset); before that the user is active, so a session already under way
    /// is refused at its refresh and new logins are refused too.
    pub state_after: TimeDelta,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserState {
    Active,
    SubscriptionSuspended,
    ProfileInactive,
}

const STATES: &[(&str, UserState)] = &[
    ("active", UserState::Active),
    ("subscription_suspended", UserState::SubscriptionSuspended),
    ("profile_inactive", UserState::ProfileInactive),
];

impl CredolabSettings {
    /// The user with this e-mail, compared ignoring case (as ASP.NET Identity does).
    pub fn user(&self, email: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(email.trim()))
    }

    /// The configured ruleset `id` names, compared ignoring case ("NOT CASE-SENSITIVE").
    pub fn ruleset(&self, id: &str) -> Option<&str> {
        self.rulesets
            .iter()
            .find(|r| r.eq_ignore_ascii_case(id))
            .map(String::as_str)
    }
}

#[derive(Deserialize)]
struct SettingsFile {
    auth: Option<AuthSpec>,
    users: Option<Vec<Spanned<UserSpec>>>,
    iovation: Option<IovationSpec>,
    insights: Option<InsightsSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthSpec {
    token_lifetime_minutes: Option<Spanned<i64>>,
    requester_keys: Option<Vec<Spanned<String>>>,
    uploader_keys: Option<Vec<Spanned<String>>>,
    auth_keys: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserSpec {
    email: Spanned<String>,
    password: Spanned<String>,
    state: Option<Spanned<String>>,
    state_after_minutes: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IovationSpec {
    rulesets: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InsightsSpec {
    scores: Option<Vec<Spanned<String>>>,
    custom_fragments: Option<Vec<Spanned<String>>>,
}

/// Compile the settings from a whole scenario file's text.
pub fn compile(text: &str) -> Result<CredolabSettings, Vec<Problem>> {
    let file: SettingsFile = parse_settings(text)?;
    let mut problems = Vec::new();

    let auth = file.auth.unwrap_or(AuthSpec {
        token_lifetime_minutes: None,
        requester_keys: None,
        uploader_keys: None,
        auth_keys: None,
    });
    let minutes = match &auth.token_lifetime_minutes {
        Some(m) if !(1..=525_600).contains(m.get_ref()) => {
            problems.push(Problem::at(
                m.span(),
                format!(
                    "auth.token_lifetime_minutes must be from 1 to 525600 (a year), found {}",
                    m.get_ref()
                ),
            ));
            DEFAULT_TOKEN_MINUTES
        }
        Some(m) => *m.get_ref(),
        None => DEFAULT_TOKEN_MINUTES,
    };
    let requester_keys = keys(
        auth.requester_keys,
        "test-requester-key",
        "auth.requester_keys",
        &mut problems,
    );
    let uploader_keys = keys(
        auth.uploader_keys,
        "test-uploader-key",
        "auth.uploader_keys",
        &mut problems,
    );

    let auth_keys = keys(
        auth.auth_keys,
        "test-auth-key",
        "auth.auth_keys",
        &mut problems,
    );

    let users = match file.users {
        None => vec![User {
            email: "test@example.com".into(),
            password: "test-password".into(),
            state: UserState::Active,
            state_after: TimeDelta::zero(),
        }],
        Some(specs) => users(specs, &mut problems),
    };

    let rulesets = match file.iovation {
        None => vec!["default".to_string()],
        Some(spec) => names(spec.rulesets, "iovation.rulesets", true, &mut problems),
    };
    let insights = file.insights.unwrap_or(InsightsSpec {
        scores: None,
        custom_fragments: None,
    });
    let scores = match insights.scores {
        // Two scorecards: production subscriptions run several, and a lender's client
        // reads `scores[0]` and `scores[1]`.
        None => vec!["SC01".to_string(), "SC02".to_string()],
        Some(list) => names(list, "insights.scores", false, &mut problems),
    };
    let custom_fragments = match insights.custom_fragments {
        // On by default: the production client that reads it then passes unchanged.
        None => vec!["device".to_string()],
        Some(list) => {
            for n in &list {
                if !n.get_ref().trim().is_empty()
                    && !CUSTOM_FRAGMENTS.contains(&n.get_ref().as_str())
                {
                    problems.push(Problem::at(
                        n.span(),
                        format!(
                            "insights.custom_fragments: the mock generates only {}, found `{}`",
                            CUSTOM_FRAGMENTS
                                .iter()
                                .map(|f| format!("`{f}`"))
                                .collect::<Vec<_>>()
                                .join(", "),
                            n.get_ref()
                        ),
                    ));
                }
            }
            names(list, "insights.custom_fragments", false, &mut problems)
        }
    };

    if problems.is_empty() {
        Ok(CredolabSettings {
            token_lifetime: TimeDelta::minutes(minutes),
            users,
            requester_keys,
            uploader_keys,
            auth_keys,
            rulesets,
            scores,
            custom_fragments,
        })
    } else {
        Err(problems)
    }
}

fn keys(
    given: Option<Vec<Spanned<String>>>,
    default: &str,
    what: &str,
    problems: &mut Vec<Problem>,
) -> Vec<String> {
    let Some(list) = given else {
        return vec![default.to_string()];
    };
    let mut out = Vec::new();
    for k in list {
        if k.get_ref().trim().is_empty() {
            problems.push(Problem::at(
                k.span(),
                format!("{what}: a key must not be empty"),
            ));
        } else {
            out.push(k.into_inner());
        }
    }
    out
}

fn users(specs: Vec<Spanned<UserSpec>>, problems: &mut Vec<Problem>) -> Vec<User> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for spec in specs {
        let u = spec.into_inner();
        let email = u.email.get_ref().trim().to_string();
        if email.is_empty() {
            problems.push(Problem::at(u.email.span(), "users.email must not be empty"));
        } else if !seen.insert(email.to_ascii_lowercase()) {
            problems.push(Problem::at(
                u.email.span(),
                format!("user `{email}` is listed twice (e-mails are compared ignoring case)"),
            ));
        }
        if u.password.get_ref().is_empty() {
            problems.push(Problem::at(
                u.password.span(),
                "users.password must not be empty",
            ));
        }
        let state = match &u.state {
            None => UserState::Active,
            Some(s) => match STATES.iter().find(|(n, _)| n == s.get_ref()) {
                Some((_, st)) => *st,
                None => {
                    let names: Vec<&str> = STATES.iter().map(|(n, _)| *n).collect();
                    problems.push(Problem::at(
                        s.span(),
                        format!(
                            "unknown user state `{}`; expected one of: {}",
                            s.get_ref(),
                            names.join(", ")
                        ),
                    ));
                    UserState::Active
                }
            },
        };
        let after = match &u.state_after_minutes {
            Some(m) if *m.get_ref() < 0 => {
                problems.push(Problem::at(
                    m.span(),
                    format!(
                        "users.state_after_minutes must be 0 or more, found {}",
                        m.get_ref()
                    ),
                ));
                0
            }
            Some(m) if state == UserState::Active => {
                problems.push(Problem::at(
                    m.span(),
                    "state_after_minutes needs a `state` other than \"active\" to switch to",
                ));
                0
            }
            Some(m) => *m.get_ref(),
            None => 0,
        };
        out.push(User {
            email,
            password: u.password.into_inner(),
            state,
            state_after: TimeDelta::minutes(after),
        });
    }
    out
}

/// A list of unique, non-empty names (compared ignoring case when `fold`).
fn names(
    list: Vec<Spanned<String>>,
    what: &str,
    fold: bool,
    problems: &mut Vec<Problem>,
) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for n in list {
        let key = if fold {
            n.get_ref().to_ascii_lowercase()
        } else {
            n.get_ref().clone()
        };
        if n.get_ref().trim().is_empty() {
            problems.push(Problem::at(
                n.span(),
                format!("{what}: a name must not be empty"),
            ));
        } else if !seen.insert(key) {
            let how = if fold {
                " (compared ignoring case)"
            } else {
                ""
            };
            problems.push(Problem::at(
                n.span(),
                format!("{what}: `{}` is listed twice{how}", n.get_ref()),
            ));
        } else {
            out.push(n.into_inner());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match compile(text) {
            Ok(_) => vec![],
            Err(p) => p
                .into_iter()
                .map(|p| {
                    let at = p.span.map_or(String::new(), |s| text[s].to_string());
                    format!("{} @ {at}", p.message)
                })
                .collect(),
        }
    }

    #[test]
    fn a_file_without_credolab_keys_gets_the_documented_defaults() {
        let s = compile("vendor = \"credolab\"\n").unwrap();
        assert_eq!(s.token_lifetime, TimeDelta::minutes(60));
        assert_eq!(
            s.user("TEST@example.com").unwrap().password,
            "test-password"
        );
        assert_eq!(s.requester_keys, ["test-requester-key"]);
        assert_eq!(s.uploader_keys, ["test-uploader-key"]);
        assert_eq!(s.auth_keys, ["test-auth-key"]);
        assert_eq!(s.ruleset("DEFAULT"), Some("default"));
        assert_eq!(s.scores, ["SC01", "SC02"]);
        assert_eq!(s.custom_fragments, ["device"]);
    }

    #[test]
    fn insights_keys_are_each_optional_and_custom_fragments_are_known_names() {
        let none = compile("[insights]\ncustom_fragments = []\n").unwrap();
        assert_eq!(none.scores, ["SC01", "SC02"], "scores keep their default");
        assert!(none.custom_fragments.is_empty());
        let one = compile("[insights]\nscores = [\"SC01\"]\n").unwrap();
        assert_eq!(one.custom_fragments, ["device"]);
        assert_eq!(
            problems("[insights]\ncustom_fragments = [\"device\", \"fragment_sample\", \"device\"]\n"),
            [
                "insights.custom_fragments: the mock generates only `device`, found `fragment_sample` @ \"fragment_sample\"",
                "insights.custom_fragments: `device` is listed twice @ \"device\"",
            ]
        );
    }

    #[test]
    fn the_shipped_file_compiles_with_its_state_users() {
        let s = compile(include_str!("../../../scenarios/credolab.toml")).unwrap();
        let suspended = s
            .users
            .iter()
            .filter(|u| u.state == UserState::SubscriptionSuspended);
        let inactive = s
            .users
            .iter()
            .filter(|u| u.state == UserState::ProfileInactive);
        assert!(suspended.count() >= 1);
        assert!(inactive.count() >= 1);
    }

    #[test]
    fn every_mistake_is_reported_at_its_value() {
        let text = r#"
[auth]
token_lifetime_minutes = 0
requester_keys = [""]
auth_keys = [" "]

[[users]]
email = "a@example.com"
password = ""
state = "frozen"

[[users]]
email = "A@example.com"
password = "x"
state_after_minutes = 5

[iovation]
rulesets = ["default", "DEFAULT", ""]
"#;
        assert_eq!(
            problems(text),
            [
                "auth.token_lifetime_minutes must be from 1 to 525600 (a year), found 0 @ 0",
                "auth.requester_keys: a key must not be empty @ \"\"",
                "auth.auth_keys: a key must not be empty @ \" \"",
                "users.password must not be empty @ \"\"",
                "unknown user state `frozen`; expected one of: active, subscription_suspended, profile_inactive @ \"frozen\"",
                "user `A@example.com` is listed twice (e-mails are compared ignoring case) @ \"A@example.com\"",
                "state_after_minutes needs a `state` other than \"active\" to switch to @ 5",
                "iovation.rulesets: `DEFAULT` is listed twice (compared ignoring case) @ \"DEFAULT\"",
                "iovation.rulesets: a name must not be empty @ \"\"",
            ]
        );
    }

    #[test]
    fn an_unknown_key_in_a_user_is_an_error() {
        let p = problems("[[users]]\nemail = \"a@b.c\"\npassword = \"p\"\npasword = \"q\"\n");
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("unknown key `pasword`"), "{p:?}");
    }
}
