//! D8: the timeout rules, as pure functions of a session, the tenant's
//! settings and the time. Both timer paths (TTL expiry on the stream, and
//! the punctual sweeper) ask `due` what a session calls for *now*, from the
//! session as it is, so a timer set before a newer message, or one applied
//! twice, decides nothing: the apply is idempotent by construction.

use serde::{Deserialize, Serialize};

use super::session::{CloseReason, Session, SessionState};
use super::tenant::Settings;

/// What a timer item watches: a session (D8), an agent gone offline with
/// sessions (A1), or a visitor who left its waiting session (B1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimerKind {
    Session,
    Agent,
    Visitor,
}

impl TimerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::Session => "session",
            TimerKind::Agent => "agent",
            TimerKind::Visitor => "visitor",
        }
    }
}

/// One timer: look at `subject` (a session, agent or visitor id) of
/// `tenant` at `due_at` (ms). A timer decides nothing by itself: when it
/// fires, the rules below are asked again of the subject as it is then, so
/// a timer that is stale, early or fired twice is harmless. What must never
/// happen is a subject that needs a timer having none: every write that
/// makes one due sets it in the same request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timer {
    pub tenant: String,
    pub kind: TimerKind,
    pub subject: String,
    pub due_at: i64,
}

impl Timer {
    pub fn new(tenant: &str, kind: TimerKind, subject: &str, due_at: i64) -> Self {
        Timer { tenant: tenant.to_string(), kind, subject: subject.to_string(), due_at }
    }

    /// The session timer `s` needs now, if any.
    pub fn for_session(s: &Session, settings: &Settings) -> Option<Timer> {
        next(s, settings).map(|(_, at)| Timer::new(&s.tenant, TimerKind::Session, &s.id, at))
    }
}

/// What a timer does when it comes due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// D8: T1 after the agent's last message, the visitor has not replied.
    Remind,
    /// D8: T2 after the reminder, still silent; or T3 with no message from
    /// either side.
    Close(CloseReason),
}

/// The next timer of `s`: what it will call for and when (ms), if anything.
/// Locked (D3), waiting and closed sessions have none.
pub fn next(s: &Session, settings: &Settings) -> Option<(Action, i64)> {
    if s.locked || s.state != SessionState::Active {
        return None;
    }
    let secs = |n: u32| i64::from(n) * 1000;
    // No message from either side for T3 (counting from the assignment).
    let last_message = [s.last_visitor_message_at, s.last_agent_message_at, s.assigned_at]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(s.created_at);
    let inactive = (Action::Close(CloseReason::Inactive), last_message + secs(settings.inactive_timeout_secs));
    // The agent spoke last: remind the visitor T1 later, close T2 after that.
    // Only the agent's messages since it was given the session count: after
    // a transfer or a requeue the new agent has not asked anything yet.
    let agent_spoke = s.last_agent_message_at.filter(|a| s.assigned_at.is_none_or(|at| *a >= at));
    let waiting_on_visitor = match (agent_spoke, s.last_visitor_message_at) {
        (Some(agent), Some(visitor)) => agent > visitor,
        (Some(_), None) => true,
        _ => false,
    };
    let visitor = waiting_on_visitor.then(|| {
        let agent = agent_spoke.unwrap_or_default();
        match s.reminded_at.filter(|r| *r >= agent) {
            Some(reminded) => {
                (Action::Close(CloseReason::VisitorTimeout), reminded + secs(settings.visitor_timeout_secs))
            }
            None => (Action::Remind, agent + secs(settings.visitor_reminder_secs)),
        }
    });
    [Some(inactive), visitor].into_iter().flatten().min_by_key(|(_, at)| *at)
}

/// The session timer of a session just given to an agent at `now_ms` (by
/// dispatch, pickup or a transfer): T3 from now, as `next` would say of it.
pub fn after_assign(tenant: &str, session_id: &str, settings: &Settings, now_ms: i64) -> Timer {
    let due = now_ms + i64::from(settings.inactive_timeout_secs) * 1000;
    Timer::new(tenant, TimerKind::Session, session_id, due)
}

/// The timer a closed connection sets for its owner (`Agent` or `Visitor`),
/// closed at `at_ms`: when an agent still offline has its sessions put back
/// in the queue, or a visitor still gone has its waiting session abandoned.
/// (Whether either happens is decided when it fires.)
pub fn after_disconnect(tenant: &str, kind: TimerKind, user: &str, at_ms: i64, settings: &Settings) -> Timer {
    let secs = match kind {
        TimerKind::Visitor => settings.abandon_after_secs,
        _ => settings.offline_requeue_secs,
    };
    Timer::new(tenant, kind, user, at_ms + i64::from(secs) * 1000)
}

