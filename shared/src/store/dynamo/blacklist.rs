//! D9: the tenant's blacklist, one partition, each entry beside a flag on
//! the visitor's record that session starts check.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::expr::{Cond, Update};
use super::{
    decode_cursor, delete_if, encode_cursor, from_item, put_new, s, storage, to_item, update, DynamoStore, Tx,
};
use crate::domain::BlacklistEntry;
use crate::error::{Error, Result};
use crate::store::{attrs, keys, BlacklistStore, Page};

#[async_trait]
impl BlacklistStore for DynamoStore {
    async fn blacklist(&self, entry: &BlacklistEntry) -> Result<bool> {
        let (t, v) = (&entry.tenant, &entry.visitor_id);
        let mut item = to_item(entry, keys::blacklist_entry(t, v))?;
        item.insert(keys::SEARCH.into(), s(entry.search_text()));
        let mark = update(
            &self.table,
            keys::visitor(t, v),
            Update::new().set(attrs::visitor::BLACKLISTED, AttributeValue::Bool(true)),
            Some(Cond::exists(keys::PK)),
        )?;
        match self.transact(vec![put_new(&self.table, item)?, mark]).await? {
            Tx::Committed => Ok(true),
            tx if tx.failed_at(1) => Err(Error::not_found("visitor")),
            _ => Ok(false),
        }
    }

    async fn unblacklist(&self, tenant: &str, visitor_id: &str) -> Result<bool> {
        let drop = delete_if(&self.table, keys::blacklist_entry(tenant, visitor_id), Some(Cond::exists(keys::PK)))?;
        let unmark = update(
            &self.table,
            keys::visitor(tenant, visitor_id),
            Update::new().set(attrs::visitor::BLACKLISTED, AttributeValue::Bool(false)),
            Some(Cond::exists(keys::PK)),
        )?;
        match self.transact(vec![drop, unmark]).await? {
            Tx::Committed => Ok(true),
            tx if tx.failed_at(0) => Ok(false),
            // The visitor record is gone (expired): the entry still goes.
            _ => Ok(!self
                .transact(vec![delete_if(
                    &self.table,
                    keys::blacklist_entry(tenant, visitor_id),
                    Some(Cond::exists(keys::PK)),
                )?])
                .await?
                .failed_at(0)),
        }
    }

    async fn list_blacklist(
        &self,
        tenant: &str,
        search: Option<&str>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<BlacklistEntry>> {
        let pk = keys::blacklist(tenant);
        let start = cursor.map(|c| decode_cursor(c, keys::PK, &pk)).transpose()?;
        let filter = search.map(|q| Cond::contains(keys::SEARCH, s(q)));
        let page = self
            .query(None, Cond::eq(keys::PK, s(&pk)), filter)
            .consistent_read(true)
            .limit(limit as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(storage)?;
        let items = page.items.unwrap_or_default().into_iter().map(from_item).collect::<Result<Vec<_>>>()?;
        let next = page.last_evaluated_key.filter(|k| !k.is_empty());
        Ok(Page { items, next_cursor: next.map(|k| encode_cursor(&k)) })
    }
}
