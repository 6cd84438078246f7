//! Kefu's use cases, one function per route, over the store traits and the
//! notifier. Each is what a function's `main` calls.

pub mod access;
pub mod agents;
pub mod approvals;
pub mod audit;
pub mod blacklist;
pub mod canned;
pub mod connections;
pub mod customers;
pub mod dispatch;
pub mod evaluations;
pub mod groups;
pub mod history;
pub mod knowledge;
pub mod messages;
pub mod notices;
pub mod sessions;
pub mod settings;
pub mod stats;
pub mod tags;
pub mod tenants;
pub mod timers;
pub mod transfers;
pub mod translation;
pub mod typing;
pub mod views;
pub mod visitors;

use std::sync::Arc;

use crate::auth::keys::{KeySource, SecretsManagerKeys, StaticKeys};
use crate::auth::{Claims, Keyring, Lifetimes, Principal};
use crate::config::{Config, TokenKeys};
use crate::domain::{Clock, Settings, SystemClock};
use crate::error::{Error, Result};
use crate::push::{ApiGateway, Gateway, NoGateway, Notifier};
use crate::store::{DynamoStore, Store};
use crate::translate::{AwsTranslator, Translator};

/// How often a use case re-reads and re-applies a change that lost a race
/// to a concurrent one (an optimistic write): at least as many as the
/// writers that may meet on one record, each retry a little later than the
/// last so they fall out of step.
pub(crate) const RACE_ATTEMPTS: u32 = 8;

/// The pause before retry `attempt` of a change that lost a race.
pub(crate) async fn after_lost_race(attempt: u32) {
    crate::store::backoff(attempt).await
}

/// What every function holds for its lifetime: built once per cold start,
/// borrowed by every invocation.
pub struct App {
    pub store: Arc<dyn Store>,
    pub gateway: Arc<dyn Gateway>,
    /// The token keys, for the functions that sign or verify (see `config::TokenKeys`).
    pub keys: Option<Keyring>,
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    /// Every push goes through it.
    pub notify: Notifier,
    /// Tenants' settings and ready-list shards as last read, and when (see
    /// `Config::settings_cache_ms`).
    settings: std::sync::Mutex<std::collections::HashMap<String, (i64, Settings, u32)>>,
    /// The SDK's configuration, for clients built on first use.
    sdk: Option<aws_config::SdkConfig>,
    /// G: built on first use, so only the functions that translate build one.
    translator: std::sync::OnceLock<Arc<dyn Translator>>,
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
        let sdk = crate::config::sdk().await;
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
        let lifetimes =
            Lifetimes { agent_secs: config.agent_token_ttl_secs, visitor_secs: config.visitor_token_ttl_secs };
        let keys = async {
            match source {
                Some(source) => Keyring::load(source, clock.clone(), config.key_refresh_secs * 1000)
                    .await
                    .map(|keys| Some(keys.with_lifetimes(lifetimes))),
                None => Ok(None),
            }
        };
        // The DynamoDB connection opens while the keys load.
        let warm = async {
            if config.warm_up {
                store.warm_up().await;
            }
        };
        let (keys, ()) = tokio::join!(keys, warm);
        let keys = keys?;
        let store: Arc<dyn Store> = Arc::new(store);
        let notify = Notifier::new(store.clone(), gateway.clone(), clock.clone());
        Ok(Arc::new(App {
            store,
            gateway,
            keys,
            config,
            clock,
            notify,
            settings: Default::default(),
            sdk: Some(sdk),
            translator: Default::default(),
        }))
    }

    /// An app over an in-memory store, a recording gateway and a clock the
    /// caller moves: the use cases, unit-tested without I/O.
    pub fn in_memory(
        store: Arc<crate::store::MemoryStore>,
        gateway: Arc<crate::push::RecordingGateway>,
        clock: Arc<crate::domain::ManualClock>,
        config: Config,
    ) -> App {
        let store: Arc<dyn Store> = store;
        let notify = Notifier::new(store.clone(), gateway.clone(), clock.clone());
        App {
            store,
            gateway,
            keys: None,
            config,
            clock,
            notify,
            settings: Default::default(),
            sdk: None,
            translator: Default::default(),
        }
    }

    /// This app translating with `translator` (tests' fakes).
    pub fn with_translator(self, translator: Arc<dyn Translator>) -> Self {
        let _ = self.translator.set(translator);
        self
    }

    /// G: the translator (Amazon Translate, its client built once per cold
    /// start); `None` for an app with neither a fake nor the SDK.
    pub fn translator(&self) -> Option<&dyn Translator> {
        if let Some(t) = self.translator.get() {
            return Some(t.as_ref());
        }
        let sdk = self.sdk.as_ref()?;
        Some(self.translator.get_or_init(|| Arc::new(AwsTranslator::new(sdk))).as_ref())
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

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The tenant's settings, read at most once per `settings_cache_ms` by
    /// this instance (the defaults for a tenant that does not exist).
    pub async fn settings(&self, tenant: &str) -> Result<Settings> {
        Ok(self.tenant_config(tenant).await?.0)
    }

    /// The tenant's settings and how many shards its ready list spreads
    /// over (`Tenant::ready_shards`), read together at most once per
    /// `settings_cache_ms`: a split reaches every function within it.
    pub async fn tenant_config(&self, tenant: &str) -> Result<(Settings, u32)> {
        let now = self.now();
        let cached = self.settings.lock().ok().and_then(|c| c.get(tenant).cloned());
        if let Some((at, settings, shards)) = cached {
            if now - at < self.config.settings_cache_ms {
                return Ok((settings, shards));
            }
        }
        let (settings, shards) = match self.store.get_tenant(tenant).await? {
            Some(t) => {
                let shards = t.ready_shards();
                (t.settings, shards)
            }
            None => (Settings::default(), 1),
        };
        if let Ok(mut cache) = self.settings.lock() {
            // Bounded: an instance serves few tenants at once.
            if cache.len() >= 1_000 {
                cache.clear();
            }
            cache.insert(tenant.to_string(), (now, settings.clone(), shards));
        }
        Ok((settings, shards))
    }
}
