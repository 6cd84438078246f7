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
    /// TTL (epoch seconds): a visitor created by the public token route that
    /// never starts a session expires; starting one removes it.
    #[serde(rename = "expires_at", default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    pub created_at: i64,
    /// D9/B5: on the tenant's blacklist: it starts no session.
    #[serde(default)]
    pub blacklisted: bool,
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
    #[test]
    fn channels_are_short_words() {
        assert!(super::check_channel("wechat").is_ok());
        assert!(super::check_channel("").is_err());
        assert!(super::check_channel("Web Site").is_err());
    }
}
