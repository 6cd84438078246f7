//! Agents: admins manage them and mint their tokens; agents set their own
//! status (A1) and maximum (A3).

use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::dispatch::{self, Roster};
use super::notices::Notice;
use super::views::AgentView;
use super::{approvals, audit};
use crate::auth::{Principal, Role};
use crate::domain::agent::{check_max_concurrent, needs_approval};
use crate::domain::text::clean_name;
use crate::domain::translation::check_agent_language;
use crate::domain::{ids, Agent, AgentStatus, AuditAction, StatusRequest};
use crate::error::{Error, Result};
use crate::store::{keys, AgentChange};
use crate::App;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAgent {
    /// Optional: chosen by the admin (e.g. an employee number).
    #[serde(default)]
    pub agent_id: Option<String>,
    pub nickname: String,
    pub real_name: String,
    /// `agent` (default) or `admin`.
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub max_concurrent: Option<i64>,
    /// G1: `zh` or `en` (default: the tenant's `agentLanguage`).
    #[serde(default)]
    pub language: Option<String>,
}

fn staff_role(role: Role) -> Result<Role> {
    match role {
        Role::Visitor => Err(Error::invalid("invalid_role", "role must be agent or admin")),
        r => Ok(r),
    }
}

/// `me` names the caller.
fn resolve<'a>(who: &'a Principal, id: &'a str) -> Result<&'a str> {
    let id = if id == "me" { who.id.as_str() } else { id };
    ids::check("agentId", id)?;
    Ok(id)
}

pub async fn create(app: &App, who: &Principal, req: CreateAgent) -> Result<AgentView> {
    who.require_admin()?;
    let agent = new_agent(app, &who.tenant, req).await?;
    Ok(AgentView::new(&agent, app.now()))
}

/// Creates an agent in a tenant (admins through HTTP, operators through the CLI).
pub async fn new_agent(app: &App, tenant: &str, req: CreateAgent) -> Result<Agent> {
    let nickname = clean_name("nickname", &req.nickname)?;
    let real_name = clean_name("realName", &req.real_name)?;
    let id = match req.agent_id {
        Some(id) => {
            ids::check("agentId", &id)?;
            if id == "me" {
                return Err(Error::invalid("invalid_id", "agentId `me` is reserved"));
            }
            id
        }
        None => ids::new_id("a"),
    };
    let before = app.store.get_tenant(tenant).await?.ok_or_else(|| Error::not_found("tenant"))?;
    let max = match req.max_concurrent {
        Some(n) => check_max_concurrent(n)?,
        None => before.settings.default_max_concurrent,
    };
    let role = staff_role(req.role.unwrap_or(Role::Agent))?;
    if let Some(language) = &req.language {
        check_agent_language(language)?;
    }
    let agent =
        Agent { language: req.language, ..Agent::new(tenant, &id, &nickname, &real_name, role, max, app.now()) };
    app.store.create_agent(&agent).await?;
    tracing::info!(tenant, agent = %id, role = role.as_str(), "agent created");
    // B2 at scale: a large tenant's ready list (and its queue and session
    // lists) spreads over shards. Its count is read again, after this
    // agent's: agents created at once each read the count from before the
    // others', and the last of them to be counted must see them all.
    if before.ready_shards() < keys::MAX_READY_SHARDS {
        let count = app.store.get_tenant(tenant).await?.map_or(0, |t| t.agent_count);
        if count >= app.config.ready_split_at {
            app.store.split_ready_list(tenant, keys::MAX_READY_SHARDS).await?;
            tracing::info!(tenant, shards = keys::MAX_READY_SHARDS, "ready list split");
        }
    }
    Ok(agent)
}

/// D4's order: idle > busy > away > invisible > offline, then by nickname.
pub async fn list(app: &App, who: &Principal) -> Result<Vec<AgentView>> {
    who.require_staff()?;
    let mut agents = app.store.list_agents(&who.tenant).await?;
    agents.retain(|a| !a.removed);
    agents.sort_by(|a, b| a.status.cmp(&b.status).then_with(|| a.nickname.cmp(&b.nickname)));
    let now = app.now();
    Ok(agents.iter().map(|a| AgentView::new(a, now)).collect())
}

