//! The token keys read from a real Secrets Manager API (the local stack's
//! moto serves it beside DynamoDB; `make test` runs these with
//! `--include-ignored`): a rotation with `put-secret-value` keeps tokens
//! signed with the previous key valid, and retires them at the next one.

use std::sync::Arc;

use kefu::auth::keys::{KeySource, SecretsManagerKeys};
use kefu::auth::{Keyring, Principal, Role};
use kefu::domain::{ids, Clock, SystemClock};

/// The Secrets Manager the local stack points `AWS_ENDPOINT_URL_SECRETS_MANAGER`
/// at (its moto serves every API on one port); `None` when there is none
/// (the stack runs against another DynamoDB), and the test has nothing to use.
async fn client() -> Option<aws_sdk_secretsmanager::Client> {
    if std::env::var_os("AWS_ENDPOINT_URL_SECRETS_MANAGER").is_none() {
        eprintln!("no AWS_ENDPOINT_URL_SECRETS_MANAGER (run through `make test`): skipped");
        return None;
    }
    Some(aws_sdk_secretsmanager::Client::new(&kefu::config::sdk().await))
}

async fn keyring(client: &aws_sdk_secretsmanager::Client, arn: &str) -> Keyring {
    let source: Box<dyn KeySource> = Box::new(SecretsManagerKeys::new(client.clone(), arn));
    Keyring::load(source, Arc::new(SystemClock), 300_000).await.unwrap()
}

fn agent() -> Principal {
    Principal { tenant: "acme".into(), id: "alice".into(), role: Role::Agent, channel: None }
}

async fn rotate(client: &aws_sdk_secretsmanager::Client, arn: &str, value: &str) {
    client.put_secret_value().secret_id(arn).secret_string(value).send().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the local stack's Secrets Manager: run `make test`"]
async fn a_rotation_keeps_tokens_of_the_previous_key_valid_until_the_next() {
    let Some(sm) = client().await else { return };
    let name = format!("kefu-test-{}", ids::new_id("k"));
    let arn = sm
        .create_secret()
        .name(&name)
        .secret_string("first-key-0123456789abcdefghij")
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let now = SystemClock.now_ms() / 1000;

    let before = keyring(&sm, &arn).await;
    let (first, _) = before.issue(&agent(), None, now, 3600).await;
    assert_eq!(before.authenticate(&first, now).await.unwrap(), agent());

    rotate(&sm, &arn, "second-key-0123456789abcdefghij").await;
    let after = keyring(&sm, &arn).await;
    let (second, _) = after.issue(&agent(), None, now, 3600).await;
    assert_ne!(first.split('.').next(), second.split('.').next(), "the new key has a new kid");
    assert_eq!(after.authenticate(&first, now).await.unwrap(), agent(), "overlap: the previous key verifies");
    assert_eq!(after.authenticate(&second, now).await.unwrap(), agent());
    // An instance started before the rotation learns the new key from the
    // kid (refreshing for unknown kids at most once a second).
    tokio::time::sleep(std::time::Duration::from_millis(kefu::auth::keys::UNKNOWN_KID_REFRESH_MS as u64 + 100)).await;
    assert_eq!(before.authenticate(&second, now).await.unwrap(), agent());

    rotate(&sm, &arn, "third-key-0123456789abcdefghijk").await;
    let later = keyring(&sm, &arn).await;
    assert!(later.authenticate(&first, now).await.is_err(), "two rotations on, the first key is retired");
    assert_eq!(later.authenticate(&second, now).await.unwrap(), agent());

    sm.delete_secret().secret_id(&arn).force_delete_without_recovery(true).send().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the local stack's Secrets Manager: run `make test`"]
async fn a_missing_secret_stops_the_cold_start() {
    let Some(sm) = client().await else { return };
    let source = SecretsManagerKeys::new(sm, "arn:aws:secretsmanager:us-east-1:000000000000:secret:kefu-nope-AbCdEf");
    let err = source.load().await.unwrap_err();
    assert!(matches!(err, kefu::Error::Storage(_) | kefu::Error::Internal(_)), "{err:?}");
}
