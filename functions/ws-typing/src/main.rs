//! `typing`: a web visitor's draft, previewed to its agent (C6).

use kefu::api::ws;
use kefu::app::{connections, typing};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ws::run_action(|app, conn, req: typing::TypingRequest| async move {
        let who = connections::principal(&conn);
        Ok(ws::Reply::TypingSent(typing::typing(&app, &who, req).await?))
    })
    .await
}
