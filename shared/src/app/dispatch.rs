//! B2/B3: auto-dispatch. Every event that can make an assignment possible (a
//! new session, an agent turning idle or connecting, a session closing, a
//! raised maximum, a new group member) drains the queue at once, oldest
//! first. Nothing polls.
//!
//! Correctness does not depend on this code's view of the world: each
//! assignment is one transaction that re-checks the agent's capacity and
//! status and the session's state. Concurrent drains may propose the same
//! pair; exactly one commits.
//!
//! A drain reads the queue strongly consistently, and its candidates from
//! the ready list (`keys::GSI6`): the few least-loaded agents who could
//! take a session, never the tenant's whole staff. The list is an index,
//! eventually consistent, kept by three rules:
//! - an auto-assignment moves its agent in the list in the same write, to
//!   its place after one more session as the drain saw it (never off the
//!   list: a concurrent close may have made room the drain did not see);
//! - every event that frees an agent (a close, a transfer out, turning
//!   idle, connecting, a raised maximum) names the agent to its drain,
//!   which reads its record and lists it where it belongs before anything
//!   else: a freed agent is never missing from the list;
//! - any other change (a pickup, going busy, a grace that ran out, an
//!   assignment that saw an older record) leaves the agent at a stale
//!   place, and the first drain that reads it there sees the record beside
//!   its place (the index copies it whole) and lists it again, conditional
//!   on the record's `rev` (which every write that can move it bumps), so
//!   a stale relist never overwrites a newer place.
//!
//! Of a session arriving and an agent freed at the same moment, at least
//! one drain sees the other, as both read the queue after their own write:
//! the agent's drain finds the session in the queue, or the session's
//! drain finds the agent in the list, unless the list has not caught up
//! with the agent's new place yet (DynamoDB's index lag, well under a
//! second). For that window and for a drain killed half-way, the sweeper's
//! safety net drains each tenant with waiting sessions from every agent's
//! record and lists again whatever drifted.

use tracing::instrument;

use super::notices::{Notice, Notify, NotifyKind};
use super::views::{SessionView, VisitorSession};
use crate::domain::stats::StatsDay;
use crate::domain::{dispatch, timers, Agent, Settings};
use crate::error::Result;
use crate::store::{keys, AssignMode, Assigned, QueueEntry};
use crate::App;

/// A drain reads the queue a page at a time, from the head…
const QUEUE_PAGE: u32 = 25;
/// …and at most this many pages: a queue of thousands costs a drain no more
/// than one of a hundred. Sessions further back wait for the next trigger.
const MAX_QUEUE_PAGES: usize = 4;
/// The ready list is read this many agents at first, over its shards (a
/// drain usually assigns one session)…
const FIRST_READ: u32 = 32;
/// …and again, four times as many each time, while those read cannot take
/// what waits (full, or not of its group) and the list holds more, up to
/// this many.
const LAST_READ: u32 = 512;
/// A request's drain lists again at most this many agents it found out of
/// place (the rest, the next drains); the sweeper's, this many.
const REPAIRS: usize = 8;
const SWEEP_REPAIRS: usize = 100;
/// Tries to assign one session, fresh reads of refused agents included.
const OFFER_ATTEMPTS: usize = 6;

