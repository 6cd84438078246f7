//! B2/B3: auto-dispatch. Every event that can make an assignment possible (a
//! new session, an agent turning idle or connecting, a session closing, a
//! raised maximum, a new group member) drains the queue at once, oldest
//! first. Nothing polls.
//!
//! Correctness does not depend on this code's view of the world: each
//! assignment is one transaction that re-checks the agent's capacity and
//! status and the session's state. Concurrent drains may propose the same
//! pair; exactly one commits. And because the queue and the agents are read
//! strongly consistently *after* the triggering write committed, of any two
//! racing triggers (a session arriving, capacity freeing) at least one sees
//! the other: no session is left waiting beside a free agent.

use tracing::instrument;

use super::notices::{Notice, Notify, NotifyKind};
use super::views::{SessionView, VisitorSession};
use crate::domain::stats::StatsDay;
use crate::domain::{dispatch, timers, Agent, Settings};
use crate::error::Result;
use crate::store::{AssignMode, Assigned, QueueEntry};
use crate::App;

/// A drain reads the queue a page at a time, from the head…
const QUEUE_PAGE: u32 = 25;
/// …and at most this many pages: a queue of thousands costs a drain no more
/// than one of a hundred. Sessions further back wait for the next trigger.
const MAX_QUEUE_PAGES: usize = 4;

/// Drains after a triggering write has committed. The write's own result
/// stands whatever happens here: a failed drain is logged, and the next
/// trigger drains again.
pub async fn drain_after(app: &App, tenant: &str, connecting: Option<&str>) {
    if let Err(e) = drain(app, tenant, connecting).await {
        tracing::error!(tenant, error = %e, "queue drain failed; the next trigger retries");
    }
}

/// Assigns what can be assigned now; returns how many sessions it assigned.
/// Pushes nothing to `connecting` (a connection inside its own `$connect`:
/// API Gateway refuses pushes to it until the handshake is done).
///
/// The agents are read first: when nobody can take a session, the queue is
/// not read at all. Then the queue, oldest first, a page at a time, until
/// nobody has capacity left (usually within the first page) or the pages
/// run out: later pages only while sessions ahead wait for agents of other
/// skill groups.
#[instrument(skip(app))]
pub async fn drain(app: &App, tenant: &str, connecting: Option<&str>) -> Result<usize> {
    let grace = app.config.presence_grace_ms;
    let mut agents = app.store.list_agents(tenant).await?;
    let free = |agents: &[Agent]| {
        let now = app.now();
        agents.iter().any(|a| a.has_auto_capacity(now, grace))
    };
    let mut assigned = 0;
    let mut cursor = None;
    let mut settings = None;
    for _ in 0..MAX_QUEUE_PAGES {
        if !free(&agents) {
            break;
        }
        let page = app.store.queue_page(tenant, QUEUE_PAGE, cursor.as_deref()).await?;
        for entry in &page.items {
            if !free(&agents) {
                break;
            }
            let settings = match &settings {
                Some(s) => s,
                None => settings.insert(app.settings(tenant).await?),
            };
            if offer(app, tenant, entry, &mut agents, settings, connecting).await? {
                assigned += 1;
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if assigned > 0 {
        tracing::info!(tenant, assigned, "queue drained");
    }
    Ok(assigned)
}

/// Offers one waiting session to the best candidates in turn.
async fn offer(
    app: &App,
    tenant: &str,
    entry: &QueueEntry,
    agents: &mut [Agent],
    settings: &Settings,
    connecting: Option<&str>,
) -> Result<bool> {
    let now = app.now();
    // D8: T3 runs from the assignment.
    let timer = timers::after_assign(tenant, &entry.session_id, settings, now);
    let day = StatsDay::at(now, settings.utc_offset_minutes);
    let ranked: Vec<String> = dispatch::candidates(agents, entry.group.as_deref(), now, app.config.presence_grace_ms)
        .into_iter()
        .map(|a| a.id.clone())
        .collect();
    for agent_id in ranked {
        match app.store.assign(tenant, entry, &agent_id, AssignMode::Auto, now, &timer, &day).await? {
            Assigned::Assigned => {
                if let Some(a) = agents.iter_mut().find(|a| a.id == agent_id) {
                    a.active += 1;
                    a.last_assigned_at = now;
                    announce(app, &entry.session_id, a, alert_for(entry), connecting).await;
                }
                return Ok(true);
            }
            Assigned::SessionTaken => return Ok(false),
            Assigned::AgentUnavailable => {
                // Someone else filled it (or its status changed): refresh our view.
                if let (Some(fresh), Some(slot)) =
                    (app.store.get_agent(tenant, &agent_id).await?, agents.iter_mut().find(|a| a.id == agent_id))
                {
                    *slot = fresh;
                }
            }
        }
    }
    Ok(false)
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
