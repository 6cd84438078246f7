//! Storage, behind one small trait per capability; `dynamo` implements them
//! all on the single table (see `keys`).

pub mod attrs;
pub mod dynamo;
pub mod keys;
pub mod memory;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::auth::Role;
use crate::domain::stats::{AgentDay, StatsDay};
use crate::domain::timers::Timer;
use crate::domain::translation::Outgoing;
use crate::domain::{
    Agent, AgentStatus, AuditEntry, BlacklistEntry, CannedResponse, CloseReason, Content, Evaluation, Invitation,
    KnowledgeEntry, Message, ProfileChange, Sender, Session, Settings, SettingsChange, SkillGroup, StatusRequest, Tag,
    Tenant, Ticket, TicketStatus, Transfer, Visitor,
};
use crate::error::Result;

pub(crate) use dynamo::backoff;
pub use dynamo::DynamoStore;
pub use memory::MemoryStore;

#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Fails with `already_exists` if the id is taken.
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()>;
    async fn get_tenant(&self, id: &str) -> Result<Option<Tenant>>;
    /// F4: changes the settings `change` names, if the settings are still
    /// at `version` (`Tenant::settings_version`, which the change bumps):
    /// the tenant after, or `None` if they changed meanwhile (the caller
    /// reads and checks again, so two admins changing different settings at
    /// once both keep theirs). `tenant_not_found` if it does not exist.
    async fn update_settings(&self, id: &str, change: &SettingsChange, version: u64) -> Result<Option<Tenant>>;
    /// Spreads the tenant's ready list over `shards` (never fewer than it
    /// has).
    async fn split_ready_list(&self, id: &str, shards: u32) -> Result<()>;
}

/// What an update to an agent changes; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct AgentChange {
    pub nickname: Option<String>,
    pub real_name: Option<String>,
    pub role: Option<Role>,
    pub max_concurrent: Option<u32>,
    pub status: Option<AgentStatus>,
    pub groups: Option<Vec<String>>,
    pub disabled: Option<bool>,
    pub removed: Option<bool>,
    /// G1: `Some(None)` goes back to the tenant's language.
    pub language: Option<Option<String>>,
    /// Revokes every token the agent holds (`Agent::token_version` + 1).
    pub bump_token_version: bool,
}

#[async_trait]
pub trait AgentStore: Send + Sync {
    /// Creates the agent and counts it on its tenant (`Tenant::agent_count`).
    async fn create_agent(&self, agent: &Agent) -> Result<()>;
    async fn get_agent(&self, tenant: &str, id: &str) -> Result<Option<Agent>>;
    /// Several agents in one request (at most 100 ids; unknown ones are
    /// left out), read eventually consistently: for names, not capacity.
    async fn get_agents(&self, tenant: &str, ids: &[String]) -> Result<Vec<Agent>>;
    /// All of a tenant's agents, strongly consistent (the sweeper's drain
    /// reads this; a request's drain reads `ready_agents`).
    async fn list_agents(&self, tenant: &str) -> Result<Vec<Agent>>;
    /// B2: the first `per_shard` agents of each of the `shards` shards of
    /// the ready list (`keys::GSI6`), best first. Read eventually
    /// consistently: a listed agent may have changed since, and each
    /// assignment re-checks it.
    async fn ready_agents(&self, tenant: &str, shards: u32, per_shard: u32) -> Result<Ready>;
    /// Lists `agent` at `rank` in the ready list of `shards`, or takes it
    /// off (`None`), if its record is still at `agent.rev`: `false` if it
    /// changed meanwhile (and the newer record is for its next reader to
    /// list).
    async fn list_ready(&self, agent: &Agent, shards: u32, rank: Option<&str>) -> Result<bool>;
    /// `agent_not_found` if it does not exist.
    async fn update_agent(&self, tenant: &str, id: &str, change: &AgentChange) -> Result<Agent>;
}

