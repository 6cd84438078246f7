//! `/knowledge`: the tenant's knowledge base; admins keep it, agents list
//! and search it (F2).

use kefu::api::http::{self, ok};
use kefu::app::knowledge;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        let id = |req: &http::Request| http::path(req, "knowledgeId");
        match http::route(&req).as_str() {
            "GET /knowledge" => {
                let limit = http::query_number(&req, "limit", 50, 100)? as u32;
                ok(knowledge::list(&app, &who, limit, http::query(&req, "cursor").as_deref()).await?)
            }
            "GET /knowledge/search" => {
                let limit = http::query_number(&req, "limit", 10, u64::from(knowledge::MAX_RESULTS))? as u32;
                let q = http::query(&req, "q").unwrap_or_default();
                ok(knowledge::search(&app, &who, &q, limit).await?)
            }
            "POST /knowledge" => http::created(knowledge::create(&app, &who, http::body(&req)?).await?),
            "GET /knowledge/{knowledgeId}" => ok(knowledge::get(&app, &who, &id(&req)?).await?),
            "PATCH /knowledge/{knowledgeId}" => ok(knowledge::update(&app, &who, &id(&req)?, http::body(&req)?).await?),
            "DELETE /knowledge/{knowledgeId}" => ok(knowledge::delete(&app, &who, &id(&req)?).await?),
            other => Err(http::route_not_found(other)),
        }
    })
    .await
}
