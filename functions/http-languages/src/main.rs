//! `GET /languages`: every language Kefu translates between (Amazon
//! Translate's), named in the reader's language, with the pairing rule (G3).

use kefu::api::http::{self, ok};
use kefu::app::languages;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|_app, req| async move {
        let who = http::principal(&req)?;
        ok(languages::list(&who, http::query(&req, "display").as_deref())?)
    })
    .await
}
