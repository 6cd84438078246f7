//! `POST /sessions`: a visitor starts a conversation (B1); it is dispatched at once (B2).

use kefu::api::http;
use kefu::app::sessions;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        let started = sessions::start(&app, &who, http::body_or_default(&req)?).await?;
        if started.created {
            http::created(started)
        } else {
            http::ok(started)
        }
    })
    .await
}
