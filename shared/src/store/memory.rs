//! An in-memory implementation of every store trait, for unit tests of the
//! use cases: the same rules as the DynamoDB one (each conditional write and
//! transaction is one step under a lock, all or nothing), no I/O, so a use
//! case's test runs in microseconds.
//!
//! What it does not play: DynamoDB's index lag, its conflicts and lost
//! responses, and TTL (an expired item stays until read past its time, as
//! with late TTL deletion). The store tests and the local stack cover those.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::Guard;
use super::{
    Admission, AgentChange, AgentStore, Appended, AssignMode, Assigned, AuditStore, BlacklistStore, CannedStore,
    Connection, ConnectionStore, GroupStore, HistoryIndex, HistoryQuery, KnowledgeStore, MessageStore, NewMessage,
    Opened, Owner, Page, QueueEntry, Ready, Removal, Scope, SessionQuery, SessionStore, StatsStore, StatusRequestStore,
    TagChange, TagStore, TagUsage, TenantStore, TicketChange, TicketStore, TimerStore, VisitorResume, VisitorStore,
    WaitingTenant,
};
use crate::auth::Role;
use crate::domain::agent::HARD_CAP;
use crate::domain::message::{Message, Sender};
use crate::domain::stats::{AgentDay, StatsDay, Tally};
use crate::domain::timers::{Timer, TimerKind};
use crate::domain::translation::Outgoing;
use crate::domain::{
    Agent, AgentStatus, AuditEntry, BlacklistEntry, CannedResponse, CloseReason, Evaluation, Invitation,
    KnowledgeEntry, Marker, ProfileChange, Session, SessionState, Settings, SettingsChange, SkillGroup, StatusRequest,
    Tag, Tenant, Ticket, Transfer, Visitor,
};
use crate::error::{Error, Result};

type Id = (String, String); // (tenant, id)

#[derive(Default)]
struct State {
    tenants: BTreeMap<String, Tenant>,
    agents: BTreeMap<Id, Agent>,
    groups: BTreeMap<Id, SkillGroup>,
    visitors: BTreeMap<Id, Visitor>,
    sessions: HashMap<Id, Session>,
    /// (tenant, queued_at, session id): oldest first, as the queue partition.
    queue: BTreeMap<(String, i64, String), QueueEntry>,
    /// (tenant, session id, seq).
    messages: BTreeMap<(String, String, u64), Message>,
    /// (tenant, session id, sender id, client message id) → seq.
    client_ids: HashMap<(String, String, String, String), u64>,
    /// Connection and its rate-limit window (second, count).
    connections: HashMap<String, (Connection, Option<(i64, u32)>)>,
    audit: BTreeMap<(String, i64, String), AuditEntry>,
    tags: BTreeMap<Id, Tag>,
    /// (tenant, agent, tag) → how often the agent applied it.
    tag_uses: HashMap<(String, String, String), u64>,
    blacklist: BTreeMap<Id, BlacklistEntry>,
    /// (tenant, visitor, ticket id).
    tickets: BTreeMap<(String, String, String), Ticket>,
    /// The customer list: (tenant, lower-cased value, visitor id).
    directory: std::collections::BTreeSet<(String, String, String)>,
    /// D7's history entries: (tenant, "tag:g" | "visitor:g", closed at, session).
    history: std::collections::BTreeSet<(String, String, i64, String)>,
    /// (tenant, session) → typing-preview window (second, count).
    typing: HashMap<(String, String), (i64, u32)>,
    /// (tenant, kind, subject) → its timer.
    timers: BTreeMap<(String, TimerKind, String), Timer>,
    /// The sweeper's record of tenants with waiting sessions: tenant → queued at.
    waiting: BTreeMap<String, i64>,
    /// (shelf, id) → canned response.
    canned: BTreeMap<(String, String), CannedResponse>,
    /// A5: (tenant, day, agent) → its row.
    stats: BTreeMap<(String, String, String), AgentDay>,
    /// (tenant, id) → knowledge entry.
    knowledge: BTreeMap<Id, KnowledgeEntry>,
    /// (tenant, agent) → its pending status-change request.
    status_requests: BTreeMap<Id, StatusRequest>,
}

impl State {
    fn tally(&mut self, tenant: &str, agent: &str, day: &StatsDay, tally: Tally) {
        let row = self
            .stats
            .entry((tenant.to_string(), day.day.clone(), agent.to_string()))
            .or_insert_with(|| AgentDay { agent_id: agent.to_string(), day: day.day.clone(), ..AgentDay::default() });
        match tally {
            Tally::Accepted => row.accepted += 1,
            Tally::Ended => row.ended += 1,
            Tally::TransferredIn => row.transferred_in += 1,
            Tally::TransferredOut => row.transferred_out += 1,
        }
    }

    fn set_timer(&mut self, timer: &Timer) {
        self.timers.insert((timer.tenant.clone(), timer.kind, timer.subject.clone()), timer.clone());
    }
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

fn id(tenant: &str, id: &str) -> Id {
    (tenant.to_string(), id.to_string())
}

/// Puts a new record; `code` if one with the same key exists (as the
/// DynamoDB store's conditional put).
fn insert_new<K: Ord, V: Clone>(
    map: &mut BTreeMap<K, V>,
    key: K,
    value: &V,
    code: &'static str,
    what: &str,
) -> Result<()> {
    if map.contains_key(&key) {
        return Err(Error::conflict(code, format!("{what} already exists")));
    }
    map.insert(key, value.clone());
    Ok(())
}

/// Cursors: the list they belong to and an offset, opaque to clients.
fn cursor(list: &str, offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("{list}\n{offset}"))
}

fn offset(list: &str, cursor: Option<&str>) -> Result<usize> {
    let Some(c) = cursor else { return Ok(0) };
    let bad = || Error::invalid("invalid_cursor", "cursor is not valid for this list");
    let plain = String::from_utf8(URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?).map_err(|_| bad())?;
    match plain.split_once('\n') {
        Some((l, n)) if l == list => n.parse().map_err(|_| bad()),
        _ => Err(bad()),
    }
}

fn page<T: Clone>(list: &str, all: Vec<T>, limit: u32, from: Option<&str>) -> Result<Page<T>> {
    let start = offset(list, from)?;
    let end = (start + limit as usize).min(all.len());
    let items = all.get(start..end).unwrap_or_default().to_vec();
    Ok(Page { items, next_cursor: (end < all.len()).then(|| cursor(list, end)) })
}

#[async_trait]
impl TenantStore for MemoryStore {
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()> {
        self.with(|s| insert_new(&mut s.tenants, tenant.id.clone(), tenant, "tenant_exists", "tenant"))
    }

    async fn get_tenant(&self, tenant: &str) -> Result<Option<Tenant>> {
        Ok(self.with(|s| s.tenants.get(tenant).cloned()))
    }

    async fn update_settings(&self, tenant: &str, change: &SettingsChange, version: u64) -> Result<Option<Tenant>> {
        self.with(|s| {
            let t = s.tenants.get_mut(tenant).ok_or_else(|| Error::not_found("tenant"))?;
            if t.settings_version != version {
                return Ok(None);
            }
            t.settings = change.apply(&t.settings);
            t.settings_version += 1;
            Ok(Some(t.clone()))
        })
    }

    async fn split_ready_list(&self, tenant: &str, shards: u32) -> Result<()> {
        self.with(|s| {
            if let Some(t) = s.tenants.get_mut(tenant) {
                t.ready_shards = t.ready_shards.max(shards);
            }
            Ok(())
        })
    }
}

