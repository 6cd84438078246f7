//! Token signing keys. The current key signs; the current and the previous
//! key verify, so rotating the key logs nobody out: a token signed before a
//! rotation stays valid until the rotation after it (or its own expiry).
//!
//! In the cloud the keys are the Secrets Manager secret `JWT_SECRET_ARN`: its
//! versions labelled `AWSCURRENT` and `AWSPREVIOUS`, read once per cold start
//! and again at most every `KEY_REFRESH_SECS`, or sooner when a token names a
//! key id (`kid`) this instance does not know yet (another instance saw the
//! rotation first). Only the functions that sign or verify get the ARN and
//! the permission to read it. Locally, `JWT_SECRET` (and optionally
//! `JWT_SECRET_PREVIOUS`) in the environment.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::{jwt, Claims, Lifetimes, Principal};
use crate::domain::Clock;
use crate::error::{Error, Result};

/// The shortest key Kefu accepts.
pub const MIN_KEY_BYTES: usize = 16;

/// A token for an unknown key id refreshes the keys at most this often, so
/// forged `kid`s cannot turn into a stream of Secrets Manager calls (one a
/// second per instance at most).
pub const UNKNOWN_KID_REFRESH_MS: i64 = 1_000;

pub struct Key {
    /// Named in every token's header as `kid`.
    pub id: String,
    secret: Vec<u8>,
}

impl Key {
    pub fn new(id: impl Into<String>, secret: impl Into<Vec<u8>>) -> Result<Self> {
        let secret = secret.into();
        if secret.len() < MIN_KEY_BYTES {
            return Err(Error::Internal(format!("a token key must be at least {MIN_KEY_BYTES} bytes")));
        }
        Ok(Key { id: id.into(), secret })
    }

    /// A key whose id is derived from the secret (keys from the environment
    /// have no version id): a short fingerprint, not the secret.
    pub fn derived(secret: impl Into<Vec<u8>>) -> Result<Self> {
        let secret = secret.into();
        let digest = Sha256::new().chain_update(b"kefu-kid:").chain_update(&secret).finalize();
        let id: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        Key::new(id, secret)
    }

    pub(crate) fn secret(&self) -> &[u8] {
        &self.secret
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").field("id", &self.id).finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub struct KeySet {
    pub current: Key,
    pub previous: Option<Key>,
}

impl KeySet {
    pub fn find(&self, kid: &str) -> Option<&Key> {
        self.all().find(|k| k.id == kid)
    }

    pub fn all(&self) -> impl Iterator<Item = &Key> {
        std::iter::once(&self.current).chain(self.previous.as_ref())
    }
}

/// Where the keys come from.
#[async_trait]
pub trait KeySource: Send + Sync {
    async fn load(&self) -> Result<KeySet>;
}

/// Keys given in the environment (the local stack, tests, the admin CLI).
pub struct StaticKeys {
    current: Vec<u8>,
    previous: Option<Vec<u8>>,
}

impl StaticKeys {
    pub fn new(current: impl Into<Vec<u8>>, previous: Option<Vec<u8>>) -> Self {
        StaticKeys { current: current.into(), previous }
    }
}

#[async_trait]
impl KeySource for StaticKeys {
    async fn load(&self) -> Result<KeySet> {
        Ok(KeySet {
            current: Key::derived(self.current.clone())?,
            previous: self.previous.clone().map(Key::derived).transpose()?,
        })
    }
}

/// A Secrets Manager secret whose string is the key; its version id is the
/// key id. Rotating is `put-secret-value` with a new random string: Secrets
/// Manager moves `AWSCURRENT` to it and `AWSPREVIOUS` to the old one.
pub struct SecretsManagerKeys {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretsManagerKeys {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        SecretsManagerKeys { client, secret_id: secret_id.into() }
    }

