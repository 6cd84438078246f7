//! WebSocket connections (H1): recorded on `$connect` after the authorizer
//! let them in, removed on `$disconnect` (and when a push finds them gone).

use tracing::instrument;

use super::dispatch::{self, Roster};
use crate::auth::Principal;
use crate::domain::timers::{self, Timer, TimerKind};
use crate::domain::AgentStatus;
use crate::error::Result;
use crate::store::{Connection, Removal};
use crate::App;

/// API Gateway closes every WebSocket connection after two hours.
const MAX_CONNECTION_MS: i64 = 2 * 3600 * 1000 + 60_000;

/// Records connection `id` of `who`, whose token expires at
/// `token_expiry_ms`: a connection never outlives its token (past `exp` it
/// gets no pushes, and its next action closes it).
#[instrument(skip(app, who), fields(connection = %id))]
pub async fn connect(app: &App, id: &str, who: &Principal, token_expiry_ms: Option<i64>) -> Result<()> {
    let now = app.now();
    let conn = Connection {
        id: id.to_string(),
        tenant: who.tenant.clone(),
        role: who.role,
        user_id: who.id.clone(),
        connected_at: now,
        expires_at_ms: token_expiry_ms.map_or(now + MAX_CONNECTION_MS, |exp| exp.min(now + MAX_CONNECTION_MS)),
    };
    app.store.add_connection(&conn).await?;
    tracing::info!(tenant = %who.tenant, user = %who.id, role = who.role.as_str(), "connected");
    if who.role.is_staff() {
        // A5: its online time starts with its first connection.
        super::stats::sync_online(app, &who.tenant, &who.id).await;
        // B3: an idle agent coming online takes waiting sessions.
        if let Some(agent) = app.store.get_agent(&who.tenant, &who.id).await? {
            if agent.status == AgentStatus::Idle {
                dispatch::drain_after(app, &who.tenant, Some(&conn.id), Roster::Freed(std::slice::from_ref(&agent)))
                    .await;
            }
        }
    }
    Ok(())
}

#[instrument(skip(app))]
pub async fn disconnect(app: &App, id: &str) -> Result<()> {
    if let Some(conn) = app.store.get_connection(id, i64::MIN).await? {
        let now = app.now();
        // Its owner's offline timer: an agent's sessions go back to the
        // queue, a visitor's waiting session is abandoned, if it stays away.
        let timer = owner_timer(&conn, now, &app.settings(&conn.tenant).await?);
        app.store.remove_connection(&conn.owner(), &conn.id, Removal::Closed, now, Some(&timer)).await?;
        tracing::info!(tenant = %conn.tenant, user = %conn.user_id, "disconnected");
        if conn.role.is_staff() {
            // A5: its online time ends with its last connection.
            super::stats::sync_online(app, &conn.tenant, &conn.user_id).await;
        }
    }
    Ok(())
}

/// The timer a connection of `conn`'s owner, ended at `at_ms`, sets.
pub fn owner_timer(conn: &Connection, at_ms: i64, settings: &crate::domain::Settings) -> Timer {
    let kind = if conn.role.is_staff() { TimerKind::Agent } else { TimerKind::Visitor };
    timers::after_disconnect(&conn.tenant, kind, &conn.user_id, at_ms, settings)
}

/// The caller of an action, from its connection record.
pub fn principal(conn: &Connection) -> Principal {
    Principal { tenant: conn.tenant.clone(), id: conn.user_id.clone(), role: conn.role, channel: None }
}
