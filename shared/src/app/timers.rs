//! Timers, applied: D8's per session (reminder, visitor timeout,
//! inactivity), an agent's offline requeue, and a visitor's abandoned wait.
//! A timer item comes due by two paths, and both end
//! here: DynamoDB TTL deletes it and the table's stream delivers the
//! `REMOVE` (`on_expired`), and the sweeper, every minute, finds it by due
//! time in gsi5 (`sweep`). TTL may lag by hours; the sweeper is punctual;
//! whichever comes first applies the timer, and the other finds nothing
//! left to do.
//!
//! `apply` decides from the subject as it is now (`domain::timers::due`),
//! never from the timer itself, and every change it makes is a conditional
//! write on the subject exactly as read: a second apply, a stale timer, or
//! a message that arrived meanwhile changes nothing.

use tracing::instrument;

use super::notices::Notice;
use super::sessions::close_as;
use crate::domain::timers::{self, Action, Timer, TimerKind};
use crate::domain::{CloseReason, Session, SessionState};
use crate::error::{Error, Result};
use crate::store::{keys, Guard, Removal};
use crate::App;

/// What applying one timer did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// D8: the visitor was reminded to reply.
    Reminded,
    Closed(CloseReason),
    /// An agent offline past the tenant's time: this many of its sessions
    /// went back to the queue.
    Requeued(u32),
    /// Nothing was due: the subject's next timer (if any) is set instead.
    Settled,
}

/// How often `apply` reads its subject again when the subject changed
/// under its write.
const ATTEMPTS: usize = 3;

/// Applies a timer that came due (or may have: early, stale and repeated
/// timers are fine).
#[instrument(skip(app), fields(tenant = %fired.tenant, kind = fired.kind.as_str(), subject = %fired.subject))]
pub async fn apply(app: &App, fired: &Timer) -> Result<Applied> {
    match fired.kind {
        TimerKind::Session => apply_session(app, fired).await,
        TimerKind::Agent => apply_agent(app, fired).await,
        TimerKind::Visitor => apply_visitor(app, fired).await,
    }
}

/// An agent with sessions and no live connection for the tenant's
/// `offlineRequeueSecs` (and past A1's grace): its sessions go back to the
/// queue, each at its old place with its history, marked `requeued`, and
/// their visitors are told; the queue drains to the agents still here.
async fn apply_agent(app: &App, fired: &Timer) -> Result<Applied> {
    let settings = app.settings(&fired.tenant).await?;
    let now = app.now();
    let agent = match app.store.get_agent(&fired.tenant, &fired.subject).await? {
        Some(a) if !a.removed && a.active > 0 => a,
        // Gone, or nothing to give back: no timer needed.
        _ => return settle(app, fired, None).await,
    };
    // Online: its next disconnect sets the timer again.
    let Some(since) = timers::offline_since(&agent.conns, agent.last_disconnect_at, 0, now) else {
        return settle(app, fired, None).await;
    };
    let wait = (i64::from(settings.offline_requeue_secs) * 1000).max(app.config.presence_grace_ms);
    if since + wait > now {
        let next = Timer::new(&fired.tenant, TimerKind::Agent, &agent.id, since + wait);
        return settle(app, fired, Some(&next)).await;
    }
    let requeued = super::sessions::requeue_all(app, &agent).await?;
    tracing::info!(tenant = %agent.tenant, agent = %agent.id, requeued, "offline agent's sessions requeued");
    settle(app, fired, None).await?;
    super::dispatch::drain_after(app, &agent.tenant, None, super::dispatch::Roster::Queued).await;
    Ok(Applied::Requeued(requeued))
}

