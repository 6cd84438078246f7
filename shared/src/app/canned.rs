//! F1: canned responses. Every agent keeps its own (nobody else sees them);
//! admins keep the tenant's, which every agent reads. Suggestions rank both
//! as the agent types (`domain::canned::rank`); sending one goes through
//! the normal send path (`messages::send`, `{"type": "canned"}`).

use serde::{Deserialize, Serialize};
use tracing::instrument;

use crate::auth::Principal;
use crate::domain::canned::{self, CannedResponse, Match, Scope};
use crate::domain::ids;
use crate::error::{Error, Result};
use crate::store::Page;
use crate::App;

/// The shelf's owner: the caller for its own, nobody for the tenant's.
fn owner(who: &Principal, scope: Scope) -> Option<&str> {
    match scope {
        Scope::Personal => Some(who.id.as_str()),
        Scope::Tenant => None,
    }
}

/// Changing the tenant's responses is for admins; one's own, for everyone.
fn require_manage(who: &Principal, scope: Scope) -> Result<()> {
    match scope {
        Scope::Personal => who.require_staff(),
        Scope::Tenant => who.require_admin(),
    }
}

pub async fn list(
    app: &App,
    who: &Principal,
    scope: Scope,
    group: Option<&str>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<Page<CannedResponse>> {
    who.require_staff()?;
    if !(1..=100).contains(&limit) {
        return Err(Error::invalid("invalid_field", "limit must be from 1 to 100"));
    }
    let group = group.map(|g| canned::clean_group(Some(g))).transpose()?;
    app.store.list_canned(&who.tenant, owner(who, scope), group.as_deref(), limit, cursor).await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCanned {
    pub scope: Scope,
    #[serde(default)]
    pub group: Option<String>,
    pub text: String,
    #[serde(default)]
    pub keywords: Vec<String>,
}

#[instrument(skip(app, req), fields(tenant = %who.tenant, by = %who.id))]
pub async fn create(app: &App, who: &Principal, req: CreateCanned) -> Result<CannedResponse> {
    require_manage(who, req.scope)?;
    let now = app.now();
    let response = CannedResponse {
        tenant: who.tenant.clone(),
        id: ids::new_id("cr"),
        scope: req.scope,
        owner: owner(who, req.scope).map(str::to_string),
        group: canned::clean_group(req.group.as_deref())?,
        text: canned::clean_response_text(&req.text)?,
        keywords: canned::clean_keywords(&req.keywords)?,
        created_at: now,
        updated_at: now,
        version: 0,
    };
    let max = match req.scope {
        Scope::Personal => canned::MAX_PERSONAL,
        Scope::Tenant => canned::MAX_TENANT,
    };
    app.store.create_canned(&response, max).await?;
    Ok(response)
}

/// The caller's own response `id`, or the tenant's: another agent's is
/// not found.
pub async fn find(app: &App, who: &Principal, id: &str) -> Result<CannedResponse> {
    who.require_staff()?;
    ids::check("cannedResponseId", id)?;
    if let Some(mine) = app.store.get_canned(&who.tenant, Some(&who.id), id).await? {
        return Ok(mine);
    }
    app.store.get_canned(&who.tenant, None, id).await?.ok_or_else(|| Error::not_found("canned response"))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateCanned {
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub keywords: Option<Vec<String>>,
}

/// Edits apply to the response as read; one that changed meanwhile is
/// read again and the edit applied to it.
#[instrument(skip(app, req), fields(tenant = %who.tenant, by = %who.id))]
pub async fn update(app: &App, who: &Principal, id: &str, req: UpdateCanned) -> Result<CannedResponse> {
    if req.group.is_none() && req.text.is_none() && req.keywords.is_none() {
        return Err(Error::invalid("invalid_field", "nothing to change"));
    }
    let group = req.group.as_deref().map(|g| canned::clean_group(Some(g))).transpose()?;
    let text = req.text.as_deref().map(canned::clean_response_text).transpose()?;
    let keywords = req.keywords.as_deref().map(canned::clean_keywords).transpose()?;
    for _ in 0..3 {
        let before = find(app, who, id).await?;
        require_manage(who, before.scope)?;
        let after = CannedResponse {
            group: group.clone().unwrap_or_else(|| before.group.clone()),
            text: text.clone().unwrap_or_else(|| before.text.clone()),
            keywords: keywords.clone().unwrap_or_else(|| before.keywords.clone()),
            updated_at: app.now(),
            version: before.version + 1,
            ..before.clone()
        };
        if app.store.replace_canned(&before, &after).await? {
            return Ok(after);
        }
    }
    Err(Error::conflict("try_again", "the canned response kept changing; try again"))
}

pub async fn delete(app: &App, who: &Principal, id: &str) -> Result<CannedResponse> {
    for _ in 0..3 {
        let response = find(app, who, id).await?;
        require_manage(who, response.scope)?;
        if app.store.delete_canned(&response).await? {
            return Ok(response);
        }
    }
    Err(Error::conflict("try_again", "the canned response kept changing; try again"))
}

/// One suggestion: the response, and how it matched.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Suggestion {
    #[serde(rename = "match")]
    pub matched: Match,
    pub response: CannedResponse,
}

pub const MAX_SUGGESTIONS: u32 = 20;

/// `GET /canned-responses/suggest?q=<draft>`: the caller's own and the
/// tenant's responses that match the draft, best first. A few small index
/// lookups, side by side, whatever the number of responses: the text
/// prefix, and each of the draft's last words as a keyword, on both shelves.
pub async fn suggest(app: &App, who: &Principal, draft: &str, limit: u32) -> Result<Vec<Suggestion>> {
    who.require_staff()?;
    if !(1..=MAX_SUGGESTIONS).contains(&limit) {
        return Err(Error::invalid("invalid_field", format!("limit must be from 1 to {MAX_SUGGESTIONS}")));
    }
    if draft.chars().count() > canned::MAX_TEXT {
        return Err(Error::invalid("invalid_field", format!("q is limited to {} characters", canned::MAX_TEXT)));
    }
    let prefix = canned::prefix_of(draft);
    if prefix.is_empty() {
        return Ok(Vec::new());
    }
    let words = canned::draft_words(draft);
    // Side by side: a suggestion waits for the slowest lookup, not their sum.
    let mut lookups = tokio::task::JoinSet::new();
    for shelf in [Some(who.id.clone()), None] {
        let mut terms = vec![(true, prefix.clone())];
        terms.extend(words.iter().map(|w| (false, w.clone())));
        for (is_prefix, term) in terms {
            let (store, tenant, shelf) = (app.store.clone(), who.tenant.clone(), shelf.clone());
            lookups.spawn(async move {
                match is_prefix {
                    true => store.canned_by_prefix(&tenant, shelf.as_deref(), &term, limit).await,
                    false => store.canned_by_keyword(&tenant, shelf.as_deref(), &term, limit).await,
                }
            });
        }
    }
    let candidates = gather(lookups).await?;
    Ok(canned::rank(draft, candidates, limit as usize)
        .into_iter()
        .map(|(matched, response)| Suggestion { matched, response })
        .collect())
}

/// Every lookup's finds, once all have answered.
pub(super) async fn gather<T: 'static>(mut lookups: tokio::task::JoinSet<Result<Vec<T>>>) -> Result<Vec<T>> {
    let mut found = Vec::new();
    while let Some(done) = lookups.join_next().await {
        found.extend(done.map_err(|e| Error::Internal(format!("a lookup failed: {e}")))??);
    }
    Ok(found)
}

/// The text a canned response sends (the caller's own or the tenant's).
pub async fn text_of(app: &App, who: &Principal, id: &str) -> Result<String> {
    Ok(find(app, who, id).await?.text)
}
