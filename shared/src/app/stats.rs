//! A5: live stats. Each agent's row for the tenant's day is counted inside
//! the writes of the events themselves (`store::SessionStore`); here they
//! are read — the agent's own, and the tenant's view for admins — and
//! pushed to the agent after each event it counts.

use serde::{Deserialize, Serialize};

use super::notices::Notice;
use crate::auth::Principal;
use crate::domain::stats::{self, AgentDay, Totals};
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

/// `GET /stats/me`: the caller's own row for a day (zeros if it has none).
pub async fn mine(app: &App, who: &Principal, q: DayQuery) -> Result<AgentDayView> {
    who.require_staff()?;
    let day = day(app, who, q.day).await?;
    Ok(AgentDayView::new(row(app, &who.tenant, &who.id, &day).await?))
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
    let mut rows = app.store.day_stats(&who.tenant, &day, app.now()).await?;
    for a in app.store.list_agents(&who.tenant).await? {
        if !a.removed && !rows.iter().any(|r| r.agent_id == a.id) {
            rows.push(AgentDay { agent_id: a.id, day: day.clone(), ..AgentDay::default() });
        }
    }
    rows.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
    let totals = stats::totals(&rows);
    Ok(TenantDay { day, agents: rows.into_iter().map(AgentDayView::new).collect(), totals })
}

/// Tells the agent its row after an event counted in it. A failed read is
/// logged: the count itself is stored.
pub async fn push(app: &App, agent: &Agent, except: Option<&str>) {
    let today = match app.settings(&agent.tenant).await {
        Ok(s) => stats::day_of(app.now(), s.utc_offset_minutes),
        Err(e) => return tracing::error!(error = %e, agent = %agent.id, "stats push: settings unread"),
    };
    match row(app, &agent.tenant, &agent.id, &today).await {
        Ok(r) => {
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
