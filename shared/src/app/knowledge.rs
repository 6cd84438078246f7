//! F2: the tenant's knowledge base. Admins keep it; every agent lists,
//! searches and sends from it: an entry goes as a rich message of its
//! title and content, one attachment as a file message (`messages::send`,
//! `{"type": "knowledge"}`).

use serde::{Deserialize, Serialize};
use tracing::instrument;

use crate::auth::Principal;
use crate::domain::canned::{self, Match};
use crate::domain::knowledge::{self, KnowledgeEntry, NewAttachment};
use crate::domain::{ids, Content};
use crate::error::{Error, Result};
use crate::store::Page;
use crate::App;

pub async fn list(app: &App, who: &Principal, limit: u32, cursor: Option<&str>) -> Result<Page<KnowledgeEntry>> {
    who.require_staff()?;
    if !(1..=100).contains(&limit) {
        return Err(Error::invalid("invalid_field", "limit must be from 1 to 100"));
    }
    app.store.list_knowledge(&who.tenant, limit, cursor).await
}

pub async fn get(app: &App, who: &Principal, id: &str) -> Result<KnowledgeEntry> {
    who.require_staff()?;
    ids::check("knowledgeId", id)?;
    app.store.get_knowledge(&who.tenant, id).await?.ok_or_else(|| Error::not_found("knowledge entry"))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateEntry {
    pub title: String,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub attachments: Vec<NewAttachment>,
}

#[instrument(skip(app, req), fields(tenant = %who.tenant, by = %who.id))]
pub async fn create(app: &App, who: &Principal, req: CreateEntry) -> Result<KnowledgeEntry> {
    who.require_admin()?;
    let now = app.now();
    let entry = KnowledgeEntry {
        tenant: who.tenant.clone(),
        id: ids::new_id("kb"),
        title: knowledge::clean_title(&req.title)?,
        content: knowledge::clean_content(&req.content)?,
        keywords: canned::clean_keywords(&req.keywords)?,
        attachments: knowledge::clean_attachments(&req.attachments, || ids::new_id("at"))?,
        created_by: who.id.clone(),
        created_at: now,
        updated_at: now,
        version: 0,
    };
    app.store.create_knowledge(&entry, knowledge::MAX_ENTRIES).await?;
    Ok(entry)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateEntry {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub keywords: Option<Vec<String>>,
    /// Replaces them all (each gets a new id).
    #[serde(default)]
    pub attachments: Option<Vec<NewAttachment>>,
}

#[instrument(skip(app, req), fields(tenant = %who.tenant, by = %who.id))]
pub async fn update(app: &App, who: &Principal, id: &str, req: UpdateEntry) -> Result<KnowledgeEntry> {
    who.require_admin()?;
    if req.title.is_none() && req.content.is_none() && req.keywords.is_none() && req.attachments.is_none() {
        return Err(Error::invalid("invalid_field", "nothing to change"));
    }
    let title = req.title.as_deref().map(knowledge::clean_title).transpose()?;
    let content = req.content.as_deref().map(knowledge::clean_content).transpose()?;
    let keywords = req.keywords.as_deref().map(canned::clean_keywords).transpose()?;
    let attachments =
        req.attachments.as_deref().map(|a| knowledge::clean_attachments(a, || ids::new_id("at"))).transpose()?;
    for _ in 0..3 {
        let before = get(app, who, id).await?;
        let after = KnowledgeEntry {
            title: title.clone().unwrap_or_else(|| before.title.clone()),
            content: content.clone().unwrap_or_else(|| before.content.clone()),
            keywords: keywords.clone().unwrap_or_else(|| before.keywords.clone()),
            attachments: attachments.clone().unwrap_or_else(|| before.attachments.clone()),
            updated_at: app.now(),
            version: before.version + 1,
            ..before.clone()
        };
        if app.store.replace_knowledge(&before, &after).await? {
            return Ok(after);
        }
    }
    Err(Error::conflict("try_again", "the entry kept changing; try again"))
}

pub async fn delete(app: &App, who: &Principal, id: &str) -> Result<KnowledgeEntry> {
    who.require_admin()?;
    for _ in 0..3 {
        let entry = get(app, who, id).await?;
        if app.store.delete_knowledge(&entry).await? {
            return Ok(entry);
        }
    }
    Err(Error::conflict("try_again", "the entry kept changing; try again"))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Found {
    #[serde(rename = "match")]
    pub matched: Match,
    pub entry: KnowledgeEntry,
}

pub const MAX_RESULTS: u32 = 50;

/// `GET /knowledge/search?q=`: entries whose title starts with `q`, or
/// with a keyword or title word starting with one of its last words, best
/// first. A few index lookups, whatever the size of the knowledge base.
pub async fn search(app: &App, who: &Principal, query: &str, limit: u32) -> Result<Vec<Found>> {
    who.require_staff()?;
    if !(1..=MAX_RESULTS).contains(&limit) {
        return Err(Error::invalid("invalid_field", format!("limit must be from 1 to {MAX_RESULTS}")));
    }
    if query.chars().count() > knowledge::MAX_TITLE {
        return Err(Error::invalid("invalid_field", format!("q is limited to {} characters", knowledge::MAX_TITLE)));
    }
    let prefix = canned::prefix_of(query);
    if prefix.is_empty() {
        return Ok(Vec::new());
    }
    let mut lookups = tokio::task::JoinSet::new();
    let mut terms = vec![(true, prefix)];
    terms.extend(canned::draft_words(query).into_iter().map(|w| (false, w)));
    for (is_prefix, term) in terms {
        let (store, tenant) = (app.store.clone(), who.tenant.clone());
        lookups.spawn(async move {
            match is_prefix {
                true => store.knowledge_by_prefix(&tenant, &term, limit).await,
                false => store.knowledge_by_keyword(&tenant, &term, limit).await,
            }
        });
    }
    let candidates = super::canned::gather(lookups).await?;
    Ok(knowledge::rank(query, candidates, limit as usize)
        .into_iter()
        .map(|(matched, entry)| Found { matched, entry })
        .collect())
}

/// What sending an entry sends: its title and content as a rich message,
/// or (`attachment`) that one attachment as a file message.
pub async fn content_of(app: &App, who: &Principal, id: &str, attachment: Option<&str>) -> Result<Content> {
    let entry = get(app, who, id).await?;
    Ok(match attachment {
        None => Content::Rich { title: entry.title, description: entry.content, url: String::new(), thumbnail: None },
        Some(a) => {
            let a = entry.attachments.into_iter().find(|x| x.id == a).ok_or_else(|| Error::not_found("attachment"))?;
            Content::File { url: a.url, name: a.name, size: a.size, mime_type: Some(a.mime_type) }
        }
    })
}
