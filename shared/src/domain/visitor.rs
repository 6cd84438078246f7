//! Visitors (访客) and their profile (E1 grows it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Visitor {
    pub tenant: String,
    /// Read-only (E1).
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub nickname: Option<String>,
    /// The channel the visitor first came in on.
    pub channel: String,
    /// The visitor's open session, if any: at most one at a time. Absent
    /// (not null) when there is none: opening a session is conditional on that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_session: Option<String>,
    /// Live WebSocket connections: connection id → expiry (ms).
    #[serde(default)]
    pub conns: BTreeMap<String, i64>,
    /// When its last connection closed (ms): a waiting session is
    /// abandoned some time after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_disconnect_at: Option<i64>,
    /// TTL (epoch seconds): a visitor created by the public token route that
    /// never starts a session expires; starting one removes it.
    #[serde(rename = "expires_at", default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    pub created_at: i64,
    /// D9/B5: on the tenant's blacklist: it starts no session.
    #[serde(default)]
    pub blacklisted: bool,
    /// E1: the profile staff keep (besides name and nickname).
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    /// E1: the tenant's own fields: name → value.
    #[serde(default)]
    pub custom: BTreeMap<String, String>,
    /// E2: visitor tags, several or none.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// E1/E2: what staff change in a visitor's profile; `None` leaves a field
/// as it is, `Some(None)` (JSON `null`) clears it. The id is not here: it
/// is read-only.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileChange {
    #[serde(default, deserialize_with = "crate::domain::present")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::domain::present")]
    pub nickname: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::domain::present")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::domain::present")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::domain::present")]
    pub company: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::domain::present")]
    pub notes: Option<Option<String>>,
    /// Replaces the custom fields.
    #[serde(default)]
    pub custom: Option<BTreeMap<String, String>>,
    /// Replaces the visitor tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

pub const MAX_CUSTOM_FIELDS: usize = 20;
pub const MAX_VISITOR_TAGS: usize = 20;
pub const MAX_NOTES: usize = 2000;

impl ProfileChange {
    /// Each value cleaned and checked (names as names, a plausible phone
    /// and email, bounded notes, custom fields and tags): the change as it
    /// will be stored.
    pub fn cleaned(self) -> Result<ProfileChange> {
        use super::text::{clean_name, clean_text};
        let opt = |v: Option<Option<String>>, f: &dyn Fn(&str) -> Result<Option<String>>| -> Result<_> {
            v.map(|inner| inner.map(|s| f(&s)).transpose().map(Option::flatten)).transpose()
        };
        let name = opt(self.name, &|s| clean_name("name", s).map(Some))?;
        let nickname = opt(self.nickname, &|s| clean_name("nickname", s).map(Some))?;
        let company = opt(self.company, &|s| clean_text("company", s, 100))?;
        let notes = opt(self.notes, &|s| clean_text("notes", s, MAX_NOTES))?;
        let phone = opt(self.phone, &|s| {
            let p: String = s.chars().filter(|c| !c.is_whitespace()).collect();
            let ok = (3..=32).contains(&p.len())
                && p.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '(' | ')'));
            if ok {
                Ok(Some(p))
            } else {
                Err(Error::invalid("invalid_field", "phone must be 3-32 digits, '+', '-', '(' or ')'"))
            }
        })?;
        let email = opt(self.email, &|s| {
            let e = s.trim().to_string();
            let ok = e.len() <= 254
                && e.split_once('@').is_some_and(|(u, d)| !u.is_empty() && d.contains('.') && !d.starts_with('.'))
                && !e.chars().any(|c| c.is_whitespace() || c.is_control());
            if ok {
                Ok(Some(e))
            } else {
                Err(Error::invalid("invalid_field", "email is not an email address"))
            }
        })?;
        if let Some(custom) = &self.custom {
            if custom.len() > MAX_CUSTOM_FIELDS {
                return Err(Error::invalid("invalid_field", format!("at most {MAX_CUSTOM_FIELDS} custom fields")));
            }
            for (k, v) in custom {
                super::ids::check("custom field name", k)?;
                if v.chars().count() > 500 || v.chars().any(char::is_control) {
                    return Err(Error::invalid("invalid_field", format!("custom field {k:?}: at most 500 characters")));
                }
            }
        }
        let tags = match self.tags {
            None => None,
            Some(tags) => {
                if tags.len() > MAX_VISITOR_TAGS {
                    return Err(Error::invalid("invalid_field", format!("at most {MAX_VISITOR_TAGS} visitor tags")));
                }
                let mut clean = Vec::new();
                for t in &tags {
                    let t = clean_name("tags", t)?;
                    if t.chars().count() > 32 {
                        return Err(Error::invalid("invalid_field", "a visitor tag is at most 32 characters"));
                    }
                    if !clean.contains(&t) {
                        clean.push(t);
                    }
                }
                Some(clean)
            }
        };
        Ok(ProfileChange { name, nickname, phone, email, company, notes, custom: self.custom, tags })
    }

    pub fn is_empty(&self) -> bool {
        *self == ProfileChange::default()
    }

    /// The visitor after this change.
    pub fn apply(&self, v: &Visitor) -> Visitor {
        let mut v = v.clone();
        macro_rules! take {
            ($($f:ident),*) => { $( if let Some(x) = self.$f.clone() { v.$f = x; } )* };
        }
        take!(name, nickname, phone, email, company, notes, custom, tags);
        v
    }
}