    async fn version(&self, stage: &str) -> Result<Option<Key>> {
        let out = self.client.get_secret_value().secret_id(&self.secret_id).version_stage(stage).send().await;
        match out {
            Ok(v) => {
                let secret =
                    v.secret_string().ok_or_else(|| Error::Internal("the token key secret has no string".into()))?;
                let id = v.version_id().ok_or_else(|| Error::Internal("the token key secret has no version".into()))?;
                Key::new(id, secret.as_bytes()).map(Some)
            }
            // No AWSPREVIOUS before the first rotation.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(None),
            Err(e) => Err(Error::Storage(aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string())),
        }
    }
}

#[async_trait]
impl KeySource for SecretsManagerKeys {
    async fn load(&self) -> Result<KeySet> {
        let current = self
            .version("AWSCURRENT")
            .await?
            .ok_or_else(|| Error::Internal("the token key secret has no AWSCURRENT".into()))?;
        let previous = self.version("AWSPREVIOUS").await?;
        Ok(KeySet { current, previous })
    }
}

struct Loaded {
    keys: Arc<KeySet>,
    /// When the keys were last fetched, and when a fetch was last tried.
    loaded_at: i64,
    tried_at: i64,
}

/// The keys an instance signs and verifies with: loaded once, refreshed on a
/// bounded schedule. A failed refresh keeps the keys it has (and says so).
pub struct Keyring {
    source: Box<dyn KeySource>,
    clock: Arc<dyn Clock>,
    refresh_ms: i64,
    lifetimes: Option<Lifetimes>,
    loaded: Mutex<Loaded>,
}

impl Keyring {
    /// Loads the keys (at cold start: a function that cannot read its key
    /// does not start).
    pub async fn load(source: Box<dyn KeySource>, clock: Arc<dyn Clock>, refresh_ms: i64) -> Result<Self> {
        let keys = Arc::new(source.load().await?);
        let now = clock.now_ms();
        let loaded = Mutex::new(Loaded { keys, loaded_at: now, tried_at: now });
        Ok(Keyring { source, clock, refresh_ms, lifetimes: None, loaded })
    }

    /// Refuse tokens living longer than these (what this deployment issues).
    pub fn with_lifetimes(mut self, lifetimes: Lifetimes) -> Self {
        self.lifetimes = Some(lifetimes);
        self
    }

