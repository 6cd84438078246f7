//! F4: the tenant's settings. Every agent reads them (clients show or hide
//! features by them); admins change them, and each change is audited.

use tracing::instrument;

use super::audit;
use crate::auth::Principal;
use crate::domain::{AuditAction, Settings, SettingsChange};
use crate::error::{Error, Result};
use crate::App;

pub async fn get(app: &App, who: &Principal) -> Result<Settings> {
    who.require_staff()?;
    let tenant = app.store.get_tenant(&who.tenant).await?.ok_or_else(|| Error::not_found("tenant"))?;
    Ok(tenant.settings)
}

#[instrument(skip(app, change), fields(tenant = %who.tenant, by = %who.id))]
pub async fn update(app: &App, who: &Principal, change: SettingsChange) -> Result<Settings> {
    who.require_admin()?;
    change.validate()?;
    let tenant = app.store.update_settings(&who.tenant, &change).await?;
    let detail = change.fields().join(", ");
    audit::record(app, &who.tenant, &who.id, AuditAction::SettingsChanged, &who.tenant, Some(detail)).await?;
    Ok(tenant.settings)
}
