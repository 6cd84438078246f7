//! `$default`: `ping`, and a clear error for malformed frames and unknown actions.

use kefu::api::ws;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ws::run(|_app, event| async move { Ok(ws::reply(ws::request_id(&event), ws::default_route(&event))) }).await
}
