//! `sendMessage`: a message from the visitor or the agent (C2, C3).

use kefu::api::ws;
use kefu::app::{connections, messages};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ws::run_action(|app, conn, req: messages::SendRequest| async move {
        let sent = messages::send(&app, &connections::principal(&conn), req).await?;
        Ok(json!({ "type": "message.sent", "message": sent.message, "duplicate": sent.duplicate }))
    })
    .await
}