/// A waiting session whose visitor has had no live connection for the
/// tenant's `abandonAfterSecs` closes as `abandoned`.
async fn apply_visitor(app: &App, fired: &Timer) -> Result<Applied> {
    let settings = app.settings(&fired.tenant).await?;
    for _ in 0..ATTEMPTS {
        let now = app.now();
        let Some(visitor) = app.store.get_visitor(&fired.tenant, &fired.subject).await? else {
            return settle(app, fired, None).await;
        };
        let Some(sid) = visitor.active_session.clone() else { return settle(app, fired, None).await };
        let s = match app.store.get_session(&fired.tenant, &sid).await? {
            Some(s) if s.state == SessionState::Waiting => s,
            // In progress or closed: being away is no longer abandoning.
            _ => return settle(app, fired, None).await,
        };
        let Some(since) = timers::offline_since(&visitor.conns, visitor.last_disconnect_at, s.queued_at, now) else {
            return settle(app, fired, None).await;
        };
        let due = since + i64::from(settings.abandon_after_secs) * 1000;
        if due > now {
            let next = Timer::new(&fired.tenant, TimerKind::Visitor, &visitor.id, due);
            return settle(app, fired, Some(&next)).await;
        }
        if close_as(app, &s, CloseReason::Abandoned, Guard::AsRead).await?.0 {
            tracing::info!(tenant = %s.tenant, session = %s.id, "waiting session abandoned");
            // The visitor's timer is not the session's: close left it.
            settle(app, fired, None).await?;
            return Ok(Applied::Closed(CloseReason::Abandoned));
        }
    }
    Err(Error::conflict("try_again", "the visitor's session kept changing; its timer is tried again"))
}

async fn settle(app: &App, fired: &Timer, next: Option<&Timer>) -> Result<Applied> {
    app.store.settle_timer(fired, next).await?;
    Ok(Applied::Settled)
}

async fn apply_session(app: &App, fired: &Timer) -> Result<Applied> {
    let settings = app.settings(&fired.tenant).await?;
    for _ in 0..ATTEMPTS {
        let Some(s) = app.store.get_session(&fired.tenant, &fired.subject).await? else {
            return settle(app, fired, None).await;
        };
        let now = app.now();
        match timers::due(&s, &settings, now) {
            None => {
                // Not (or no longer) due: a message came, it was locked or
                // closed, or the settings changed. Its next timer stands in.
                return settle(app, fired, Timer::for_session(&s, &settings).as_ref()).await;
            }
            Some(Action::Remind) => {
                let after = Session { reminded_at: Some(now), ..s.clone() };
                let next = Timer::for_session(&after, &settings);
                if app.store.mark_reminded(&s, now, next.as_ref()).await? {
                    tracing::info!(session = %s.id, "visitor reminded to reply");
                    let closes_at = next.map(|t| t.due_at);
                    let notice = Notice::Reminded { session_id: s.id.clone(), closes_at };
                    app.notify.to_visitor(&s.tenant, &s.visitor_id, &notice).await;
                    if let Some(a) = &s.agent_id {
                        app.notify.to_agent(&s.tenant, a, &notice).await;
                    }
                    return Ok(Applied::Reminded);
                }
            }
            Some(Action::Close(reason)) => {
                if close_as(app, &s, reason, Guard::AsRead).await?.0 {
                    return Ok(Applied::Closed(reason));
                }
            }
        }
        // The session changed under the write: decide again from its new state.
    }
    Err(Error::conflict("try_again", "the session kept changing; its timer is tried again"))
}

/// Timers a sweep reads from one shard at a time…
const SWEEP_PAGE: u32 = 100;
/// …and this many pages at most per shard and run: the rest wait a minute.
const SWEEP_PAGES: usize = 10;
/// A run stops starting new work after this long (the function's timeout
/// is longer), and the next run carries on.
const SWEEP_BUDGET_MS: i64 = 40_000;

/// The safety net drains a queue only once its head has waited this long:
/// a session just queued is the business of the drain its own event runs
/// (B3), which the sweeper does not race.
const SAFETY_NET_AFTER_MS: i64 = 5_000;

/// What a sweep did.
#[derive(Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Swept {
    pub due: u32,
    pub failed: u32,
    /// Sessions the safety-net drain assigned.
    pub assigned: u32,
}

