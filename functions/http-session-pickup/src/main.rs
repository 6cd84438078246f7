//! `POST /sessions/{sessionId}/pickup`: an agent takes a waiting session (B4).

use kefu::api::http::{self, ok};
use kefu::app::sessions;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        ok(sessions::pickup(&app, &who, &http::path(&req, "sessionId")?).await?)
    })
    .await
}
