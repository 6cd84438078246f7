//! D1: the tenant's tag tree, and how often each agent applied each tag.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::expr::{Cond, Update};
use super::{is_condition_failed, s, storage, value, write, DynamoStore};
use crate::domain::Tag;
use crate::error::{Error, Result};
use crate::store::{attrs, keys, TagChange, TagStore};

#[async_trait]
impl TagStore for DynamoStore {
    async fn create_tag(&self, tag: &Tag) -> Result<()> {
        self.put_new_item(tag, keys::tag(&tag.tenant, &tag.id), "tag_exists", "tag").await
    }

    async fn list_tags(&self, tenant: &str) -> Result<Vec<Tag>> {
        self.query_partition(&keys::tenant(tenant).0, Some(keys::TAG_PREFIX)).await
    }

    async fn get_tags(&self, tenant: &str, ids: &[String]) -> Result<Vec<Tag>> {
        self.batch_get(ids.iter().map(|id| keys::tag(tenant, id)).collect()).await
    }

    async fn update_tag(&self, tenant: &str, id: &str, change: &TagChange) -> Result<Tag> {
        let mut u = Update::new();
        if let Some(name) = &change.name {
            u = u.set(attrs::tag::NAME, s(name));
        }
        match &change.parent {
            Some(Some(p)) => u = u.set(attrs::tag::PARENT, s(p)),
            Some(None) => u = u.set(attrs::tag::PARENT, AttributeValue::Null(true)),
            None => {}
        }
        if let Some(deleted) = change.deleted {
            u = u.set(attrs::tag::DELETED, value(&deleted)?);
        }
        let request = self
            .update_item(keys::tag(tenant, id), &u, Some(&Cond::exists(keys::PK)))
            .return_values(ReturnValue::AllNew);
        match write(|| request.clone().send()).await {
            Ok(out) => super::from_item(out.attributes.unwrap_or_default()),
            Err(err) if is_condition_failed(&err) => Err(Error::not_found("tag")),
            Err(err) => Err(storage(err)),
        }
    }

    async fn most_used_tags(&self, tenant: &str, agent: &str, limit: u32) -> Result<Vec<String>> {
        // gsi4 holds each use counter under its rank: the answer is the
        // first `limit` entries, whatever the number of tags.
        let out = self
            .query(Some(keys::GSI4), Cond::eq(keys::GSI4PK, s(keys::tag_uses(tenant, agent))), None)
            .scan_index_forward(false)
            .limit(limit as i32)
            .send()
            .await
            .map_err(storage)?;
        Ok(out
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|item| item.get(keys::SK).and_then(|v| v.as_s().ok()).cloned())
            .collect())
    }
}
