//! `POST /sessions/callback`: callback (回呼), an agent opens a new session
//! with a visitor from history, assigned to itself (D7).

use kefu::api::http::{self, created};
use kefu::app::sessions;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        created(sessions::callback(&app, &who, http::body(&req)?).await?)
    })
    .await
}
