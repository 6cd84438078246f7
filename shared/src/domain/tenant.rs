//! A tenant (one company) and its switches (F4).

use serde::{Deserialize, Serialize};

use super::agent::DEFAULT_MAX_CONCURRENT;

/// How many sessions may wait in a tenant's queue unless it sets otherwise.
pub const DEFAULT_MAX_WAITING: u32 = 500;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub settings: Settings,
    /// How many times the settings changed (a change applies to the
    /// version it was checked against).
    #[serde(default)]
    pub settings_version: u64,
    pub created_at: i64,
    /// Agents ever created in the tenant, counted by each creation.
    #[serde(default)]
    pub agent_count: u64,
    /// How many shards its ready list (B2's dispatch) spreads over: one
    /// until it has `Config::ready_split_at` agents, then
    /// `keys::MAX_READY_SHARDS`, never fewer again (0: one).
    #[serde(default)]
    pub ready_shards: u32,
}

impl Tenant {
    pub fn new(id: &str, name: &str, now_ms: i64) -> Self {
        Tenant {
            id: id.into(),
            name: name.into(),
            settings: Settings::default(),
            settings_version: 0,
            created_at: now_ms,
            agent_count: 0,
            ready_shards: 1,
        }
    }

    /// The shards of its ready list.
    pub fn ready_shards(&self) -> u32 {
        self.ready_shards.max(1)
    }
}

/// Tenant switches. Later requirements read them; defaults are what a new
/// tenant gets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Settings {
    /// A2: plain agents need approval to leave `idle`.
    pub status_change_approval: bool,
    /// D2: closing a session needs at least one tag.
    pub tag_required_to_close: bool,
    /// D8: reminder after T1, close T2 later, inactive close after T3 (seconds).
    pub visitor_reminder_secs: u32,
    pub visitor_timeout_secs: u32,
    pub inactive_timeout_secs: u32,
    /// An agent offline (no connection, past A1's grace) this long gets its
    /// in-progress sessions put back in the queue (seconds).
    pub offline_requeue_secs: u32,
    /// A waiting session whose visitor has had no live connection this long
    /// closes as `abandoned` (seconds).
    pub abandon_after_secs: u32,
    /// C6: typing preview.
    pub typing_preview: bool,
    /// G: translation.
    pub translation: bool,
    /// G1: the system language (`zh` or `en`) of agents who set none, and
    /// what messages are translated into while no agent holds the session.
    pub agent_language: String,
    pub simple_mode: bool,
    /// F3: custom message button URL.
    pub custom_message_url: Option<String>,
    /// A3: the maximum a new agent starts with.
    pub default_max_concurrent: u32,
    /// B1: at most this many sessions wait at once; starting one more is
    /// refused (`queue_full`) until some are taken.
    pub max_waiting: u32,
    /// A5: the tenant's days (live stats) start at midnight at this offset
    /// from UTC, in minutes (480: UTC+8, China Standard Time).
    pub utc_offset_minutes: i32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            status_change_approval: false,
            tag_required_to_close: false,
            visitor_reminder_secs: 180,
            visitor_timeout_secs: 300,
            inactive_timeout_secs: 1800,
            offline_requeue_secs: 600,
            abandon_after_secs: 300,
            typing_preview: false,
            translation: false,
            agent_language: "zh".to_string(),
            simple_mode: false,
            custom_message_url: None,
            default_max_concurrent: DEFAULT_MAX_CONCURRENT,
            max_waiting: DEFAULT_MAX_WAITING,
            utc_offset_minutes: 0,
        }
    }
}

/// F4: what an admin changes in its tenant's settings; `None` leaves a
/// setting as it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_change_approval: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_required_to_close: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_reminder_secs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_timeout_secs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_timeout_secs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_requeue_secs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abandon_after_secs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typing_preview: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simple_mode: Option<bool>,
    /// `Some(None)` (JSON `null`) clears it.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::domain::present")]
    pub custom_message_url: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_max_concurrent: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_waiting: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utc_offset_minutes: Option<i32>,
}

/// D8's timers: from a second (tests run on seconds) to a week.
pub const MAX_TIMER_SECS: u32 = 7 * 24 * 3600;
pub const MAX_WAITING_LIMIT: u32 = 10_000;
/// UTC−12:00 to UTC+14:00, the offsets in use.
pub const MIN_UTC_OFFSET: i32 = -12 * 60;
pub const MAX_UTC_OFFSET: i32 = 14 * 60;

impl Settings {
    /// The timeouts as they will be, in an order that lets each happen: the
    /// reminder (T1) must come before the inactive close (T3), or it never
    /// would.
    pub fn check_order(&self) -> crate::error::Result<()> {
        if self.visitor_reminder_secs >= self.inactive_timeout_secs {
            return Err(crate::error::Error::invalid(
                "invalid_field",
                format!(
                    "visitorReminderSecs ({}) must be less than inactiveTimeoutSecs ({}): the reminder would never come",
                    self.visitor_reminder_secs, self.inactive_timeout_secs
                ),
            ));
        }
        Ok(())
    }
}

