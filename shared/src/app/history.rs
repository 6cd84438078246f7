//! D7: history search over closed sessions, by close time, filtered by
//! agent, and by session tag or visitor tag. Each filter has its own index (an
//! agent's closed sessions, a tag's history entries, …), so a page reads
//! about as many items as it returns, never the tenant's whole history.

use super::views::SessionView;
use crate::auth::{Principal, Role};
use crate::domain::ids;
use crate::error::{Error, Result};
use crate::store::{HistoryIndex, HistoryQuery, Page};
use crate::App;

#[derive(Debug, Default)]
pub struct HistoryParams {
    /// Closed at or after (epoch ms).
    pub from: Option<u64>,
    /// Closed at or before (epoch ms).
    pub to: Option<u64>,
    pub agent_id: Option<String>,
    pub tag: Option<String>,
    pub visitor_tag: Option<String>,
    pub limit: u64,
    pub cursor: Option<String>,
}

pub async fn search(app: &App, who: &Principal, p: HistoryParams) -> Result<Page<SessionView>> {
    who.require_staff()?;
    if p.tag.is_some() && p.visitor_tag.is_some() {
        return Err(Error::invalid("invalid_field", "filter by tag or by visitorTag, not both"));
    }
    if !(1..=100).contains(&p.limit) {
        return Err(Error::invalid("invalid_field", "limit must be from 1 to 100"));
    }
    let (from, to) = (p.from.unwrap_or(0) as i64, p.to.map_or(i64::MAX / 2, |t| t as i64));
    if from > to {
        return Err(Error::invalid("invalid_field", "from must not be after to"));
    }
    // H3: an agent searches only sessions it handled.
    let mine = (who.role == Role::Agent).then(|| who.id.clone());
    if let Some(a) = &p.agent_id {
        ids::check("agentId", a)?;
        if mine.as_ref().is_some_and(|me| me != a) {
            return Err(Error::forbidden("agents search only their own history"));
        }
    }
    // A tag's index, kept to the sessions the agent (or the caller, for an
    // agent) handled; else the agent's own closed sessions; else all.
    let handled_by = p.agent_id.clone().or(mine.clone());
    let (index, handled_by) = match (p.tag, p.visitor_tag) {
        (Some(tag), _) => {
            ids::check("tag", &tag)?;
            (HistoryIndex::Tag(tag), handled_by)
        }
        (_, Some(tag)) => {
            if tag.is_empty() || tag.chars().count() > 64 {
                return Err(Error::invalid("invalid_field", "visitorTag must be 1-64 characters"));
            }
            (HistoryIndex::VisitorTag(tag), handled_by)
        }
        _ => match handled_by {
            Some(a) => (HistoryIndex::Agent(a), None),
            None => (HistoryIndex::Tenant, None),
        },
    };
    // A large tenant's closed sessions are spread over shards.
    let shards = match index {
        HistoryIndex::Tenant => app.tenant_config(&who.tenant).await?.1,
        _ => 1,
    };
    let q = HistoryQuery { index, from, to, handled_by, limit: p.limit as u32, cursor: p.cursor, shards };
    let page = app.store.search_history(&who.tenant, &q).await?;
    Ok(Page { items: page.items.iter().map(SessionView::staff).collect(), next_cursor: page.next_cursor })
}
