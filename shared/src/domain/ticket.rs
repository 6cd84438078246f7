//! E3: tickets (工单) linked to a visitor.

use serde::{Deserialize, Serialize};

use super::text::clean_text;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TicketStatus {
    Open,
    Pending,
    Solved,
    Closed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    pub tenant: String,
    pub id: String,
    pub visitor_id: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub status: TicketStatus,
    /// The agent who opened it.
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub const MAX_TITLE: usize = 200;
pub const MAX_DESCRIPTION: usize = 5000;
/// Tickets one visitor may have (they are listed with its profile).
pub const MAX_PER_VISITOR: usize = 200;

/// A ticket's title as stored: cleaned free text, 1–`MAX_TITLE` characters.
pub fn clean_title(title: &str) -> Result<String> {
    clean_text("title", title, MAX_TITLE)?.ok_or_else(|| Error::invalid("invalid_field", "a ticket needs a title"))
}

/// A ticket's description as stored; empty is none.
pub fn clean_description(description: &str) -> Result<Option<String>> {
    clean_text("description", description, MAX_DESCRIPTION)
}
