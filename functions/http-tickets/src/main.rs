//! `GET`/`POST /visitors/{visitorId}/tickets` and `PATCH
//! /visitors/{visitorId}/tickets/{ticketId}`: a visitor's tickets (E3).

use kefu::api::http::{self, ok};
use kefu::app::customers;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        let visitor = http::path(&req, "visitorId")?;
        match http::route(&req).as_str() {
            "GET /visitors/{visitorId}/tickets" => ok(customers::tickets(&app, &who, &visitor).await?),
            "POST /visitors/{visitorId}/tickets" => {
                http::created(customers::open_ticket(&app, &who, &visitor, http::body(&req)?).await?)
            }
            "PATCH /visitors/{visitorId}/tickets/{ticketId}" => {
                let id = http::path(&req, "ticketId")?;
                ok(customers::update_ticket(&app, &who, &visitor, &id, http::body(&req)?).await?)
            }
            other => Err(http::route_not_found(other)),
        }
    })
    .await
}
