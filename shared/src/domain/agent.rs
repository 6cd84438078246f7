//! Agents (客服): status (A1), presence, maximum concurrent sessions (A3) and
//! the hard cap (A4).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::auth::Role;
use crate::error::{Error, Result};

/// A3: the largest maximum an agent may set.
pub const MAX_CONCURRENT_LIMIT: u32 = 100;
/// A4: no agent ever holds more in-progress sessions than this, whatever way
/// they arrive (auto-dispatch, pickup, callback, transfer-in).
pub const HARD_CAP: u32 = 200;
pub const DEFAULT_MAX_CONCURRENT: u32 = 5;

/// A1. Ordered as the transfer list shows them (D4): idle > busy > away >
/// invisible > offline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    Idle,
    Busy,
    Away,
    Invisible,
    Offline,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Idle => "idle",
            AgentStatus::Busy => "busy",
            AgentStatus::Away => "away",
            AgentStatus::Invisible => "invisible",
            AgentStatus::Offline => "offline",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    pub tenant: String,
    pub id: String,
    pub nickname: String,
    pub real_name: String,
    pub role: Role,
    pub status: AgentStatus,
    /// A3: the agent's own maximum for auto-dispatch.
    pub max_concurrent: u32,
    /// In-progress sessions right now; only ever changed by conditional
    /// writes, so it is the truth the capacity rules are checked against.
    pub active: u32,
    /// Skill groups (技能组) the agent serves.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Live WebSocket connections: connection id → when it expires (ms).
    #[serde(default)]
    pub conns: BTreeMap<String, i64>,
    /// When the agent's last connection closed (ms), for the presence grace.
    #[serde(default)]
    pub last_disconnect_at: Option<i64>,
    /// When the agent was last given a session (ms); dispatch tie-breaker.
    #[serde(default)]
    pub last_assigned_at: i64,
    /// Set by an admin: every token of the agent is refused while it is.
    #[serde(default)]
    pub disabled: bool,
    /// Tokens carry the version they were minted at (`ver`); bumping it
    /// revokes every token the agent holds.
    #[serde(default)]
    pub token_version: u32,
    /// Removed by an admin: gone from the agent list, its record kept for
    /// the history that names it (always disabled too).
    #[serde(default)]
    pub removed: bool,
    /// A5: since when it has been online (any status but offline, with a
    /// live connection), while it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_since: Option<i64>,
    /// G1: its system language (`zh` or `en`); `None`: the tenant's
    /// `agentLanguage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    pub created_at: i64,
    /// Counts the writes that can change whether and where the agent stands
    /// in the ready list (capacity, status, groups, connections): an index
    /// write is conditional on it, so a stale one never overwrites a newer.
    #[serde(default)]
    pub rev: u64,
    /// Its rank in the ready list as stored (`dispatch::ready_rank`), read
    /// back from the record's index key; never written from here.
    #[serde(default, rename = "gsi6sk", skip_serializing)]
    pub ready_rank: Option<String>,
}

impl Agent {
    pub fn new(tenant: &str, id: &str, nickname: &str, real_name: &str, role: Role, max: u32, now_ms: i64) -> Self {
        Agent {
            tenant: tenant.into(),
            id: id.into(),
            nickname: nickname.into(),
            real_name: real_name.into(),
            role,
            status: AgentStatus::Offline,
            max_concurrent: max,
            active: 0,
            groups: Vec::new(),
            conns: BTreeMap::new(),
            last_disconnect_at: None,
            last_assigned_at: 0,
            disabled: false,
            token_version: 0,
            removed: false,
            online_since: None,
            language: None,
            created_at: now_ms,
            rev: 0,
            ready_rank: None,
        }
    }

    /// G1: its system language, under the tenant's settings.
    pub fn language<'a>(&'a self, settings: &'a super::Settings) -> &'a str {
        self.language.as_deref().unwrap_or(&settings.agent_language)
    }

    /// Live connections at `now_ms` (expired entries are stale: API Gateway
    /// closes every connection after two hours at the latest).
    pub fn live_connections(&self, now_ms: i64) -> impl Iterator<Item = &str> {
        self.conns.iter().filter(move |(_, exp)| **exp > now_ms).map(|(id, _)| id.as_str())
    }

