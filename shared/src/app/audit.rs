//! The audit trail: every token mint, role change, disable, enable,
//! revocation and removal is recorded (who, what, whom, when); admins list it.

use crate::auth::Principal;
use crate::domain::{ids, AuditAction, AuditEntry};
use crate::error::{Error, Result};
use crate::store::Page;
use crate::App;

/// Records an action that has happened. A failure is the request's failure
/// (503, retry): the actions audited are safe to repeat.
pub async fn record(
    app: &App,
    tenant: &str,
    actor: &str,
    action: AuditAction,
    target: &str,
    detail: Option<String>,
) -> Result<()> {
    let entry = AuditEntry {
        tenant: tenant.to_string(),
        id: ids::new_id("au"),
        at: app.now(),
        actor: actor.to_string(),
        action,
        target: target.to_string(),
        detail,
    };
    tracing::info!(tenant, actor, action = ?action, target, "audit");
    app.store.record_audit(&entry).await
}

/// `GET /audit`: the tenant's trail, newest first (admins).
pub async fn list(app: &App, who: &Principal, limit: u32, cursor: Option<&str>) -> Result<Page<AuditEntry>> {
    who.require_admin()?;
    if !(1..=100).contains(&limit) {
        return Err(Error::invalid("invalid_field", "limit must be from 1 to 100"));
    }
    app.store.list_audit(&who.tenant, limit, cursor).await
}
