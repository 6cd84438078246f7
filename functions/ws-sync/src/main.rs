//! `sync`: everything after a client's last sequence number (C3).

use kefu::api::ws;
use kefu::app::{connections, messages};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ws::run_action(|app, conn, req: messages::SyncRequest| async move {
        let who = connections::principal(&conn);
        let limit = req.limit.unwrap_or(messages::MAX_BATCH);
        let batch = messages::after(&app, &who, &req.session_id, req.after_seq, limit).await?;
        Ok(ws::Reply::Sync(batch))
    })
    .await
}
