//! Events pushed to WebSocket clients. C7: every event tells the frontend
//! whether it is a new session, a transfer or a new message, and the unread
//! count, so it can play a sound or raise a browser notification.

use serde::Serialize;

use super::views::{AgentView, MessageView, SessionView};
use crate::domain::CloseReason;

#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum Event<'a> {
    /// A session was given to the agent (or, to the visitor: an agent joined).
    #[serde(rename = "session.assigned", rename_all = "camelCase")]
    SessionAssigned { session: SessionView, notify: Notify },
    #[serde(rename = "message.new", rename_all = "camelCase")]
    MessageNew { session_id: &'a str, message: MessageView, notify: Notify },
    #[serde(rename = "session.closed", rename_all = "camelCase")]
    SessionClosed { session_id: &'a str, reason: CloseReason, notify: Notify },
    /// To the visitor: its agent left (was removed) and the session is back
    /// in the queue, history intact, until another agent takes it.
    #[serde(rename = "session.requeued", rename_all = "camelCase")]
    SessionRequeued { session: SessionView, notify: Notify },
    /// The agent's own status or capacity changed (all its tabs follow).
    #[serde(rename = "agent.updated", rename_all = "camelCase")]
    AgentUpdated { agent: AgentView, notify: Notify },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyKind {
    NewSession,
    Transfer,
    NewMessage,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Notify {
    /// What to alert for; `null` when nothing calls for a sound.
    pub kind: Option<NotifyKind>,
    /// The session's unread count for the agent (staff events only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<u32>,
}

impl Notify {
    pub fn none() -> Self {
        Notify::default()
    }

    pub fn new(kind: NotifyKind, unread: Option<u32>) -> Self {
        Notify { kind: Some(kind), unread }
    }
}
