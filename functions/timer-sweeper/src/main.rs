//! Every minute: applies the timers due now and drains queues left waiting.

use kefu::app::timers;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    kefu::api::jobs::run_scheduled(|app| async move { timers::sweep(&app).await }).await
}