#[async_trait]
impl AgentStore for MemoryStore {
    async fn create_agent(&self, agent: &Agent) -> Result<()> {
        self.with(|s| {
            if !s.tenants.contains_key(&agent.tenant) {
                return Err(Error::not_found("tenant"));
            }
            insert_new(&mut s.agents, id(&agent.tenant, &agent.id), agent, "agent_exists", "agent")?;
            if let Some(t) = s.tenants.get_mut(&agent.tenant) {
                t.agent_count += 1;
            }
            Ok(())
        })
    }

    async fn get_agent(&self, tenant: &str, agent: &str) -> Result<Option<Agent>> {
        Ok(self.with(|s| s.agents.get(&id(tenant, agent)).cloned()))
    }

    async fn get_agents(&self, tenant: &str, ids: &[String]) -> Result<Vec<Agent>> {
        Ok(self.with(|s| ids.iter().filter_map(|a| s.agents.get(&id(tenant, a)).cloned()).collect()))
    }

    async fn list_agents(&self, tenant: &str) -> Result<Vec<Agent>> {
        Ok(self.with(|s| s.agents.values().filter(|a| a.tenant == tenant).cloned().collect()))
    }

    /// Every agent of the tenant, in the ready list's order where it has a
    /// place: this store's list is always current, and the drain checks
    /// each agent it reads whatever the store.
    async fn ready_agents(&self, tenant: &str, _shards: u32, _per_shard: u32) -> Result<Ready> {
        let mut agents = self.list_agents(tenant).await?;
        agents
            .sort_by(|a, b| a.ready_rank.is_none().cmp(&b.ready_rank.is_none()).then(a.ready_rank.cmp(&b.ready_rank)));
        Ok(Ready { agents, more: false })
    }

    async fn list_ready(&self, agent: &Agent, _shards: u32, rank: Option<&str>) -> Result<bool> {
        Ok(self.with(|s| match s.agents.get_mut(&id(&agent.tenant, &agent.id)) {
            Some(a) => {
                a.ready_rank = rank.map(str::to_string);
                true
            }
            None => false,
        }))
    }

    async fn update_agent(&self, tenant: &str, agent: &str, change: &AgentChange) -> Result<Agent> {
        self.with(|s| {
            let a = s.agents.get_mut(&id(tenant, agent)).ok_or_else(|| Error::not_found("agent"))?;
            if let Some(v) = &change.nickname {
                a.nickname = v.clone();
            }
            if let Some(v) = &change.real_name {
                a.real_name = v.clone();
            }
            if let Some(v) = change.role {
                a.role = v;
            }
            if let Some(v) = change.max_concurrent {
                a.max_concurrent = v;
            }
            if let Some(v) = change.status {
                a.status = v;
            }
            if let Some(v) = &change.groups {
                a.groups = v.clone();
            }
            if let Some(v) = change.disabled {
                a.disabled = v;
            }
            if let Some(v) = change.removed {
                a.removed = v;
            }
            if let Some(v) = &change.language {
                a.language = v.clone();
            }
            if change.bump_token_version {
                a.token_version += 1;
            }
            Ok(a.clone())
        })
    }
}

#[async_trait]
impl GroupStore for MemoryStore {
    async fn create_group(&self, group: &SkillGroup) -> Result<()> {
        self.with(|s| {
            insert_new(&mut s.groups, id(&group.tenant, &group.id), group, "skill_group_exists", "skill group")
        })
    }

    async fn get_group(&self, tenant: &str, group: &str) -> Result<Option<SkillGroup>> {
        Ok(self.with(|s| s.groups.get(&id(tenant, group)).cloned()))
    }

    async fn list_groups(&self, tenant: &str) -> Result<Vec<SkillGroup>> {
        Ok(self.with(|s| s.groups.values().filter(|g| g.tenant == tenant).cloned().collect()))
    }

    async fn rename_group(&self, tenant: &str, group: &str, name: &str) -> Result<SkillGroup> {
        self.with(|s| {
            let g = s.groups.get_mut(&id(tenant, group)).ok_or_else(|| Error::not_found("skill group"))?;
            g.name = name.to_string();
            Ok(g.clone())
        })
    }

    async fn delete_group(&self, tenant: &str, group: &str) -> Result<bool> {
        Ok(self.with(|s| s.groups.remove(&id(tenant, group)).is_some()))
    }

    async fn set_agent_groups(
        &self,
        tenant: &str,
        agent_id: &str,
        before: &[String],
        after: &[String],
    ) -> Result<Option<Agent>> {
        self.with(|s| {
            let a = s.agents.get_mut(&id(tenant, agent_id)).ok_or_else(|| Error::not_found("agent"))?;
            if a.groups != before {
                return Ok(None);
            }
            a.groups = after.to_vec();
            Ok(Some(a.clone()))
        })
    }

    async fn ungroup_waiting(&self, tenant: &str, entry: &QueueEntry) -> Result<bool> {
        Ok(self.with(|s| {
            let key = (tenant.to_string(), entry.queued_at, entry.session_id.clone());
            let waiting =
                s.sessions.get(&id(tenant, &entry.session_id)).is_some_and(|x| x.state == SessionState::Waiting);
            if !waiting || !s.queue.contains_key(&key) {
                return false;
            }
            if let Some(q) = s.queue.get_mut(&key) {
                q.group = None;
            }
            if let Some(x) = s.sessions.get_mut(&id(tenant, &entry.session_id)) {
                x.group = None;
            }
            true
        }))
    }
}

#[async_trait]
impl VisitorStore for MemoryStore {
    async fn get_visitors(&self, tenant: &str, ids: &[String]) -> Result<Vec<Visitor>> {
        Ok(self.with(|s| ids.iter().filter_map(|v| s.visitors.get(&id(tenant, v)).cloned()).collect()))
    }

    async fn update_profile(&self, before: &Visitor, change: &ProfileChange) -> Result<Visitor> {
        self.with(|s| {
            let (t, v) = (&before.tenant, &before.id);
            let current = s.visitors.get_mut(&id(t, v)).ok_or_else(|| Error::not_found("visitor"))?;
            if current.directory_keys() != before.directory_keys() {
                return Err(Error::conflict("try_again", "the visitor changed meanwhile; try again"));
            }
            let was_indexed = current.expires_at.is_none();
            let after = Visitor { expires_at: None, ..change.apply(current) };
            *current = after.clone();
            if was_indexed {
                for k in before.directory_keys() {
                    s.directory.remove(&(t.clone(), k, v.clone()));
                }
            }
            for k in after.directory_keys() {
                s.directory.insert((t.clone(), k, v.clone()));
            }
            Ok(after)
        })
    }

