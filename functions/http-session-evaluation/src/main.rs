//! D6: `POST /sessions/{sessionId}/evaluation/invite` (the agent invites a
//! rating) and `POST /sessions/{sessionId}/evaluation` (the visitor answers).

use kefu::api::http::{self, ok};
use kefu::app::evaluations;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        let id = http::path(&req, "sessionId")?;
        match http::route(&req).as_str() {
            "POST /sessions/{sessionId}/evaluation/invite" => ok(evaluations::invite(&app, &who, &id).await?),
            "POST /sessions/{sessionId}/evaluation" => ok(evaluations::rate(&app, &who, &id, http::body(&req)?).await?),
            other => Err(http::route_not_found(other)),
        }
    })
    .await
}
