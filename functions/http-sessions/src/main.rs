//! `GET /sessions` (C1 in progress, D7 history) and `GET /sessions/{sessionId}`.

use kefu::api::http::{self, ok};
use kefu::app::sessions::{self, ListParams};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        match http::route(&req).as_str() {
            "GET /sessions" => {
                let params = ListParams {
                    state: http::query(&req, "state"),
                    q: http::query(&req, "q"),
                    scope: http::query(&req, "scope"),
                    limit: Some(http::query_number(&req, "limit", 50, 100)?),
                    cursor: http::query(&req, "cursor"),
                };
                ok(sessions::list(&app, &who, params).await?)
            }
            "GET /sessions/{sessionId}" => ok(sessions::get(&app, &who, &http::path(&req, "sessionId")?).await?),
            other => Err(http::route_not_found(other)),
        }
    })
    .await
}