    async fn search_visitors(
        &self,
        tenant: &str,
        prefix: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<String>> {
        self.with(|s| {
            let mut ids: Vec<String> = Vec::new();
            for (_, _, v) in s.directory.iter().filter(|(t, value, _)| t == tenant && value.starts_with(prefix)) {
                if !ids.contains(v) {
                    ids.push(v.clone());
                }
            }
            page(&format!("directory:{tenant}:{prefix}"), ids, limit, cursor)
        })
    }

    async fn create_visitor(&self, visitor: &Visitor) -> Result<()> {
        self.with(|s| {
            insert_new(&mut s.visitors, id(&visitor.tenant, &visitor.id), visitor, "visitor_exists", "visitor")
        })
    }

    async fn get_visitor(&self, tenant: &str, visitor: &str) -> Result<Option<Visitor>> {
        Ok(self.with(|s| s.visitors.get(&id(tenant, visitor)).cloned()))
    }

    async fn resume_visitor(&self, tenant: &str, visitor: &str, resume: &VisitorResume<'_>) -> Result<()> {
        self.with(|s| {
            let v = s.visitors.get_mut(&id(tenant, visitor)).ok_or_else(|| Error::not_found("visitor"))?;
            if let Some(name) = resume.name {
                v.name = Some(name.to_string());
            }
            if let Some(nickname) = resume.nickname {
                v.nickname = Some(nickname.to_string());
            }
            if v.expires_at.is_some() {
                v.expires_at = Some(resume.expires_at);
            }
            Ok(())
        })
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn open_session(
        &self,
        session: &Session,
        _shards: u32,
        directory: &[String],
        timer: Option<&Timer>,
        day: &StatsDay,
    ) -> Result<Opened> {
        self.with(|s| {
            let v = s
                .visitors
                .get_mut(&id(&session.tenant, &session.visitor_id))
                .ok_or_else(|| Error::not_found("visitor"))?;
            if let Some(existing) = &v.active_session {
                return Ok(Opened::Existing(existing.clone()));
            }
            if v.blacklisted {
                return Err(crate::domain::visitor::blacklisted());
            }
            if let (SessionState::Active, Some(agent)) = (&session.state, &session.agent_id) {
                if !take_capacity(s, &session.tenant, agent, AssignMode::Manual, session.created_at) {
                    return Ok(Opened::AgentAtCapacity);
                }
                s.tally(&session.tenant, agent, day, Tally::Accepted);
            }
            let v = s.visitors.get_mut(&id(&session.tenant, &session.visitor_id)).expect("read above");
            v.active_session = Some(session.id.clone());
            v.expires_at = None;
            for value in directory {
                s.directory.insert((session.tenant.clone(), value.clone(), session.visitor_id.clone()));
            }
            s.sessions.insert(id(&session.tenant, &session.id), session.clone());
            if session.state == SessionState::Waiting {
                s.queue
                    .insert((session.tenant.clone(), session.queued_at, session.id.clone()), QueueEntry::of(session));
                s.waiting.insert(session.tenant.clone(), session.queued_at);
            }
            if let Some(timer) = timer {
                s.set_timer(timer);
            }
            Ok(Opened::Created)
        })
    }

    async fn get_session(&self, tenant: &str, session: &str) -> Result<Option<Session>> {
        Ok(self.with(|s| s.sessions.get(&id(tenant, session)).cloned()))
    }

    async fn assign(
        &self,
        t: &str,
        entry: &QueueEntry,
        agent_id: &str,
        mode: AssignMode,
        now_ms: i64,
        timer: &Timer,
        day: &StatsDay,
    ) -> Result<Assigned> {
        self.with(|s| {
            let waiting = s.sessions.get(&id(t, &entry.session_id)).is_some_and(|x| x.state == SessionState::Waiting);
            if !waiting {
                return Ok(Assigned::SessionTaken);
            }
            if !take_capacity(s, t, agent_id, mode, now_ms) {
                return Ok(Assigned::AgentUnavailable);
            }
            let session = s.sessions.get_mut(&id(t, &entry.session_id)).expect("checked above");
            session.state = SessionState::Active;
            session.agent_id = Some(agent_id.to_string());
            session.assigned_at = Some(now_ms);
            session.marker = Some(if entry.transferred { Marker::Transferred } else { Marker::New });
            session.last_activity_at = now_ms;
            session.handlers.push(agent_id.to_string());
            s.queue.remove(&(t.to_string(), entry.queued_at, entry.session_id.clone()));
            s.set_timer(timer);
            s.tally(t, agent_id, day, Tally::for_assignment(entry.transferred || entry.requeued));
            Ok(Assigned::Assigned)
        })
    }

    async fn requeue_session(
        &self,
        session: &Session,
        agent_id: &str,
        transfer: Option<(&Transfer, &StatsDay)>,
        now_ms: i64,
    ) -> Result<bool> {
        let (transfer, day) = (transfer.map(|(r, _)| r), transfer.map(|(_, d)| d));
        self.with(|s| {
            let (t, sid) = (&session.tenant, &session.id);
            let key = (t.clone(), session.queued_at, sid.clone());
            let entry = QueueEntry::requeued(session, transfer);
            let held = s
                .sessions
                .get(&id(t, sid))
                .is_some_and(|x| x.state == SessionState::Active && x.agent_id.as_deref() == Some(agent_id));
            let counted = s.agents.get(&id(t, agent_id)).is_some_and(|a| a.active > 0);
            if !held || !counted || s.queue.contains_key(&key) {
                return Ok(false);
            }
            let x = s.sessions.get_mut(&id(t, sid)).expect("checked above");
            x.state = SessionState::Waiting;
            x.last_activity_at = now_ms;
            x.agent_id = None;
            x.marker = None;
            if let Some(record) = transfer {
                x.group = entry.group.clone();
                x.transfers.push(record.clone());
            }
            s.queue.insert(key, entry);
            s.waiting.insert(t.clone(), session.queued_at);
            s.agents.get_mut(&id(t, agent_id)).expect("checked above").active -= 1;
            if let Some(day) = day {
                s.tally(t, agent_id, day, Tally::TransferredOut);
            }
            Ok(true)
        })
    }

    async fn transfer_session(
        &self,
        session: &Session,
        from: &str,
        record: &Transfer,
        now_ms: i64,
        timer: &Timer,
        day: &StatsDay,
    ) -> Result<Assigned> {
        self.with(|s| {
            let (t, sid) = (&session.tenant, &session.id);
            let to = record.to_agent.clone().ok_or_else(|| Error::Internal("transfer_session: no agent".into()))?;
            let held = s
                .sessions
                .get(&id(t, sid))
                .is_some_and(|x| x.state == SessionState::Active && x.agent_id.as_deref() == Some(from));
            if !held {
                return Ok(Assigned::SessionTaken);
            }
            if s.agents.get(&id(t, from)).is_none_or(|a| a.active == 0) {
                return Err(Error::Internal(format!("agent {from} held a session at an in-progress count of 0")));
            }
            if !take_capacity(s, t, &to, AssignMode::Manual, now_ms) {
                return Ok(Assigned::AgentUnavailable);
            }
            s.agents.get_mut(&id(t, from)).expect("checked above").active -= 1;
            let x = s.sessions.get_mut(&id(t, sid)).expect("checked above");
            x.agent_id = Some(to.clone());
            x.assigned_at = Some(now_ms);
            x.marker = Some(Marker::Transferred);
            x.last_activity_at = now_ms;
            x.handlers.push(to.clone());
            x.transfers.push(record.clone());
            s.set_timer(timer);
            s.tally(t, from, day, Tally::TransferredOut);
            s.tally(t, &to, day, Tally::TransferredIn);
            Ok(Assigned::Assigned)
        })
    }

    async fn close_session(
        &self,
        session: &Session,
        reason: CloseReason,
        visitor_tags: &[String],
        now_ms: i64,
        guard: Guard,
        day: &StatsDay,
    ) -> Result<bool> {
        self.with(|s| {
            let (t, sid) = (&session.tenant, &session.id);
            let Some(x) = s.sessions.get_mut(&id(t, sid)) else { return Err(Error::not_found("session")) };
            if x.state == SessionState::Closed {
                return Ok(false);
            }
            let as_read = x.state == session.state && x.last_seq == session.last_seq && !x.locked;
            if guard == Guard::AsRead && !as_read {
                return Ok(false);
            }
            let was = x.state;
            x.state = SessionState::Closed;
            x.closed_at = Some(now_ms);
            x.close_reason = Some(reason);
            x.marker = None;
            let (visitor, agent, queued_at) = (x.visitor_id.clone(), x.agent_id.clone(), x.queued_at);
            for tag in x.tags.clone() {
                s.history.insert((t.clone(), format!("tag:{tag}"), now_ms, sid.clone()));
            }
            for tag in visitor_tags {
                s.history.insert((t.clone(), format!("visitor:{tag}"), now_ms, sid.clone()));
            }
            if let Some(v) = s.visitors.get_mut(&id(t, &visitor)) {
                v.active_session = None;
            }
            s.timers.remove(&(t.clone(), TimerKind::Session, sid.clone()));
            match (was, agent) {
                (SessionState::Active, Some(a)) => {
                    // As in DynamoDB: a count already at 0 stays there; the session still closes.
                    if let Some(agent) = s.agents.get_mut(&id(t, &a)).filter(|a| a.active > 0) {
                        agent.active -= 1;
                    }
                    s.tally(t, &a, day, Tally::Ended);
                }
                (SessionState::Waiting, _) => {
                    s.queue.remove(&(t.clone(), queued_at, sid.clone()));
                }
                _ => {}
            }
            Ok(true)
        })
    }

    async fn search_history(&self, tenant: &str, q: &HistoryQuery) -> Result<Page<Session>> {
        let found: Vec<Session> = self.with(|s| {
            let mut ids: Vec<(i64, String)> = match &q.index {
                HistoryIndex::Tag(g) | HistoryIndex::VisitorTag(g) => {
                    let list = match q.index {
                        HistoryIndex::Tag(_) => format!("tag:{g}"),
                        _ => format!("visitor:{g}"),
                    };
                    s.history
                        .iter()
                        .filter(|(t, l, _, _)| t == tenant && *l == list)
                        .map(|(_, _, at, sid)| (*at, sid.clone()))
                        .collect()
                }
                HistoryIndex::Tenant | HistoryIndex::Agent(_) => s
                    .sessions
                    .values()
                    .filter(|x| x.tenant == tenant && x.state == SessionState::Closed)
                    .filter(|x| match &q.index {
                        HistoryIndex::Agent(a) => x.agent_id.as_ref() == Some(a),
                        _ => true,
                    })
                    .map(|x| (x.closed_at.unwrap_or_default(), x.id.clone()))
                    .collect(),
            };
            ids.sort_by(|a, b| b.cmp(a));
            ids.into_iter()
                .filter(|(at, _)| (q.from..=q.to).contains(at))
                .filter_map(|(_, sid)| s.sessions.get(&id(tenant, &sid)).cloned())
                .filter(|x| q.handled_by.as_ref().is_none_or(|a| x.handlers.contains(a)))
                .collect()
        });
        page(&format!("history/{tenant}/{:?}/{}/{}", q.index, q.from, q.to), found, q.limit, q.cursor.as_deref())
    }

    // One queue per tenant: its shards are the table's concern.
    async fn queue_page(&self, tenant: &str, _shards: u32, limit: u32, from: Option<&str>) -> Result<Page<QueueEntry>> {
        let all = self.with(|s| s.queue.iter().filter(|((t, _, _), _)| t == tenant).map(|(_, e)| e.clone()).collect());
        page(&format!("queue/{tenant}"), all, limit, from)
    }

    async fn count_waiting(&self, tenant: &str, _shard: u32, up_to: u32) -> Result<u32> {
        Ok(self.with(|s| s.queue.keys().filter(|(t, _, _)| t == tenant).take(up_to as usize).count() as u32))
    }

    async fn move_open_sessions(&self, _tenant: &str, _shards: u32) -> Result<u32> {
        Ok(0) // its lists are computed, never indexed
    }

    async fn list_sessions(&self, tenant: &str, q: &SessionQuery) -> Result<Page<Session>> {
        let (list, mut all): (String, Vec<(i64, Session)>) = self.with(|s| {
            let mine = |x: &Session| match &q.scope {
                // An agent's lists hold what it has now (open) or had when it closed.
                Scope::Agent(a) => {
                    x.agent_id.as_deref() == Some(a.as_str())
                        && if q.open { x.state == SessionState::Active } else { x.state == SessionState::Closed }
                }
                Scope::Tenant | Scope::Visitor(_) => (x.state != SessionState::Closed) == q.open,
            } && match &q.scope {
                Scope::Visitor(v) => &x.visitor_id == v,
                _ => true,
            };
            let list = format!("sessions/{tenant}/{:?}/{}/{:?}", q.scope, q.open, q.search);
            let found = s
                .sessions
                .values()
                .filter(|x| x.tenant == tenant && mine(x))
                .filter(|x| q.search.as_ref().is_none_or(|text| x.search_text().contains(text.as_str())))
                .map(|x| {
                    // The order of the index each list is read from, newest first.
                    let at = match (&q.scope, x.closed_at) {
                        (Scope::Visitor(_), _) => x.created_at,
                        (_, Some(closed)) if !q.open => closed,
                        _ => x.last_activity_at,
                    };
                    (at, x.clone())
                })
                .collect();
            (list, found)
        });
        all.sort_by(|(a, x), (b, y)| b.cmp(a).then_with(|| y.id.cmp(&x.id)));
        page(&list, all.into_iter().map(|(_, x)| x).collect(), q.limit, q.cursor.as_deref())
    }

    async fn mark_read(&self, session: &Session) -> Result<bool> {
        self.with(|s| match s.sessions.get_mut(&id(&session.tenant, &session.id)) {
            Some(x) if x.last_seq == session.last_seq => {
                x.unread = 0;
                x.marker = None;
                Ok(true)
            }
            _ => Ok(false),
        })
    }

    async fn set_tags(&self, session: &Session, tags: &[String], note: Option<&str>, usage: &TagUsage) -> Result<()> {
        self.with(|s| {
            let t = &session.tenant;
            let x = s.sessions.get_mut(&id(t, &session.id)).ok_or_else(|| Error::not_found("session"))?;
            if x.state != session.state {
                return Err(Error::conflict("try_again", "the session changed meanwhile; try again"));
            }
            if let (SessionState::Closed, Some(at)) = (x.state, x.closed_at) {
                for gone in x.tags.iter().filter(|g| !tags.contains(g)) {
                    s.history.remove(&(t.clone(), format!("tag:{gone}"), at, session.id.clone()));
                }
                for added in tags.iter().filter(|g| !x.tags.contains(g)) {
                    s.history.insert((t.clone(), format!("tag:{added}"), at, session.id.clone()));
                }
            }
            x.tags_version += 1;
            x.tags = tags.to_vec();
            x.note = note.map(str::to_string);
            for tag in &usage.added {
                *s.tag_uses.entry((t.clone(), usage.agent.clone(), tag.clone())).or_default() += 1;
            }
            Ok(())
        })
    }

    async fn invite_evaluation(&self, session: &Session, invitation: &Invitation) -> Result<()> {
        self.with(|s| {
            let x = s.sessions.get_mut(&id(&session.tenant, &session.id)).ok_or_else(|| Error::not_found("session"))?;
            x.evaluation_invitation = Some(invitation.clone());
            Ok(())
        })
    }

    async fn record_evaluation(&self, session: &Session, evaluation: &Evaluation) -> Result<bool> {
        self.with(|s| match s.sessions.get_mut(&id(&session.tenant, &session.id)) {
            Some(x) if x.evaluation_invitation.as_ref().is_some_and(|i| i.id == evaluation.invitation) => {
                x.evaluation = Some(evaluation.clone());
                x.evaluation_invitation = None;
                Ok(true)
            }
            _ => Ok(false),
        })
    }

    async fn count_typing(&self, tenant: &str, session_id: &str, window: i64, limit: u32) -> Result<bool> {
        self.with(|s| {
            let slot = s.typing.entry((tenant.to_string(), session_id.to_string())).or_insert((window, 0));
            if slot.0 < window {
                *slot = (window, 0);
            }
            // As the DynamoDB store: a preview late for a newer window is dropped.
            if slot.0 > window || slot.1 >= limit {
                return Ok(false);
            }
            slot.1 += 1;
            Ok(true)
        })
    }

    async fn set_locked(&self, session: &Session, locked: bool, timer: Option<&Timer>) -> Result<bool> {
        self.with(|s| match s.sessions.get_mut(&id(&session.tenant, &session.id)) {
            Some(x) if x.state != SessionState::Closed => {
                x.locked = locked;
                if let Some(timer) = timer {
                    s.set_timer(timer);
                }
                Ok(true)
            }
            _ => Ok(false),
        })
    }

    async fn set_outgoing_translation(&self, tenant: &str, session: &str, mode: &Outgoing) -> Result<bool> {
        self.with(|s| match s.sessions.get_mut(&id(tenant, session)) {
            Some(x) if x.state != SessionState::Closed => {
                x.outgoing_translation = mode.clone();
                Ok(true)
            }
            _ => Ok(false),
        })
    }
}

#[async_trait]
impl MessageStore for MemoryStore {
    async fn visitor_history(
        &self,
        tenant: &str,
        visitor_id: &str,
        before_ms: i64,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Message>> {
        self.with(|s| {
            let sessions: std::collections::HashSet<&String> = s
                .sessions
                .values()
                .filter(|x| x.tenant == tenant && x.visitor_id == visitor_id)
                .map(|x| &x.id)
                .collect();
            let mut all: Vec<Message> = s
                .messages
                .iter()
                .filter(|((t, sid, _), m)| t == tenant && sessions.contains(sid) && m.created_at < before_ms)
                .map(|(_, m)| m.clone())
                .collect();
            all.sort_by(|a, b| (b.created_at, &b.session_id, b.seq).cmp(&(a.created_at, &a.session_id, a.seq)));
            page(&format!("history:{tenant}:{visitor_id}:{before_ms}"), all, limit, cursor)
        })
    }

    async fn get_message(&self, tenant: &str, session_id: &str, seq: u64) -> Result<Option<Message>> {
        Ok(self.with(|s| s.messages.get(&(tenant.to_string(), session_id.to_string(), seq)).cloned()))
    }

    async fn recall_message(
        &self,
        tenant: &str,
        session_id: &str,
        seq: u64,
        by: &str,
        sent_since: i64,
        now_ms: i64,
    ) -> Result<bool> {
        self.with(|s| match s.messages.get_mut(&(tenant.to_string(), session_id.to_string(), seq)) {
            Some(m)
                if m.sender.kind == crate::domain::SenderKind::Agent
                    && m.sender.id == by
                    && m.created_at >= sent_since
                    && m.recalled_at.is_none() =>
            {
                m.recalled_at = Some(now_ms);
                Ok(true)
            }
            _ => Ok(false),
        })
    }

    async fn append_message(
        &self,
        session: &Session,
        message: NewMessage,
        now_ms: i64,
        settings: &Settings,
    ) -> Result<Appended> {
        self.append(session, message, now_ms, Some(settings))
    }

    async fn keep_message(&self, session: &Session, message: NewMessage, now_ms: i64) -> Result<Appended> {
        self.append(session, message, now_ms, None)
    }

    async fn sent_message(&self, session: &Session, sender: &Sender, client_msg_id: &str) -> Result<Option<Message>> {
        let (t, sid) = (&session.tenant, &session.id);
        Ok(self.with(|s| {
            let seq = s.client_ids.get(&(t.clone(), sid.clone(), sender.id.clone(), client_msg_id.to_string()))?;
            s.messages.get(&(t.clone(), sid.clone(), *seq)).cloned()
        }))
    }

    async fn messages_after(&self, tenant: &str, session: &str, after: u64, limit: u32) -> Result<Vec<Message>> {
        Ok(self.with(|s| {
            s.messages
                .range(
                    (tenant.to_string(), session.to_string(), after + 1)
                        ..=(tenant.to_string(), session.to_string(), u64::MAX),
                )
                .take(limit as usize)
                .map(|(_, m)| m.clone())
                .collect()
        }))
    }
}

fn owner_conns<'a>(s: &'a mut State, owner: &Owner) -> Option<&'a mut BTreeMap<String, i64>> {
    match owner.role {
        Role::Visitor => s.visitors.get_mut(&id(&owner.tenant, &owner.user_id)).map(|v| &mut v.conns),
        Role::Agent | Role::Admin => s.agents.get_mut(&id(&owner.tenant, &owner.user_id)).map(|a| &mut a.conns),
    }
}

#[async_trait]
impl ConnectionStore for MemoryStore {
    async fn add_connection(&self, conn: &Connection) -> Result<()> {
        self.with(|s| {
            let conns = owner_conns(s, &conn.owner())
                .ok_or_else(|| Error::unauthorized("the token's user no longer exists"))?;
            conns.insert(conn.id.clone(), conn.expires_at_ms);
            s.connections.insert(conn.id.clone(), (conn.clone(), None));
            Ok(())
        })
    }

