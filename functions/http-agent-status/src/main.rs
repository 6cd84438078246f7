//! `PUT /agents/me/status`: an agent switches its own status (A1).

use kefu::api::http::{self, ok};
use kefu::app::agents;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        ok(agents::set_status(&app, &who, http::body(&req)?).await?)
    })
    .await
}