/// The scheduled sweeper: applies every timer due now (gsi5, one query a
/// shard, never a scan or a query per tenant), then drains every queue that
/// has waiting sessions (B3's safety net: a drain that failed after its
/// trigger committed is made good within a minute).
#[instrument(skip(app))]
pub async fn sweep(app: &App) -> Result<Swept> {
    let started = app.now();
    let mut swept = Swept::default();
    for shard in 0..keys::TIMER_SHARDS {
        let mut cursor = None;
        for _ in 0..SWEEP_PAGES {
            if app.now() - started > SWEEP_BUDGET_MS {
                break;
            }
            let page = app.store.due_timers(shard, app.now(), SWEEP_PAGE, cursor.as_deref()).await?;
            for timer in &page.items {
                swept.due += 1;
                if let Err(e) = apply(app, timer).await {
                    swept.failed += 1;
                    tracing::error!(error = %e, tenant = %timer.tenant, subject = %timer.subject, "timer not applied; the next sweep retries");
                }
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    swept.assigned = drain_waiting(app, started).await?;
    if swept.due > 0 || swept.assigned > 0 {
        tracing::info!(due = swept.due, failed = swept.failed, assigned = swept.assigned, "swept");
    }
    Ok(swept)
}

/// B3's safety net: every tenant on the record of waiting queues is
/// drained; one whose queue is empty comes off it (unless a session joined
/// meanwhile).
async fn drain_waiting(app: &App, started: i64) -> Result<u32> {
    let mut assigned = 0;
    for shard in 0..keys::SHARDS {
        let mut cursor = None;
        loop {
            if app.now() - started > SWEEP_BUDGET_MS {
                return Ok(assigned);
            }
            let page = app.store.waiting_tenants(shard, 100, cursor.as_deref()).await?;
            for seen in &page.items {
                // The head of its queue: the session waiting longest.
                let (_, shards) = app.tenant_config(&seen.tenant).await?;
                let head = app.store.queue_page(&seen.tenant, shards, 1, None).await?.items.into_iter().next();
                let Some(head) = head else {
                    app.store.clear_waiting(seen).await?;
                    continue;
                };
                if app.now() - head.queued_at < SAFETY_NET_AFTER_MS {
                    // Just queued: the drain its own event runs is under way.
                    continue;
                }
                match super::dispatch::drain(app, &seen.tenant, None, super::dispatch::Roster::Everyone).await {
                    Ok(n) => assigned += n as u32,
                    Err(e) => tracing::error!(tenant = %seen.tenant, error = %e, "safety-net drain failed"),
                }
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(assigned)
}

/// One item DynamoDB TTL deleted, as the stream delivers it.
#[derive(Debug)]
pub enum Expired {
    Timer(Timer),
    /// A connection past its end whose `$disconnect` never came.
    Connection(crate::store::Connection),
}

/// The stream handler's work for one TTL deletion.
pub async fn on_expired(app: &App, expired: &Expired) -> Result<()> {
    match expired {
        Expired::Timer(timer) => match apply(app, timer).await {
            Ok(_) => Ok(()),
            Err(e) => {
                // TTL took the timer: put it back, due, so the sweeper tries
                // again within a minute, instead of losing it to the stream's
                // bounded retries. Only if that fails is the record redelivered.
                tracing::warn!(error = %e, tenant = %timer.tenant, subject = %timer.subject, "expired timer not applied; left for the sweeper");
                app.store.settle_timer(timer, Some(timer)).await.map(|_| ())
            }
        },
        Expired::Connection(conn) => {
            let timer = super::connections::owner_timer(conn, conn.expires_at_ms, &app.settings(&conn.tenant).await?);
            app.store.remove_connection(&conn.owner(), &conn.id, Removal::Expired, app.now(), Some(&timer)).await?;
            tracing::info!(tenant = %conn.tenant, user = %conn.user_id, connection = %conn.id, "stale connection removed");
            if conn.role.is_staff() {
                super::stats::sync_online(app, &conn.tenant, &conn.user_id).await;
            }
            Ok(())
        }
    }
}
