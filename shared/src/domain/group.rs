//! Skill groups (技能组).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkillGroup {
    pub tenant: String,
    pub id: String,
    pub name: String,
    pub created_at: i64,
}
