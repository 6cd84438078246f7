//! Tenants are created by an operator (the `kefu-admin` command), with their
//! first admin.

use crate::app::agents::{new_agent, token_for, CreateAgent, Token};
use crate::auth::Role;
use crate::domain::{ids, Agent, Tenant};
use crate::error::Result;
use crate::App;

pub async fn create_with_admin(
    app: &App,
    id: &str,
    name: &str,
    admin_nickname: &str,
) -> Result<(Tenant, Agent, Token)> {
    ids::check_tenant(id)?;
    let name = crate::domain::text::clean_name("name", name)?;
    let tenant = Tenant::new(id, &name, app.now());
    app.store.create_tenant(&tenant).await?;
    let admin = new_agent(
        app,
        id,
        CreateAgent {
            agent_id: Some("admin".into()),
            nickname: admin_nickname.to_string(),
            real_name: admin_nickname.to_string(),
            role: Some(Role::Admin),
            max_concurrent: None,
            language: None,
        },
    )
    .await?;
    let token = token_for(app, &admin, crate::domain::audit::OPERATOR).await?;
    Ok((tenant, admin, token))
}
