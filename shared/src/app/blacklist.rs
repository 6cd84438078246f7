//! D9/B5: the tenant's blacklist. A visitor put on it from a session,
//! history or the customer list has its open session closed at once
//! (`blacklisted`); while on it, it starts no session, and what it still
//! sends into that closed session is kept but reaches nobody. Taking it off
//! restores normal service.

use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::sessions::close_as;
use crate::auth::Principal;
use crate::domain::text::clean_text;
use crate::domain::visitor::MAX_REASON;
use crate::domain::{ids, BlacklistEntry, CloseReason};
use crate::error::{Error, Result};
use crate::store::{Guard, Page};
use crate::App;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddRequest {
    pub visitor_id: String,
    pub reason: String,
}

#[instrument(skip(app, req), fields(tenant = %who.tenant, by = %who.id, visitor = %req.visitor_id))]
pub async fn add(app: &App, who: &Principal, req: AddRequest) -> Result<BlacklistEntry> {
    who.require_staff()?;
    ids::check("visitorId", &req.visitor_id)?;
    let reason = clean_text("reason", &req.reason, MAX_REASON)?
        .ok_or_else(|| Error::invalid("invalid_field", "give a reason"))?;
    let visitor =
        app.store.get_visitor(&who.tenant, &req.visitor_id).await?.ok_or_else(|| Error::not_found("visitor"))?;
    let entry = BlacklistEntry {
        tenant: who.tenant.clone(),
        visitor_id: visitor.id.clone(),
        reason,
        by: who.id.clone(),
        at: app.now(),
        visitor_name: visitor.name.clone(),
        visitor_nickname: visitor.nickname.clone(),
    };
    if !app.store.blacklist(&entry).await? {
        return Err(Error::conflict("already_blacklisted", "the visitor is on the blacklist already"));
    }
    tracing::info!("visitor blacklisted");
    // Its open session closes at once; both parties are told.
    if let Some(sid) = &visitor.active_session {
        if let Some(s) = app.store.get_session(&who.tenant, sid).await? {
            close_as(app, &s, CloseReason::Blacklisted, Guard::None).await?;
        }
    }
    Ok(entry)
}

/// What taking a visitor off the blacklist answers.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Removed {
    pub visitor_id: String,
    pub blacklisted: bool,
}

#[instrument(skip(app), fields(tenant = %who.tenant, by = %who.id))]
pub async fn remove(app: &App, who: &Principal, visitor_id: &str) -> Result<Removed> {
    who.require_staff()?;
    ids::check("visitorId", visitor_id)?;
    if !app.store.unblacklist(&who.tenant, visitor_id).await? {
        return Err(Error::not_found("blacklist entry"));
    }
    tracing::info!(visitor = visitor_id, "visitor taken off the blacklist");
    Ok(Removed { visitor_id: visitor_id.to_string(), blacklisted: false })
}

/// The blacklist, a page at a time; `q` searches names and reason.
pub async fn list(
    app: &App,
    who: &Principal,
    q: Option<String>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<Page<BlacklistEntry>> {
    who.require_staff()?;
    if !(1..=100).contains(&limit) {
        return Err(Error::invalid("invalid_field", "limit must be from 1 to 100"));
    }
    let q = crate::domain::text::search_query(q)?;
    app.store.list_blacklist(&who.tenant, q.as_deref(), limit, cursor).await
}
