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

use crate::api::events::{Event, Notify, NotifyKind};
use crate::api::views::{SessionView, VisitorSession};
use crate::domain::{dispatch, Agent};
use crate::error::Result;
use crate::store::{AssignMode, Assigned, QueueEntry};
use crate::App;

/// Bounds one drain; the queue is drained further by the next trigger.
const MAX_ROUNDS: usize = 20;
/// A drain reads the queue a page at a time, from the head…
const QUEUE_PAGE: u32 = 100;
/// …and at most this many pages a round.
const MAX_QUEUE_PAGES: usize = 5;

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
#[instrument(skip(app))]
pub async fn drain(app: &App, tenant: &str, connecting: Option<&str>) -> Result<usize> {
    let grace = app.config.presence_grace_ms;
    let mut assigned = 0;
    for _ in 0..MAX_ROUNDS {
        let mut page = app.store.queue_page(tenant, QUEUE_PAGE, None).await?;
        if page.items.is_empty() {
            break;
        }
        let mut agents = app.store.list_agents(tenant).await?;
        let mut progressed = false;
        // The head of the queue first; further pages (bounded) only while
        // sessions ahead wait for agents that are not free (their groups).
        'pages: for pages in 1.. {
            for entry in &page.items {
                let now = app.now();
                if !agents.iter().any(|a| a.has_auto_capacity(now, grace)) {
                    break 'pages; // nobody can take anything more
                }
                if offer(app, tenant, entry, &mut agents, connecting).await? {
                    assigned += 1;
                    progressed = true;
                }
            }
            match page.next_cursor {
                Some(cursor) if pages < MAX_QUEUE_PAGES => {
                    page = app.store.queue_page(tenant, QUEUE_PAGE, Some(&cursor)).await?
                }
                _ => break,
            }
        }
        if !progressed {
            break;
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
    connecting: Option<&str>,
) -> Result<bool> {
    let now = app.now();
    let ranked: Vec<String> = dispatch::candidates(agents, entry.group.as_deref(), now, app.config.presence_grace_ms)
        .into_iter()
        .map(|a| a.id.clone())
        .collect();
    for agent_id in ranked {
        match app.store.assign(tenant, entry, &agent_id, AssignMode::Auto, now).await? {
            Assigned::Assigned => {
                if let Some(a) = agents.iter_mut().find(|a| a.id == agent_id) {
                    a.active += 1;
                    a.last_assigned_at = now;
                }
                announce(app, tenant, &entry.session_id, &agent_id, NotifyKind::NewSession, connecting).await;
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

/// Tells the agent (all its connections) and the visitor that the session is
/// now the agent's.
pub async fn announce(
    app: &App,
    tenant: &str,
    session_id: &str,
    agent_id: &str,
    kind: NotifyKind,
    except: Option<&str>,
) {
    let (session, agent) =
        match (app.store.get_session(tenant, session_id).await, app.store.get_agent(tenant, agent_id).await) {
            (Ok(Some(s)), Ok(a)) => (s, a),
            (s, a) => {
                tracing::error!(tenant, session = session_id, ok = s.is_ok() && a.is_ok(), "announce: lookup failed");
                return;
            }
        };
    let to_agent = Event::SessionAssigned {
        session: SessionView::Staff(&session),
        notify: Notify::new(kind, Some(session.unread)),
    };
    app.push_to_agent_except(tenant, agent_id, &to_agent, except).await;
    let to_visitor = Event::SessionAssigned {
        session: SessionView::Visitor(VisitorSession::new(&session, agent.as_ref())),
        notify: Notify::none(),
    };
    app.push_to_visitor(tenant, &session.visitor_id, &to_visitor).await;
}
