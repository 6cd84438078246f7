//! Who may call (H3). A token names its caller; for staff, the stored agent
//! record has the final word — its role, whether it is disabled, and its
//! token version — so a demotion, a disable or a revocation takes effect on
//! the next request instead of when the token expires. The authorizers call
//! this: one strongly consistent GetItem per staff authorization (a few
//! milliseconds); the HTTP API reuses an answer for at most 5 s
//! (`ReauthorizeEvery` in template.yaml), the longest a revoked token works.

use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::App;

#[derive(Debug)]
pub struct Authorized {
    /// With the role the agent record holds now, not the token's.
    pub principal: Principal,
    /// The token's expiry (epoch seconds): a connection never outlives it.
    pub expires_at: i64,
}

pub async fn authorize(app: &App, token: &str) -> Result<Authorized> {
    let claims = app.verify_token(token).await?;
    let expires_at = claims.exp;
    let version = claims.ver;
    let mut principal = Principal::from_claims(claims);
    if principal.role.is_staff() {
        let agent = app
            .store
            .get_agent(&principal.tenant, &principal.id)
            .await?
            .ok_or_else(|| Error::unauthorized("no such agent"))?;
        agent.admits(version)?;
        principal.role = agent.role;
    }
    Ok(Authorized { principal, expires_at })
}
