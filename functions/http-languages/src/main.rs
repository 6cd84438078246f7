//! `GET /languages`: every language Kefu translates between (Amazon
//! Translate's), named in the reader's language, with the pairing rule (G3).

use kefu::api::http::{self, ok};
use kefu::app::translation;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        ok(translation::languages(&app, &who, http::query(&req, "display").as_deref()).await?)
    })
    .await
}
