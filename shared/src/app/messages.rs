//! Messages (C2, C3): send with idempotent client ids, and catch up after a
//! reconnect.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::notices::{Notice, Notify, NotifyKind};
use super::views::{MessageView, VisitorMessage};
use crate::auth::{Principal, Role};
use crate::domain::message::{Content, Message, Sender, SenderKind, RECALL_WINDOW_MS};
use crate::domain::{ids, SessionState};
use crate::error::{Error, Result};
use crate::store::{Appended, NewMessage};
use crate::App;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendRequest {
    pub session_id: String,
    /// C3: the client's id for this message. Resending with the same id
    /// returns the original message and never duplicates it.
    pub client_msg_id: String,
    pub message: serde_json::Value,
}

/// What a send carries: content as it is, or a reference to something
/// agents keep, sent as the content it stands for (F1: a canned response
/// is its text; F2: a knowledge entry its title and content as a rich
/// message, or one of its attachments as a file). The message stores the
/// content, not the reference.
async fn content_of(app: &App, who: &Principal, message: serde_json::Value) -> Result<Content> {
    #[derive(Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Reference {
        #[serde(rename_all = "camelCase")]
        Canned { canned_response_id: String },
        #[serde(rename_all = "camelCase")]
        Knowledge {
            knowledge_id: String,
            #[serde(default)]
            attachment_id: Option<String>,
        },
    }
    let parse = |e: serde_json::Error| Error::invalid("invalid_message", format!("message: {e}"));
    if !matches!(message.get("type").and_then(serde_json::Value::as_str), Some("canned" | "knowledge")) {
        return serde_json::from_value(message).map_err(parse);
    }
    who.require_staff()?;
    // Exactly the reference's fields: `deny_unknown_fields` does not reach
    // through an internally tagged enum, so count them.
    let fields = message.as_object().map_or(0, |o| o.len());
    let reference: Reference = serde_json::from_value(message).map_err(parse)?;
    let expected = match &reference {
        Reference::Canned { .. } => 2,
        Reference::Knowledge { attachment_id, .. } => 2 + usize::from(attachment_id.is_some()),
    };
    if fields != expected {
        return Err(Error::invalid("invalid_message", "message: unknown field beside the reference"));
    }
    match reference {
        Reference::Canned { canned_response_id } => {
            Ok(Content::Text { text: super::canned::text_of(app, who, &canned_response_id).await? })
        }
        Reference::Knowledge { knowledge_id, attachment_id } => {
            if let Some(a) = &attachment_id {
                ids::check("attachmentId", a)?;
            }
            super::knowledge::content_of(app, who, &knowledge_id, attachment_id.as_deref()).await
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Sent {
    pub message: Message,
    /// `true`: this client message id was sent before; nothing new was stored.
    pub duplicate: bool,
}

#[instrument(skip(app, req), fields(tenant = %who.tenant, session = %req.session_id))]
pub async fn send(app: &App, who: &Principal, req: SendRequest) -> Result<Sent> {
    ids::check("sessionId", &req.session_id)?;
    ids::check("clientMsgId", &req.client_msg_id)?;
    let content = content_of(app, who, req.message).await?;
    let s = super::sessions::get_visible(app, who, &req.session_id).await?;
    // B5: a blacklisted visitor's messages into its closed sessions are
    // kept (stored, delivered to nobody); once off the list it starts anew.
    let kept = who.role == Role::Visitor
        && s.state == SessionState::Closed
        && app.store.get_visitor(&s.tenant, &who.id).await?.is_some_and(|v| v.blacklisted);
    if !kept {
        s.check_can_send(who)?;
    }
    let kind = if who.role == Role::Visitor { SenderKind::Visitor } else { SenderKind::Agent };
    content.validate(kind, &s.channel)?;

    let mut new = NewMessage::new(Sender { kind, id: who.id.clone() }, &req.client_msg_id, content);
    if kept {
        return Ok(match app.store.keep_message(&s, new, app.now()).await? {
            Appended::New(m, _) => {
                tracing::info!(session = %s.id, "a blacklisted visitor's message kept");
                Sent { message: m, duplicate: false }
            }
            Appended::Duplicate(m) => Sent { message: m, duplicate: true },
        });
    }
    let settings = app.settings(&s.tenant).await?;
    // One read of the session's agent serves the translation (its
    // language), its push and, when it wrote the message, the nickname the
    // visitor sees it by.
    let mut agent = match &s.agent_id {
        Some(id) => app.notify.agent(&s.tenant, id).await,
        None => None,
    };
    // G1/G2: translated once, before it is stored, so every reader gets
    // both texts. A resend is answered with the original first: a
    // translation costs more than the read.
    if let Some(plan) = super::translation::plan(&s, kind, &new.content, agent.as_ref(), &settings) {
        if let Some(m) = app.store.sent_message(&s, &new.sender, &new.client_msg_id).await? {
            return Ok(Sent { message: m, duplicate: true });
        }
        if let Content::Text { text } = &new.content {
            new.translation = Some(super::translation::translate(app, text, &plan).await);
        }
    }
    // D8: the message sets the session's next timer in the same write.
    let (message, fresh) = match app.store.append_message(&s, new, app.now(), &settings).await? {
        Appended::Duplicate(m) => return Ok(Sent { message: m, duplicate: true }),
        Appended::New(m, after) => (m, after),
    };

    // Both parties, on every connection they have (the sender's other tabs
    // too; clients de-duplicate by `seq`), from the session as the append
    // left it.
    if fresh.agent_id != s.agent_id {
        // Assigned or handed on before the append (it retried on a fresh
        // read): the agent who holds it now.
        agent = match &fresh.agent_id {
            Some(id) => app.notify.agent(&fresh.tenant, id).await,
            None => None,
        };
    }
    if let Some(agent) = &agent {
        let kind = if kind == SenderKind::Visitor { Some(NotifyKind::NewMessage) } else { None };
        let notice = Notice::MessageNew {
            session_id: fresh.id.clone(),
            message: MessageView::Staff(message.clone()),
            notify: Notify { kind, unread: Some(fresh.unread) },
        };
        app.notify.to_agent_record(agent, &notice, None).await;
    }
    let nickname = agent.filter(|a| kind == SenderKind::Agent && a.id == who.id).map(|a| a.nickname);
    let kind = if kind == SenderKind::Agent { Some(NotifyKind::NewMessage) } else { None };
    let seen = MessageView::Visitor(VisitorMessage::new(&message, nickname.as_deref()));
    let notice =
        Notice::MessageNew { session_id: fresh.id.clone(), message: seen, notify: Notify { kind, unread: None } };
    app.notify.to_visitor(&fresh.tenant, &fresh.visitor_id, &notice).await;
    Ok(Sent { message, duplicate: false })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Batch {
    pub session_id: String,
    /// As the caller may see them: a visitor sees agents by nickname.
    pub messages: Vec<MessageView>,
    /// More messages follow the last one returned: ask again after it.
    pub has_more: bool,
    /// The session's newest sequence number when read.
    pub last_seq: u64,
}

pub const MAX_BATCH: u32 = 200;

/// The `sync` action: `{"action": "sync", "sessionId", "afterSeq", "limit"}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRequest {
    pub session_id: String,
    #[serde(default)]
    pub after_seq: u64,
    #[serde(default)]
    pub limit: Option<u32>,
}

/// C3: everything after `after` (a client's last seen sequence number).
pub async fn after(app: &App, who: &Principal, session_id: &str, after: u64, limit: u32) -> Result<Batch> {
    if !(1..=MAX_BATCH).contains(&limit) {
        return Err(Error::invalid("invalid_field", format!("limit must be from 1 to {MAX_BATCH}")));
    }
    let s = super::sessions::get_visible(app, who, session_id).await?;
    // Past the newest message there is nothing to read (and no key range).
    let mut messages = if after >= s.last_seq {
        Vec::new()
    } else {
        app.store.messages_after(&s.tenant, &s.id, after, limit + 1).await?
    };
    let mut has_more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    let mut messages = views(app, who, &s.tenant, &messages).await?;
    // A batch fits one WebSocket message (API Gateway's 128 KB): messages
    // with long texts and their translations go in more batches.
    let mut bytes = 0;
    if let Some(fit) = messages.iter().position(|m| {
        bytes += serde_json::to_vec(m).map_or(0, |v| v.len());
        bytes > MAX_BATCH_BYTES
    }) {
        let keep = fit.max(1);
        if keep < messages.len() {
            messages.truncate(keep);
            has_more = true;
        }
    }
    Ok(Batch { session_id: s.id, messages, has_more, last_seq: s.last_seq })
}

/// What one batch of messages holds at most (one always goes).
pub const MAX_BATCH_BYTES: usize = 96 * 1024;

/// Messages as the caller may see them: a visitor sees agents by
/// nickname and no recalled content; agents no recalled content; admins all.
async fn views(app: &App, who: &Principal, tenant: &str, messages: &[Message]) -> Result<Vec<MessageView>> {
    Ok(if who.role == Role::Visitor {
        let names = nicknames(app, tenant, messages).await?;
        messages
            .iter()
            .map(|m| MessageView::Visitor(VisitorMessage::new(m, names.get(&m.sender.id).map(String::as_str))))
            .collect()
    } else {
        messages.iter().map(|m| MessageView::staff(m, who.role)).collect()
    })
}

/// The nicknames of the agents who sent any of `messages` (one read for all).
async fn nicknames(app: &App, tenant: &str, messages: &[Message]) -> Result<HashMap<String, String>> {
    let mut ids: Vec<String> =
        messages.iter().filter(|m| m.sender.kind == SenderKind::Agent).map(|m| m.sender.id.clone()).collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    // A session's messages come from the few agents who handled it; more
    // than a batch's worth is read a batch at a time.
    let mut names = HashMap::new();
    for chunk in ids.chunks(100) {
        for agent in app.store.get_agents(tenant, chunk).await? {
            names.insert(agent.id, agent.nickname);
        }
    }
    Ok(names)
}

/// C5: an agent recalls its own message within 2 minutes of sending it. The
/// visitor is told and never again receives its content (in events,
/// messages, `sync` or history); agents see it marked recalled; admins still
/// read the original. Recalling a message twice returns it as it is.
#[instrument(skip(app), fields(tenant = %who.tenant, by = %who.id))]
pub async fn recall(app: &App, who: &Principal, session_id: &str, seq: u64) -> Result<MessageView> {
    who.require_staff()?;
    let s = super::sessions::get_visible(app, who, session_id).await?;
    let (t, now) = (&s.tenant, app.now());
    let m = app.store.get_message(t, &s.id, seq).await?.ok_or_else(|| Error::not_found("message"))?;
    if m.recalled_at.is_some() && m.sender.id == who.id {
        return Ok(MessageView::staff(&m, who.role));
    }
    m.check_recall(&who.id, now)?;
    if !app.store.recall_message(t, &s.id, seq, &who.id, now - RECALL_WINDOW_MS, now).await? {
        // Recalled meanwhile (by a retry of this very request), or the
        // window closed between the read and the write.
        let again = app.store.get_message(t, &s.id, seq).await?.ok_or_else(|| Error::not_found("message"))?;
        if again.recalled_at.is_none() {
            again.check_recall(&who.id, app.now())?;
            return Err(Error::conflict("try_again", "the message changed meanwhile; try again"));
        }
        return Ok(MessageView::staff(&again, who.role));
    }
    tracing::info!(session = %s.id, seq, "message recalled");
    let notice = Notice::MessageRecalled { session_id: s.id.clone(), seq, recalled_at: now };
    app.notify.to_visitor(t, &s.visitor_id, &notice).await;
    // The agent's own tabs, and whoever holds the session now.
    app.notify.to_agent(t, &who.id, &notice).await;
    if let Some(holder) = s.agent_id.as_deref().filter(|a| *a != who.id) {
        app.notify.to_agent(t, holder, &notice).await;
    }
    let recalled = Message { recalled_at: Some(now), ..m };
    Ok(MessageView::staff(&recalled, who.role))
}

/// C4: a page of the visitor's earlier conversation.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    pub session_id: String,
    /// Oldest first within the page; each page is older than the one before.
    pub messages: Vec<MessageView>,
    /// `null`: nothing older is left.
    pub next_cursor: Option<String>,
}

/// C4: opening a session shows the last messages of the visitor's earlier
/// sessions; "more" pages back, `limit` (10) at a time, across sessions,
/// until none are left. One index query a page.
pub async fn history(
    app: &App,
    who: &Principal,
    session_id: &str,
    limit: u32,
    cursor: Option<&str>,
) -> Result<History> {
    if !(1..=50).contains(&limit) {
        return Err(Error::invalid("invalid_field", "limit must be from 1 to 50"));
    }
    let s = super::sessions::get_visible(app, who, session_id).await?;
    let page = app.store.visitor_history(&s.tenant, &s.visitor_id, s.created_at, limit, cursor).await?;
    let mut older = page.items;
    older.reverse();
    let messages = views(app, who, &s.tenant, &older).await?;
    Ok(History { session_id: s.id, messages, next_cursor: page.next_cursor })
}
