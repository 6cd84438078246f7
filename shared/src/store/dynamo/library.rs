//! F1/F2: shelves (see `keys::canned_shelf`). An entry is written with its
//! index copies in one transaction, so a lookup never finds an entry its
//! base item does not match; an edit replaces exactly the index keys that
//! changed.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::expr::{Cond, Update};
use super::{decode_cursor, delete, n, page_of, put, put_if, put_new, s, storage, to_item, update};
use super::{DynamoStore, Tx};
use crate::domain::canned::{self, CannedResponse};
use crate::domain::KnowledgeEntry;
use crate::error::{Error, Result};
use crate::store::keys::{self, ShelfIndex};
use crate::store::{CannedStore, KnowledgeStore, Page};

const COUNT: &str = "entries";
const VERSION: &str = "version";

/// What a shelf holds: where it lives and what it is looked up by.
pub(super) trait Shelved: Serialize + DeserializeOwned + Send + Sync {
    fn shelf(&self) -> String;
    fn id(&self) -> &str;
    fn version(&self) -> u64;
    /// Its index sort keys (`keys::shelf_index`), without repeats.
    fn index(&self) -> BTreeSet<String>;
}

impl Shelved for CannedResponse {
    fn shelf(&self) -> String {
        keys::canned_shelf(&self.tenant, self.owner.as_deref())
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn version(&self) -> u64 {
        self.version
    }

    fn index(&self) -> BTreeSet<String> {
        let mut index = BTreeSet::from([
            // Listed by group, then by text.
            keys::shelf_index(
                ShelfIndex::Group,
                &format!("{}\u{1f}{}", self.group, canned::prefix_of(&self.text)),
                &self.id,
            ),
            keys::shelf_index(ShelfIndex::Prefix, &canned::prefix_of(&self.text), &self.id),
        ]);
        index.extend(self.keywords.iter().map(|k| keys::shelf_index(ShelfIndex::Keyword, k, &self.id)));
        index
    }
}

impl DynamoStore {
    /// The entry and its index copies, and one more on the shelf's count,
    /// if under `max`. `Err(code)` when the shelf is full.
    pub(super) async fn shelve<T: Shelved>(&self, entry: &T, max: u32, full: &'static str) -> Result<()> {
        let shelf = entry.shelf();
        let mut items = vec![put_new(&self.table, to_item(entry, keys::shelf_entry(&shelf, entry.id()))?)?];
        for sk in entry.index() {
            items.push(put(&self.table, to_item(entry, (shelf.clone(), sk))?)?);
        }
        let room = Cond::missing(COUNT).or(Cond::lt(COUNT, n(max)));
        items.push(update(&self.table, keys::shelf_count(&shelf), Update::new().add(COUNT, 1), Some(room))?);
        let last = items.len() - 1;
        match self.transact(items).await? {
            Tx::Committed => Ok(()),
            tx if tx.failed_at(last) => Err(Error::conflict(full, format!("a shelf holds at most {max} entries"))),
            _ => Err(Error::conflict("already_exists", "an entry with this id exists")),
        }
    }

    /// `before` becomes `after`, if `before` is still what is stored.
    pub(super) async fn reshelve<T: Shelved>(&self, before: &T, after: &T) -> Result<bool> {
        let shelf = after.shelf();
        let current = Cond::eq(VERSION, n(before.version()));
        let mut items = vec![put_if(&self.table, to_item(after, keys::shelf_entry(&shelf, after.id()))?, current)?];
        let (old, new) = (before.index(), after.index());
        for sk in old.difference(&new) {
            items.push(delete(&self.table, (shelf.clone(), sk.clone()))?);
        }
        for sk in &new {
            items.push(put(&self.table, to_item(after, (shelf.clone(), sk.clone()))?)?);
        }
        Ok(matches!(self.transact(items).await?, Tx::Committed))
    }

    pub(super) async fn unshelve<T: Shelved>(&self, entry: &T) -> Result<bool> {
        let shelf = entry.shelf();
        let there = Cond::eq(VERSION, n(entry.version()));
        let mut items = vec![super::delete_if(&self.table, keys::shelf_entry(&shelf, entry.id()), Some(there))?];
        for sk in entry.index() {
            items.push(delete(&self.table, (shelf.clone(), sk))?);
        }
        items.push(update(&self.table, keys::shelf_count(&shelf), Update::new().add(COUNT, -1), None)?);
        Ok(matches!(self.transact(items).await?, Tx::Committed))
    }

