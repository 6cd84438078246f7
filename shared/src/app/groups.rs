//! Skill groups (技能组) and their members.

use serde::{Deserialize, Serialize};

use super::dispatch::{self, Roster};
use super::views::AgentView;
use crate::auth::Principal;
use crate::domain::text::clean_name;
use crate::domain::{ids, Agent, AgentStatus, SkillGroup};
use crate::error::{Error, Result};
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
/// take the group's waiting sessions at once (B3). The change applies to
/// the agent's groups as read: two admins editing one agent at once both
/// keep theirs.
pub async fn set_member(app: &App, who: &Principal, group_id: &str, agent_id: &str, member: bool) -> Result<AgentView> {
    who.require_admin()?;
    app.store.get_group(&who.tenant, group_id).await?.ok_or_else(|| Error::not_found("skill group"))?;
    let agent = change_groups(app, &who.tenant, agent_id, |groups| {
        groups.retain(|g| g != group_id);
        if member {
            groups.push(group_id.to_string());
        }
    })
    .await?;
    if member {
        dispatch::drain_after(app, &who.tenant, None, Roster::Freed(std::slice::from_ref(&agent))).await;
    }
    Ok(AgentView::new(&agent, app.now()))
}

/// Applies `edit` to the agent's groups as stored, again on a fresh read
/// if another change came first.
async fn change_groups(app: &App, tenant: &str, agent_id: &str, edit: impl Fn(&mut Vec<String>)) -> Result<Agent> {
    for attempt in 0..super::RACE_ATTEMPTS {
        if attempt > 0 {
            super::after_lost_race(attempt - 1).await;
        }
        let agent = app.store.get_agent(tenant, agent_id).await?.ok_or_else(|| Error::not_found("agent"))?;
        let mut groups = agent.groups.clone();
        edit(&mut groups);
        if groups == agent.groups {
            return Ok(agent);
        }
        if let Some(after) = app.store.set_agent_groups(tenant, agent_id, &agent.groups, &groups).await? {
            return Ok(after);
        }
    }
    Err(Error::conflict("try_again", "the agent's groups kept changing; try again"))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenameGroup {
    pub name: String,
}

pub async fn rename(app: &App, who: &Principal, group_id: &str, req: RenameGroup) -> Result<SkillGroup> {
    who.require_admin()?;
    let name = clean_name("name", &req.name)?;
    app.store.rename_group(&who.tenant, group_id, &name).await
}

/// What deleting a group did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    pub id: String,
    pub deleted: bool,
    /// Agents that were its members.
    pub members_removed: usize,
    /// Sessions that waited for it and now wait for anyone.
    pub sessions_ungrouped: usize,
}

/// Deletes a group: its members leave it, and sessions waiting for it wait
/// for anyone (none is left waiting for a group nobody can join). Its
/// name stays on the sessions it served. The one admin action that reads
/// the whole queue (a page at a time, bounded by `maxWaiting`).
#[tracing::instrument(skip(app), fields(tenant = %who.tenant, by = %who.id))]
pub async fn delete(app: &App, who: &Principal, group_id: &str) -> Result<Deleted> {
    who.require_admin()?;
    if !app.store.delete_group(&who.tenant, group_id).await? {
        return Err(Error::not_found("skill group"));
    }
    let members: Vec<Agent> = app
        .store
        .list_agents(&who.tenant)
        .await?
        .into_iter()
        .filter(|a| a.groups.iter().any(|g| g == group_id))
        .collect();
    for a in &members {
        change_groups(app, &who.tenant, &a.id, |groups| groups.retain(|g| g != group_id)).await?;
    }
    let mut ungrouped = 0;
    let (_, shards) = app.tenant_config(&who.tenant).await?;
    let mut cursor: Option<String> = None;
    loop {
        let page = app.store.queue_page(&who.tenant, shards, 100, cursor.as_deref()).await?;
        for entry in page.items.iter().filter(|e| e.group.as_deref() == Some(group_id)) {
            if app.store.ungroup_waiting(&who.tenant, entry).await? {
                ungrouped += 1;
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    tracing::info!(group = group_id, members = members.len(), ungrouped, "skill group deleted");
    if ungrouped > 0 {
        dispatch::drain_after(app, &who.tenant, None, Roster::Queued).await;
    }
    Ok(Deleted {
        id: group_id.to_string(),
        deleted: true,
        members_removed: members.len(),
        sessions_ungrouped: ungrouped,
    })
}
