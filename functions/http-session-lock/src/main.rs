//! `PUT /sessions/{sessionId}/lock`: locks or unlocks a session (D3), so
//! that no timeout closes it.

use kefu::api::http::{self, ok};
use kefu::app::sessions;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        let id = http::path(&req, "sessionId")?;
        ok(sessions::set_lock(&app, &who, &id, http::body(&req)?).await?)
    })
    .await
}
