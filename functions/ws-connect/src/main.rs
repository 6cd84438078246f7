//! `$connect`: records the connection the authorizer let in.

use kefu::api::ws::{self, WsResponse};
use kefu::app::connections;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ws::run(|app, event| async move {
        connections::connect(&app, &event).await?;
        Ok(WsResponse::ok())
    })
    .await
}
