//! `GET /visitors?q=` (the customer list), `GET /visitors/{visitorId}` (a
//! profile with its tickets) and `PATCH /visitors/{visitorId}` (E1, E2).

use kefu::api::http::{self, ok};
use kefu::app::customers;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        match http::route(&req).as_str() {
            "GET /visitors" => {
                let q = http::query(&req, "q").unwrap_or_default();
                let limit = http::query_number(&req, "limit", 50, 100)? as u32;
                let cursor = http::query(&req, "cursor");
                ok(customers::search(&app, &who, &q, limit, cursor.as_deref()).await?)
            }
            "GET /visitors/{visitorId}" => ok(customers::profile(&app, &who, &http::path(&req, "visitorId")?).await?),
            "PATCH /visitors/{visitorId}" => {
                let id = http::path(&req, "visitorId")?;
                ok(customers::update_profile(&app, &who, &id, http::body(&req)?).await?)
            }
            other => Err(http::route_not_found(other)),
        }
    })
    .await
}
