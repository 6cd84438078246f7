//! WebSocket connections (H1): one item per connection for the reverse
//! lookup by id, plus an entry in the owner's `conns` map that pushes fan
//! out over and presence is read from.

use async_trait::async_trait;

use super::{delete, n, to_item, DynamoStore, Expr, Tx};
use crate::auth::Role;
use crate::error::{Error, Result};
use crate::store::keys::{self, Key};
use crate::store::{Connection, ConnectionStore};

fn owner(conn: &Connection) -> Key {
    match conn.role {
        Role::Visitor => keys::visitor(&conn.tenant, &conn.user_id),
        Role::Agent | Role::Admin => keys::agent(&conn.tenant, &conn.user_id),
    }
}

#[async_trait]
impl ConnectionStore for DynamoStore {
    async fn add_connection(&self, conn: &Connection) -> Result<()> {
        let mut item = to_item(conn, keys::connection(&conn.id))?;
        item.insert(keys::EXPIRES_AT.into(), n(conn.expires_at_ms / 1000));
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(|e| Error::Internal(e.to_string()))?;

        let mut e = Expr::default();
        let update = format!("SET {} = {}", e.path("conns", &conn.id), e.value(n(conn.expires_at_ms)));
        let cond = format!("attribute_exists({})", e.name(keys::PK));
        let link = e.update(&self.table, owner(conn), update, Some(cond))?;

        match self.transact(vec![aws_sdk_dynamodb::types::TransactWriteItem::builder().put(put).build(), link]).await? {
            Tx::Committed => Ok(()),
            Tx::Failed(_) => Err(Error::unauthorized("the token's user no longer exists")),
        }
    }

    async fn get_connection(&self, id: &str, now_ms: i64) -> Result<Option<Connection>> {
        // TTL deletes late: an expired connection is treated as gone.
        Ok(self.get::<Connection>(keys::connection(id)).await?.filter(|c| c.expires_at_ms > now_ms))
    }

    async fn admit_action(&self, id: &str, window: i64, limit: u32) -> Result<bool> {
        // Usually one write: one more action in the current window…
        let mut e = Expr::default();
        let (w, c) = (e.name("rateWindow"), e.name("rateCount"));
        let update = format!("SET {c} = {c} + {}", e.value(n(1)));
        let cond = format!("{w} = {} AND {c} < {}", e.value(n(window)), e.value(n(limit as i64)));
        if self.update_if(keys::connection(id), update, cond, e).await? {
            return Ok(true);
        }
        // …or the first of a new one. Failing both: at the limit.
        let mut e = Expr::default();
        let (w, c) = (e.name("rateWindow"), e.name("rateCount"));
        let now = e.value(n(window));
        let update = format!("SET {w} = {now}, {c} = {}", e.value(n(1)));
        let cond = format!("attribute_exists({}) AND (attribute_not_exists({w}) OR {w} < {now})", e.name(keys::PK));
        self.update_if(keys::connection(id), update, cond, e).await
    }

    async fn remove_connection(&self, conn: &Connection, now_ms: i64) -> Result<()> {
        let mut e = Expr::default();
        let mut update = format!("REMOVE {}", e.path("conns", &conn.id));
        if conn.role.is_staff() {
            update += &format!(" SET {} = {}", e.name("lastDisconnectAt"), e.value(n(now_ms)));
        }
        let cond = format!("attribute_exists({})", e.name(keys::PK));
        let unlink = e.update(&self.table, owner(conn), update, Some(cond))?;
        let items = vec![delete(&self.table, keys::connection(&conn.id))?, unlink];
        if let Tx::Failed(_) = self.transact(items).await? {
            // The owner is gone; the connection item still must go.
            self.transact(vec![delete(&self.table, keys::connection(&conn.id))?]).await?;
        }
        Ok(())
    }
}