    async fn get_connection(&self, conn: &str, now_ms: i64) -> Result<Option<Connection>> {
        Ok(self.with(|s| s.connections.get(conn).map(|(c, _)| c.clone()).filter(|c| c.expires_at_ms > now_ms)))
    }

    async fn admit_action(&self, conn: &str, window: i64, limit: u32, now_ms: i64) -> Result<Admission> {
        Ok(self.with(|s| {
            let Some((c, rate)) = s.connections.get_mut(conn) else { return Admission::Unknown };
            if c.expires_at_ms <= now_ms {
                return Admission::Unknown;
            }
            // As the DynamoDB counter: a frame stamped before a newer window
            // opened counts in that window.
            match rate {
                Some((w, n)) if *w >= window => {
                    if *n >= limit {
                        return Admission::Limited;
                    }
                    *n += 1;
                }
                _ => *rate = Some((window, 1)),
            }
            Admission::Admitted(c.clone())
        }))
    }

    async fn remove_connection(
        &self,
        owner: &Owner,
        conn: &str,
        how: Removal,
        now_ms: i64,
        timer: Option<&Timer>,
    ) -> Result<bool> {
        Ok(self.with(|s| {
            if let (Removal::GoneIfConnectedBefore(cutoff), Some((c, _))) = (how, s.connections.get(conn)) {
                if c.connected_at >= cutoff {
                    return false;
                }
            }
            s.connections.remove(conn);
            if let Some(conns) = owner_conns(s, owner) {
                conns.remove(conn);
            }
            if how != Removal::Expired {
                let key = id(&owner.tenant, &owner.user_id);
                if owner.role.is_staff() {
                    if let Some(a) = s.agents.get_mut(&key) {
                        a.last_disconnect_at = Some(now_ms);
                    }
                } else if let Some(v) = s.visitors.get_mut(&key) {
                    v.last_disconnect_at = Some(now_ms);
                }
            }
            if let Some(timer) = timer {
                s.set_timer(timer);
            }
            true
        }))
    }
}

#[async_trait]
impl AuditStore for MemoryStore {
    async fn record_audit(&self, entry: &AuditEntry) -> Result<()> {
        self.with(|s| s.audit.insert((entry.tenant.clone(), entry.at, entry.id.clone()), entry.clone()));
        Ok(())
    }

