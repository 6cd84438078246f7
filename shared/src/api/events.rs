//! The wire form of the notices pushed to WebSocket clients: each a JSON
//! object tagged by `type`, with a `notify` block (see `docs/protocol.md`).

use serde::Serialize;

use crate::app::notices::{Notice, Notify};
use crate::app::views::{AgentView, MessageView, SessionView};
use crate::domain::session::RATING_LABELS;
use crate::domain::{CloseReason, Evaluation, Settings, StatusRequest};

#[derive(Debug, Serialize)]
#[serde(tag = "type")]
enum Event<'a> {
    #[serde(rename = "session.assigned", rename_all = "camelCase")]
    SessionAssigned { session: &'a SessionView, notify: Notify },
    #[serde(rename = "message.new", rename_all = "camelCase")]
    MessageNew { session_id: &'a str, message: &'a MessageView, notify: Notify },
    #[serde(rename = "message.recalled", rename_all = "camelCase")]
    MessageRecalled { session_id: &'a str, seq: u64, recalled_at: i64, notify: Notify },
    #[serde(rename = "session.closed", rename_all = "camelCase")]
    SessionClosed { session_id: &'a str, reason: CloseReason, notify: Notify },
    #[serde(rename = "session.requeued", rename_all = "camelCase")]
    SessionRequeued { session: &'a SessionView, notify: Notify },
    #[serde(rename = "session.transferred", rename_all = "camelCase")]
    SessionTransferred {
        session_id: &'a str,
        to_agent_id: Option<&'a str>,
        to_group_id: Option<&'a str>,
        notify: Notify,
    },
    #[serde(rename = "typing", rename_all = "camelCase")]
    Typing { session_id: &'a str, draft: &'a str, at: i64, notify: Notify },
    #[serde(rename = "evaluation.invited", rename_all = "camelCase")]
    EvaluationInvited { session_id: &'a str, scale: Vec<Grade>, notify: Notify },
    #[serde(rename = "evaluation.received", rename_all = "camelCase")]
    EvaluationReceived { session_id: &'a str, evaluation: &'a Evaluation, notify: Notify },
    #[serde(rename = "session.reminder", rename_all = "camelCase")]
    SessionReminder { session_id: &'a str, closes_at: Option<i64>, notify: Notify },
    #[serde(rename = "agent.updated", rename_all = "camelCase")]
    AgentUpdated { agent: &'a AgentView, notify: Notify },
    #[serde(rename = "settings.changed", rename_all = "camelCase")]
    SettingsChanged { settings: &'a Settings, notify: Notify },
    #[serde(rename = "stats.updated", rename_all = "camelCase")]
    StatsUpdated { stats: &'a crate::app::stats::AgentDayView, notify: Notify },
    #[serde(rename = "status_request.created", rename_all = "camelCase")]
    StatusRequested { request: &'a StatusRequest, notify: Notify },
    #[serde(rename = "status_request.decided", rename_all = "camelCase")]
    StatusRequestDecided { request: &'a StatusRequest, approved: bool, notify: Notify },
}

/// One step of D6's rating scale.
#[derive(Debug, Serialize)]
struct Grade {
    rating: u8,
    label: &'static str,
}

impl<'a> From<&'a Notice> for Event<'a> {
    fn from(n: &'a Notice) -> Self {
        match n {
            Notice::Assigned { session, notify } => Event::SessionAssigned { session, notify: *notify },
            Notice::MessageNew { session_id, message, notify } => {
                Event::MessageNew { session_id, message, notify: *notify }
            }
            Notice::MessageRecalled { session_id, seq, recalled_at } => {
                Event::MessageRecalled { session_id, seq: *seq, recalled_at: *recalled_at, notify: Notify::none() }
            }
            Notice::Closed { session_id, reason } => {
                Event::SessionClosed { session_id, reason: *reason, notify: Notify::none() }
            }
            Notice::Requeued { session } => Event::SessionRequeued { session, notify: Notify::none() },
            Notice::TransferredAway { session_id, to_agent, to_group } => Event::SessionTransferred {
                session_id,
                to_agent_id: to_agent.as_deref(),
                to_group_id: to_group.as_deref(),
                notify: Notify::none(),
            },
            Notice::Typing { session_id, draft, at } => {
                Event::Typing { session_id, draft, at: *at, notify: Notify::none() }
            }
            Notice::EvaluationInvited { session_id } => Event::EvaluationInvited {
                session_id,
                scale: RATING_LABELS.iter().zip(1..).map(|(label, rating)| Grade { rating, label }).collect(),
                notify: Notify::none(),
            },
            Notice::EvaluationReceived { session_id, evaluation } => {
                Event::EvaluationReceived { session_id, evaluation, notify: Notify::none() }
            }
            Notice::AgentUpdated { agent } => Event::AgentUpdated { agent, notify: Notify::none() },
            Notice::SettingsChanged { settings } => Event::SettingsChanged { settings, notify: Notify::none() },
            Notice::StatsUpdated { stats } => Event::StatsUpdated { stats, notify: Notify::none() },
            Notice::StatusRequested { request } => Event::StatusRequested { request, notify: Notify::none() },
            Notice::StatusRequestDecided { request, approved } => {
                Event::StatusRequestDecided { request, approved: *approved, notify: Notify::none() }
            }
            Notice::Reminded { session_id, closes_at } => {
                Event::SessionReminder { session_id, closes_at: *closes_at, notify: Notify::none() }
            }
        }
    }
}

/// A notice as the bytes pushed to a connection.
pub fn encode(notice: &Notice) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(&Event::from(notice))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_is_tagged_and_carries_notify() {
        let closed = Notice::Closed { session_id: "s1".into(), reason: CloseReason::Agent };
        let v: serde_json::Value = serde_json::from_slice(&encode(&closed).unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "session.closed", "sessionId": "s1", "reason": "agent", "notify": {"kind": null}})
        );
    }
}
