//! `/blacklist`: list and search the tenant's visitor blacklist, add a
//! visitor to it (its open session closes at once), take one off (D9, B5).

use kefu::api::http::{self, ok};
use kefu::app::blacklist;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        match http::route(&req).as_str() {
            "GET /blacklist" => {
                let limit = http::query_number(&req, "limit", 50, 100)? as u32;
                let cursor = http::query(&req, "cursor");
                ok(blacklist::list(&app, &who, http::query(&req, "q"), limit, cursor.as_deref()).await?)
            }
            "POST /blacklist" => http::created(blacklist::add(&app, &who, http::body(&req)?).await?),
            "DELETE /blacklist/{visitorId}" => {
                ok(blacklist::remove(&app, &who, &http::path(&req, "visitorId")?).await?)
            }
            other => Err(http::route_not_found(other)),
        }
    })
    .await
}
