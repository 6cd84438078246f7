//! Pushes to WebSocket clients through API Gateway's management API. The one
//! rule that matters: a `GoneException` means the connection is gone for
//! good, so its records are deleted instead of being retried.

use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_sdk_apigatewaymanagement::Client;

use crate::error::{Error, Result};

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
