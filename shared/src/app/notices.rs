//! What the use cases tell clients, as typed values. The notifier delivers
//! them; `api::events` gives them their wire form. C7: every notice says
//! whether it is a new session, a transfer or a new message, and the unread
//! count, so the frontend can play a sound or raise a browser notification.

use serde::Serialize;

use super::views::{AgentView, MessageView, SessionView};
use crate::domain::{CloseReason, Evaluation, Settings, StatusRequest};

#[derive(Debug)]
pub enum Notice {
    /// A session was given to the agent (or, to the visitor: an agent joined).
    Assigned {
        session: SessionView,
        notify: Notify,
    },
    MessageNew {
        session_id: String,
        message: MessageView,
        notify: Notify,
    },
    Closed {
        session_id: String,
        reason: CloseReason,
    },
    /// C5: an agent recalled message `seq`; clients withhold its content.
    MessageRecalled {
        session_id: String,
        seq: u64,
        recalled_at: i64,
    },
    /// To the visitor: its agent left (was removed) and the session is back
    /// in the queue, history intact, until another agent takes it.
    Requeued {
        session: SessionView,
    },
    /// To the agent who held it: the session was transferred (D4/D5) and
    /// leaves its in-progress list.
    TransferredAway {
        session_id: String,
        to_agent: Option<String>,
        to_group: Option<String>,
    },
    /// C6: to the session's agent: the visitor's draft as it types.
    Typing {
        session_id: String,
        draft: String,
        at: i64,
    },
    /// D6: to the visitor: rate the session.
    EvaluationInvited {
        session_id: String,
    },
    /// D6: to the session's agent: the visitor's rating.
    EvaluationReceived {
        session_id: String,
        evaluation: Evaluation,
    },
    /// D8: to the visitor (and its agent): the visitor has not replied for
    /// T1; the session closes at `closes_at` unless it does.
    Reminded {
        session_id: String,
        closes_at: Option<i64>,
    },
    /// The agent's own status or capacity changed (all its tabs follow).
    AgentUpdated {
        agent: AgentView,
    },
    /// F4: to every agent of the tenant: an admin changed the settings.
    SettingsChanged {
        settings: Settings,
    },
    /// A2: to the tenant's admins: an agent asks to change its status.
    StatusRequested {
        request: StatusRequest,
    },
    /// A5: to the agent: its row for today, after an event counted in it.
    StatsUpdated {
        stats: super::stats::AgentDayView,
    },
    /// A2: to the agent: an admin approved (its status changed) or
    /// rejected its request.
    StatusRequestDecided {
        request: StatusRequest,
        approved: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyKind {
    NewSession,
    Transfer,
    NewMessage,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Notify {
    /// What to alert for; `None` when nothing calls for a sound.
    pub kind: Option<NotifyKind>,
    /// The session's unread count for the agent (staff notices only).
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
