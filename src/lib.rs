//! Gatehouse: a session-cookie authentication server speaking Better Auth's wire contract.
//!
//! `app(state)` is the one place where routes, layers and state meet; the binary and the tests
//! serve the same router.

pub mod apps_cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod import;
pub mod jwt;
pub mod mail;
pub mod metrics;
pub mod oauth;
pub mod security;
pub mod server;
pub mod service;
pub mod state;
pub mod store;
pub mod users_cli;
pub mod webhooks_cli;

pub use http::app;
pub use state::AppState;
