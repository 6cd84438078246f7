//! `/agents`: list, create, read, update, remove, mint tokens, disable, enable, revoke tokens.

use kefu::api::http::{self, ok};
use kefu::app::agents;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        match http::route(&req).as_str() {
            "GET /agents" => ok(agents::list(&app, &who).await?),
            "POST /agents" => http::created(agents::create(&app, &who, http::body(&req)?).await?),
            "GET /agents/{agentId}" => ok(agents::get(&app, &who, &http::path(&req, "agentId")?).await?),
            "PATCH /agents/{agentId}" => {
                ok(agents::update(&app, &who, &http::path(&req, "agentId")?, http::body(&req)?).await?)
            }
            "POST /agents/{agentId}/token" => ok(agents::mint_token(&app, &who, &http::path(&req, "agentId")?).await?),
            "DELETE /agents/{agentId}" => ok(agents::remove(&app, &who, &http::path(&req, "agentId")?).await?),
            "POST /agents/{agentId}/disable" => {
                ok(agents::set_disabled(&app, &who, &http::path(&req, "agentId")?, true).await?)
            }
            "POST /agents/{agentId}/enable" => {
                ok(agents::set_disabled(&app, &who, &http::path(&req, "agentId")?, false).await?)
            }
            "POST /agents/{agentId}/revoke-tokens" => {
                ok(agents::revoke_tokens(&app, &who, &http::path(&req, "agentId")?).await?)
            }
            other => Err(http::route_not_found(other)),
        }
    })
    .await
}
