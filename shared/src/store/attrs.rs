//! The attribute names the DynamoDB store writes in update and condition
//! expressions, in one place, each beside the item type whose serde name it
//! is. Items are stored as serde serializes them (camelCase), so an
//! expression naming `lastSeq` only works while `Session::last_seq` is
//! serialized as `lastSeq`: the tests below serialize each type and fail if
//! a name here is not one of its fields, so renaming a field cannot silently
//! break a write.

/// `domain::Session`.
pub mod session {
    pub const STATE: &str = "state";
    pub const AGENT_ID: &str = "agentId";
    pub const HANDLERS: &str = "handlers";
    pub const MARKER: &str = "marker";
    pub const ASSIGNED_AT: &str = "assignedAt";
    pub const CLOSED_AT: &str = "closedAt";
    pub const CLOSE_REASON: &str = "closeReason";
    pub const LAST_SEQ: &str = "lastSeq";
    pub const LAST_ACTIVITY_AT: &str = "lastActivityAt";
    pub const LAST_MESSAGE: &str = "lastMessage";
    pub const LAST_VISITOR_MESSAGE_AT: &str = "lastVisitorMessageAt";
    pub const LAST_AGENT_MESSAGE_AT: &str = "lastAgentMessageAt";
    pub const REMINDED_AT: &str = "remindedAt";
    pub const UNREAD: &str = "unread";
    pub const GROUP: &str = "group";
    pub const TRANSFERS: &str = "transfers";
    pub const LOCKED: &str = "locked";
    pub const TAGS: &str = "tags";
    pub const TAGS_VERSION: &str = "tagsVersion";
    pub const NOTE: &str = "note";
    pub const EVALUATION_INVITATION: &str = "evaluationInvitation";
    pub const EVALUATION: &str = "evaluation";
    pub const VISITOR_LANGUAGE: &str = "visitorLanguage";
    pub const OUTGOING_TRANSLATION: &str = "outgoingTranslation";
}

/// `domain::timers::Timer`, and the store's own `tenant` of a waiting record.
pub mod timer {
    pub const DUE_AT: &str = "dueAt";
    /// A waiting record (`keys::waiting_tenant`): when a session last joined
    /// the queue.
    pub const QUEUED_AT: &str = "queuedAt";
}

/// `domain::Message`.
pub mod message {
    pub const SENDER: &str = "sender";
    /// Within `SENDER`.
    pub const SENDER_ID: &str = "id";
    pub const SENDER_KIND: &str = "kind";
    pub const CREATED_AT: &str = "createdAt";
    pub const RECALLED_AT: &str = "recalledAt";
}

/// `domain::Ticket`.
pub mod ticket {
    pub const TITLE: &str = "title";
    pub const DESCRIPTION: &str = "description";
    pub const STATUS: &str = "status";
    pub const UPDATED_AT: &str = "updatedAt";
}

/// A customer-list entry (E1): the store's own item.
pub mod directory {
    pub const VISITOR_ID: &str = "visitorId";
}

/// A history entry (D7): the store's own item.
pub mod history {
    pub const SESSION_ID: &str = "sessionId";
    pub const HANDLERS: &str = "handlers";
}

/// The typing-preview throttle (C6): the store's own item.
pub mod typing {
    pub const WINDOW: &str = "window";
    pub const COUNT: &str = "count";
}

/// `domain::stats::AgentDay`: a row's own fields (its counters are `Tally::counter`).
pub mod stats {
    pub const AGENT_ID: &str = "agentId";
    pub const DAY: &str = "day";
    pub const ONLINE_MS: &str = "onlineMs";
}

/// `domain::SkillGroup`.
pub mod group {
    pub const NAME: &str = "name";
}

/// `domain::Tag`.
pub mod tag {
    pub const NAME: &str = "name";
    pub const PARENT: &str = "parent";
    pub const DELETED: &str = "deleted";
}

/// `domain::Tenant`.
pub mod tenant {
    pub const SETTINGS: &str = "settings";
    pub const SETTINGS_VERSION: &str = "settingsVersion";
    pub const AGENT_COUNT: &str = "agentCount";
    pub const READY_SHARDS: &str = "readyShards";
}

/// `domain::Agent`.
pub mod agent {
    pub const NICKNAME: &str = "nickname";
    pub const REAL_NAME: &str = "realName";
    pub const ROLE: &str = "role";
    pub const STATUS: &str = "status";
    pub const MAX_CONCURRENT: &str = "maxConcurrent";
    pub const ACTIVE: &str = "active";
    pub const GROUPS: &str = "groups";
    pub const CONNS: &str = "conns";
    pub const LAST_DISCONNECT_AT: &str = "lastDisconnectAt";
    pub const LAST_ASSIGNED_AT: &str = "lastAssignedAt";
    pub const DISABLED: &str = "disabled";
    pub const TOKEN_VERSION: &str = "tokenVersion";
    pub const REMOVED: &str = "removed";
    pub const ONLINE_SINCE: &str = "onlineSince";
    pub const LANGUAGE: &str = "language";
    pub const REV: &str = "rev";
}

