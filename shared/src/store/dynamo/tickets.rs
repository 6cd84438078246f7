//! E3: tickets, in their visitor's partition.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use super::expr::{Cond, Update};
use super::{from_item, is_condition_failed, n, s, storage, value, write, DynamoStore};
use crate::domain::Ticket;
use crate::error::{Error, Result};
use crate::store::{attrs, keys, TicketChange, TicketStore};

#[async_trait]
impl TicketStore for DynamoStore {
    async fn create_ticket(&self, ticket: &Ticket) -> Result<()> {
        let key = keys::ticket(&ticket.tenant, &ticket.visitor_id, &ticket.id);
        self.put_new_item(ticket, key, "ticket_exists", "ticket").await
    }

    async fn list_tickets(&self, tenant: &str, visitor_id: &str) -> Result<Vec<Ticket>> {
        let mut tickets: Vec<Ticket> =
            self.query_partition(&keys::visitor(tenant, visitor_id).0, Some(keys::TICKET_PREFIX)).await?;
        tickets.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
        Ok(tickets)
    }

    async fn update_ticket(&self, tenant: &str, visitor_id: &str, id: &str, change: &TicketChange) -> Result<Ticket> {
        let mut u = Update::new().set(attrs::ticket::UPDATED_AT, n(change.updated_at));
        if let Some(title) = &change.title {
            u = u.set(attrs::ticket::TITLE, s(title));
        }
        match &change.description {
            Some(Some(d)) => u = u.set(attrs::ticket::DESCRIPTION, s(d)),
            Some(None) => u = u.remove(attrs::ticket::DESCRIPTION),
            None => {}
        }
        if let Some(status) = change.status {
            u = u.set(attrs::ticket::STATUS, value(&status)?);
        }
        let request = self
            .update_item(keys::ticket(tenant, visitor_id, id), &u, Some(&Cond::exists(keys::PK)))
            .return_values(ReturnValue::AllNew);
        match write(|| request.clone().send()).await {
            Ok(out) => from_item(out.attributes.unwrap_or_default()),
            Err(err) if is_condition_failed(&err) => Err(Error::not_found("ticket")),
            Err(err) => Err(storage(err)),
        }
    }
}
