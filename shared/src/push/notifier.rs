//! The one notifier: fans a notice out to every live connection of an agent
//! or a visitor, and deletes the connections API Gateway reports gone.

use std::sync::Arc;

use super::{Delivery, Gateway};
use crate::app::notices::Notice;
use crate::auth::Role;
use crate::domain::{Agent, Clock};
use crate::store::{Owner, Removal, Store};

/// How long after its `$connect` began a connection may still be inside it.
/// Its record is written during `$connect`, but API Gateway answers `410
/// Gone` to pushes until `$connect` has returned, which it must within the
/// 29-second integration timeout. A Gone in that window is not a deletion:
/// only a push after it (or `$disconnect`) removes the connection.
pub const CONNECT_WINDOW_MS: i64 = 30_000;

pub struct Notifier {
    store: Arc<dyn Store>,
    gateway: Arc<dyn Gateway>,
    clock: Arc<dyn Clock>,
}

impl Notifier {
    pub fn new(store: Arc<dyn Store>, gateway: Arc<dyn Gateway>, clock: Arc<dyn Clock>) -> Self {
        Notifier { store, gateway, clock }
    }

    /// Pushes to every live connection of an agent (A1: all tabs and devices).
    pub async fn to_agent(&self, tenant: &str, agent_id: &str, notice: &Notice) {
        if let Some(agent) = self.agent(tenant, agent_id).await {
            self.to_agent_record(&agent, notice, None).await
        }
    }

    /// The agent a push goes to; a failed lookup is logged, never the
    /// operation's failure.
    pub async fn agent(&self, tenant: &str, agent_id: &str) -> Option<Agent> {
        self.store
            .get_agent(tenant, agent_id)
            .await
            .inspect_err(|e| tracing::error!(error = %e, tenant, agent = agent_id, "push: agent lookup failed"))
            .ok()
            .flatten()
    }

    /// As `to_agent`, for an agent record already read, skipping `except`:
    /// the connection still inside its own `$connect`, which API Gateway
    /// does not accept pushes to yet.
    pub async fn to_agent_record(&self, agent: &Agent, notice: &Notice, except: Option<&str>) {
        let conns: Vec<String> =
            agent.live_connections(self.clock.now_ms()).filter(|c| Some(*c) != except).map(str::to_string).collect();
        self.push(&agent.tenant, agent.role, &agent.id, conns, notice).await
    }

    /// As `to_agent_record`, to each of `agents` with a live connection
    /// (one agent after another; each agent's connections at once).
    pub async fn to_agents(&self, agents: &[Agent], notice: &Notice) {
        let now = self.clock.now_ms();
        for agent in agents.iter().filter(|a| a.live_connections(now).next().is_some()) {
            self.to_agent_record(agent, notice, None).await;
        }
    }

    pub async fn to_visitor(&self, tenant: &str, visitor_id: &str, notice: &Notice) {
        match self.store.get_visitor(tenant, visitor_id).await {
            Ok(Some(v)) => {
                let now = self.clock.now_ms();
                let conns: Vec<String> =
                    v.conns.iter().filter(|(_, exp)| **exp > now).map(|(c, _)| c.clone()).collect();
                self.push(tenant, Role::Visitor, visitor_id, conns, notice).await
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, tenant, visitor = visitor_id, "push: visitor lookup failed")
            }
        }
    }

    /// Closes every live connection of an agent (its role changed, it was
    /// disabled or removed, or its tokens were revoked): it reconnects, and
    /// is authorized afresh, or not at all.
    pub async fn close_agent_connections(&self, agent: &Agent) {
        for conn in agent.live_connections(self.clock.now_ms()) {
            if let Err(e) = self.gateway.close(conn).await {
                tracing::error!(error = %e, connection = conn, agent = %agent.id, "closing a connection failed");
            }
        }
    }

    /// A failed push never fails the operation that caused it: the state is
    /// already stored, and clients catch up with `sync` (C3).
    async fn push(&self, tenant: &str, role: Role, user_id: &str, conns: Vec<String>, notice: &Notice) {
        let data = match crate::api::events::encode(notice) {
            Ok(d) => d,
            Err(e) => return tracing::error!(error = %e, "push: notice did not serialize"),
        };
        // Every connection at once: an agent with several tabs waits for
        // the slowest push, not for their sum.
        let mut posts = tokio::task::JoinSet::new();
        for conn in conns {
            let (gateway, data) = (self.gateway.clone(), data.clone());
            posts.spawn(async move {
                let delivery = gateway.post(&conn, data).await;
                (conn, delivery)
            });
        }
        while let Some(joined) = posts.join_next().await {
            let (conn, delivery) = match joined {
                Ok(done) => done,
                Err(e) => {
                    tracing::error!(error = %e, "push task failed");
                    continue;
                }
            };
            match delivery {
                Ok(Delivery::Delivered) => {}
                Ok(Delivery::Gone) => {
                    let owner = Owner { tenant: tenant.to_string(), role, user_id: user_id.to_string() };
                    let now = self.clock.now_ms();
                    let how = Removal::GoneIfConnectedBefore(now - CONNECT_WINDOW_MS);
                    match self.store.remove_connection(&owner, &conn, how, now, None).await {
                        Ok(true) => tracing::info!(tenant, connection = %conn, "connection gone; removed it"),
                        Ok(false) => tracing::info!(tenant, connection = %conn, "connection still connecting; kept it"),
                        Err(e) => tracing::error!(error = %e, connection = %conn, "removing a gone connection failed"),
                    }
                }
                Err(e) => tracing::warn!(error = %e, connection = %conn, "push failed"),
            }
        }
    }
}
