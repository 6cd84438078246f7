//! Tokens and who is calling. Agents, admins and visitors all present an
//! HS256 JWT; the authorizers verify it once and hand the claims on as the
//! request's `Principal`. The keys are in `keys`.

mod jwt;
pub mod keys;

pub use keys::Keyring;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Agent,
    Visitor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
            Role::Visitor => "visitor",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "admin" => Ok(Role::Admin),
            "agent" => Ok(Role::Agent),
            "visitor" => Ok(Role::Visitor),
            other => Err(Error::invalid("invalid_role", format!("unknown role {other:?}"))),
        }
    }

    /// Staff: agents and admins (客服).
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Agent)
    }
}

/// A token's payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Tenant id.
    pub ten: String,
    /// Agent id or visitor id.
    pub sub: String,
    pub role: Role,
    /// Visitor tokens only: the channel the visitor came in on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ch: Option<String>,
    /// Staff tokens: the agent's token version when minted (see `Agent::admits`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<u32>,
    pub iat: i64,
    pub exp: i64,
}

/// How far a token's `iat` may be ahead of this clock (clocks differ a little).
pub const CLOCK_SKEW_SECS: i64 = 60;

/// The longest lifetime Kefu issues, per kind of caller: a token claiming
/// more was not issued by these rules.
#[derive(Clone, Copy, Debug)]
pub struct Lifetimes {
    pub agent_secs: i64,
    pub visitor_secs: i64,
}

impl Claims {
    /// A token issued in the future, or living longer than Kefu issues for
    /// its role, is refused whatever its signature.
    pub fn check_times(&self, now_secs: i64, max: Option<Lifetimes>) -> Result<()> {
        if self.iat > now_secs + CLOCK_SKEW_SECS {
            return Err(Error::unauthorized("token issued in the future"));
        }
        let longest = max.map(|m| if self.role == Role::Visitor { m.visitor_secs } else { m.agent_secs });
        if longest.is_some_and(|l| self.exp - self.iat > l) {
            return Err(Error::unauthorized("token lifetime is longer than issued"));
        }
        Ok(())
    }
}

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq)]
pub struct Principal {
    pub tenant: String,
    pub id: String,
    pub role: Role,
    pub channel: Option<String>,
}

impl Principal {
    pub fn from_claims(c: Claims) -> Self {
        Principal { tenant: c.ten, id: c.sub, role: c.role, channel: c.ch }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn require_staff(&self) -> Result<()> {
        if self.role.is_staff() {
            Ok(())
        } else {
            Err(Error::forbidden("only agents may do this"))
        }
    }

    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Error::forbidden("only admins may do this"))
        }
    }

    pub fn require_visitor(&self) -> Result<()> {
        if self.role == Role::Visitor {
            Ok(())
        } else {
            Err(Error::forbidden("only visitors may do this"))
        }
    }

    /// The authorizer context handed from the authorizer to the function:
    /// strings only, as API Gateway requires.
    pub fn to_context(&self) -> Vec<(&'static str, String)> {
        let mut ctx =
            vec![("tenant", self.tenant.clone()), ("sub", self.id.clone()), ("role", self.role.as_str().to_string())];
        if let Some(ch) = &self.channel {
            ctx.push(("channel", ch.clone()));
        }
        ctx
    }

    pub fn from_context(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let field = |k: &str| get(k).ok_or_else(|| Error::unauthorized("request was not authorized"));
        Ok(Principal {
            tenant: field("tenant")?,
            id: field("sub")?,
            role: Role::parse(&field("role")?).map_err(|_| Error::unauthorized("request was not authorized"))?,
            channel: get("channel"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123";

    fn agent() -> Principal {
        Principal { tenant: "acme".into(), id: "a1".into(), role: Role::Agent, channel: None }
    }

    async fn keyring(secret: &[u8]) -> Keyring {
        let source = keys::StaticKeys::new(secret, None);
        Keyring::load(Box::new(source), std::sync::Arc::new(crate::domain::SystemClock), 300_000).await.unwrap()
    }

    #[tokio::test]
    async fn a_token_round_trips() {
        let ring = keyring(SECRET).await;
        let (token, exp) = ring.issue(&agent(), None, 1_000, 60).await;
        assert_eq!(exp, 1_060);
        assert_eq!(ring.authenticate(&format!("Bearer {token}"), 1_059).await.unwrap(), agent());
    }

    #[tokio::test]
    async fn expired_forged_and_garbage_tokens_are_refused() {
        let ring = keyring(SECRET).await;
        let other = keyring(b"another-secret-of-16").await;
        let (token, _) = ring.issue(&agent(), None, 1_000, 60).await;
        assert_eq!(ring.authenticate(&token, 1_060).await.unwrap_err().code(), "unauthorized");
        assert_eq!(other.authenticate(&token, 1_001).await.unwrap_err().code(), "unauthorized");
        assert!(ring.authenticate("not.a.token", 1_001).await.is_err());
        assert!(ring.authenticate("", 1_001).await.is_err());
        // A payload edited to claim admin no longer matches its signature.
        let parts: Vec<&str> = token.split('.').collect();
        let forged = jwt::encode_part(&serde_json::json!({
            "ten": "acme", "sub": "a1", "role": "admin", "iat": 1000, "exp": 9999
        }));
        let forged = format!("{}.{}.{}", parts[0], forged, parts[2]);
        assert!(ring.authenticate(&forged, 1_001).await.is_err());
        // alg none, with or without a signature.
        let none = jwt::encode_part(&serde_json::json!({"alg": "none", "typ": "JWT"}));
        assert!(ring.authenticate(&format!("{none}.{}.", parts[1]), 1_001).await.is_err());
        assert!(ring.authenticate(&format!("{none}.{}.{}", parts[1], parts[2]), 1_001).await.is_err());
    }

    #[test]
    fn future_and_over_long_tokens_are_refused() {
        let max = Some(Lifetimes { agent_secs: 3600, visitor_secs: 86_400 });
        let c = |role, iat, exp| Claims { ten: "t".into(), sub: "s".into(), role, ch: None, ver: None, iat, exp };
        assert!(c(Role::Agent, 1_000, 4_600).check_times(1_000, max).is_ok());
        assert!(c(Role::Agent, 1_060, 4_600).check_times(1_000, max).is_ok(), "a little skew is fine");
        assert!(c(Role::Agent, 1_061, 4_600).check_times(1_000, max).is_err(), "issued in the future");
        assert!(c(Role::Admin, 1_000, 4_601).check_times(1_000, max).is_err(), "longer than agents' tokens");
        assert!(c(Role::Visitor, 1_000, 87_400).check_times(1_000, max).is_ok());
        assert!(c(Role::Visitor, 1_000, 87_401).check_times(1_000, max).is_err());
        assert!(c(Role::Agent, 1_000, 999_999).check_times(1_000, None).is_ok(), "no lifetimes set: iat only");
    }

    #[test]
    fn context_round_trips_and_missing_fields_are_unauthorized() {
        let p = Principal { channel: Some("web".into()), role: Role::Visitor, ..agent() };
        let ctx: std::collections::HashMap<_, _> = p.to_context().into_iter().collect();
        assert_eq!(Principal::from_context(|k| ctx.get(k).cloned()).unwrap(), p);
        assert_eq!(Principal::from_context(|_| None).unwrap_err().code(), "unauthorized");
    }
}
