//! Skill groups (技能组) and their members.

use serde::{Deserialize, Serialize};

use super::dispatch;
use super::views::AgentView;
use crate::auth::Principal;
use crate::domain::text::clean_name;
use crate::domain::{ids, AgentStatus, SkillGroup};
use crate::error::{Error, Result};
use crate::store::AgentChange;
use crate::App;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateGroup {
    #[serde(default)]
    pub group_id: Option<String>,
    pub name: String,
}

pub async fn create(app: &App, who: &Principal, req: CreateGroup) -> Result<SkillGroup> {
    who.require_admin()?;
    let name = clean_name("name", &req.name)?;
    let id = match req.group_id {
        Some(id) => {
            ids::check("groupId", &id)?;
            id
        }
        None => ids::new_id("g"),
    };
    let group = SkillGroup { tenant: who.tenant.clone(), id, name, created_at: app.now() };
    app.store.create_group(&group).await?;
    Ok(group)
}

/// D5: each group with its member count and idle-member count.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupView {
    pub id: String,
    pub name: String,
    pub member_count: usize,
    pub idle_count: usize,
    pub members: Vec<String>,
}

pub async fn list(app: &App, who: &Principal) -> Result<Vec<GroupView>> {
    who.require_staff()?;
    let (groups, agents) = (app.store.list_groups(&who.tenant).await?, app.store.list_agents(&who.tenant).await?);
    Ok(groups
        .into_iter()
        .map(|g| {
            let members: Vec<_> = agents.iter().filter(|a| a.groups.contains(&g.id)).collect();
            GroupView {
                idle_count: members.iter().filter(|a| a.status == AgentStatus::Idle).count(),
                member_count: members.len(),
                members: members.iter().map(|a| a.id.clone()).collect(),
                id: g.id,
                name: g.name,
            }
        })
        .collect())
}

/// Adds (`member = true`) or removes an agent from a group. A new member may
/// take the group's waiting sessions at once (B3).
pub async fn set_member(app: &App, who: &Principal, group_id: &str, agent_id: &str, member: bool) -> Result<AgentView> {
    who.require_admin()?;
    app.store.get_group(&who.tenant, group_id).await?.ok_or_else(|| Error::not_found("skill group"))?;
    let agent = app.store.get_agent(&who.tenant, agent_id).await?.ok_or_else(|| Error::not_found("agent"))?;
    let mut groups = agent.groups.clone();
    groups.retain(|g| g != group_id);
    if member {
        groups.push(group_id.to_string());
    }
    let agent = app
        .store
        .update_agent(&who.tenant, agent_id, &AgentChange { groups: Some(groups), ..AgentChange::default() })
        .await?;
    if member {
        dispatch::drain_after(app, &who.tenant, None).await;
    }
    Ok(AgentView::new(&agent, app.now()))
}
