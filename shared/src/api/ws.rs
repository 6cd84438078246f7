//! WebSocket API (H1): API Gateway's WebSocket proxy events, frames in, and
//! route responses out. Actions answer on the caller's own connection (the
//! route response); everything else reaches clients as pushed events.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::{Admission, Connection};
use crate::App;

/// API Gateway's WebSocket proxy event (the parts Kefu reads).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WsEvent {
    pub request_context: WsContext,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub is_base64_encoded: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WsContext {
    pub connection_id: String,
    #[serde(default)]
    pub route_key: Option<String>,
    #[serde(default)]
    pub event_type: Option<String>,
    /// On `$connect`: the authorizer's context, flattened with `principalId`.
    #[serde(default)]
    pub authorizer: HashMap<String, serde_json::Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WsResponse {
    pub status_code: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

impl WsEvent {
    pub fn connection_id(&self) -> &str {
        &self.request_context.connection_id
    }

    /// On `$connect`: who the authorizer let in.
    pub fn caller(&self) -> Result<crate::auth::Principal> {
        let ctx = &self.request_context.authorizer;
        crate::auth::Principal::from_context(|k| ctx.get(k).and_then(|v| v.as_str()).map(str::to_string))
    }

    /// On `$connect`: when the caller's token expires (epoch ms).
    pub fn token_expiry_ms(&self) -> Option<i64> {
        let exp = self.request_context.authorizer.get("exp")?;
        exp.as_str()?.parse::<i64>().ok().map(|secs| secs * 1000)
    }
}

impl WsResponse {
    pub fn ok() -> Self {
        WsResponse { status_code: 200, body: None }
    }
}

/// Runs a WebSocket function on raw events (`$connect`, `$disconnect`).
pub async fn run<F, Fut>(handler: F) -> std::result::Result<(), lambda_runtime::Error>
where
    F: Fn(Arc<App>, WsEvent) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<WsResponse>> + Send,
{
    crate::telemetry::init();
    let app = App::from_env().await?;
    let handler = &handler;
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<WsEvent>| {
        let app = app.clone();
        async move {
            Ok::<_, std::convert::Infallible>(handler(app, event.payload).await.unwrap_or_else(|e| {
                tracing::warn!(code = e.code(), error = %e, "websocket event refused");
                WsResponse { status_code: e.status(), body: Some(serde_json::to_string(&e.body()).unwrap_or_default()) }
            }))
        }
    }))
    .await
}

/// Runs an action route: the frame is parsed, the caller's connection looked
/// up, `handler` called, and its result (or error) sent back as the route
/// response, tagged with the frame's `requestId`. Errors leave the connection
/// open and usable.
pub async fn run_action<T, R, F, Fut>(handler: F) -> std::result::Result<(), lambda_runtime::Error>
where
    T: DeserializeOwned + Send,
    R: Serialize,
    F: Fn(Arc<App>, Connection, T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R>> + Send,
{
    let handler = Arc::new(handler);
    run(move |app, event| {
        let handler = handler.clone();
        async move {
            let (request_id, result) = match frame::<T>(&event) {
                // A frame whose payload is wrong still gets its requestId back.
                Err(e) => (request_id(&event), Err(e)),
                Ok((request_id, action, payload)) => {
                    let result = match admit(&app, &event.request_context.connection_id).await {
                        Ok(Admission::Admitted(conn)) => {
                            handler(app.clone(), conn, payload).await.and_then(|reply| Ok(serde_json::to_value(reply)?))
                        }
                        Ok(Admission::Limited) => Err(rate_limited(app.config.ws_actions_per_second)),
                        Ok(Admission::Unknown) => {
                            // Unknown, or past its token's expiry: close it.
                            let id = &event.request_context.connection_id;
                            if let Err(e) = app.gateway.close(id).await {
                                tracing::warn!(error = %e, connection = %id, "closing an expired connection failed");
                            }
                            Err(Error::unauthorized("this connection has expired; reconnect with a fresh token"))
                        }
                        Err(e) => Err(e),
                    };
                    if let Err(e) = &result {
                        tracing::info!(action, code = e.code(), error = %e, "action refused");
                    }
                    (request_id, result)
                }
            };
            Ok(reply(request_id, result))
        }
    })
    .await
}

/// A frame's JSON object; anything else (not JSON, an array, a string, a
/// document nested past the parser's depth limit) is `invalid_json`.
fn object(event: &WsEvent) -> Result<serde_json::Map<String, serde_json::Value>> {
    let body = event.body.as_deref().unwrap_or("");
    match super::http::parse_json(body.as_bytes())? {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(Error::invalid("invalid_json", "a frame must be a JSON object")),
    }
}

/// The frame's `action`: absent is `missing_field`, present but not a
/// string is `invalid_field`.
fn action(frame: &serde_json::Map<String, serde_json::Value>) -> Result<String> {
    match frame.get("action") {
        None => Err(Error::invalid("missing_field", "a frame needs an \"action\"")),
        Some(serde_json::Value::String(a)) => Ok(a.clone()),
        Some(_) => Err(Error::invalid("invalid_field", "\"action\" must be a string")),
    }
}

/// One connection may not send more than `WS_ACTIONS_PER_SECOND` actions a
/// second: the excess is refused before anything is read or stored, so one
/// client cannot use up the stage's throttle that every tenant shares. The
/// same write returns the connection (who is calling, until when).
async fn admit(app: &App, connection_id: &str) -> Result<Admission> {
    let now = app.now();
    app.store.admit_action(connection_id, now / 1000, app.config.ws_actions_per_second, now).await
}

fn rate_limited(limit: u32) -> Error {
    Error::too_many("rate_limited", format!("at most {limit} actions a second on one connection; slow down and resend"))
}

/// What an action answers on the caller's own connection, tagged with its
/// `type` (docs/protocol.md): the use case's typed result, rendered here.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum Reply {
    /// `sendMessage`: `{type, message, duplicate}`.
    #[serde(rename = "message.sent")]
    MessageSent(Box<crate::app::messages::Sent>),
    /// `sync`: `{type, sessionId, messages, hasMore, lastSeq}`.
    #[serde(rename = "sync")]
    Sync(crate::app::messages::Batch),
    /// `typing`: `{type, sessionId, delivered}`.
    #[serde(rename = "typing.sent")]
    TypingSent(crate::app::typing::TypingSent),
}

