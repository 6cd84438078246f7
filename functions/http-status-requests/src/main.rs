//! `/status-requests`: agents' pending status changes; admins list them and
//! approve or reject each (A2).

use kefu::api::http::{self, ok};
use kefu::app::approvals;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        match http::route(&req).as_str() {
            "GET /status-requests" => {
                let limit = http::query_number(&req, "limit", 50, 100)? as u32;
                ok(approvals::list(&app, &who, limit, http::query(&req, "cursor").as_deref()).await?)
            }
            "POST /status-requests/{agentId}/approve" => {
                let agent = http::path(&req, "agentId")?;
                ok(approvals::decide(&app, &who, &agent, true, http::body_or_default(&req)?).await?)
            }
            "POST /status-requests/{agentId}/reject" => {
                let agent = http::path(&req, "agentId")?;
                ok(approvals::decide(&app, &who, &agent, false, http::body_or_default(&req)?).await?)
            }
            other => Err(http::route_not_found(other)),
        }
    })
    .await
}
