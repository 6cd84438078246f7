//! A2: status-change approval. With the tenant's switch on, a plain
//! agent's change from `idle` to `busy`, `away` or `invisible` becomes a
//! pending request: admins are pushed it and approve or reject it; the
//! agent is pushed the outcome; its status changes only on approval.

use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::notices::Notice;
use super::views::AgentView;
use crate::auth::{Principal, Role};
use crate::domain::agent::STATUS_REQUEST_TTL_MS;
use crate::domain::{ids, Agent, AgentStatus, StatusRequest};
use crate::error::{Error, Result};
use crate::store::Page;
use crate::App;

/// Files the agent's request (replacing any before it) and tells the
/// tenant's connected admins.
#[instrument(skip(app, agent), fields(tenant = %agent.tenant, agent = %agent.id))]
pub async fn request(app: &App, agent: &Agent, status: AgentStatus) -> Result<StatusRequest> {
    let now = app.now();
    let request = StatusRequest {
        tenant: agent.tenant.clone(),
        id: ids::new_id("sr"),
        agent_id: agent.id.clone(),
        agent_nickname: agent.nickname.clone(),
        from: agent.status,
        status,
        requested_at: now,
        expires_at: (now + STATUS_REQUEST_TTL_MS) / 1000,
    };
    app.store.put_status_request(&request).await?;
    tracing::info!(from = request.from.as_str(), to = status.as_str(), "status change awaits approval");
    let admins: Vec<Agent> =
        app.store.list_agents(&agent.tenant).await?.into_iter().filter(|a| a.role == Role::Admin).collect();
    app.notify.to_agents(&admins, &Notice::StatusRequested { request: request.clone() }).await;
    Ok(request)
}

/// The agent changed its status directly: a request it had pending is its
/// wish no more.
pub async fn withdraw(app: &App, who: &Principal) -> Result<()> {
    if let Some(pending) = app.store.get_status_request(&who.tenant, &who.id, app.now()).await? {
        app.store.drop_status_request(&pending).await?;
    }
    Ok(())
}

pub async fn list(app: &App, who: &Principal, limit: u32, cursor: Option<&str>) -> Result<Page<StatusRequest>> {
    who.require_admin()?;
    if !(1..=100).contains(&limit) {
        return Err(Error::invalid("invalid_field", "limit must be from 1 to 100"));
    }
    app.store.list_status_requests(&who.tenant, limit, cursor, app.now()).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Decide {
    /// The request decided on: when given, it must still be the agent's
    /// pending one (not replaced by a newer request since it was listed).
    #[serde(default)]
    pub request_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub request: StatusRequest,
    pub approved: bool,
    /// The agent after the decision.
    pub agent: AgentView,
}

/// An admin approves (the status changes) or rejects (nothing changes) an
/// agent's pending request; the agent is told either way.
#[instrument(skip(app, req), fields(tenant = %who.tenant, by = %who.id))]
pub async fn decide(app: &App, who: &Principal, agent_id: &str, approve: bool, req: Decide) -> Result<Decision> {
    who.require_admin()?;
    if let Some(id) = &req.request_id {
        ids::check("requestId", id)?;
    }
    let now = app.now();
    let pending = app
        .store
        .get_status_request(&who.tenant, agent_id, now)
        .await?
        .ok_or_else(|| Error::not_found("status request"))?;
    if req.request_id.as_ref().is_some_and(|id| *id != pending.id) {
        return Err(replaced());
    }
    let done = if approve {
        app.store.approve_status_request(&pending).await?
    } else {
        app.store.drop_status_request(&pending).await?
    };
    if !done {
        let now_pending = app.store.get_status_request(&who.tenant, agent_id, app.now()).await?;
        if now_pending.as_ref().map(|r| &r.id) != Some(&pending.id) {
            return Err(replaced());
        }
        // Still that request, but the agent left the status it asked to
        // leave (went offline, or was disabled): it lapses.
        app.store.drop_status_request(&pending).await?;
        return Err(Error::conflict(
            "status_request_stale",
            format!("{agent_id} is no longer {}; its request was withdrawn", pending.from.as_str()),
        ));
    }
    tracing::info!(agent = agent_id, approve, status = pending.status.as_str(), "status request decided");
    if approve {
        super::stats::sync_online(app, &who.tenant, agent_id).await;
    }
    let agent = app.store.get_agent(&who.tenant, agent_id).await?.ok_or_else(|| Error::not_found("agent"))?;
    let view = AgentView::new(&agent, app.now());
    let outcome = Notice::StatusRequestDecided { request: pending.clone(), approved: approve };
    app.notify.to_agent_record(&agent, &outcome, None).await;
    if approve {
        app.notify.to_agent_record(&agent, &Notice::AgentUpdated { agent: view.clone() }, None).await;
    }
    Ok(Decision { request: pending, approved: approve, agent: view })
}

fn replaced() -> Error {
    Error::conflict("status_request_replaced", "the agent has made a newer request since; decide on that one")
}
