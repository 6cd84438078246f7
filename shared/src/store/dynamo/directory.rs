//! Tenants, agents, skill groups and visitors.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use aws_sdk_dynamodb::types::AttributeValue;

use super::expr::{Cond, Path, Rendered, Update};
use super::{
    decode_cursor, delete, encode_cursor, from_item, is_condition_failed, n, put, s, storage, to_item, update, value,
    write, DynamoStore, Tx,
};
use crate::domain::{Agent, ProfileChange, SessionState, SettingsChange, SkillGroup, Tenant, Visitor};
use crate::error::{Error, Result};
use crate::store::attrs;
use crate::store::keys::{self, Key};
use crate::store::{
    AgentChange, AgentStore, GroupStore, Page, QueueEntry, Ready, TenantStore, VisitorResume, VisitorStore,
};

/// The agent record's place in a ready list of `shards` (`keys::GSI6`):
/// `rank`, or off the list.
pub(super) fn ready_keys(u: Update, tenant: &str, agent_id: &str, shards: u32, rank: Option<&str>) -> Update {
    match rank {
        Some(rank) => u
            .set(keys::GSI6PK, s(keys::ready(tenant, keys::ready_shard(tenant, agent_id, shards))))
            .set(keys::GSI6SK, s(rank)),
        None => u.remove(keys::GSI6PK).remove(keys::GSI6SK),
    }
}

/// The agent record is still at `rev` (records from before revisions count
/// as 0).
fn at_rev(rev: u64) -> Cond {
    let at = Cond::eq(attrs::agent::REV, n(rev));
    if rev == 0 {
        Cond::missing(attrs::agent::REV).or(at)
    } else {
        at
    }
}

impl DynamoStore {
    /// An optimistic update of an item that must exist: the item after it,
    /// or `None` if `as_read` no longer holds (the caller reads again);
    /// `<what>_not_found` if the item is gone.
    async fn update_as_read<T: serde::de::DeserializeOwned>(
        &self,
        key: Key,
        update: &Update,
        as_read: Cond,
        what: &'static str,
    ) -> Result<Option<T>> {
        let request = self
            .update_item(key, update, Some(&Cond::exists(keys::PK).and(as_read)))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        match write(|| request.clone().send()).await {
            Ok(out) => from_item(out.attributes.unwrap_or_default()).map(Some),
            Err(err) if is_condition_failed(&err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(f)) if f.item.is_some() => Ok(None),
                _ => Err(Error::not_found(what)),
            },
            Err(err) => Err(storage(err)),
        }
    }

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

    async fn update_settings(&self, id: &str, change: &SettingsChange, version: u64) -> Result<Option<Tenant>> {
        let mut u = Update::new().add(attrs::tenant::SETTINGS_VERSION, 1);
        if let serde_json::Value::Object(fields) = serde_json::to_value(change)? {
            for (name, v) in fields {
                u = u.set(Path::entry(attrs::tenant::SETTINGS, &name), value(&v)?);
            }
        }
        let mut current = Cond::eq(attrs::tenant::SETTINGS_VERSION, n(version));
        if version == 0 {
            current = current.or(Cond::missing(attrs::tenant::SETTINGS_VERSION));
        }
        self.update_as_read(keys::tenant(id), &u, current, "tenant").await
    }

    async fn split_ready_list(&self, id: &str, shards: u32) -> Result<()> {
        let fewer = Cond::missing(attrs::tenant::READY_SHARDS).or(Cond::lt(attrs::tenant::READY_SHARDS, n(shards)));
        let u = Update::new().set(attrs::tenant::READY_SHARDS, n(shards));
        // `false`: it had as many already.
        self.update_if(keys::tenant(id), u, Cond::exists(keys::PK).and(fewer)).await.map(|_| ())
    }
}