    /// A1: present while connected, and for `grace_ms` after the last
    /// connection closed.
    pub fn is_present(&self, now_ms: i64, grace_ms: i64) -> bool {
        self.live_connections(now_ms).next().is_some() || self.last_disconnect_at.is_some_and(|t| now_ms - t < grace_ms)
    }

    /// A3 + A4: how many in-progress sessions auto-dispatch fills up to.
    pub fn auto_dispatch_limit(&self) -> u32 {
        self.max_concurrent.min(HARD_CAP)
    }

    /// H3: the stored record, not the token, is the authority. A token is
    /// good only while the agent is enabled and its version is current.
    pub fn admits(&self, token_version: Option<u32>) -> Result<()> {
        if self.disabled || self.removed {
            return Err(Error::unauthorized("this agent is disabled"));
        }
        if token_version.unwrap_or(0) != self.token_version {
            return Err(Error::unauthorized("this token was revoked"));
        }
        Ok(())
    }

    pub fn serves(&self, group: Option<&str>) -> bool {
        group.is_none_or(|g| self.groups.iter().any(|m| m == g))
    }

    /// B2: is this agent open to auto-dispatch at all now (idle, present,
    /// below its limit)?
    pub fn has_auto_capacity(&self, now_ms: i64, grace_ms: i64) -> bool {
        self.status == AgentStatus::Idle
            && self.is_present(now_ms, grace_ms)
            && self.active < self.auto_dispatch_limit()
    }

    /// B2: may auto-dispatch give this agent a session of `group` now?
    pub fn can_auto_take(&self, group: Option<&str>, now_ms: i64, grace_ms: i64) -> bool {
        self.has_auto_capacity(now_ms, grace_ms) && self.serves(group)
    }

    /// A4: may the agent take one more session by hand (pickup, callback,
    /// transfer-in)?
    pub fn check_below_hard_cap(&self) -> Result<()> {
        if self.active < HARD_CAP {
            Ok(())
        } else {
            Err(at_hard_cap())
        }
    }
}

pub fn at_hard_cap() -> Error {
    Error::conflict(
        "agent_at_capacity",
        format!("the agent already has {HARD_CAP} sessions in progress; close some first"),
    )
}

/// A3: 0..=100.
pub fn check_max_concurrent(n: i64) -> Result<u32> {
    if (0..=MAX_CONCURRENT_LIMIT as i64).contains(&n) {
        Ok(n as u32)
    } else {
        Err(Error::invalid(
            "invalid_max_concurrent",
            format!("maxConcurrent must be between 0 and {MAX_CONCURRENT_LIMIT}"),
        ))
    }
}

/// A2: a plain agent's request to leave `idle`, pending until an admin
/// decides. One per agent: a new request replaces the one before.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusRequest {
    pub tenant: String,
    pub id: String,
    pub agent_id: String,
    pub agent_nickname: String,
    pub from: AgentStatus,
    pub status: AgentStatus,
    pub requested_at: i64,
    /// Pending requests lapse after a day (epoch seconds; TTL).
    pub expires_at: i64,
}

pub const STATUS_REQUEST_TTL_MS: i64 = 24 * 3600 * 1000;

impl StatusRequest {
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.expires_at.saturating_mul(1000) > now_ms
    }
}