/// What made a drain worth running, and so whom it offers sessions to:
/// the ready list's best, with the agents named here as read after the
/// change (newer than the list), or (the sweeper) every agent.
#[derive(Clone, Copy)]
pub enum Roster<'a> {
    /// Sessions joined the queue (a start, sessions given back).
    Queued,
    /// These agents may have room now (a close, turning idle, connecting,
    /// a raised maximum, a new group): if none of them can take a
    /// session, nothing that waits has a new taker, and the queue is not
    /// read at all.
    Freed(&'a [Agent]),
    /// Both (a transfer to a group: its sender freed, the session queued).
    FreedAndQueued(&'a [Agent]),
    /// The sweeper's safety net: every agent of the tenant, from the
    /// records, each listed again where its place drifted.
    Everyone,
}

/// Drains after a triggering write has committed. The write's own result
/// stands whatever happens here: a failed drain is logged, and the next
/// trigger (or the sweeper) drains again.
pub async fn drain_after(app: &App, tenant: &str, connecting: Option<&str>, roster: Roster<'_>) {
    if let Err(e) = drain(app, tenant, connecting, roster).await {
        tracing::error!(tenant, error = %e, "queue drain failed; the next trigger retries");
    }
}

/// Assigns what can be assigned now; returns how many sessions it assigned.
/// Pushes nothing to `connecting` (a connection inside its own `$connect`:
/// API Gateway refuses pushes to it until the handshake is done).
///
/// The freed agents are listed first, wherever the queue stands. Then the
/// queue, oldest first, a page at a time; the candidates are read only
/// once a session waits, and until nobody has capacity left (usually
/// within the first page) or the pages run out: later pages only while
/// sessions ahead wait for agents of other skill groups.
#[instrument(skip(app, roster))]
pub async fn drain(app: &App, tenant: &str, connecting: Option<&str>, roster: Roster<'_>) -> Result<usize> {
    // Its timeouts (for the assignments' timers) and its ready list's
    // shards, in one read.
    let (settings, shards) = app.tenant_config(tenant).await?;
    let mut view = View { tenant, shards, agents: Vec::new(), read: 0, more: false, repairs: REPAIRS };
    match roster {
        Roster::Queued => {}
        Roster::Freed(freed) | Roster::FreedAndQueued(freed) => {
            for agent in freed {
                let mut agent = agent.clone();
                view.relist(app, &mut agent).await?;
                view.agents.push(agent);
            }
            let (now, grace) = (app.now(), app.config.presence_grace_ms);
            if matches!(roster, Roster::Freed(_)) && !view.agents.iter().any(|a| a.has_auto_capacity(now, grace)) {
                return Ok(0);
            }
        }
        Roster::Everyone => {
            view.repairs = SWEEP_REPAIRS;
            for mut agent in app.store.list_agents(tenant).await? {
                view.relist(app, &mut agent).await?;
                view.agents.push(agent);
            }
            view.read = LAST_READ;
        }
    }
    let mut assigned = 0;
    let mut cursor = None;
    for _ in 0..MAX_QUEUE_PAGES {
        let page = app.store.queue_page(tenant, shards, QUEUE_PAGE, cursor.as_deref()).await?;
        for entry in &page.items {
            if !view.free(app, None).await? {
                break;
            }
            if offer(app, entry, &mut view, &settings, connecting).await? {
                assigned += 1;
            }
        }
        match page.next_cursor {
            Some(next) if view.free(app, None).await? => cursor = Some(next),
            _ => break,
        }
    }
    if assigned > 0 {
        tracing::info!(tenant, assigned, "queue drained");
    }
    Ok(assigned)
}

/// The agents a drain has read, as it has changed them.
struct View<'a> {
    tenant: &'a str,
    /// The shards of the tenant's ready list.
    shards: u32,
    agents: Vec<Agent>,
    /// How many of the ready list were read, over its shards (0: not yet).
    read: u32,
    /// The ready list holds more than were read.
    more: bool,
    /// How many more agents out of place this drain may list again.
    repairs: usize,
}

impl View<'_> {
    /// Can anyone read take a session (of `group`, if given)? Reads the
    /// ready list, and more of it, until someone can or it is exhausted.
    async fn free(&mut self, app: &App, group: Option<Option<&str>>) -> Result<bool> {
        loop {
            let (now, grace) = (app.now(), app.config.presence_grace_ms);
            let free = self.agents.iter().any(|a| match group {
                Some(g) => a.can_auto_take(g, now, grace),
                None => a.has_auto_capacity(now, grace),
            });
            // The list is read at least once: a freed agent alone is not
            // known to be the least loaded.
            if self.read > 0 && (free || !self.more || self.read >= LAST_READ) {
                return Ok(free);
            }
            self.read = if self.read == 0 { FIRST_READ } else { self.read * 4 };
            let per_shard = self.read.div_ceil(self.shards);
            let ready = app.store.ready_agents(self.tenant, self.shards, per_shard).await?;
            self.more = ready.more;
            for mut agent in ready.agents {
                // The drain's own copy (a freed agent's record, or one it
                // assigned to) is newer than the index's.
                if self.agents.iter().any(|a| a.id == agent.id) {
                    continue;
                }
                self.relist(app, &mut agent).await?;
                self.agents.push(agent);
            }
        }
    }

    /// Lists `agent` where its record says it belongs, if it stands
    /// elsewhere: its place is written only if the record is still as read.
    async fn relist(&mut self, app: &App, agent: &mut Agent) -> Result<()> {
        let rank = dispatch::ready_rank(agent, app.now(), app.config.presence_grace_ms);
        if rank == agent.ready_rank || self.repairs == 0 {
            return Ok(());
        }
        self.repairs -= 1;
        if app.store.list_ready(agent, self.shards, rank.as_deref()).await? {
            tracing::debug!(agent = %agent.id, ?rank, "listed again");
            agent.ready_rank = rank;
        }
        Ok(())
    }

    /// Replaces a refused agent with its record as it is now.
    async fn refresh(&mut self, app: &App, id: &str) -> Result<()> {
        let fresh = app.store.get_agent(self.tenant, id).await?;
        self.agents.retain(|a| a.id != id);
        if let Some(mut fresh) = fresh {
            self.relist(app, &mut fresh).await?;
            self.agents.push(fresh);
        }
        Ok(())
    }
}

