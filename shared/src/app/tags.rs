//! D1/D2: the tenant's tag tree (admins), tags and a note on a session
//! (agents, during or after it), and each agent's most-used tags.

use serde::Deserialize;
use tracing::instrument;

use super::sessions::{get, get_visible};
use super::views::SessionView;
use crate::auth::Principal;
use crate::domain::ids;
use crate::domain::tag::{self, Tag};
use crate::domain::text::clean_name;
use crate::error::{Error, Result};
use crate::store::{TagChange, TagUsage};
use crate::App;

/// The whole tree, deleted tags included (`deleted: true`: old sessions
/// name them; they are not offered any more).
pub async fn list(app: &App, who: &Principal) -> Result<Vec<Tag>> {
    who.require_staff()?;
    app.store.list_tags(&who.tenant).await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTag {
    #[serde(default)]
    pub tag_id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub parent_id: Option<String>,
}

pub async fn create(app: &App, who: &Principal, req: CreateTag) -> Result<Tag> {
    who.require_admin()?;
    let name = clean_name("name", &req.name)?;
    let id = match req.tag_id {
        Some(id) => {
            ids::check("tagId", &id)?;
            id
        }
        None => ids::new_id("tag"),
    };
    if let Some(p) = &req.parent_id {
        ids::check("parentId", p)?;
    }
    let tree = app.store.list_tags(&who.tenant).await?;
    if tree.len() >= tag::MAX_TAGS {
        return Err(Error::conflict("too_many_tags", format!("a tenant has at most {} tags", tag::MAX_TAGS)));
    }
    tag::check_parent(&tree, &id, req.parent_id.as_deref())?;
    let t = Tag { tenant: who.tenant.clone(), id, name, parent: req.parent_id, deleted: false, created_at: app.now() };
    app.store.create_tag(&t).await?;
    Ok(t)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateTag {
    #[serde(default)]
    pub name: Option<String>,
    /// `null` moves the tag to the root.
    #[serde(default, deserialize_with = "crate::domain::present")]
    pub parent_id: Option<Option<String>>,
}

/// Renames or moves a tag (a move may not put it under itself or nest the
/// tree deeper than `tag::MAX_DEPTH`).
pub async fn update(app: &App, who: &Principal, id: &str, req: UpdateTag) -> Result<Tag> {
    who.require_admin()?;
    ids::check("tagId", id)?;
    let tree = app.store.list_tags(&who.tenant).await?;
    live(&tree, id)?;
    let name = req.name.as_deref().map(|n| clean_name("name", n)).transpose()?;
    if let Some(parent) = &req.parent_id {
        if let Some(p) = parent {
            ids::check("parentId", p)?;
        }
        tag::check_parent(&tree, id, parent.as_deref())?;
    }
    app.store.update_tag(&who.tenant, id, &TagChange { name, parent: req.parent_id, deleted: None }).await
}

/// Deletes a tag: sessions keep it and show it, nobody can apply it any
/// more. A tag with live subtags stays until they are gone or moved.
pub async fn delete(app: &App, who: &Principal, id: &str) -> Result<Tag> {
    who.require_admin()?;
    ids::check("tagId", id)?;
    let tree = app.store.list_tags(&who.tenant).await?;
    live(&tree, id)?;
    if tree.iter().any(|t| t.parent.as_deref() == Some(id) && !t.deleted) {
        return Err(Error::conflict("tag_has_children", "delete or move its subtags first"));
    }
    app.store.update_tag(&who.tenant, id, &TagChange { deleted: Some(true), ..Default::default() }).await
}

fn live<'a>(tree: &'a [Tag], id: &str) -> Result<&'a Tag> {
    tree.iter().find(|t| t.id == id && !t.deleted).ok_or_else(|| Error::not_found("tag"))
}

/// D1: the tags this agent applies most, most often first (at most 5,
/// deleted ones left out). One index query and one batch read.
pub async fn recommended(app: &App, who: &Principal) -> Result<Vec<Tag>> {
    who.require_staff()?;
    // A few more than shown, for those deleted since.
    let ranked = app.store.most_used_tags(&who.tenant, &who.id, 2 * tag::RECOMMENDED as u32).await?;
    if ranked.is_empty() {
        return Ok(Vec::new());
    }
    let found = app.store.get_tags(&who.tenant, &ranked).await?;
    Ok(ranked
        .iter()
        .filter_map(|id| found.iter().find(|t| &t.id == id && !t.deleted).cloned())
        .take(tag::RECOMMENDED)
        .collect())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetTags {
    /// The session's tags from now on.
    pub tags: Vec<String>,
    /// Absent: the note stays; `null` or empty: no note.
    #[serde(default, deserialize_with = "crate::domain::present")]
    pub note: Option<Option<String>>,
}

/// D1: tags and a note, during the session or after it (a closed session's
/// too). Each tag newly applied counts for the caller's recommendation.
#[instrument(skip(app, req), fields(tenant = %who.tenant, by = %who.id))]
pub async fn set_on_session(app: &App, who: &Principal, id: &str, req: SetTags) -> Result<SessionView> {
    who.require_staff()?;
    tag::check_count(req.tags.len())?;
    for t in &req.tags {
        ids::check("tags", t)?;
    }
    let s = get_visible(app, who, id).await?;
    s.check_can_annotate(who)?;
    let new: Vec<String> = req.tags.iter().filter(|t| !s.tags.contains(t)).cloned().collect();
    let known = if new.is_empty() { Vec::new() } else { app.store.get_tags(&who.tenant, &new).await? };
    let added = tag::check_session_tags(&known, &s.tags, &req.tags)?;
    let note = match req.note {
        None => s.note.clone(),
        Some(None) => None,
        Some(Some(n)) => tag::clean_note(&n)?,
    };
    let usage = TagUsage { agent: who.id.clone(), added };
    app.store.set_tags(&s, &req.tags, note.as_deref(), &usage).await?;
    tracing::info!(session = id, tags = req.tags.len(), "session tags set");
    get(app, who, id).await
}
