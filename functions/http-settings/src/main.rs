//! `GET /settings` (agents) and `PATCH /settings` (admins): the tenant's
//! settings (F4).

use kefu::api::http::{self, ok};
use kefu::app::settings;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        match http::route(&req).as_str() {
            "GET /settings" => ok(settings::get(&app, &who).await?),
            "PATCH /settings" => ok(settings::update(&app, &who, http::body(&req)?).await?),
            other => Err(http::route_not_found(other)),
        }
    })
    .await
}
