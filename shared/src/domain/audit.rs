//! The audit trail (H3): who did what to whom, and when, for every token
//! mint, role change, disable, enable, revocation and removal. Admins list it.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    TokenMinted,
    RoleChanged,
    Disabled,
    Enabled,
    TokensRevoked,
    Removed,
    /// F4: tenant settings (the target is the tenant; the detail names them).
    SettingsChanged,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub tenant: String,
    pub id: String,
    /// When (ms).
    pub at: i64,
    /// Who: an agent id, or `operator` for the `kefu-admin` command.
    pub actor: String,
    pub action: AuditAction,
    /// Whom: an agent id.
    pub target: String,
    /// What changed, where the action alone does not say (`agent -> admin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The actor recorded for the operator's own command.
pub const OPERATOR: &str = "operator";
