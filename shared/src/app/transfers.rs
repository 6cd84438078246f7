//! D4/D5: an agent (or an admin) hands an in-progress session to another
//! agent, or to a skill group's queue. The session keeps its whole history
//! and records every transfer; the receiver sees it at the top of its list
//! marked `transferred`; the sender's freed capacity drains the queue.

use serde::Deserialize;
use tracing::instrument;

use super::dispatch::{self, Roster};
use super::notices::{Notice, NotifyKind};
use super::sessions::{get, get_visible};
use super::views::{SessionView, VisitorSession};
use crate::auth::Principal;
use crate::domain::stats::StatsDay;
use crate::domain::timers;
use crate::domain::{agent, ids, Session, SessionState, Transfer, TransferTarget};
use crate::error::{Error, Result};
use crate::store::Assigned;
use crate::App;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferRequest {
    /// D4: the agent to hand it to…
    #[serde(default)]
    pub agent_id: Option<String>,
    /// …or D5: the skill group whose queue it joins.
    #[serde(default)]
    pub group_id: Option<String>,
}

impl TransferRequest {
    fn target(self) -> Result<TransferTarget> {
        match (self.agent_id, self.group_id) {
            (Some(a), None) => {
                ids::check("agentId", &a)?;
                Ok(TransferTarget::Agent(a))
            }
            (None, Some(g)) => {
                ids::check("groupId", &g)?;
                Ok(TransferTarget::Group(g))
            }
            _ => Err(Error::invalid("invalid_field", "give exactly one of agentId and groupId")),
        }
    }
}

#[instrument(skip(app, req), fields(tenant = %who.tenant, by = %who.id))]
pub async fn transfer(app: &App, who: &Principal, id: &str, req: TransferRequest) -> Result<SessionView> {
    who.require_staff()?;
    let target = req.target()?;
    let s = get_visible(app, who, id).await?;
    let from = s.check_can_transfer(who, &target)?;
    let (t, now) = (&who.tenant, app.now());
    let settings = app.settings(t).await?;
    let day = StatsDay::at(now, settings.utc_offset_minutes);
    let mut record = Transfer { from: from.clone(), to_agent: None, to_group: None, by: who.id.clone(), at: now };
    match &target {
        TransferTarget::Agent(to) => {
            let receiver =
                app.store.get_agent(t, to).await?.filter(|a| !a.removed).ok_or_else(|| Error::not_found("agent"))?;
            if receiver.disabled {
                return Err(Error::conflict("agent_unavailable", "that agent is disabled"));
            }
            receiver.check_below_hard_cap()?;
            record.to_agent = Some(to.clone());
            let timer = timers::after_assign(t, id, &settings, now);
            match app.store.transfer_session(&s, &from, &record, now, &timer, &day).await? {
                Assigned::Assigned => {}
                Assigned::AgentUnavailable => return Err(agent::at_hard_cap()),
                Assigned::SessionTaken => return Err(changed_hands()),
            }
            tracing::info!(session = id, from = %from, to = %to, "session transferred to an agent");
            // The receiver's tabs (marked `transferred`, a `transfer`
            // alert) and the visitor (its new agent's nickname).
            dispatch::announce(app, id, &receiver, NotifyKind::Transfer, None).await;
        }
        TransferTarget::Group(g) => {
            app.store.get_group(t, g).await?.ok_or_else(|| Error::not_found("skill group"))?;
            record.to_group = Some(g.clone());
            if !app.store.requeue_session(&s, &from, Some((&record, &day)), now).await? {
                return Err(changed_hands());
            }
            tracing::info!(session = id, from = %from, group = %g, "session transferred to a skill group");
            let waiting = Session { state: SessionState::Waiting, agent_id: None, group: Some(g.clone()), ..s.clone() };
            let notice = Notice::Requeued { session: SessionView::Visitor(VisitorSession::new(&waiting, None)) };
            app.notify.to_visitor(t, &s.visitor_id, &notice).await;
        }
    }
    // The sender's tabs drop it from the in-progress list.
    let requeued = record.to_group.is_some();
    let gone =
        Notice::TransferredAway { session_id: id.to_string(), to_agent: record.to_agent, to_group: record.to_group };
    let sender = app.notify.agent(t, &from).await;
    if let Some(sender) = &sender {
        app.notify.to_agent_record(sender, &gone, None).await;
        super::stats::push(app, sender, None).await; // A5: one transferred out
    }
    // B3: the sender's freed capacity (and, for a group, the session
    // itself) drains the queue.
    let roster = if requeued { Roster::FreedAndQueued(sender.as_slice()) } else { Roster::Freed(sender.as_slice()) };
    dispatch::drain_after(app, t, None, roster).await;
    get(app, who, id).await
}

fn changed_hands() -> Error {
    Error::conflict("not_assigned", "the session changed hands meanwhile")
}
