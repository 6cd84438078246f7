//! What each kind of caller is shown of the domain's records.

use serde::Serialize;

use crate::domain::session::{CloseReason, SessionState};
use crate::domain::{Agent, AgentStatus, Session};

/// Staff see the whole session record.
pub type StaffSession<'a> = &'a Session;

/// A visitor sees its session without the service's internals.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VisitorSession {
    pub id: String,
    pub state: SessionState,
    pub channel: String,
    pub group: Option<String>,
    pub agent: Option<AgentBrief>,
    pub created_at: i64,
    pub closed_at: Option<i64>,
    pub close_reason: Option<CloseReason>,
    pub last_seq: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentBrief {
    pub id: String,
    pub nickname: String,
}

impl VisitorSession {
    pub fn new(s: &Session, agent: Option<&Agent>) -> Self {
        VisitorSession {
            id: s.id.clone(),
            state: s.state,
            channel: s.channel.clone(),
            group: s.group.clone(),
            agent: agent.map(|a| AgentBrief { id: a.id.clone(), nickname: a.nickname.clone() }),
            created_at: s.created_at,
            closed_at: s.closed_at,
            close_reason: s.close_reason,
            last_seq: s.last_seq,
        }
    }
}

/// A session as the caller may see it.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum SessionView<'a> {
    Staff(StaffSession<'a>),
    Visitor(VisitorSession),
}

/// An agent as colleagues and admins see it: no connection ids.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentView {
    pub id: String,
    pub nickname: String,
    pub real_name: String,
    pub role: crate::auth::Role,
    pub status: AgentStatus,
    pub max_concurrent: u32,
    pub active: u32,
    pub online: bool,
    pub groups: Vec<String>,
    /// Disabled by an admin: every token refused.
    pub disabled: bool,
    /// Removed by an admin (shown only where history names the agent).
    pub removed: bool,
}

impl AgentView {
    pub fn new(a: &Agent, now_ms: i64) -> Self {
        AgentView {
            id: a.id.clone(),
            nickname: a.nickname.clone(),
            real_name: a.real_name.clone(),
            role: a.role,
            status: a.status,
            max_concurrent: a.max_concurrent,
            active: a.active,
            online: a.live_connections(now_ms).next().is_some(),
            groups: a.groups.clone(),
            disabled: a.disabled,
            removed: a.removed,
        }
    }
}
