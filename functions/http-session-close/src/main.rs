//! `POST /sessions/{sessionId}/close`: close by hand (D7); idempotent.

use kefu::api::http::{self, ok};
use kefu::app::sessions;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        ok(sessions::close(&app, &who, &http::path(&req, "sessionId")?).await?)
    })
    .await
}
