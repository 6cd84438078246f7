//! Lambda REQUEST authorizer for the WebSocket API's `$connect`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    kefu::api::authorizer::run_ws().await
}
