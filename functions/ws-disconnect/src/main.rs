//! `$disconnect`: removes the connection.

use kefu::api::ws::{self, WsResponse};
use kefu::app::connections;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ws::run(|app, event| async move {
        connections::disconnect(&app, event.connection_id()).await?;
        Ok(WsResponse::ok())
    })
    .await
}