impl SettingsChange {
    /// Every value within its range; an empty change is refused.
    pub fn validate(&self) -> crate::error::Result<()> {
        use crate::error::Error;
        if *self == SettingsChange::default() {
            return Err(Error::invalid("invalid_field", "no setting to change"));
        }
        let timers = [
            ("visitorReminderSecs", self.visitor_reminder_secs),
            ("visitorTimeoutSecs", self.visitor_timeout_secs),
            ("inactiveTimeoutSecs", self.inactive_timeout_secs),
            ("offlineRequeueSecs", self.offline_requeue_secs),
            ("abandonAfterSecs", self.abandon_after_secs),
        ];
        for (name, secs) in timers {
            if secs.is_some_and(|s| !(1..=MAX_TIMER_SECS).contains(&s)) {
                return Err(Error::invalid("invalid_field", format!("{name} must be from 1 to {MAX_TIMER_SECS}")));
            }
        }
        if self.default_max_concurrent.is_some_and(|m| m > super::agent::MAX_CONCURRENT_LIMIT) {
            return Err(Error::invalid(
                "invalid_max_concurrent",
                format!("defaultMaxConcurrent must be from 0 to {}", super::agent::MAX_CONCURRENT_LIMIT),
            ));
        }
        if self.max_waiting.is_some_and(|m| !(1..=MAX_WAITING_LIMIT).contains(&m)) {
            return Err(Error::invalid("invalid_field", format!("maxWaiting must be from 1 to {MAX_WAITING_LIMIT}")));
        }
        if self.utc_offset_minutes.is_some_and(|m| !(MIN_UTC_OFFSET..=MAX_UTC_OFFSET).contains(&m)) {
            return Err(Error::invalid(
                "invalid_field",
                format!("utcOffsetMinutes must be from {MIN_UTC_OFFSET} to {MAX_UTC_OFFSET}"),
            ));
        }
        if let Some(language) = &self.agent_language {
            super::translation::check_agent_language(language)?;
        }
        if let Some(Some(url)) = &self.custom_message_url {
            let ok = url.starts_with("https://")
                && url.len() > "https://".len()
                && url.len() <= 2048
                && !url.chars().any(|c| c.is_control() || c.is_whitespace());
            if !ok {
                return Err(Error::invalid(
                    "invalid_field",
                    "customMessageUrl must be an https URL of at most 2048 characters",
                ));
            }
        }
        Ok(())
    }

    /// The settings after this change.
    pub fn apply(&self, to: &Settings) -> Settings {
        let mut s = to.clone();
        macro_rules! take {
            ($($f:ident),*) => { $( if let Some(v) = self.$f.clone() { s.$f = v; } )* };
        }
        take!(
            status_change_approval,
            tag_required_to_close,
            visitor_reminder_secs,
            visitor_timeout_secs,
            inactive_timeout_secs,
            offline_requeue_secs,
            abandon_after_secs,
            typing_preview,
            translation,
            agent_language,
            simple_mode,
            custom_message_url,
            default_max_concurrent,
            max_waiting,
            utc_offset_minutes
        );
        s
    }

    /// The names of the settings it changes, as the wire spells them.
    pub fn fields(&self) -> Vec<String> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(json: &str) -> crate::error::Result<SettingsChange> {
        serde_json::from_str(json).map_err(|e| crate::error::Error::invalid("invalid_field", e.to_string()))
    }

    #[test]
    fn a_change_is_checked_and_applied_field_by_field() {
        let c = change(r#"{"typingPreview": true, "visitorReminderSecs": 5, "customMessageUrl": "https://x.test/a"}"#)
            .unwrap();
        c.validate().unwrap();
        let s = c.apply(&Settings::default());
        assert!(s.typing_preview && s.visitor_reminder_secs == 5);
        assert_eq!(s.custom_message_url.as_deref(), Some("https://x.test/a"));
        assert_eq!(s.visitor_timeout_secs, Settings::default().visitor_timeout_secs, "untouched");
        let mut fields = c.fields();
        fields.sort();
        assert_eq!(fields, ["customMessageUrl", "typingPreview", "visitorReminderSecs"]);
        // null clears the URL; absent leaves it.
        let cleared = change(r#"{"customMessageUrl": null}"#).unwrap().apply(&s);
        assert_eq!(cleared.custom_message_url, None);
        assert_eq!(change(r#"{"simpleMode": true}"#).unwrap().apply(&s).custom_message_url, s.custom_message_url);
    }

    #[test]
    fn out_of_range_values_unknown_fields_and_empty_changes_are_refused() {
        for bad in [r#"{"visitorTimeoutSecs": 0}"#, r#"{"maxWaiting": 0}"#, r#"{"customMessageUrl": "http://x"}"#, "{}"]
        {
            assert_eq!(change(bad).unwrap().validate().unwrap_err().code(), "invalid_field", "{bad}");
        }
        assert_eq!(
            change(r#"{"defaultMaxConcurrent": 101}"#).unwrap().validate().unwrap_err().code(),
            "invalid_max_concurrent"
        );
        assert!(change(r#"{"nope": 1}"#).is_err());
        assert!(change(r#"{"typingPreview": "yes"}"#).is_err());
    }
}
