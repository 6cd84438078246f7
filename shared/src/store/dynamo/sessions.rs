//! Sessions, the queue and messages.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::expr::{window_counter, Cond, Late, Path, Update};
use super::timers::{delete_timer, put_timer, put_waiting};
use super::{
    decode_cursor, delete, encode_cursor, from_item, n, put_new, s, storage, to_item, update, value, DynamoStore, Tx,
};
use crate::domain::agent::HARD_CAP;
use crate::domain::session::{moves_open_place, Marker};
use crate::domain::stats::{AgentDay, StatsDay, Tally};
use crate::domain::timers::{Timer, TimerKind};
use crate::domain::translation::Outgoing;
use crate::domain::{
    Agent, AgentStatus, CloseReason, Evaluation, Invitation, Message, Sender, SenderKind, Session, SessionState,
    Transfer,
};
use crate::error::{Error, Result};
use crate::store::{attrs, keys};
use crate::store::{
    Appended, AssignMode, Assigned, HistoryIndex, HistoryQuery, MessageStore, Opened, Page, QueueEntry, Scope,
    SessionQuery, SessionStore, StatsStore, TagUsage,
};
use crate::store::{Guard, NewMessage};

/// Optimistic rounds before a write gives up with `try_again` (the client
/// resends; a `clientMsgId` keeps that safe). Every round commits at least
/// one of the competing writers; a session has two parties, each limited to
/// a few actions a second per connection, so a few rounds are plenty, and a
/// request's cost stays bounded under any burst.
const MAX_ATTEMPTS: usize = 6;

/// Rounds of reading a sharded list for one page: each round reads only
/// the shards that could still hold one of the page's entries, twice as far
/// as the last.
const SHARDED_PAGE_ROUNDS: u32 = 6;

/// A list spread over shards of one index (or of the table), each ordered
/// by the same time-ordered sort key (`place`), read as if it were one.
struct Sharded<'a> {
    /// `None`: the table, read strongly consistently.
    index: Option<&'static str>,
    pk_attr: &'static str,
    sk_attr: &'static str,
    /// Every shard's partition; the first names the list in its cursors.
    shards: Vec<String>,
    /// Places from `low` to `high`, inclusive.
    low: String,
    high: String,
    /// Oldest first (the queue), or newest first (the session lists).
    oldest_first: bool,
    filter: Option<Cond>,
    limit: usize,
    cursor: Option<&'a str>,
}

impl Sharded<'_> {
    /// Places `a` and `b` in the list's order.
    fn order(&self, a: &str, b: &str) -> std::cmp::Ordering {
        if self.oldest_first {
            a.cmp(b)
        } else {
            b.cmp(a)
        }
    }

    /// Place `a` comes before place `b` in the list's order.
    fn before(&self, a: &str, b: &str) -> bool {
        self.order(a, b).is_lt()
    }
}

/// One shard of a `Sharded` list, as far as a page has read it.
struct ShardRead {
    pk: String,
    start: Option<super::Item>,
    /// The place of the last entry read (everything before it is read).
    read_to: Option<String>,
    done: bool,
}

impl DynamoStore {
    /// A page of a sharded list, in its order: each shard is read from the
    /// cursor on, a few entries at a time and only while it could still
    /// hold one of the page's entries, until the page's first `limit` are
    /// known (every shard read past them or to its end). One shard: one
    /// Query (more only while a filter drops entries). The entries, each
    /// with its place and the index of its shard, and the cursor of the
    /// next page.
    async fn sharded_page(&self, list: Sharded<'_>) -> Result<(Vec<(String, usize, super::Item)>, Option<String>)> {
        let limit = list.limit.max(1);
        let name = list.shards.first().cloned().unwrap_or_default();
        // A cursor is the place of the previous page's last entry: read
        // again (BETWEEN is inclusive) and dropped.
        let after = match list.cursor {
            None => None,
            Some(c) => Some(
                text(&decode_cursor(c, list.pk_attr, &name)?, list.sk_attr)
                    .ok_or_else(|| Error::invalid("invalid_cursor", "cursor is not valid for this list"))?,
            ),
        };
        let (mut low, mut high) = (list.low.clone(), list.high.clone());
        match &after {
            Some(a) if list.oldest_first && *a > low => low = a.clone(),
            Some(a) if !list.oldest_first && *a < high => high = a.clone(),
            _ => {}
        }
        let count = list.shards.len().max(1);
        let mut parts: Vec<ShardRead> = list
            .shards
            .iter()
            .map(|pk| ShardRead { pk: pk.clone(), start: None, read_to: None, done: false })
            .collect();
        let mut found: Vec<(String, usize, super::Item)> = Vec::new();
        let first = if count == 1 { limit + 1 } else { (2 * limit).div_ceil(count).max(2) };
        for round in 0..SHARDED_PAGE_ROUNDS {
            // The page's last place so far, once it is full: a shard read
            // past it holds nothing the page needs.
            found.sort_by(|a, b| list.order(&a.0, &b.0));
            let worst = found.get(limit - 1).map(|f| f.0.clone());
            let wanted: Vec<usize> = (0..parts.len())
                .filter(|&i| {
                    let p = &parts[i];
                    !p.done
                        && match (&p.read_to, &worst) {
                            (Some(at), Some(w)) => list.before(at, w),
                            _ => true,
                        }
                })
                .collect();
            if wanted.is_empty() {
                break;
            }
            let mut reads = tokio::task::JoinSet::new();
            for &i in &wanted {
                let key = Cond::eq(list.pk_attr, s(&parts[i].pk)).and(Cond::between(list.sk_attr, s(&low), s(&high)));
                let query = self
                    .query(list.index, key, list.filter.clone())
                    .consistent_read(list.index.is_none())
                    .scan_index_forward(list.oldest_first)
                    .limit((first << round).min(1_000) as i32)
                    .set_exclusive_start_key(parts[i].start.take());
                reads.spawn(async move { (i, query.send().await) });
            }
            while let Some(read) = reads.join_next().await {
                let (i, out) = read.map_err(|e| Error::Internal(e.to_string()))?;
                let out = out.map_err(storage)?;
                for item in out.items.unwrap_or_default() {
                    match text(&item, list.sk_attr) {
                        Some(place) if Some(&place) != after.as_ref() => found.push((place, i, item)),
                        _ => {}
                    }
                }
                let part = &mut parts[i];
                match out.last_evaluated_key.filter(|k| !k.is_empty()) {
                    Some(k) => {
                        part.read_to = text(&k, list.sk_attr);
                        part.start = Some(k);
                    }
                    None => part.done = true,
                }
            }
        }
        // Known in full: every place up to the first that a shard still
        // unread stopped at.
        let floor = parts.iter().filter(|p| !p.done).filter_map(|p| p.read_to.clone()).min_by(|a, b| list.order(a, b));
        found.sort_by(|a, b| list.order(&a.0, &b.0));
        found.retain(|(place, _, _)| floor.as_ref().is_none_or(|f| !list.before(f, place)));
        let next = if found.len() > limit {
            found.truncate(limit);
            found.last().map(|f| f.0.clone())
        } else {
            floor
        };
        let cursor = next.map(|place| {
            encode_cursor(&super::Item::from([
                (list.pk_attr.to_string(), s(&name)),
                (list.sk_attr.to_string(), s(place)),
            ]))
        });
        Ok((found, cursor))
    }