#[async_trait]
pub trait GroupStore: Send + Sync {
    async fn create_group(&self, group: &SkillGroup) -> Result<()>;
    async fn get_group(&self, tenant: &str, id: &str) -> Result<Option<SkillGroup>>;
    async fn list_groups(&self, tenant: &str) -> Result<Vec<SkillGroup>>;
    /// `skill_group_not_found` if it does not exist.
    async fn rename_group(&self, tenant: &str, id: &str, name: &str) -> Result<SkillGroup>;
    /// `false` if it was gone already.
    async fn delete_group(&self, tenant: &str, id: &str) -> Result<bool>;
    /// The agent's groups become `after` if they are still `before` (two
    /// admins editing at once never lose one's change): the agent after, or
    /// `None` if they changed meanwhile. `agent_not_found` if it is gone.
    async fn set_agent_groups(
        &self,
        tenant: &str,
        agent_id: &str,
        before: &[String],
        after: &[String],
    ) -> Result<Option<Agent>>;
    /// A waiting session of a deleted group waits for anyone: its queue
    /// entry and session lose the group, in one write, if it still waits.
    async fn ungroup_waiting(&self, tenant: &str, entry: &QueueEntry) -> Result<bool>;
}

#[async_trait]
pub trait VisitorStore: Send + Sync {
    async fn create_visitor(&self, visitor: &Visitor) -> Result<()>;
    async fn get_visitor(&self, tenant: &str, id: &str) -> Result<Option<Visitor>>;
    /// A returning visitor: the names it gives replace the stored ones, and
    /// one that has never started a session is kept until `expires_at` anew.
    async fn resume_visitor(&self, tenant: &str, id: &str, resume: &VisitorResume<'_>) -> Result<()>;
    /// Several visitors in one request (at most 100 ids; unknown ones left out).
    async fn get_visitors(&self, tenant: &str, ids: &[String]) -> Result<Vec<Visitor>>;
    /// E1: applies `change` to the visitor read as `before`, in one write
    /// with its customer-list entries (`Visitor::directory_keys`). A
    /// visitor staff edit is a customer: its idle expiry goes. Fails with
    /// `try_again` if the searchable fields changed since `before` was read.
    async fn update_profile(&self, before: &Visitor, change: &ProfileChange) -> Result<Visitor>;
    /// E1: the ids of visitors with a name, nickname, phone or email
    /// starting with `prefix` (lower-cased), a page at a time.
    async fn search_visitors(
        &self,
        tenant: &str,
        prefix: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<String>>;
}

/// What a returning visitor changes on its record.
#[derive(Clone, Debug, Default)]
pub struct VisitorResume<'a> {
    pub name: Option<&'a str>,
    pub nickname: Option<&'a str>,
    /// The new idle deadline (epoch seconds) of a visitor that still has one.
    pub expires_at: i64,
}

/// A waiting session's place in its tenant's queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueEntry {
    pub session_id: String,
    #[serde(default)]
    pub group: Option<String>,
    pub queued_at: i64,
    pub channel: String,
    #[serde(default)]
    pub visitor_name: Option<String>,
    #[serde(default)]
    pub visitor_nickname: Option<String>,
    /// D5: it was transferred here; the agent who takes it sees it marked
    /// `transferred`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub transferred: bool,
    /// Its agent left it (went offline past the tenant's time, or was
    /// removed): it came back to the queue at its old place, history intact.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requeued: bool,
    /// The queue's shard it is in (`keys::session_shard`): where it was
    /// read, or its session's.
    #[serde(skip)]
    pub shard: u32,
}

impl QueueEntry {
    pub fn of(s: &Session) -> Self {
        QueueEntry {
            session_id: s.id.clone(),
            group: s.group.clone(),
            queued_at: s.queued_at,
            channel: s.channel.clone(),
            visitor_name: s.visitor_name.clone(),
            visitor_nickname: s.visitor_nickname.clone(),
            // A session waiting after a transfer to a group (D5).
            transferred: s.state == crate::domain::SessionState::Waiting
                && s.transfers.last().is_some_and(|t| t.to_group.is_some()),
            requeued: false,
            shard: keys::session_shard(&s.tenant, &s.id, s.open_coarse),
        }
    }

    /// The entry of an in-progress session going back to the queue: at its
    /// old place, in the group a transfer names.
    pub fn requeued(s: &Session, transfer: Option<&Transfer>) -> Self {
        match transfer.and_then(|t| t.to_group.clone()) {
            Some(group) => QueueEntry { group: Some(group), transferred: true, ..QueueEntry::of(s) },
            None => QueueEntry { requeued: true, ..QueueEntry::of(s) },
        }
    }
}

