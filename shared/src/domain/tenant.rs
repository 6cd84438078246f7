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
    pub created_at: i64,
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
    /// C6: typing preview.
    pub typing_preview: bool,
    /// G: translation.
    pub translation: bool,
    pub simple_mode: bool,
    /// F3: custom message button URL.
    pub custom_message_url: Option<String>,
    /// A3: the maximum a new agent starts with.
    pub default_max_concurrent: u32,
    /// B1: at most this many sessions wait at once; starting one more is
    /// refused (`queue_full`) until some are taken.
    pub max_waiting: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            status_change_approval: false,
            tag_required_to_close: false,
            visitor_reminder_secs: 180,
            visitor_timeout_secs: 300,
            inactive_timeout_secs: 1800,
            typing_preview: false,
            translation: false,
            simple_mode: false,
            custom_message_url: None,
            default_max_concurrent: DEFAULT_MAX_CONCURRENT,
            max_waiting: DEFAULT_MAX_WAITING,
        }
    }
}
