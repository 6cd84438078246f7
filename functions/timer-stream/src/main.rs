//! The table stream's TTL deletions: applies expired timers and removes
//! stale connections.

use kefu::app::timers;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    kefu::api::jobs::run_stream(|app, expired| async move { timers::on_expired(&app, &expired).await }).await
}