pub async fn get(app: &App, who: &Principal, id: &str) -> Result<AgentView> {
    who.require_staff()?;
    let id = resolve(who, id)?;
    let agent = app.store.get_agent(&who.tenant, id).await?.ok_or_else(|| Error::not_found("agent"))?;
    Ok(AgentView::new(&agent, app.now()))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateAgent {
    #[serde(default)]
    pub nickname: Option<String>,
    #[serde(default)]
    pub real_name: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub max_concurrent: Option<i64>,
    /// G1: `zh` or `en`; `null` goes back to the tenant's `agentLanguage`.
    #[serde(default, deserialize_with = "crate::domain::present")]
    pub language: Option<Option<String>>,
}

/// Admins change anything; an agent changes its own nickname, maximum and
/// language.
#[instrument(skip(app, req), fields(tenant = %who.tenant))]
pub async fn update(app: &App, who: &Principal, id: &str, req: UpdateAgent) -> Result<AgentView> {
    who.require_staff()?;
    let id = resolve(who, id)?;
    if !who.is_admin() && (id != who.id || req.real_name.is_some() || req.role.is_some()) {
        return Err(Error::forbidden("agents may change only their own nickname, maximum and language"));
    }
    if let Some(Some(language)) = &req.language {
        check_agent_language(language)?;
    }
    let change = AgentChange {
        nickname: req.nickname.as_deref().map(|n| clean_name("nickname", n)).transpose()?,
        real_name: req.real_name.as_deref().map(|n| clean_name("realName", n)).transpose()?,
        role: req.role.map(staff_role).transpose()?,
        max_concurrent: req.max_concurrent.map(check_max_concurrent).transpose()?,
        language: req.language,
        ..AgentChange::default()
    };
    let before = app.store.get_agent(&who.tenant, id).await?.ok_or_else(|| Error::not_found("agent"))?;
    let after = app.store.update_agent(&who.tenant, id, &change).await?;
    changed(app, &after).await;
    if after.role != before.role {
        // Connections hold the role they were authorized with: reconnect.
        app.notify.close_agent_connections(&after).await;
        let detail = format!("{} -> {}", before.role.as_str(), after.role.as_str());
        audit::record(app, &who.tenant, &who.id, AuditAction::RoleChanged, id, Some(detail)).await?;
    }
    if after.max_concurrent > before.max_concurrent {
        // B3: a raised maximum.
        dispatch::drain_after(app, &who.tenant, None, Roster::Freed(std::slice::from_ref(&after))).await;
    }
    Ok(AgentView::new(&after, app.now()))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetStatus {
    pub status: AgentStatus,
}

/// What a status change did: applied, or (A2) waiting for an admin.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum StatusChange {
    Applied(AgentView),
    Pending { pending: bool, request: StatusRequest },
}

/// A1: an agent switches its own status; turning idle drains the queue
/// (B3). A2: with the tenant's approval switch on, a plain agent leaving
/// idle files a request instead, and its status stays.
#[instrument(skip(app), fields(tenant = %who.tenant, agent = %who.id))]
pub async fn set_status(app: &App, who: &Principal, req: SetStatus) -> Result<StatusChange> {
    who.require_staff()?;
    let settings = app.settings(&who.tenant).await?;
    if settings.status_change_approval {
        let agent = app.store.get_agent(&who.tenant, &who.id).await?.ok_or_else(|| Error::not_found("agent"))?;
        if needs_approval(true, agent.role, agent.status, req.status) {
            let request = approvals::request(app, &agent, req.status).await?;
            return Ok(StatusChange::Pending { pending: true, request });
        }
        approvals::withdraw(app, who).await?;
    }
    let change = AgentChange { status: Some(req.status), ..AgentChange::default() };
    let agent = app.store.update_agent(&who.tenant, &who.id, &change).await?;
    tracing::info!(status = req.status.as_str(), "status changed");
    super::stats::sync_online(app, &who.tenant, &who.id).await; // A5: offline or back
    changed(app, &agent).await;
    if req.status == AgentStatus::Idle {
        dispatch::drain_after(app, &who.tenant, None, Roster::Freed(std::slice::from_ref(&agent))).await;
    }
    Ok(StatusChange::Applied(AgentView::new(&agent, app.now())))
}

/// Every tab of the agent follows its status and maximum.
async fn changed(app: &App, agent: &Agent) {
    let notice = Notice::AgentUpdated { agent: AgentView::new(agent, app.now()) };
    app.notify.to_agent(&agent.tenant, &agent.id, &notice).await;
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub token: String,
    pub expires_at: i64,
    pub agent_id: String,
    pub role: Role,
}

/// A token for an agent: anyone on staff renews its own (`me`); an admin
/// mints one for a plain agent of its tenant, never for another admin (a
/// stolen admin token cannot breed more). A renewed token carries the
/// current token version, so renewing never outlives a revocation.
pub async fn mint_token(app: &App, who: &Principal, id: &str) -> Result<Token> {
    who.require_staff()?;
    let id = resolve(who, id)?;
    let agent =
        app.store.get_agent(&who.tenant, id).await?.filter(|a| !a.removed).ok_or_else(|| Error::not_found("agent"))?;
    if agent.id != who.id {
        who.require_admin()?;
        if agent.role == Role::Admin {
            return Err(Error::forbidden("admins may not mint tokens for other admins"));
        }
    }
    token_for(app, &agent, &who.id).await
}

/// An admin disables (or enables again) an agent of its tenant: while
/// disabled, every token of the agent is refused, it is offline, and its
/// open connections are closed at once.
#[instrument(skip(app), fields(tenant = %who.tenant))]
pub async fn set_disabled(app: &App, who: &Principal, id: &str, disabled: bool) -> Result<AgentView> {
    who.require_admin()?;
    let id = resolve(who, id)?;
    if id == who.id {
        return Err(Error::forbidden("admins may not disable or enable themselves"));
    }
    if app.store.get_agent(&who.tenant, id).await?.is_none_or(|a| a.removed) {
        return Err(Error::not_found("agent"));
    }
    let change = AgentChange {
        disabled: Some(disabled),
        status: disabled.then_some(AgentStatus::Offline),
        ..AgentChange::default()
    };
    let agent = app.store.update_agent(&who.tenant, id, &change).await?;
    tracing::info!(agent = %id, disabled, "agent access changed");
    if disabled {
        app.notify.close_agent_connections(&agent).await;
        super::stats::sync_online(app, &who.tenant, id).await; // A5: offline now
    }
    let action = if disabled { AuditAction::Disabled } else { AuditAction::Enabled };
    audit::record(app, &who.tenant, &who.id, action, id, None).await?;
    Ok(AgentView::new(&agent, app.now()))
}

/// An admin removes an agent of its tenant: it is disabled and leaves the
/// agent list (its record stays, for the history that names it), its
/// connections close, and its in-progress sessions go back to the queue with
/// their history, where other agents take them at once (B3).
#[instrument(skip(app), fields(tenant = %who.tenant))]
pub async fn remove(app: &App, who: &Principal, id: &str) -> Result<AgentView> {
    who.require_admin()?;
    let id = resolve(who, id)?;
    if id == who.id {
        return Err(Error::forbidden("admins may not remove themselves"));
    }
    let change = AgentChange {
        disabled: Some(true),
        removed: Some(true),
        status: Some(AgentStatus::Offline),
        ..AgentChange::default()
    };
    let agent = app.store.update_agent(&who.tenant, id, &change).await?;
    app.notify.close_agent_connections(&agent).await;
    super::stats::sync_online(app, &who.tenant, id).await; // A5: offline now
    let requeued = super::sessions::requeue_all(app, &agent).await?;
    tracing::info!(agent = %id, requeued, "agent removed");
    let detail = format!("{requeued} sessions back in the queue");
    audit::record(app, &who.tenant, &who.id, AuditAction::Removed, id, Some(detail)).await?;
    dispatch::drain_after(app, &who.tenant, None, Roster::Queued).await;
    let agent = app.store.get_agent(&who.tenant, id).await?.ok_or_else(|| Error::not_found("agent"))?;
    Ok(AgentView::new(&agent, app.now()))
}

/// Revokes every token an agent holds (its token version goes up) and
/// closes its connections: an admin for an agent of its tenant, or anyone on
/// staff for itself (a stolen token is stopped without rotating the key).
#[instrument(skip(app), fields(tenant = %who.tenant))]
pub async fn revoke_tokens(app: &App, who: &Principal, id: &str) -> Result<AgentView> {
    who.require_staff()?;
    let id = resolve(who, id)?;
    if id != who.id {
        who.require_admin()?;
    }
    let change = AgentChange { bump_token_version: true, ..AgentChange::default() };
    let agent = app.store.update_agent(&who.tenant, id, &change).await?;
    tracing::info!(agent = %id, version = agent.token_version, "tokens revoked");
    app.notify.close_agent_connections(&agent).await;
    audit::record(app, &who.tenant, &who.id, AuditAction::TokensRevoked, id, None).await?;
    Ok(AgentView::new(&agent, app.now()))
}

/// Mints a token for `agent` on behalf of `actor` (an agent id, or
/// `audit::OPERATOR`), and audits it.
pub async fn token_for(app: &App, agent: &Agent, actor: &str) -> Result<Token> {
    let p = Principal { tenant: agent.tenant.clone(), id: agent.id.clone(), role: agent.role, channel: None };
    let (token, expires_at) = app.issue_token(&p, Some(agent.token_version), app.config.agent_token_ttl_secs).await?;
    audit::record(app, &agent.tenant, actor, AuditAction::TokenMinted, &agent.id, None).await?;
    Ok(Token { token, expires_at, agent_id: agent.id.clone(), role: agent.role })
}
