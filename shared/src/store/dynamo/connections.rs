//! WebSocket connections (H1): one item per connection for the reverse
//! lookup by id, plus an entry in the owner's `conns` map that pushes fan
//! out over and presence is read from.

use async_trait::async_trait;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::expr::{window_counter, Cond, Late, Path, Update};
use super::{delete_if, from_item, n, storage, to_item, update, write, DynamoStore, Tx};
use crate::auth::Role;
use crate::domain::timers::Timer;
use crate::error::{Error, Result};
use crate::store::attrs;
use crate::store::keys::{self, Key};
use crate::store::{Admission, Connection, ConnectionStore, Owner, Removal};

/// The owner's connection map: the same name on agents and visitors.
fn conns_attr(owner: &Owner) -> &'static str {
    match owner.role {
        Role::Visitor => attrs::visitor::CONNS,
        Role::Agent | Role::Admin => attrs::agent::CONNS,
    }
}

fn owner_key(owner: &Owner) -> Key {
    match owner.role {
        Role::Visitor => keys::visitor(&owner.tenant, &owner.user_id),
        Role::Agent | Role::Admin => keys::agent(&owner.tenant, &owner.user_id),
    }
}

/// An agent's presence is an input of its place in the ready list: a
/// change of its connections is a new revision (`Agent::rev`).
fn revised(owner: &Owner, u: Update) -> Update {
    match owner.role {
        Role::Visitor => u,
        Role::Agent | Role::Admin => u.count(attrs::agent::REV, 1),
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

        let link = update(
            &self.table,
            owner_key(&conn.owner()),
            revised(
                &conn.owner(),
                Update::new().set(Path::entry(conns_attr(&conn.owner()), &conn.id), n(conn.expires_at_ms)),
            ),
            Some(Cond::exists(keys::PK)),
        )?;

        match self.transact(vec![aws_sdk_dynamodb::types::TransactWriteItem::builder().put(put).build(), link]).await? {
            Tx::Committed => Ok(()),
            Tx::Failed(_) => Err(Error::unauthorized("the token's user no longer exists")),
        }
    }

    async fn get_connection(&self, id: &str, now_ms: i64) -> Result<Option<Connection>> {
        // TTL deletes late: an expired connection is treated as gone.
        Ok(self.get::<Connection>(keys::connection(id)).await?.filter(|c| c.expires_at_ms > now_ms))
    }

    async fn admit_action(&self, id: &str, window: i64, limit: u32, now_ms: i64) -> Result<Admission> {
        // Usually one write: the first action of a new second (clients send
        // far less than one a second), and otherwise one more in this one.
        // Either returns the connection, so a frame costs no read.
        let [(start, fresh), more] = window_counter(
            attrs::connection::RATE_WINDOW,
            attrs::connection::RATE_COUNT,
            window,
            limit,
            Late::CountsInNewer,
        );
        let first = (start, Cond::exists(keys::PK).and(fresh));
        let mut seen = None;
        for (change, cond) in [first, more] {
            let request = self
                .update_item(keys::connection(id), &change, Some(&cond))
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
            match write(|| request.clone().send()).await {
                Ok(out) => {
                    let conn: Connection = from_item(out.attributes.unwrap_or_default())?;
                    // TTL deletes late: an expired connection is treated as gone.
                    return Ok(if conn.expires_at_ms > now_ms {
                        Admission::Admitted(conn)
                    } else {
                        Admission::Unknown
                    });
                }
                Err(err) => match err.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(f)) => match &f.item {
                        None => return Ok(Admission::Unknown),
                        Some(item) => seen = Some(from_item::<Connection>(item.clone())?),
                    },
                    _ => return Err(storage(err)),
                },
            }
        }
        Ok(match seen {
            Some(conn) if conn.expires_at_ms > now_ms => Admission::Limited,
            _ => Admission::Unknown,
        })
    }

    async fn remove_connection(
        &self,
        owner: &Owner,
        id: &str,
        how: Removal,
        now_ms: i64,
        timer: Option<&Timer>,
    ) -> Result<bool> {
        let drop_item = || {
            let condition = match how {
                Removal::Closed | Removal::Expired => None,
                Removal::GoneIfConnectedBefore(cutoff) => {
                    Some(Cond::missing(keys::PK).or(Cond::lt(attrs::connection::CONNECTED_AT, n(cutoff))))
                }
            };
            delete_if(&self.table, keys::connection(id), condition)
        };
        let mut unlink = Update::new().remove(Path::entry(conns_attr(owner), id));
        if how != Removal::Expired {
            let last = match owner.role {
                Role::Visitor => attrs::visitor::LAST_DISCONNECT_AT,
                Role::Agent | Role::Admin => attrs::agent::LAST_DISCONNECT_AT,
            };
            unlink = unlink.set(last, n(now_ms));
        }
        let unlink = update(&self.table, owner_key(owner), revised(owner, unlink), Some(Cond::exists(keys::PK)))?;
        let mut items = vec![drop_item()?, unlink];
        if let Some(timer) = timer {
            items.push(super::timers::put_timer(&self.table, timer)?);
        }
        let tx = self.transact(items).await?;
        if tx.failed_at(0) {
            // Connected too recently: it may be inside its own $connect.
            return Ok(false);
        }
        if tx.failed_at(1) {
            // The owner is gone; the connection item still must go.
            return Ok(!self.transact(vec![drop_item()?]).await?.failed_at(0));
        }
        Ok(true)
    }
}
