//! E1–E3: visitor information for staff: the profile (the id read-only;
//! name, nickname, phone, email, company, notes and custom fields editable),
//! visitor tags, tickets, and the customer list, searched by name,
//! nickname, phone or email.

use serde::Deserialize;
use tracing::instrument;

use super::views::{VisitorProfile, VisitorView};
use crate::auth::Principal;
use crate::domain::text::search_query;
use crate::domain::ticket::{self, Ticket, TicketStatus};
use crate::domain::{ids, ProfileChange, Visitor};
use crate::error::{Error, Result};
use crate::store::{Page, TicketChange};
use crate::App;

async fn visitor(app: &App, who: &Principal, id: &str) -> Result<Visitor> {
    who.require_staff()?;
    ids::check("visitorId", id)?;
    super::visitors::live(app, &who.tenant, id).await
}

/// E1/E3: the profile, with the visitor's tickets.
pub async fn profile(app: &App, who: &Principal, id: &str) -> Result<VisitorProfile> {
    let v = visitor(app, who, id).await?;
    let tickets = app.store.list_tickets(&who.tenant, id).await?;
    Ok(VisitorProfile {
        visitor: VisitorView::new(&v),
        notes: v.notes.clone(),
        custom: v.custom.clone(),
        active_session: v.active_session.clone(),
        tickets,
    })
}

/// E1/E2: edits persist, and the visitor's next session shows them.
#[instrument(skip(app, change), fields(tenant = %who.tenant, by = %who.id))]
pub async fn update_profile(app: &App, who: &Principal, id: &str, change: ProfileChange) -> Result<VisitorProfile> {
    let change = change.cleaned()?;
    if change.is_empty() {
        return Err(Error::invalid("invalid_field", "no field to change"));
    }
    let v = visitor(app, who, id).await?;
    app.store.update_profile(&v, &change).await?;
    profile(app, who, id).await
}

/// E1: the customer list: visitors whose name, nickname, phone or email
/// starts with `q` (case-insensitive), a page at a time. Visitors enter it
/// with their first session, or when staff edit them.
pub async fn search(
    app: &App,
    who: &Principal,
    q: &str,
    limit: u32,
    cursor: Option<&str>,
) -> Result<Page<VisitorView>> {
    who.require_staff()?;
    let q = search_query(Some(q.to_string()))?
        .ok_or_else(|| Error::invalid("invalid_field", "q must be 1-64 characters"))?;
    if !(1..=100).contains(&limit) {
        return Err(Error::invalid("invalid_field", "limit must be from 1 to 100"));
    }
    let page = app.store.search_visitors(&who.tenant, &q, limit, cursor).await?;
    let found =
        if page.items.is_empty() { Vec::new() } else { app.store.get_visitors(&who.tenant, &page.items).await? };
    let items = page.items.iter().filter_map(|id| found.iter().find(|v| &v.id == id)).map(VisitorView::new).collect();
    Ok(Page { items, next_cursor: page.next_cursor })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewTicket {
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// E3: a ticket for the visitor, opened by the caller.
pub async fn open_ticket(app: &App, who: &Principal, visitor_id: &str, req: NewTicket) -> Result<Ticket> {
    let v = visitor(app, who, visitor_id).await?;
    let title = ticket::clean_title(&req.title)?;
    let description = req.description.as_deref().map(ticket::clean_description).transpose()?.flatten();
    if app.store.list_tickets(&who.tenant, &v.id).await?.len() >= ticket::MAX_PER_VISITOR {
        return Err(Error::conflict("too_many_tickets", "this visitor has too many tickets; close some first"));
    }
    let now = app.now();
    let t = Ticket {
        tenant: who.tenant.clone(),
        id: ids::new_id("tk"),
        visitor_id: v.id,
        title,
        description,
        status: TicketStatus::Open,
        created_by: who.id.clone(),
        created_at: now,
        updated_at: now,
    };
    app.store.create_ticket(&t).await?;
    Ok(t)
}

pub async fn tickets(app: &App, who: &Principal, visitor_id: &str) -> Result<Vec<Ticket>> {
    let v = visitor(app, who, visitor_id).await?;
    app.store.list_tickets(&who.tenant, &v.id).await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TicketUpdate {
    #[serde(default)]
    pub title: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "crate::domain::present")]
    pub description: Option<Option<String>>,
    #[serde(default)]
    pub status: Option<TicketStatus>,
}

/// E3: a ticket's status (open, pending, solved, closed), title or description.
pub async fn update_ticket(
    app: &App,
    who: &Principal,
    visitor_id: &str,
    id: &str,
    req: TicketUpdate,
) -> Result<Ticket> {
    who.require_staff()?;
    ids::check("visitorId", visitor_id)?;
    ids::check("ticketId", id)?;
    let title = req.title.as_deref().map(ticket::clean_title).transpose()?;
    let description = req
        .description
        .map(|d| d.as_deref().map(ticket::clean_description).transpose().map(Option::flatten))
        .transpose()?;
    if title.is_none() && description.is_none() && req.status.is_none() {
        return Err(Error::invalid("invalid_field", "no field to change"));
    }
    let change = TicketChange { title, description, status: req.status, updated_at: app.now() };
    app.store.update_ticket(&who.tenant, visitor_id, id, &change).await
}