/// Splits a frame into its request id, action and typed payload.
pub fn frame<T: DeserializeOwned>(event: &WsEvent) -> Result<(Option<serde_json::Value>, String, T)> {
    let object = object(event)?;
    let request_id = object.get("requestId").cloned();
    let action = action(&object)?;
    let payload = serde_json::from_value(object.into()).map_err(|e| Error::invalid("invalid_field", e.to_string()))?;
    Ok((request_id, action, payload))
}

/// The route response: the result with `requestId`, or an `error` event.
pub fn reply(request_id: Option<serde_json::Value>, result: Result<serde_json::Value>) -> WsResponse {
    let mut body = match result {
        Ok(v) => v,
        Err(e) => {
            let mut v = serde_json::to_value(e.body()).unwrap_or_default();
            v["type"] = "error".into();
            v
        }
    };
    if let (Some(id), Some(obj)) = (request_id, body.as_object_mut()) {
        obj.insert("requestId".into(), id);
    }
    // Status 200 even for errors: the error is in the frame, and the
    // connection stays usable.
    WsResponse { status_code: 200, body: Some(body.to_string()) }
}

/// The request id of a frame, if it has one: only a JSON object's
/// `requestId` field counts.
pub fn request_id(event: &WsEvent) -> Option<serde_json::Value> {
    object(event).ok()?.remove("requestId")
}

