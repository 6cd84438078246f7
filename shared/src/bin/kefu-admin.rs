//! `kefu-admin`: the operator's command. Talks to DynamoDB directly with the
//! same environment as the functions (`TABLE_NAME`, `JWT_SECRET`, AWS_*).
//!
//!   kefu-admin create-tenant <tenant-id> <name> [admin-nickname]
//!   kefu-admin token <tenant-id> <agent-id>
//!   kefu-admin seed-demo
//!   kefu-admin reindex <tenant-id>   (lists every agent of a tenant from
//!       before the ready list where it belongs, and splits a large one's;
//!       moves its sessions open from before the open list into it)
//!   kefu-admin translate <target> <text> [source]   (checks the translation
//!       setup: Amazon Translate, or the endpoint AWS_ENDPOINT_URL_TRANSLATE names)

use std::io::Write;

use kefu::app::agents::{new_agent, token_for, CreateAgent};
use kefu::app::tenants;
use kefu::auth::Role;
use kefu::domain::audit::OPERATOR;
use kefu::domain::AgentStatus;
use kefu::store::AgentChange;
use kefu::{App, Error};
use serde_json::json;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let app = match App::from_env().await {
        Ok(app) => app,
        Err(e) => fail(&e.to_string()),
    };
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["create-tenant", id, name] => create_tenant(&app, id, name, "Admin").await,
        ["create-tenant", id, name, nick] => create_tenant(&app, id, name, nick).await,
        ["token", tenant, agent] => token(&app, tenant, agent).await,
        ["seed-demo"] => seed_demo(&app).await,
        ["reindex", tenant] => {
            kefu::app::dispatch::reindex(&app, tenant).await.and_then(|r| Ok(serde_json::to_value(r)?))
        }
        ["translate", target, text] => translate(target, text, None).await,
        ["translate", target, text, source] => translate(target, text, Some(source)).await,
        _ => fail(
            "usage: kefu-admin create-tenant <tenant-id> <name> [admin-nickname] | token <tenant-id> <agent-id> \
             | seed-demo | reindex <tenant-id> | translate <target> <text> [source]",
        ),
    };
    match result {
        Ok(v) => {
            let _ = writeln!(std::io::stdout(), "{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        Err(e) => fail(&format!("{} ({})", e, e.code())),
    }
}

/// One translation through the same client and rules as the functions
/// (a long text in parts; a bounded wait).
async fn translate(target: &str, text: &str, source: Option<&str>) -> Result<serde_json::Value, Error> {
    let translator = kefu::translate::AwsTranslator::from_env().await;
    let wait = std::time::Duration::from_secs(30);
    let plan = kefu::translate::Plan { source: source.map(str::to_string), target: target.to_string() };
    Ok(serde_json::to_value(kefu::translate::translate(&translator, text, &plan, wait).await)?)
}

fn fail(msg: &str) -> ! {
    let _ = writeln!(std::io::stderr(), "kefu-admin: {msg}");
    std::process::exit(2)
}

async fn create_tenant(app: &App, id: &str, name: &str, nick: &str) -> Result<serde_json::Value, Error> {
    let (tenant, admin, token) = tenants::create_with_admin(app, id, name, nick).await?;
    Ok(json!({ "tenantId": tenant.id, "adminId": admin.id, "token": token.token, "expiresAt": token.expires_at }))
}

async fn token(app: &App, tenant: &str, agent: &str) -> Result<serde_json::Value, Error> {
    let a = app.store.get_agent(tenant, agent).await?.ok_or_else(|| Error::not_found("agent"))?;
    Ok(serde_json::to_value(token_for(app, &a, OPERATOR).await?)?)
}

/// The demo tenant `demo`: one admin, two agents (idle, in group `sales`).
/// Safe to run again: what exists is kept, and fresh tokens are printed.
async fn seed_demo(app: &App) -> Result<serde_json::Value, Error> {
    match tenants::create_with_admin(app, "demo", "Demo Company", "Demo Admin").await {
        Ok(_) | Err(Error::Conflict { code: "tenant_exists", .. }) => {}
        Err(e) => return Err(e),
    }
    let group = kefu::domain::SkillGroup {
        tenant: "demo".into(),
        id: "sales".into(),
        name: "Sales".into(),
        created_at: app.now(),
    };
    match app.store.create_group(&group).await {
        Ok(()) | Err(Error::Conflict { .. }) => {}
        Err(e) => return Err(e),
    }
    let mut out = serde_json::Map::new();
    out.insert("tenantId".into(), "demo".into());
    for (id, nick, real, role) in [
        ("admin", "Demo Admin", "Demo Admin", Role::Admin),
        ("alice", "Alice", "Alice Wang", Role::Agent),
        ("bob", "Bob", "Bob Li", Role::Agent),
    ] {
        if role == Role::Agent {
            let req = CreateAgent {
                agent_id: Some(id.into()),
                nickname: nick.into(),
                real_name: real.into(),
                role: Some(role),
                max_concurrent: Some(3),
                language: None,
            };
            match new_agent(app, "demo", req).await {
                Ok(_) | Err(Error::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
            let change = AgentChange {
                status: Some(AgentStatus::Idle),
                groups: Some(vec!["sales".into()]),
                ..AgentChange::default()
            };
            app.store.update_agent("demo", id, &change).await?;
        }
        let a = app.store.get_agent("demo", id).await?.ok_or_else(|| Error::not_found("agent"))?;
        out.insert(id.into(), serde_json::to_value(token_for(app, &a, OPERATOR).await?)?);
    }
    Ok(out.into())
}
