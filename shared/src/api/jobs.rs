//! The functions no client calls: the scheduled sweeper (an EventBridge
//! schedule's event) and the table stream's handler (a DynamoDB stream
//! batch, with partial batch failure reporting).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::app::timers::Expired;
use crate::error::Result;
use crate::store::keys;
use crate::App;

/// Runs a scheduled function: `handler` once per event. A failed run fails
/// the invocation (EventBridge retries it); the next run comes anyway.
pub async fn run_scheduled<F, Fut, R>(handler: F) -> std::result::Result<(), lambda_runtime::Error>
where
    F: Fn(Arc<App>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R>> + Send,
    R: Serialize,
{
    crate::telemetry::init();
    let app = App::from_env().await?;
    let handler = &handler;
    lambda_runtime::run(lambda_runtime::service_fn(move |_: lambda_runtime::LambdaEvent<serde_json::Value>| {
        let app = app.clone();
        async move {
            let out = handler(app).await.inspect_err(|e| tracing::error!(error = %e, "scheduled run failed"))?;
            Ok::<_, lambda_runtime::Error>(serde_json::to_value(out)?)
        }
    }))
    .await
}

/// A DynamoDB stream batch, as Lambda's event source mapping delivers it.
#[derive(Debug, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamRecord {
    #[serde(default)]
    pub event_name: String,
    #[serde(default)]
    pub user_identity: Option<UserIdentity>,
    pub dynamodb: StreamData,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub principal_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamData {
    #[serde(default)]
    pub keys: HashMap<String, serde_dynamo::AttributeValue>,
    #[serde(default)]
    pub old_image: Option<HashMap<String, serde_dynamo::AttributeValue>>,
    #[serde(default)]
    pub sequence_number: String,
}

/// Partial batch failure reporting: the records to deliver again.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamResponse {
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemFailure {
    pub item_identifier: String,
}

impl StreamRecord {
    /// A deletion by DynamoDB TTL (not by anyone's request).
    fn is_ttl_removal(&self) -> bool {
        self.event_name == "REMOVE"
            && self
                .user_identity
                .as_ref()
                .is_some_and(|u| u.kind == "Service" && u.principal_id == "dynamodb.amazonaws.com")
    }

    /// What TTL deleted, if it is something Kefu acts on: a timer or a
    /// connection. The template's filter passes only those; anything else
    /// is skipped here too.
    pub fn expired(&self) -> Result<Option<Expired>> {
        if !self.is_ttl_removal() {
            return Ok(None);
        }
        let sk = match self.dynamodb.keys.get(keys::SK) {
            Some(serde_dynamo::AttributeValue::S(sk)) => sk.as_str(),
            _ => return Ok(None),
        };
        let Some(image) = self.dynamodb.old_image.clone() else { return Ok(None) };
        let item = serde_dynamo::Item::from(image);
        Ok(match sk {
            keys::TIMER_SK => Some(Expired::Timer(serde_dynamo::from_item(item)?)),
            keys::CONNECTION_SK => Some(Expired::Connection(serde_dynamo::from_item(item)?)),
            _ => None,
        })
    }
}

/// Runs the stream handler: each record's TTL deletion is handled by
/// `handler`; the first that fails, and every record after it, are
/// reported for redelivery (Lambda retries from the first reported
/// sequence number, a bounded number of times, then sends the batch to the
/// on-failure destination). A record Kefu does not act on is skipped.
pub async fn run_stream<F, Fut>(handler: F) -> std::result::Result<(), lambda_runtime::Error>
where
    F: Fn(Arc<App>, Expired) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    crate::telemetry::init();
    let app = App::from_env().await?;
    let handler = &handler;
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<StreamEvent>| {
        let app = app.clone();
        async move {
            let mut response = StreamResponse::default();
            for record in event.payload.records {
                let failed = !response.batch_item_failures.is_empty();
                let outcome = match failed {
                    // In order: once one failed, the rest come again with it.
                    true => Err(None),
                    false => match record.expired() {
                        Ok(None) => Ok(()),
                        Ok(Some(expired)) => handler(app.clone(), expired).await.map_err(Some),
                        Err(e) => {
                            // A record that cannot be read never will be: log it, move on.
                            tracing::error!(error = %e, sequence = %record.dynamodb.sequence_number, "unreadable stream record skipped");
                            Ok(())
                        }
                    },
                };
                if let Err(error) = outcome {
                    if let Some(e) = error {
                        tracing::error!(error = %e, sequence = %record.dynamodb.sequence_number, "expiry not handled; redelivered");
                    }
                    response.batch_item_failures.push(ItemFailure { item_identifier: record.dynamodb.sequence_number });
                }
            }
            Ok::<_, std::convert::Infallible>(response)
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::timers::TimerKind;

    fn record(event: &str, identity: Option<serde_json::Value>, sk: &str) -> StreamRecord {
        let mut r = serde_json::json!({
            "eventID": "1",
            "eventName": event,
            "eventSource": "aws:dynamodb",
            "dynamodb": {
                "Keys": {"pk": {"S": "T#t#S#s1"}, "sk": {"S": sk}},
                "OldImage": {
                    "pk": {"S": "T#t#S#s1"}, "sk": {"S": sk}, "tenant": {"S": "t"}, "kind": {"S": "session"},
                    "subject": {"S": "s1"}, "dueAt": {"N": "1000"}, "expires_at": {"N": "1"}
                },
                "SequenceNumber": "42",
                "StreamViewType": "NEW_AND_OLD_IMAGES"
            }
        });
        if let Some(identity) = identity {
            r["userIdentity"] = identity;
        }
        serde_json::from_value(r).unwrap()
    }

    #[test]
    fn only_ttl_deletions_of_timers_and_connections_are_acted_on() {
        let ttl = serde_json::json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"});
        match record("REMOVE", Some(ttl.clone()), "TIMER").expired().unwrap() {
            Some(Expired::Timer(t)) => {
                assert_eq!(
                    (t.tenant.as_str(), t.kind, t.subject.as_str(), t.due_at),
                    ("t", TimerKind::Session, "s1", 1000)
                )
            }
            other => panic!("not a timer: {other:?}"),
        }
        // Deleted by a request (a close), not by TTL: nothing to do.
        assert!(record("REMOVE", None, "TIMER").expired().unwrap().is_none());
        let someone = serde_json::json!({"type": "Service", "principalId": "other.amazonaws.com"});
        assert!(record("REMOVE", Some(someone), "TIMER").expired().unwrap().is_none());
        assert!(record("MODIFY", Some(ttl.clone()), "TIMER").expired().unwrap().is_none());
        assert!(record("REMOVE", Some(ttl), "TYPING").expired().unwrap().is_none());
    }
}
