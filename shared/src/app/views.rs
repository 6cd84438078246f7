//! What each kind of caller is shown of the domain's records.

use serde::Serialize;

use crate::auth::Role;
use crate::domain::session::{CloseReason, SessionState};
use crate::domain::{Agent, AgentStatus, Content, Message, SenderKind, Session};

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
    /// D6: the agent invited a rating that is not answered yet.
    pub evaluation_pending: bool,
    /// D6: the visitor's latest rating.
    pub evaluation: Option<VisitorEvaluation>,
}

/// A rating as its visitor sees it (without the inviting agent's id).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VisitorEvaluation {
    pub rating: u8,
    pub comment: Option<String>,
    pub at: i64,
}

/// An agent as a visitor sees it: its nickname, never its id (an admin may
/// have set the id to an employee number).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentBrief {
    pub nickname: String,
}

impl VisitorSession {
    pub fn new(s: &Session, agent: Option<&Agent>) -> Self {
        VisitorSession {
            id: s.id.clone(),
            state: s.state,
            channel: s.channel.clone(),
            group: s.group.clone(),
            agent: agent.map(|a| AgentBrief { nickname: a.nickname.clone() }),
            created_at: s.created_at,
            closed_at: s.closed_at,
            close_reason: s.close_reason,
            last_seq: s.last_seq,
            evaluation_pending: s.evaluation_invitation.is_some(),
            evaluation: s.evaluation.as_ref().map(|e| VisitorEvaluation {
                rating: e.rating,
                comment: e.comment.clone(),
                at: e.at,
            }),
        }
    }
}

/// Who sent a message, as a visitor sees it: itself (with its id), or an
/// agent by nickname only.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VisitorSender {
    pub kind: SenderKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
}

/// A message as a visitor sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VisitorMessage {
    pub session_id: String,
    pub seq: u64,
    pub client_msg_id: String,
    pub sender: VisitorSender,
    pub content: Content,
    pub created_at: i64,
    /// C5: recalled by its agent; `content` is withheld.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recalled_at: Option<i64>,
    /// G2: an agent's message the visitor reads translated (`content` is
    /// the translation): from which language into which.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub translation: Option<VisitorTranslation>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VisitorTranslation {
    pub source: Option<String>,
    pub target: String,
}

impl VisitorMessage {
    /// `nickname`: the sending agent's, for an agent's message.
    pub fn new(m: &Message, nickname: Option<&str>) -> Self {
        let m = &m.withheld();
        let sender = match m.sender.kind {
            SenderKind::Agent => {
                VisitorSender { kind: m.sender.kind, id: None, nickname: nickname.map(str::to_string) }
            }
            _ => VisitorSender { kind: m.sender.kind, id: Some(m.sender.id.clone()), nickname: None },
        };
        // G2: the visitor gets an agent's message in its translation.
        let translated = match (&m.sender.kind, &m.translation) {
            (SenderKind::Agent, Some(t)) => t.text.as_ref().map(|text| (text, t)),
            _ => None,
        };
        VisitorMessage {
            session_id: m.session_id.clone(),
            seq: m.seq,
            client_msg_id: m.client_msg_id.clone(),
            sender,
            content: match translated {
                Some((text, _)) => Content::Text { text: text.clone() },
                None => m.content.clone(),
            },
            created_at: m.created_at,
            recalled_at: m.recalled_at,
            translation: translated
                .map(|(_, t)| VisitorTranslation { source: t.source.clone(), target: t.target.clone() }),
        }
    }
}

/// A message as the caller may see it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MessageView {
    Staff(Message),
    Visitor(VisitorMessage),
}

impl MessageView {
    /// A message as staff of `role` see it: admins read a recalled
    /// message's content (audit, C5); agents see it withheld.
    pub fn staff(m: &Message, role: Role) -> Self {
        match role {
            Role::Admin => MessageView::Staff(m.clone()),
            _ => MessageView::Staff(m.withheld()),
        }
    }
}

/// A session as the caller may see it: staff the whole record, a visitor
/// its own view.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum SessionView {
    Staff(Box<Session>),
    Visitor(VisitorSession),
}

impl SessionView {
    pub fn staff(s: &Session) -> Self {
        SessionView::Staff(Box::new(s.clone()))
    }
}

/// An agent as colleagues and admins see it: no connection ids.
#[derive(Clone, Debug, Serialize)]
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
    /// G1: its system language; `null`: the tenant's `agentLanguage`.
    pub language: Option<String>,
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
            language: a.language.clone(),
        }
    }
}

/// E1/E2: a visitor as staff see it in the customer list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VisitorView {
    pub id: String,
    pub name: Option<String>,
    pub nickname: Option<String>,
    pub channel: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub tags: Vec<String>,
    pub blacklisted: bool,
    pub created_at: i64,
}

impl VisitorView {
    pub fn new(v: &crate::domain::Visitor) -> Self {
        VisitorView {
            id: v.id.clone(),
            name: v.name.clone(),
            nickname: v.nickname.clone(),
            channel: v.channel.clone(),
            phone: v.phone.clone(),
            email: v.email.clone(),
            company: v.company.clone(),
            tags: v.tags.clone(),
            blacklisted: v.blacklisted,
            created_at: v.created_at,
        }
    }
}

/// E1/E3: a visitor's whole profile, with its tickets.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VisitorProfile {
    #[serde(flatten)]
    pub visitor: VisitorView,
    pub notes: Option<String>,
    pub custom: std::collections::BTreeMap<String, String>,
    pub active_session: Option<String>,
    pub tickets: Vec<crate::domain::Ticket>,
}
