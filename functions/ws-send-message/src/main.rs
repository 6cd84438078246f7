//! `sendMessage`: a message from the visitor or the agent (C2, C3).

use kefu::api::ws;
use kefu::app::{connections, messages};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ws::run_action(|app, conn, req: messages::SendRequest| async move {
        let sent = messages::send(&app, &connections::principal(&conn), req).await?;
        Ok(ws::Reply::MessageSent(Box::new(sent)))
    })
    .await
}