/// `$default`: frames no route matched. `ping` keeps an idle connection open
/// (API Gateway closes it after 10 idle minutes); anything else is refused
/// with a code that says why.
pub fn default_route(event: &WsEvent) -> Result<serde_json::Value> {
    let (_, action, _) = frame::<serde_json::Value>(event)?;
    match action.as_str() {
        "ping" => Ok(serde_json::json!({ "type": "pong" })),
        other => Err(Error::invalid("unknown_action", format!("unknown action {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_render_the_documented_frames() {
        use crate::app::messages::{Batch, Sent};
        use crate::domain::{Content, Message, Sender, SenderKind};
        let message = Message {
            session_id: "s1".into(),
            seq: 3,
            client_msg_id: "c1".into(),
            sender: Sender { kind: SenderKind::Visitor, id: "v1".into() },
            content: Content::Text { text: "hi".into() },
            created_at: 7,
            recalled_at: None,
            translation: None,
        };
        let sent = serde_json::to_value(Reply::MessageSent(Box::new(Sent { message, duplicate: true }))).unwrap();
        assert_eq!(sent["type"], "message.sent");
        assert_eq!((sent["message"]["seq"].as_u64(), sent["duplicate"].as_bool()), (Some(3), Some(true)));
        let batch = Batch { session_id: "s1".into(), messages: vec![], has_more: false, last_seq: 3 };
        let sync = serde_json::to_value(Reply::Sync(batch)).unwrap();
        assert_eq!(
            sync,
            serde_json::json!({"type": "sync", "sessionId": "s1", "messages": [], "hasMore": false, "lastSeq": 3})
        );
    }

    fn event(body: &str) -> WsEvent {
        serde_json::from_value(serde_json::json!({
            "requestContext": {"connectionId": "c1", "routeKey": "sendMessage", "eventType": "MESSAGE"},
            "body": body, "isBase64Encoded": false
        }))
        .unwrap()
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Payload {
        session_id: String,
    }

    #[test]
    fn frames_parse_or_say_what_is_wrong() {
        let (id, action, p) = frame::<Payload>(&event(r#"{"action":"x","requestId":"r1","sessionId":"s1"}"#)).unwrap();
        assert_eq!((id, action.as_str(), p.session_id.as_str()), (Some("r1".into()), "x", "s1"));
        assert_eq!(frame::<Payload>(&event("{not json")).unwrap_err().code(), "invalid_json");
        assert_eq!(frame::<Payload>(&event("[1,2]")).unwrap_err().code(), "invalid_json");
        let e = frame::<Payload>(&event(r#"{"action":"x","sessionId":5}"#)).unwrap_err();
        assert_eq!(e.code(), "invalid_field");
        assert!(e.to_string().contains("invalid type"), "{e}");
    }

    #[test]
    fn the_default_route_pongs_or_says_why_not() {
        assert_eq!(default_route(&event(r#"{"action":"ping"}"#)).unwrap()["type"], "pong");
        assert_eq!(default_route(&event(r#"{"action":"dance"}"#)).unwrap_err().code(), "unknown_action");
        assert_eq!(default_route(&event(r#"{"x":1}"#)).unwrap_err().code(), "missing_field");
        assert_eq!(default_route(&event("hello")).unwrap_err().code(), "invalid_json");
        assert_eq!(default_route(&event(r#"{"action":5}"#)).unwrap_err().code(), "invalid_field");
        assert_eq!(default_route(&event(r#"{"action":null}"#)).unwrap_err().code(), "invalid_field");
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(default_route(&event(&deep)).unwrap_err().code(), "invalid_json");
        let deep_object = format!(r#"{{"action":"ping","x":{}1{}}}"#, "[".repeat(5000), "]".repeat(5000));
        assert_eq!(default_route(&event(&deep_object)).unwrap_err().code(), "invalid_json");
    }

    #[test]
    fn only_an_objects_request_id_is_echoed() {
        assert_eq!(request_id(&event(r#"{"action":"x","requestId":"r1"}"#)), Some("r1".into()));
        assert_eq!(request_id(&event(r#"["x", 2]"#)), None);
        assert_eq!(request_id(&event(r#"[1, 2, 3]"#)), None);
        assert_eq!(request_id(&event(r#""requestId""#)), None);
        assert_eq!(request_id(&event("{oops")), None);
    }

    #[test]
    fn errors_come_back_as_error_frames_with_the_request_id() {
        let r = reply(Some("r9".into()), Err(Error::not_found("session")));
        let body: serde_json::Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["type"], "error");
        assert_eq!(body["requestId"], "r9");
        assert_eq!(body["error"]["code"], "session_not_found");
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::app::messages::{SendRequest, SyncRequest};

        /// Any JSON value, nested a few levels.
        fn json() -> impl Strategy<Value = serde_json::Value> {
            let leaf = prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<f64>().prop_map(serde_json::Value::from),
                "\\PC{0,12}".prop_map(serde_json::Value::from),
                prop_oneof![Just("sendMessage"), Just("sync"), Just("text"), Just("s_1"), Just("type")]
                    .prop_map(serde_json::Value::from),
            ];
            leaf.prop_recursive(4, 32, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                    prop::collection::btree_map(
                        prop_oneof![
                            Just("action".to_string()),
                            Just("requestId".to_string()),
                            Just("sessionId".to_string()),
                            Just("clientMsgId".to_string()),
                            Just("message".to_string()),
                            Just("afterSeq".to_string()),
                            Just("type".to_string()),
                            Just("text".to_string()),
                            "[a-z]{1,6}",
                        ],
                        inner,
                        0..6
                    )
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
                ]
            })
        }

        const FRAME_CODES: [&str; 3] = ["invalid_json", "invalid_field", "missing_field"];

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Whatever arrives as a frame, parsing never panics: the frame
            /// parses, or the error is one of the documented codes; the
            /// request id is echoed only from a JSON object.
            #[test]
            fn any_frame_parses_or_gets_a_clear_error(body in prop_oneof!["\\PC{0,64}", json().prop_map(|v| v.to_string())]) {
                let e = event(&body);
                for result in [frame::<SendRequest>(&e).map(|_| ()), frame::<SyncRequest>(&e).map(|_| ())] {
                    if let Err(err) = result {
                        prop_assert!(FRAME_CODES.contains(&err.code()), "{} for {body:?}", err.code());
                    }
                }
                if let Err(err) = default_route(&e) {
                    prop_assert!(FRAME_CODES.contains(&err.code()) || err.code() == "unknown_action", "{}", err.code());
                }
                let is_object = serde_json::from_str::<serde_json::Value>(&body).is_ok_and(|v| v.is_object());
                prop_assert!(request_id(&e).is_none() || is_object);
            }
        }
    }
}