pub enum Opened {
    Created,
    /// The visitor already has this open session.
    Existing(String),
    /// A session opened for an agent (a callback): the agent is at the
    /// hard cap. Nothing was written.
    AgentAtCapacity,
}

/// What `AgentStore::ready_agents` read.
#[derive(Clone, Debug, Default)]
pub struct Ready {
    pub agents: Vec<Agent>,
    /// Some shard holds more agents than were read.
    pub more: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssignMode {
    /// B2: only to an idle agent below its own maximum (A3) and the hard
    /// cap; the assignment moves it to `rank_after` in the ready list (its
    /// place after one more session, as the drain saw it: if it saw an
    /// older record, the first drain to read the agent there lists it
    /// again).
    Auto { rank_after: String, shards: u32 },
    /// B4 pickup, callback, transfer-in: only the hard cap (A4) applies.
    Manual,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Assigned {
    Assigned,
    /// The agent's capacity or status no longer allowed it.
    AgentUnavailable,
    /// The session is no longer waiting (someone else took it, or it closed).
    SessionTaken,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Scope {
    Agent(String),
    Tenant,
    Visitor(String),
}

#[derive(Clone, Debug)]
pub struct SessionQuery {
    pub scope: Scope,
    pub open: bool,
    /// Lower-cased; matches visitor name or nickname.
    pub search: Option<String>,
    pub limit: u32,
    pub cursor: Option<String>,
    /// For `Scope::Tenant`: its shard count (`Tenant::ready_shards`; more
    /// than one, a large tenant's, whose sessions are read from
    /// `keys::OPEN_SHARDS` shards).
    pub shards: u32,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Creates the session and its queue entry (or, for one already
    /// active with an agent, a callback: the agent's count, under the hard
    /// cap), unless the visitor already has an open session; in the same write, the visitor becomes a
    /// customer: its idle expiry goes and `directory` (its searchable
    /// values, on its first session) enter the customer list. `timer` is
    /// set in the same write (a callback's session timer). A waiting
    /// session enters its tenant in the sweeper's record of waiting queues.
    /// A callback (active with its agent) counts as accepted on `day` (A5).
    /// It enters its tenant's open list: a large tenant's (`shards`, its
    /// `Tenant::ready_shards`, above one) is sharded, and its sessions move
    /// their places in it coarsely.
    async fn open_session(
        &self,
        session: &Session,
        shards: u32,
        directory: &[String],
        timer: Option<&Timer>,
        day: &StatsDay,
    ) -> Result<Opened>;
    async fn get_session(&self, tenant: &str, id: &str) -> Result<Option<Session>>;
    /// Atomically: the session leaves the queue for the agent, and the agent's
    /// in-progress count goes up, if both still allow it; its session timer
    /// (`timers::after_assign`) is set in the same write, and the agent's
    /// row for `day` counts it (A5: accepted, or transferred in for an
    /// entry that came from another agent).
    async fn assign(
        &self,
        tenant: &str,
        entry: &QueueEntry,
        agent_id: &str,
        mode: AssignMode,
        now_ms: i64,
        timer: &Timer,
        day: &StatsDay,
    ) -> Result<Assigned>;
    /// Atomically puts an in-progress session of `agent_id` back at its
    /// place in the queue (its history stays) and frees the agent's capacity.
    /// With a `transfer` to a group (D5), it waits in that group, and the
    /// transfer is recorded on it, and counted out of the agent's row for
    /// its day (A5). Its tenant enters the sweeper's record of waiting
    /// queues. `false` if it is no longer in progress with that agent.
    async fn requeue_session(
        &self,
        session: &Session,
        agent_id: &str,
        transfer: Option<(&Transfer, &StatsDay)>,
        now_ms: i64,
    ) -> Result<bool>;
    /// D4: atomically hands an in-progress session from agent `from` to
    /// agent `record.to_agent`, under the hard cap (A4: the same check as
    /// every manual assignment), freeing `from`'s capacity and recording
    /// the transfer, and setting the session's `timer` for its new agent;
    /// counted out of `from`'s row and into the receiver's for `day` (A5).
    /// `SessionTaken` if it is no longer `from`'s; `AgentUnavailable` if
    /// the receiver is at the cap or gone.
    async fn transfer_session(
        &self,
        session: &Session,
        from: &str,
        record: &Transfer,
        now_ms: i64,
        timer: &Timer,
        day: &StatsDay,
    ) -> Result<Assigned>;
    /// Atomically closes an open session and frees its agent's capacity,
    /// and enters it in D7's history under each of its tags and each of
    /// `visitor_tags` (its visitor's, as they are now); its timer goes; the
    /// agent who held it counts it ended on `day` (A5).
    /// `false` if it was already closed (close is idempotent). `Guard::AsRead`
    /// (a timer's close) closes only the session exactly as read: no message
    /// since, not locked, in the same state; otherwise `false` and nothing
    /// written, for the caller to decide again.
    async fn close_session(
        &self,
        session: &Session,
        reason: CloseReason,
        visitor_tags: &[String],
        now_ms: i64,
        guard: Guard,
        day: &StatsDay,
    ) -> Result<bool>;
    /// D7: closed sessions, newest closed first, from one index: `filter`
    /// picks it; `from`/`to` bound the close time (ms); `handled_by` keeps
    /// only sessions that agent handled.
    async fn search_history(&self, tenant: &str, q: &HistoryQuery) -> Result<Page<Session>>;
    /// Waiting sessions, oldest first, strongly consistent: `limit` of them
    /// from `cursor` (the queue is never read whole), merged over its
    /// shards (`keys::open_shards` of `shards`, its `Tenant::ready_shards`).
    async fn queue_page(&self, tenant: &str, shards: u32, limit: u32, cursor: Option<&str>)
        -> Result<Page<QueueEntry>>;
    /// How many sessions wait in shard `shard` of the queue, counting no
    /// further than `up_to`.
    async fn count_waiting(&self, tenant: &str, shard: u32, up_to: u32) -> Result<u32>;
    async fn list_sessions(&self, tenant: &str, query: &SessionQuery) -> Result<Page<Session>>;
    /// The upgrade to the open list (gsi7): the tenant's sessions still
    /// open in gsi2 (`keys::tenant_sessions(t, true)`, where open sessions
    /// were listed before it) move into it, placed at their latest
    /// activity; how many moved.
    async fn move_open_sessions(&self, tenant: &str, shards: u32) -> Result<u32>;
    /// C1: the agent has read everything up to `session.last_seq`: unread 0,
    /// `new` marker gone. `false` (nothing changed) when a message arrived
    /// since, which the agent has not seen: its unread count stands.
    async fn mark_read(&self, session: &Session) -> Result<bool>;
    /// D6: opens an invitation to rate (replacing an open one).
    async fn invite_evaluation(&self, session: &Session, invitation: &Invitation) -> Result<()>;
    /// D6: the answer to invitation `evaluation.invitation`, once: `false`
    /// if that invitation is no longer open (answered meanwhile).
    async fn record_evaluation(&self, session: &Session, evaluation: &Evaluation) -> Result<bool>;
    /// C6: counts one typing preview of the session in the one-second
    /// `window`; `false` (nothing counted) when it had `limit` already, or
    /// a newer window has opened (so no second delivers more than `limit`).
    async fn count_typing(&self, tenant: &str, session_id: &str, window: i64, limit: u32) -> Result<bool>;
    /// D3: locks or unlocks an open session, setting `timer` (an unlocked
    /// session's timers run again) in the same write; `false` if it is closed.
    async fn set_locked(&self, session: &Session, locked: bool, timer: Option<&Timer>) -> Result<bool>;
    /// G2: the open session's outgoing translation; `false` if it is closed.
    async fn set_outgoing_translation(&self, tenant: &str, id: &str, mode: &Outgoing) -> Result<bool>;
    /// D1: the session's tags and note become these; in the same write,
    /// each of `usage.added` counts once more for agent `usage.agent`.
    async fn set_tags(&self, session: &Session, tags: &[String], note: Option<&str>, usage: &TagUsage) -> Result<()>;
}

/// How sure a close must be of the session it read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guard {
    /// By hand: closes whatever happened since (retrying what it must).
    None,
    /// By a timer: only the session as read.
    AsRead,
}

/// D7: which index a history search reads.
#[derive(Clone, Debug, PartialEq)]
pub enum HistoryIndex {
    Tenant,
    Agent(String),
    Tag(String),
    VisitorTag(String),
}

#[derive(Clone, Debug)]
pub struct HistoryQuery {
    pub index: HistoryIndex,
    pub from: i64,
    pub to: i64,
    pub handled_by: Option<String>,
    pub limit: u32,
    pub cursor: Option<String>,
    /// For `HistoryIndex::Tenant`: its shard count (`Tenant::ready_shards`;
    /// a large tenant's closed sessions are read from `keys::OPEN_SHARDS`).
    pub shards: u32,
}

/// D1: who applied which tags newly, for the recommendation.
#[derive(Clone, Debug, Default)]
pub struct TagUsage {
    pub agent: String,
    pub added: Vec<String>,
}

/// What an update to a tag changes; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct TagChange {
    pub name: Option<String>,
    /// `Some(None)`: becomes a root.
    pub parent: Option<Option<String>>,
    pub deleted: Option<bool>,
}

#[async_trait]
pub trait BlacklistStore: Send + Sync {
    /// D9: adds the visitor to the blacklist and marks its record, in one
    /// write: `false` if it was on it already; `visitor_not_found`.
    async fn blacklist(&self, entry: &BlacklistEntry) -> Result<bool>;
    /// Takes it off again: `false` if it was not on it.
    async fn unblacklist(&self, tenant: &str, visitor_id: &str) -> Result<bool>;
    /// A page of the blacklist, by visitor id; `search` (lower-cased)
    /// matches names and reason. A page reads at most `limit` entries, so a
    /// search page may hold fewer: continue while there is a cursor.
    async fn list_blacklist(
        &self,
        tenant: &str,
        search: Option<&str>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<BlacklistEntry>>;
}

/// What an update to a ticket changes; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct TicketChange {
    pub title: Option<String>,
    pub description: Option<Option<String>>,
    pub status: Option<TicketStatus>,
    pub updated_at: i64,
}

#[async_trait]
pub trait TicketStore: Send + Sync {
    async fn create_ticket(&self, ticket: &Ticket) -> Result<()>;
    /// A visitor's tickets, newest first (at most `ticket::MAX_PER_VISITOR`).
    async fn list_tickets(&self, tenant: &str, visitor_id: &str) -> Result<Vec<Ticket>>;
    /// `ticket_not_found` if it does not exist.
    async fn update_ticket(&self, tenant: &str, visitor_id: &str, id: &str, change: &TicketChange) -> Result<Ticket>;
}

#[async_trait]
pub trait TagStore: Send + Sync {
    /// `tag_exists` if the id is taken.
    async fn create_tag(&self, tag: &Tag) -> Result<()>;
    /// The tenant's whole tree, deleted tags included (at most `tag::MAX_TAGS`).
    async fn list_tags(&self, tenant: &str) -> Result<Vec<Tag>>;
    /// Several tags in one request (at most 100 ids; unknown ones left out).
    async fn get_tags(&self, tenant: &str, ids: &[String]) -> Result<Vec<Tag>>;
    /// `tag_not_found` if it does not exist.
    async fn update_tag(&self, tenant: &str, id: &str, change: &TagChange) -> Result<Tag>;
    /// The tags `agent` applied most, most often first: at most `limit` ids.
    async fn most_used_tags(&self, tenant: &str, agent: &str, limit: u32) -> Result<Vec<String>>;
}

/// A message to append: who sends what, under which client id (C3), and
/// its translation (G1/G2), made before it is stored.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub sender: Sender,
    pub client_msg_id: String,
    pub content: Content,
    pub translation: Option<crate::domain::translation::Translation>,
}

impl NewMessage {
    pub fn new(sender: Sender, client_msg_id: &str, content: Content) -> Self {
        NewMessage { sender, client_msg_id: client_msg_id.to_string(), content, translation: None }
    }

