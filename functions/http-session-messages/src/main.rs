//! `GET /sessions/{sessionId}/messages?after=&limit=`: a session's messages
//! in order (C3); `GET /sessions/{sessionId}/history?limit=&cursor=`: the
//! visitor's earlier conversation, a page at a time (C4).

use kefu::api::http::{self, ok};
use kefu::app::messages;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        let id = http::path(&req, "sessionId")?;
        match http::route(&req).as_str() {
            "GET /sessions/{sessionId}/messages" => {
                let after = http::query_number(&req, "after", 0, u64::MAX)?;
                let limit = http::query_number(&req, "limit", 50, messages::MAX_BATCH as u64)?;
                ok(messages::after(&app, &who, &id, after, limit as u32).await?)
            }
            "GET /sessions/{sessionId}/history" => {
                let limit = http::query_number(&req, "limit", 10, 50)?;
                let cursor = http::query(&req, "cursor");
                ok(messages::history(&app, &who, &id, limit as u32, cursor.as_deref()).await?)
            }
            other => Err(http::route_not_found(other)),
        }
    })
    .await
}