/// `domain::Visitor`.
pub mod visitor {
    pub const NAME: &str = "name";
    pub const NICKNAME: &str = "nickname";
    pub const ACTIVE_SESSION: &str = "activeSession";
    pub const BLACKLISTED: &str = "blacklisted";
    pub const PHONE: &str = "phone";
    pub const EMAIL: &str = "email";
    pub const COMPANY: &str = "company";
    pub const NOTES: &str = "notes";
    pub const CUSTOM: &str = "custom";
    pub const TAGS: &str = "tags";
    pub const CONNS: &str = "conns";
    pub const LAST_DISCONNECT_AT: &str = "lastDisconnectAt";
}

/// `store::Connection`.
pub mod connection {
    pub const CONNECTED_AT: &str = "connectedAt";
    /// Not fields of `Connection`: the rate limit's own attributes, which
    /// only the store reads and writes.
    pub const RATE_WINDOW: &str = "rateWindow";
    pub const RATE_COUNT: &str = "rateCount";
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use crate::auth::Role;
    use crate::domain::{Agent, CloseReason, Marker, Session, SessionState, Visitor};
    use crate::store::Connection;

    /// The top-level field names `value` is stored under.
    fn fields<T: Serialize>(value: &T) -> Vec<String> {
        match serde_json::to_value(value).unwrap() {
            serde_json::Value::Object(map) => map.keys().cloned().collect(),
            other => panic!("not an object: {other}"),
        }
    }

    fn assert_fields<T: Serialize>(value: &T, names: &[&str]) {
        let have = fields(value);
        for name in names {
            assert!(
                have.iter().any(|f| f == name),
                "{name:?} is not a field of {}: {have:?}",
                std::any::type_name::<T>()
            );
        }
    }

    #[test]
    fn every_session_attribute_is_a_session_field() {
        use super::session::*;
        let visitor = Visitor {
            name: Some("n".into()),
            nickname: Some("k".into()),
            active_session: Some("s".into()),
            conns: BTreeMap::from([("c".into(), 1)]),
            expires_at: Some(1),
            ..Visitor::new("t", "v", "web", 0)
        };
        let mut s = Session::waiting("s".into(), &visitor, "web".into(), None, 0);
        s.state = SessionState::Closed;
        s.agent_id = Some("a".into());
        s.marker = Some(Marker::New);
        s.assigned_at = Some(1);
        s.closed_at = Some(2);
        s.close_reason = Some(CloseReason::Agent);
        s.last_message = Some("m".into());
        s.last_visitor_message_at = Some(1);
        s.last_agent_message_at = Some(1);
        s.reminded_at = Some(1);
        assert_fields(
            &s,
            &[
                REMINDED_AT,
                STATE,
                AGENT_ID,
                HANDLERS,
                MARKER,
                ASSIGNED_AT,
                CLOSED_AT,
                CLOSE_REASON,
                LAST_SEQ,
                LAST_ACTIVITY_AT,
                LAST_MESSAGE,
                LAST_VISITOR_MESSAGE_AT,
                LAST_AGENT_MESSAGE_AT,
                UNREAD,
                GROUP,
                TRANSFERS,
                LOCKED,
                TAGS,
                TAGS_VERSION,
                NOTE,
                EVALUATION_INVITATION,
                EVALUATION,
            ],
        );
        use super::visitor::{ACTIVE_SESSION, CONNS, NAME, NICKNAME};
        assert_fields(&visitor, &[NAME, NICKNAME, ACTIVE_SESSION, CONNS]);
    }

    #[test]
    fn every_timer_attribute_is_a_timer_field() {
        use crate::domain::timers::{Timer, TimerKind};
        assert_fields(&Timer::new("t", TimerKind::Session, "s", 1), &[super::timer::DUE_AT]);
    }

    #[test]
    fn every_agent_and_connection_attribute_is_a_field() {
        use super::agent::*;
        let mut a = Agent::new("t", "a", "n", "r", Role::Agent, 5, 0);
        a.last_disconnect_at = Some(1);
        assert_fields(
            &a,
            &[
                NICKNAME,
                REAL_NAME,
                ROLE,
                STATUS,
                MAX_CONCURRENT,
                ACTIVE,
                GROUPS,
                CONNS,
                LAST_DISCONNECT_AT,
                LAST_ASSIGNED_AT,
                DISABLED,
                TOKEN_VERSION,
                REMOVED,
            ],
        );
        let c = Connection {
            id: "c".into(),
            tenant: "t".into(),
            role: Role::Agent,
            user_id: "a".into(),
            connected_at: 0,
            expires_at_ms: 1,
        };
        assert_fields(&c, &[super::connection::CONNECTED_AT]);
        let stored = fields(&c);
        for own in [super::connection::RATE_WINDOW, super::connection::RATE_COUNT] {
            assert!(!stored.iter().any(|f| f == own), "{own:?} would clash with a field of Connection");
        }
    }
}
