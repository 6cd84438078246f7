//! Configuration, from the environment only. Endpoints for AWS services come
//! from the SDK's own variables (`AWS_ENDPOINT_URL_DYNAMODB`, …), so DynamoDB
//! Local, moto or AWS work unchanged.

use crate::error::{Error, Result};

#[derive(Clone, Debug)]
pub struct Config {
    /// The single DynamoDB table (`TABLE_NAME`).
    pub table: String,
    /// HS256 secret for agent and visitor tokens (`JWT_SECRET`).
    pub jwt_secret: Vec<u8>,
    /// The WebSocket API's management endpoint (`WS_ENDPOINT`), e.g.
    /// `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`.
    pub ws_endpoint: Option<String>,
    /// How long an agent whose last connection closed is still dispatched to
    /// (`PRESENCE_GRACE_SECS`, default 60): a page reload must not cost it its place.
    pub presence_grace_ms: i64,
    /// Lifetime of a visitor token (`VISITOR_TOKEN_TTL_SECS`, default 30 days).
    pub visitor_token_ttl_secs: i64,
    /// Lifetime of an agent token minted by an admin (`AGENT_TOKEN_TTL_SECS`, default 12 h).
    pub agent_token_ttl_secs: i64,
}

impl Config {
    pub fn from_env() -> Result<Self> {
        let table = var("TABLE_NAME").ok_or_else(|| Error::Internal("TABLE_NAME is not set".into()))?;
        let jwt_secret = var("JWT_SECRET").ok_or_else(|| Error::Internal("JWT_SECRET is not set".into()))?;
        if jwt_secret.len() < 16 {
            return Err(Error::Internal("JWT_SECRET must be at least 16 bytes".into()));
        }
        Ok(Config {
            table,
            jwt_secret: jwt_secret.into_bytes(),
            ws_endpoint: var("WS_ENDPOINT"),
            presence_grace_ms: number("PRESENCE_GRACE_SECS", 60)? * 1000,
            visitor_token_ttl_secs: number("VISITOR_TOKEN_TTL_SECS", 30 * 24 * 3600)?,
            agent_token_ttl_secs: number("AGENT_TOKEN_TTL_SECS", 12 * 3600)?,
        })
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn number(name: &str, default: i64) -> Result<i64> {
    match var(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| Error::Internal(format!("{name} must be a whole number, got {v:?}"))),
    }
}
