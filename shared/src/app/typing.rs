//! C6: typing preview (消息预知). A web visitor's current draft reaches the
//! session's assigned agent only, a few times a second at most, and is
//! never stored; only when the tenant turns it on.

use serde::{Deserialize, Serialize};

use super::notices::Notice;
use super::sessions::get_visible;
use crate::auth::{Principal, Role};
use crate::domain::message::MAX_TEXT_CHARS;
use crate::domain::SessionState;
use crate::error::{Error, Result};
use crate::App;

/// Previews a session passes on per second; the excess is dropped.
pub const PER_SECOND: u32 = 3;

/// The `typing` action: `{"action": "typing", "sessionId", "draft"}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypingRequest {
    pub session_id: String,
    /// The input box as it is now (empty: the visitor cleared it).
    #[serde(default)]
    pub draft: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TypingSent {
    pub session_id: String,
    /// `false`: dropped (over the session's rate, or no agent yet).
    pub delivered: bool,
}

pub async fn typing(app: &App, who: &Principal, req: TypingRequest) -> Result<TypingSent> {
    if who.role != Role::Visitor {
        return Err(Error::forbidden("typing previews come from visitors"));
    }
    if req.draft.chars().count() > MAX_TEXT_CHARS {
        return Err(Error::invalid("text_too_long", format!("a draft is limited to {MAX_TEXT_CHARS} characters")));
    }
    let s = get_visible(app, who, &req.session_id).await?;
    if s.channel != "web" {
        return Err(Error::invalid("typing_not_supported", "typing previews come from web visitors only"));
    }
    if s.state == SessionState::Closed {
        return Err(Error::conflict("session_closed", "the session is closed"));
    }
    let on = app.store.get_tenant(&s.tenant).await?.is_some_and(|t| t.settings.typing_preview);
    if !on {
        return Err(Error::conflict("typing_preview_off", "the tenant has not turned typing previews on"));
    }
    let dropped = TypingSent { session_id: s.id.clone(), delivered: false };
    let Some(agent) = s.agent_id.as_deref().filter(|_| s.state == SessionState::Active) else { return Ok(dropped) };
    let now = app.now();
    if !app.store.count_typing(&s.tenant, &s.id, now / 1000, PER_SECOND).await? {
        return Ok(dropped);
    }
    let notice = Notice::Typing { session_id: s.id.clone(), draft: req.draft, at: now };
    app.notify.to_agent(&s.tenant, agent, &notice).await;
    Ok(TypingSent { session_id: s.id, delivered: true })
}
