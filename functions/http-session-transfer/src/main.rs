//! `POST /sessions/{sessionId}/transfer`: hands an in-progress session to
//! another agent (D4) or a skill group's queue (D5).

use kefu::api::http::{self, ok};
use kefu::app::transfers;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        let id = http::path(&req, "sessionId")?;
        ok(transfers::transfer(&app, &who, &id, http::body(&req)?).await?)
    })
    .await
}
