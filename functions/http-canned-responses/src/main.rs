//! `/canned-responses`: the caller's own and the tenant's canned responses
//! (admins manage the tenant's), and suggestions as an agent types (F1).

use kefu::api::http::{self, ok};
use kefu::app::canned;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        match http::route(&req).as_str() {
            "GET /canned-responses" => {
                let scope = http::query_enum(&req, "scope", "tenant")?;
                let limit = http::query_number(&req, "limit", 50, 100)? as u32;
                let (group, cursor) = (http::query(&req, "group"), http::query(&req, "cursor"));
                ok(canned::list(&app, &who, scope, group.as_deref(), limit, cursor.as_deref()).await?)
            }
            "GET /canned-responses/suggest" => {
                let limit = http::query_number(&req, "limit", 5, u64::from(canned::MAX_SUGGESTIONS))? as u32;
                let draft = http::query(&req, "q").unwrap_or_default();
                ok(canned::suggest(&app, &who, &draft, limit).await?)
            }
            "POST /canned-responses" => http::created(canned::create(&app, &who, http::body(&req)?).await?),
            "GET /canned-responses/{cannedId}" => ok(canned::find(&app, &who, &http::path(&req, "cannedId")?).await?),
            "PATCH /canned-responses/{cannedId}" => {
                ok(canned::update(&app, &who, &http::path(&req, "cannedId")?, http::body(&req)?).await?)
            }
            "DELETE /canned-responses/{cannedId}" => {
                ok(canned::delete(&app, &who, &http::path(&req, "cannedId")?).await?)
            }
            other => Err(http::route_not_found(other)),
        }
    })
    .await
}
