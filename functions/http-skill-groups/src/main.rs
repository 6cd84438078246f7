//! `/skill-groups`: list (D5 counts); create, rename, delete and
//! membership (admins).

use kefu::api::http::{self, ok};
use kefu::app::groups;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    http::run(|app, req| async move {
        let who = http::principal(&req)?;
        let member =
            |req: &http::Request| Ok::<_, kefu::Error>((http::path(req, "groupId")?, http::path(req, "agentId")?));
        match http::route(&req).as_str() {
            "GET /skill-groups" => ok(groups::list(&app, &who).await?),
            "POST /skill-groups" => http::created(groups::create(&app, &who, http::body(&req)?).await?),
            "PATCH /skill-groups/{groupId}" => {
                ok(groups::rename(&app, &who, &http::path(&req, "groupId")?, http::body(&req)?).await?)
            }
            "DELETE /skill-groups/{groupId}" => ok(groups::delete(&app, &who, &http::path(&req, "groupId")?).await?),
            "PUT /skill-groups/{groupId}/members/{agentId}" => {
                let (g, a) = member(&req)?;
                ok(groups::set_member(&app, &who, &g, &a, true).await?)
            }
            "DELETE /skill-groups/{groupId}/members/{agentId}" => {
                let (g, a) = member(&req)?;
                ok(groups::set_member(&app, &who, &g, &a, false).await?)
            }
            other => Err(http::route_not_found(other)),
        }
    })
    .await
}
