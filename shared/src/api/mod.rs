//! The wire: request, response and event types, and the one place results
//! and errors are mapped to HTTP responses and WebSocket frames.

pub mod authorizer;
pub mod events;
pub mod http;
pub mod jobs;
pub mod ws;
