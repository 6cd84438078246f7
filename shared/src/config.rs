//! Configuration, from the environment only. Endpoints for AWS services come
//! from the SDK's own variables (`AWS_ENDPOINT_URL_DYNAMODB`, …), so DynamoDB
//! Local, moto or AWS work unchanged.

use crate::error::{Error, Result};

#[derive(Clone, Debug)]
pub struct Config {
    /// The single DynamoDB table (`TABLE_NAME`).
    pub table: String,
    /// Where the token keys are, for the functions that sign or verify.
    pub token_keys: TokenKeys,
    /// How often a function re-reads the token keys (`KEY_REFRESH_SECS`,
    /// default 300): the longest a rotated-out key is still used to sign.
    pub key_refresh_secs: i64,
    /// The WebSocket API's management endpoint (`WS_ENDPOINT`), e.g.
    /// `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`.
    pub ws_endpoint: Option<String>,
    /// How long an agent whose last connection closed is still dispatched to
    /// (`PRESENCE_GRACE_SECS`, default 60): a page reload must not cost it its place.
    pub presence_grace_ms: i64,
    /// WebSocket actions one connection may send per second
    /// (`WS_ACTIONS_PER_SECOND`, default 10); more are `rate_limited`.
    pub ws_actions_per_second: u32,
    /// How long a visitor that never starts a session is kept
    /// (`VISITOR_IDLE_TTL_SECS`, default one day).
    pub visitor_idle_ttl_secs: i64,
    /// Lifetime of a visitor token (`VISITOR_TOKEN_TTL_SECS`, default 30 days).
    pub visitor_token_ttl_secs: i64,
    /// Lifetime of an agent token minted by an admin (`AGENT_TOKEN_TTL_SECS`, default 12 h).
    pub agent_token_ttl_secs: i64,
    /// How long a function reuses a tenant's settings it read
    /// (`SETTINGS_CACHE_SECS`, default 10): a message's timers cost no read
    /// of the tenant, and a settings change reaches every function within it.
    pub settings_cache_ms: i64,
    /// G: the longest a message waits for its translation
    /// (`TRANSLATE_TIMEOUT_MS`, default 2000), all its parts and the SDK's
    /// retries included; past it the message goes untranslated, marked.
    pub translate_timeout_ms: u64,
    /// At how many agents a tenant's ready list splits into
    /// `keys::MAX_READY_SHARDS` shards (`READY_SPLIT_AT`, default 500):
    /// below it, one shard takes every write, and a drain reads it in one
    /// Query.
    pub ready_split_at: u64,
    /// Whether init opens the DynamoDB connection with one read
    /// (`DYNAMODB_WARM_UP`, default on; `DynamoStore::warm_up`). The local
    /// stack turns it off: its recording proxy counts each action's
    /// requests, and a new instance's read would count in whichever step
    /// started it.
    pub warm_up: bool,
}

impl Config {
    pub fn from_env() -> Result<Self> {
        let table = var("TABLE_NAME").ok_or_else(|| Error::Internal("TABLE_NAME is not set".into()))?;
        let token_keys = match (var("JWT_SECRET_ARN"), var("JWT_SECRET")) {
            (Some(arn), _) => TokenKeys::SecretsManager(arn),
            (None, Some(current)) => TokenKeys::Env { current, previous: var("JWT_SECRET_PREVIOUS") },
            (None, None) => TokenKeys::None,
        };
        Ok(Config {
            table,
            token_keys,
            key_refresh_secs: number("KEY_REFRESH_SECS", 300)?,
            ws_endpoint: var("WS_ENDPOINT"),
            presence_grace_ms: number("PRESENCE_GRACE_SECS", 60)? * 1000,
            ws_actions_per_second: number("WS_ACTIONS_PER_SECOND", 10)?.clamp(1, u32::MAX as i64) as u32,
            visitor_token_ttl_secs: number("VISITOR_TOKEN_TTL_SECS", 30 * 24 * 3600)?,
            visitor_idle_ttl_secs: number("VISITOR_IDLE_TTL_SECS", 24 * 3600)?,
            agent_token_ttl_secs: number("AGENT_TOKEN_TTL_SECS", 12 * 3600)?,
            settings_cache_ms: number("SETTINGS_CACHE_SECS", 10)? * 1000,
            translate_timeout_ms: number("TRANSLATE_TIMEOUT_MS", 2000)?.clamp(1, 60_000) as u64,
            ready_split_at: number("READY_SPLIT_AT", 500)?.max(1) as u64,
            warm_up: flag("DYNAMODB_WARM_UP", true)?,
        })
    }
}

impl Config {
    /// The defaults `from_env` falls back to, for tests that build an `App`
    /// by hand (`App::in_memory`).
    pub fn defaults(table: &str) -> Self {
        Config {
            table: table.to_string(),
            token_keys: TokenKeys::None,
            key_refresh_secs: 300,
            ws_endpoint: None,
            presence_grace_ms: 60_000,
            ws_actions_per_second: 10,
            visitor_token_ttl_secs: 30 * 24 * 3600,
            visitor_idle_ttl_secs: 24 * 3600,
            agent_token_ttl_secs: 12 * 3600,
            settings_cache_ms: 0,
            translate_timeout_ms: 2000,
            ready_split_at: 500,
            warm_up: false,
        }
    }
}

/// The token keys' source. Functions that neither sign nor verify have none.
#[derive(Clone)]
pub enum TokenKeys {
    /// `JWT_SECRET_ARN`: a Secrets Manager secret (the cloud).
    SecretsManager(String),
    /// `JWT_SECRET` and optionally `JWT_SECRET_PREVIOUS` (local runs).
    Env {
        current: String,
        previous: Option<String>,
    },
    None,
}

/// Never prints a key.
impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenKeys::SecretsManager(arn) => f.debug_tuple("SecretsManager").field(arn).finish(),
            TokenKeys::Env { previous, .. } => write!(f, "Env {{ previous: {} }}", previous.is_some()),
            TokenKeys::None => f.write_str("None"),
        }
    }
}

/// The AWS SDK's configuration (region, credentials, `AWS_ENDPOINT_URL_*`),
/// as the SDK reads it from the environment, loaded the same way for every
/// client of every function and tool.
///
/// HTTPS is rustls over *ring*, not the SDK's default aws-lc-rs, whose C
/// library adds megabytes to every binary; and `aws-config` is built
/// without its SSO and credential-process providers (a Lambda function's
/// credentials are in its environment). BENCHMARKS.md has the sizes.
pub async fn sdk() -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let https = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https).load().await
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn flag(name: &str, default: bool) -> Result<bool> {
    match var(name).as_deref().map(str::trim) {
        None => Ok(default),
        Some("1" | "true") => Ok(true),
        Some("0" | "false") => Ok(false),
        Some(v) => Err(Error::Internal(format!("{name} must be 1, 0, true or false, got {v:?}"))),
    }
}

fn number(name: &str, default: i64) -> Result<i64> {
    match var(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| Error::Internal(format!("{name} must be a whole number, got {v:?}"))),
    }
}
