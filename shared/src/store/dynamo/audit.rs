//! The audit trail: one partition per tenant, sorted by time.

use async_trait::async_trait;

use super::{decode_cursor, encode_cursor, from_item, s, storage, to_item, DynamoStore, Expr};
use crate::domain::AuditEntry;
use crate::error::Result;
use crate::store::{keys, AuditStore, Page};

#[async_trait]
impl AuditStore for DynamoStore {
    async fn record_audit(&self, entry: &AuditEntry) -> Result<()> {
        let item = to_item(entry, keys::audit_entry(&entry.tenant, entry.at, &entry.id))?;
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(storage)?;
        Ok(())
    }

    async fn list_audit(&self, tenant: &str, limit: u32, cursor: Option<&str>) -> Result<Page<AuditEntry>> {
        let pk = keys::audit(tenant);
        let start = cursor.map(|c| decode_cursor(c, keys::PK, &pk)).transpose()?;
        let mut e = Expr::default();
        let cond = format!("{} = {}", e.name(keys::PK), e.value(s(&pk)));
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(cond)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .scan_index_forward(false)
            .limit(limit as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(storage)?;
        let items = page.items.unwrap_or_default().into_iter().map(from_item).collect::<Result<Vec<AuditEntry>>>()?;
        let next = page.last_evaluated_key.filter(|k| !k.is_empty());
        Ok(Page { items, next_cursor: next.map(|k| encode_cursor(&k)) })
    }
}
