//! Kefu's shared crate: everything the functions have in common. A function's
//! `main` parses its event, calls one function of `app`, and maps the result
//! through `api`.

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod push;
pub mod store;
pub mod telemetry;
pub mod translate;

pub use app::App;
pub use error::{Error, Result};
