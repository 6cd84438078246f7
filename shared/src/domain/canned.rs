//! F1: canned responses (常用语), personal or tenant-wide, in groups, and
//! the rule that ranks them as suggestions while an agent types.
//!
//! A response is found two ways, each an index lookup whose cost grows with
//! what it returns: its text **starts with** the draft, or one of its
//! keywords starts with one of the draft's last words.

use serde::{Deserialize, Serialize};

use super::text::{clean_name, clean_text};
use crate::error::{Error, Result};

pub const MAX_TEXT: usize = 2_000;
pub const MAX_KEYWORDS: usize = 10;
pub const MAX_KEYWORD: usize = 32;
/// How many of a draft's last words are looked up as keywords.
pub const DRAFT_WORDS: usize = 3;
/// A draft is matched on at most this many characters (and so is a text:
/// the index holds each text's first `PREFIX_CHARS`).
pub const PREFIX_CHARS: usize = 100;
/// Responses an agent may keep for itself, and a tenant for everyone.
pub const MAX_PERSONAL: u32 = 500;
pub const MAX_TENANT: u32 = 2_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// One agent's own; nobody else sees it.
    Personal,
    /// Everyone's in the tenant; admins manage them.
    Tenant,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CannedResponse {
    pub tenant: String,
    pub id: String,
    pub scope: Scope,
    /// The agent a personal response belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub group: String,
    pub text: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Bumped by every edit; an edit applies only to the version it read.
    #[serde(default)]
    pub version: u64,
}

/// The group a response goes in when none is given.
pub const DEFAULT_GROUP: &str = "default";

pub fn clean_group(group: Option<&str>) -> Result<String> {
    match group {
        None => Ok(DEFAULT_GROUP.to_string()),
        Some(g) => clean_name("group", g),
    }
}

pub fn clean_response_text(text: &str) -> Result<String> {
    clean_text("text", text, MAX_TEXT)?.ok_or_else(|| Error::invalid("invalid_field", "text must not be empty"))
}

/// Keywords as stored: normalized, 1–`MAX_KEYWORD` characters, repeats
/// dropped, at most `MAX_KEYWORDS`.
pub fn clean_keywords(keywords: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for k in keywords {
        let k = normalize(k);
        if !(1..=MAX_KEYWORD).contains(&k.chars().count()) {
            return Err(Error::invalid("invalid_field", format!("a keyword must be 1-{MAX_KEYWORD} characters")));
        }
        if !out.contains(&k) {
            out.push(k);
        }
    }
    if out.len() > MAX_KEYWORDS {
        return Err(Error::invalid("invalid_field", format!("at most {MAX_KEYWORDS} keywords")));
    }
    Ok(out)
}

/// Text as matched: lower-cased, control characters dropped, runs of white
/// space one space, trimmed.
pub fn normalize(text: &str) -> String {
    let lower = text.to_lowercase();
    let words: Vec<&str> =
        lower.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty()).collect();
    words.join(" ")
}

/// The part of a text the prefix index holds (and of a draft, what is
/// looked up in it).
pub fn prefix_of(text: &str) -> String {
    normalize(text).chars().take(PREFIX_CHARS).collect()
}

/// The draft's last `DRAFT_WORDS` distinct words (runs of letters and
/// digits, any script), lower-cased, each cut to `MAX_KEYWORD`.
pub fn draft_words(draft: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let lower = draft.to_lowercase();
    for w in lower.split(|c: char| !c.is_alphanumeric()).rev() {
        if w.is_empty() {
            continue;
        }
        let w: String = w.chars().take(MAX_KEYWORD).collect();
        if !words.contains(&w) {
            words.push(w);
        }
        if words.len() == DRAFT_WORDS {
            break;
        }
    }
    words
}

/// How well a response matches a draft, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    /// Its text starts with the draft.
    Prefix,
    /// One of its keywords is one of the draft's words.
    Keyword,
    /// One of its keywords starts with one of the draft's words.
    KeywordPrefix,
}

impl CannedResponse {
    /// How it matches `draft`, if at all.
    pub fn matches(&self, draft: &str) -> Option<Match> {
        let prefix = prefix_of(draft);
        if !prefix.is_empty() && normalize(&self.text).starts_with(&prefix) {
            return Some(Match::Prefix);
        }
        let words = draft_words(draft);
        if self.keywords.iter().any(|k| words.contains(k)) {
            return Some(Match::Keyword);
        }
        if self.keywords.iter().any(|k| words.iter().any(|w| k.starts_with(w.as_str()))) {
            return Some(Match::KeywordPrefix);
        }
        None
    }
}