    async fn list_audit(&self, tenant: &str, limit: u32, from: Option<&str>) -> Result<Page<AuditEntry>> {
        let all =
            self.with(|s| s.audit.iter().rev().filter(|((t, _, _), _)| t == tenant).map(|(_, e)| e.clone()).collect());
        page(&format!("audit/{tenant}"), all, limit, from)
    }
}

#[async_trait]
impl BlacklistStore for MemoryStore {
    async fn blacklist(&self, entry: &BlacklistEntry) -> Result<bool> {
        self.with(|s| {
            let v =
                s.visitors.get_mut(&id(&entry.tenant, &entry.visitor_id)).ok_or_else(|| Error::not_found("visitor"))?;
            let key = id(&entry.tenant, &entry.visitor_id);
            if s.blacklist.contains_key(&key) {
                return Ok(false);
            }
            v.blacklisted = true;
            s.blacklist.insert(key, entry.clone());
            Ok(true)
        })
    }

    async fn unblacklist(&self, tenant: &str, visitor_id: &str) -> Result<bool> {
        self.with(|s| {
            if let Some(v) = s.visitors.get_mut(&id(tenant, visitor_id)) {
                v.blacklisted = false;
            }
            Ok(s.blacklist.remove(&id(tenant, visitor_id)).is_some())
        })
    }