    /// The message as stored at `seq`.
    pub fn at(&self, session_id: &str, seq: u64, now_ms: i64) -> Message {
        Message {
            session_id: session_id.to_string(),
            seq,
            client_msg_id: self.client_msg_id.clone(),
            sender: self.sender.clone(),
            content: self.content.clone(),
            created_at: now_ms,
            recalled_at: None,
            translation: self.translation.clone(),
        }
    }

    /// G1: the visitor's language, as its translated message was found in.
    pub fn visitor_language(&self) -> Option<&str> {
        match self.sender.kind {
            crate::domain::SenderKind::Visitor => self.translation.as_ref()?.source.as_deref(),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub enum Appended {
    /// Stored, and the session exactly as this append left it (no re-read
    /// needed to push it).
    New(Message, Box<Session>),
    /// The client message id was used before: here is that message.
    Duplicate(Message),
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// C3: gives the message the next sequence number, atomically with the
    /// session's counter, so messages become visible in sequence order; the
    /// same write checks `Session::check_sender` (`session_closed`,
    /// `not_assigned`), so a sender who lost the session cannot post in it,
    /// and (D8) sets the session's next timer under `settings`; (G1) a
    /// visitor's translated message sets the session's `visitorLanguage`.
    async fn append_message(
        &self,
        session: &Session,
        message: NewMessage,
        now_ms: i64,
        settings: &Settings,
    ) -> Result<Appended>;
    /// B5: as `append_message`, for a blacklisted visitor writing into one
    /// of its closed sessions (`Session::check_kept_sender`): the message
    /// is stored in order; nothing else of the session changes.
    async fn keep_message(&self, session: &Session, message: NewMessage, now_ms: i64) -> Result<Appended>;
    /// C3: what `sender` sent in the session under `client_msg_id`, if it
    /// did (before a costly step such as a translation, a resend's check).
    async fn sent_message(&self, session: &Session, sender: &Sender, client_msg_id: &str) -> Result<Option<Message>>;
    /// Messages with `seq > after`, oldest first, at most `limit`.
    async fn messages_after(&self, tenant: &str, session_id: &str, after: u64, limit: u32) -> Result<Vec<Message>>;
    async fn get_message(&self, tenant: &str, session_id: &str, seq: u64) -> Result<Option<Message>>;
    /// C4: the visitor's messages sent before `before_ms` (its earlier
    /// sessions), newest first, across sessions: one index query a page.
    async fn visitor_history(
        &self,
        tenant: &str,
        visitor_id: &str,
        before_ms: i64,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Message>>;
    /// C5: marks message `seq` recalled at `now_ms`, if it is agent `by`'s,
    /// was sent at or after `sent_since`, and is not recalled yet: all
    /// checked in the write. `false` if any of that no longer holds.
    async fn recall_message(
        &self,
        tenant: &str,
        session_id: &str,
        seq: u64,
        by: &str,
        sent_since: i64,
        now_ms: i64,
    ) -> Result<bool>;
}

/// One live WebSocket connection (H1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub id: String,
    pub tenant: String,
    pub role: Role,
    /// Agent id or visitor id.
    pub user_id: String,
    pub connected_at: i64,
    /// When API Gateway will have closed it at the latest (ms).
    pub expires_at_ms: i64,
}

impl Connection {
    pub fn owner(&self) -> Owner {
        Owner { tenant: self.tenant.clone(), role: self.role, user_id: self.user_id.clone() }
    }
}

/// What the rate limit made of one action.
#[derive(Clone, Debug, PartialEq)]
pub enum Admission {
    Admitted(Connection),
    Limited,
    Unknown,
}

/// Whose connections: an agent's or a visitor's (its record lists them).
#[derive(Clone, Debug, PartialEq)]
pub struct Owner {
    pub tenant: String,
    pub role: Role,
    /// Agent id or visitor id.
    pub user_id: String,
}

/// Which connection to remove, and when.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Removal {
    /// It closed (`$disconnect`): remove it whatever its age.
    Closed,
    /// A push found it gone: remove it only if it connected before this
    /// instant (ms). A younger one may still be inside its own `$connect`,
    /// which API Gateway answers `410 Gone` to while it is recorded already.
    GoneIfConnectedBefore(i64),
    /// TTL deleted it: it ended at its expiry, without a `$disconnect`, so
    /// no presence grace runs from now (its owner was not present since).
    Expired,
}

#[async_trait]
pub trait ConnectionStore: Send + Sync {
    async fn add_connection(&self, conn: &Connection) -> Result<()>;
    async fn get_connection(&self, id: &str, now_ms: i64) -> Result<Option<Connection>>;
    /// Counts one action of connection `id` in the one-second `window` and
    /// returns the connection, in one write (no read per frame):
    /// `Admitted(conn)`; `Limited` (nothing counted) when it already had
    /// `limit` actions in the window; `Unknown` when there is no such
    /// connection or it is past its expiry at `now_ms`.
    async fn admit_action(&self, id: &str, window: i64, limit: u32, now_ms: i64) -> Result<Admission>;
    /// Removes connection `id` of `owner` as `how` allows, setting the
    /// owner's `timer` (`timers::after_disconnect`) in the same write:
    /// `false` when it was kept (still connecting). Idempotent: removing one
    /// twice is fine.
    async fn remove_connection(
        &self,
        owner: &Owner,
        id: &str,
        how: Removal,
        now_ms: i64,
        timer: Option<&Timer>,
    ) -> Result<bool>;
}

/// A tenant in the sweeper's record of waiting queues.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitingTenant {
    pub tenant: String,
    /// When a session last joined its queue (ms).
    pub queued_at: i64,
}

/// Timers (D8 and the presence timers) and the sweeper's record of tenants
/// with waiting sessions.
#[async_trait]
pub trait TimerStore: Send + Sync {
    /// Shard `shard`'s timers due at `now_ms`, soonest first, a page at a time.
    async fn due_timers(&self, shard: u32, now_ms: i64, limit: u32, cursor: Option<&str>) -> Result<Page<Timer>>;
    /// After `fired` was handled: its subject's timer becomes `next` (or,
    /// `None`, goes), only if it is still `fired` or gone (TTL took it).
    /// `false`: a newer timer was set meanwhile, and it stands.
    async fn settle_timer(&self, fired: &Timer, next: Option<&Timer>) -> Result<bool>;
    /// D8: the session's visitor was reminded at `now_ms`: `remindedAt` is
    /// set and its next timer `next`, in one write, only while the session
    /// is as read (in progress, unlocked, no message since). `false`
    /// otherwise, and nothing written.
    async fn mark_reminded(&self, session: &Session, now_ms: i64, next: Option<&Timer>) -> Result<bool>;
    /// A page of shard `shard`'s record of tenants with waiting sessions.
    async fn waiting_tenants(&self, shard: u32, limit: u32, cursor: Option<&str>) -> Result<Page<WaitingTenant>>;
    /// Takes the tenant off the record, unless a session joined its queue
    /// after `seen.queued_at`.
    async fn clear_waiting(&self, seen: &WaitingTenant) -> Result<bool>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn record_audit(&self, entry: &AuditEntry) -> Result<()>;
    /// A tenant's audit trail, newest first.
    async fn list_audit(&self, tenant: &str, limit: u32, cursor: Option<&str>) -> Result<Page<AuditEntry>>;
}

/// F1: canned responses, each on its shelf (`owner`: an agent's own;
/// `None`: the tenant's), with the index entries its lookups read.
#[async_trait]
pub trait CannedStore: Send + Sync {
    /// Creates it, unless its shelf holds `max` already
    /// (`too_many_canned_responses`).
    async fn create_canned(&self, response: &CannedResponse, max: u32) -> Result<()>;
    async fn get_canned(&self, tenant: &str, owner: Option<&str>, id: &str) -> Result<Option<CannedResponse>>;
    /// Replaces `before` with `after` (same id and shelf; its version one
    /// more), if it is still at `before`'s version: `false` if it is not.
    async fn replace_canned(&self, before: &CannedResponse, after: &CannedResponse) -> Result<bool>;
    /// `false` if it was gone already.
    async fn delete_canned(&self, response: &CannedResponse) -> Result<bool>;
    /// A shelf by group, then text's index order; `group` only that group.
    async fn list_canned(
        &self,
        tenant: &str,
        owner: Option<&str>,
        group: Option<&str>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<CannedResponse>>;
    /// At most `limit` responses whose text (`canned::prefix_of`) starts
    /// with `prefix`, in text order.
    async fn canned_by_prefix(
        &self,
        tenant: &str,
        owner: Option<&str>,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<CannedResponse>>;
    /// At most `limit` responses with a keyword starting with `word`, in
    /// keyword order.
    async fn canned_by_keyword(
        &self,
        tenant: &str,
        owner: Option<&str>,
        word: &str,
        limit: u32,
    ) -> Result<Vec<CannedResponse>>;
}

/// A5: the per-agent, per-day rows the session writes count into.
#[async_trait]
pub trait StatsStore: Send + Sync {
    /// Every agent's row of the tenant's `day` that has one (expired rows
    /// read as absent).
    async fn day_stats(&self, tenant: &str, day: &str, now_ms: i64) -> Result<Vec<AgentDay>>;
    async fn agent_stats(&self, tenant: &str, day: &str, agent_id: &str, now_ms: i64) -> Result<Option<AgentDay>>;
    /// The agent, as read, came online at `now_ms`: its span starts, if
    /// none is open and its status and connections are still as read.
    async fn start_online(&self, agent: &Agent, now_ms: i64) -> Result<bool>;
    /// The agent, as read, went offline: its open span ends and its
    /// `pieces` (`stats::split_span`) are added to its rows, in one write,
    /// if the span and its status and connections are still as read.
    async fn end_online(&self, agent: &Agent, pieces: &[(StatsDay, i64)]) -> Result<bool>;
}

/// F2: the tenant's knowledge entries, on the tenant's knowledge shelf,
/// with the index entries its lookups read.
#[async_trait]
pub trait KnowledgeStore: Send + Sync {
    /// Creates it, unless the tenant keeps `max` already (`too_many_knowledge_entries`).
    async fn create_knowledge(&self, entry: &KnowledgeEntry, max: u32) -> Result<()>;
    async fn get_knowledge(&self, tenant: &str, id: &str) -> Result<Option<KnowledgeEntry>>;
    /// As `CannedStore::replace_canned`.
    async fn replace_knowledge(&self, before: &KnowledgeEntry, after: &KnowledgeEntry) -> Result<bool>;
    async fn delete_knowledge(&self, entry: &KnowledgeEntry) -> Result<bool>;
    /// Every entry, by title.
    async fn list_knowledge(&self, tenant: &str, limit: u32, cursor: Option<&str>) -> Result<Page<KnowledgeEntry>>;
    /// At most `limit` entries whose title (`canned::prefix_of`) starts with `prefix`.
    async fn knowledge_by_prefix(&self, tenant: &str, prefix: &str, limit: u32) -> Result<Vec<KnowledgeEntry>>;
    /// At most `limit` entries with a term (`KnowledgeEntry::terms`) starting with `word`.
    async fn knowledge_by_keyword(&self, tenant: &str, word: &str, limit: u32) -> Result<Vec<KnowledgeEntry>>;
}

/// A2: pending status-change requests, one per agent.
#[async_trait]
pub trait StatusRequestStore: Send + Sync {
    /// Puts it, replacing the agent's request before.
    async fn put_status_request(&self, request: &StatusRequest) -> Result<()>;
    /// The agent's pending request (an expired one is none).
    async fn get_status_request(&self, tenant: &str, agent_id: &str, now_ms: i64) -> Result<Option<StatusRequest>>;
    /// A tenant's pending requests, by agent id (expired ones left out).
    async fn list_status_requests(
        &self,
        tenant: &str,
        limit: u32,
        cursor: Option<&str>,
        now_ms: i64,
    ) -> Result<Page<StatusRequest>>;
    /// Removes request `request` (rejected, or withdrawn): `false` if the
    /// agent's request is no longer that one.
    async fn drop_status_request(&self, request: &StatusRequest) -> Result<bool>;
    /// Approves it: the request goes and the agent's status becomes the one
    /// requested, in one write, if the request is still that one and the
    /// agent still in the status it asked to leave. `false` otherwise.
    async fn approve_status_request(&self, request: &StatusRequest) -> Result<bool>;
}

pub trait Store:
    TenantStore
    + AgentStore
    + GroupStore
    + VisitorStore
    + SessionStore
    + MessageStore
    + ConnectionStore
    + AuditStore
    + TagStore
    + BlacklistStore
    + TicketStore
    + TimerStore
    + CannedStore
    + KnowledgeStore
    + StatsStore
    + StatusRequestStore
{
}

impl<T> Store for T where
    T: TenantStore
        + AgentStore
        + GroupStore
        + VisitorStore
        + SessionStore
        + MessageStore
        + ConnectionStore
        + AuditStore
        + TagStore
        + BlacklistStore
        + TicketStore
        + TimerStore
        + CannedStore
        + KnowledgeStore
        + StatsStore
        + StatusRequestStore
{
}