#[async_trait]
impl AgentStore for DynamoStore {
    async fn create_agent(&self, agent: &Agent) -> Result<()> {
        let items = vec![
            super::put_new(&self.table, to_item(agent, keys::agent(&agent.tenant, &agent.id))?)?,
            update(
                &self.table,
                keys::tenant(&agent.tenant),
                Update::new().count(attrs::tenant::AGENT_COUNT, 1),
                Some(Cond::exists(keys::PK)),
            )?,
        ];
        let tx = self.transact(items).await?;
        if tx.failed_at(0) {
            Err(Error::conflict("agent_exists", "agent already exists"))
        } else if tx.failed_at(1) {
            Err(Error::not_found("tenant"))
        } else {
            Ok(())
        }
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

    /// One Query per shard, sent together; their best merged in rank order.
    async fn ready_agents(&self, tenant: &str, shards: u32, per_shard: u32) -> Result<Ready> {
        let mut reads = tokio::task::JoinSet::new();
        for i in 0..shards.max(1) {
            let query = self.query(Some(keys::GSI6), Cond::eq(keys::GSI6PK, s(keys::ready(tenant, i))), None);
            reads.spawn(query.limit(per_shard as i32).send());
        }
        let mut ready = Ready::default();
        while let Some(read) = reads.join_next().await {
            let out = read.map_err(|e| Error::Internal(e.to_string()))?.map_err(storage)?;
            ready.more |= out.last_evaluated_key.is_some_and(|k| !k.is_empty());
            for item in out.items.unwrap_or_default() {
                ready.agents.push(from_item(item)?);
            }
        }
        ready.agents.sort_by(|a: &Agent, b: &Agent| a.ready_rank.cmp(&b.ready_rank));
        Ok(ready)
    }

    async fn list_ready(&self, agent: &Agent, shards: u32, rank: Option<&str>) -> Result<bool> {
        let u = ready_keys(Update::new(), &agent.tenant, &agent.id, shards, rank);
        let at = Cond::exists(keys::PK).and(at_rev(agent.rev));
        self.update_if(keys::agent(&agent.tenant, &agent.id), u, at).await
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
        match &change.language {
            Some(Some(v)) => u = u.set(attrs::agent::LANGUAGE, s(v)),
            Some(None) => u = u.remove(attrs::agent::LANGUAGE),
            None => {}
        }
        if change.bump_token_version {
            u = u.count(attrs::agent::TOKEN_VERSION, 1);
        }
        if u.is_empty() {
            return self.get_agent(tenant, id).await?.ok_or_else(|| Error::not_found("agent"));
        }
        let u = u.count(attrs::agent::REV, 1);
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

    async fn rename_group(&self, tenant: &str, id: &str, name: &str) -> Result<SkillGroup> {
        let u = Update::new().set(attrs::group::NAME, s(name));
        let request = self
            .update_item(keys::group(tenant, id), &u, Some(&Cond::exists(keys::PK)))
            .return_values(ReturnValue::AllNew);
        match write(|| request.clone().send()).await {
            Ok(out) => from_item(out.attributes.unwrap_or_default()),
            Err(err) if is_condition_failed(&err) => Err(Error::not_found("skill group")),
            Err(err) => Err(storage(err)),
        }
    }

    async fn delete_group(&self, tenant: &str, id: &str) -> Result<bool> {
        self.delete_item_if(keys::group(tenant, id), Cond::exists(keys::PK)).await
    }

    async fn set_agent_groups(
        &self,
        tenant: &str,
        agent_id: &str,
        before: &[String],
        after: &[String],
    ) -> Result<Option<Agent>> {
        let mut unchanged = Cond::eq(attrs::agent::GROUPS, value(&before)?);
        if before.is_empty() {
            unchanged = unchanged.or(Cond::missing(attrs::agent::GROUPS));
        }
        let u = Update::new().set(attrs::agent::GROUPS, value(&after)?).count(attrs::agent::REV, 1);
        self.update_as_read(keys::agent(tenant, agent_id), &u, unchanged, "agent").await
    }

    async fn ungroup_waiting(&self, tenant: &str, entry: &QueueEntry) -> Result<bool> {
        let waiting = Cond::eq(attrs::session::STATE, value(&SessionState::Waiting)?);
        let items = vec![
            update(
                &self.table,
                keys::queue_entry(tenant, entry.shard, entry.queued_at, &entry.session_id),
                Update::new().remove(attrs::session::GROUP),
                Some(Cond::exists(keys::PK)),
            )?,
            update(
                &self.table,
                keys::session(tenant, &entry.session_id),
                Update::new().remove(attrs::session::GROUP),
                Some(waiting),
            )?,
        ];
        Ok(matches!(self.transact(items).await?, Tx::Committed))
    }
}

#[async_trait]
impl VisitorStore for DynamoStore {
    async fn get_visitors(&self, tenant: &str, ids: &[String]) -> Result<Vec<Visitor>> {
        self.batch_get(ids.iter().map(|id| keys::visitor(tenant, id)).collect()).await
    }

    async fn update_profile(&self, before: &Visitor, change: &ProfileChange) -> Result<Visitor> {
        use attrs::visitor::{COMPANY, CUSTOM, EMAIL, NAME, NICKNAME, NOTES, PHONE, TAGS};
        let (t, v) = (&before.tenant, &before.id);
        let after = change.apply(before);
        let mut u = Update::new().remove(keys::EXPIRES_AT);
        let texts = [
            (NAME, &change.name),
            (NICKNAME, &change.nickname),
            (PHONE, &change.phone),
            (EMAIL, &change.email),
            (COMPANY, &change.company),
            (NOTES, &change.notes),
        ];
        for (attr, value) in texts {
            match value {
                Some(Some(x)) => u = u.set(attr, s(x)),
                Some(None) => u = u.remove(attr),
                None => {}
            }
        }
        if let Some(custom) = &change.custom {
            u = u.set(CUSTOM, value(custom)?);
        }
        if let Some(tags) = &change.tags {
            u = u.set(TAGS, value(tags)?);
        }
        // The directory entries follow the searchable fields as read: the
        // write holds only while they are still what was read.
        let mut cond = Cond::exists(keys::PK);
        for (attr, was) in
            [(NAME, &before.name), (NICKNAME, &before.nickname), (PHONE, &before.phone), (EMAIL, &before.email)]
        {
            cond = cond.and(match was {
                Some(x) => Cond::eq(attr, s(x)),
                None => Cond::missing(attr).or(Cond::eq(attr, AttributeValue::Null(true))),
            });
        }
        let mut items = vec![update(&self.table, keys::visitor(t, v), u, Some(cond))?];
        let old = if before.expires_at.is_none() { before.directory_keys() } else { Default::default() };
        let new = after.directory_keys();
        for gone in old.difference(&new) {
            items.push(delete(&self.table, keys::directory_entry(t, gone, v))?);
        }
        for added in new.difference(&old) {
            items.push(put(&self.table, super::sessions::directory_item(t, added, v))?);
        }
        match self.transact(items).await? {
            Tx::Committed => Ok(Visitor { expires_at: None, ..after }),
            _ => match self.get_visitor(t, v).await? {
                Some(_) => Err(Error::conflict("try_again", "the visitor changed meanwhile; try again")),
                None => Err(Error::not_found("visitor")),
            },
        }
    }

    async fn search_visitors(
        &self,
        tenant: &str,
        prefix: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<String>> {
        let pk = keys::directory(tenant);
        let start = cursor.map(|c| decode_cursor(c, keys::PK, &pk)).transpose()?;
        let page = self
            .query_table(Cond::eq(keys::PK, s(&pk)).and(Cond::begins_with(keys::SK, s(prefix))))
            .limit(limit as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(storage)?;
        let mut ids: Vec<String> = Vec::new();
        for item in page.items.unwrap_or_default() {
            if let Some(id) = item.get(attrs::directory::VISITOR_ID).and_then(|v| v.as_s().ok()) {
                if !ids.contains(id) {
                    ids.push(id.clone());
                }
            }
        }
        let next = page.last_evaluated_key.filter(|k| !k.is_empty());
        Ok(Page { items: ids, next_cursor: next.map(|k| encode_cursor(&k)) })
    }

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
