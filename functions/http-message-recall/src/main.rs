//! `POST /sessions/{sessionId}/messages/{seq}/recall`: an agent recalls its
//! own message within 2 minutes (C5).

use kefu::api::http::{self, ok};
use kefu::app::messages;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        let (id, seq) = (http::path(&req, "sessionId")?, http::path_number(&req, "seq")?);
        ok(messages::recall(&app, &who, &id, seq).await?)
    })
    .await
}
