//! A5: live stats. Each agent's row for the tenant's day is counted inside
//! the writes of the events themselves (`store::SessionStore`); here they
//! are read — the agent's own, and the tenant's view for admins — and
//! pushed to the agent after each event it counts.

use serde::{Deserialize, Serialize};

use super::notices::Notice;
use crate::auth::Principal;
use crate::domain::stats::{self, AgentDay, StatsDay, Totals};
use crate::domain::Agent;
use crate::error::Result;
use crate::App;

/// An agent's row as the API shows it: its counters and what it handled.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentDayView {
    #[serde(flatten)]
    pub row: AgentDay,
    pub handled: u32,
}

impl AgentDayView {
    fn new(row: AgentDay) -> Self {
        AgentDayView { handled: row.handled(), row }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct DayQuery {
    #[serde(default)]
    pub day: Option<String>,
}

/// The day asked for, or today in the tenant's time.
async fn day(app: &App, who: &Principal, asked: Option<String>) -> Result<String> {
    match asked {
        Some(d) => {
            stats::check_day(&d)?;
            Ok(d)
        }
        None => Ok(stats::day_of(app.now(), app.settings(&who.tenant).await?.utc_offset_minutes)),
    }
}

/// `GET /stats/me`: the caller's own row for a day (zeros if it has none),
/// its online time up to now.
pub async fn mine(app: &App, who: &Principal, q: DayQuery) -> Result<AgentDayView> {
    who.require_staff()?;
    let day = day(app, who, q.day).await?;
    let offset = app.settings(&who.tenant).await?.utc_offset_minutes;
    let since = app.store.get_agent(&who.tenant, &who.id).await?.and_then(|a| a.online_since);
    let row = row(app, &who.tenant, &who.id, &day).await?.with_open_span(since, app.now(), offset);
    Ok(AgentDayView::new(row))
}

async fn row(app: &App, tenant: &str, agent: &str, day: &str) -> Result<AgentDay> {
    let found = app.store.agent_stats(tenant, day, agent, app.now()).await?;
    Ok(found.unwrap_or_else(|| AgentDay { agent_id: agent.to_string(), day: day.to_string(), ..AgentDay::default() }))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantDay {
    pub day: String,
    /// Every agent of the tenant (removed ones only if they counted that day).
    pub agents: Vec<AgentDayView>,
    pub totals: Totals,
}

/// `GET /stats`: the tenant's day for admins: one row per agent, and the
/// totals (from the rows: one Query of the day's partition, one of the
/// agents).
pub async fn tenant(app: &App, who: &Principal, q: DayQuery) -> Result<TenantDay> {
    who.require_admin()?;
    let day = day(app, who, q.day).await?;
    let (now, offset) = (app.now(), app.settings(&who.tenant).await?.utc_offset_minutes);
    let mut rows = app.store.day_stats(&who.tenant, &day, now).await?;
    let agents = app.store.list_agents(&who.tenant).await?;
    for a in &agents {
        if !a.removed && !rows.iter().any(|r| r.agent_id == a.id) {
            rows.push(AgentDay { agent_id: a.id.clone(), day: day.clone(), ..AgentDay::default() });
        }
    }
    let mut rows: Vec<AgentDay> = rows
        .into_iter()
        .map(|r| {
            let since = agents.iter().find(|a| a.id == r.agent_id).and_then(|a| a.online_since);
            r.with_open_span(since, now, offset)
        })
        .collect();
    rows.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
    let totals = stats::totals(&rows);
    Ok(TenantDay { day, agents: rows.into_iter().map(AgentDayView::new).collect(), totals })
}

/// Online time (A5): after anything that may bring an agent online or take
/// it offline (a connection opened or gone, a status change), its span
/// starts or ends — each exactly once, by a write conditioned on the agent
/// as read. Failures are logged: they never fail what caused them.
pub async fn sync_online(app: &App, tenant: &str, agent_id: &str) {
    if let Err(e) = try_sync_online(app, tenant, agent_id).await {
        tracing::error!(error = %e, tenant, agent = agent_id, "online time not updated");
    }
}

async fn try_sync_online(app: &App, tenant: &str, agent_id: &str) -> Result<()> {
    for _ in 0..3 {
        let Some(agent) = app.store.get_agent(tenant, agent_id).await? else { return Ok(()) };
        let now = app.now();
        let done = match (stats::is_online(&agent, now), agent.online_since) {
            (true, None) => app.store.start_online(&agent, now).await?,
            (false, Some(since)) => {
                let offset = app.settings(tenant).await?.utc_offset_minutes;
                let pieces: Vec<(StatsDay, i64)> = stats::split_span(since, now, offset)
                    .into_iter()
                    .map(|(day, ms)| (StatsDay { day, ..StatsDay::at(now, offset) }, ms))
                    .collect();
                let ended = app.store.end_online(&agent, &pieces).await?;
                if ended {
                    // Its row holds the stretch now: none is open.
                    push(app, &Agent { online_since: None, ..agent }, None).await;
                }
                ended
            }
            _ => return Ok(()),
        };
        if done {
            return Ok(());
        }
        // It changed under the write: decide again from how it is now.
    }
    Ok(())
}

/// Tells the agent its row after an event counted in it. A failed read is
/// logged: the count itself is stored.
pub async fn push(app: &App, agent: &Agent, except: Option<&str>) {
    let (now, offset) = match app.settings(&agent.tenant).await {
        Ok(s) => (app.now(), s.utc_offset_minutes),
        Err(e) => return tracing::error!(error = %e, agent = %agent.id, "stats push: settings unread"),
    };
    let today = stats::day_of(now, offset);
    match row(app, &agent.tenant, &agent.id, &today).await {
        Ok(r) => {
            let r = r.with_open_span(agent.online_since, now, offset);
            let notice = Notice::StatsUpdated { stats: AgentDayView::new(r) };
            app.notify.to_agent_record(agent, &notice, except).await;
        }
        Err(e) => tracing::error!(error = %e, agent = %agent.id, "stats push: row unread"),
    }
}

/// As `push`, for an agent known by id.
pub async fn push_to(app: &App, tenant: &str, agent_id: &str) {
    if let Some(agent) = app.notify.agent(tenant, agent_id).await {
        push(app, &agent, None).await;
    }
}
