//! Tenants, agents, skill groups and visitors.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use super::expr::{Cond, Path, Rendered, Update};
use super::{from_item, is_condition_failed, n, s, storage, to_item, value, write, DynamoStore};
use crate::domain::{Agent, SettingsChange, SkillGroup, Tenant, Visitor};
use crate::error::{Error, Result};
use crate::store::attrs;
use crate::store::keys::{self, Key};
use crate::store::{AgentChange, AgentStore, GroupStore, TenantStore, VisitorResume, VisitorStore};

impl DynamoStore {
    /// Puts a new item; `code` if one with the same key exists.
    pub(super) async fn put_new_item<T: serde::Serialize>(
        &self,
        value: &T,
        key: Key,
        code: &'static str,
        what: &str,
    ) -> Result<()> {
        let new = Rendered::write(None, Some(&Cond::missing(keys::PK)));
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(value, key)?))
            .set_condition_expression(new.condition.clone())
            .set_expression_attribute_names(new.names());
        let result = write(|| request.clone().send()).await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Err(Error::conflict(code, format!("{what} already exists"))),
            Err(e) => Err(storage(e)),
        }
    }
}

#[async_trait]
impl TenantStore for DynamoStore {
    async fn create_tenant(&self, tenant: &Tenant) -> Result<()> {
        self.put_new_item(tenant, keys::tenant(&tenant.id), "tenant_exists", "tenant").await
    }

    async fn get_tenant(&self, id: &str) -> Result<Option<Tenant>> {
        self.get(keys::tenant(id)).await
    }

    async fn update_settings(&self, id: &str, change: &SettingsChange) -> Result<Tenant> {
        let mut u = Update::new();
        if let serde_json::Value::Object(fields) = serde_json::to_value(change)? {
            for (name, v) in fields {
                u = u.set(Path::entry(attrs::tenant::SETTINGS, &name), value(&v)?);
            }
        }
        let request =
            self.update_item(keys::tenant(id), &u, Some(&Cond::exists(keys::PK))).return_values(ReturnValue::AllNew);
        match write(|| request.clone().send()).await {
            Ok(out) => from_item(out.attributes.unwrap_or_default()),
            Err(err) if is_condition_failed(&err) => Err(Error::not_found("tenant")),
            Err(err) => Err(storage(err)),
        }
    }
}

#[async_trait]
impl AgentStore for DynamoStore {
    async fn create_agent(&self, agent: &Agent) -> Result<()> {
        self.put_new_item(agent, keys::agent(&agent.tenant, &agent.id), "agent_exists", "agent").await
    }

    async fn get_agent(&self, tenant: &str, id: &str) -> Result<Option<Agent>> {
        self.get(keys::agent(tenant, id)).await
    }

    async fn get_agents(&self, tenant: &str, ids: &[String]) -> Result<Vec<Agent>> {
        self.batch_get(ids.iter().map(|id| keys::agent(tenant, id)).collect()).await
    }

    async fn list_agents(&self, tenant: &str) -> Result<Vec<Agent>> {
        self.query_partition(&keys::tenant(tenant).0, Some(keys::AGENT_PREFIX)).await
    }

    async fn update_agent(&self, tenant: &str, id: &str, change: &AgentChange) -> Result<Agent> {
        let mut u = Update::new();
        if let Some(v) = &change.nickname {
            u = u.set(attrs::agent::NICKNAME, s(v));
        }
        if let Some(v) = &change.real_name {
            u = u.set(attrs::agent::REAL_NAME, s(v));
        }
        if let Some(v) = change.role {
            u = u.set(attrs::agent::ROLE, value(&v)?);
        }
        if let Some(v) = change.max_concurrent {
            u = u.set(attrs::agent::MAX_CONCURRENT, value(&v)?);
        }
        if let Some(v) = change.status {
            u = u.set(attrs::agent::STATUS, value(&v)?);
        }
        if let Some(v) = &change.groups {
            u = u.set(attrs::agent::GROUPS, value(v)?);
        }
        if let Some(v) = change.disabled {
            u = u.set(attrs::agent::DISABLED, value(&v)?);
        }
        if let Some(v) = change.removed {
            u = u.set(attrs::agent::REMOVED, value(&v)?);
        }
        if change.bump_token_version {
            u = u.count(attrs::agent::TOKEN_VERSION, 1);
        }
        if u.is_empty() {
            return self.get_agent(tenant, id).await?.ok_or_else(|| Error::not_found("agent"));
        }
        let request = self
            .update_item(keys::agent(tenant, id), &u, Some(&Cond::exists(keys::PK)))
            .return_values(ReturnValue::AllNew);
        let result = write(|| request.clone().send()).await;
        match result {
            Ok(out) => from_item(out.attributes.unwrap_or_default()),
            Err(err) if is_condition_failed(&err) => Err(Error::not_found("agent")),
            Err(err) => Err(storage(err)),
        }
    }
}

#[async_trait]
impl GroupStore for DynamoStore {
    async fn create_group(&self, group: &SkillGroup) -> Result<()> {
        self.put_new_item(group, keys::group(&group.tenant, &group.id), "skill_group_exists", "skill group").await
    }

    async fn get_group(&self, tenant: &str, id: &str) -> Result<Option<SkillGroup>> {
        self.get(keys::group(tenant, id)).await
    }

    async fn list_groups(&self, tenant: &str) -> Result<Vec<SkillGroup>> {
        self.query_partition(&keys::tenant(tenant).0, Some(keys::GROUP_PREFIX)).await
    }
}

#[async_trait]
impl VisitorStore for DynamoStore {
    async fn create_visitor(&self, visitor: &Visitor) -> Result<()> {
        self.put_new_item(visitor, keys::visitor(&visitor.tenant, &visitor.id), "visitor_exists", "visitor").await
    }

    async fn get_visitor(&self, tenant: &str, id: &str) -> Result<Option<Visitor>> {
        self.get(keys::visitor(tenant, id)).await
    }

    async fn resume_visitor(&self, tenant: &str, id: &str, resume: &VisitorResume<'_>) -> Result<()> {
        // A visitor that has started a session has no idle deadline any more
        // (and must not get one back): renew only one that still has it.
        for renew in [true, false] {
            let mut u = Update::new();
            for (attr, v) in [(attrs::visitor::NAME, resume.name), (attrs::visitor::NICKNAME, resume.nickname)] {
                if let Some(v) = v {
                    u = u.set(attr, s(v));
                }
            }
            let mut condition = Cond::exists(keys::PK);
            if renew {
                u = u.set(keys::EXPIRES_AT, n(resume.expires_at));
                condition = condition.and(Cond::exists(keys::EXPIRES_AT));
            } else if u.is_empty() {
                return Ok(());
            }
            let request = self.update_item(keys::visitor(tenant, id), &u, Some(&condition));
            let result = write(|| request.clone().send()).await;
            match result {
                Ok(_) => return Ok(()),
                Err(err) if is_condition_failed(&err) && renew => continue,
                Err(err) if is_condition_failed(&err) => return Err(Error::not_found("visitor")),
                Err(err) => return Err(storage(err)),
            }
        }
        unreachable!("the second attempt returns")
    }
}