    async fn list_blacklist(
        &self,
        tenant: &str,
        search: Option<&str>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<BlacklistEntry>> {
        self.with(|s| {
            let all: Vec<BlacklistEntry> = s.blacklist.values().filter(|e| e.tenant == tenant).cloned().collect();
            let mut p = page(&format!("blacklist:{tenant}"), all, limit, cursor)?;
            if let Some(q) = search {
                p.items.retain(|e| e.search_text().contains(q));
            }
            Ok(p)
        })
    }
}

#[async_trait]
impl TicketStore for MemoryStore {
    async fn create_ticket(&self, ticket: &Ticket) -> Result<()> {
        let key = (ticket.tenant.clone(), ticket.visitor_id.clone(), ticket.id.clone());
        self.with(|s| insert_new(&mut s.tickets, key, ticket, "ticket_exists", "ticket"))
    }

    async fn list_tickets(&self, tenant: &str, visitor_id: &str) -> Result<Vec<Ticket>> {
        let mut tickets: Vec<Ticket> = self.with(|s| {
            s.tickets.values().filter(|t| t.tenant == tenant && t.visitor_id == visitor_id).cloned().collect()
        });
        tickets.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
        Ok(tickets)
    }

    async fn update_ticket(&self, tenant: &str, visitor_id: &str, id: &str, change: &TicketChange) -> Result<Ticket> {
        self.with(|s| {
            let key = (tenant.to_string(), visitor_id.to_string(), id.to_string());
            let t = s.tickets.get_mut(&key).ok_or_else(|| Error::not_found("ticket"))?;
            if let Some(title) = &change.title {
                t.title = title.clone();
            }
            if let Some(d) = &change.description {
                t.description = d.clone();
            }
            if let Some(status) = change.status {
                t.status = status;
            }
            t.updated_at = change.updated_at;
            Ok(t.clone())
        })
    }
}

#[async_trait]
impl TagStore for MemoryStore {
    async fn create_tag(&self, tag: &Tag) -> Result<()> {
        self.with(|s| insert_new(&mut s.tags, id(&tag.tenant, &tag.id), tag, "tag_exists", "tag"))
    }

    async fn list_tags(&self, tenant: &str) -> Result<Vec<Tag>> {
        Ok(self.with(|s| s.tags.values().filter(|t| t.tenant == tenant).cloned().collect()))
    }

    async fn get_tags(&self, tenant: &str, ids: &[String]) -> Result<Vec<Tag>> {
        Ok(self.with(|s| ids.iter().filter_map(|i| s.tags.get(&id(tenant, i)).cloned()).collect()))
    }

    async fn update_tag(&self, tenant: &str, tag: &str, change: &TagChange) -> Result<Tag> {
        self.with(|s| {
            let t = s.tags.get_mut(&id(tenant, tag)).ok_or_else(|| Error::not_found("tag"))?;
            if let Some(name) = &change.name {
                t.name = name.clone();
            }
            if let Some(parent) = &change.parent {
                t.parent = parent.clone();
            }
            if let Some(deleted) = change.deleted {
                t.deleted = deleted;
            }
            Ok(t.clone())
        })
    }

    async fn most_used_tags(&self, tenant: &str, agent: &str, limit: u32) -> Result<Vec<String>> {
        self.with(|s| {
            let mut uses: Vec<(&String, u64)> = s
                .tag_uses
                .iter()
                .filter(|((t, a, _), _)| t == tenant && a == agent)
                .map(|((_, _, tag), n)| (tag, *n))
                .collect();
            uses.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(a.0)));
            Ok(uses.into_iter().take(limit as usize).map(|(t, _)| t.clone()).collect())
        })
    }
}

#[async_trait]
impl TimerStore for MemoryStore {
    async fn due_timers(&self, shard: u32, now_ms: i64, limit: u32, cursor: Option<&str>) -> Result<Page<Timer>> {
        self.with(|s| {
            let mut due: Vec<Timer> = s
                .timers
                .values()
                .filter(|x| super::keys::timer_shard(&x.tenant, &x.subject) == shard && x.due_at <= now_ms)
                .cloned()
                .collect();
            due.sort_by_key(|x| x.due_at);
            page(&format!("timers:{shard}:{now_ms}"), due, limit, cursor)
        })
    }

    async fn settle_timer(&self, fired: &Timer, next: Option<&Timer>) -> Result<bool> {
        self.with(|s| {
            let key = (fired.tenant.clone(), fired.kind, fired.subject.clone());
            if s.timers.get(&key).is_some_and(|x| x.due_at != fired.due_at) {
                return Ok(false);
            }
            match next {
                Some(timer) => s.set_timer(timer),
                None => {
                    s.timers.remove(&key);
                }
            }
            Ok(true)
        })
    }

    async fn mark_reminded(&self, session: &Session, now_ms: i64, next: Option<&Timer>) -> Result<bool> {
        self.with(|s| {
            let Some(x) = s.sessions.get_mut(&id(&session.tenant, &session.id)) else { return Ok(false) };
            let as_read = x.state == SessionState::Active
                && x.last_seq == session.last_seq
                && !x.locked
                && x.reminded_at == session.reminded_at;
            if !as_read {
                return Ok(false);
            }
            x.reminded_at = Some(now_ms);
            match next {
                Some(timer) => s.set_timer(timer),
                None => {
                    s.timers.remove(&(session.tenant.clone(), TimerKind::Session, session.id.clone()));
                }
            }
            Ok(true)
        })
    }