    /// The keys, refreshed first when they are older than `refresh_ms`, or,
    /// with `unknown_kid`, older than the short unknown-key interval.
    async fn keys(&self, unknown_kid: bool) -> Arc<KeySet> {
        let now = self.clock.now_ms();
        let (keys, due) = {
            let mut l = self.loaded.lock().expect("keyring lock");
            let stale =
                now - l.loaded_at >= self.refresh_ms || (unknown_kid && now - l.loaded_at >= UNKNOWN_KID_REFRESH_MS);
            // One try per interval, even when tries fail.
            let due = stale && now - l.tried_at >= UNKNOWN_KID_REFRESH_MS.min(self.refresh_ms);
            if due {
                l.tried_at = now;
            }
            (l.keys.clone(), due)
        };
        if !due {
            return keys;
        }
        match self.source.load().await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                if fresh.current.id != keys.current.id {
                    tracing::info!(kid = %fresh.current.id, "token key rotated");
                }
                let mut l = self.loaded.lock().expect("keyring lock");
                l.keys = fresh.clone();
                l.loaded_at = now;
                fresh
            }
            Err(e) => {
                tracing::warn!(error = %e, "refreshing the token keys failed; keeping the ones loaded");
                keys
            }
        }
    }

    /// A token for `p`, valid `ttl_secs` from `now_secs`, signed with the
    /// current key; staff tokens carry the agent's token `version`.
    pub async fn issue(&self, p: &Principal, version: Option<u32>, now_secs: i64, ttl_secs: i64) -> (String, i64) {
        let keys = self.keys(false).await;
        let exp = now_secs + ttl_secs;
        let claims = Claims {
            ten: p.tenant.clone(),
            sub: p.id.clone(),
            role: p.role,
            ch: p.channel.clone(),
            ver: version,
            iat: now_secs,
            exp,
        };
        (jwt::sign(&claims, &keys.current), exp)
    }

    /// Verifies a bearer token (with or without the `Bearer ` prefix).
    pub async fn authenticate(&self, token: &str, now_secs: i64) -> Result<Principal> {
        self.verify(token, now_secs).await.map(Principal::from_claims)
    }

    /// As `authenticate`, keeping every claim.
    pub async fn verify(&self, token: &str, now_secs: i64) -> Result<Claims> {
        let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
        let mut keys = self.keys(false).await;
        if let Some(kid) = jwt::key_id(token) {
            if keys.find(&kid).is_none() {
                keys = self.keys(true).await;
            }
        }
        let claims = jwt::verify(token, &keys, now_secs)?;
        claims.check_times(now_secs, self.lifetimes)?;
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

    use super::*;
    use crate::auth::Role;

    struct Fixed(AtomicI64);
    impl Clock for Fixed {
        fn now_ms(&self) -> i64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// A secret that rotates when told to, counting its loads.
    #[derive(Clone, Default)]
    struct Secret {
        versions: Arc<Mutex<Vec<&'static str>>>,
        loads: Arc<AtomicUsize>,
    }

    impl Secret {
        fn new(versions: &[&'static str]) -> Self {
            Secret { versions: Arc::new(Mutex::new(versions.to_vec())), ..Secret::default() }
        }
        fn rotate(&self, to: &'static str) {
            self.versions.lock().unwrap().push(to);
        }
        fn loads(&self) -> usize {
            self.loads.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl KeySource for Secret {
        async fn load(&self) -> Result<KeySet> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            let v = self.versions.lock().unwrap();
            let key = |s: &str| Key::new(format!("v-{s}"), format!("{s}-0123456789abcdef"));
            Ok(KeySet {
                current: key(v[v.len() - 1])?,
                previous: v.len().checked_sub(2).map(|i| key(v[i])).transpose()?,
            })
        }
    }

    fn agent() -> Principal {
        Principal { tenant: "acme".into(), id: "a1".into(), role: Role::Agent, channel: None }
    }

    #[tokio::test]
    async fn a_rotation_keeps_old_tokens_valid_and_a_new_kid_is_fetched_once() {
        let clock = Arc::new(Fixed(AtomicI64::new(1_000_000)));
        let secret = Secret::new(&["one"]);
        let ring = Keyring::load(Box::new(secret.clone()), clock.clone(), 300_000).await.unwrap();
        let (old, _) = ring.issue(&agent(), None, 1_000, 3_600).await;
        assert_eq!(jwt::key_id(&old).as_deref(), Some("v-one"));
        assert_eq!(secret.loads(), 1, "loaded once, at start");

        // The key rotates; an instance started since signs with the new key.
        secret.rotate("two");
        let fresh = Keyring::load(Box::new(secret.clone()), clock.clone(), 300_000).await.unwrap();
        let (new, _) = fresh.issue(&agent(), None, 1_000, 3_600).await;
        assert_eq!(jwt::key_id(&new).as_deref(), Some("v-two"));
        assert_eq!(fresh.authenticate(&old, 1_001).await.unwrap(), agent(), "the previous key still verifies");

        // The old instance learns the new key from the token's kid, at once.
        clock.0.fetch_add(UNKNOWN_KID_REFRESH_MS, Ordering::SeqCst);
        let loads = secret.loads();
        assert_eq!(ring.authenticate(&new, 1_001).await.unwrap(), agent());
        assert_eq!(secret.loads(), loads + 1);
        assert_eq!(ring.authenticate(&old, 1_001).await.unwrap(), agent());
        assert_eq!(jwt::key_id(&ring.issue(&agent(), None, 1_000, 60).await.0).as_deref(), Some("v-two"));

        // Forged kids cost at most one load per interval, and are refused.
        let (h, rest) = new.split_once('.').unwrap();
        let forged_header = jwt::encode_part(&serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": "v-nope"}));
        assert_ne!(h, forged_header);
        let forged = format!("{forged_header}.{rest}");
        let loads = secret.loads();
        for _ in 0..5 {
            assert!(ring.authenticate(&forged, 1_001).await.is_err());
        }
        assert!(secret.loads() <= loads + 1, "{} loads", secret.loads() - loads);

        // A second rotation retires "one": its tokens stop working.
        secret.rotate("three");
        let newest = Keyring::load(Box::new(secret.clone()), clock.clone(), 300_000).await.unwrap();
        assert!(newest.authenticate(&new, 1_001).await.is_ok());
        assert!(newest.authenticate(&old, 1_001).await.is_err());
    }

    #[tokio::test]
    async fn keys_refresh_on_schedule_and_a_token_without_kid_tries_every_key() {
        let clock = Arc::new(Fixed(AtomicI64::new(0)));
        let secret = Secret::new(&["one", "two"]);
        let ring = Keyring::load(Box::new(secret.clone()), clock.clone(), 60_000).await.unwrap();
        ring.issue(&agent(), None, 0, 60).await;
        clock.0.store(59_999, Ordering::SeqCst);
        ring.issue(&agent(), None, 0, 60).await;
        assert_eq!(secret.loads(), 1);
        clock.0.store(60_000, Ordering::SeqCst);
        ring.issue(&agent(), None, 0, 60).await;
        assert_eq!(secret.loads(), 2, "refreshed after refresh_ms");

        // A token from before kids existed, signed with the previous key.
        let claims =
            Claims { ten: "acme".into(), sub: "a1".into(), role: Role::Agent, ch: None, ver: None, iat: 0, exp: 60 };
        let legacy = jwt::sign_without_kid(&claims, b"one-0123456789abcdef");
        assert_eq!(ring.authenticate(&legacy, 1).await.unwrap(), agent());
    }

    #[test]
    fn short_keys_are_refused_and_derived_ids_do_not_show_the_secret() {
        assert!(Key::derived("short").is_err());
        let k = Key::derived("kefu-local-dev-secret").unwrap();
        assert_eq!(k.id.len(), 12);
        assert!(!format!("{k:?}").contains("kefu-local"));
        assert_eq!(k.id, Key::derived("kefu-local-dev-secret").unwrap().id, "stable across instances");
    }
}
