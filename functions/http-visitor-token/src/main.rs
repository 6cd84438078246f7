//! `POST /visitor/token` (public): a visitor token, new or resumed (B1).

use kefu::api::http::{self, ok};
use kefu::app::visitors;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        ok(visitors::issue_token(&app, http::body_within(&req, visitors::MAX_REQUEST_BYTES)?).await?)
    })
    .await
}
