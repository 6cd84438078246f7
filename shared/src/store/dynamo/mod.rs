//! The DynamoDB implementation of every store trait, on one table.
//!
//! Capacity and session state only ever change inside conditional writes or
//! `TransactWriteItems`, so no read-then-write race can over-assign an agent
//! or assign a session twice, whatever the concurrency.

mod approvals;
mod audit;
mod blacklist;
mod connections;
mod directory;
mod expr;
mod library;
mod sessions;
mod tags;
mod tickets;
mod timers;

use std::collections::HashMap;
use std::fmt::Debug;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;

use self::expr::{Cond, Rendered, Update};
use super::keys::{self, Key};
use crate::error::{Error, Result};

pub type Item = HashMap<String, AttributeValue>;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore { client, table: table.into() }
    }

    /// A client configured from the environment: region, credentials and
    /// `AWS_ENDPOINT_URL_DYNAMODB` as the SDK reads them.
    pub async fn from_env(table: impl Into<String>) -> Self {
        let config = crate::config::sdk().await;
        DynamoStore::new(Client::new(&config), table)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens the connection to DynamoDB (its TLS handshake, the SDK's
    /// first-request set-up) in a function's init, so its first invocation
    /// does not pay for it: one eventually consistent read of a key no item
    /// has (half a read unit). Whatever the answer, even a refusal, the
    /// connection is open; a failure is left for the first request to meet.
    pub async fn warm_up(&self) {
        let read = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(keys::warm_up())))
            .projection_expression(keys::PK)
            .send();
        match tokio::time::timeout(std::time::Duration::from_secs(2), read).await {
            Ok(Ok(_)) => tracing::debug!("dynamodb connection warmed"),
            Ok(Err(e)) => tracing::debug!(error = %DisplayErrorContext(&e), "dynamodb warm-up answered with an error"),
            Err(_) => tracing::warn!("dynamodb warm-up timed out"),
        }
    }

    /// An `UpdateItem` of `key`, ready to send through `write`.
    fn update_item(&self, key: Key, update: &Update, condition: Option<&Cond>) -> UpdateItemFluentBuilder {
        let r = Rendered::write(Some(update), condition);
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .set_update_expression(r.update.clone())
            .set_condition_expression(r.condition.clone())
            .set_expression_attribute_names(r.names())
            .set_expression_attribute_values(r.values())
    }

    /// A conditional update: `false` when the condition did not hold.
    async fn update_if(&self, key: Key, update: Update, condition: Cond) -> Result<bool> {
        let request = self.update_item(key, &update, Some(&condition));
        match write(|| request.clone().send()).await {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failed(&err) => Ok(false),
            Err(err) => Err(storage(err)),
        }
    }

    /// A conditional delete: `false` when the condition did not hold.
    async fn delete_item_if(&self, key: Key, condition: Cond) -> Result<bool> {
        let r = Rendered::write(None, Some(&condition));
        let request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .set_condition_expression(r.condition.clone())
            .set_expression_attribute_names(r.names())
            .set_expression_attribute_values(r.values());
        match write(|| request.clone().send()).await {
            Ok(_) => Ok(true),
            Err(err) if is_condition_failed(&err) => Ok(false),
            Err(err) => Err(storage(err)),
        }
    }

    /// A strongly consistent Query of the base table: what every partition
    /// read shares; each adds its order, limit and start.
    fn query_table(&self, key: Cond) -> QueryFluentBuilder {
        self.query(None, key, None).consistent_read(true)
    }

    /// A Query of the table or one of its indexes, with an optional filter.
    fn query(&self, index: Option<&str>, key: Cond, filter: Option<Cond>) -> QueryFluentBuilder {
        let r = Rendered::query(&key, filter.as_ref());
        self.client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(str::to_string))
            .set_key_condition_expression(r.key.clone())
            .set_filter_expression(r.filter.clone())
            .set_expression_attribute_names(r.names())
            .set_expression_attribute_values(r.values())
    }

    async fn get<T: DeserializeOwned>(&self, key: Key) -> Result<Option<T>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(storage)?;
        out.item.map(from_item).transpose()
    }

    /// Several items in one request (at most 100 keys; missing ones are
    /// left out), read eventually consistently. DynamoDB may leave some keys
    /// unprocessed under load: those are asked for again, a few times.
    async fn batch_get<T: DeserializeOwned>(&self, keys: Vec<Key>) -> Result<Vec<T>> {
        if keys.len() > 100 {
            return Err(Error::Internal("batch_get: at most 100 keys".into()));
        }
        let mut found = Vec::with_capacity(keys.len());
        let mut keys: Vec<Item> = keys.into_iter().map(key_item).collect();
        for attempt in 0..4 {
            if keys.is_empty() {
                break;
            }
            if attempt > 0 {
                backoff(attempt - 1).await;
            }
            let request = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut keys)))
                .build()
                .map_err(|e| Error::Internal(e.to_string()))?;
            let out = self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(storage)?;
            for item in out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default() {
                found.push(from_item(item)?);
            }
            keys = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys).unwrap_or_default();
        }
        if !keys.is_empty() {
            return Err(Error::Storage(format!("{} items left unread after retries", keys.len())));
        }
        Ok(found)
    }

    /// One page of a base-table partition in sort-key order (`forward`, or
    /// newest first), strongly consistent: `limit` items from `cursor`, a
    /// cursor made for this partition only.
    async fn partition_page<T: DeserializeOwned>(
        &self,
        pk: &str,
        forward: bool,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<crate::store::Page<T>> {
        let start = cursor.map(|c| decode_cursor(c, keys::PK, pk)).transpose()?;
        let query = self
            .query_table(Cond::eq(keys::PK, s(pk)))
            .scan_index_forward(forward)
            .limit(limit as i32)
            .set_exclusive_start_key(start);
        page_of(query.send().await.map_err(storage)?)
    }

    /// Every item of a partition (optionally under a sort-key prefix),
    /// strongly consistent, following pages.
    async fn query_partition<T: DeserializeOwned>(&self, pk: &str, sk_prefix: Option<&str>) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut key = Cond::eq(keys::PK, s(pk));
            if let Some(p) = sk_prefix {
                key = key.and(Cond::begins_with(keys::SK, s(p)));
            }
            let page = self.query_table(key).set_exclusive_start_key(start.take()).send().await.map_err(storage)?;
            for item in page.items.unwrap_or_default() {
                out.push(from_item(item)?);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// Runs a transaction. A conflict with another transaction in flight is
    /// retried, with jitter, a few times; a condition that failed is reported
    /// per item.
    ///
    /// Each attempt carries its own `ClientRequestToken`: when the SDK
    /// resends an attempt whose response was lost, or one DynamoDB still has
    /// in progress, DynamoDB recognises it and answers as for the original
    /// instead of applying it again (where its own conditions would now fail
    /// and a committed change would be reported as refused).
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Tx> {
        let mut token = uuid::Uuid::new_v4().to_string();
        for attempt in 0..TX_ATTEMPTS {
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(&token)
                .send()
                .await;
            let err = match sent {
                Ok(_) => return Ok(Tx::Committed),
                Err(err) => err,
            };
            let reasons = cancellation_reasons(&err);
            let failed = reasons.as_ref().is_some_and(|r| r.iter().any(|c| c == "ConditionalCheckFailed"));
            let conflict = match &reasons {
                Some(r) => r.iter().any(|c| c == "TransactionConflict"),
                None => is_conflict(&err),
            };
            if failed {
                return Ok(Tx::Failed(reasons.unwrap_or_default()));
            }
            if !conflict || attempt + 1 == TX_ATTEMPTS {
                return Err(storage(err));
            }
            // Still in progress: the same attempt, asked again, learns how it
            // ended. Cancelled by a conflict: nothing was written; a new one.
            if err.code() != Some("TransactionInProgressException") {
                token = uuid::Uuid::new_v4().to_string();
            }
            backoff(attempt).await;
        }
        unreachable!("the last attempt returns")
    }
}

/// Sends one plain write (`PutItem`, `UpdateItem`, `DeleteItem`); every
/// plain write goes through here. DynamoDB refuses a write to an item a
/// transaction is changing at that moment (`TransactionConflictException`),
/// and the SDK does not retry that: this does, a few times, with jitter.
async fn write<T, E, R, F, Fut>(send: F) -> std::result::Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, SdkError<E, R>>>,
{
    let mut attempt = 0;
    loop {
        match send().await {
            Err(err) if is_conflict(&err) && attempt + 1 < WRITE_ATTEMPTS => {
                backoff(attempt).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Attempts of one plain write that meets transactions in flight.
const WRITE_ATTEMPTS: u32 = 4;

/// Attempts of one transaction that conflicts with others in flight.
const TX_ATTEMPTS: u32 = 4;

/// How a transaction ended when it did not fail outright.
#[derive(Debug)]
enum Tx {
    Committed,
    /// Per item: `ConditionalCheckFailed`, `None`, …
    Failed(Vec<String>),
}

impl Tx {
    fn failed_at(&self, index: usize) -> bool {
        matches!(self, Tx::Failed(r) if r.get(index).is_some_and(|c| c == "ConditionalCheckFailed"))
    }
}

fn cancellation_reasons(err: &SdkError<TransactWriteItemsError>) -> Option<Vec<String>> {
    match err.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(e) => {
            Some(e.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None").to_string()).collect())
        }
        _ => None,
    }
}

/// Another transaction held an item: nothing of this request was written
/// (or, `TransactionInProgress`, this very transaction is still committing).
fn is_conflict<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    matches!(err.code(), Some("TransactionConflictException" | "TransactionInProgressException"))
}

pub(crate) async fn backoff(attempt: u32) {
    // Jitter from the clock's low bits: enough to de-synchronise retries.
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let base = 10u64 << attempt.min(5);
    tokio::time::sleep(std::time::Duration::from_millis(base + (nanos as u64 % base))).await;
}

pub(crate) fn storage<E, R>(err: SdkError<E, R>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
    R: Debug + Send + Sync + 'static,
{
    let e = Error::Storage(DisplayErrorContext(&err).to_string());
    tracing::error!(error = %e, "dynamodb request failed");
    e
}

fn is_condition_failed<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.code() == Some("ConditionalCheckFailedException")
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key_item((pk, sk): Key) -> Item {
    HashMap::from([(keys::PK.to_string(), s(pk)), (keys::SK.to_string(), s(sk))])
}

/// A value's attributes plus its keys.
fn to_item<T: Serialize>(value: &T, key: Key) -> Result<Item> {
    let mut item: Item = serde_dynamo::to_item(value)?;
    item.extend(key_item(key));
    Ok(item)
}

fn from_item<T: DeserializeOwned>(item: Item) -> Result<T> {
    Ok(serde_dynamo::from_item(item)?)
}

fn value<T: Serialize>(v: &T) -> Result<AttributeValue> {
    Ok(serde_dynamo::to_attribute_value(v)?)
}

/// An update of `key` inside a transaction.
fn update(table: &str, key: Key, update: Update, condition: Option<Cond>) -> Result<TransactWriteItem> {
    let r = Rendered::write(Some(&update), condition.as_ref());
    let u = aws_sdk_dynamodb::types::Update::builder()
        .table_name(table)
        .set_key(Some(key_item(key)))
        .set_update_expression(r.update.clone())
        .set_condition_expression(r.condition.clone())
        .set_expression_attribute_names(r.names())
        .set_expression_attribute_values(r.values())
        .build()
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(TransactWriteItem::builder().update(u).build())
}

/// A delete of `key` inside a transaction, if `condition` holds.
fn delete_if(table: &str, key: Key, condition: Option<Cond>) -> Result<TransactWriteItem> {
    let r = Rendered::write(None, condition.as_ref());
    let d = Delete::builder()
        .table_name(table)
        .set_key(Some(key_item(key)))
        .set_condition_expression(r.condition.clone())
        .set_expression_attribute_names(r.names())
        .set_expression_attribute_values(r.values())
        .build()
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(TransactWriteItem::builder().delete(d).build())
}

fn delete(table: &str, key: Key) -> Result<TransactWriteItem> {
    delete_if(table, key, None)
}

/// A put inside a transaction, whether or not the item exists.
fn put(table: &str, item: Item) -> Result<TransactWriteItem> {
    let p =
        Put::builder().table_name(table).set_item(Some(item)).build().map_err(|e| Error::Internal(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(p).build())
}

/// A put inside a transaction of an item that must not exist yet.
fn put_new(table: &str, item: Item) -> Result<TransactWriteItem> {
    put_if(table, item, Cond::missing(keys::PK))
}

/// A put inside a transaction, if `condition` holds of the item it replaces.
fn put_if(table: &str, item: Item, condition: Cond) -> Result<TransactWriteItem> {
    let r = Rendered::write(None, Some(&condition));
    let p = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(r.condition.clone())
        .set_expression_attribute_names(r.names())
        .set_expression_attribute_values(r.values())
        .build()
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(p).build())
}

/// A query's answer as a page: its items, and a cursor if it stopped early.
fn page_of<T: DeserializeOwned>(out: aws_sdk_dynamodb::operation::query::QueryOutput) -> Result<crate::store::Page<T>> {
    let items = out.items.unwrap_or_default().into_iter().map(from_item).collect::<Result<Vec<T>>>()?;
    let next = out.last_evaluated_key.filter(|k| !k.is_empty());
    Ok(crate::store::Page { items, next_cursor: next.map(|k| encode_cursor(&k)) })
}

/// Page cursors are the last key, as opaque base64 JSON of its strings.
pub(super) fn encode_cursor(key: &Item) -> String {
    let plain: HashMap<&str, &str> =
        key.iter().filter_map(|(k, v)| v.as_s().ok().map(|v| (k.as_str(), v.as_str()))).collect();
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&plain).unwrap_or_default())
}

/// A cursor must belong to the very list it continues: one made for another
/// agent, tenant or state is refused, so it can never open someone else's data.
pub(super) fn decode_cursor(cursor: &str, pk_attr: &str, pk: &str) -> Result<Item> {
    let bad = || Error::invalid("invalid_cursor", "cursor is not valid for this list");
    let plain: HashMap<String, String> =
        URL_SAFE_NO_PAD.decode(cursor).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(bad)?;
    if plain.get(pk_attr).map(String::as_str) != Some(pk) || plain.len() > 4 {
        return Err(bad());
    }
    Ok(plain.into_iter().map(|(k, v)| (k, s(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_only_continue_their_own_list() {
        let key: Item = HashMap::from([
            ("gsi1pk".to_string(), s("T#t#A#a1#closed")),
            ("gsi1sk".to_string(), s("000000000000005#s1")),
            ("pk".to_string(), s("T#t#S#s1")),
            ("sk".to_string(), s("SESSION")),
        ]);
        let c = encode_cursor(&key);
        assert_eq!(decode_cursor(&c, "gsi1pk", "T#t#A#a1#closed").unwrap(), key);
        assert_eq!(decode_cursor(&c, "gsi1pk", "T#t#A#a2#closed").unwrap_err().code(), "invalid_cursor");
        assert!(decode_cursor("garbage!", "gsi1pk", "x").is_err());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// A cursor continues only its own list: anything else a client
            /// sends is `invalid_cursor`, never a panic and never another
            /// list's page; a cursor Kefu made round-trips.
            #[test]
            fn cursors_decode_or_are_refused(raw in "[A-Za-z0-9_=+/-]{0,80}|\\PC{0,40}", sk in "\\PC{0,30}") {
                if let Err(e) = decode_cursor(&raw, "gsi1pk", "T#t#A#a1#closed") {
                    prop_assert_eq!(e.code(), "invalid_cursor");
                }
                let key: Item =
                    HashMap::from([("gsi1pk".to_string(), s("T#t#A#a1#closed")), ("gsi1sk".to_string(), s(sk))]);
                let c = encode_cursor(&key);
                prop_assert_eq!(decode_cursor(&c, "gsi1pk", "T#t#A#a1#closed").unwrap(), key);
                prop_assert!(decode_cursor(&c, "gsi1pk", "T#t#A#a2#closed").is_err());
            }
        }
    }
}
