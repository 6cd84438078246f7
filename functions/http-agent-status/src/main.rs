//! `PUT /agents/me/status`: an agent switches its own status (A1), or asks
//! an admin to (A2: `202` with the pending request).

use kefu::api::http::{self, ok};
use kefu::app::agents::{self, StatusChange};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        match agents::set_status(&app, &who, http::body(&req)?).await? {
            applied @ StatusChange::Applied(_) => ok(applied),
            pending => http::accepted(pending),
        }
    })
    .await
}
