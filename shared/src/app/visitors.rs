//! Visitors get a token from a public route (B1): a new visitor, or the same
//! one again when it presents its previous token.

use serde::{Deserialize, Serialize};

use crate::auth::{Principal, Role};
use crate::domain::text::clean_name;
use crate::domain::visitor::check_channel;
use crate::domain::{ids, ProfileChange, Visitor};
use crate::error::{Error, Result};
use crate::store::VisitorResume;
use crate::App;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenRequest {
    pub tenant_id: String,
    /// `web` (default), `app`, `wechat`, …
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub nickname: Option<String>,
    /// A previous visitor token of this tenant: resume that visitor.
    #[serde(default)]
    pub resume_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VisitorToken {
    pub token: String,
    pub visitor_id: String,
    pub expires_at: i64,
    pub resumed: bool,
}

/// A visitor that exists and has not expired (TTL deletes late); anything
/// else is `visitor_not_found`.
pub async fn live(app: &App, tenant: &str, id: &str) -> Result<Visitor> {
    let now = app.now();
    app.store.get_visitor(tenant, id).await?.filter(|v| !v.is_expired(now)).ok_or_else(|| Error::not_found("visitor"))
}

/// The largest body `POST /visitor/token` reads: every field it takes fits
/// in far less, so anything bigger is refused before any work.
pub const MAX_REQUEST_BYTES: usize = 4096;

/// Anonymous and public: everything that costs nothing (the fields, the
/// resume token's signature) is checked before the first read, and the one
/// write happens only for a tenant that exists.
pub async fn issue_token(app: &App, req: TokenRequest) -> Result<VisitorToken> {
    ids::check_tenant(&req.tenant_id)?;
    let channel = req.channel.unwrap_or_else(|| "web".into());
    check_channel(&channel)?;
    let name = req.name.as_deref().map(|v| clean_name("name", v)).transpose()?;
    let nickname = req.nickname.as_deref().map(|v| clean_name("nickname", v)).transpose()?;
    let t = &req.tenant_id;
    let resume = match &req.resume_token {
        None => None,
        Some(token) => {
            let p = app.authenticate(token).await?;
            if p.role != Role::Visitor || &p.tenant != t {
                return Err(Error::unauthorized("resumeToken is not a visitor token of this tenant"));
            }
            Some(p.id)
        }
    };
    app.store.get_tenant(t).await?.ok_or_else(|| Error::not_found("tenant"))?;
    let now = app.now();
    let resumed = match resume {
        Some(id) => app.store.get_visitor(t, &id).await?.filter(|v| !v.is_expired(now)),
        None => None,
    };
    let (visitor_id, was_resumed) = match resumed {
        Some(v) if v.expires_at.is_none() && (name.is_some() || nickname.is_some()) => {
            // A customer (in the customer list): a new name moves its list
            // entries with it.
            let change = ProfileChange {
                name: name.clone().map(Some),
                nickname: nickname.clone().map(Some),
                ..Default::default()
            };
            if change.apply(&v) != v {
                app.store.update_profile(&v, &change).await?;
            }
            (v.id, true)
        }
        Some(v) => {
            let resume = VisitorResume {
                name: name.as_deref(),
                nickname: nickname.as_deref(),
                expires_at: now / 1000 + app.config.visitor_idle_ttl_secs,
            };
            app.store.resume_visitor(t, &v.id, &resume).await?;
            (v.id, true)
        }
        None => {
            let v = Visitor {
                name,
                nickname,
                expires_at: Some(now / 1000 + app.config.visitor_idle_ttl_secs),
                ..Visitor::new(t, &ids::new_id("v"), &channel, now)
            };
            app.store.create_visitor(&v).await?;
            (v.id, false)
        }
    };
    let p = Principal { tenant: t.clone(), id: visitor_id.clone(), role: Role::Visitor, channel: Some(channel) };
    let (token, expires_at) = app.issue_token(&p, None, app.config.visitor_token_ttl_secs).await?;
    Ok(VisitorToken { token, visitor_id, expires_at, resumed: was_resumed })
}
