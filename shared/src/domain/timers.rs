//! D8: the timeout rules, as pure functions of a session, the tenant's
//! settings and the time. Both timer paths (TTL expiry on the stream, and
//! the punctual sweeper) ask `due` what a session calls for *now*, from the
//! session as it is, so a timer set before a newer message, or one applied
//! twice, decides nothing: the apply is idempotent by construction.

use super::session::{CloseReason, Session, SessionState};
use super::tenant::Settings;

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
    let waiting_on_visitor = match (s.last_agent_message_at, s.last_visitor_message_at) {
        (Some(agent), Some(visitor)) => agent > visitor,
        (Some(_), None) => true,
        _ => false,
    };
    let visitor = waiting_on_visitor.then(|| {
        let agent = s.last_agent_message_at.unwrap_or_default();
        match s.reminded_at.filter(|r| *r >= agent) {
            Some(reminded) => {
                (Action::Close(CloseReason::VisitorTimeout), reminded + secs(settings.visitor_timeout_secs))
            }
            None => (Action::Remind, agent + secs(settings.visitor_reminder_secs)),
        }
    });
    [Some(inactive), visitor].into_iter().flatten().min_by_key(|(_, at)| *at)
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
