//! `PUT /sessions/{sessionId}/tags`: a session's tags and note (D1), during
//! or after it.

use kefu::api::http::{self, ok};
use kefu::app::tags;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        let id = http::path(&req, "sessionId")?;
        ok(tags::set_on_session(&app, &who, &id, http::body(&req)?).await?)
    })
    .await
}
