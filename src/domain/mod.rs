//! Validated input types and the objects the contract speaks of.

pub mod admin;
pub mod app;
pub mod audit;
pub mod fields;
pub mod input;
pub mod model;
pub mod roles;
pub mod time;
pub mod webhooks;
