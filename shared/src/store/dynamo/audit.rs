//! The audit trail: one partition per tenant, sorted by time.

use async_trait::async_trait;

use super::{storage, to_item, write, DynamoStore};
use crate::domain::AuditEntry;
use crate::error::Result;
use crate::store::{keys, AuditStore, Page};

#[async_trait]
impl AuditStore for DynamoStore {
    async fn record_audit(&self, entry: &AuditEntry) -> Result<()> {
        let item = to_item(entry, keys::audit_entry(&entry.tenant, entry.at, &entry.id))?;
        let request = self.client.put_item().table_name(&self.table).set_item(Some(item));
        write(|| request.clone().send()).await.map_err(storage)?;
        Ok(())
    }

    async fn list_audit(&self, tenant: &str, limit: u32, cursor: Option<&str>) -> Result<Page<AuditEntry>> {
        self.partition_page(&keys::audit(tenant), false, limit, cursor).await
    }
}