    /// A page of tenant `t`'s open sessions, newest activity first (C1's
    /// admin view), from its open list (gsi7: keys and `search` only, in
    /// `keys::open_shards` shards), then one `BatchGetItem` of those
    /// sessions. A large tenant's sessions move their places at most once
    /// a minute (`moves_open_place`), so its page is put in exact order of
    /// latest activity once read.
    async fn open_page(&self, t: &str, q: &SessionQuery) -> Result<Page<Session>> {
        let shards = keys::open_shards(q.shards);
        let (found, next_cursor) = self
            .sharded_page(Sharded {
                index: Some(keys::GSI7),
                pk_attr: keys::GSI7PK,
                sk_attr: keys::GSI7SK,
                shards: (0..shards).map(|i| keys::open_sessions(t, i)).collect(),
                low: "0".into(),
                high: "~".into(),
                oldest_first: false,
                filter: q.search.as_ref().map(|text| Cond::contains(keys::SEARCH, s(text))),
                limit: q.limit as usize,
                cursor: q.cursor.as_deref(),
            })
            .await?;
        let ids: Vec<keys::Key> =
            found.iter().filter_map(|(_, _, item)| Some((text(item, keys::PK)?, text(item, keys::SK)?))).collect();
        let read: Vec<Session> = if ids.is_empty() { Vec::new() } else { self.batch_get(ids.clone()).await? };
        // In the list's order; one that closed since its place was read is left out.
        let mut items: Vec<Session> = ids
            .iter()
            .filter_map(|(pk, _)| read.iter().find(|x| keys::session(&x.tenant, &x.id).0 == *pk).cloned())
            .filter(|x| x.state != SessionState::Closed)
            .collect();
        if shards > 1 {
            items.sort_by_key(|x| std::cmp::Reverse(x.last_activity_at));
        }
        Ok(Page { items, next_cursor })
    }

