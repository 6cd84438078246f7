//! `GET /queue`: waiting sessions, oldest first (B4).

use kefu::api::http::{self, ok};
use kefu::app::sessions;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        ok(json!({ "items": sessions::queue(&app, &who).await? }))
    })
    .await
}
