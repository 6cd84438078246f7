//! `GET /sessions/{sessionId}/messages?after=&limit=`: a session's messages in order (C3).

use kefu::api::http::{self, ok};
use kefu::app::messages;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        let id = http::path(&req, "sessionId")?;
        let after = http::query_number(&req, "after", 0, u64::MAX)?;
        let limit = http::query_number(&req, "limit", 50, messages::MAX_BATCH as u64)?;
        ok(messages::after(&app, &who, &id, after, limit as u32).await?)
    })
    .await
}
