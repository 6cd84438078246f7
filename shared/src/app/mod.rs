//! Kefu's use cases, one function per route, over the store traits and the
//! notifier. Each is what a function's `main` calls.

pub mod access;
pub mod agents;
pub mod audit;
pub mod connections;
pub mod dispatch;
pub mod groups;
pub mod messages;
pub mod sessions;
pub mod tenants;
pub mod visitors;

use std::sync::Arc;

use crate::api::events::Event;
use crate::auth::keys::{KeySource, SecretsManagerKeys, StaticKeys};
use crate::auth::{Claims, Keyring, Lifetimes, Principal, Role};
use crate::config::{Config, TokenKeys};
use crate::domain::{Agent, Clock, SystemClock};
use crate::error::{Error, Result};
use crate::push::{ApiGateway, Delivery, Gateway, NoGateway};
use crate::store::{DynamoStore, Owner, Removal, Store};

/// What every function holds for its lifetime: built once per cold start,
/// borrowed by every invocation.
pub struct App {
    pub store: Arc<dyn Store>,
    pub gateway: Arc<dyn Gateway>,
    /// The token keys, for the functions that sign or verify (see `config::TokenKeys`).
    pub keys: Option<Keyring>,
    pub config: Config,
    pub clock: Arc<dyn Clock>,
}

impl App {
    /// Everything a function needs, from the environment: the SDK's
    /// configuration is loaded once, here, per cold start.
    pub async fn from_env() -> Result<Arc<App>> {
        Self::build(true).await
    }

    /// What an authorizer needs: the table (the agent record is the
    /// authority) and the keys; no API Gateway client.
    pub async fn for_authorizer() -> Result<Arc<App>> {
        Self::build(false).await
    }