/// A2: with the tenant's switch on, a plain agent's change from `idle` to
/// `busy`, `away` or `invisible` waits for an admin's approval; every other
/// change (and every admin's) applies at once.
pub fn needs_approval(switch_on: bool, role: Role, from: AgentStatus, to: AgentStatus) -> bool {
    switch_on
        && role == Role::Agent
        && from == AgentStatus::Idle
        && matches!(to, AgentStatus::Busy | AgentStatus::Away | AgentStatus::Invisible)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_agent_leaving_idle_needs_approval_and_only_with_the_switch_on() {
        use AgentStatus::*;
        for to in [Busy, Away, Invisible] {
            assert!(needs_approval(true, Role::Agent, Idle, to));
            assert!(!needs_approval(false, Role::Agent, Idle, to), "switch off");
            assert!(!needs_approval(true, Role::Admin, Idle, to), "admins are exempt");
        }
        assert!(!needs_approval(true, Role::Agent, Idle, Idle));
        assert!(!needs_approval(true, Role::Agent, Idle, Offline));
        assert!(!needs_approval(true, Role::Agent, Busy, Away), "only leaving idle");
        assert!(!needs_approval(true, Role::Agent, Away, Idle), "coming back is free");
    }

    const GRACE: i64 = 60_000;

    #[test]
    fn only_an_enabled_agents_current_tokens_are_admitted() {
        let mut a = agent();
        assert!(a.admits(None).is_ok(), "tokens from before versions are version 0");
        assert!(a.admits(Some(0)).is_ok());
        a.token_version = 2;
        assert_eq!(a.admits(Some(1)).unwrap_err().code(), "unauthorized");
        assert!(a.admits(None).is_err());
        assert!(a.admits(Some(2)).is_ok());
        a.disabled = true;
        assert_eq!(a.admits(Some(2)).unwrap_err().to_string(), "this agent is disabled");
        a.disabled = false;
        a.removed = true;
        assert!(a.admits(Some(2)).is_err(), "a removed agent stays out, even if enabled");
    }

    fn agent() -> Agent {
        let mut a = Agent::new("t", "a1", "Ann", "Ann Lee", Role::Agent, 2, 0);
        a.status = AgentStatus::Idle;
        a.conns.insert("c1".into(), 10_000_000);
        a
    }

    #[test]
    fn an_idle_present_agent_below_its_maximum_takes_sessions() {
        let mut a = agent();
        assert!(a.can_auto_take(None, 1_000, GRACE));
        a.active = 2;
        assert!(!a.can_auto_take(None, 1_000, GRACE), "at its own maximum");
        a.active = 1;
        for s in [AgentStatus::Busy, AgentStatus::Away, AgentStatus::Invisible, AgentStatus::Offline] {
            a.status = s;
            assert!(!a.can_auto_take(None, 1_000, GRACE), "{s:?} is not dispatched to");
        }
    }

    #[test]
    fn presence_has_a_grace_period_after_the_last_connection() {
        let mut a = agent();
        a.conns.clear();
        assert!(!a.is_present(1_000, GRACE), "never connected");
        a.last_disconnect_at = Some(1_000);
        assert!(a.is_present(1_000 + GRACE - 1, GRACE));
        assert!(!a.is_present(1_000 + GRACE, GRACE));
        // An expired connection entry (its $disconnect was lost) is not presence.
        a.conns.insert("stale".into(), 5_000);
        assert!(!a.is_present(1_000 + GRACE, GRACE));
    }

    #[test]
    fn skill_groups_limit_who_serves_a_session() {
        let mut a = agent();
        assert!(a.serves(None));
        assert!(!a.serves(Some("g1")));
        a.groups.push("g1".into());
        assert!(a.can_auto_take(Some("g1"), 1_000, GRACE));
    }

    #[test]
    fn the_hard_cap_bounds_everything() {
        let mut a = agent();
        a.max_concurrent = 100;
        assert_eq!(a.auto_dispatch_limit(), 100);
        a.active = HARD_CAP - 1;
        assert!(a.check_below_hard_cap().is_ok());
        a.active = HARD_CAP;
        assert_eq!(a.check_below_hard_cap().unwrap_err().code(), "agent_at_capacity");
    }

    #[test]
    fn maximum_is_zero_to_a_hundred() {
        assert_eq!(check_max_concurrent(0).unwrap(), 0);
        assert_eq!(check_max_concurrent(100).unwrap(), 100);
        assert!(check_max_concurrent(101).is_err());
        assert!(check_max_concurrent(-1).is_err());
    }

    #[test]
    fn statuses_order_as_the_transfer_list_shows_them() {
        let mut v =
            vec![AgentStatus::Offline, AgentStatus::Away, AgentStatus::Idle, AgentStatus::Invisible, AgentStatus::Busy];
        v.sort();
        assert_eq!(
            v,
            [AgentStatus::Idle, AgentStatus::Busy, AgentStatus::Away, AgentStatus::Invisible, AgentStatus::Offline]
        );
    }
}
