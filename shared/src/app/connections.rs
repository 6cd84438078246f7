//! WebSocket connections (H1): recorded on `$connect` after the authorizer
//! let them in, removed on `$disconnect` (and when a push finds them gone).

use tracing::instrument;

use super::dispatch;
use crate::api::ws::WsEvent;
use crate::auth::Principal;
use crate::domain::AgentStatus;
use crate::error::Result;
use crate::store::{Connection, Removal};
use crate::App;

/// API Gateway closes every WebSocket connection after two hours.
const MAX_CONNECTION_MS: i64 = 2 * 3600 * 1000 + 60_000;

/// How long after its `$connect` began a connection may still be inside it.
/// Its record is written during `$connect`, but API Gateway answers `410
/// Gone` to pushes until `$connect` has returned, which it must within the
/// 29-second integration timeout. A Gone in that window is not a deletion:
/// only a push after it (or `$disconnect`) removes the connection.
pub const CONNECT_WINDOW_MS: i64 = 30_000;

#[instrument(skip(app, event), fields(connection = %event.request_context.connection_id))]
pub async fn connect(app: &App, event: &WsEvent) -> Result<()> {
    let ctx = &event.request_context.authorizer;
    let who = Principal::from_context(|k| ctx.get(k).and_then(|v| v.as_str()).map(str::to_string))?;
    let now = app.now();
    // A connection never outlives its token: past `exp` it gets no pushes,
    // and its next action closes it.
    let token_expiry = ctx.get("exp").and_then(|v| v.as_str()?.parse::<i64>().ok()).map(|secs| secs * 1000);
    let conn = Connection {
        id: event.request_context.connection_id.clone(),
        tenant: who.tenant.clone(),
        role: who.role,
        user_id: who.id.clone(),
        connected_at: now,
        expires_at_ms: token_expiry.map_or(now + MAX_CONNECTION_MS, |exp| exp.min(now + MAX_CONNECTION_MS)),
    };
    app.store.add_connection(&conn).await?;
    tracing::info!(tenant = %who.tenant, user = %who.id, role = who.role.as_str(), "connected");
    if who.role.is_staff() {
        // B3: an idle agent coming online takes waiting sessions.
        if let Some(agent) = app.store.get_agent(&who.tenant, &who.id).await? {
            if agent.status == AgentStatus::Idle {
                dispatch::drain_after(app, &who.tenant, Some(&conn.id)).await;
            }
        }
    }
    Ok(())
}

#[instrument(skip(app, event), fields(connection = %event.request_context.connection_id))]
pub async fn disconnect(app: &App, event: &WsEvent) -> Result<()> {
    let id = &event.request_context.connection_id;
    if let Some(conn) = app.store.get_connection(id, i64::MIN).await? {
        app.store.remove_connection(&conn.owner(), &conn.id, Removal::Closed, app.now()).await?;
        tracing::info!(tenant = %conn.tenant, user = %conn.user_id, "disconnected");
    }
    Ok(())
}

/// The caller of an action, from its connection record.
pub fn principal(conn: &Connection) -> Principal {
    Principal { tenant: conn.tenant.clone(), id: conn.user_id.clone(), role: conn.role, channel: None }
}
