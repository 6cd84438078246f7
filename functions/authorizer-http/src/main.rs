//! Lambda authorizer (simple responses) for the HTTP API.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    kefu::api::authorizer::run_http().await
}
