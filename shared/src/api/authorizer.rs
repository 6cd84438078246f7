//! Lambda authorizers: the WebSocket API's `$connect` REQUEST authorizer
//! (token in the `token` query parameter: browsers cannot set headers on a
//! WebSocket) and the HTTP API's authorizer (`Authorization: Bearer …`).
//! Both verify the token once and pass the principal on as context.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::app::access::{self, Authorized};
use crate::error::Result;
use crate::App;

/// A REQUEST authorizer event (payload format 1.0, as WebSocket APIs send).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WsAuthorizerEvent {
    pub method_arn: String,
    #[serde(default)]
    pub query_string_parameters: Option<HashMap<String, String>>,
    #[serde(default)]
    pub headers: Option<HashMap<String, String>>,
}

/// An HTTP API authorizer event (payload format 2.0).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpAuthorizerEvent {
    #[serde(default)]
    pub headers: Option<HashMap<String, String>>,
    #[serde(default)]
    pub identity_source: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpAuthorizerResponse {
    pub is_authorized: bool,
    pub context: HashMap<&'static str, String>,
}

fn header<'a>(headers: &'a Option<HashMap<String, String>>, name: &str) -> Option<&'a str> {
    headers.as_ref()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

pub async fn authorize_ws(app: &App, event: &WsAuthorizerEvent) -> Result<Value> {
    let token = event
        .query_string_parameters
        .as_ref()
        .and_then(|q| q.get("token").map(String::as_str))
        .or_else(|| header(&event.headers, "authorization"))
        .unwrap_or("");
    let authorized = access::authorize(app, token).await?;
    Ok(allow_policy(&authorized, &event.method_arn))
}

/// The authorizer context: the principal (with its stored role) and the
/// token's expiry, strings only, as API Gateway requires.
fn context(a: &Authorized) -> HashMap<&'static str, String> {
    let mut context: HashMap<_, _> = a.principal.to_context().into_iter().collect();
    context.insert("exp", a.expires_at.to_string());
    context
}

pub fn allow_policy(a: &Authorized, method_arn: &str) -> Value {
    let p = &a.principal;
    json!({
        "principalId": format!("{}:{}", p.tenant, p.id),
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{ "Action": "execute-api:Invoke", "Effect": "Allow", "Resource": method_arn }]
        },
        "context": context(a),
    })
}

/// `Err` only when the answer could not be found (the table failed): the
/// invocation fails and API Gateway answers 500, which a client retries —
/// a storage fault never passes for a refused token.
pub async fn authorize_http(app: &App, event: &HttpAuthorizerEvent) -> Result<HttpAuthorizerResponse> {
    let token = header(&event.headers, "authorization")
        .or_else(|| event.identity_source.as_ref().and_then(|v| v.first()).map(String::as_str))
        .unwrap_or("");
    match access::authorize(app, token).await {
        Ok(a) => Ok(HttpAuthorizerResponse { is_authorized: true, context: context(&a) }),
        Err(e) if e.status() >= 500 => Err(e),
        Err(e) => {
            tracing::info!(error = %e, "http request not authorized");
            Ok(HttpAuthorizerResponse { is_authorized: false, context: HashMap::new() })
        }
    }
}

/// The WebSocket authorizer function. A bad token fails the invocation with
/// `Unauthorized`, which API Gateway answers with 401; a storage failure
/// with anything else, which it answers with 500 (try again).
pub async fn run_ws() -> std::result::Result<(), lambda_runtime::Error> {
    crate::telemetry::init();
    let app = App::for_authorizer().await?;
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<WsAuthorizerEvent>| {
        let app: Arc<App> = app.clone();
        async move {
            authorize_ws(&app, &event.payload).await.map_err(|e| {
                if e.status() >= 500 {
                    tracing::warn!(error = %e, "websocket connect not decided");
                    return lambda_runtime::Error::from(format!("authorizer failed: {e}"));
                }
                tracing::info!(error = %e, "websocket connect not authorized");
                lambda_runtime::Error::from("Unauthorized")
            })
        }
    }))
    .await
}

/// The HTTP authorizer function (simple responses).
pub async fn run_http() -> std::result::Result<(), lambda_runtime::Error> {
    crate::telemetry::init();
    let app = App::for_authorizer().await?;
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<HttpAuthorizerEvent>| {
        let app: Arc<App> = app.clone();
        async move {
            authorize_http(&app, &event.payload).await.map_err(|e| {
                tracing::warn!(error = %e, "http request not decided");
                lambda_runtime::Error::from(format!("authorizer failed: {e}"))
            })
        }
    }))
    .await
}
