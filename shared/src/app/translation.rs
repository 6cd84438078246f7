//! G1–G3: what a message is translated into as it is sent, the session's
//! outgoing mode, and the languages for the workbench's pickers.

use std::time::Duration;

use serde::Serialize;
use tracing::instrument;

use super::views::SessionView;
use crate::auth::Principal;
use crate::domain::translation::{self, Language, Outgoing, Plan, TranslateError, Translation};
use crate::domain::{Agent, Content, SenderKind, Session, Settings};
use crate::error::{Error, Result};
use crate::App;

/// What a message needs translated, if anything: `None` with translation
/// off, for anything but text, for an empty text, and for an agent's text
/// its session's mode leaves as written. `holder`: the session's agent as
/// read (its language; a visitor's message waiting for an agent goes into
/// the tenant's `agentLanguage`).
pub fn plan(
    session: &Session,
    kind: SenderKind,
    content: &Content,
    holder: Option<&Agent>,
    settings: &Settings,
) -> Option<Plan> {
    let Content::Text { text } = content else { return None };
    if !settings.translation {
        return None;
    }
    let language = holder.map_or(settings.agent_language.as_str(), |a| a.language(settings));
    match kind {
        SenderKind::Visitor => translation::incoming(text, language),
        SenderKind::Agent => {
            translation::outgoing(text, &session.outgoing_translation, session.visitor_language.as_deref(), language)
        }
        SenderKind::System => None,
    }
}

/// The text translated as planned, within the configured timeout; what went
/// wrong is marked on the translation, never raised: the message is sent
/// all the same.
pub async fn translate(app: &App, text: &str, plan: &Plan) -> Translation {
    let Some(translator) = app.translator() else {
        let error = TranslateError::Unavailable("no translator is configured".into());
        return Translation {
            source: plan.source.clone(),
            target: plan.target.clone(),
            text: None,
            error: Some(error),
        };
    };
    let timeout = Duration::from_millis(app.config.translate_timeout_ms);
    let t = crate::translate::translate(translator, text, plan, timeout).await;
    if let Some(e) = &t.error {
        tracing::warn!(target_language = %plan.target, error = ?e, "message not translated");
    }
    t
}

/// G2: how the agent's messages in this session are translated: `auto`
/// (into the visitor's detected language), `manual` with a `target`, or
/// `off`. The session's agent or an admin, while it is open.
#[instrument(skip(app), fields(tenant = %who.tenant, by = %who.id))]
pub async fn set_outgoing(app: &App, who: &Principal, session_id: &str, mode: Outgoing) -> Result<SessionView> {
    who.require_staff()?;
    mode.validate()?;
    let s = super::sessions::get_visible(app, who, session_id).await?;
    s.check_can_set_translation(who)?;
    if !app.store.set_outgoing_translation(&s.tenant, &s.id, &mode).await? {
        return Err(Error::conflict("session_closed", "the session is closed"));
    }
    tracing::info!(session = session_id, mode = ?mode, "outgoing translation set");
    super::sessions::get(app, who, session_id).await
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Languages {
    /// The language the names are in.
    pub display: &'static str,
    pub languages: Vec<Language>,
    /// Languages translated only to and from these (G3).
    pub only_with: Vec<OnlyWith>,
}

#[derive(Debug, Serialize)]
pub struct OnlyWith {
    pub code: &'static str,
    pub with: [&'static str; 1],
}

/// `display` is `zh` or `en` (default: the caller's system language).
pub async fn languages(app: &App, who: &Principal, display: Option<&str>) -> Result<Languages> {
    who.require_staff()?;
    let display = match display {
        Some("zh") => "zh",
        Some("en") => "en",
        Some(other) => return Err(Error::invalid("invalid_field", format!("display must be zh or en, not {other:?}"))),
        None => {
            let settings = app.settings(&who.tenant).await?;
            let me = app.store.get_agent(&who.tenant, &who.id).await?;
            if me.as_ref().map_or(settings.agent_language.as_str(), |a| a.language(&settings)) == "en" {
                "en"
            } else {
                "zh"
            }
        }
    };
    Ok(Languages {
        display,
        languages: translation::languages(display),
        only_with: translation::ONLY_WITH_CHINESE.iter().map(|code| OnlyWith { code, with: ["zh"] }).collect(),
    })
}