/// The suggestions for `draft` among `candidates` (which may repeat and
/// may include responses that do not match): each once, ranked by how it
/// matches, then the agent's own before the tenant's, then shorter text
/// first; at most `limit`.
pub fn rank(draft: &str, candidates: Vec<CannedResponse>, limit: usize) -> Vec<(Match, CannedResponse)> {
    rank_by(
        candidates,
        limit,
        |c| c.matches(draft),
        |a, b| a.id == b.id && a.owner == b.owner,
        |a, b| {
            (a.scope != Scope::Personal)
                .cmp(&(b.scope != Scope::Personal))
                .then_with(|| a.text.chars().count().cmp(&b.text.chars().count()))
                .then_with(|| a.text.cmp(&b.text))
                .then_with(|| a.id.cmp(&b.id))
        },
    )
}

/// Ranking as suggestions and searches share it: the candidates that
/// match, each once (`same`), best match first, then in `order`; at most
/// `limit`.
pub fn rank_by<T>(
    candidates: Vec<T>,
    limit: usize,
    matches: impl Fn(&T) -> Option<Match>,
    same: impl Fn(&T, &T) -> bool,
    order: impl Fn(&T, &T) -> std::cmp::Ordering,
) -> Vec<(Match, T)> {
    let mut scored: Vec<(Match, T)> = Vec::new();
    for c in candidates {
        let Some(m) = matches(&c) else { continue };
        if !scored.iter().any(|(_, s)| same(s, &c)) {
            scored.push((m, c));
        }
    }
    scored.sort_by(|(ma, a), (mb, b)| ma.cmp(mb).then_with(|| order(a, b)));
    scored.truncate(limit);
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(id: &str, scope: Scope, text: &str, keywords: &[&str]) -> CannedResponse {
        CannedResponse {
            tenant: "t".into(),
            id: id.into(),
            scope,
            owner: (scope == Scope::Personal).then(|| "ann".into()),
            group: DEFAULT_GROUP.into(),
            text: text.into(),
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            created_at: 0,
            updated_at: 0,
            version: 0,
        }
    }

    #[test]
    fn an_exact_prefix_ranks_above_a_keyword_and_a_keyword_above_its_prefix() {
        let all = vec![
            response("k1", Scope::Tenant, "We issue refunds within 3 days.", &["refund"]),
            response("k2", Scope::Tenant, "Our refund policy is online.", &["refunds"]),
            response("p1", Scope::Tenant, "Refund requests need an order number, please.", &[]),
            response("none", Scope::Tenant, "Hello!", &["greeting"]),
        ];
        let got: Vec<_> = rank("refund", all, 10).into_iter().map(|(m, r)| (m, r.id)).collect();
        assert_eq!(
            got,
            [(Match::Prefix, "p1".into()), (Match::Keyword, "k1".into()), (Match::KeywordPrefix, "k2".into())]
        );
    }

    #[test]
    fn ties_go_to_the_agents_own_then_the_shorter_text_and_repeats_count_once() {
        let mine = response("a", Scope::Personal, "Hello, how may I help you today?", &[]);
        let short = response("b", Scope::Tenant, "Hello!", &[]);
        let long = response("c", Scope::Tenant, "Hello, thank you for waiting.", &[]);
        let got: Vec<_> =
            rank("  HELLO", vec![long.clone(), short, mine.clone(), long], 2).into_iter().map(|(_, r)| r.id).collect();
        assert_eq!(got, ["a", "b"]);
    }

    #[test]
    fn drafts_are_matched_on_their_last_words_in_any_script() {
        assert_eq!(draft_words("Hi, where is my ORDER-status?"), ["status", "order", "my"]);
        assert_eq!(draft_words("我要退款 退款"), ["退款", "我要退款"]);
        let r = response("x", Scope::Tenant, "退款将在三天内到账。", &["退款"]);
        assert_eq!(r.matches("我想 退款"), Some(Match::Keyword));
        assert_eq!(r.matches("退款将"), Some(Match::Prefix));
        assert_eq!(r.matches("发货"), None);
        assert_eq!(r.matches("   "), None);
    }

    #[test]
    fn stored_fields_are_cleaned_and_bounded() {
        assert_eq!(clean_keywords(&[" Refund ".into(), "refund".into(), "退款".into()]).unwrap(), ["refund", "退款"]);
        assert!(clean_keywords(&["".into()]).is_err());
        assert!(clean_keywords(&["x".repeat(MAX_KEYWORD + 1)]).is_err());
        let many: Vec<String> = (0..11).map(|i| format!("k{i}")).collect();
        assert!(clean_keywords(&many).is_err());
        assert_eq!(clean_response_text("  hi \u{7}\n").unwrap(), "hi");
        assert!(clean_response_text(" \n ").is_err());
        assert!(clean_response_text(&"x".repeat(MAX_TEXT + 1)).is_err());
        assert_eq!(clean_group(None).unwrap(), DEFAULT_GROUP);
        assert_eq!(normalize("  Hello \n  World\t"), "hello world");
        assert_eq!(prefix_of(&"y".repeat(300)).chars().count(), PREFIX_CHARS);
    }
}
