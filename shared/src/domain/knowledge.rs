//! F2: the tenant's knowledge base: entries with a title, content and
//! attachments, which admins keep and agents search and send. Found as
//! canned responses are (`domain::canned`): the title starts with the
//! query, or a keyword (its own, or a word of its title) starts with one
//! of the query's last words.

use serde::{Deserialize, Serialize};

use super::canned::{self, draft_words, normalize, prefix_of, Match};
use super::text::clean_text;
use crate::error::{Error, Result};

pub const MAX_TITLE: usize = 200;
/// A rich message's description holds the content: its limit.
pub const MAX_CONTENT: usize = 2_000;
pub const MAX_ATTACHMENTS: usize = 10;
/// Entries a tenant keeps.
pub const MAX_ENTRIES: u32 = 5_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub id: String,
    pub name: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    pub mime_type: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KnowledgeEntry {
    pub tenant: String,
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default)]
    pub version: u64,
}

/// An attachment as a client sends it (the id is given by Kefu).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAttachment {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub size: Option<u64>,
    pub mime_type: String,
}

pub fn clean_title(title: &str) -> Result<String> {
    clean_text("title", title, MAX_TITLE)?.ok_or_else(|| Error::invalid("invalid_field", "title must not be empty"))
}

pub fn clean_content(content: &str) -> Result<String> {
    Ok(clean_text("content", content, MAX_CONTENT)?.unwrap_or_default())
}

/// Attachments as stored: a name of 1–255 characters, an https URL, a
/// `type/subtype` MIME type; at most `MAX_ATTACHMENTS`. `new_id` names each.
pub fn clean_attachments(list: &[NewAttachment], mut new_id: impl FnMut() -> String) -> Result<Vec<Attachment>> {
    if list.len() > MAX_ATTACHMENTS {
        return Err(Error::invalid("invalid_field", format!("at most {MAX_ATTACHMENTS} attachments")));
    }
    list.iter()
        .map(|a| {
            let name = clean_text("attachment name", &a.name, 255)?
                .ok_or_else(|| Error::invalid("invalid_field", "an attachment needs a name"))?;
            let url_ok = a.url.starts_with("https://") && a.url.len() <= 2048 && !a.url.contains(char::is_whitespace);
            if !url_ok {
                return Err(Error::invalid("invalid_field", "an attachment's url must be https"));
            }
            let mime = a.mime_type.trim().to_lowercase();
            let mime_ok = mime.len() <= 127
                && mime.split_once('/').is_some_and(|(t, s)| {
                    let token = |x: &str| {
                        !x.is_empty() && x.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
                    };
                    token(t) && token(s)
                });
            if !mime_ok {
                return Err(Error::invalid("invalid_field", "an attachment's mimeType must be type/subtype"));
            }
            Ok(Attachment { id: new_id(), name, url: a.url.clone(), size: a.size, mime_type: mime })
        })
        .collect()
}

impl KnowledgeEntry {
    /// What its keyword index holds: its keywords and the words of its
    /// title, each once.
    pub fn terms(&self) -> Vec<String> {
        let mut terms = self.keywords.clone();
        for w in normalize(&self.title).split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            let w: String = w.chars().take(canned::MAX_KEYWORD).collect();
            if !terms.contains(&w) {
                terms.push(w);
            }
        }
        terms.truncate(canned::MAX_KEYWORDS * 3);
        terms
    }

    pub fn matches(&self, query: &str) -> Option<Match> {
        let prefix = prefix_of(query);
        if !prefix.is_empty() && normalize(&self.title).starts_with(&prefix) {
            return Some(Match::Prefix);
        }
        let words = draft_words(query);
        let terms = self.terms();
        if terms.iter().any(|k| words.contains(k)) {
            return Some(Match::Keyword);
        }
        if terms.iter().any(|k| words.iter().any(|w| k.starts_with(w.as_str()))) {
            return Some(Match::KeywordPrefix);
        }
        None
    }
}

/// Search results for `query`: each entry once, ranked by how it matches,
/// then shorter title first; at most `limit`.
pub fn rank(query: &str, candidates: Vec<KnowledgeEntry>, limit: usize) -> Vec<(Match, KnowledgeEntry)> {
    canned::rank_by(
        candidates,
        limit,
        |e| e.matches(query),
        |a, b| a.id == b.id,
        |a, b| {
            a.title
                .chars()
                .count()
                .cmp(&b.title.chars().count())
                .then_with(|| a.title.cmp(&b.title))
                .then_with(|| a.id.cmp(&b.id))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, title: &str, keywords: &[&str]) -> KnowledgeEntry {
        KnowledgeEntry {
            tenant: "t".into(),
            id: id.into(),
            title: title.into(),
            content: String::new(),
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            attachments: Vec::new(),
            created_by: "admin".into(),
            created_at: 0,
            updated_at: 0,
            version: 0,
        }
    }

    #[test]
    fn titles_and_their_words_are_searched_prefix_first() {
        let all = vec![
            entry("w", "How refunds work", &[]),
            entry("p", "Refund policy", &[]),
            entry("k", "Money back", &["refund"]),
            entry("n", "Shipping times", &["delivery"]),
        ];
        let got: Vec<_> = rank("refund", all, 10).into_iter().map(|(m, e)| (m, e.id)).collect();
        assert_eq!(
            got,
            [(Match::Prefix, "p".into()), (Match::Keyword, "k".into()), (Match::KeywordPrefix, "w".into())]
        );
        assert_eq!(entry("x", "退款 政策", &[]).matches("我想 退款"), Some(Match::Keyword));
    }

    #[test]
    fn attachments_are_checked_and_named() {
        let ok = NewAttachment {
            name: " manual.pdf ".into(),
            url: "https://files.example/m.pdf".into(),
            size: Some(1200),
            mime_type: "Application/PDF".into(),
        };
        let mut n = 0;
        let got = clean_attachments(std::slice::from_ref(&ok), || {
            n += 1;
            format!("at_{n}")
        })
        .unwrap();
        assert_eq!(
            (got[0].id.as_str(), got[0].name.as_str(), got[0].mime_type.as_str()),
            ("at_1", "manual.pdf", "application/pdf")
        );
        for bad in [
            NewAttachment { url: "http://x".into(), ..ok.clone() },
            NewAttachment { mime_type: "pdf".into(), ..ok.clone() },
            NewAttachment { name: " ".into(), ..ok.clone() },
        ] {
            assert_eq!(clean_attachments(&[bad], || "a".into()).unwrap_err().code(), "invalid_field");
        }
        assert!(clean_attachments(&vec![ok; MAX_ATTACHMENTS + 1], || "a".into()).is_err());
        assert!(clean_title("  ").is_err());
        assert!(clean_content(&"x".repeat(MAX_CONTENT + 1)).is_err());
    }
}
