//! `POST /sessions/{sessionId}/read`: the agent has read the session (C1).

use kefu::api::http::{self, ok};
use kefu::app::sessions;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        ok(sessions::mark_read(&app, &who, &http::path(&req, "sessionId")?).await?)
    })
    .await
}
