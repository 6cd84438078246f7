//! `GET /queue`: waiting sessions, oldest first (B4).

use kefu::api::http::{self, ok};
use kefu::app::sessions;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        let limit = http::query_number(&req, "limit", 50, 100)?;
        ok(sessions::queue(&app, &who, limit as u32, http::query(&req, "cursor").as_deref()).await?)
    })
    .await
}