/// Offers one waiting session to the best candidate, and on to the next
/// best while they refuse.
async fn offer(
    app: &App,
    entry: &QueueEntry,
    view: &mut View<'_>,
    settings: &Settings,
    connecting: Option<&str>,
) -> Result<bool> {
    let tenant = view.tenant;
    let now = app.now();
    let grace = app.config.presence_grace_ms;
    // D8: T3 runs from the assignment.
    let timer = timers::after_assign(tenant, &entry.session_id, settings, now);
    let day = StatsDay::at(now, settings.utc_offset_minutes);
    for _ in 0..OFFER_ATTEMPTS {
        if !view.free(app, Some(entry.group.as_deref())).await? {
            return Ok(false);
        }
        let Some(best) = dispatch::candidates(&view.agents, entry.group.as_deref(), now, grace).first().copied() else {
            return Ok(false);
        };
        let after = Agent { active: best.active + 1, last_assigned_at: now, rev: best.rev + 1, ..best.clone() };
        let rank_after = dispatch::rank(&after);
        let mode = AssignMode::Auto { rank_after: rank_after.clone(), shards: view.shards };
        match app.store.assign(tenant, entry, &after.id, mode, now, &timer, &day).await? {
            Assigned::Assigned => {
                let after = Agent { ready_rank: Some(rank_after), ..after };
                announce(app, &entry.session_id, &after, alert_for(entry), connecting).await;
                view.agents.retain(|a| a.id != after.id);
                view.agents.push(after);
                return Ok(true);
            }
            Assigned::SessionTaken => return Ok(false),
            // Filled by someone else, or busy now: its record decides.
            Assigned::AgentUnavailable => view.refresh(app, &after.id).await?,
        }
    }
    Ok(false)
}

/// What `reindex` did.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reindexed {
    pub agents: usize,
    /// Agents whose place in the list was written.
    pub listed_again: usize,
    pub shards: u32,
    /// Open sessions from before the open list (gsi7), moved into it.
    pub open_sessions_moved: u32,
}

/// The operator's repair of a tenant's ready list (`kefu-admin reindex`),
/// for a tenant from before the list (whose agents have no place in it and
/// were never counted) or after a restore: splits it if the tenant is
/// large, and lists every agent where its record says it belongs; and
/// moves its sessions open from before the open list (gsi7) into it.
pub async fn reindex(app: &App, tenant: &str) -> Result<Reindexed> {
    let agents = app.store.list_agents(tenant).await?;
    let (_, mut shards) = app.tenant_config(tenant).await?;
    if agents.len() as u64 >= app.config.ready_split_at && shards < keys::MAX_READY_SHARDS {
        app.store.split_ready_list(tenant, keys::MAX_READY_SHARDS).await?;
        shards = keys::MAX_READY_SHARDS;
    }
    let mut view = View { tenant, shards, agents: Vec::new(), read: LAST_READ, more: false, repairs: usize::MAX };
    let mut listed_again = 0;
    for mut agent in agents.iter().cloned() {
        let before = agent.ready_rank.clone();
        view.relist(app, &mut agent).await?;
        listed_again += usize::from(agent.ready_rank != before);
    }
    let open_sessions_moved = app.store.move_open_sessions(tenant, shards).await?;
    tracing::info!(tenant, agents = agents.len(), listed_again, shards, open_sessions_moved, "tenant reindexed");
    Ok(Reindexed { agents: agents.len(), listed_again, shards, open_sessions_moved })
}

/// C7: how the agent who takes a waiting session is alerted: `transfer` for
/// one that came by a transfer to a group (D5).
pub fn alert_for(entry: &QueueEntry) -> NotifyKind {
    if entry.transferred {
        NotifyKind::Transfer
    } else {
        NotifyKind::NewSession
    }
}

/// Tells the agent (all its connections) and the visitor that the session is
/// now the agent's. `agent` is the record the caller read (its connections
/// and nickname): no read of it again.
pub async fn announce(app: &App, session_id: &str, agent: &Agent, kind: NotifyKind, except: Option<&str>) {
    let session = match app.store.get_session(&agent.tenant, session_id).await {
        Ok(Some(s)) => s,
        result => {
            let error = result.err().map(|e| e.to_string());
            tracing::error!(tenant = %agent.tenant, session = session_id, ?error, "announce: session lookup failed");
            return;
        }
    };
    let to_agent =
        Notice::Assigned { session: SessionView::staff(&session), notify: Notify::new(kind, Some(session.unread)) };
    app.notify.to_agent_record(agent, &to_agent, except).await;
    let to_visitor = Notice::Assigned {
        session: SessionView::Visitor(VisitorSession::new(&session, Some(agent))),
        notify: Notify::none(),
    };
    app.notify.to_visitor(&agent.tenant, &session.visitor_id, &to_visitor).await;
    // A5: the assignment was counted on its row.
    super::stats::push(app, agent, except).await;
}
