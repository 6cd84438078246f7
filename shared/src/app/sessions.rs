//! Sessions: start (B1), the lists (C1, D7), read, close (D7), pickup (B4)
//! and the queue.

use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::dispatch::{self, Roster};
use super::notices::{Notice, NotifyKind};
use super::views::{SessionView, VisitorSession};
use crate::auth::{Principal, Role};
use crate::domain::session::{CloseReason, SessionState};
use crate::domain::stats::StatsDay;
use crate::domain::timers::{self, Timer};
use crate::domain::{agent, ids, Session};
use crate::error::{Error, Result};
use crate::store::{keys, AssignMode, Assigned, Guard, Opened, Page, QueueEntry, Scope, SessionQuery};
use crate::App;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartRequest {
    /// B1: the skill group the visitor asks for.
    #[serde(default)]
    pub group_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Started {
    pub session: SessionView,
    /// `false`: the visitor already had this open session.
    pub created: bool,
}

/// B1: a visitor starts a conversation; it queues and is dispatched at once.
#[instrument(skip(app, req), fields(tenant = %who.tenant, visitor = %who.id))]
pub async fn start(app: &App, who: &Principal, req: StartRequest) -> Result<Started> {
    who.require_visitor()?;
    let (t, now) = (&who.tenant, app.now());
    let visitor = super::visitors::live(app, t, &who.id).await?;
    if let Some(g) = &req.group_id {
        ids::check("groupId", g)?;
        app.store.get_group(t, g).await?.ok_or_else(|| Error::not_found("skill group"))?;
    }
    if visitor.blacklisted {
        return Err(crate::domain::visitor::blacklisted());
    }
    if let Some(existing) = &visitor.active_session {
        let s = get_visible(app, who, existing).await?;
        return Ok(Started { session: view(app, who, &s).await?, created: false });
    }
    // An abuse limit: a tenant's queue holds at most `max_waiting`. A large
    // tenant's is held shard by shard (its share in the new session's), so
    // a start counts one partition, never the whole queue.
    let (settings, shards) = app.tenant_config(t).await?;
    let id = ids::new_id("s");
    let share = settings.max_waiting.div_ceil(keys::open_shards(shards));
    if app.store.count_waiting(t, keys::new_session_shard(t, &id, shards), share).await? >= share {
        return Err(Error::too_many("queue_full", "too many conversations are waiting; try again in a moment"));
    }
    let channel = who.channel.clone().unwrap_or_else(|| visitor.channel.clone());
    let session = Session::waiting(id, &visitor, channel, req.group_id, now);
    let directory = visitor.first_session_directory();
    // Abandoned if its visitor is gone for the tenant's time while it waits
    // (decided when the timer fires: a connected visitor is not gone).
    let abandon = timers::after_disconnect(t, timers::TimerKind::Visitor, &who.id, now, &settings);
    let day = StatsDay::at(now, settings.utc_offset_minutes);
    let (id, created) = match app.store.open_session(&session, shards, &directory, Some(&abandon), &day).await? {
        Opened::Created => (session.id.clone(), true),
        Opened::Existing(id) => (id, false),
        Opened::AgentAtCapacity => return Err(Error::Internal("a waiting session has no agent".into())),
    };
    if created {
        tracing::info!(session = %id, group = ?session.group, "session queued");
        dispatch::drain_after(app, t, None, Roster::Queued).await;
    }
    let s = get_visible(app, who, &id).await?;
    Ok(Started { session: view(app, who, &s).await?, created })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallbackRequest {
    pub visitor_id: String,
}

/// D7: callback (回呼): from history, an agent opens a new session with the
/// visitor, assigned to itself at once (A4's hard cap, checked in the same
/// write as every manual assignment); both are pushed the new session.
#[instrument(skip(app, req), fields(tenant = %who.tenant, agent = %who.id, visitor = %req.visitor_id))]
pub async fn callback(app: &App, who: &Principal, req: CallbackRequest) -> Result<SessionView> {
    who.require_staff()?;
    ids::check("visitorId", &req.visitor_id)?;
    let (t, now) = (&who.tenant, app.now());
    let visitor = super::visitors::live(app, t, &req.visitor_id).await?;
    if visitor.blacklisted {
        return Err(crate::domain::visitor::blacklisted());
    }
    if let Some(open) = &visitor.active_session {
        return Err(busy(open));
    }
    let me = app.store.get_agent(t, &who.id).await?.ok_or_else(|| Error::not_found("agent"))?;
    me.check_below_hard_cap()?;
    let session = Session::callback(ids::new_id("s"), &visitor, &who.id, now);
    let (settings, shards) = app.tenant_config(t).await?;
    let timer = timers::after_assign(t, &session.id, &settings, now);
    let day = StatsDay::at(now, settings.utc_offset_minutes);
    match app.store.open_session(&session, shards, &visitor.first_session_directory(), Some(&timer), &day).await? {
        Opened::Created => {}
        Opened::Existing(open) => return Err(busy(&open)),
        Opened::AgentAtCapacity => return Err(agent::at_hard_cap()),
    }
    tracing::info!(session = %session.id, "callback session opened");
    dispatch::announce(app, &session.id, &me, NotifyKind::NewSession, None).await;
    get(app, who, &session.id).await
}

fn busy(open: &str) -> Error {
    Error::conflict("visitor_busy", format!("the visitor is in session {open} already"))
}

/// A session the caller may see; anything else is `session_not_found`.
pub async fn get_visible(app: &App, who: &Principal, id: &str) -> Result<Session> {
    ids::check("sessionId", id)?;
    let s = app.store.get_session(&who.tenant, id).await?.ok_or_else(|| Error::not_found("session"))?;
    s.check_visible_to(who)?;
    Ok(s)
}

/// The session as this caller is shown it.
pub async fn view(app: &App, who: &Principal, s: &Session) -> Result<SessionView> {
    Ok(match who.role {
        Role::Visitor => {
            let agent = match &s.agent_id {
                Some(a) => app.store.get_agent(&s.tenant, a).await?,
                None => None,
            };
            SessionView::Visitor(VisitorSession::new(s, agent.as_ref()))
        }
        _ => SessionView::staff(s),
    })
}

pub async fn get(app: &App, who: &Principal, id: &str) -> Result<SessionView> {
    let s = get_visible(app, who, id).await?;
    view(app, who, &s).await
}

#[derive(Debug, Default)]
pub struct ListParams {
    /// `open` (default) or `closed` (history).
    pub state: Option<String>,
    /// C1: search by visitor name or nickname.
    pub q: Option<String>,
    /// Admins: `all` for the whole tenant; default `mine`.
    pub scope: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// C1 (open, newest activity first) and D7 (closed, newest first).
pub async fn list(app: &App, who: &Principal, p: ListParams) -> Result<Page<SessionView>> {
    let open = match p.state.as_deref() {
        None | Some("open") => true,
        Some("closed") => false,
        Some(other) => {
            return Err(Error::invalid("invalid_field", format!("state must be open or closed, not {other:?}")))
        }
    };
    let scope = match (who.role, p.scope.as_deref()) {
        (Role::Visitor, _) => Scope::Visitor(who.id.clone()),
        (Role::Admin, Some("all")) => Scope::Tenant,
        (_, None | Some("mine")) => Scope::Agent(who.id.clone()),
        (Role::Agent, Some("all")) => return Err(Error::forbidden("only admins may list every session")),
        (_, Some(other)) => {
            return Err(Error::invalid("invalid_field", format!("scope must be mine or all, not {other:?}")))
        }
    };
    let search = crate::domain::text::search_query(p.q)?;
    let limit = p.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(Error::invalid("invalid_field", "limit must be from 1 to 100"));
    }
    // A large tenant's sessions are spread over shards.
    let shards = match scope {
        Scope::Tenant => app.tenant_config(&who.tenant).await?.1,
        _ => 1,
    };
    let query = SessionQuery { scope, open, search, limit: limit as u32, cursor: p.cursor, shards };
    let page = app.store.list_sessions(&who.tenant, &query).await?;
    let items = if who.role == Role::Visitor {
        // A visitor sees its agents by nickname: one read for all of them.
        let mut ids: Vec<String> = page.items.iter().filter_map(|s| s.agent_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let agents = if ids.is_empty() { Vec::new() } else { app.store.get_agents(&who.tenant, &ids).await? };
        page.items
            .iter()
            .map(|s| {
                let agent = agents.iter().find(|a| Some(&a.id) == s.agent_id.as_ref());
                SessionView::Visitor(VisitorSession::new(s, agent))
            })
            .collect()
    } else {
        page.items.iter().map(SessionView::staff).collect()
    };
    Ok(Page { items, next_cursor: page.next_cursor })
}

/// C1: the agent opened the session: unread count and `new` marker clear.
pub async fn mark_read(app: &App, who: &Principal, id: &str) -> Result<SessionView> {
    who.require_staff()?;
    let s = get_visible(app, who, id).await?;
    if !app.store.mark_read(&s).await? {
        tracing::info!(session = id, "a message arrived as the session was read; its unread count stands");
    }
    get(app, who, id).await
}

#[derive(Debug, Serialize)]
pub struct Closed {
    pub session: SessionView,
    /// `false`: it was already closed (close is idempotent).
    pub closed: bool,
}

/// D7: close by hand; the session moves to history and its agent's capacity
/// frees, which drains the queue (B3).
#[instrument(skip(app), fields(tenant = %who.tenant))]
pub async fn close(app: &App, who: &Principal, id: &str) -> Result<Closed> {
    let s = get_visible(app, who, id).await?;
    if s.state == SessionState::Closed {
        return Ok(Closed { session: view(app, who, &s).await?, closed: false });
    }
    let reason = s.check_can_close(who)?;
    if who.role.is_staff() {
        // D2: the tenant may require a tag first.
        let required = app.settings(&s.tenant).await?.tag_required_to_close;
        s.check_tagged_for_close(who, required)?;
    }
    let (closed, fresh) = close_as(app, &s, reason, Guard::None).await?;
    Ok(Closed { session: view(app, who, &fresh).await?, closed })
}

/// The one close: the session closes for `reason` (idempotently: `false`
/// if it was closed already); both parties hear of it, and a freed agent
/// drains the queue. Every way of closing goes through here. Returns
/// whether this call closed it, and the session as it is after. With
/// `Guard::AsRead` (a timer's close) it closes only the session exactly as
/// `s` shows it, and otherwise closes nothing and returns `false`.
pub async fn close_as(app: &App, s: &Session, reason: CloseReason, guard: Guard) -> Result<(bool, Session)> {
    // D7: the visitor's tags as they are at close file it in history.
    let visitor_tags = app.store.get_visitor(&s.tenant, &s.visitor_id).await?.map(|v| v.tags).unwrap_or_default();
    // A5: counted as ended on the tenant's day.
    let (now, offset) = (app.now(), app.settings(&s.tenant).await?.utc_offset_minutes);
    let closed = app.store.close_session(s, reason, &visitor_tags, now, guard, &StatsDay::at(now, offset)).await?;
    let fresh = app.store.get_session(&s.tenant, &s.id).await?.ok_or_else(|| Error::not_found("session"))?;
    if closed {
        tracing::info!(tenant = %s.tenant, session = %s.id, ?reason, "session closed");
        let notice = Notice::Closed { session_id: s.id.clone(), reason };
        let agent = match &fresh.agent_id {
            Some(a) => app.notify.agent(&s.tenant, a).await,
            None => None,
        };
        if let Some(agent) = &agent {
            app.notify.to_agent_record(agent, &notice, None).await;
            super::stats::push(app, agent, None).await; // A5: one ended
        }
        app.notify.to_visitor(&s.tenant, &s.visitor_id, &notice).await;
        if fresh.agent_id.is_some() {
            // B3: the agent's freed capacity; its record as read after.
            dispatch::drain_after(app, &s.tenant, None, Roster::Freed(agent.as_slice())).await;
        }
    }
    Ok((closed, fresh))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LockRequest {
    pub locked: bool,
}

/// D3: a locked session is closed only by hand (no timeout closes it).
#[instrument(skip(app), fields(tenant = %who.tenant, by = %who.id))]
pub async fn set_lock(app: &App, who: &Principal, id: &str, req: LockRequest) -> Result<SessionView> {
    who.require_staff()?;
    let s = get_visible(app, who, id).await?;
    s.check_can_lock(who)?;
    // Unlocked, its timers run again (from its last message, as if it had
    // never been locked: an overdue one fires at once).
    let timer = match req.locked {
        true => None,
        false => Timer::for_session(&Session { locked: false, ..s.clone() }, &app.settings(&s.tenant).await?),
    };
    if !app.store.set_locked(&s, req.locked, timer.as_ref()).await? {
        return Err(Error::conflict("session_closed", "the session is closed"));
    }
    tracing::info!(session = id, locked = req.locked, "session lock set");
    get(app, who, id).await
}

/// B4: an agent takes a waiting session by hand; only the hard cap (A4)
/// applies.
#[instrument(skip(app), fields(tenant = %who.tenant, agent = %who.id))]
pub async fn pickup(app: &App, who: &Principal, id: &str) -> Result<SessionView> {
    who.require_staff()?;
    ids::check("sessionId", id)?;
    let s = app.store.get_session(&who.tenant, id).await?.ok_or_else(|| Error::not_found("session"))?;
    if s.state != SessionState::Waiting {
        return Err(Error::conflict("session_not_waiting", "the session is no longer waiting"));
    }
    let me = app.store.get_agent(&who.tenant, &who.id).await?.ok_or_else(|| Error::not_found("agent"))?;
    if !who.is_admin() && !me.serves(s.group.as_deref()) {
        // Another group's session: as if it did not exist.
        return Err(Error::not_found("session"));
    }
    me.check_below_hard_cap()?;
    let entry = QueueEntry::of(&s);
    let now = app.now();
    let settings = app.settings(&who.tenant).await?;
    let timer = timers::after_assign(&who.tenant, id, &settings, now);
    let day = StatsDay::at(now, settings.utc_offset_minutes);
    match app.store.assign(&who.tenant, &entry, &who.id, AssignMode::Manual, now, &timer, &day).await? {
        Assigned::Assigned => {
            dispatch::announce(app, id, &me, dispatch::alert_for(&entry), None).await;
            get(app, who, id).await
        }
        Assigned::AgentUnavailable => Err(agent::at_hard_cap()),
        Assigned::SessionTaken => Err(Error::conflict("session_not_waiting", "the session is no longer waiting")),
    }
}

/// B4: the waiting sessions, oldest first, a page at a time. An agent sees
/// only sessions of its skill groups (or of none); admins see all. A page may
/// hold fewer than `limit` entries (others' groups are skipped): continue
/// while there is a `nextCursor`.
pub async fn queue(app: &App, who: &Principal, limit: u32, cursor: Option<&str>) -> Result<Page<QueueEntry>> {
    who.require_staff()?;
    if !(1..=100).contains(&limit) {
        return Err(Error::invalid("invalid_field", "limit must be from 1 to 100"));
    }
    let (_, shards) = app.tenant_config(&who.tenant).await?;
    let mut page = app.store.queue_page(&who.tenant, shards, limit, cursor).await?;
    if !who.is_admin() {
        let me = app.store.get_agent(&who.tenant, &who.id).await?.ok_or_else(|| Error::not_found("agent"))?;
        page.items.retain(|e| me.serves(e.group.as_deref()));
    }
    Ok(page)
}

/// Every in-progress session of `agent` goes back to the queue, at its old
/// place and with its history, and its visitor is told. The agent's list is
/// an index (eventually consistent), so it is read again until the agent's
/// own count says nothing is left, a bounded number of times. Returns how
/// many sessions went back.
pub async fn requeue_all(app: &App, agent: &agent::Agent) -> Result<u32> {
    let mut requeued = 0;
    for round in 0..10u64 {
        let mine = Scope::Agent(agent.id.clone());
        let query = SessionQuery { scope: mine, open: true, search: None, limit: 100, cursor: None, shards: 1 };
        let page = app.store.list_sessions(&agent.tenant, &query).await?;
        for s in page.items {
            if s.state != SessionState::Active || s.agent_id.as_deref() != Some(agent.id.as_str()) {
                continue;
            }
            if app.store.requeue_session(&s, &agent.id, None, app.now()).await? {
                requeued += 1;
                let waiting = Session { state: SessionState::Waiting, agent_id: None, ..s };
                let notice = Notice::Requeued { session: SessionView::Visitor(VisitorSession::new(&waiting, None)) };
                app.notify.to_visitor(&waiting.tenant, &waiting.visitor_id, &notice).await;
            }
        }
        let left = app.store.get_agent(&agent.tenant, &agent.id).await?.map_or(0, |a| a.active);
        if left == 0 {
            return Ok(requeued);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100 * (round + 1))).await;
    }
    tracing::error!(tenant = %agent.tenant, agent = %agent.id, "sessions left with a removed agent after 10 rounds");
    Ok(requeued)
}