    async fn waiting_tenants(&self, shard: u32, limit: u32, cursor: Option<&str>) -> Result<Page<WaitingTenant>> {
        self.with(|s| {
            let all: Vec<WaitingTenant> = s
                .waiting
                .iter()
                .filter(|(t, _)| super::keys::shard(&[t]) == shard)
                .map(|(t, at)| WaitingTenant { tenant: t.clone(), queued_at: *at })
                .collect();
            page(&format!("waiting:{shard}"), all, limit, cursor)
        })
    }

    async fn clear_waiting(&self, seen: &WaitingTenant) -> Result<bool> {
        self.with(|s| {
            if s.waiting.get(&seen.tenant) == Some(&seen.queued_at) {
                s.waiting.remove(&seen.tenant);
                return Ok(true);
            }
            Ok(false)
        })
    }
}

/// One in-progress session more for the agent, if it may take one (as the
/// DynamoDB store's conditional update): A4's hard cap always, and for
/// auto-dispatch its own maximum and `idle`.
fn take_capacity(s: &mut State, t: &str, agent_id: &str, mode: AssignMode, now_ms: i64) -> bool {
    let Some(agent) = s.agents.get_mut(&id(t, agent_id)) else { return false };
    let free = agent.active < HARD_CAP
        && (mode == AssignMode::Manual || (agent.active < agent.max_concurrent && agent.status == AgentStatus::Idle));
    if free {
        agent.active += 1;
        agent.last_assigned_at = now_ms;
        agent.rev += 1;
        if let AssignMode::Auto { rank_after, .. } = mode {
            agent.ready_rank = Some(rank_after);
        }
    }
    free
}

impl MemoryStore {
    /// C3's append (`settings`: its session's timers follow it), or (`None`)
    /// B5's kept message, as the DynamoDB store's.
    fn append(&self, session: &Session, new: NewMessage, now_ms: i64, settings: Option<&Settings>) -> Result<Appended> {
        let kept = settings.is_none();
        let sender = &new.sender;
        self.with(|s| {
            let (t, sid) = (&session.tenant, &session.id);
            let client_key = (t.clone(), sid.clone(), sender.id.clone(), new.client_msg_id.clone());
            if let Some(seq) = s.client_ids.get(&client_key) {
                let m = s.messages.get(&(t.clone(), sid.clone(), *seq)).cloned().expect("stored with its id");
                return Ok(Appended::Duplicate(m));
            }
            let x = s.sessions.get_mut(&id(t, sid)).ok_or_else(|| Error::not_found("session"))?;
            if kept {
                x.check_kept_sender(sender.kind)?;
            } else {
                x.check_sender(sender.kind, &sender.id)?;
            }
            let seq = x.last_seq + 1;
            x.last_seq = seq;
            if kept {
                x.last_visitor_message_at = Some(now_ms);
            } else {
                x.last_activity_at = now_ms;
                x.last_message = Some(new.content.preview());
                if let Some(language) = new.visitor_language() {
                    x.visitor_language = Some(language.to_string());
                }
            }
            match sender.kind {
                _ if kept => {}
                crate::domain::SenderKind::Visitor => {
                    x.last_visitor_message_at = Some(now_ms);
                    x.unread += 1;
                }
                crate::domain::SenderKind::Agent => x.last_agent_message_at = Some(now_ms),
                crate::domain::SenderKind::System => {}
            }
            let message = new.at(sid, seq, now_ms);
            let after = x.clone();
            let timer = settings.and_then(|settings| Timer::for_session(x, settings));
            s.messages.insert((t.clone(), sid.clone(), seq), message.clone());
            s.client_ids.insert(client_key, seq);
            if let Some(timer) = timer {
                s.set_timer(&timer);
            }
            Ok(Appended::New(message, Box::new(after)))
        })
    }
}

impl State {
    fn shelf_of<'a>(&'a self, shelf: &'a str) -> impl Iterator<Item = &'a CannedResponse> + 'a {
        self.canned
            .range((shelf.to_string(), String::new())..)
            .take_while(move |((sh, _), _)| sh == shelf)
            .map(|(_, c)| c)
    }
}

#[async_trait]
impl CannedStore for MemoryStore {
    async fn create_canned(&self, response: &CannedResponse, max: u32) -> Result<()> {
        let shelf = super::keys::canned_shelf(&response.tenant, response.owner.as_deref());
        self.with(|s| {
            if s.shelf_of(&shelf).count() >= max as usize {
                return Err(Error::conflict(
                    "too_many_canned_responses",
                    format!("a shelf holds at most {max} entries"),
                ));
            }
            insert_new(&mut s.canned, (shelf, response.id.clone()), response, "already_exists", "canned response")
        })
    }

    async fn get_canned(&self, tenant: &str, owner: Option<&str>, id: &str) -> Result<Option<CannedResponse>> {
        let key = (super::keys::canned_shelf(tenant, owner), id.to_string());
        Ok(self.with(|s| s.canned.get(&key).cloned()))
    }

    async fn replace_canned(&self, before: &CannedResponse, after: &CannedResponse) -> Result<bool> {
        let key = (super::keys::canned_shelf(&before.tenant, before.owner.as_deref()), before.id.clone());
        Ok(self.with(|s| match s.canned.get_mut(&key) {
            Some(c) if c.version == before.version => {
                *c = after.clone();
                true
            }
            _ => false,
        }))
    }

    async fn delete_canned(&self, response: &CannedResponse) -> Result<bool> {
        let key = (super::keys::canned_shelf(&response.tenant, response.owner.as_deref()), response.id.clone());
        Ok(self.with(|s| match s.canned.get(&key) {
            Some(c) if c.version == response.version => s.canned.remove(&key).is_some(),
            _ => false,
        }))
    }