    async fn build(pushes: bool) -> Result<Arc<App>> {
        let config = Config::from_env()?;
        let sdk = aws_config::load_from_env().await;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.table.clone());
        let gateway: Arc<dyn Gateway> = match &config.ws_endpoint {
            Some(endpoint) if pushes => Arc::new(ApiGateway::new(&sdk, endpoint)),
            _ => Arc::new(NoGateway),
        };
        let source: Option<Box<dyn KeySource>> = match &config.token_keys {
            TokenKeys::SecretsManager(arn) => {
                Some(Box::new(SecretsManagerKeys::new(aws_sdk_secretsmanager::Client::new(&sdk), arn)))
            }
            TokenKeys::Env { current, previous } => {
                Some(Box::new(StaticKeys::new(current.as_bytes(), previous.as_ref().map(|p| p.as_bytes().to_vec()))))
            }
            TokenKeys::None => None,
        };
        let keys = match source {
            Some(source) => {
                Some(Keyring::load(source, clock.clone(), config.key_refresh_secs * 1000).await?.with_lifetimes(
                    Lifetimes { agent_secs: config.agent_token_ttl_secs, visitor_secs: config.visitor_token_ttl_secs },
                ))
            }
            None => None,
        };
        Ok(Arc::new(App { store: Arc::new(store), gateway, keys, config, clock }))
    }

    /// An app over an in-memory store, a recording gateway and a clock the
    /// caller moves: the use cases, unit-tested without I/O.
    pub fn in_memory(
        store: Arc<crate::store::MemoryStore>,
        gateway: Arc<crate::push::RecordingGateway>,
        clock: Arc<crate::domain::ManualClock>,
        config: Config,
    ) -> App {
        App { store, gateway, keys: None, config, clock }
    }

    /// The token keys; only functions configured with them sign or verify.
    pub fn keyring(&self) -> Result<&Keyring> {
        self.keys
            .as_ref()
            .ok_or_else(|| Error::Internal("no token key configured (JWT_SECRET_ARN or JWT_SECRET)".into()))
    }

    /// A token for `p` (staff: at the agent's token `version`), valid
    /// `ttl_secs` from now: `(token, expires_at)`.
    pub async fn issue_token(&self, p: &Principal, version: Option<u32>, ttl_secs: i64) -> Result<(String, i64)> {
        Ok(self.keyring()?.issue(p, version, self.now() / 1000, ttl_secs).await)
    }

    /// The principal a bearer token names, if it is valid now (signature
    /// and times only: `access::authorize` also asks the agent record).
    pub async fn authenticate(&self, token: &str) -> Result<Principal> {
        self.keyring()?.authenticate(token, self.now() / 1000).await
    }

    /// A valid token's claims.
    pub async fn verify_token(&self, token: &str) -> Result<Claims> {
        self.keyring()?.verify(token, self.now() / 1000).await
    }

    /// Closes every live connection of an agent (its role changed, it was
    /// disabled or removed, or its tokens were revoked): it reconnects, and
    /// is authorized afresh, or not at all.
    pub async fn close_agent_connections(&self, agent: &Agent) {
        for conn in agent.live_connections(self.now()) {
            if let Err(e) = self.gateway.close(conn).await {
                tracing::error!(error = %e, connection = conn, agent = %agent.id, "closing a connection failed");
            }
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Pushes to every live connection of an agent (A1: all tabs and devices).
    pub async fn push_to_agent(&self, tenant: &str, agent_id: &str, event: &Event<'_>) {
        self.push_to_agent_except(tenant, agent_id, event, None).await
    }

    /// As `push_to_agent`, skipping one connection: the one still inside its
    /// own `$connect`, which API Gateway does not accept pushes to yet.
    pub async fn push_to_agent_except(&self, tenant: &str, agent_id: &str, event: &Event<'_>, except: Option<&str>) {
        if let Some(agent) = self.agent_for_push(tenant, agent_id).await {
            self.push_to_agent_record(&agent, event, except).await
        }
    }

    /// The agent a push goes to; a failed lookup is logged, never the
    /// operation's failure.
    pub async fn agent_for_push(&self, tenant: &str, agent_id: &str) -> Option<Agent> {
        self.store
            .get_agent(tenant, agent_id)
            .await
            .inspect_err(|e| tracing::error!(error = %e, tenant, agent = agent_id, "push: agent lookup failed"))
            .ok()
            .flatten()
    }

    /// As `push_to_agent_except`, for an agent record already read.
    pub async fn push_to_agent_record(&self, agent: &Agent, event: &Event<'_>, except: Option<&str>) {
        let conns: Vec<String> =
            agent.live_connections(self.now()).filter(|c| Some(*c) != except).map(str::to_string).collect();
        self.push(&agent.tenant, agent.role, &agent.id, conns, event).await
    }

    pub async fn push_to_visitor(&self, tenant: &str, visitor_id: &str, event: &Event<'_>) {
        match self.store.get_visitor(tenant, visitor_id).await {
            Ok(Some(v)) => {
                let now = self.now();
                let conns: Vec<String> =
                    v.conns.iter().filter(|(_, exp)| **exp > now).map(|(c, _)| c.clone()).collect();
                self.push(tenant, Role::Visitor, visitor_id, conns, event).await
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, tenant, visitor = visitor_id, "push: visitor lookup failed")
            }
        }
    }

    /// A failed push never fails the operation that caused it: the state is
    /// already stored, and clients catch up with `sync` (C3).
    async fn push(&self, tenant: &str, role: Role, user_id: &str, conns: Vec<String>, event: &Event<'_>) {
        let data = match serde_json::to_vec(event) {
            Ok(d) => d,
            Err(e) => return tracing::error!(error = %e, "push: event did not serialize"),
        };
        // Every connection at once: an agent with several tabs waits for
        // the slowest push, not for their sum.
        let mut posts = tokio::task::JoinSet::new();
        for conn in conns {
            let (gateway, data) = (self.gateway.clone(), data.clone());
            posts.spawn(async move {
                let delivery = gateway.post(&conn, data).await;
                (conn, delivery)
            });
        }
        while let Some(joined) = posts.join_next().await {
            let (conn, delivery) = match joined {
                Ok(done) => done,
                Err(e) => {
                    tracing::error!(error = %e, "push task failed");
                    continue;
                }
            };
            match delivery {
                Ok(Delivery::Delivered) => {}
                Ok(Delivery::Gone) => {
                    let owner = Owner { tenant: tenant.to_string(), role, user_id: user_id.to_string() };
                    let now = self.now();
                    let how = Removal::GoneIfConnectedBefore(now - connections::CONNECT_WINDOW_MS);
                    match self.store.remove_connection(&owner, &conn, how, now).await {
                        Ok(true) => tracing::info!(tenant, connection = %conn, "connection gone; removed it"),
                        Ok(false) => tracing::info!(tenant, connection = %conn, "connection still connecting; kept it"),
                        Err(e) => tracing::error!(error = %e, connection = %conn, "removing a gone connection failed"),
                    }
                }
                Err(e) => tracing::warn!(error = %e, connection = %conn, "push failed"),
            }
        }
    }
}