impl Visitor {
    /// E1: the customer-list entries its session adds: all its searchable
    /// values on its first session (a visitor with an idle expiry has
    /// never had one), none after (staff edits keep them since).
    pub fn first_session_directory(&self) -> Vec<String> {
        if self.expires_at.is_some() {
            self.directory_keys().into_iter().collect()
        } else {
            Vec::new()
        }
    }

    /// E1: what the customer list finds it by: its name, nickname, phone
    /// and email, lower-cased (searched by prefix).
    pub fn directory_keys(&self) -> std::collections::BTreeSet<String> {
        [&self.name, &self.nickname, &self.phone, &self.email]
            .into_iter()
            .flatten()
            .map(|s| s.trim().to_lowercase().chars().take(100).collect::<String>())
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// D9: a visitor on the tenant's blacklist, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlacklistEntry {
    pub tenant: String,
    pub visitor_id: String,
    pub reason: String,
    /// The agent who added it.
    pub by: String,
    pub at: i64,
    #[serde(default)]
    pub visitor_name: Option<String>,
    #[serde(default)]
    pub visitor_nickname: Option<String>,
}

/// B5: a blacklisted visitor starts no session.
pub fn blacklisted() -> Error {
    Error::forbidden_code("blacklisted", "you cannot start a conversation now")
}

/// A blacklisting's reason, in characters.
pub const MAX_REASON: usize = 200;

impl BlacklistEntry {
    /// Lower-cased text the blacklist search matches: names and reason.
    pub fn search_text(&self) -> String {
        [self.visitor_name.as_deref(), self.visitor_nickname.as_deref(), Some(self.reason.as_str())]
            .into_iter()
            .flatten()
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Visitor {
    /// A new visitor of `tenant` arriving on `channel`: no names, no
    /// profile, no session, no connection, kept for good (callers set what
    /// they know, and an idle expiry).
    pub fn new(tenant: &str, id: &str, channel: &str, created_at: i64) -> Self {
        Visitor {
            tenant: tenant.to_string(),
            id: id.to_string(),
            name: None,
            nickname: None,
            channel: channel.to_string(),
            active_session: None,
            conns: BTreeMap::new(),
            last_disconnect_at: None,
            expires_at: None,
            created_at,
            blacklisted: false,
            phone: None,
            email: None,
            company: None,
            notes: None,
            custom: BTreeMap::new(),
            tags: Vec::new(),
        }
    }

    /// Expired: absent for every read, whether or not TTL has deleted it yet.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at.is_some_and(|secs| secs * 1000 <= now_ms)
    }
}

/// B1: channels are short lower-case words (`web`, `app`, `wechat`, …).
pub fn check_channel(channel: &str) -> Result<()> {
    let ok = (1..=20).contains(&channel.len())
        && channel.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid("invalid_channel", "channel must be 1-20 characters of a-z, 0-9, '_' or '-'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(json: &str) -> Result<ProfileChange> {
        serde_json::from_str::<ProfileChange>(json)
            .map_err(|e| Error::invalid("invalid_field", e.to_string()))?
            .cleaned()
    }

    #[test]
    fn profile_changes_are_cleaned_and_checked() {
        let c = change(r#"{"phone": "+86 138-0000-0000", "email": " wf@example.com ", "tags": ["VIP", "VIP", "老客户"], "notes": null}"#)
            .unwrap();
        assert_eq!(c.phone, Some(Some("+86138-0000-0000".into())));
        assert_eq!(c.email, Some(Some("wf@example.com".into())));
        assert_eq!(c.tags, Some(vec!["VIP".to_string(), "老客户".to_string()]));
        assert_eq!(c.notes, Some(None), "null clears");
        assert_eq!(c.name, None, "absent leaves");
        for bad in [
            r#"{"phone": "call me"}"#,
            r#"{"email": "nobody"}"#,
            r#"{"custom": {"bad key!": "x"}}"#,
            r#"{"id": "v_other"}"#,
            r#"{"tags": ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u"]}"#,
        ] {
            assert!(change(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_directory_finds_a_visitor_by_each_field() {
        let v = Visitor {
            name: Some("Wang Fang".into()),
            nickname: Some("小芳".into()),
            phone: Some("+8613800000000".into()),
            email: Some("WF@Example.com".into()),
            ..Visitor::new("t", "v1", "web", 0)
        };
        let keys: Vec<String> = v.directory_keys().into_iter().collect();
        assert_eq!(keys, ["+8613800000000", "wang fang", "wf@example.com", "小芳"]);
    }

    #[test]
    fn channels_are_short_words() {
        assert!(super::check_channel("wechat").is_ok());
        assert!(super::check_channel("").is_err());
        assert!(super::check_channel("Web Site").is_err());
    }
}
