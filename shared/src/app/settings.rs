//! F4: the tenant's settings. Every agent reads them (clients show or hide
//! features by them); admins change them, and each change is audited.

use tracing::instrument;

use super::audit;
use super::notices::Notice;
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
    // Checked as they will be, and written only over what was checked.
    let mut changed = None;
    for attempt in 0..super::RACE_ATTEMPTS {
        if attempt > 0 {
            super::after_lost_race(attempt - 1).await;
        }
        let tenant = app.store.get_tenant(&who.tenant).await?.ok_or_else(|| Error::not_found("tenant"))?;
        change.apply(&tenant.settings).check_order()?;
        if let Some(t) = app.store.update_settings(&who.tenant, &change, tenant.settings_version).await? {
            changed = Some(t);
            break;
        }
    }
    let tenant = changed.ok_or_else(|| Error::conflict("try_again", "the settings kept changing; try again"))?;
    let detail = change.fields().join(", ");
    audit::record(app, &who.tenant, &who.id, AuditAction::SettingsChanged, &who.tenant, Some(detail)).await?;
    // Every connected agent's workbench follows (F3's button, A2's switch…).
    let agents = app.store.list_agents(&who.tenant).await?;
    let notice = Notice::SettingsChanged { settings: tenant.settings.clone() };
    app.notify.to_agents(&agents, &notice).await;
    Ok(tenant.settings)
}
