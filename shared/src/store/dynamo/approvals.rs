//! A2: pending status-change requests, one item per agent in the tenant's
//! request partition; approving one is a transaction with the agent's
//! status.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::expr::{Cond, Update};
use super::{delete_if, s, storage, to_item, update, value, write, DynamoStore, Tx};
use crate::domain::{AgentStatus, StatusRequest};
use crate::error::Result;
use crate::store::{attrs, keys, Page, StatusRequestStore};

const ID: &str = "id";

#[async_trait]
impl StatusRequestStore for DynamoStore {
    async fn put_status_request(&self, request: &StatusRequest) -> Result<()> {
        let item = to_item(request, keys::status_request(&request.tenant, &request.agent_id))?;
        let put = self.client.put_item().table_name(&self.table).set_item(Some(item));
        write(|| put.clone().send()).await.map_err(storage)?;
        Ok(())
    }

    async fn get_status_request(&self, tenant: &str, agent_id: &str, now_ms: i64) -> Result<Option<StatusRequest>> {
        let found: Option<StatusRequest> = self.get(keys::status_request(tenant, agent_id)).await?;
        Ok(found.filter(|r| r.is_live(now_ms)))
    }

    async fn list_status_requests(
        &self,
        tenant: &str,
        limit: u32,
        cursor: Option<&str>,
        now_ms: i64,
    ) -> Result<Page<StatusRequest>> {
        // TTL deletes late: an expired request is left out of its page.
        let mut page: Page<StatusRequest> =
            self.partition_page(&keys::status_requests(tenant), true, limit, cursor).await?;
        page.items.retain(|r| r.is_live(now_ms));
        Ok(page)
    }

    async fn drop_status_request(&self, request: &StatusRequest) -> Result<bool> {
        let key = keys::status_request(&request.tenant, &request.agent_id);
        self.delete_item_if(key, Cond::eq(ID, s(&request.id))).await
    }

    async fn approve_status_request(&self, request: &StatusRequest) -> Result<bool> {
        let t = &request.tenant;
        let still_that_one = Cond::eq(ID, s(&request.id));
        let not = |flag: &'static str| Cond::missing(flag).or(Cond::eq(flag, AttributeValue::Bool(false)));
        let agent_as_asked = Cond::eq(attrs::agent::STATUS, value(&request.from)?)
            .and(not(attrs::agent::DISABLED))
            .and(not(attrs::agent::REMOVED));
        let status: AgentStatus = request.status;
        let items = vec![
            delete_if(&self.table, keys::status_request(t, &request.agent_id), Some(still_that_one))?,
            update(
                &self.table,
                keys::agent(t, &request.agent_id),
                Update::new().set(attrs::agent::STATUS, value(&status)?).count(attrs::agent::REV, 1),
                Some(agent_as_asked),
            )?,
        ];
        Ok(matches!(self.transact(items).await?, Tx::Committed))
    }
}
