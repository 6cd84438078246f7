//! `/stats`: live stats per agent and day (A5): `GET /stats/me` the
//! caller's own, `GET /stats` the tenant's rows and totals (admins).

use kefu::api::http::{self, ok};
use kefu::app::stats::{self, DayQuery};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        let q = DayQuery { day: http::query(&req, "day") };
        match http::route(&req).as_str() {
            "GET /stats/me" => ok(stats::mine(&app, &who, q).await?),
            "GET /stats" => ok(stats::tenant(&app, &who, q).await?),
            other => Err(http::route_not_found(other)),
        }
    })
    .await
}
