//! `PUT /sessions/{sessionId}/translation`: how the agent's messages in a
//! session reach the visitor (G2): `auto`, `manual` with a target, or `off`.

use kefu::api::http::{self, ok};
use kefu::app::translation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        let id = http::path(&req, "sessionId")?;
        ok(translation::set_outgoing(&app, &who, &id, http::body(&req)?).await?)
    })
    .await
}
