//! Kefu's rules, as plain data and functions: no I/O, and time is always a
//! parameter (`now_ms`), so every rule is unit-tested with any clock.

pub mod agent;
pub mod audit;
pub mod canned;
pub mod dispatch;
pub mod group;
pub mod ids;
pub mod knowledge;
pub mod message;
pub mod session;
pub mod stats;
pub mod tag;
pub mod tenant;
pub mod text;
pub mod ticket;
pub mod timers;
pub mod translation;
pub mod visitor;

pub use agent::{Agent, AgentStatus, StatusRequest};
pub use audit::{AuditAction, AuditEntry};
pub use canned::CannedResponse;
pub use group::SkillGroup;
pub use knowledge::KnowledgeEntry;
pub use message::{Content, Message, Sender, SenderKind};
pub use session::{CloseReason, Marker, Session, SessionState, Transfer, TransferTarget};
pub use session::{Evaluation, Invitation};
pub use tag::Tag;
pub use tenant::{Settings, SettingsChange, Tenant};
pub use ticket::{Ticket, TicketStatus};
pub use visitor::{BlacklistEntry, ProfileChange, Visitor};

/// For a field that may be sent as `null` to clear it
/// (`#[serde(default, deserialize_with = "crate::domain::present")]` on an
/// `Option<Option<T>>`): absent is `None`, `null` is `Some(None)`.
pub fn present<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Ok(Some(serde::Deserialize::deserialize(d)?))
}

/// Milliseconds since the epoch: the one clock every rule takes.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
}

/// A clock tests move by hand.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    pub fn at(ms: i64) -> Self {
        ManualClock(std::sync::atomic::AtomicI64::new(ms))
    }

    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}
