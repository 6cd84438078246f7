//! `$connect`: records the connection the authorizer let in.

use kefu::api::ws::{self, WsResponse};
use kefu::app::connections;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ws::run(|app, event| async move {
        connections::connect(&app, event.connection_id(), &event.caller()?, event.token_expiry_ms()).await?;
        Ok(WsResponse::ok())
    })
    .await
}
