//! Kefu's one error type. Every failure a client can see is one of these, and
//! `code()`/`status()` are the only place it is mapped to the wire
//! (`{ "error": { "code", "message" } }` with an HTTP status, or a WebSocket
//! `error` event). Codes are stable snake_case strings a frontend can switch on.

use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that can never succeed as sent (400).
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// Missing, expired or forged credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but not allowed to do this (403).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// The thing does not exist, or the caller may not know it exists (404).
    #[error("{what} not found")]
    NotFound { code: &'static str, what: &'static str },
    /// The request is valid but the current state refuses it (409).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The payload exceeds a size limit (413).
    #[error("{message}")]
    TooLarge { code: &'static str, message: String },
    /// Too many: requests from one caller, or waiting sessions (429).
    #[error("{message}")]
    TooMany { code: &'static str, message: String },
    /// DynamoDB or another dependency failed; retrying may help (503).
    #[error("storage unavailable: {0}")]
    Storage(String),
    /// A bug or a misconfiguration (500).
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid { code, message: message.into() }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict { code, message: message.into() }
    }

    pub fn too_large(code: &'static str, message: impl Into<String>) -> Self {
        Error::TooLarge { code, message: message.into() }
    }

    pub fn too_many(code: &'static str, message: impl Into<String>) -> Self {
        Error::TooMany { code, message: message.into() }
    }

    pub fn not_found(what: &'static str) -> Self {
        let code = match what {
            "session" => "session_not_found",
            "agent" => "agent_not_found",
            "tenant" => "tenant_not_found",
            "visitor" => "visitor_not_found",
            "skill group" => "skill_group_not_found",
            "tag" => "tag_not_found",
            "message" => "message_not_found",
            "blacklist entry" => "not_blacklisted",
            "ticket" => "ticket_not_found",
            "canned response" => "canned_response_not_found",
            "status request" => "status_request_not_found",
            "knowledge entry" => "knowledge_not_found",
            "attachment" => "attachment_not_found",
            "route" => "route_not_found",
            _ => "not_found",
        };
        Error::NotFound { code, what }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::Forbidden { code: "forbidden", message: message.into() }
    }

    /// Forbidden for a reason the caller can act on (`blacklisted`).
    pub fn forbidden_code(code: &'static str, message: impl Into<String>) -> Self {
        Error::Forbidden { code, message: message.into() }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Error::Unauthorized(message.into())
    }

    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid { code, .. }
            | Error::Conflict { code, .. }
            | Error::NotFound { code, .. }
            | Error::TooLarge { code, .. }
            | Error::TooMany { code, .. }
            | Error::Forbidden { code, .. } => code,
            Error::Unauthorized(_) => "unauthorized",
            Error::Storage(_) => "storage_unavailable",
            Error::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Error::Invalid { .. } => 400,
            Error::Unauthorized(_) => 401,
            Error::Forbidden { .. } => 403,
            Error::NotFound { .. } => 404,
            Error::Conflict { .. } => 409,
            Error::TooLarge { .. } => 413,
            Error::TooMany { .. } => 429,
            Error::Storage(_) => 503,
            Error::Internal(_) => 500,
        }
    }

    /// The wire body: `{ "error": { "code", "message" } }`. Internal details
    /// are logged, not sent.
    pub fn body(&self) -> ErrorBody {
        let message = match self {
            Error::Storage(_) => "storage is unavailable, try again".to_string(),
            Error::Internal(_) => "internal error".to_string(),
            other => other.to_string(),
        };
        ErrorBody { error: ErrorDetail { code: self.code(), message } }
    }
}

#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize)]
pub struct ErrorDetail {
    pub code: &'static str,
    pub message: String,
}

impl From<serde_dynamo::Error> for Error {
    fn from(e: serde_dynamo::Error) -> Self {
        Error::Internal(format!("item mapping: {e}"))
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Internal(format!("json: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_stay_out_of_the_body() {
        let e = Error::Storage("ProvisionedThroughputExceeded on table kefu".into());
        let body = serde_json::to_value(e.body()).unwrap();
        assert_eq!(body["error"]["code"], "storage_unavailable");
        assert!(!body["error"]["message"].as_str().unwrap().contains("kefu"));
        assert_eq!(e.status(), 503);
    }

    #[test]
    fn not_found_codes_name_the_thing() {
        assert_eq!(Error::not_found("session").code(), "session_not_found");
        assert_eq!(Error::not_found("session").to_string(), "session not found");
        assert_eq!(Error::not_found("session").status(), 404);
    }
}
