//! `GET /history`: closed sessions, newest first, by close time and one of
//! agent, session tag or visitor tag (D7).

use kefu::api::http::{self, ok};
use kefu::app::history::{self, HistoryParams};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        let optional = |name: &'static str| -> kefu::Result<Option<u64>> {
            http::query(&req, name).map(|_| http::query_number(&req, name, 0, i64::MAX as u64)).transpose()
        };
        let params = HistoryParams {
            from: optional("from")?,
            to: optional("to")?,
            agent_id: http::query(&req, "agentId"),
            tag: http::query(&req, "tag"),
            visitor_tag: http::query(&req, "visitorTag"),
            limit: http::query_number(&req, "limit", 20, 100)?,
            cursor: http::query(&req, "cursor"),
        };
        ok(history::search(&app, &who, params).await?)
    })
    .await
}