/// When a user with these connections (id → expiry, ms) and this last
/// disconnect went offline, if it is offline at `now_ms`: its last
/// disconnect or its last connection's expiry, whichever is later, and
/// never before `floor` (for a visitor, when its session joined the queue).
pub fn offline_since(
    conns: &std::collections::BTreeMap<String, i64>,
    last_disconnect_at: Option<i64>,
    floor: i64,
    now_ms: i64,
) -> Option<i64> {
    if conns.values().any(|exp| *exp > now_ms) {
        return None;
    }
    let expired = conns.values().copied().max();
    Some([last_disconnect_at, expired, Some(floor)].into_iter().flatten().max().unwrap_or(floor))
}

/// What `s` calls for at `now_ms`: its next timer, if that is due.
pub fn due(s: &Session, settings: &Settings, now_ms: i64) -> Option<Action> {
    next(s, settings).filter(|(_, at)| *at <= now_ms).map(|(action, _)| action)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Visitor;

    const T0: i64 = 1_000_000;

    fn settings() -> Settings {
        Settings {
            visitor_reminder_secs: 60,
            visitor_timeout_secs: 120,
            inactive_timeout_secs: 600,
            ..Settings::default()
        }
    }

    fn active() -> Session {
        let v = Visitor::new("t", "v1", "web", 0);
        Session {
            state: SessionState::Active,
            agent_id: Some("a1".into()),
            assigned_at: Some(T0),
            ..Session::waiting("s1".into(), &v, "web".into(), None, T0)
        }
    }

    #[test]
    fn a_silent_visitor_is_reminded_after_t1_and_closed_t2_later() {
        let mut s = active();
        s.last_visitor_message_at = Some(T0 + 1_000);
        s.last_agent_message_at = Some(T0 + 2_000);
        assert_eq!(next(&s, &settings()), Some((Action::Remind, T0 + 62_000)));
        assert_eq!(due(&s, &settings(), T0 + 61_999), None);
        assert_eq!(due(&s, &settings(), T0 + 62_000), Some(Action::Remind));
        s.reminded_at = Some(T0 + 62_000);
        assert_eq!(next(&s, &settings()), Some((Action::Close(CloseReason::VisitorTimeout), T0 + 182_000)));
        assert_eq!(due(&s, &settings(), T0 + 182_000), Some(Action::Close(CloseReason::VisitorTimeout)));
    }

    #[test]
    fn a_visitor_reply_cancels_and_an_agent_message_resets() {
        let mut s = active();
        s.last_agent_message_at = Some(T0 + 2_000);
        s.reminded_at = Some(T0 + 62_000);
        // The visitor replied after the reminder: nothing for the visitor
        // timer, only inactivity from its reply.
        s.last_visitor_message_at = Some(T0 + 70_000);
        assert_eq!(next(&s, &settings()), Some((Action::Close(CloseReason::Inactive), T0 + 670_000)));
        assert_eq!(due(&s, &settings(), T0 + 182_000), None, "the timer set before the reply decides nothing");
        // The agent writes again: a new T1 from that message (the old reminder no longer counts).
        s.last_agent_message_at = Some(T0 + 80_000);
        assert_eq!(next(&s, &settings()), Some((Action::Remind, T0 + 140_000)));
    }

    #[test]
    fn silence_on_both_sides_closes_as_inactive_after_t3() {
        let s = active();
        assert_eq!(next(&s, &settings()), Some((Action::Close(CloseReason::Inactive), T0 + 600_000)));
        // Inactivity comes first when T3 is shorter than T1.
        let mut s = active();
        s.last_agent_message_at = Some(T0);
        let short = Settings { inactive_timeout_secs: 30, ..settings() };
        assert_eq!(next(&s, &short), Some((Action::Close(CloseReason::Inactive), T0 + 30_000)));
    }

    #[test]
    fn only_the_current_agent_s_messages_start_the_visitor_timer() {
        // The previous agent spoke last, then the session was transferred.
        let mut s = active();
        s.last_visitor_message_at = Some(T0 - 5_000);
        s.last_agent_message_at = Some(T0 - 1_000);
        assert_eq!(next(&s, &settings()), Some((Action::Close(CloseReason::Inactive), T0 + 600_000)));
        assert_eq!(Timer::for_session(&s, &settings()), Some(after_assign("t", "s1", &settings(), T0)));
        // The new agent asks something: T1 from its message.
        s.last_agent_message_at = Some(T0 + 1_000);
        assert_eq!(next(&s, &settings()), Some((Action::Remind, T0 + 61_000)));
    }

    #[test]
    fn locked_waiting_and_closed_sessions_have_no_timer() {
        let mut s = active();
        s.locked = true;
        assert_eq!(next(&s, &settings()), None);
        assert_eq!(due(&s, &settings(), i64::MAX), None);
        let mut s = active();
        s.state = SessionState::Waiting;
        assert_eq!(next(&s, &settings()), None);
        s.state = SessionState::Closed;
        assert_eq!(due(&s, &settings(), i64::MAX), None);
    }
}
