//! Sessions, the queue and messages.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::{
    decode_cursor, delete, encode_cursor, from_item, n, put_new, s, storage, to_item, value, DynamoStore, Expr, Tx,
};
use crate::domain::agent::HARD_CAP;
use crate::domain::session::Marker;
use crate::domain::{AgentStatus, CloseReason, Content, Message, Sender, SenderKind, Session, SessionState};
use crate::error::{Error, Result};
use crate::store::{attrs, keys};
use crate::store::{
    Appended, AssignMode, Assigned, MessageStore, Opened, Page, QueueEntry, Scope, SessionQuery, SessionStore,
};

/// Optimistic rounds before a write gives up with `try_again` (the client
/// resends; a `clientMsgId` keeps that safe). Every round commits at least
/// one of the competing writers; a session has two parties, each limited to
/// a few actions a second per connection, so a few rounds are plenty, and a
/// request's cost stays bounded under any burst.
const MAX_ATTEMPTS: usize = 6;

#[async_trait]
impl SessionStore for DynamoStore {
    async fn open_session(&self, session: &Session) -> Result<Opened> {
        let (t, sid) = (&session.tenant, &session.id);
        for _ in 0..3 {
            let mut e = Expr::default();
            // A visitor with a session is kept: its TTL goes.
            let update = format!(
                "SET {} = {} REMOVE {}",
                e.name(attrs::visitor::ACTIVE_SESSION),
                e.value(s(sid)),
                e.name(keys::EXPIRES_AT)
            );
            let cond = format!(
                "attribute_exists({}) AND attribute_not_exists({})",
                e.name(keys::PK),
                e.name(attrs::visitor::ACTIVE_SESSION)
            );
            let claim_visitor = e.update(&self.table, keys::visitor(t, &session.visitor_id), update, Some(cond))?;

            let mut item = to_item(session, keys::session(t, sid))?;
            item.insert(keys::GSI2PK.into(), s(keys::tenant_sessions(t, true)));
            item.insert(keys::GSI2SK.into(), s(keys::by_time(session.last_activity_at, sid)));
            item.insert(keys::GSI3PK.into(), s(keys::visitor_sessions(t, &session.visitor_id)));
            item.insert(keys::GSI3SK.into(), s(keys::by_time(session.created_at, sid)));
            item.insert(keys::SEARCH.into(), s(session.search_text()));

            let entry = to_item(&QueueEntry::of(session), keys::queue_entry(t, session.queued_at, sid))?;

            let tx =
                self.transact(vec![claim_visitor, put_new(&self.table, item)?, put_new(&self.table, entry)?]).await?;
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
    ) -> Result<Assigned> {
        let sid = &entry.session_id;

        // The agent's side: one more in-progress session, if capacity allows.
        let mut e = Expr::default();
        let active = e.name(attrs::agent::ACTIVE);
        let update = format!(
            "SET {active} = {active} + {}, {} = {}",
            e.value(n(1)),
            e.name(attrs::agent::LAST_ASSIGNED_AT),
            e.value(n(now_ms))
        );
        let mut cond = format!("attribute_exists({}) AND {active} < {}", e.name(keys::PK), e.value(n(HARD_CAP)));
        if mode == AssignMode::Auto {
            cond = format!(
                "{cond} AND {active} < {} AND {} = {}",
                e.name(attrs::agent::MAX_CONCURRENT),
                e.name(attrs::agent::STATUS),
                e.value(value(&AgentStatus::Idle)?)
            );
        }
        let take = e.update(&self.table, keys::agent(t, agent_id), update, Some(cond))?;

        // The session's side: from waiting to active with this agent.
        let mut e = Expr::default();
        let state = e.name(attrs::session::STATE);
        let update = format!(
            "SET {state} = {}, {} = {}, {} = {}, {} = {}, {} = {}, {h} = list_append(if_not_exists({h}, {}), {}), {} = {}, {} = {}, {} = {}",
            e.value(value(&SessionState::Active)?),
            e.name(attrs::session::AGENT_ID),
            e.value(s(agent_id)),
            e.name(attrs::session::ASSIGNED_AT),
            e.value(n(now_ms)),
            e.name(attrs::session::MARKER),
            e.value(value(&Marker::New)?),
            e.name(attrs::session::LAST_ACTIVITY_AT),
            e.value(n(now_ms)),
            e.value(AttributeValue::L(vec![])),
            e.value(AttributeValue::L(vec![s(agent_id)])),
            e.name(keys::GSI1PK),
            e.value(s(keys::agent_sessions(t, agent_id, true))),
            e.name(keys::GSI1SK),
            e.value(s(keys::by_time(now_ms, sid))),
            e.name(keys::GSI2SK),
            e.value(s(keys::by_time(now_ms, sid))),
            h = e.name(attrs::session::HANDLERS),
        );
        let cond = format!("{state} = {}", e.value(value(&SessionState::Waiting)?));
        let claim = e.update(&self.table, keys::session(t, sid), update, Some(cond))?;

        let dequeue = delete(&self.table, keys::queue_entry(t, entry.queued_at, sid))?;

        let tx = self.transact(vec![take, claim, dequeue]).await?;
        Ok(if tx.failed_at(1) {
            Assigned::SessionTaken
        } else if tx.failed_at(0) {
            Assigned::AgentUnavailable
        } else {
            Assigned::Assigned
        })
    }

    async fn requeue_session(&self, session: &Session, agent_id: &str, now_ms: i64) -> Result<bool> {
        let (t, sid) = (&session.tenant, &session.id);
        // The session: back to waiting, out of the agent's list; its
        // handlers and messages stay.
        let mut e = Expr::default();
        let (state, agent) = (e.name(attrs::session::STATE), e.name(attrs::session::AGENT_ID));
        let update = format!(
            "SET {state} = {}, {} = {} REMOVE {agent}, {}, {}, {}",
            e.value(value(&SessionState::Waiting)?),
            e.name(attrs::session::LAST_ACTIVITY_AT),
            e.value(n(now_ms)),
            e.name(attrs::session::MARKER),
            e.name(keys::GSI1PK),
            e.name(keys::GSI1SK),
        );
        let cond =
            format!("{state} = {} AND {agent} = {}", e.value(value(&SessionState::Active)?), e.value(s(agent_id)));
        let release = e.update(&self.table, keys::session(t, sid), update, Some(cond))?;
        // Its place in the queue: where it first waited, so it is not sent
        // to the back.
        let entry = QueueEntry::of(session);
        let enqueue = put_new(&self.table, to_item(&entry, keys::queue_entry(t, entry.queued_at, sid))?)?;
        let mut e = Expr::default();
        let active = e.name(attrs::agent::ACTIVE);
        let update = format!("SET {active} = {active} - {}", e.value(n(1)));
        let cond = format!("{active} > {}", e.value(n(0)));
        let free = e.update(&self.table, keys::agent(t, agent_id), update, Some(cond))?;
        Ok(matches!(self.transact(vec![release, enqueue, free]).await?, Tx::Committed))
    }

    async fn close_session(&self, session: &Session, reason: CloseReason, now_ms: i64) -> Result<bool> {
        let (t, sid) = (&session.tenant, &session.id);
        let mut current = session.clone();
        // Set if the agent's count was found at 0: it must not go negative,
        // and the session must still close.
        let mut skip_agent_count = false;
        for _ in 0..MAX_ATTEMPTS {
            if current.state == SessionState::Closed {
                return Ok(false);
            }
            let mut items = Vec::new();
            let mut e = Expr::default();
            let state = e.name(attrs::session::STATE);
            let mut update = format!(
                "SET {state} = {}, {} = {}, {} = {}, {} = {}, {} = {}",
                e.value(value(&SessionState::Closed)?),
                e.name(attrs::session::CLOSED_AT),
                e.value(n(now_ms)),
                e.name(attrs::session::CLOSE_REASON),
                e.value(value(&reason)?),
                e.name(keys::GSI2PK),
                e.value(s(keys::tenant_sessions(t, false))),
                e.name(keys::GSI2SK),
                e.value(s(keys::by_time(now_ms, sid))),
            );
            if let Some(a) = &current.agent_id {
                update += &format!(
                    ", {} = {}, {} = {}",
                    e.name(keys::GSI1PK),
                    e.value(s(keys::agent_sessions(t, a, false))),
                    e.name(keys::GSI1SK),
                    e.value(s(keys::by_time(now_ms, sid)))
                );
            }
            update += &format!(" REMOVE {}", e.name(attrs::session::MARKER));
            let cond = format!("{state} = {}", e.value(value(&current.state)?));
            items.push(e.update(&self.table, keys::session(t, sid), update, Some(cond))?);

            // The visitor may start a new session once this one is closed.
            let mut e = Expr::default();
            let update = format!("REMOVE {}", e.name(attrs::visitor::ACTIVE_SESSION));
            let cond = format!("attribute_exists({})", e.name(keys::PK));
            items.push(e.update(&self.table, keys::visitor(t, &current.visitor_id), update, Some(cond))?);

            let frees_agent = current.state == SessionState::Active && !skip_agent_count;
            match (current.state, &current.agent_id) {
                (SessionState::Active, Some(agent)) if frees_agent => {
                    let mut e = Expr::default();
                    let active = e.name(attrs::agent::ACTIVE);
                    let update = format!("SET {active} = {active} - {}", e.value(n(1)));
                    let cond = format!("{active} > {}", e.value(n(0)));
                    items.push(e.update(&self.table, keys::agent(t, agent), update, Some(cond))?);
                }
                (SessionState::Waiting, _) => {
                    items.push(delete(&self.table, keys::queue_entry(t, current.queued_at, sid))?)
                }
                _ => {}
            }

            let tx = self.transact(items).await?;
            if matches!(tx, Tx::Committed) {
                return Ok(true);
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

    async fn queue_page(&self, tenant: &str, limit: u32, cursor: Option<&str>) -> Result<Page<QueueEntry>> {
        self.partition_page(&keys::queue(tenant), true, limit, cursor).await
    }

    async fn count_waiting(&self, tenant: &str, up_to: u32) -> Result<u32> {
        let mut e = Expr::default();
        let cond = format!("{} = {}", e.name(keys::PK), e.value(s(keys::queue(tenant))));
        let mut start = None;
        let mut counted = 0u32;
        // Keys only, a page at a time, and never past `up_to`.
        while counted < up_to {
            let page = self
                .query_table(&cond, &e)
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
            Scope::Tenant => (keys::GSI2, keys::GSI2PK, keys::tenant_sessions(tenant, q.open)),
            Scope::Visitor(v) => (keys::GSI3, keys::GSI3PK, keys::visitor_sessions(tenant, v)),
        };
        let mut start = q.cursor.as_deref().map(|c| decode_cursor(c, pk_attr, &pk)).transpose()?;
        let mut items = Vec::new();
        for _ in 0..10 {
            let mut e = Expr::default();
            let cond = format!("{} = {}", e.name(pk_attr), e.value(s(&pk)));
            let mut filters = Vec::new();
            if let Scope::Visitor(_) = q.scope {
                let op = if q.open { "<>" } else { "=" };
                filters.push(format!(
                    "{} {op} {}",
                    e.name(attrs::session::STATE),
                    e.value(value(&SessionState::Closed)?)
                ));
            }
            if let Some(text) = &q.search {
                filters.push(format!("contains({}, {})", e.name(keys::SEARCH), e.value(s(text))));
            }
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(cond)
                .set_filter_expression((!filters.is_empty()).then(|| filters.join(" AND ")))
                .set_expression_attribute_names(e.names())
                .set_expression_attribute_values(e.values())
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

    async fn mark_read(&self, session: &Session) -> Result<bool> {
        let mut e = Expr::default();
        let update = format!(
            "SET {} = {} REMOVE {}",
            e.name(attrs::session::UNREAD),
            e.value(n(0)),
            e.name(attrs::session::MARKER)
        );
        let cond = format!("{} = {}", e.name(attrs::session::LAST_SEQ), e.value(n(session.last_seq)));
        self.update_if(keys::session(&session.tenant, &session.id), update, cond, e).await
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
        })
    }
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
}

#[async_trait]
impl MessageStore for DynamoStore {
    async fn append_message(
        &self,
        session: &Session,
        sender: Sender,
        client_msg_id: &str,
        content: Content,
        now_ms: i64,
    ) -> Result<Appended> {
        let (t, sid) = (&session.tenant, &session.id);
        let mut current = session.clone();
        for attempt in 0..MAX_ATTEMPTS {
            if let Err(refused) = current.check_sender(sender.kind, &sender.id) {
                // A resend of a message stored before the session closed (or
                // changed hands) still gets its original back.
                return match self.message_by_client_id(&current, &sender, client_msg_id).await? {
                    Some(m) => Ok(Appended::Duplicate(m)),
                    None => Err(refused),
                };
            }
            let seq = current.last_seq + 1;
            let message = Message {
                session_id: sid.clone(),
                seq,
                client_msg_id: client_msg_id.to_string(),
                sender: sender.clone(),
                content: content.clone(),
                created_at: now_ms,
            };

            // The session's counter moves from exactly the value we read, so
            // message n+1 can only commit after message n: a reader who sees
            // seq n has seen every seq before it.
            let mut e = Expr::default();
            let last_seq = e.name(attrs::session::LAST_SEQ);
            let state = e.name(attrs::session::STATE);
            let mut update = format!(
                "SET {last_seq} = {}, {} = {}, {} = {}, {} = {}, {} = {}",
                e.value(n(seq)),
                e.name(attrs::session::LAST_ACTIVITY_AT),
                e.value(n(now_ms)),
                e.name(attrs::session::LAST_MESSAGE),
                e.value(s(content.preview())),
                e.name(keys::GSI1SK),
                e.value(s(keys::by_time(now_ms, sid))),
                e.name(keys::GSI2SK),
                e.value(s(keys::by_time(now_ms, sid))),
            );
            match sender.kind {
                SenderKind::Visitor => {
                    update +=
                        &format!(", {} = {}", e.name(attrs::session::LAST_VISITOR_MESSAGE_AT), e.value(n(now_ms)));
                    update += &format!(" ADD {} {}", e.name(attrs::session::UNREAD), e.value(n(1)));
                }
                SenderKind::Agent => {
                    update += &format!(", {} = {}", e.name(attrs::session::LAST_AGENT_MESSAGE_AT), e.value(n(now_ms)));
                }
                SenderKind::System => {}
            }
            // The counter, and the sender's right to post (check_sender) as of this very write.
            let mut cond = format!(
                "{last_seq} = {} AND {state} <> {}",
                e.value(n(current.last_seq)),
                e.value(value(&SessionState::Closed)?)
            );
            if sender.kind == SenderKind::Agent {
                cond += &format!(
                    " AND {state} = {} AND {} = {}",
                    e.value(value(&SessionState::Active)?),
                    e.name(attrs::session::AGENT_ID),
                    e.value(s(&sender.id))
                );
            }
            let bump = e.update(&self.table, keys::session(t, sid), update, Some(cond))?;

            let record = MessageRecord {
                session_id: sid.clone(),
                seq,
                client_msg_id: client_msg_id.to_string(),
                sender: sender.clone(),
                content: serde_json::to_string(&content)?,
                created_at: now_ms,
            };
            let put_message = put_new(&self.table, to_item(&record, keys::message(t, sid, seq))?)?;
            let put_client_id = put_new(
                &self.table,
                to_item(&ClientMsgRecord { seq }, keys::client_msg(t, sid, &sender.id, client_msg_id))?,
            )?;

            let tx = self.transact(vec![bump, put_message, put_client_id]).await?;
            if matches!(tx, Tx::Committed) {
                return Ok(Appended::New(message));
            }
            // A resend: this client id is taken (read only then, so a new
            // message costs no read for it).
            if tx.failed_at(2) {
                if let Some(m) = self.message_by_client_id(&current, &sender, client_msg_id).await? {
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

    async fn messages_after(&self, tenant: &str, session_id: &str, after: u64, limit: u32) -> Result<Vec<Message>> {
        let mut e = Expr::default();
        let cond = format!(
            "{} = {} AND {} BETWEEN {} AND {}",
            e.name(keys::PK),
            e.value(s(keys::session(tenant, session_id).0)),
            e.name(keys::SK),
            e.value(s(keys::message_sk(after.saturating_add(1)))),
            e.value(s(keys::message_sk(999_999_999_999))),
        );
        let page = self.query_table(cond, &e).limit(limit as i32).send().await.map_err(storage)?;
        page.items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<MessageRecord>(item)?.into_message())
            .collect()
    }
}