    /// A page of tenant `t`'s closed sessions, newest closed first, closed
    /// from `from` to `to` (ms, inclusive): gsi2, in `keys::open_shards`
    /// shards (a large tenant's closes would run one partition hot).
    async fn closed_page(
        &self,
        t: &str,
        shards: u32,
        (from, to): (i64, i64),
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Session>> {
        let shards = keys::open_shards(shards);
        let (found, next_cursor) = self
            .sharded_page(Sharded {
                index: Some(keys::GSI2),
                pk_attr: keys::GSI2PK,
                sk_attr: keys::GSI2SK,
                shards: (0..shards).map(|i| keys::closed_sessions(t, i)).collect(),
                low: format!("{from:015}"),
                high: format!("{to:015}#~"),
                oldest_first: false,
                filter: None,
                limit: limit as usize,
                cursor,
            })
            .await?;
        let items = found.into_iter().map(|(_, _, item)| from_item(item)).collect::<Result<Vec<Session>>>()?;
        Ok(Page { items, next_cursor })
    }
}

fn text(item: &super::Item, attr: &str) -> Option<String> {
    item.get(attr).and_then(|v| v.as_s().ok()).cloned()
}

/// Session `sid`'s entry in its tenant's open list (gsi7), placed at
/// `at_ms`: in its shard, for a tenant of `shards` (`Tenant::ready_shards`),
/// and marked to move coarsely in a large tenant's.
fn open_entry(t: &str, sid: &str, shards: u32, at_ms: i64) -> Vec<(&'static str, AttributeValue)> {
    let mut entry = vec![
        (keys::GSI7PK, s(keys::open_sessions(t, keys::new_session_shard(t, sid, shards)))),
        (keys::GSI7SK, s(keys::by_time(at_ms, sid))),
    ];
    if keys::open_shards(shards) > 1 {
        entry.push((keys::OPEN_COARSE, AttributeValue::Bool(true)));
    }
    entry
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn open_session(
        &self,
        session: &Session,
        shards: u32,
        directory: &[String],
        timer: Option<&Timer>,
        day: &StatsDay,
    ) -> Result<Opened> {
        let (t, sid) = (&session.tenant, &session.id);
        for _ in 0..3 {
            // A visitor with a session is kept: its TTL goes.
            let claim_visitor = update(
                &self.table,
                keys::visitor(t, &session.visitor_id),
                Update::new().set(attrs::visitor::ACTIVE_SESSION, s(sid)).remove(keys::EXPIRES_AT),
                Some(
                    Cond::exists(keys::PK)
                        .and(Cond::missing(attrs::visitor::ACTIVE_SESSION))
                        // B5: a blacklisted visitor starts no session.
                        .and(
                            Cond::missing(attrs::visitor::BLACKLISTED)
                                .or(Cond::eq(attrs::visitor::BLACKLISTED, AttributeValue::Bool(false))),
                        ),
                ),
            )?;

            let mut item = to_item(session, keys::session(t, sid))?;
            for (attr, v) in open_entry(t, sid, shards, session.last_activity_at) {
                item.insert(attr.into(), v);
            }
            item.insert(keys::GSI3PK.into(), s(keys::visitor_sessions(t, &session.visitor_id)));
            item.insert(keys::GSI3SK.into(), s(keys::by_time(session.created_at, sid)));
            item.insert(keys::SEARCH.into(), s(session.search_text()));

            // Waiting: it joins the queue. Assigned at once (a callback, D7):
            // it is in the agent's list, under the hard cap (A4).
            let third = match (&session.state, &session.agent_id) {
                (SessionState::Active, Some(agent)) => {
                    item.insert(keys::GSI1PK.into(), s(keys::agent_sessions(t, agent, true)));
                    item.insert(keys::GSI1SK.into(), s(keys::by_time(session.last_activity_at, sid)));
                    take_capacity(&self.table, t, agent, AssignMode::Manual, session.created_at)?
                }
                _ => {
                    // In the shard of its open-list entry.
                    let shard = keys::new_session_shard(t, sid, shards);
                    let entry = QueueEntry { shard, ..QueueEntry::of(session) };
                    put_new(&self.table, to_item(&entry, keys::queue_entry(t, shard, session.queued_at, sid))?)?
                }
            };

            let mut items = vec![claim_visitor, put_new(&self.table, item)?, third];
            if session.state == SessionState::Waiting {
                items.push(put_waiting(&self.table, t, session.queued_at)?);
            }
            if let Some(timer) = timer {
                items.push(put_timer(&self.table, timer)?);
            }
            for value in directory {
                items.push(super::put(&self.table, directory_item(t, value, &session.visitor_id))?);
            }
            if let (SessionState::Active, Some(agent)) = (&session.state, &session.agent_id) {
                items.push(tally(&self.table, t, agent, day, Tally::Accepted)?);
            }
            let tx = self.transact(items).await?;
            if tx.failed_at(2) && session.agent_id.is_some() {
                return Ok(Opened::AgentAtCapacity);
            }
            if !tx.failed_at(0) {
                return match tx {
                    Tx::Committed => Ok(Opened::Created),
                    Tx::Failed(r) => Err(Error::Internal(format!("session put refused: {r:?}"))),
                };
            }
            let visitor = self.get::<crate::domain::Visitor>(keys::visitor(t, &session.visitor_id)).await?;
            match visitor {
                None => return Err(Error::not_found("visitor")),
                Some(v) => {
                    if let Some(existing) = v.active_session {
                        return Ok(Opened::Existing(existing));
                    }
                    if v.blacklisted {
                        return Err(crate::domain::visitor::blacklisted());
                    }
                    // Closed between our write and read: try again.
                }
            }
        }
        Err(Error::conflict("try_again", "the visitor's session changed meanwhile; try again"))
    }

    async fn get_session(&self, tenant: &str, id: &str) -> Result<Option<Session>> {
        self.get(keys::session(tenant, id)).await
    }

    async fn assign(
        &self,
        t: &str,
        entry: &QueueEntry,
        agent_id: &str,
        mode: AssignMode,
        now_ms: i64,
        timer: &Timer,
        day: &StatsDay,
    ) -> Result<Assigned> {
        let sid = &entry.session_id;

        // The agent's side: one more in-progress session, if capacity allows.
        let take = take_capacity(&self.table, t, agent_id, mode, now_ms)?;

        // The session's side: from waiting to active with this agent.
        let claim = update(
            &self.table,
            keys::session(t, sid),
            Update::new()
                .set(attrs::session::STATE, value(&SessionState::Active)?)
                .set(attrs::session::AGENT_ID, s(agent_id))
                .set(attrs::session::ASSIGNED_AT, n(now_ms))
                .set(attrs::session::MARKER, value(&if entry.transferred { Marker::Transferred } else { Marker::New })?)
                .set(attrs::session::LAST_ACTIVITY_AT, n(now_ms))
                .append(attrs::session::HANDLERS, vec![s(agent_id)])
                .set(keys::GSI1PK, s(keys::agent_sessions(t, agent_id, true)))
                .set(keys::GSI1SK, s(keys::by_time(now_ms, sid)))
                .set(keys::GSI7SK, s(keys::by_time(now_ms, sid))),
            Some(Cond::eq(attrs::session::STATE, value(&SessionState::Waiting)?)),
        )?;

        let dequeue = delete(&self.table, keys::queue_entry(t, entry.shard, entry.queued_at, sid))?;

        let counted = tally(&self.table, t, agent_id, day, Tally::for_assignment(entry.transferred || entry.requeued))?;
        let tx = self.transact(vec![take, claim, dequeue, put_timer(&self.table, timer)?, counted]).await?;
        Ok(if tx.failed_at(1) {
            Assigned::SessionTaken
        } else if tx.failed_at(0) {
            Assigned::AgentUnavailable
        } else {
            Assigned::Assigned
        })
    }

    async fn requeue_session(
        &self,
        session: &Session,
        agent_id: &str,
        transfer: Option<(&Transfer, &StatsDay)>,
        now_ms: i64,
    ) -> Result<bool> {
        let (t, sid) = (&session.tenant, &session.id);
        let (transfer, day) = (transfer.map(|(r, _)| r), transfer.map(|(_, d)| d));
        // Its place in the queue: where it first waited, so it is not sent
        // to the back.
        let entry = QueueEntry::requeued(session, transfer);
        // The session: back to waiting, out of the agent's list; its
        // handlers and messages stay.
        let mut back = Update::new()
            .set(attrs::session::STATE, value(&SessionState::Waiting)?)
            .set(attrs::session::LAST_ACTIVITY_AT, n(now_ms))
            .remove(attrs::session::AGENT_ID)
            .remove(attrs::session::MARKER)
            .remove(keys::GSI1PK)
            .remove(keys::GSI1SK);
        if let Some(record) = transfer {
            back = back
                .set(attrs::session::GROUP, value(&entry.group)?)
                .append(attrs::session::TRANSFERS, vec![value(record)?]);
        }
        let release = update(&self.table, keys::session(t, sid), back, Some(held_by(agent_id)?))?;
        let enqueue = put_new(&self.table, to_item(&entry, keys::queue_entry(t, entry.shard, entry.queued_at, sid))?)?;
        let free = free_capacity(&self.table, t, agent_id)?;
        let record = put_waiting(&self.table, t, entry.queued_at)?;
        let mut items = vec![release, enqueue, free, record];
        // A5: a transfer to a group is one out for the agent who made it.
        if let Some(day) = day {
            items.push(tally(&self.table, t, agent_id, day, Tally::TransferredOut)?);
        }
        Ok(matches!(self.transact(items).await?, Tx::Committed))
    }

    async fn transfer_session(
        &self,
        session: &Session,
        from: &str,
        record: &Transfer,
        now_ms: i64,
        timer: &Timer,
        day: &StatsDay,
    ) -> Result<Assigned> {
        let (t, sid) = (&session.tenant, &session.id);
        let to = record.to_agent.as_deref().ok_or_else(|| Error::Internal("transfer_session: no agent".into()))?;
        let hand_over = update(
            &self.table,
            keys::session(t, sid),
            Update::new()
                .set(attrs::session::AGENT_ID, s(to))
                .set(attrs::session::ASSIGNED_AT, n(now_ms))
                .set(attrs::session::MARKER, value(&Marker::Transferred)?)
                .set(attrs::session::LAST_ACTIVITY_AT, n(now_ms))
                .append(attrs::session::HANDLERS, vec![s(to)])
                .append(attrs::session::TRANSFERS, vec![value(record)?])
                .set(keys::GSI1PK, s(keys::agent_sessions(t, to, true)))
                .set(keys::GSI1SK, s(keys::by_time(now_ms, sid)))
                .set(keys::GSI7SK, s(keys::by_time(now_ms, sid))),
            Some(held_by(from)?),
        )?;
        let take = take_capacity(&self.table, t, to, AssignMode::Manual, now_ms)?;
        let free = free_capacity(&self.table, t, from)?;
        let counted = [
            tally(&self.table, t, from, day, Tally::TransferredOut)?,
            tally(&self.table, t, to, day, Tally::TransferredIn)?,
        ];
        let mut items = vec![hand_over, take, free, put_timer(&self.table, timer)?];
        items.extend(counted);
        let tx = self.transact(items).await?;
        if tx.failed_at(0) {
            Ok(Assigned::SessionTaken)
        } else if tx.failed_at(1) {
            Ok(Assigned::AgentUnavailable)
        } else if tx.failed_at(2) {
            Err(Error::Internal(format!("agent {from} held a session at an in-progress count of 0")))
        } else {
            Ok(Assigned::Assigned)
        }
    }

    async fn close_session(
        &self,
        session: &Session,
        reason: CloseReason,
        visitor_tags: &[String],
        now_ms: i64,
        guard: Guard,
        day: &StatsDay,
    ) -> Result<bool> {
        let (t, sid) = (&session.tenant, &session.id);
        // A large tenant's (opened coarse) closes into one of its shards,
        // and a waiting session leaves the queue's shard it is in.
        let shard = keys::session_shard(t, sid, session.open_coarse);
        let mut current = session.clone();
        // Set if the agent's count was found at 0: it must not go negative,
        // and the session must still close.
        let mut skip_agent_count = false;
        for _ in 0..MAX_ATTEMPTS {
            if current.state == SessionState::Closed {
                return Ok(false);
            }
            let mut items = Vec::new();
            let mut close = Update::new()
                .set(attrs::session::STATE, value(&SessionState::Closed)?)
                .set(attrs::session::CLOSED_AT, n(now_ms))
                .set(attrs::session::CLOSE_REASON, value(&reason)?)
                .set(keys::GSI2PK, s(keys::closed_sessions(t, shard)))
                .set(keys::GSI2SK, s(keys::by_time(now_ms, sid)))
                .remove(keys::GSI7PK)
                .remove(keys::GSI7SK);
            if let Some(a) = &current.agent_id {
                close = close
                    .set(keys::GSI1PK, s(keys::agent_sessions(t, a, false)))
                    .set(keys::GSI1SK, s(keys::by_time(now_ms, sid)));
            }
            close = close.remove(attrs::session::MARKER);
            // The tags whose history entries this close writes are still the session's.
            let tags_as_read = match current.tags_version {
                0 => Cond::missing(attrs::session::TAGS_VERSION).or(Cond::eq(attrs::session::TAGS_VERSION, n(0))),
                v => Cond::eq(attrs::session::TAGS_VERSION, n(v)),
            };
            let mut cond = Cond::eq(attrs::session::STATE, value(&current.state)?).and(tags_as_read);
            if guard == Guard::AsRead {
                // D8: a message since, or a lock, and the timer no longer applies.
                cond = cond.and(Cond::eq(attrs::session::LAST_SEQ, n(current.last_seq))).and(
                    Cond::missing(attrs::session::LOCKED)
                        .or(Cond::eq(attrs::session::LOCKED, AttributeValue::Bool(false))),
                );
            }
            items.push(update(&self.table, keys::session(t, sid), close, Some(cond))?);

            // The visitor may start a new session once this one is closed.
            items.push(update(
                &self.table,
                keys::visitor(t, &current.visitor_id),
                Update::new().remove(attrs::visitor::ACTIVE_SESSION),
                Some(Cond::exists(keys::PK)),
            )?);

            let frees_agent = current.state == SessionState::Active && !skip_agent_count;
            match (current.state, &current.agent_id) {
                (SessionState::Active, Some(agent)) if frees_agent => items.push(free_capacity(&self.table, t, agent)?),
                (SessionState::Waiting, _) => {
                    items.push(delete(&self.table, keys::queue_entry(t, shard, current.queued_at, sid))?)
                }
                _ => {}
            }

            items.push(delete_timer(&self.table, t, TimerKind::Session, sid)?);
            // A5: one ended for the agent who held it.
            if let (SessionState::Active, Some(agent)) = (current.state, &current.agent_id) {
                items.push(tally(&self.table, t, agent, day, Tally::Ended)?);
            }
            // D7: its history entries, by session tag and by visitor tag.
            for tag in &current.tags {
                items.push(super::put(&self.table, history_item(keys::tag_history(t, tag), now_ms, &current))?);
            }
            for tag in visitor_tags {
                let entry = history_item(keys::visitor_tag_history(t, tag), now_ms, &current);
                items.push(super::put(&self.table, entry)?);
            }
            let tx = self.transact(items).await?;
            if matches!(tx, Tx::Committed) {
                return Ok(true);
            }
            if guard == Guard::AsRead && tx.failed_at(0) {
                return Ok(false);
            }
            if frees_agent && tx.failed_at(2) && !tx.failed_at(0) {
                tracing::error!(tenant = %t, session = %sid, "agent in-progress count was already 0 at close");
                skip_agent_count = true;
                continue;
            }
            current = self.get_session(t, sid).await?.ok_or_else(|| Error::not_found("session"))?;
        }
        Err(Error::conflict("try_again", "the session is changing too fast; try again"))
    }

    async fn search_history(&self, tenant: &str, q: &HistoryQuery) -> Result<Page<Session>> {
        let t = tenant;
        let (index, pk_attr, sk_attr, pk, entries) = match &q.index {
            HistoryIndex::Tenant => {
                return self.closed_page(t, q.shards, (q.from, q.to), q.limit, q.cursor.as_deref()).await
            }
            HistoryIndex::Agent(a) => {
                (Some(keys::GSI1), keys::GSI1PK, keys::GSI1SK, keys::agent_sessions(t, a, false), false)
            }
            HistoryIndex::Tag(g) => (None, keys::PK, keys::SK, keys::tag_history(t, g), true),
            HistoryIndex::VisitorTag(g) => (None, keys::PK, keys::SK, keys::visitor_tag_history(t, g), true),
        };
        let start = q.cursor.as_deref().map(|c| decode_cursor(c, pk_attr, &pk)).transpose()?;
        let key = Cond::eq(pk_attr, s(&pk)).and(Cond::between(
            sk_attr,
            s(format!("{:015}", q.from)),
            s(format!("{:015}#~", q.to)),
        ));
        let filter = q.handled_by.as_ref().map(|a| Cond::contains(attrs::history::HANDLERS, s(a)));
        let mut query = self.query(index, key, filter).scan_index_forward(false).limit(q.limit as i32);
        if index.is_none() {
            query = query.consistent_read(true);
        }
        let page = query.set_exclusive_start_key(start).send().await.map_err(storage)?;
        let next = page.last_evaluated_key.filter(|k| !k.is_empty()).map(|k| encode_cursor(&k));
        let found = page.items.unwrap_or_default();
        let items = if entries {
            let ids: Vec<String> = found
                .iter()
                .filter_map(|e| e.get(attrs::history::SESSION_ID).and_then(|v| v.as_s().ok()).cloned())
                .collect();
            let sessions: Vec<Session> = if ids.is_empty() {
                Vec::new()
            } else {
                self.batch_get(ids.iter().map(|i| keys::session(t, i)).collect()).await?
            };
            ids.iter().filter_map(|i| sessions.iter().find(|x| &x.id == i).cloned()).collect()
        } else {
            found.into_iter().map(from_item).collect::<Result<Vec<Session>>>()?
        };
        Ok(Page { items, next_cursor: next })
    }

    async fn queue_page(&self, t: &str, shards: u32, limit: u32, cursor: Option<&str>) -> Result<Page<QueueEntry>> {
        let (found, next_cursor) = self
            .sharded_page(Sharded {
                index: None,
                pk_attr: keys::PK,
                sk_attr: keys::SK,
                shards: (0..keys::open_shards(shards)).map(|i| keys::queue(t, i)).collect(),
                low: "0".into(),
                high: "~".into(),
                oldest_first: true,
                filter: None,
                limit: limit as usize,
                cursor,
            })
            .await?;
        let items = found
            .into_iter()
            .map(|(_, shard, item)| Ok(QueueEntry { shard: shard as u32, ..from_item(item)? }))
            .collect::<Result<Vec<QueueEntry>>>()?;
        Ok(Page { items, next_cursor })
    }

    async fn count_waiting(&self, tenant: &str, shard: u32, up_to: u32) -> Result<u32> {
        let mut start = None;
        let mut counted = 0u32;
        // Keys only, a page at a time, and never past `up_to`.
        while counted < up_to {
            let page = self
                .query_table(Cond::eq(keys::PK, s(keys::queue(tenant, shard))))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .limit((up_to - counted) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(storage)?;
            counted += page.count.max(0) as u32;
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(counted)
    }

    async fn list_sessions(&self, tenant: &str, q: &SessionQuery) -> Result<Page<Session>> {
        let (index, pk_attr, pk) = match &q.scope {
            Scope::Agent(a) => (keys::GSI1, keys::GSI1PK, keys::agent_sessions(tenant, a, q.open)),
            Scope::Tenant if q.open => return self.open_page(tenant, q).await,
            Scope::Tenant => {
                return self.closed_page(tenant, q.shards, (0, i64::MAX), q.limit, q.cursor.as_deref()).await
            }
            Scope::Visitor(v) => (keys::GSI3, keys::GSI3PK, keys::visitor_sessions(tenant, v)),
        };
        let mut start = q.cursor.as_deref().map(|c| decode_cursor(c, pk_attr, &pk)).transpose()?;
        let mut items = Vec::new();
        for _ in 0..10 {
            let mut filters = Vec::new();
            if let Scope::Visitor(_) = q.scope {
                let closed = value(&SessionState::Closed)?;
                let state = attrs::session::STATE;
                filters.push(if q.open { Cond::ne(state, closed) } else { Cond::eq(state, closed) });
            }
            if let Some(text) = &q.search {
                filters.push(Cond::contains(keys::SEARCH, s(text)));
            }
            let page = self
                .query(Some(index), Cond::eq(pk_attr, s(&pk)), Cond::all(filters))
                .scan_index_forward(false)
                .limit((q.limit as usize - items.len()) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(storage)?;
            for item in page.items.unwrap_or_default() {
                items.push(from_item::<Session>(item)?);
            }
            start = page.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() || items.len() >= q.limit as usize {
                break;
            }
        }
        Ok(Page { items, next_cursor: start.map(|k| encode_cursor(&k)) })
    }

    async fn move_open_sessions(&self, t: &str, shards: u32) -> Result<u32> {
        let legacy = keys::tenant_sessions(t, true);
        let mut start = None;
        let mut moved = 0;
        loop {
            let page = self
                .query(Some(keys::GSI2), Cond::eq(keys::GSI2PK, s(&legacy)), None)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(storage)?;
            for item in page.items.unwrap_or_default() {
                let x: Session = from_item(item)?;
                let mut u = Update::new().remove(keys::GSI2PK).remove(keys::GSI2SK);
                for (attr, v) in open_entry(t, &x.id, shards, x.last_activity_at) {
                    u = u.set(attr, v);
                }
                // Still listed as open there: a close meanwhile moved it to the closed list.
                let still = Cond::eq(keys::GSI2PK, s(&legacy));
                moved += u32::from(self.update_if(keys::session(t, &x.id), u, still).await?);
            }
            match page.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(k) => start = Some(k),
                None => return Ok(moved),
            }
        }
    }

    async fn mark_read(&self, session: &Session) -> Result<bool> {
        let read = Update::new().set(attrs::session::UNREAD, n(0)).remove(attrs::session::MARKER);
        let cond = Cond::eq(attrs::session::LAST_SEQ, n(session.last_seq));
        self.update_if(keys::session(&session.tenant, &session.id), read, cond).await
    }

    async fn set_tags(&self, session: &Session, tags: &[String], note: Option<&str>, usage: &TagUsage) -> Result<()> {
        let (t, sid) = (&session.tenant, &session.id);
        let mut u = Update::new().set(attrs::session::TAGS, value(&tags)?).count(attrs::session::TAGS_VERSION, 1);
        u = match note {
            Some(n) => u.set(attrs::session::NOTE, s(n)),
            None => u.remove(attrs::session::NOTE),
        };
        // As read: open (no history entries yet) or closed (they follow).
        let as_read = Cond::exists(keys::PK).and(Cond::eq(attrs::session::STATE, value(&session.state)?));
        let mut items = vec![update(&self.table, keys::session(t, sid), u, Some(as_read))?];
        if let (SessionState::Closed, Some(closed_at)) = (session.state, session.closed_at) {
            for gone in session.tags.iter().filter(|g| !tags.contains(g)) {
                items.push(delete(&self.table, (keys::tag_history(t, gone), keys::by_time(closed_at, sid)))?);
            }
            for added in tags.iter().filter(|g| !session.tags.contains(g)) {
                items.push(super::put(&self.table, history_item(keys::tag_history(t, added), closed_at, session))?);
            }
        }
        // Each use counter is ranked in gsi4 by its count.
        for tag in &usage.added {
            let counted = Update::new().set(keys::GSI4PK, s(keys::tag_uses(t, &usage.agent))).add(keys::RANK, 1);
            items.push(update(&self.table, keys::tag_use(t, &usage.agent, tag), counted, None)?);
        }
        match self.transact(items).await? {
            Tx::Committed => Ok(()),
            Tx::Failed(_) => match self.get_session(t, sid).await? {
                Some(_) => Err(Error::conflict("try_again", "the session changed meanwhile; try again")),
                None => Err(Error::not_found("session")),
            },
        }
    }

    async fn invite_evaluation(&self, session: &Session, invitation: &Invitation) -> Result<()> {
        let invite = Update::new().set(attrs::session::EVALUATION_INVITATION, value(invitation)?);
        if self.update_if(keys::session(&session.tenant, &session.id), invite, Cond::exists(keys::PK)).await? {
            Ok(())
        } else {
            Err(Error::not_found("session"))
        }
    }

    async fn record_evaluation(&self, session: &Session, evaluation: &Evaluation) -> Result<bool> {
        use attrs::session::{EVALUATION, EVALUATION_INVITATION};
        let answer = Update::new().set(EVALUATION, value(evaluation)?).remove(EVALUATION_INVITATION);
        // Once per invitation: only while this very invitation is open.
        let open = Cond::eq(Path::entry(EVALUATION_INVITATION, "id"), s(&evaluation.invitation));
        self.update_if(keys::session(&session.tenant, &session.id), answer, open).await
    }

    async fn count_typing(&self, tenant: &str, session_id: &str, window: i64, limit: u32) -> Result<bool> {
        // A preview late for a newer second is dropped (the next keystroke
        // sends a newer draft): no second shows the agent more than `limit`.
        let counter = window_counter(attrs::typing::WINDOW, attrs::typing::COUNT, window, limit, Late::Dropped);
        for (change, cond) in counter {
            // Gone by TTL a minute after the last preview.
            let change = change.set(keys::EXPIRES_AT, n(window + 60));
            if self.update_if(keys::typing(tenant, session_id), change, cond).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn set_locked(&self, session: &Session, locked: bool, timer: Option<&Timer>) -> Result<bool> {
        let lock = Update::new().set(attrs::session::LOCKED, AttributeValue::Bool(locked));
        let open = Cond::exists(keys::PK).and(Cond::ne(attrs::session::STATE, value(&SessionState::Closed)?));
        let mut items = vec![update(&self.table, keys::session(&session.tenant, &session.id), lock, Some(open))?];
        if let Some(timer) = timer {
            items.push(put_timer(&self.table, timer)?);
        }
        Ok(matches!(self.transact(items).await?, Tx::Committed))
    }

    async fn set_outgoing_translation(&self, tenant: &str, id: &str, mode: &Outgoing) -> Result<bool> {
        let set = Update::new().set(attrs::session::OUTGOING_TRANSLATION, value(mode)?);
        let open = Cond::exists(keys::PK).and(Cond::ne(attrs::session::STATE, value(&SessionState::Closed)?));
        self.update_if(keys::session(tenant, id), set, open).await
    }
}

/// How a message is stored: content as JSON text, so any custom payload
/// round-trips exactly and never hits DynamoDB's nesting limits.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageRecord {
    session_id: String,
    seq: u64,
    client_msg_id: String,
    sender: Sender,
    content: String,
    created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recalled_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    translation: Option<crate::domain::translation::Translation>,
}

impl MessageRecord {
    fn into_message(self) -> Result<Message> {
        Ok(Message {
            session_id: self.session_id,
            seq: self.seq,
            client_msg_id: self.client_msg_id,
            sender: self.sender,
            content: serde_json::from_str(&self.content)?,
            created_at: self.created_at,
            recalled_at: self.recalled_at,
            translation: self.translation,
        })
    }
}

/// An ordinary message (its session's timers follow it, under the
/// tenant's settings), or B5's kept one.
enum AppendMode<'a> {
    Live(&'a crate::domain::Settings),
    Kept,
}

#[derive(Serialize, Deserialize)]
struct ClientMsgRecord {
    seq: u64,
}

impl DynamoStore {
    async fn message(&self, tenant: &str, session_id: &str, seq: u64) -> Result<Option<Message>> {
        let rec: Option<MessageRecord> = self.get(keys::message(tenant, session_id, seq)).await?;
        rec.map(MessageRecord::into_message).transpose()
    }

    async fn message_by_client_id(
        &self,
        session: &Session,
        sender: &Sender,
        client_msg_id: &str,
    ) -> Result<Option<Message>> {
        let key = keys::client_msg(&session.tenant, &session.id, &sender.id, client_msg_id);
        match self.get::<ClientMsgRecord>(key).await? {
            None => Ok(None),
            Some(r) => self.message(&session.tenant, &session.id, r.seq).await,
        }
    }

    /// C3's append, or (`kept`) B5's: the message takes the next sequence
    /// number, atomically with the session's counter.
    async fn append(&self, session: &Session, new: NewMessage, now_ms: i64, mode: AppendMode<'_>) -> Result<Appended> {
        let (sender, client_msg_id, content) = (&new.sender, new.client_msg_id.as_str(), &new.content);
        let (kept, settings) = match mode {
            AppendMode::Live(settings) => (false, Some(settings)),
            AppendMode::Kept => (true, None),
        };
        let (t, sid) = (&session.tenant, &session.id);
        let mut current = session.clone();
        for attempt in 0..MAX_ATTEMPTS {
            let allowed = if kept {
                current.check_kept_sender(sender.kind)
            } else {
                current.check_sender(sender.kind, &sender.id)
            };
            if let Err(refused) = allowed {
                // A resend of a message stored before the session closed (or
                // changed hands) still gets its original back.
                return match self.message_by_client_id(&current, sender, client_msg_id).await? {
                    Some(m) => Ok(Appended::Duplicate(m)),
                    None => Err(refused),
                };
            }
            let seq = current.last_seq + 1;
            let message = new.at(sid, seq, now_ms);
            let mut moved_place = None;

            // The session's counter moves from exactly the value we read, so
            // message n+1 can only commit after message n: a reader who sees
            // seq n has seen every seq before it.
            let (bump, cond) = if kept {
                // B5: kept in the blacklisted visitor's closed session;
                // nothing else of the session moves.
                let bump = Update::new()
                    .set(attrs::session::LAST_SEQ, n(seq))
                    .set(attrs::session::LAST_VISITOR_MESSAGE_AT, n(now_ms));
                let cond = Cond::eq(attrs::session::LAST_SEQ, n(current.last_seq))
                    .and(Cond::eq(attrs::session::STATE, value(&SessionState::Closed)?));
                (bump, cond)
            } else {
                let mut bump = Update::new()
                    .set(attrs::session::LAST_SEQ, n(seq))
                    .set(attrs::session::LAST_ACTIVITY_AT, n(now_ms))
                    .set(attrs::session::LAST_MESSAGE, s(content.preview()))
                    .set(keys::GSI1SK, s(keys::by_time(now_ms, sid)));
                // Its place in the tenant's open list: a large tenant's
                // moves at most once a step (a message does not rewrite a
                // key the whole tenant's sessions share).
                let placed = current.open_place.as_deref().and_then(keys::time_of);
                if moves_open_place(placed, current.open_coarse, now_ms) {
                    bump = bump.set(keys::GSI7SK, s(keys::by_time(now_ms, sid)));
                    moved_place = Some(keys::by_time(now_ms, sid));
                }
                match sender.kind {
                    SenderKind::Visitor => {
                        bump =
                            bump.set(attrs::session::LAST_VISITOR_MESSAGE_AT, n(now_ms)).add(attrs::session::UNREAD, 1)
                    }
                    SenderKind::Agent => bump = bump.set(attrs::session::LAST_AGENT_MESSAGE_AT, n(now_ms)),
                    SenderKind::System => {}
                }
                if let Some(language) = new.visitor_language() {
                    bump = bump.set(attrs::session::VISITOR_LANGUAGE, s(language));
                }
                // The counter, and the sender's right to post (check_sender)
                // as of this very write; and its holder and unread count as
                // read, so the session this leaves is `current` plus this
                // message exactly (the sender pushes it without reading it
                // back; a mark-read or a hand-over meanwhile costs a retry).
                let mut cond = Cond::eq(attrs::session::LAST_SEQ, n(current.last_seq))
                    .and(Cond::ne(attrs::session::STATE, value(&SessionState::Closed)?))
                    .and(Cond::eq(attrs::session::UNREAD, n(current.unread)));
                cond = match (&current.agent_id, sender.kind) {
                    (_, SenderKind::Agent) => cond.and(held_by(&sender.id)?),
                    (Some(holder), _) => cond.and(Cond::eq(attrs::session::AGENT_ID, s(holder))),
                    (None, _) => cond.and(Cond::unset(attrs::session::AGENT_ID)),
                };
                (bump, cond)
            };
            let bump = update(&self.table, keys::session(t, sid), bump, Some(cond))?;

            let record = MessageRecord {
                session_id: sid.clone(),
                seq,
                client_msg_id: client_msg_id.to_string(),
                sender: sender.clone(),
                content: serde_json::to_string(content)?,
                created_at: now_ms,
                recalled_at: None,
                translation: new.translation.clone(),
            };
            let mut item = to_item(&record, keys::message(t, sid, seq))?;
            // C4: the visitor's messages across its sessions, by time.
            item.insert(keys::GSI3PK.into(), s(keys::visitor_messages(t, &session.visitor_id)));
            item.insert(keys::GSI3SK.into(), s(keys::visitor_message_sk(now_ms, sid, seq)));
            let put_message = put_new(&self.table, item)?;
            let put_client_id = put_new(
                &self.table,
                to_item(&ClientMsgRecord { seq }, keys::client_msg(t, sid, &sender.id, client_msg_id))?,
            )?;

            // The session as this append leaves it: its next timer (D8),
            // and what the sender is told.
            let after = if kept {
                Session { last_seq: seq, last_visitor_message_at: Some(now_ms), ..current.clone() }
            } else {
                let after = current.after_message(&message);
                Session { open_place: moved_place.or(after.open_place.clone()), ..after }
            };
            let mut items = vec![bump, put_message, put_client_id];
            if let Some(timer) = settings.and_then(|settings| Timer::for_session(&after, settings)) {
                items.push(put_timer(&self.table, &timer)?);
            }
            let tx = self.transact(items).await?;
            if matches!(tx, Tx::Committed) {
                return Ok(Appended::New(message, Box::new(after)));
            }
            // A resend: this client id is taken (read only then, so a new
            // message costs no read for it).
            if tx.failed_at(2) {
                if let Some(m) = self.message_by_client_id(&current, sender, client_msg_id).await? {
                    return Ok(Appended::Duplicate(m));
                }
            } else {
                // Lost the race for the next number: pause a little so the
                // competing writers de-synchronise, then read the new counter.
                super::backoff(attempt.min(2) as u32).await;
                current = self.get_session(t, sid).await?.ok_or_else(|| Error::not_found("session"))?;
            }
        }
        Err(Error::conflict("try_again", "too many messages at once in this session; resend"))
    }
}

#[async_trait]
impl MessageStore for DynamoStore {
    async fn append_message(
        &self,
        session: &Session,
        message: NewMessage,
        now_ms: i64,
        settings: &crate::domain::Settings,
    ) -> Result<Appended> {
        self.append(session, message, now_ms, AppendMode::Live(settings)).await
    }

    async fn keep_message(&self, session: &Session, message: NewMessage, now_ms: i64) -> Result<Appended> {
        self.append(session, message, now_ms, AppendMode::Kept).await
    }

    async fn sent_message(&self, session: &Session, sender: &Sender, client_msg_id: &str) -> Result<Option<Message>> {
        self.message_by_client_id(session, sender, client_msg_id).await
    }

    async fn visitor_history(
        &self,
        tenant: &str,
        visitor_id: &str,
        before_ms: i64,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Message>> {
        let pk = keys::visitor_messages(tenant, visitor_id);
        let start = cursor.map(|c| decode_cursor(c, keys::GSI3PK, &pk)).transpose()?;
        let key = Cond::eq(keys::GSI3PK, s(&pk)).and(Cond::lt(keys::GSI3SK, s(format!("{before_ms:015}"))));
        let page = self
            .query(Some(keys::GSI3), key, None)
            .scan_index_forward(false)
            .limit(limit as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(storage)?;
        let items = page
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<MessageRecord>(item)?.into_message())
            .collect::<Result<Vec<_>>>()?;
        let next = page.last_evaluated_key.filter(|k| !k.is_empty());
        Ok(Page { items, next_cursor: next.map(|k| encode_cursor(&k)) })
    }

    async fn get_message(&self, tenant: &str, session_id: &str, seq: u64) -> Result<Option<Message>> {
        self.message(tenant, session_id, seq).await
    }

    async fn recall_message(
        &self,
        tenant: &str,
        session_id: &str,
        seq: u64,
        by: &str,
        sent_since: i64,
        now_ms: i64,
    ) -> Result<bool> {
        use attrs::message::{CREATED_AT, RECALLED_AT, SENDER, SENDER_ID, SENDER_KIND};
        let own = Cond::exists(keys::PK)
            .and(Cond::eq(Path::entry(SENDER, SENDER_KIND), value(&SenderKind::Agent)?))
            .and(Cond::eq(Path::entry(SENDER, SENDER_ID), s(by)))
            .and(Cond::ge(CREATED_AT, n(sent_since)))
            .and(Cond::missing(RECALLED_AT));
        self.update_if(keys::message(tenant, session_id, seq), Update::new().set(RECALLED_AT, n(now_ms)), own).await
    }

    async fn messages_after(&self, tenant: &str, session_id: &str, after: u64, limit: u32) -> Result<Vec<Message>> {
        let key = Cond::eq(keys::PK, s(keys::session(tenant, session_id).0)).and(Cond::between(
            keys::SK,
            s(keys::message_sk(after.saturating_add(1))),
            s(keys::message_sk(999_999_999_999)),
        ));
        let page = self.query_table(key).limit(limit as i32).send().await.map_err(storage)?;
        page.items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<MessageRecord>(item)?.into_message())
            .collect()
    }
}

/// The session is active and held by `agent_id`.
fn held_by(agent_id: &str) -> Result<Cond> {
    Ok(Cond::eq(attrs::session::STATE, value(&SessionState::Active)?)
        .and(Cond::eq(attrs::session::AGENT_ID, s(agent_id))))
}

/// One in-progress session more for the agent, if it may take one: A4's
/// hard cap for every way in (auto-dispatch, pickup, callback,
/// transfer-in), and for auto-dispatch also its own maximum and `idle`.
fn take_capacity(
    table: &str,
    tenant: &str,
    agent_id: &str,
    mode: AssignMode,
    now_ms: i64,
) -> Result<aws_sdk_dynamodb::types::TransactWriteItem> {
    let mut cond = Cond::exists(keys::PK).and(Cond::lt(attrs::agent::ACTIVE, n(HARD_CAP)));
    let mut take = Update::new()
        .increment(attrs::agent::ACTIVE, 1)
        .set(attrs::agent::LAST_ASSIGNED_AT, n(now_ms))
        .count(attrs::agent::REV, 1);
    if let AssignMode::Auto { rank_after, shards } = mode {
        cond = cond
            .and(Cond::lt_attr(attrs::agent::ACTIVE, attrs::agent::MAX_CONCURRENT))
            .and(Cond::eq(attrs::agent::STATUS, value(&AgentStatus::Idle)?));
        // Never off the list here, even when full: only a relist from the
        // record (conditional on `rev`) takes an agent off.
        take = super::directory::ready_keys(take, tenant, agent_id, shards, Some(&rank_after));
    }
    update(table, keys::agent(tenant, agent_id), take, Some(cond))
}

/// One in-progress session fewer for the agent; never below zero.
/// A5: one more of `tally` on the agent's row for the day, inside the
/// transaction of the event it counts (a per-agent item: never one every
/// assignment of the tenant writes).
fn tally(
    table: &str,
    tenant: &str,
    agent_id: &str,
    day: &StatsDay,
    tally: Tally,
) -> Result<aws_sdk_dynamodb::types::TransactWriteItem> {
    let count = Update::new()
        .add(tally.counter(), 1)
        .set(attrs::stats::AGENT_ID, s(agent_id))
        .set(attrs::stats::DAY, s(&day.day))
        .set(keys::EXPIRES_AT, n(day.expires_at));
    update(table, keys::stats_row(tenant, &day.day, agent_id), count, None)
}

fn free_capacity(table: &str, tenant: &str, agent_id: &str) -> Result<aws_sdk_dynamodb::types::TransactWriteItem> {
    update(
        table,
        keys::agent(tenant, agent_id),
        Update::new().increment(attrs::agent::ACTIVE, -1).count(attrs::agent::REV, 1),
        Some(Cond::gt(attrs::agent::ACTIVE, n(0))),
    )
}

/// One customer-list entry (`keys::directory_entry`).
pub(super) fn directory_item(tenant: &str, value: &str, visitor_id: &str) -> super::Item {
    let (pk, sk) = keys::directory_entry(tenant, value, visitor_id);
    std::collections::HashMap::from([
        (keys::PK.to_string(), s(pk)),
        (keys::SK.to_string(), s(sk)),
        (attrs::directory::VISITOR_ID.to_string(), s(visitor_id)),
    ])
}

/// One D7 history entry of a closed session, under `partition`.
fn history_item(partition: String, closed_at: i64, session: &Session) -> super::Item {
    std::collections::HashMap::from([
        (keys::PK.to_string(), s(partition)),
        (keys::SK.to_string(), s(keys::by_time(closed_at, &session.id))),
        (attrs::history::SESSION_ID.to_string(), s(&session.id)),
        (
            attrs::history::HANDLERS.to_string(),
            aws_sdk_dynamodb::types::AttributeValue::L(session.handlers.iter().map(s).collect()),
        ),
    ])
}

#[async_trait]
impl StatsStore for DynamoStore {
    async fn day_stats(&self, tenant: &str, day: &str, now_ms: i64) -> Result<Vec<AgentDay>> {
        let rows: Vec<Stored<AgentDay>> = self.query_partition(&keys::stats_day(tenant, day), None).await?;
        Ok(rows.into_iter().filter(|r| r.live(now_ms)).map(|r| r.item).collect())
    }

    async fn agent_stats(&self, tenant: &str, day: &str, agent_id: &str, now_ms: i64) -> Result<Option<AgentDay>> {
        let row: Option<Stored<AgentDay>> = self.get(keys::stats_row(tenant, day, agent_id)).await?;
        Ok(row.filter(|r| r.live(now_ms)).map(|r| r.item))
    }

    async fn start_online(&self, agent: &Agent, now_ms: i64) -> Result<bool> {
        let start = Update::new().set(attrs::agent::ONLINE_SINCE, n(now_ms));
        let cond = as_read(agent)?.and(Cond::unset(attrs::agent::ONLINE_SINCE));
        self.update_if(keys::agent(&agent.tenant, &agent.id), start, cond).await
    }

    async fn end_online(&self, agent: &Agent, pieces: &[(StatsDay, i64)]) -> Result<bool> {
        let Some(since) = agent.online_since else { return Ok(false) };
        let t = &agent.tenant;
        let cond = as_read(agent)?.and(Cond::eq(attrs::agent::ONLINE_SINCE, n(since)));
        let end = Update::new().remove(attrs::agent::ONLINE_SINCE);
        let mut items = vec![update(&self.table, keys::agent(t, &agent.id), end, Some(cond))?];
        for (day, ms) in pieces {
            let add = Update::new()
                .add(attrs::stats::ONLINE_MS, *ms)
                .set(attrs::stats::AGENT_ID, s(&agent.id))
                .set(attrs::stats::DAY, s(&day.day))
                .set(keys::EXPIRES_AT, n(day.expires_at));
            items.push(update(&self.table, keys::stats_row(t, &day.day, &agent.id), add, None)?);
        }
        Ok(matches!(self.transact(items).await?, Tx::Committed))
    }
}

/// The agent still as read in what decides whether it is online: its
/// status and its connections.
fn as_read(agent: &Agent) -> Result<Cond> {
    let mut conns = Cond::eq(attrs::agent::CONNS, value(&agent.conns)?);
    if agent.conns.is_empty() {
        conns = conns.or(Cond::missing(attrs::agent::CONNS));
    }
    Ok(Cond::exists(keys::PK).and(Cond::eq(attrs::agent::STATUS, value(&agent.status)?)).and(conns))
}

/// An item as stored, with its TTL: read as absent once past it.
#[derive(Deserialize)]
struct Stored<T> {
    #[serde(flatten)]
    item: T,
    #[serde(default)]
    expires_at: Option<i64>,
}

impl<T> Stored<T> {
    fn live(&self, now_ms: i64) -> bool {
        self.expires_at.is_none_or(|e| e.saturating_mul(1000) > now_ms)
    }
}
