//! `/tags`: the tenant's session tag tree (everyone reads it, admins change
//! it) and `GET /tags/recommended`, the caller's most-used tags (D1).

use kefu::api::http::{self, ok};
use kefu::app::tags;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        match http::route(&req).as_str() {
            "GET /tags" => ok(tags::list(&app, &who).await?),
            "GET /tags/recommended" => ok(tags::recommended(&app, &who).await?),
            "POST /tags" => http::created(tags::create(&app, &who, http::body(&req)?).await?),
            "PATCH /tags/{tagId}" => {
                ok(tags::update(&app, &who, &http::path(&req, "tagId")?, http::body(&req)?).await?)
            }
            "DELETE /tags/{tagId}" => ok(tags::delete(&app, &who, &http::path(&req, "tagId")?).await?),
            other => Err(http::route_not_found(other)),
        }
    })
    .await
}
