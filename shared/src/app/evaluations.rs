//! D6: the agent invites the visitor to rate the session; the visitor
//! answers 1–5 stars (非常不满意 … 非常满意) and an optional comment, once per
//! invitation; the answer is stored on the session and pushed to the agent.

use serde::Deserialize;
use tracing::instrument;

use super::notices::Notice;
use super::sessions::{get, get_visible};
use super::views::SessionView;
use crate::auth::Principal;
use crate::domain::session::MAX_COMMENT;
use crate::domain::text::clean_text;
use crate::domain::{ids, Evaluation, Invitation};
use crate::error::{Error, Result};
use crate::App;

/// The agent invites: the visitor gets `evaluation.invited`. A new
/// invitation replaces one still open.
#[instrument(skip(app), fields(tenant = %who.tenant, by = %who.id))]
pub async fn invite(app: &App, who: &Principal, id: &str) -> Result<SessionView> {
    who.require_staff()?;
    let s = get_visible(app, who, id).await?;
    s.check_can_invite(who)?;
    let invitation = Invitation { id: ids::new_id("ev"), by: who.id.clone(), at: app.now() };
    app.store.invite_evaluation(&s, &invitation).await?;
    tracing::info!(session = id, "evaluation invited");
    let notice = Notice::EvaluationInvited { session_id: s.id.clone() };
    app.notify.to_visitor(&s.tenant, &s.visitor_id, &notice).await;
    get(app, who, id).await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rate {
    /// 1 (非常不满意) … 5 (非常满意).
    pub rating: i64,
    #[serde(default)]
    pub comment: Option<String>,
}

/// The visitor answers the open invitation, once.
#[instrument(skip(app, req), fields(tenant = %who.tenant, visitor = %who.id))]
pub async fn rate(app: &App, who: &Principal, id: &str, req: Rate) -> Result<SessionView> {
    let s = get_visible(app, who, id).await?;
    let comment = req.comment.as_deref().map(|c| clean_text("comment", c, MAX_COMMENT)).transpose()?.flatten();
    let invitation = s.check_evaluation(who, req.rating, comment.as_deref())?;
    let evaluation = Evaluation {
        invitation: invitation.id,
        rating: req.rating as u8,
        comment,
        at: app.now(),
        invited_by: invitation.by,
    };
    if !app.store.record_evaluation(&s, &evaluation).await? {
        return Err(Error::conflict("already_rated", "this invitation was answered already"));
    }
    tracing::info!(session = id, rating = evaluation.rating, "evaluation received");
    let notice = Notice::EvaluationReceived { session_id: s.id.clone(), evaluation: evaluation.clone() };
    if let Some(agent) = &s.agent_id {
        app.notify.to_agent(&s.tenant, agent, &notice).await;
    }
    if s.agent_id.as_deref() != Some(evaluation.invited_by.as_str()) {
        app.notify.to_agent(&s.tenant, &evaluation.invited_by, &notice).await;
    }
    get(app, who, id).await
}
