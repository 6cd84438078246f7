//! Pushes to WebSocket clients through API Gateway's management API. The one
//! rule that matters: a `GoneException` means the connection is gone for
//! good, so its records are deleted instead of being retried.

use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_sdk_apigatewaymanagement::Client;

use crate::error::{Error, Result};

mod notifier;
pub use notifier::{Notifier, CONNECT_WINDOW_MS};

#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// The connection no longer exists (HTTP 410).
    Gone,
}

/// Where pushes go: API Gateway's `@connections` in the cloud, the local
/// gateway on one machine; anything else in tests.
#[async_trait]
pub trait Gateway: Send + Sync {
    async fn post(&self, connection_id: &str, data: Vec<u8>) -> Result<Delivery>;
    /// Closes a connection (API Gateway then runs `$disconnect`); a gone one is fine.
    async fn close(&self, connection_id: &str) -> Result<()>;
}

pub struct ApiGateway {
    client: Client,
}

impl ApiGateway {
    /// `endpoint` is the API's `https://{id}.execute-api.{region}.amazonaws.com/{stage}`.
    pub fn new(shared: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(shared).endpoint_url(endpoint).build();
        ApiGateway { client: Client::from_conf(config) }
    }
}

#[async_trait]
impl Gateway for ApiGateway {
    async fn post(&self, connection_id: &str, data: Vec<u8>) -> Result<Delivery> {
        let result = self.client.post_to_connection().connection_id(connection_id).data(Blob::new(data)).send().await;
        match result {
            Ok(_) => Ok(Delivery::Delivered),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_gone_exception()) => Ok(Delivery::Gone),
            Err(e) => Err(Error::Storage(aws_sdk_apigatewaymanagement::error::DisplayErrorContext(&e).to_string())),
        }
    }

    async fn close(&self, connection_id: &str) -> Result<()> {
        match self.client.delete_connection().connection_id(connection_id).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_gone_exception()) => Ok(()),
            Err(e) => Err(Error::Storage(aws_sdk_apigatewaymanagement::error::DisplayErrorContext(&e).to_string())),
        }
    }
}

/// For processes that never push (the admin CLI): drops pushes, loudly.
pub struct NoGateway;

#[async_trait]
impl Gateway for NoGateway {
    async fn post(&self, connection_id: &str, _data: Vec<u8>) -> Result<Delivery> {
        tracing::warn!(connection = connection_id, "WS_ENDPOINT is not set; push dropped");
        Ok(Delivery::Delivered)
    }

    async fn close(&self, connection_id: &str) -> Result<()> {
        tracing::warn!(connection = connection_id, "WS_ENDPOINT is not set; connection not closed");
        Ok(())
    }
}

/// For unit tests of the use cases: records every push and close, and
/// answers `Gone` for the connections it is told are gone.
#[derive(Default)]
pub struct RecordingGateway {
    log: std::sync::Mutex<RecordedLog>,
}

#[derive(Default)]
struct RecordedLog {
    pushes: Vec<(String, serde_json::Value)>,
    closed: Vec<String>,
    gone: std::collections::HashSet<String>,
}

impl RecordingGateway {
    pub fn new() -> Self {
        Self::default()
    }

    fn log(&self) -> std::sync::MutexGuard<'_, RecordedLog> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Pushes to `connection_id` answer `Gone` from now on.
    pub fn set_gone(&self, connection_id: &str) {
        self.log().gone.insert(connection_id.to_string());
    }

    /// The events pushed to a connection, in order.
    pub fn events(&self, connection_id: &str) -> Vec<serde_json::Value> {
        self.log().pushes.iter().filter(|(c, _)| c == connection_id).map(|(_, e)| e.clone()).collect()
    }

    /// The types of the events pushed to a connection, in order.
    pub fn types(&self, connection_id: &str) -> Vec<String> {
        self.events(connection_id).iter().map(|e| e["type"].as_str().unwrap_or_default().to_string()).collect()
    }

    pub fn closed(&self) -> Vec<String> {
        self.log().closed.clone()
    }
}

#[async_trait]
impl Gateway for RecordingGateway {
    async fn post(&self, connection_id: &str, data: Vec<u8>) -> Result<Delivery> {
        let mut log = self.log();
        if log.gone.contains(connection_id) {
            return Ok(Delivery::Gone);
        }
        let event = serde_json::from_slice(&data).map_err(|e| Error::Internal(e.to_string()))?;
        log.pushes.push((connection_id.to_string(), event));
        Ok(Delivery::Delivered)
    }

    async fn close(&self, connection_id: &str) -> Result<()> {
        self.log().closed.push(connection_id.to_string());
        Ok(())
    }
}