    /// One page of a shelf's entries under an index prefix.
    pub(super) async fn shelf_page<T: Shelved>(
        &self,
        shelf: &str,
        under: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<T>> {
        let start = cursor.map(|c| decode_cursor(c, keys::PK, shelf)).transpose()?;
        let query = self
            .query_table(Cond::eq(keys::PK, s(shelf)).and(Cond::begins_with(keys::SK, s(under))))
            .limit(limit as i32)
            .set_exclusive_start_key(start);
        page_of(query.send().await.map_err(storage)?)
    }
}

impl Shelved for KnowledgeEntry {
    fn shelf(&self) -> String {
        keys::knowledge_shelf(&self.tenant)
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn version(&self) -> u64 {
        self.version
    }

    /// Listed by title, which is also its prefix lookup.
    fn index(&self) -> BTreeSet<String> {
        let mut index =
            BTreeSet::from([keys::shelf_index(ShelfIndex::Prefix, &canned::prefix_of(&self.title), &self.id)]);
        index.extend(self.terms().iter().map(|k| keys::shelf_index(ShelfIndex::Keyword, k, &self.id)));
        index
    }
}

#[async_trait]
impl KnowledgeStore for DynamoStore {
    async fn create_knowledge(&self, entry: &KnowledgeEntry, max: u32) -> Result<()> {
        self.shelve(entry, max, "too_many_knowledge_entries").await
    }

    async fn get_knowledge(&self, tenant: &str, id: &str) -> Result<Option<KnowledgeEntry>> {
        self.get(keys::shelf_entry(&keys::knowledge_shelf(tenant), id)).await
    }

    async fn replace_knowledge(&self, before: &KnowledgeEntry, after: &KnowledgeEntry) -> Result<bool> {
        self.reshelve(before, after).await
    }

    async fn delete_knowledge(&self, entry: &KnowledgeEntry) -> Result<bool> {
        self.unshelve(entry).await
    }

    async fn list_knowledge(&self, tenant: &str, limit: u32, cursor: Option<&str>) -> Result<Page<KnowledgeEntry>> {
        let under = keys::shelf_lookup(ShelfIndex::Prefix, "", false);
        self.shelf_page(&keys::knowledge_shelf(tenant), &under, limit, cursor).await
    }

    async fn knowledge_by_prefix(&self, tenant: &str, prefix: &str, limit: u32) -> Result<Vec<KnowledgeEntry>> {
        let under = keys::shelf_lookup(ShelfIndex::Prefix, prefix, false);
        Ok(self.shelf_page(&keys::knowledge_shelf(tenant), &under, limit, None).await?.items)
    }

    async fn knowledge_by_keyword(&self, tenant: &str, word: &str, limit: u32) -> Result<Vec<KnowledgeEntry>> {
        let under = keys::shelf_lookup(ShelfIndex::Keyword, word, false);
        Ok(self.shelf_page(&keys::knowledge_shelf(tenant), &under, limit, None).await?.items)
    }
}

#[async_trait]
impl CannedStore for DynamoStore {
    async fn create_canned(&self, response: &CannedResponse, max: u32) -> Result<()> {
        self.shelve(response, max, "too_many_canned_responses").await
    }

    async fn get_canned(&self, tenant: &str, owner: Option<&str>, id: &str) -> Result<Option<CannedResponse>> {
        self.get(keys::shelf_entry(&keys::canned_shelf(tenant, owner), id)).await
    }

    async fn replace_canned(&self, before: &CannedResponse, after: &CannedResponse) -> Result<bool> {
        self.reshelve(before, after).await
    }

    async fn delete_canned(&self, response: &CannedResponse) -> Result<bool> {
        self.unshelve(response).await
    }

    async fn list_canned(
        &self,
        tenant: &str,
        owner: Option<&str>,
        group: Option<&str>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<CannedResponse>> {
        let under = keys::shelf_lookup(ShelfIndex::Group, group.unwrap_or(""), group.is_some());
        self.shelf_page(&keys::canned_shelf(tenant, owner), &under, limit, cursor).await
    }

    async fn canned_by_prefix(
        &self,
        tenant: &str,
        owner: Option<&str>,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<CannedResponse>> {
        let under = keys::shelf_lookup(ShelfIndex::Prefix, prefix, false);
        Ok(self.shelf_page(&keys::canned_shelf(tenant, owner), &under, limit, None).await?.items)
    }

    async fn canned_by_keyword(
        &self,
        tenant: &str,
        owner: Option<&str>,
        word: &str,
        limit: u32,
    ) -> Result<Vec<CannedResponse>> {
        let under = keys::shelf_lookup(ShelfIndex::Keyword, word, false);
        Ok(self.shelf_page(&keys::canned_shelf(tenant, owner), &under, limit, None).await?.items)
    }
}
