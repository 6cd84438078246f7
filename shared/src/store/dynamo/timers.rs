//! Timers and the sweeper's record of waiting queues (see `keys`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};

use super::expr::{Cond, Update};
use super::{decode_cursor, delete, delete_if, n, page_of, put, put_if, s, storage, to_item, update, value};
use super::{DynamoStore, Item, Tx};
use crate::domain::timers::{Timer, TimerKind};
use crate::domain::{Session, SessionState};
use crate::error::Result;
use crate::store::{attrs, keys, Page, TimerStore, WaitingTenant};

/// The timer's item: its deadline as the TTL attribute (whole seconds,
/// rounded up, so TTL never deletes it before it is due) and its place in
/// gsi5 by due time.
fn timer_item(timer: &Timer) -> Result<Item> {
    let (t, subject) = (&timer.tenant, &timer.subject);
    let mut item = to_item(timer, keys::timer(t, timer.kind, subject))?;
    item.insert(keys::EXPIRES_AT.into(), n((timer.due_at + 999).div_euclid(1000)));
    item.insert(keys::GSI5PK.into(), s(keys::timers(keys::timer_shard(t, subject))));
    item.insert(keys::GSI5SK.into(), s(keys::timer_due(timer.due_at, timer.kind, t, subject)));
    Ok(item)
}

/// Sets `timer` inside a transaction, replacing its subject's timer.
pub(super) fn put_timer(table: &str, timer: &Timer) -> Result<TransactWriteItem> {
    put(table, timer_item(timer)?)
}

/// Removes a subject's timer inside a transaction.
pub(super) fn delete_timer(table: &str, tenant: &str, kind: TimerKind, subject: &str) -> Result<TransactWriteItem> {
    delete(table, keys::timer(tenant, kind, subject))
}

/// Enters `tenant` in the sweeper's record of waiting queues, inside the
/// transaction that queues a session.
pub(super) fn put_waiting(table: &str, tenant: &str, queued_at: i64) -> Result<TransactWriteItem> {
    let record = WaitingTenant { tenant: tenant.to_string(), queued_at };
    put(table, to_item(&record, keys::waiting_tenant(tenant))?)
}

/// The timer is still the one that fired, or gone.
fn still(fired: &Timer) -> Cond {
    Cond::missing(keys::PK).or(Cond::eq(attrs::timer::DUE_AT, n(fired.due_at)))
}

#[async_trait]
impl TimerStore for DynamoStore {
    async fn due_timers(&self, shard: u32, now_ms: i64, limit: u32, cursor: Option<&str>) -> Result<Page<Timer>> {
        let pk = keys::timers(shard);
        let start = cursor.map(|c| decode_cursor(c, keys::GSI5PK, &pk)).transpose()?;
        // Everything due up to now: `~` sorts after every kind, tenant and id.
        let key = Cond::eq(keys::GSI5PK, s(&pk)).and(Cond::lt(keys::GSI5SK, s(format!("{now_ms:015}#~"))));
        let query = self.query(Some(keys::GSI5), key, None).limit(limit as i32).set_exclusive_start_key(start);
        page_of(query.send().await.map_err(storage)?)
    }

    async fn settle_timer(&self, fired: &Timer, next: Option<&Timer>) -> Result<bool> {
        let item = match next {
            Some(timer) => put_if(&self.table, timer_item(timer)?, still(fired))?,
            None => delete_if(&self.table, keys::timer(&fired.tenant, fired.kind, &fired.subject), Some(still(fired)))?,
        };
        Ok(matches!(self.transact(vec![item]).await?, Tx::Committed))
    }

    async fn mark_reminded(&self, session: &Session, now_ms: i64, next: Option<&Timer>) -> Result<bool> {
        use attrs::session::{LAST_SEQ, LOCKED, REMINDED_AT, STATE};
        let (t, sid) = (&session.tenant, &session.id);
        let as_read = Cond::eq(STATE, value(&SessionState::Active)?)
            .and(Cond::eq(LAST_SEQ, n(session.last_seq)))
            .and(Cond::missing(LOCKED).or(Cond::eq(LOCKED, AttributeValue::Bool(false))))
            .and(match session.reminded_at {
                Some(r) => Cond::eq(REMINDED_AT, n(r)),
                None => Cond::unset(REMINDED_AT),
            });
        let mut items =
            vec![update(&self.table, keys::session(t, sid), Update::new().set(REMINDED_AT, n(now_ms)), Some(as_read))?];
        items.push(match next {
            Some(timer) => put_timer(&self.table, timer)?,
            None => delete_timer(&self.table, t, TimerKind::Session, sid)?,
        });
        Ok(matches!(self.transact(items).await?, Tx::Committed))
    }

    async fn waiting_tenants(&self, shard: u32, limit: u32, cursor: Option<&str>) -> Result<Page<WaitingTenant>> {
        self.partition_page(&keys::waiting(shard), true, limit, cursor).await
    }

    async fn clear_waiting(&self, seen: &WaitingTenant) -> Result<bool> {
        let unchanged = Cond::eq(attrs::timer::QUEUED_AT, n(seen.queued_at));
        let item = delete_if(&self.table, keys::waiting_tenant(&seen.tenant), Some(unchanged))?;
        Ok(matches!(self.transact(vec![item]).await?, Tx::Committed))
    }
}
