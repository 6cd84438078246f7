//! HTTP API (H2): parsing API Gateway v2 requests and the one mapping of
//! results and errors to responses.

use std::future::Future;
use std::sync::Arc;

use lambda_http::request::RequestContext;
pub use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::auth::Principal;
use crate::domain::ids;
use crate::error::{Error, Result};
use crate::App;

/// A successful response: status and JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: serde_json::Value,
}

pub fn ok<T: Serialize>(v: T) -> Result<Reply> {
    Ok(Reply { status: 200, body: serde_json::to_value(v)? })
}

pub fn created<T: Serialize>(v: T) -> Result<Reply> {
    Ok(Reply { status: 201, body: serde_json::to_value(v)? })
}

/// `202`: taken, and waiting on someone else (an admin's approval).
pub fn accepted<T: Serialize>(v: T) -> Result<Reply> {
    Ok(Reply { status: 202, body: serde_json::to_value(v)? })
}

/// Runs an HTTP function: telemetry and the `App` once per cold start, then
/// `handler` per request, its result mapped by `respond`.
pub async fn run<F, Fut>(handler: F) -> std::result::Result<(), lambda_http::Error>
where
    F: Fn(Arc<App>, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply>> + Send,
{
    crate::telemetry::init();
    let app = App::from_env().await?;
    let handler = &handler;
    lambda_http::run(lambda_http::service_fn(move |req: Request| {
        let app = app.clone();
        async move { Ok::<_, std::convert::Infallible>(respond(handler(app, req).await)) }
    }))
    .await
}

pub fn respond(result: Result<Reply>) -> Response<Body> {
    let (status, body) = match result {
        Ok(r) => (r.status, r.body.to_string()),
        Err(e) => {
            if e.status() >= 500 {
                tracing::error!(code = e.code(), error = %e, "request failed");
            } else {
                tracing::info!(code = e.code(), error = %e, "request refused");
            }
            (e.status(), serde_json::to_string(&e.body()).unwrap_or_default())
        }
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(body))
        .expect("static response parts")
}

/// The caller, from the HTTP authorizer's context.
pub fn principal(req: &Request) -> Result<Principal> {
    let fields = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.authorizer.as_ref().map(|a| a.fields.clone()),
        _ => None,
    }
    .unwrap_or_default();
    Principal::from_context(|k| fields.get(k).and_then(|v| v.as_str()).map(str::to_string))
}

/// The route as API Gateway matched it, e.g. `GET /agents/{agentId}`.
pub fn route(req: &Request) -> String {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

/// A path parameter, checked to be a well-formed id.
pub fn path(req: &Request, name: &'static str) -> Result<String> {
    let v = req
        .path_parameters_ref()
        .and_then(|p| p.first(name))
        .map(str::to_string)
        .ok_or_else(|| Error::invalid("missing_field", format!("path parameter {name} is missing")))?;
    ids::check(name, &v)?;
    Ok(v)
}

/// A path parameter that is a whole number (a message's `seq`).
pub fn path_number(req: &Request, name: &'static str) -> Result<u64> {
    path(req, name)?
        .parse::<u64>()
        .map_err(|_| Error::invalid("invalid_field", format!("path parameter {name} must be a whole number")))
}

pub fn query(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref().and_then(|q| q.first(name)).map(str::to_string)
}

/// A numeric query parameter within `range`, or `default` when absent.
pub fn query_number(req: &Request, name: &'static str, default: u64, max: u64) -> Result<u64> {
    match query(req, name) {
        None => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(Error::invalid("invalid_field", format!("{name} must be a whole number from 0 to {max}"))),
        },
    }
}

/// A query parameter naming one of an enum's values (as the wire spells
/// them), or `default` when absent.
pub fn query_enum<T: DeserializeOwned>(req: &Request, name: &'static str, default: &str) -> Result<T> {
    let v = query(req, name).unwrap_or_else(|| default.to_string());
    serde_json::from_value(serde_json::Value::String(v.clone()))
        .map_err(|_| Error::invalid("invalid_field", format!("{name} may not be {v:?}")))
}

/// The JSON body as `T`; a clear error naming what is wrong otherwise.
pub fn body<T: DeserializeOwned>(req: &Request) -> Result<T> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => b"",
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => b"",
    };
    parse_json(bytes)
}

/// Like `body`, for a route that refuses bodies over `max_bytes` before
/// reading them (`body_too_large`).
pub fn body_within<T: DeserializeOwned>(req: &Request, max_bytes: usize) -> Result<T> {
    let len = match req.body() {
        Body::Text(t) => t.len(),
        Body::Binary(b) => b.len(),
        _ => 0,
    };
    if len > max_bytes {
        return Err(Error::too_large("body_too_large", format!("the body is {len} bytes; the limit is {max_bytes}")));
    }
    body(req)
}

/// Like `body`, but an empty body means `T::default()`.
pub fn body_or_default<T: DeserializeOwned + Default>(req: &Request) -> Result<T> {
    match req.body() {
        Body::Empty => Ok(T::default()),
        Body::Text(t) if t.trim().is_empty() => Ok(T::default()),
        _ => body(req),
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::invalid("invalid_json", "a JSON body is required"));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => Error::invalid("invalid_field", e.to_string()),
            _ => Error::invalid("invalid_json", format!("body is not valid JSON: {e}")),
        }
    })
}

pub fn route_not_found(route: &str) -> Error {
    Error::invalid("unknown_route", format!("this function does not serve {route:?}"))
}