    async fn list_canned(
        &self,
        tenant: &str,
        owner: Option<&str>,
        group: Option<&str>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<CannedResponse>> {
        let shelf = super::keys::canned_shelf(tenant, owner);
        let mut all: Vec<CannedResponse> =
            self.with(|s| s.shelf_of(&shelf).filter(|c| group.is_none_or(|g| c.group == g)).cloned().collect());
        let prefix_of = crate::domain::canned::prefix_of;
        all.sort_by_key(|c| (c.group.clone(), prefix_of(&c.text), c.id.clone()));
        page(&format!("{shelf}#{}", group.unwrap_or("")), all, limit, cursor)
    }

    async fn canned_by_prefix(
        &self,
        tenant: &str,
        owner: Option<&str>,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<CannedResponse>> {
        let shelf = super::keys::canned_shelf(tenant, owner);
        let prefix_of = crate::domain::canned::prefix_of;
        let mut found: Vec<CannedResponse> =
            self.with(|s| s.shelf_of(&shelf).filter(|c| prefix_of(&c.text).starts_with(prefix)).cloned().collect());
        found.sort_by_key(|c| (prefix_of(&c.text), c.id.clone()));
        found.truncate(limit as usize);
        Ok(found)
    }

    async fn canned_by_keyword(
        &self,
        tenant: &str,
        owner: Option<&str>,
        word: &str,
        limit: u32,
    ) -> Result<Vec<CannedResponse>> {
        let shelf = super::keys::canned_shelf(tenant, owner);
        let mut found: Vec<(String, CannedResponse)> = self.with(|s| {
            s.shelf_of(&shelf)
                .flat_map(|c| c.keywords.iter().filter(|k| k.starts_with(word)).map(move |k| (k.clone(), c.clone())))
                .collect()
        });
        found.sort_by(|(a, x), (b, y)| (a, &x.id).cmp(&(b, &y.id)));
        Ok(found.into_iter().take(limit as usize).map(|(_, c)| c).collect())
    }
}

#[async_trait]
impl StatusRequestStore for MemoryStore {
    async fn put_status_request(&self, request: &StatusRequest) -> Result<()> {
        self.with(|s| s.status_requests.insert(id(&request.tenant, &request.agent_id), request.clone()));
        Ok(())
    }

    async fn get_status_request(&self, tenant: &str, agent_id: &str, now_ms: i64) -> Result<Option<StatusRequest>> {
        Ok(self.with(|s| s.status_requests.get(&id(tenant, agent_id)).filter(|r| r.is_live(now_ms)).cloned()))
    }

    async fn list_status_requests(
        &self,
        tenant: &str,
        limit: u32,
        cursor: Option<&str>,
        now_ms: i64,
    ) -> Result<Page<StatusRequest>> {
        let all: Vec<StatusRequest> =
            self.with(|s| s.status_requests.values().filter(|r| r.tenant == tenant).cloned().collect());
        let mut page = page(&format!("{tenant}#statusreq"), all, limit, cursor)?;
        page.items.retain(|r| r.is_live(now_ms));
        Ok(page)
    }

    async fn drop_status_request(&self, request: &StatusRequest) -> Result<bool> {
        let key = id(&request.tenant, &request.agent_id);
        Ok(self.with(|s| match s.status_requests.get(&key) {
            Some(r) if r.id == request.id => s.status_requests.remove(&key).is_some(),
            _ => false,
        }))
    }

    async fn approve_status_request(&self, request: &StatusRequest) -> Result<bool> {
        let key = id(&request.tenant, &request.agent_id);
        Ok(self.with(|s| {
            let pending = s.status_requests.get(&key).is_some_and(|r| r.id == request.id);
            let Some(agent) = s.agents.get_mut(&key) else { return false };
            if !pending || agent.status != request.from || agent.disabled || agent.removed {
                return false;
            }
            agent.status = request.status;
            s.status_requests.remove(&key);
            true
        }))
    }
}

#[async_trait]
impl KnowledgeStore for MemoryStore {
    async fn create_knowledge(&self, entry: &KnowledgeEntry, max: u32) -> Result<()> {
        self.with(|s| {
            if s.knowledge.keys().filter(|(t, _)| *t == entry.tenant).count() >= max as usize {
                return Err(Error::conflict(
                    "too_many_knowledge_entries",
                    format!("a shelf holds at most {max} entries"),
                ));
            }
            insert_new(&mut s.knowledge, id(&entry.tenant, &entry.id), entry, "already_exists", "knowledge entry")
        })
    }

    async fn get_knowledge(&self, tenant: &str, entry: &str) -> Result<Option<KnowledgeEntry>> {
        Ok(self.with(|s| s.knowledge.get(&id(tenant, entry)).cloned()))
    }

    async fn replace_knowledge(&self, before: &KnowledgeEntry, after: &KnowledgeEntry) -> Result<bool> {
        Ok(self.with(|s| match s.knowledge.get_mut(&id(&before.tenant, &before.id)) {
            Some(e) if e.version == before.version => {
                *e = after.clone();
                true
            }
            _ => false,
        }))
    }

    async fn delete_knowledge(&self, entry: &KnowledgeEntry) -> Result<bool> {
        let key = id(&entry.tenant, &entry.id);
        Ok(self.with(|s| match s.knowledge.get(&key) {
            Some(e) if e.version == entry.version => s.knowledge.remove(&key).is_some(),
            _ => false,
        }))
    }

    async fn list_knowledge(&self, tenant: &str, limit: u32, cursor: Option<&str>) -> Result<Page<KnowledgeEntry>> {
        let prefix_of = crate::domain::canned::prefix_of;
        let mut all: Vec<KnowledgeEntry> =
            self.with(|s| s.knowledge.values().filter(|e| e.tenant == tenant).cloned().collect());
        all.sort_by_key(|e| (prefix_of(&e.title), e.id.clone()));
        page(&format!("{tenant}#knowledge"), all, limit, cursor)
    }

    async fn knowledge_by_prefix(&self, tenant: &str, prefix: &str, limit: u32) -> Result<Vec<KnowledgeEntry>> {
        let mut all = self.list_knowledge(tenant, u32::MAX, None).await?.items;
        all.retain(|e| crate::domain::canned::prefix_of(&e.title).starts_with(prefix));
        all.truncate(limit as usize);
        Ok(all)
    }

    async fn knowledge_by_keyword(&self, tenant: &str, word: &str, limit: u32) -> Result<Vec<KnowledgeEntry>> {
        let mut found: Vec<(String, KnowledgeEntry)> = self.with(|s| {
            s.knowledge
                .values()
                .filter(|e| e.tenant == tenant)
                .flat_map(|e| e.terms().into_iter().filter(|k| k.starts_with(word)).map(move |k| (k, e.clone())))
                .collect()
        });
        found.sort_by(|(a, x), (b, y)| (a, &x.id).cmp(&(b, &y.id)));
        Ok(found.into_iter().take(limit as usize).map(|(_, e)| e).collect())
    }
}

#[async_trait]
impl StatsStore for MemoryStore {
    async fn day_stats(&self, tenant: &str, day: &str, _now_ms: i64) -> Result<Vec<AgentDay>> {
        Ok(self.with(|s| {
            s.stats.iter().filter(|((t, d, _), _)| t == tenant && d == day).map(|(_, r)| r.clone()).collect()
        }))
    }

    async fn agent_stats(&self, tenant: &str, day: &str, agent_id: &str, _now_ms: i64) -> Result<Option<AgentDay>> {
        let key = (tenant.to_string(), day.to_string(), agent_id.to_string());
        Ok(self.with(|s| s.stats.get(&key).cloned()))
    }

    async fn start_online(&self, agent: &Agent, now_ms: i64) -> Result<bool> {
        Ok(self.with(|s| match s.agents.get_mut(&id(&agent.tenant, &agent.id)) {
            Some(a) if a.status == agent.status && a.conns == agent.conns && a.online_since.is_none() => {
                a.online_since = Some(now_ms);
                true
            }
            _ => false,
        }))
    }

    async fn end_online(&self, agent: &Agent, pieces: &[(StatsDay, i64)]) -> Result<bool> {
        Ok(self.with(|s| {
            match s.agents.get_mut(&id(&agent.tenant, &agent.id)) {
                Some(a)
                    if a.status == agent.status && a.conns == agent.conns && a.online_since == agent.online_since =>
                {
                    a.online_since = None;
                }
                _ => return false,
            }
            for (day, ms) in pieces {
                let key = (agent.tenant.clone(), day.day.clone(), agent.id.clone());
                let row = s.stats.entry(key).or_insert_with(|| AgentDay {
                    agent_id: agent.id.clone(),
                    day: day.day.clone(),
                    ..AgentDay::default()
                });
                row.online_ms += ms;
            }
            true
        }))
    }
}
